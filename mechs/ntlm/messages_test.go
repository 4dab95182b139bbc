package ntlm

import (
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"testing"

	secctx "github.com/asyncsspi/asyncsspi/context"
	"github.com/asyncsspi/asyncsspi/mechs"
	"github.com/asyncsspi/asyncsspi/status"
)

// seedTokens are the stored real tokens, by message type.
func seedTokens(t testing.TB, typ uint32) [][]byte {
	var names []string
	switch typ {
	case typeNegotiate:
		names = []string{"gss-ntlmssp-negotiate", "asyncsspi-negotiate", "curl-negotiate"}
	case typeChallenge:
		names = []string{"msnlmp-4.2.4-challenge", "msnlmp-4.2.2-challenge", "windows7-cbt-challenge", "gss-ntlmssp-challenge", "asyncsspi-challenge", "curl-challenge"}
	case typeAuthenticate:
		names = []string{"msnlmp-4.2.4-authenticate", "msnlmp-4.2.2-authenticate", "windows7-cbt-authenticate", "gss-ntlmssp-authenticate", "asyncsspi-authenticate", "curl-authenticate"}
	}
	var out [][]byte
	for _, n := range names {
		out = append(out, token(t, n))
	}
	return out
}

func parseAny(typ uint32, b []byte) error {
	var err error
	switch typ {
	case typeNegotiate:
		_, err = parseNegotiate(b)
	case typeChallenge:
		_, err = parseChallenge(b)
	case typeAuthenticate:
		_, err = parseAuthenticate(b)
	}
	return err
}

func codeOf(err error) status.Code {
	var te *tokenError
	if errors.As(err, &te) {
		return te.code
	}
	return 0
}

// TestNoProperPrefixParses: every proper prefix of every stored token
// fails, as SEC_E_INCOMPLETE_MESSAGE with the exact missing count wherever
// the header lets it be known.
func TestNoProperPrefixParses(t *testing.T) {
	for _, typ := range []uint32{typeNegotiate, typeChallenge, typeAuthenticate} {
		for _, tok := range seedTokens(t, typ) {
			if err := parseAny(typ, tok); err != nil {
				t.Fatalf("type %d: stored token does not parse: %v", typ, err)
			}
			for n := 0; n < len(tok); n++ {
				err := parseAny(typ, tok[:n])
				if err == nil {
					t.Fatalf("type %d: prefix of %d/%d bytes parses", typ, n, len(tok))
				}
				if codeOf(err) != status.SEC_E_INCOMPLETE_MESSAGE {
					t.Fatalf("type %d: prefix %d/%d: %v, want SEC_E_INCOMPLETE_MESSAGE", typ, n, len(tok), err)
				}
				var te *tokenError
				errors.As(err, &te)
				if te.missing <= 0 || n+te.missing > len(tok) {
					t.Fatalf("type %d: prefix %d/%d: missing %d", typ, n, len(tok), te.missing)
				}
				checkMissing(t, te.code, te.missing, n)
			}
		}
	}
}

func TestMalformed(t *testing.T) {
	auth := token(t, "msnlmp-4.2.4-authenticate")
	cases := map[string][]byte{
		"bad signature": append([]byte("NTLMSSQ\x00"), auth[8:]...),
		"wrong type":    append(append([]byte(nil), auth[:8]...), append([]byte{2, 0, 0, 0}, auth[12:]...)...),
	}
	overlap := append([]byte(nil), auth...)
	overlap[16] = 8 // LmChallengeResponse offset inside the header
	cases["field in header"] = overlap
	badAV := append([]byte(nil), auth...)
	badAV[0x84+16+28+2] = 0xff // first AV pair length runs past the field
	cases["AV pair overrun"] = badAV
	// A MIC announced in MsvAvFlags, but the payload starts where the MIC
	// should be: the MIC is missing.
	noMIC := token(t, "windows7-cbt-authenticate")
	noMIC[16] = micOffset // LmChallengeResponse now overlaps the MIC field
	cases["announced MIC missing"] = noMIC
	for name, b := range cases {
		if err := parseAny(typeAuthenticate, b); codeOf(err) != status.SEC_E_INVALID_TOKEN {
			t.Errorf("%s: %v, want SEC_E_INVALID_TOKEN", name, err)
		}
	}
}

func fuzzParser(f *testing.F, typ uint32) {
	for _, tok := range seedTokens(f, typ) {
		f.Add(tok)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		err := parseAny(typ, b)
		if err != nil {
			var te *tokenError
			if !errors.As(err, &te) || te.code != status.SEC_E_INVALID_TOKEN && te.code != status.SEC_E_INCOMPLETE_MESSAGE {
				t.Fatalf("unexpected error %v", err)
			}
			checkMissing(t, te.code, te.missing, len(b))
			return
		}
		if len(b) > maxToken {
			t.Fatalf("a message of %d bytes parses", len(b))
		}
		// A message that parses has no proper prefix that parses.
		for _, n := range []int{0, len(b) / 2, len(b) - 1} {
			if n >= 0 && n < len(b) && parseAny(typ, b[:n]) == nil && lastFieldEnd(typ, b) == len(b) {
				t.Fatalf("prefix %d of %d parses", n, len(b))
			}
		}
	})
}

// lastFieldEnd is where the last payload field of a parsed message ends (a
// message may carry bytes after it, and then its prefixes may parse).
func lastFieldEnd(typ uint32, b []byte) int {
	var at []int
	switch typ {
	case typeNegotiate:
		at = []int{16, 24}
	case typeChallenge:
		at = []int{12, 40}
	case typeAuthenticate:
		at = []int{12, 20, 28, 36, 44, 52}
	}
	end := 0
	for _, a := range at {
		if f := readField(b, a); f.n > 0 && f.off+f.n > end {
			end = f.off + f.n
		}
	}
	return end
}

func FuzzParseNegotiate(f *testing.F)    { fuzzParser(f, typeNegotiate) }
func FuzzParseChallenge(f *testing.F)    { fuzzParser(f, typeChallenge) }
func FuzzParseAuthenticate(f *testing.F) { fuzzParser(f, typeAuthenticate) }

// FuzzAcceptor feeds arbitrary AUTHENTICATE messages to an acceptor that
// has issued a CHALLENGE: it must answer with a status, never panic.
func FuzzAcceptor(f *testing.F) {
	for _, tok := range seedTokens(f, typeAuthenticate) {
		f.Add(tok)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		_, s := newPair(t, nil)
		neg := negotiateMessage{flags: 0xe20882b7, version: ourVersion()}
		nb := make([]byte, neg.size())
		neg.encode(nb)
		s.Step(stepIn(nb))
		r := s.Step(stepIn(b))
		if r.Status == status.SEC_E_OK {
			t.Fatalf("arbitrary AUTHENTICATE accepted")
		}
		checkMissing(t, r.Status, r.Missing, len(b))
	})
}

// TestOwnTokens makes a handshake of our own with a MIC, key exchange,
// channel bindings and a target name, and checks that it, and the copy
// stored in testdata/asyncsspi-*.hex for the fuzz seeds, carry all of that.
// NTLM_WRITE_TESTDATA=1 replaces the stored copy with the new handshake.
func TestOwnTokens(t *testing.T) {
	cb := &secctx.ChannelBindings{ApplicationData: []byte("tls-server-end-point:test")}
	c, s := newPair(t, &pairOpts{target: "HTTP/server.example.com"})
	r1 := c.Step(&mechs.StepInput{})
	r2 := s.Step(&mechs.StepInput{Token: r1.Token, Bindings: cb})
	r3 := c.Step(&mechs.StepInput{Token: r2.Token, Bindings: cb})
	if r3.Status != status.SEC_E_OK {
		t.Fatalf("handshake: %v", r3.Err)
	}
	fresh := map[string][]byte{"negotiate": r1.Token, "challenge": r2.Token, "authenticate": r3.Token}
	if os.Getenv("NTLM_WRITE_TESTDATA") == "1" {
		for name, tok := range fresh {
			if err := os.WriteFile(filepath.Join("testdata", "asyncsspi-"+name+".hex"), []byte(hex.EncodeToString(tok)+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, set := range []struct {
		from string
		neg  []byte
		chal []byte
		auth []byte
	}{
		{"fresh", fresh["negotiate"], fresh["challenge"], fresh["authenticate"]},
		{"stored", token(t, "asyncsspi-negotiate"), token(t, "asyncsspi-challenge"), token(t, "asyncsspi-authenticate")},
	} {
		if _, err := parseNegotiate(set.neg); err != nil {
			t.Errorf("%s NEGOTIATE: %v", set.from, err)
		}
		if _, err := parseChallenge(set.chal); err != nil {
			t.Errorf("%s CHALLENGE: %v", set.from, err)
		}
		am, err := parseAuthenticate(set.auth)
		if err != nil {
			t.Fatalf("%s AUTHENTICATE: %v", set.from, err)
		}
		if !am.hasMIC || am.mic == [16]byte{} || len(am.encKey) != 16 || !am.isV2 {
			t.Errorf("%s AUTHENTICATE lacks MIC, key exchange or NTLMv2: mic %v, encKey %d bytes, v2 %v", set.from, am.hasMIC, len(am.encKey), am.isV2)
		}
	}
}

// FuzzInitiator feeds arbitrary CHALLENGE messages to an initiator that has
// sent its NEGOTIATE: it must answer with a status, never panic, and an
// AUTHENTICATE it produces must parse.
func FuzzInitiator(f *testing.F) {
	for _, tok := range seedTokens(f, typeChallenge) {
		f.Add(tok)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		c, _ := newPair(t, &pairOpts{target: "HTTP/server.example.com"})
		c.Step(stepIn(nil))
		r := c.Step(&mechs.StepInput{Token: b, Bindings: &secctx.ChannelBindings{ApplicationData: []byte("x")}})
		checkMissing(t, r.Status, r.Missing, len(b))
		if r.Status == status.SEC_E_OK {
			if _, err := parseAuthenticate(r.Token); err != nil {
				t.Fatalf("our AUTHENTICATE does not parse: %v", err)
			}
		}
	})
}
