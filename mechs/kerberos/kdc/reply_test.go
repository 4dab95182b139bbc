package kdc

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/asyncsspi/asyncsspi/status"
	"github.com/jcmturner/gokrb5/v8/config"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/types"
)

// The files in testdata/ are replies (and two AS-REQs) captured from an MIT
// krb5 1.20.1 KDC for realm DEV.TEST: bob (password "bobpw", AES-SHA1
// keys) and carol ("carolpw", AES-SHA2 keys only), both requiring
// pre-authentication.
const seedRealm = "DEV.TEST"

func readSeed(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func replySeeds(t testing.TB) map[string][]byte {
	t.Helper()
	names, err := filepath.Glob(filepath.Join("testdata", "*.der"))
	if err != nil || len(names) == 0 {
		t.Fatalf("no seeds in testdata: %v", err)
	}
	out := map[string][]byte{}
	for _, n := range names {
		base := filepath.Base(n)
		if strings.HasPrefix(base, "as-req-") {
			continue
		}
		out[base] = readSeed(t, base)
	}
	return out
}

func TestParseReplySeeds(t *testing.T) {
	for name, b := range replySeeds(t) {
		r, err := ParseReply(b)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		switch {
		case strings.HasPrefix(name, "as-rep"):
			if r.AS == nil {
				t.Fatalf("%s: not an AS-REP", name)
			}
		case strings.HasPrefix(name, "tgs-rep"):
			if r.TGS == nil {
				t.Fatalf("%s: not a TGS-REP", name)
			}
		case strings.HasPrefix(name, "krb-error"):
			if r.Error == nil {
				t.Fatalf("%s: not a KRB-ERROR", name)
			}
		}
		// No proper prefix of a valid reply parses.
		for i := 0; i < len(b); i++ {
			if _, err := ParseReply(b[:i]); err == nil {
				t.Fatalf("%s: a %d-byte prefix of %d bytes parsed", name, i, len(b))
			} else if status.CodeOf(err) != status.SEC_E_INVALID_TOKEN {
				t.Fatalf("%s: prefix %d: %v, want SEC_E_INVALID_TOKEN", name, i, err)
			}
		}
		// Nor a reply with a trailing byte.
		if _, err := ParseReply(append(append([]byte(nil), b...), 0)); err == nil {
			t.Fatalf("%s: parsed with a trailing byte", name)
		}
	}
}

func TestKRBErrorSeedsMapToStatus(t *testing.T) {
	for _, tc := range []struct {
		file string
		code int32
		st   status.Code
	}{
		{"krb-error-preauth-failed.der", 24, status.SEC_E_LOGON_DENIED},
		{"krb-error-s-principal-unknown.der", 7, status.SEC_E_TARGET_UNKNOWN},
		{"krb-error-preauth-required.der", 25, status.SEC_E_NO_PA_DATA},
	} {
		r, err := ParseReply(readSeed(t, tc.file))
		if err != nil || r.Error == nil {
			t.Fatalf("%s: %v", tc.file, err)
		}
		if r.Error.ErrorCode != tc.code {
			t.Fatalf("%s: code %d, want %d", tc.file, r.Error.ErrorCode, tc.code)
		}
		if got := status.CodeOf(statusOfKRBError(*r.Error)); got != tc.st {
			t.Fatalf("%s: %v, want %v", tc.file, got, tc.st)
		}
	}
}

func TestPreauthRequiredCarriesETypeInfo2(t *testing.T) {
	for file, want := range map[string]int32{
		"krb-error-preauth-required.der":      etypeAES256SHA1,
		"krb-error-preauth-required-sha2.der": etypeAES256SHA2,
	} {
		r, _ := ParseReply(readSeed(t, file))
		info := etypeInfoFrom(methodData(r.Error))
		if len(info) == 0 || info[0].EType != want {
			t.Fatalf("%s: ETYPE-INFO2 %+v, want first etype %d", file, info, want)
		}
	}
}

// seedClient is a Client for a seed principal; it does no I/O here.
func seedClient(t testing.TB, user, password string) *Client {
	t.Helper()
	c, err := NewClient(ClientConfig{
		Principal: types.NewPrincipalName(1, user),
		Realm:     seedRealm,
		Password:  password,
		Config:    config.New(),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func seedASReq(t testing.TB, file string) messages.ASReq {
	t.Helper()
	var req messages.ASReq
	if err := req.Unmarshal(readSeed(t, file)); err != nil {
		t.Fatal(err)
	}
	return req
}

// The AS-REPs MIT sent decrypt with the password-derived keys (salt and
// etype from the PA-ETYPE-INFO2 of the reply), for AES-SHA1 and AES-SHA2.
func TestASReplyFromMIT(t *testing.T) {
	for _, tc := range []struct{ user, pw, rep, req string }{
		{"bob", "bobpw", "as-rep-bob-aes256-sha1.der", "as-req-bob-aes256-sha1.der"},
		{"carol", "carolpw", "as-rep-carol-aes256-sha2.der", "as-req-carol-aes256-sha2.der"},
	} {
		c := seedClient(t, tc.user, tc.pw)
		tkt, retry, err := c.asReply(readSeed(t, tc.rep), seedASReq(t, tc.req), true, false, nil)
		if err != nil || retry != nil {
			t.Fatalf("%s: %v %v", tc.user, err, retry)
		}
		if !isTGS(tkt.Server, seedRealm) || tkt.Client.PrincipalNameString() != tc.user || tkt.EndTime.IsZero() {
			t.Fatalf("%s: ticket %+v", tc.user, tkt)
		}
		bad := seedClient(t, tc.user, "not-"+tc.pw)
		if _, _, err := bad.asReply(readSeed(t, tc.rep), seedASReq(t, tc.req), true, false, nil); status.CodeOf(err) != status.SEC_E_LOGON_DENIED {
			t.Fatalf("%s with a wrong password: %v, want SEC_E_LOGON_DENIED", tc.user, err)
		}
	}
	// A reply to another request (nonce mismatch) is refused.
	c := seedClient(t, "bob", "bobpw")
	other := seedASReq(t, "as-req-bob-aes256-sha1.der")
	other.ReqBody.Nonce++
	if _, _, err := c.asReply(readSeed(t, "as-rep-bob-aes256-sha1.der"), other, true, false, nil); err == nil {
		t.Fatal("an AS-REP with another nonce was accepted")
	}
}

func TestASReplyPreauthRequiredAsksRetry(t *testing.T) {
	c := seedClient(t, "bob", "bobpw")
	_, retry, err := c.asReply(readSeed(t, "krb-error-preauth-required.der"), seedASReq(t, "as-req-bob-aes256-sha1.der"), false, false, nil)
	if err != nil || len(retry) == 0 {
		t.Fatalf("retry %v, err %v", retry, err)
	}
	// The same answer to a request that already carried pre-auth is final.
	_, _, err = c.asReply(readSeed(t, "krb-error-preauth-required.der"), seedASReq(t, "as-req-bob-aes256-sha1.der"), true, false, nil)
	if err == nil {
		t.Fatal("PREAUTH_REQUIRED after pre-auth was sent did not fail")
	}
}

// FuzzReply feeds arbitrary bytes through what the client does with a KDC
// reply: TCP record framing, the AS-REP / TGS-REP / KRB-ERROR dispatch, the
// ETYPE-INFO2 reading, and the AS-REP decryption path with a real request.
// It must never panic, and a parsed reply must have no parsing prefix.
func FuzzReply(f *testing.F) {
	for _, b := range replySeeds(f) {
		f.Add(b)
		f.Add(AppendFrame(nil, b))
	}
	c := seedClient(f, "bob", "bobpw")
	req := seedASReq(f, "as-req-bob-aes256-sha1.der")
	tgt := &Ticket{
		Client: types.NewPrincipalName(1, "bob"), CRealm: seedRealm,
		Server: types.NewPrincipalName(2, "krbtgt/"+seedRealm), SRealm: seedRealm,
		SessionKey: types.EncryptionKey{KeyType: etypeAES256SHA1, KeyValue: make([]byte, 32)},
	}
	tgt.Ticket.SName = tgt.Server
	tgsReq, err := c.newTGSReq(tgt, types.NewPrincipalName(2, "HTTP/localhost"), seedRealm, 0)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if frame, err := ReadFrame(bytes.NewReader(data), DefaultMaxReplySize); err == nil {
			_, _ = ParseReply(frame)
		}
		r, err := ParseReply(data)
		if err == nil {
			for _, n := range []int{0, 1, len(data) / 2, len(data) - 1} {
				if _, err := ParseReply(data[:n]); err == nil {
					t.Fatalf("a %d-byte prefix of a %d-byte reply parsed", n, len(data))
				}
			}
			if r.Error != nil {
				_ = etypeInfoFrom(methodData(r.Error))
			}
		} else if status.CodeOf(err) != status.SEC_E_INVALID_TOKEN {
			t.Fatalf("malformed reply gave %v, want SEC_E_INVALID_TOKEN", err)
		}
		_, _, _ = c.asReply(data, req, false, false, nil)
		_, _, _ = c.asReply(data, req, true, true, etypeInfo{{EType: etypeAES256SHA1, Salt: "DEV.TESTbob"}})
		_, _ = c.tgsReply(data, tgsReq, tgt, tgsReq.ReqBody.SName, seedRealm)
	})
}
