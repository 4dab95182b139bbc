package ntlm

import (
	"encoding/binary"
	"errors"
	"strings"
	"testing"

	secctx "github.com/asyncsspi/asyncsspi/context"
	"github.com/asyncsspi/asyncsspi/mechs"
	"github.com/asyncsspi/asyncsspi/status"
)

// Token-size bounds: NTLM's cbMaxToken is 2,888 bytes (Windows), reported
// by QuerySecurityPackageInfo; nothing longer is parsed or copied, and an
// incomplete message never asks for more than a peer could send.

func TestMaxTokenReported(t *testing.T) {
	if got := New().Info().MaxToken; got != 2888 {
		t.Errorf("PackageInfo.MaxToken = %d, want 2888", got)
	}
	c, _ := newPair(t, nil)
	sz, st := c.QueryAttribute(secctx.SECPKG_ATTR_SIZES)
	if st != status.SEC_E_OK || sz.(secctx.Sizes).MaxToken != 2888 {
		t.Errorf("Sizes %+v %v", sz, st)
	}
}

// negotiateOfSize is a valid NEGOTIATE padded with trailing bytes to n.
func negotiateOfSize(n int) []byte {
	m := negotiateMessage{flags: 0xe20882b7, version: ourVersion()}
	b := make([]byte, max(n, m.size()))
	m.encode(b)
	return b
}

// TestOversizedToken: a token longer than maxToken is SEC_E_INVALID_TOKEN
// before anything is copied; the context survives it. One of exactly
// maxToken bytes is fine.
func TestOversizedToken(t *testing.T) {
	for _, n := range []int{maxToken + 1, 16 << 20} {
		_, s := newPair(t, nil)
		r := s.Step(stepIn(negotiateOfSize(n)))
		if r.Status != status.SEC_E_INVALID_TOKEN || r.Missing != 0 {
			t.Fatalf("NEGOTIATE of %d bytes: %v missing %d, want SEC_E_INVALID_TOKEN", n, r.Status, r.Missing)
		}
		if s.negotiate != nil || s.state != stateStart {
			t.Fatalf("NEGOTIATE of %d bytes: copied (%d bytes kept) or state changed (%d)", n, len(s.negotiate), s.state)
		}
		if r := s.Step(stepIn(negotiateOfSize(maxToken))); r.Status != status.SEC_I_CONTINUE_NEEDED {
			t.Fatalf("NEGOTIATE of %d bytes after the refusal: %v %v", maxToken, r.Status, r.Err)
		}
		// The same bound on the client side and on every parser.
		c, s := newPair(t, nil)
		chal := s.Step(stepIn(c.Step(stepIn(nil)).Token)).Token
		big := append(append([]byte(nil), chal...), make([]byte, n-len(chal))...)
		if r := c.Step(stepIn(big)); r.Status != status.SEC_E_INVALID_TOKEN {
			t.Fatalf("CHALLENGE of %d bytes: %v", n, r.Status)
		}
		for _, typ := range []uint32{typeNegotiate, typeChallenge, typeAuthenticate} {
			b := make([]byte, n)
			copy(b, signature)
			binary.LittleEndian.PutUint32(b[8:], typ)
			if err := parseAny(typ, b); codeOf(err) != status.SEC_E_INVALID_TOKEN {
				t.Fatalf("type %d, %d bytes: %v", typ, n, err)
			}
		}
	}
}

// TestFieldBounds: a field descriptor that would need more than maxToken
// bytes is malformed, whatever the message's length; one inside the bound
// on a truncated message gives the exact count still missing.
func TestFieldBounds(t *testing.T) {
	layouts := []struct {
		typ     uint32
		fixed   int
		flagsAt int
		fieldAt int
	}{
		{typeNegotiate, negotiateFixed, 12, 24},
		{typeChallenge, challengeFixed, 20, 40},
		{typeAuthenticate, authenticateFixed, 60, 44},
	}
	for _, l := range layouts {
		for _, tc := range []struct {
			off, n  int
			want    status.Code
			missing int
		}{
			{0xFFFFFF00, 10, status.SEC_E_INVALID_TOKEN, 0}, // was SEC_E_INCOMPLETE_MESSAGE, missing 4,294,967,xxx
			{maxToken - 8, 16, status.SEC_E_INVALID_TOKEN, 0},
			{100, 0xFFFF, status.SEC_E_INVALID_TOKEN, 0},
			{maxToken - 18, 18, status.SEC_E_INCOMPLETE_MESSAGE, maxToken - (l.fixed + versionSize)},
			{l.fixed + versionSize, 10, status.SEC_E_INCOMPLETE_MESSAGE, 10},
		} {
			b := make([]byte, l.fixed+versionSize)
			putHeader(b, l.typ, l.fixed, l.flagsAt, negotiateOEMWorkstationSupplied, ourVersion())
			putField(b, l.fieldAt, tc.off, tc.n)
			err := parseAny(l.typ, b)
			var te *tokenError
			if !errors.As(err, &te) || te.code != tc.want || te.missing != tc.missing {
				t.Errorf("type %d, field at %d+%d: %v, want %v missing %d", l.typ, tc.off, tc.n, err, tc.want, tc.missing)
			}
		}
	}
}

// checkMissing fails t unless a SEC_E_INCOMPLETE_MESSAGE for an input of
// given bytes asks for a count a peer could send: more than zero, and no
// more than maxToken-given.
func checkMissing(t *testing.T, code status.Code, missing, given int) {
	t.Helper()
	if code == status.SEC_E_INCOMPLETE_MESSAGE && (missing <= 0 || missing > maxToken-given) {
		t.Fatalf("SEC_E_INCOMPLETE_MESSAGE for %d bytes with SECBUFFER_MISSING %d (max token %d)", given, missing, maxToken)
	}
}

// TestTruncatedAuthenticate: a truncated AUTHENTICATE through Step gives
// the exact count missing, and the context then takes the whole message.
func TestTruncatedAuthenticate(t *testing.T) {
	c, s := newPair(t, nil)
	r1 := c.Step(stepIn(nil))
	r2 := s.Step(stepIn(r1.Token))
	r3 := c.Step(stepIn(r2.Token))
	for _, n := range []int{authenticateFixed, 100, len(r3.Token) - 1} {
		r := s.Step(stepIn(r3.Token[:n]))
		if r.Status != status.SEC_E_INCOMPLETE_MESSAGE || r.Missing != len(r3.Token)-n {
			t.Fatalf("%d of %d bytes: %v missing %d", n, len(r3.Token), r.Status, r.Missing)
		}
	}
	if r := s.Step(&mechs.StepInput{Token: r3.Token}); r.Status != status.SEC_E_OK {
		t.Fatalf("whole message: %v %v", r.Status, r.Err)
	}
}

// TestAuthenticateTooLong: a CHALLENGE within the bound whose target info
// would make our AUTHENTICATE longer than maxToken is refused by the
// initiator (no peer would take that AUTHENTICATE).
func TestAuthenticateTooLong(t *testing.T) {
	c, s := newPair(t, &pairOpts{target: "HTTP/server.example.com"})
	chal := s.Step(stepIn(c.Step(stepIn(nil)).Token)).Token
	big := rewriteChallenge(t, chal, func(m *challengeMessage) {
		pad := make([]byte, maxToken-len(chal)-8)
		m.targetInfo = avPairs(appendAVEOL(appendAVPair(m.targetInfo.appendWithout(nil), 0x00FF, pad)))
	})
	if len(big) > maxToken {
		t.Fatalf("test CHALLENGE of %d bytes", len(big))
	}
	if r := c.Step(stepIn(big)); r.Status != status.SEC_E_INVALID_TOKEN {
		t.Fatalf("%v %v", r.Status, r.Err)
	}
}

// TestEmptyToken: a leg that reads a message and gets none fails with
// SEC_E_INVALID_TOKEN (no message), not SEC_E_INCOMPLETE_MESSAGE, and the
// context still takes the message afterwards.
func TestEmptyToken(t *testing.T) {
	c, s := newPair(t, nil)
	if r := s.Step(stepIn(nil)); r.Status != status.SEC_E_INVALID_TOKEN || !strings.Contains(r.Err.Error(), "no NEGOTIATE") {
		t.Fatalf("acceptor, first leg: %v %v", r.Status, r.Err)
	}
	r1 := c.Step(stepIn(nil))
	if r := c.Step(stepIn(nil)); r.Status != status.SEC_E_INVALID_TOKEN || !strings.Contains(r.Err.Error(), "no CHALLENGE") {
		t.Fatalf("initiator, second leg: %v %v", r.Status, r.Err)
	}
	r2 := s.Step(stepIn(r1.Token))
	if r := s.Step(stepIn([]byte{})); r.Status != status.SEC_E_INVALID_TOKEN || !strings.Contains(r.Err.Error(), "no AUTHENTICATE") {
		t.Fatalf("acceptor, second leg: %v %v", r.Status, r.Err)
	}
	r3 := c.Step(stepIn(r2.Token))
	if r := s.Step(stepIn(r3.Token)); r.Status != status.SEC_E_OK {
		t.Fatalf("after the empty tokens: %v %v", r.Status, r.Err)
	}
}
