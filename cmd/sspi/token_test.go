package main

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// realTokens are the handshake tokens in the repository's testdata
// folders (mechs/*/testdata): hex files and raw .bin files. Per-message
// tokens (mit_mic, mit_wrap_*) are left out: sspi token refuses them.
func realTokens(t testing.TB) map[string][]byte {
	t.Helper()
	files, err := filepath.Glob("../../mechs/*/testdata/*")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for _, f := range files {
		name := filepath.Base(f)
		if strings.HasPrefix(name, "mit_mic") || strings.HasPrefix(name, "mit_wrap") {
			continue
		}
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		switch filepath.Ext(f) {
		case ".hex":
			b, err := hex.DecodeString(strings.Join(strings.Fields(string(raw)), ""))
			if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			out[name] = b
		case ".bin":
			out[name] = raw
		}
	}
	if len(out) < 20 {
		t.Fatalf("only %d real tokens found", len(out))
	}
	return out
}

// Every real token decodes, and says what it is.
func TestTokenRealTokens(t *testing.T) {
	for name, tok := range realTokens(t) {
		var buf bytes.Buffer
		if err := decodeTokenInput(&buf, []byte(base64.StdEncoding.EncodeToString(tok))); err != nil {
			t.Errorf("%s: %v\n%s", name, err, buf.String())
			continue
		}
		out := buf.String()
		want := map[string]string{
			"negotiate.hex": "NTLM NEGOTIATE_MESSAGE", "challenge.hex": "NTLM CHALLENGE_MESSAGE", "authenticate.hex": "NTLM AUTHENTICATE_MESSAGE",
			"negtokeninit.bin": "SPNEGO NegTokenInit", "negtokeninit2.bin": "NegTokenInit2", "aprep.bin": "Kerberos AP-REP",
			"mit_ap_req.hex": "Kerberos AP-REQ", "mit_ap_req_mutual.hex": "mutual-required", "mit_ap_req_deleg.hex": "Kerberos AP-REQ", "mit_ap_rep.hex": "Kerberos AP-REP",
			"mit_krb_error.hex": "KRB-ERROR", "challenge.bin": "NTLM CHALLENGE_MESSAGE", "authenticate-mic.bin": "MIC:",
			"completed-mic.bin": "negState: accept-completed",
		}
		found := false
		for suffix, w := range want {
			if strings.HasSuffix(name, suffix) {
				found = true
				if !strings.Contains(out, w) {
					t.Errorf("%s: no %q in\n%s", name, w, out)
				}
			}
		}
		if !found {
			t.Errorf("%s: no expectation", name)
		}
	}
}

// The fields of a known token, exactly: the MIT AP-REQ with mutual
// authentication, wrapped in a header line.
func TestTokenAPReqFields(t *testing.T) {
	tok := realTokens(t)["mit_ap_req_mutual.hex"]
	var buf bytes.Buffer
	if err := decodeTokenInput(&buf, []byte("Authorization: Negotiate "+base64.StdEncoding.EncodeToString(tok))); err != nil {
		t.Fatal(err)
	}
	want := `HTTP scheme Negotiate
GSS-API krb5 token, mechanism 1.2.840.113554.1.2.2 (Kerberos), TOK_ID 01 00
  Kerberos AP-REQ (RFC 4120 section 5)
    pvno: 5, msg-type: 14
    ap-options: 0x20000000 (mutual-required)
    ticket: tkt-vno 5
      realm: "ASYNCSSPI.TEST"
      sname: "HTTP/localhost" (NT-SRV-HST)
      enc-part: etype 18 (aes256-cts-hmac-sha1-96), kvno 1, 361 bytes of ciphertext (not decrypted)
    authenticator: etype 18 (aes256-cts-hmac-sha1-96), 195 bytes of ciphertext (not decrypted)
`
	if buf.String() != want {
		t.Errorf("got\n%s\nwant\n%s", buf.String(), want)
	}
}

// The inner tokens of SPNEGO are decoded too: mechanism OIDs, the NTLM
// CHALLENGE's AV pairs.
func TestTokenSPNEGONesting(t *testing.T) {
	toks := realTokens(t)
	var buf bytes.Buffer
	if err := decodeTokenInput(&buf, []byte("WWW-Authenticate: Negotiate "+base64.StdEncoding.EncodeToString(toks["mit-ntlm-2-resp-challenge.bin"]))); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"SPNEGO NegTokenResp", "negState: accept-incomplete", "supportedMech: 1.3.6.1.4.1.311.2.2.10 (NTLMSSP)",
		"    NTLM CHALLENGE_MESSAGE", "server challenge: ", "MsvAvTimestamp: 20", "NEGOTIATE_SIGN"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("no %q in\n%s", want, buf.String())
		}
	}
	buf.Reset()
	if err := decodeTokenInput(&buf, []byte(base64.StdEncoding.EncodeToString(toks["mit-krb5-1-negtokeninit.bin"]))); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"mechTypes:", "1.2.840.113554.1.2.2 (Kerberos)", "mechToken: ", "Kerberos AP-REQ", "realm: "} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("no %q in\n%s", want, buf.String())
		}
	}
}

// No proper prefix of a real token decodes.
func TestTokenNoProperPrefixParses(t *testing.T) {
	for name, tok := range realTokens(t) {
		for n := 1; n < len(tok); n++ {
			if err := decodeToken(io.Discard, tok[:n]); err == nil {
				t.Errorf("%s: the %d-byte prefix of %d decodes", name, n, len(tok))
				break
			} else if !errors.Is(err, errMalformed) {
				t.Errorf("%s: prefix %d: error not errMalformed: %v", name, n, err)
				break
			}
		}
	}
}

// Input forms and malformed input: clear errors, exit status 1 (2 for bad
// arguments).
func TestTokenInputs(t *testing.T) {
	neg := base64.StdEncoding.EncodeToString(realTokens(t)["asyncsspi-negotiate.hex"])
	for _, ok := range []string{
		neg, "  " + neg + "\n", "NTLM " + neg, "authorization: ntlm " + neg, "Proxy-Authorization: NTLM " + neg,
		neg[:20] + "\n" + neg[20:], strings.TrimRight(neg, "="),
	} {
		var buf bytes.Buffer
		if err := decodeTokenInput(&buf, []byte(ok)); err != nil || !strings.Contains(buf.String(), "NTLM NEGOTIATE_MESSAGE") {
			t.Errorf("%q: %v\n%s", ok, err, buf.String())
		}
	}
	for _, c := range []struct{ in, want string }{
		{"", "no token"},
		{"Negotiate", "without a token"},
		{"Authorization: Negotiate", "without a token"},
		{"Cookie: a=b", "does not carry a token"},
		{"Basic YWxpY2U6cGFzcw==", `unknown scheme "Basic"`},
		{"%%%", "not base64"},
		{"YQ=Y", "base64"},
		{"AAAA", "unrecognized token"},
		{base64.StdEncoding.EncodeToString([]byte("NTLMSSP\x00\x09\x00\x00\x00")), "message type 9"},
		{base64.StdEncoding.EncodeToString([]byte("\x04\x04\x00\xff\xff\xff\xff\xff\x00\x00\x00\x00\x00\x00\x00\x01")), "per-message token"},
		{strings.Repeat("A", maxTokenInput+4), "longer than"},
	} {
		var buf bytes.Buffer
		err := decodeTokenInput(&buf, []byte(c.in))
		if err == nil || !errors.Is(err, errMalformed) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%.40q: %v, want an error with %q", c.in, err, c.want)
		}
	}
	var buf bytes.Buffer
	err := run(&buf, []string{"token", "AAAA"})
	var ee exitError
	if !errors.As(err, &ee) || ee.code != 1 {
		t.Errorf("malformed token: %v", err)
	}
	if err := run(&buf, []string{"token", "a", "b"}); !errors.As(err, &ee) || ee.code != 2 {
		t.Errorf("two arguments: %v", err)
	}
	buf.Reset()
	if err := run(&buf, []string{"token", "-help"}); err != nil || !strings.Contains(buf.String(), "usage: sspi token") {
		t.Errorf("-help: %v\n%s", err, buf.String())
	}
	buf.Reset()
	if err := run(&buf, []string{"token", neg}); err != nil || !strings.Contains(buf.String(), "NTLM NEGOTIATE_MESSAGE") {
		t.Errorf("argument: %v\n%s", err, buf.String())
	}
}

// FuzzTokenInput fuzzes sspi token's entry point (text: header lines,
// schemes, base64), seeded from the real tokens in every form.
func FuzzTokenInput(f *testing.F) {
	for _, tok := range realTokens(f) {
		b64 := base64.StdEncoding.EncodeToString(tok)
		f.Add([]byte(b64))
		f.Add([]byte("Authorization: Negotiate " + b64))
		f.Add([]byte("WWW-Authenticate: NTLM " + b64 + "\n"))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		var buf bytes.Buffer
		if err := decodeTokenInput(&buf, in); err != nil && !errors.Is(err, errMalformed) {
			t.Fatalf("error not errMalformed: %v", err)
		}
	})
}

// FuzzTokenBytes fuzzes the decoder below the base64, where the structure
// is, seeded from the real tokens.
func FuzzTokenBytes(f *testing.F) {
	for _, tok := range realTokens(f) {
		f.Add(tok)
	}
	f.Fuzz(func(t *testing.T, tok []byte) {
		if err := decodeToken(io.Discard, tok); err != nil && !errors.Is(err, errMalformed) {
			t.Fatalf("error not errMalformed: %v", err)
		}
	})
}
