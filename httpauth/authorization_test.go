package httpauth_test

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/asyncsspi/asyncsspi/httpauth"
)

func header(lines ...string) http.Header {
	h := http.Header{}
	for _, l := range lines {
		h.Add("Authorization", l)
	}
	return h
}

func TestParseAuthorization(t *testing.T) {
	tok := []byte("NTLMSSP\x00\x01\x00\x00") // 11 bytes: padded base64
	b64 := base64.StdEncoding.EncodeToString(tok)
	for _, c := range []struct {
		h      http.Header
		scheme string
		err    error
	}{
		{header("Negotiate " + b64), "Negotiate", nil},
		{header("negotiate   " + b64), "Negotiate", nil},
		{header("NTLM\t" + b64), "NTLM", nil},
		{header("ntlm " + b64 + " "), "NTLM", nil},
		{http.Header{}, "", httpauth.ErrNoAuthorization},
		{header("Negotiate "+b64, "Negotiate "+b64), "Negotiate", httpauth.ErrRepeatedAuthorization},
		{header("Negotiate " + b64 + ", NTLM " + b64), "Negotiate", httpauth.ErrRepeatedAuthorization},
		{header("Negotiate"), "Negotiate", httpauth.ErrMalformedAuthorization},
		{header("Negotiate "), "Negotiate", httpauth.ErrMalformedAuthorization},
		{header("Negotiate " + strings.TrimRight(b64, "=")), "Negotiate", httpauth.ErrMalformedAuthorization},
		{header("Negotiate " + b64[:4] + "\n" + b64[4:]), "Negotiate", httpauth.ErrMalformedAuthorization},
		{header("Negotiate " + b64 + "=="), "Negotiate", httpauth.ErrMalformedAuthorization},
		{header("Negotiate ====" + b64), "Negotiate", httpauth.ErrMalformedAuthorization},
		{header("Negotiate " + base64.URLEncoding.EncodeToString([]byte{0xfb, 0xff})), "Negotiate", httpauth.ErrMalformedAuthorization},
		{header("Basic YWxpY2U6cGFzcw=="), "Basic", nil},
		{header("Digest username=\"a\", realm=\"b\""), "Digest", httpauth.ErrRepeatedAuthorization},
		{header(" "), "", httpauth.ErrMalformedAuthorization},
		{header("(bad) " + b64), "", httpauth.ErrMalformedAuthorization},
		{header("Negotiate " + base64.StdEncoding.EncodeToString(make([]byte, 101))), "Negotiate", httpauth.ErrTokenTooLarge},
		{header("Negotiate " + strings.Repeat("A", 1000)), "Negotiate", httpauth.ErrTokenTooLarge},
	} {
		a, err := httpauth.ParseAuthorization(c.h, 100)
		if !errors.Is(err, c.err) || a.Scheme != c.scheme {
			t.Errorf("%q: %+v %v, want scheme %q error %v", c.h.Values("Authorization"), a, err, c.scheme, c.err)
		}
		if err == nil && a.Scheme != "Basic" && !bytes.Equal(a.Token, tok) {
			t.Errorf("%q: token %x", c.h.Values("Authorization"), a.Token)
		}
	}
	// The maximum itself is accepted.
	if _, err := httpauth.ParseAuthorization(header("Negotiate "+base64.StdEncoding.EncodeToString(make([]byte, 100))), 100); err != nil {
		t.Errorf("a token of the maximum size: %v", err)
	}
}

// realHeaderTokens are the handshake tokens in the repository's testdata
// folders, for seeds.
func realHeaderTokens(t testing.TB) [][]byte {
	files, _ := filepath.Glob("../mechs/*/testdata/*")
	var out [][]byte
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		switch filepath.Ext(f) {
		case ".hex":
			if b, err := hex.DecodeString(strings.Join(strings.Fields(string(raw)), "")); err == nil {
				out = append(out, b)
			}
		case ".bin":
			out = append(out, raw)
		}
	}
	if len(out) == 0 {
		t.Fatal("no tokens in ../mechs/*/testdata")
	}
	return out
}

// FuzzParseAuthorization: any header values give a token within the
// bound that re-encodes to what was sent, or an error; never a panic.
func FuzzParseAuthorization(f *testing.F) {
	for _, tok := range realHeaderTokens(f) {
		b64 := base64.StdEncoding.EncodeToString(tok)
		f.Add("Negotiate "+b64, "")
		f.Add("NTLM "+b64, "NTLM "+b64)
		f.Add("Negotiate "+b64[:len(b64)/2], "")
	}
	f.Fuzz(func(t *testing.T, v1, v2 string) {
		h := http.Header{}
		h.Add("Authorization", v1)
		if v2 != "" {
			h.Add("Authorization", v2)
		}
		const max = 48256
		a, err := httpauth.ParseAuthorization(h, max)
		if err != nil {
			return
		}
		if v2 != "" || a.Scheme == "" || len(a.Token) == 0 || len(a.Token) > max {
			t.Fatalf("accepted %q %q: %+v", v1, v2, a)
		}
		if !strings.Contains(v1, base64.StdEncoding.EncodeToString(a.Token)) {
			t.Fatalf("token %x is not what %q carries", a.Token, v1)
		}
	})
}
