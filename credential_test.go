package asyncsspi_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jcmturner/gokrb5/v8/config"
	"github.com/jcmturner/gokrb5/v8/iana/etypeID"
	"github.com/jcmturner/gokrb5/v8/iana/flags"
	"github.com/jcmturner/gokrb5/v8/iana/nametype"
	"github.com/jcmturner/gokrb5/v8/keytab"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/types"

	"github.com/asyncsspi/asyncsspi"
	"github.com/asyncsspi/asyncsspi/async"
	"github.com/asyncsspi/asyncsspi/mechs/kerberos"
	"github.com/asyncsspi/asyncsspi/mechs/kerberos/kdc"
	"github.com/asyncsspi/asyncsspi/status"
)

// A realm with no KDC: the service's key is in a keytab in memory, and the
// client's ticket is issued with it here, as a KDC would issue it.
const (
	memRealm = "EXAMPLE.COM"
	memSPN   = "HTTP/web.example.com"
)

func memKeytab(t *testing.T, spn, password string) *keytab.Keytab {
	t.Helper()
	kt := keytab.New()
	if err := kt.AddEntry(spn, memRealm, password, time.Now(), 1, etypeID.AES256_CTS_HMAC_SHA1_96); err != nil {
		t.Fatal(err)
	}
	return kt
}

// memTicket does what a KDC does for a TGS-REQ (RFC 4120 section 3.3.3):
// a fresh session key, and the ticket sealed in the service's key.
func memTicket(t *testing.T, kt *keytab.Keytab, user, spn string) *kdc.Ticket {
	t.Helper()
	cname := types.NewPrincipalName(nametype.KRB_NT_PRINCIPAL, user)
	sname := types.NewPrincipalName(nametype.KRB_NT_SRV_INST, spn)
	fl := types.NewKrbFlags()
	types.SetFlag(&fl, flags.Forwardable)
	now := time.Now()
	end := now.Add(time.Hour)
	tkt, key, err := messages.NewTicket(cname, memRealm, sname, memRealm, fl, kt, etypeID.AES256_CTS_HMAC_SHA1_96, 1, now, now, end, end)
	if err != nil {
		t.Fatal(err)
	}
	return &kdc.Ticket{Client: cname, CRealm: memRealm, Server: sname, SRealm: memRealm, Ticket: tkt, SessionKey: key,
		Flags: fl, AuthTime: now, StartTime: now, EndTime: end, RenewTill: end}
}

// memEngine reads no krb5.conf: the in-memory credentials need none.
func memEngine(t *testing.T) *asyncsspi.Engine {
	t.Helper()
	e := asyncsspi.New(asyncsspi.WithEngineOptions(async.WithWorkers(2)), asyncsspi.WithKerberosOptions(kerberos.WithConfig(config.New())))
	t.Cleanup(func() { e.Close() })
	return e
}

// Kerberos with no KDC and no file: a client credential of service
// tickets (KerberosServiceTickets), a server credential over a keytab in
// memory (KerberosKeys); mutual authentication, then messages each way.
func TestKerberosServiceTicketsAndKeys(t *testing.T) {
	e := memEngine(t)
	kt := memKeytab(t, memSPN, "service secret")
	tkt := memTicket(t, kt, "alice", memSPN)
	src := asyncsspi.KerberosServiceTickets(tkt)
	if src.Package() != "Kerberos" || src.String() != "Kerberos service tickets of alice@EXAMPLE.COM for HTTP/web.example.com" {
		t.Fatalf("source %q %q", src.Package(), src)
	}
	ccred, err := e.ClientCredential(src)
	if err != nil {
		t.Fatal(err)
	}
	defer ccred.Close()
	if !ccred.Expiry().Equal(tkt.EndTime) {
		t.Errorf("client credential expires %v, the ticket %v", ccred.Expiry(), tkt.EndTime)
	}
	scred, err := e.ServerCredential(asyncsspi.KerberosKeys(kt, memSPN))
	if err != nil {
		t.Fatal(err)
	}
	defer scred.Close()

	client, _ := ccred.NewClientContext(memSPN, asyncsspi.MutualAuth(), asyncsspi.Confidentiality())
	server, _ := scred.NewServerContext()
	defer client.Close()
	defer server.Close()
	handshake(t, client, server)
	if !client.MutuallyAuthenticated() {
		t.Error("the client did not verify the server")
	}
	if server.Package() != "Kerberos" || server.ClientName() != "alice@EXAMPLE.COM" {
		t.Errorf("server: package %q client %q", server.Package(), server.ClientName())
	}
	for _, dir := range []struct{ from, to *asyncsspi.SecurityContext }{{client, server}, {server, client}} {
		msg := []byte("across the in-memory realm")
		sealed, err := dir.from.Seal(msg)
		if err != nil || bytes.Contains(sealed, msg) {
			t.Fatalf("seal: %v (plaintext inside: %v)", err, bytes.Contains(sealed, msg))
		}
		if got, err := dir.to.Open(sealed); err != nil || !bytes.Equal(got, msg) {
			t.Fatalf("open: %q %v", got, err)
		}
		sig, err := dir.from.Sign(msg)
		if err != nil {
			t.Fatal(err)
		}
		if err := dir.to.Verify(msg, sig); err != nil {
			t.Fatal(err)
		}
	}
}

// Under Negotiate, a target the tickets do not cover is SEC_E_TARGET_UNKNOWN
// for Kerberos, so the client falls back to NTLM within the first leg; a
// covered one negotiates Kerberos.
func TestKerberosServiceTicketsUnderNegotiate(t *testing.T) {
	e := memEngine(t)
	kt := memKeytab(t, memSPN, "service secret")
	tkt := memTicket(t, kt, "alice", memSPN)
	ccred, err := e.ClientCredential(asyncsspi.Negotiate(asyncsspi.KerberosServiceTickets(tkt), asyncsspi.NTLMPassword("EXAMPLE", "alice", "Pa55word!")))
	if err != nil {
		t.Fatal(err)
	}
	defer ccred.Close()
	scred, err := e.ServerCredential(asyncsspi.Negotiate(asyncsspi.KerberosKeys(kt, ""), asyncsspi.NTLMUsers(ntlmUsers())))
	if err != nil {
		t.Fatal(err)
	}
	defer scred.Close()
	if got := ccred.Packages(); len(got) != 2 || got[0] != "Kerberos" || got[1] != "NTLM" {
		t.Fatalf("client packages %v", got)
	}
	for _, c := range []struct{ target, pkg, user string }{
		{memSPN, "Kerberos", "alice@EXAMPLE.COM"},
		{"HTTP/other.example.com", "NTLM", `EXAMPLE\alice`},
	} {
		client, _ := ccred.NewClientContext(c.target, asyncsspi.MutualAuth())
		server, _ := scred.NewServerContext()
		handshake(t, client, server)
		if client.Package() != c.pkg || server.Package() != c.pkg || !strings.EqualFold(server.ClientName(), c.user) {
			t.Errorf("%s: client chose %q, server %q, client name %q", c.target, client.Package(), server.Package(), server.ClientName())
		}
		client.Close()
		server.Close()
	}

	// Kerberos alone has nothing to fall back to.
	kcred, err := e.ClientCredential(asyncsspi.KerberosServiceTickets(tkt))
	if err != nil {
		t.Fatal(err)
	}
	defer kcred.Close()
	sc, _ := kcred.NewClientContext("HTTP/other.example.com")
	defer sc.Close()
	if _, _, err := sc.Step(t.Context(), nil); !errors.Is(err, status.SEC_E_TARGET_UNKNOWN) {
		t.Fatalf("a target with no ticket: %v", err)
	}
}

// What the two sources cannot serve is SEC_E_NO_CREDENTIALS, with the
// reason; the ticket list is the source's own copy.
func TestKerberosServiceTicketsAndKeysRefusals(t *testing.T) {
	e := memEngine(t)
	kt := memKeytab(t, memSPN, "service secret")
	tkt := memTicket(t, kt, "alice", memSPN)
	for _, c := range []struct {
		name string
		get  func() (*asyncsspi.Credential, error)
		want string
	}{
		{"no tickets", func() (*asyncsspi.Credential, error) { return e.ClientCredential(asyncsspi.KerberosServiceTickets()) }, "no service tickets"},
		{"nil tickets", func() (*asyncsspi.Credential, error) {
			return e.ClientCredential(asyncsspi.KerberosServiceTickets(nil, nil))
		}, "no service tickets"},
		{"tickets for a server", func() (*asyncsspi.Credential, error) {
			return e.ServerCredential(asyncsspi.KerberosServiceTickets(tkt))
		}, "cannot serve a server"},
		{"nil keytab", func() (*asyncsspi.Credential, error) { return e.ServerCredential(asyncsspi.KerberosKeys(nil, "")) }, "no keys"},
		{"empty keytab", func() (*asyncsspi.Credential, error) {
			return e.ServerCredential(asyncsspi.KerberosKeys(keytab.New(), ""))
		}, "no keys"},
		{"principal not in the keytab", func() (*asyncsspi.Credential, error) {
			return e.ServerCredential(asyncsspi.KerberosKeys(kt, "HTTP/elsewhere.example.com"))
		}, "no key for"},
	} {
		cred, err := c.get()
		if err == nil {
			cred.Close()
			t.Errorf("%s: no error", c.name)
			continue
		}
		if !errors.Is(err, status.SEC_E_NO_CREDENTIALS) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want SEC_E_NO_CREDENTIALS with %q", c.name, err, c.want)
		}
	}

	// The caller's slice may change afterwards: the source kept its own.
	list := []*kdc.Ticket{tkt}
	src := asyncsspi.KerberosServiceTickets(list...)
	list[0] = nil
	cred, err := e.ClientCredential(src)
	if err != nil {
		t.Fatalf("after the caller's slice changed: %v", err)
	}
	cred.Close()

	// A ticket sealed in another key than the server's is refused by the
	// server, not taken.
	other := memKeytab(t, memSPN, "another secret")
	forged, err := e.ClientCredential(asyncsspi.KerberosServiceTickets(memTicket(t, other, "mallory", memSPN)))
	if err != nil {
		t.Fatal(err)
	}
	defer forged.Close()
	scred, err := e.ServerCredential(asyncsspi.KerberosKeys(kt, memSPN))
	if err != nil {
		t.Fatal(err)
	}
	defer scred.Close()
	client, _ := forged.NewClientContext(memSPN)
	server, _ := scred.NewServerContext()
	defer client.Close()
	defer server.Close()
	out, _, err := client.Step(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, done, err := server.Step(t.Context(), out); err == nil || done || server.ClientName() == "mallory@EXAMPLE.COM" {
		t.Fatalf("a ticket in another key: done %v, err %v, client %q", done, err, server.ClientName())
	}
}
