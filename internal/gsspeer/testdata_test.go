package gsspeer

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// TestTestdataShapes checks that the captured seeds are what their names
// say, so that fuzz targets elsewhere can rely on them.
func TestTestdataShapes(t *testing.T) {
	krb5OID := []byte{0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x12, 0x01, 0x02, 0x02}
	spnegoOID := []byte{0x06, 0x06, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x02}
	ntlm := func(typ byte) func([]byte) bool {
		return func(b []byte) bool { return len(b) >= 12 && bytes.HasPrefix(b, []byte("NTLMSSP\x00")) && b[8] == typ }
	}
	framed := func(oid []byte, tokID ...byte) func([]byte) bool {
		return func(b []byte) bool {
			i := bytes.Index(b, oid)
			return len(b) > 2 && b[0] == 0x60 && i > 0 && i < 6 && bytes.HasPrefix(b[i+len(oid):], tokID)
		}
	}
	prefix := func(p ...byte) func([]byte) bool { return func(b []byte) bool { return bytes.HasPrefix(b, p) } }
	checks := map[string]func([]byte) bool{
		"krb5_ap_req.gss":                             framed(krb5OID, 0x01, 0x00),
		"krb5_ap_rep.gss":                             framed(krb5OID, 0x02, 0x00),
		"krb5_wrap_conf.bin":                          prefix(0x05, 0x04),
		"krb5_mic.bin":                                prefix(0x04, 0x04),
		"spnego_krb5_neg_token_init.gss":              framed(spnegoOID, 0xa0),
		"spnego_krb5_neg_token_resp.bin":              prefix(0xa1),
		"spnego_ntlm_neg_token_init.gss":              framed(spnegoOID, 0xa0),
		"spnego_ntlm_neg_token_resp_challenge.bin":    prefix(0xa1),
		"spnego_ntlm_neg_token_resp_authenticate.bin": prefix(0xa1),
		"spnego_ntlm_neg_token_resp_final.bin":        prefix(0xa1),
		"ntlm_negotiate.bin":                          ntlm(1),
		"ntlm_challenge.bin":                          ntlm(2),
		"ntlm_authenticate.bin":                       ntlm(3),
		"ntlm_wrap_conf.bin":                          prefix(0x01, 0x00, 0x00, 0x00),
		"ntlm_mic.bin":                                func(b []byte) bool { return len(b) == 16 && b[0] == 1 },
	}
	for name, ok := range checks {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if !ok(b) {
			t.Errorf("%s does not look like its name says: % x", name, b[:min(len(b), 24)])
		}
	}
}
