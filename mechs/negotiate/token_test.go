package negotiate

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/asyncsspi/asyncsspi/mechs"
	"github.com/asyncsspi/asyncsspi/status"
)

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// realInits and realResps are tokens captured from MIT's SPNEGO with
// gss-ntlmssp (python3-gssapi), and a Windows SMB server's NegTokenInit2.
func realInits(t testing.TB) [][]byte { return realTokens(t, "negtokeninit") }

func realResps(t testing.TB) [][]byte { return realTokens(t, "-resp") }

// realTokens are the testdata tokens whose names contain a string.
func realTokens(t testing.TB, contains string) [][]byte {
	var out [][]byte
	for _, n := range testdataNames(t, contains) {
		out = append(out, readTestdata(t, n))
	}
	return out
}

func testdataNames(t testing.TB, contains string) []string {
	ents, err := os.ReadDir("testdata")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		if !e.IsDir() && strings.HasSuffix(e.Name(), ".bin") && strings.Contains(e.Name(), contains) {
			names = append(names, e.Name())
		}
	}
	if len(names) == 0 {
		t.Fatalf("no testdata tokens matching %q", contains)
	}
	return names
}

func TestParseMITNegTokenInit(t *testing.T) {
	b := readTestdata(t, "mit-ntlm-1-negtokeninit.bin")
	tok, err := ParseNegTokenInit(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(tok.MechTypes, []string{mechs.OIDNTLMSSP}) {
		t.Fatalf("mechTypes %v", tok.MechTypes)
	}
	if !bytes.HasPrefix(tok.MechToken, []byte("NTLMSSP\x00\x01")) {
		t.Fatalf("mechToken %x", tok.MechToken)
	}
	again, err := tok.Marshal()
	if err != nil || !bytes.Equal(again, b) {
		t.Fatalf("re-marshal differs:\n%x\n%x (%v)", again, b, err)
	}
}

func TestParseWindowsNegTokenInit2(t *testing.T) {
	b := readTestdata(t, "windows-smb-negtokeninit2.bin")
	tok, err := ParseNegTokenInit(b)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{mechs.OIDNegoEx, mechs.OIDMSKerberos, mechs.OIDKerberos, mechs.OIDKerberosU2U, mechs.OIDNTLMSSP}
	if !reflect.DeepEqual(tok.MechTypes, want) {
		t.Fatalf("mechTypes %v", tok.MechTypes)
	}
	if tok.NegHints == nil || tok.NegHints.HintName != HintName || tok.MechToken != nil || tok.MechListMIC != nil {
		t.Fatalf("%+v", tok)
	}
	again, err := tok.Marshal()
	if err != nil || !bytes.Equal(again, b) {
		t.Fatalf("re-marshal differs:\n%x\n%x (%v)", again, b, err)
	}
}

func TestParseMITNegTokenResp(t *testing.T) {
	cases := []struct {
		file  string
		state NegState
		mech  string
		token bool
		mic   bool
	}{
		{"mit-ntlm-2-resp-challenge.bin", AcceptIncomplete, mechs.OIDNTLMSSP, true, false},
		{"mit-ntlm-3-resp-authenticate-mic.bin", AcceptIncomplete, "", true, true},
		{"mit-ntlm-4-resp-completed-mic.bin", AcceptCompleted, "", false, true},
	}
	for _, c := range cases {
		b := readTestdata(t, c.file)
		tok, err := ParseNegTokenResp(b)
		if err != nil {
			t.Fatalf("%s: %v", c.file, err)
		}
		if tok.NegState != c.state || tok.SupportedMech != c.mech || (tok.ResponseToken != nil) != c.token || (tok.MechListMIC != nil) != c.mic {
			t.Fatalf("%s: %+v", c.file, tok)
		}
		again, err := tok.Marshal()
		if err != nil || !bytes.Equal(again, b) {
			t.Fatalf("%s: re-marshal differs:\n%x\n%x (%v)", c.file, again, b, err)
		}
	}
}

func TestNegTokenRoundTrip(t *testing.T) {
	big := bytes.Repeat([]byte{0x5a}, 65000) // three-byte DER lengths, within the 65535 limit
	for _, init := range []NegTokenInit{
		{MechTypes: []string{mechs.OIDMSKerberos, mechs.OIDKerberos, mechs.OIDNTLMSSP}, MechToken: []byte{1, 2, 3}},
		{MechTypes: []string{mechs.OIDNTLMSSP}, MechToken: big, MechListMIC: []byte{9}},
		{MechTypes: []string{"1.2.3.4.5.6.7.8.9.1000000"}, NegHints: &NegHints{HintName: HintName}, MechListMIC: []byte{}},
		{MechTypes: []string{mechs.OIDKerberos}, NegHints: &NegHints{}},
	} {
		b, err := init.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		got, err := ParseNegTokenInit(b)
		if err != nil {
			t.Fatalf("%v", err)
		}
		if !reflect.DeepEqual(got.MechTypes, init.MechTypes) || !bytes.Equal(got.MechToken, init.MechToken) ||
			!bytes.Equal(got.MechListMIC, init.MechListMIC) || (got.MechListMIC == nil) != (init.MechListMIC == nil) ||
			(got.NegHints == nil) != (init.NegHints == nil) {
			t.Fatalf("round trip of %+v gave %+v", init, got)
		}
		list := mechTypeList(t, init.MechTypes...)
		if !bytes.Equal(got.MechTypesDER(), list) {
			t.Fatalf("MechTypesDER %x, want %x", got.MechTypesDER(), list)
		}
	}
	for _, resp := range []NegTokenResp{
		{NegState: AcceptCompleted},
		{NegState: NegStateAbsent, ResponseToken: []byte{}},
		{NegState: RequestMIC, SupportedMech: mechs.OIDNTLMSSP},
		{NegState: Reject, ResponseToken: big, MechListMIC: []byte{1}},
		{NegState: AcceptIncomplete, SupportedMech: mechs.OIDMSKerberos, ResponseToken: []byte{7}, MechListMIC: bytes.Repeat([]byte{3}, 200)},
	} {
		b, err := resp.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		got, err := ParseNegTokenResp(b)
		if err != nil {
			t.Fatal(err)
		}
		if got.NegState != resp.NegState || got.SupportedMech != resp.SupportedMech ||
			!bytes.Equal(got.ResponseToken, resp.ResponseToken) || (got.ResponseToken == nil) != (resp.ResponseToken == nil) ||
			!bytes.Equal(got.MechListMIC, resp.MechListMIC) {
			t.Fatalf("round trip of %v gave %v", resp, got)
		}
	}
}

// TestNoProperPrefixParses: every proper prefix of a valid token is
// SEC_E_INCOMPLETE_MESSAGE, with the exact missing count once the
// outer length is readable.
func TestNoProperPrefixParses(t *testing.T) {
	check := func(name string, b []byte, parse func([]byte) error) {
		for i := 0; i < len(b); i++ {
			err := parse(b[:i])
			if err == nil {
				t.Fatalf("%s: prefix of %d/%d bytes parses", name, i, len(b))
			}
			if !errors.Is(err, status.SEC_E_INCOMPLETE_MESSAGE) {
				t.Fatalf("%s: prefix of %d/%d bytes: %v, want SEC_E_INCOMPLETE_MESSAGE", name, i, len(b), err)
			}
			hdr := 2
			if len(b) > 1 && b[1] >= 0x80 {
				hdr += int(b[1] & 0x7f)
			}
			if i >= hdr && Missing(err) != len(b)-i {
				t.Fatalf("%s: prefix of %d/%d bytes: Missing %d, want %d", name, i, len(b), Missing(err), len(b)-i)
			}
			if i < hdr && Missing(err) <= 0 {
				t.Fatalf("%s: prefix of %d/%d bytes: Missing %d", name, i, len(b), Missing(err))
			}
		}
		if err := parse(b); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if err := parse(append(append([]byte{}, b...), 0)); !errors.Is(err, status.SEC_E_INVALID_TOKEN) {
			t.Fatalf("%s: trailing byte gives %v", name, err)
		}
	}
	for i, b := range realInits(t) {
		check("init"+string(rune('0'+i)), b, func(b []byte) error { _, err := ParseNegTokenInit(b); return err })
	}
	for i, b := range realResps(t) {
		check("resp"+string(rune('0'+i)), b, func(b []byte) error { _, err := ParseNegTokenResp(b); return err })
	}
}

func TestMalformedTokens(t *testing.T) {
	for _, c := range []struct {
		name string
		b    []byte
		init bool
	}{
		{"indefinite length", []byte{0x60, 0x80, 0, 0}, true},
		{"wrong outer tag", []byte{0x61, 0x00}, true},
		{"not SPNEGO", []byte{0x60, 0x0b, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x12, 0x01, 0x02, 0x02}, true},
		{"inner overrun", []byte{0x60, 0x0c, 0x06, 0x06, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x02, 0xa0, 0x05, 0x30, 0x00}, true},
		{"non-minimal length", []byte{0xa1, 0x81, 0x02, 0x30, 0x00}, false},
		{"bad negState", []byte{0xa1, 0x07, 0x30, 0x05, 0xa0, 0x03, 0x0a, 0x01, 0x04}, false},
		{"fields out of order", []byte{0xa1, 0x0c, 0x30, 0x0a, 0xa2, 0x03, 0x04, 0x01, 0x00, 0xa0, 0x03, 0x0a, 0x01, 0x00}, false},
		{"bad OID", []byte{0xa1, 0x08, 0x30, 0x06, 0xa1, 0x04, 0x06, 0x02, 0x2b, 0x86}, false},
		{"five-byte length", []byte{0xa1, 0x85, 1, 0, 0, 0, 0}, false},
	} {
		var err error
		if c.init {
			_, err = ParseNegTokenInit(c.b)
		} else {
			_, err = ParseNegTokenResp(c.b)
		}
		if !errors.Is(err, status.SEC_E_INVALID_TOKEN) {
			t.Errorf("%s: %v, want SEC_E_INVALID_TOKEN", c.name, err)
		}
	}
}

func TestOIDConversion(t *testing.T) {
	for _, s := range []string{"1.3.6.1.5.5.2", "2.999.3", "0.39", "1.2.840.113554.1.2.2.3", "1.2.18446744073709551"} {
		c, ok := oidContent(s)
		if !ok {
			t.Fatalf("%s rejected", s)
		}
		back, ok := oidString(c)
		if !ok || back != s {
			t.Fatalf("%s -> %x -> %q %v", s, c, back, ok)
		}
	}
	for _, s := range []string{"", "1", "3.1", "1.40", "1..2", "1.02", "a.b"} {
		if _, ok := oidContent(s); ok {
			t.Fatalf("%q accepted", s)
		}
	}
	for _, c := range [][]byte{{}, {0x80, 0x01}, {0x2b, 0x86}} {
		if _, ok := oidString(c); ok {
			t.Fatalf("%x accepted", c)
		}
	}
}

// fuzzParser checks a parser on arbitrary input: it fails only with
// SEC_E_INVALID_TOKEN or SEC_E_INCOMPLETE_MESSAGE; what parses re-encodes
// to a token that parses to the same fields; and no proper prefix of it
// parses.
func fuzzParser[T any](f *testing.F, seeds [][]byte, parse func([]byte) (T, error), marshal func(T) ([]byte, error), same func(a, b T) bool) {
	for _, b := range seeds {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		tok, err := parse(b)
		if err != nil {
			if c := status.CodeOf(err); c != status.SEC_E_INVALID_TOKEN && c != status.SEC_E_INCOMPLETE_MESSAGE {
				t.Fatalf("unexpected status %v", err)
			}
			return
		}
		again, err := marshal(tok)
		if err != nil {
			t.Fatalf("re-marshal: %v", err)
		}
		tok2, err := parse(again)
		if err != nil {
			t.Fatalf("re-parse: %v", err)
		}
		if !same(tok, tok2) {
			t.Fatalf("round trip differs")
		}
		for i := 0; i < len(b); i++ {
			if _, err := parse(b[:i]); err == nil {
				t.Fatalf("proper prefix of %d bytes parses", i)
			}
		}
	})
}

func FuzzNegTokenInit(f *testing.F) {
	fuzzParser(f, realInits(f), ParseNegTokenInit, (*NegTokenInit).Marshal, func(a, b *NegTokenInit) bool {
		return reflect.DeepEqual(a.MechTypes, b.MechTypes) && bytes.Equal(a.MechToken, b.MechToken) && bytes.Equal(a.MechListMIC, b.MechListMIC)
	})
}

func FuzzNegTokenResp(f *testing.F) {
	fuzzParser(f, realResps(f), ParseNegTokenResp, (*NegTokenResp).Marshal, func(a, b *NegTokenResp) bool {
		return a.NegState == b.NegState && a.SupportedMech == b.SupportedMech && bytes.Equal(a.ResponseToken, b.ResponseToken) && bytes.Equal(a.MechListMIC, b.MechListMIC)
	})
}
