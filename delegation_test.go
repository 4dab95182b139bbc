package asyncsspi_test

import (
	"crypto/rand"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/asyncsspi/asyncsspi"
	"github.com/asyncsspi/asyncsspi/async"
	secctx "github.com/asyncsspi/asyncsspi/context"
	"github.com/asyncsspi/asyncsspi/internal/testrealm"
	"github.com/asyncsspi/asyncsspi/mechs/kerberos"
	"github.com/asyncsspi/asyncsspi/mechs/kerberos/kdc"
	"github.com/asyncsspi/asyncsspi/status"
	"github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/types"
	"golang.org/x/crypto/cryptobyte"
	"golang.org/x/crypto/cryptobyte/asn1"
)

// realmEngine is an engine whose Kerberos reads realm's krb5.conf.
func realmEngine(t *testing.T, realm *testrealm.Realm) *asyncsspi.Engine {
	t.Helper()
	e := asyncsspi.New(asyncsspi.WithEngineOptions(async.WithWorkers(2)),
		asyncsspi.WithKerberosOptions(kerberos.WithConfigFile(realm.Krb5Conf)))
	t.Cleanup(func() { e.Close() })
	return e
}

// credOK returns a function that passes on an acquired credential (closed
// when t ends), failing t on an error.
func credOK(t *testing.T) func(*asyncsspi.Credential, error) *asyncsspi.Credential {
	return func(c *asyncsspi.Credential, err error) *asyncsspi.Credential {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
}

// TestDelegatedCredential (issue 12 item 1): a client delegates its TGT;
// the server's DelegatedCredential authenticates to a second service as
// that client, also after the server's context is closed.
func TestDelegatedCredential(t *testing.T) {
	ok := credOK(t)
	realm := testrealm.Start(t)
	if realm == nil {
		return
	}
	const upstream = "HTTP/upstream.test"
	realm.AddService(t, upstream)
	e := realmEngine(t, realm)
	front := ok(e.ServerCredential(asyncsspi.Negotiate(asyncsspi.KerberosKeytab(realm.ServiceKeytab, testrealm.Service))))
	back := ok(e.ServerCredential(asyncsspi.Negotiate(asyncsspi.KerberosKeytab(realm.Keytab(t, upstream), ""))))
	alice := ok(e.ClientCredential(asyncsspi.Negotiate(asyncsspi.KerberosPassword(realm.Principal(testrealm.User), testrealm.Password))))

	client, _ := alice.NewClientContext(testrealm.Service, asyncsspi.MutualAuth(), asyncsspi.Delegate())
	defer client.Close()
	server, _ := front.NewServerContext()
	if _, err := server.DelegatedCredential(); !errors.Is(err, status.SEC_E_NO_CONTEXT) {
		t.Fatalf("before the handshake: %v", err)
	}
	handshake(t, client, server)
	if client.Flags()&uint64(secctx.ISC_RET_DELEGATE) == 0 || server.Flags()&uint64(secctx.ASC_RET_DELEGATE) == 0 {
		t.Fatalf("flags: client %v, server %v", secctx.ISCRet(client.Flags()), secctx.ASCRet(server.Flags()))
	}
	if _, err := client.DelegatedCredential(); !errors.Is(err, status.SEC_E_UNSUPPORTED_FUNCTION) {
		t.Fatalf("client's context: %v", err)
	}
	cred := ok(server.DelegatedCredential())
	if cred.Package() != "Negotiate" || strings.Join(cred.Packages(), ",") != "Kerberos" || cred.Expiry().IsZero() {
		t.Fatalf("credential %s over %v until %v", cred.Package(), cred.Packages(), cred.Expiry())
	}
	server.Close()

	c2, _ := cred.NewClientContext(upstream, asyncsspi.MutualAuth())
	defer c2.Close()
	s2, _ := back.NewServerContext()
	defer s2.Close()
	handshake(t, c2, s2)
	if got := s2.ClientName(); got != realm.Principal(testrealm.User) {
		t.Fatalf("the second service saw %q", got)
	}
	if !c2.MutuallyAuthenticated() || c2.Package() != "Kerberos" {
		t.Fatalf("second hop: mutual %v, package %s", c2.MutuallyAuthenticated(), c2.Package())
	}

	// Without Delegate, nothing was delegated.
	client3, _ := alice.NewClientContext(testrealm.Service, asyncsspi.MutualAuth())
	defer client3.Close()
	server3, _ := front.NewServerContext()
	defer server3.Close()
	handshake(t, client3, server3)
	_, err := server3.DelegatedCredential()
	if !errors.Is(err, status.SEC_E_NO_CREDENTIALS) || !strings.Contains(err.Error(), "delegated no credential") {
		t.Fatalf("not delegated: %v", err)
	}
}

// A KRB-CRED that does not decrypt with the ticket's session key (made
// here by hand: gokrb5's AP-REQ with our own 0x8003 checksum) leaves the
// handshake successful without ASC_RET_DELEGATE, and DelegatedCredential
// says why.
func TestDelegatedCredentialDoesNotDecrypt(t *testing.T) {
	ok := credOK(t)
	realm := testrealm.Start(t)
	if realm == nil {
		return
	}
	e := realmEngine(t, realm)
	front := ok(e.ServerCredential(asyncsspi.KerberosKeytab(realm.ServiceKeytab, testrealm.Service)))
	cfg, err := kdc.LoadConfigFile(realm.Krb5Conf)
	if err != nil {
		t.Fatal(err)
	}
	kc, err := kdc.NewClient(kdc.ClientConfig{Principal: types.NewPrincipalName(1, testrealm.User), Realm: realm.Name, Password: testrealm.Password, Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	defer kc.Close()
	tkt, err := kc.ServiceTicket(t.Context(), testrealm.Service)
	if err != nil {
		t.Fatal(err)
	}
	tok := apReqDelegating(t, tkt, badKRBCred(t, tkt))

	server, _ := front.NewServerContext()
	defer server.Close()
	if _, done, err := server.Step(t.Context(), tok); err != nil || !done {
		t.Fatalf("handshake: done %v, %v", done, err)
	}
	if server.Flags()&uint64(secctx.ASC_RET_DELEGATE) != 0 {
		t.Fatal("ASC_RET_DELEGATE for a KRB-CRED that does not decrypt")
	}
	if _, err := server.DelegatedCredential(); !errors.Is(err, status.SEC_E_NO_CREDENTIALS) || !strings.Contains(err.Error(), "does not decrypt") {
		t.Fatalf("DelegatedCredential: %v", err)
	}
}

// badKRBCred is a well-formed KRB-CRED (RFC 4120 section 5.8) carrying
// tkt's ticket, whose enc-part is encrypted in a random key.
func badKRBCred(t *testing.T, tkt *kdc.Ticket) []byte {
	t.Helper()
	der, err := tkt.Ticket.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	wrong := types.EncryptionKey{KeyType: tkt.SessionKey.KeyType, KeyValue: make([]byte, len(tkt.SessionKey.KeyValue))}
	rand.Read(wrong.KeyValue)
	ed, err := crypto.GetEncryptedData([]byte{0x7d, 0x00}, wrong, 14, 0)
	if err != nil {
		t.Fatal(err)
	}
	b := cryptobyte.NewBuilder(nil)
	ctx := func(n int) asn1.Tag { return asn1.Tag(n).ContextSpecific().Constructed() }
	b.AddASN1(asn1.Tag(0x40|22).Constructed(), func(b *cryptobyte.Builder) {
		b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1(ctx(0), func(b *cryptobyte.Builder) { b.AddASN1Int64(5) })
			b.AddASN1(ctx(1), func(b *cryptobyte.Builder) { b.AddASN1Int64(22) })
			b.AddASN1(ctx(2), func(b *cryptobyte.Builder) {
				b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) { b.AddBytes(der) })
			})
			b.AddASN1(ctx(3), func(b *cryptobyte.Builder) {
				b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
					b.AddASN1(ctx(0), func(b *cryptobyte.Builder) { b.AddASN1Int64(int64(ed.EType)) })
					b.AddASN1(ctx(2), func(b *cryptobyte.Builder) { b.AddASN1OctetString(ed.Cipher) })
				})
			})
		})
	})
	return b.BytesOrPanic()
}

// apReqDelegating is a krb5 GSS initial context token (RFC 4121 section
// 4.1) whose authenticator's 0x8003 checksum delegates krbCred.
func apReqDelegating(t *testing.T, tkt *kdc.Ticket, krbCred []byte) []byte {
	t.Helper()
	cs := make([]byte, 0, 28+len(krbCred))
	cs = append(cs, 16, 0, 0, 0)         // Lgth
	cs = append(cs, make([]byte, 16)...) // Bnd: no channel bindings
	cs = append(cs, 1|32, 0, 0, 0)       // Flags: GSS_C_DELEG_FLAG | GSS_C_INTEG_FLAG
	cs = append(cs, 1, 0)                // DlgOpt
	cs = append(cs, byte(len(krbCred)), byte(len(krbCred)>>8))
	cs = append(cs, krbCred...)
	now := time.Now().UTC()
	auth := types.Authenticator{AVNO: 5, CRealm: tkt.CRealm, CName: tkt.Client,
		Cksum: types.Checksum{CksumType: 0x8003, Checksum: cs},
		Cusec: now.Nanosecond() / 1000, CTime: now.Truncate(time.Second)}
	ap, err := messages.NewAPReq(tkt.Ticket, tkt.SessionKey, auth)
	if err != nil {
		t.Fatal(err)
	}
	inner, err := ap.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	oid := []byte{0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x12, 0x01, 0x02, 0x02}
	body := append(append(oid, 0x01, 0x00), inner...)
	b := cryptobyte.NewBuilder(nil)
	b.AddASN1(asn1.Tag(0x60), func(b *cryptobyte.Builder) { b.AddBytes(body) })
	return b.BytesOrPanic()
}

// NTLM cannot delegate.
func TestDelegatedCredentialNTLM(t *testing.T) {
	ok := credOK(t)
	e := newEngine(t)
	scred := ok(e.ServerCredential(asyncsspi.Negotiate(asyncsspi.NTLMUsers(ntlmUsers()))))
	ccred := ok(e.ClientCredential(asyncsspi.Negotiate(asyncsspi.NTLMPassword("EXAMPLE", "alice", "Pa55word!"))))
	client, _ := ccred.NewClientContext("HTTP/host.example.com", asyncsspi.Delegate())
	defer client.Close()
	server, _ := scred.NewServerContext()
	defer server.Close()
	handshake(t, client, server)
	if _, err := server.DelegatedCredential(); !errors.Is(err, status.SEC_E_UNSUPPORTED_FUNCTION) || !strings.Contains(err.Error(), "NTLM") {
		t.Fatalf("NTLM: %v", err)
	}
}

// A server acts as its client towards another service with what the client
// delegated (asyncsspi.Delegate on the client's side).
func ExampleSecurityContext_DelegatedCredential() {
	e := asyncsspi.New()
	defer e.Close()
	server, err := e.ServerCredential(asyncsspi.FromEnvironment())
	if err != nil {
		return
	}
	defer server.Close()
	sc, _ := server.NewServerContext()
	defer sc.Close()
	// ... the handshake: sc.Step(ctx, tokenFromClient) until done ...
	cred, err := sc.DelegatedCredential()
	if err != nil {
		return // SEC_E_NO_CREDENTIALS: nothing was delegated
	}
	defer cred.Close()
	upstream, _ := cred.NewClientContext("HTTP/upstream.example.com", asyncsspi.MutualAuth())
	defer upstream.Close()
	// ... upstream.Step(ctx, nil) and so on, as the client.
}
