package negotiate

import (
	"bytes"
	"testing"

	"github.com/asyncsspi/asyncsspi/mechs"
)

// roomy returns tok behind room spare bytes, with spare capacity after it,
// as a sub-package honouring StepInput.Headroom returns it.
func roomy(tok []byte, room, tailCap int) subToken {
	buf := make([]byte, room, room+len(tok)+tailCap)
	return subToken{buf: append(buf, tok...), room: room}
}

// Framing in place, in the room a sub-package left, gives exactly the
// bytes that copying gives, for every length form of the token and with
// and without a trailing mechListMIC; and in place really is in place.
func TestFrameInPlaceMatchesCopy(t *testing.T) {
	list := mechTypeList(t, mechs.OIDMSKerberos, mechs.OIDKerberos, mechs.OIDNTLMSSP)
	room := headroom(list)
	mic := bytes.Repeat([]byte{0xaa}, 16)
	for _, n := range []int{0, 1, 100, 127, 128, 255, 256, 65535, 65536, 1 << 17} {
		tok := bytes.Repeat([]byte{0x5a}, n)
		for _, m := range [][]byte{nil, mic} {
			st := roomy(tok, room, 64)
			got := frameResp(AcceptCompleted, []byte{1, 2, 3}, st, m)
			if want := frameResp(AcceptCompleted, []byte{1, 2, 3}, plainToken(tok), m); !bytes.Equal(got, want) {
				t.Fatalf("NegTokenResp, %d-byte token, mic %v: in place differs from copy", n, m != nil)
			}
			tail := 0
			if m != nil {
				tail = octetsLen(len(m))
			}
			if n > 0 && &got[len(got)-tail-n] != &st.buf[room] {
				t.Fatalf("NegTokenResp, %d-byte token, mic %v: copied, not framed in place (%x)", n, m != nil, got)
			}
			if m != nil {
				continue // NegTokenInit with a MIC is only ever built from a plain token
			}
			st = roomy(tok, room, 0)
			got = frameInit(list, st, nil, nil)
			if want := frameInit(list, plainToken(tok), nil, nil); !bytes.Equal(got, want) {
				t.Fatalf("NegTokenInit, %d-byte token: in place differs from copy", n)
			}
			if n > 0 && &got[len(got)-n] != &st.buf[room] {
				t.Fatalf("NegTokenInit, %d-byte token: copied, not framed in place", n)
			}
			var raw negTokenInitRaw
			if err := parseFramedNegTokenInit(got, 1<<20, &raw, nil); err != nil || !bytes.Equal(raw.mechToken, tok) {
				t.Fatal(err)
			}
		}
	}
}

// Too little room, or no spare capacity for a trailing MIC, falls back
// to one copy with the same bytes.
func TestFrameFallsBackToCopy(t *testing.T) {
	tok := bytes.Repeat([]byte{7}, 300)
	mic := bytes.Repeat([]byte{1}, 16)
	for _, st := range []subToken{roomy(tok, 3, 64), roomy(tok, 64, 0)} {
		got := frameResp(NegStateAbsent, nil, st, mic)
		if !bytes.Equal(got, frameResp(NegStateAbsent, nil, plainToken(tok), mic)) {
			t.Fatal("fallback differs")
		}
		if &got[len(got)-octetsLen(len(mic))-1] == &st.buf[len(st.buf)-1] {
			t.Fatal("framed in place without the room for it")
		}
	}
}

// mechTypeList is the DER MechTypeList of dotted OIDs.
func mechTypeList(t testing.TB, oids ...string) []byte {
	t.Helper()
	ders := make([][]byte, len(oids))
	for i, o := range oids {
		c, ok := oidContent(o)
		if !ok {
			t.Fatalf("invalid OID %q", o)
		}
		ders[i] = c
	}
	return encodeMechTypeList(ders)
}
