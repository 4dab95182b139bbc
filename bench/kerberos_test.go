package bench

import (
	"sync/atomic"
	"testing"
	"time"

	secctx "github.com/asyncsspi/asyncsspi/context"
	"github.com/asyncsspi/asyncsspi/mechs"
	"github.com/asyncsspi/asyncsspi/mechs/kerberos"
	"github.com/asyncsspi/asyncsspi/mechs/kerberos/kdc"
	"github.com/asyncsspi/asyncsspi/replay"
	"github.com/asyncsspi/asyncsspi/status"
	"github.com/jcmturner/gofork/encoding/asn1"
	"github.com/jcmturner/gokrb5/v8/client"
	"github.com/jcmturner/gokrb5/v8/config"
	"github.com/jcmturner/gokrb5/v8/gssapi"
	"github.com/jcmturner/gokrb5/v8/iana/flags"
	"github.com/jcmturner/gokrb5/v8/keytab"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/service"
	"github.com/jcmturner/gokrb5/v8/spnego"
	"github.com/jcmturner/gokrb5/v8/types"
)

// The Kerberos benchmarks use a ticket made locally, not by a KDC: gokrb5's
// messages.NewTicket encrypts an EncTicketPart (aes256-cts-hmac-sha1-96,
// the enctype MIT issues by default) in a keytab key, as a KDC would. Both
// our code and gokrb5 get the same ticket and keytab.

const (
	krbRealm = "EXAMPLE.ORG"
	krbSPN   = "HTTP/host.example.org"
)

type krbFixture struct {
	kt     *keytab.Keytab
	ticket *kdc.Ticket
}

func newKrbFixture(b *testing.B) *krbFixture {
	b.Helper()
	kt := keytab.New()
	if err := kt.AddEntry(krbSPN, krbRealm, "service password", time.Now(), 2, 18); err != nil {
		b.Fatal(err)
	}
	fl := types.NewKrbFlags()
	types.SetFlag(&fl, flags.Forwardable)
	return &krbFixture{kt: kt, ticket: issueTicket(b, kt, types.NewPrincipalName(1, "alice"), types.NewPrincipalName(2, krbSPN), fl)}
}

// issueTicket does what a KDC does for a TGS-REQ: a new session key and an
// EncTicketPart encrypted in the service's keytab key, valid for ten hours.
func issueTicket(b *testing.B, kt *keytab.Keytab, cname, sname types.PrincipalName, fl asn1.BitString) *kdc.Ticket {
	b.Helper()
	now := time.Now()
	end := now.Add(10 * time.Hour)
	tkt, key, err := messages.NewTicket(cname, krbRealm, sname, krbRealm, fl, kt, 18, 2, now, now, end, end)
	if err != nil {
		b.Fatal(err)
	}
	return &kdc.Ticket{
		Client: cname, CRealm: krbRealm, Server: sname, SRealm: krbRealm,
		Ticket: tkt, SessionKey: key, Flags: fl,
		AuthTime: now, StartTime: now, EndTime: end, RenewTill: end,
	}
}

// uniqueClock advances a microsecond per call, so that authenticators made
// back to back differ in ctime/cusec (gokrb5's replay cache keys on them).
func uniqueClock() func() time.Time {
	base := time.Now()
	var n atomic.Int64
	return func() time.Time { return base.Add(time.Duration(n.Add(1)) * time.Microsecond) }
}

func (f *krbFixture) initiatorCred(b *testing.B, pkg *kerberos.Package) mechs.Credential {
	cred, err := pkg.AcquireCredentials(mechs.CredentialRequest{Use: secctx.SECPKG_CRED_OUTBOUND,
		AuthData: &kerberos.ServiceTickets{Tickets: []*kdc.Ticket{f.ticket}}})
	if err != nil {
		b.Fatal(err)
	}
	return cred
}

func (f *krbFixture) acceptorCred(b *testing.B, pkg *kerberos.Package) mechs.Credential {
	cred, err := pkg.AcquireCredentials(mechs.CredentialRequest{Use: secctx.SECPKG_CRED_INBOUND,
		AuthData: &kerberos.Keytab{Keytab: f.kt}})
	if err != nil {
		b.Fatal(err)
	}
	return cred
}

const mutualReq = secctx.ISC_REQ_MUTUAL_AUTH | secctx.ISC_REQ_CONFIDENTIALITY | secctx.ISC_REQ_INTEGRITY |
	secctx.ISC_REQ_SEQUENCE_DETECT | secctx.ISC_REQ_REPLAY_DETECT

// BenchmarkKerberosInitiator: one AP-REQ leg (context creation and first
// Step) with a cached ticket and mutual authentication asked.
func BenchmarkKerberosInitiator(b *testing.B) {
	f := newKrbFixture(b)
	cred := f.initiatorCred(b, kerberos.New())
	defer cred.Close()
	in := &mechs.StepInput{}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ic, err := cred.NewInitiator(mechs.InitiatorParams{Target: krbSPN, Req: mutualReq})
		if err != nil {
			b.Fatal(err)
		}
		r := ic.Step(in)
		if r.Status != status.SEC_I_CONTINUE_NEEDED || len(r.Token) == 0 {
			b.Fatalf("status %v", r.Status)
		}
	}
}

// BenchmarkGokrb5APREQ: gokrb5's spnego.NewKRB5TokenAPREQ plus Marshal on
// the same ticket (gokrb5 adds no subkey).
func BenchmarkGokrb5APREQ(b *testing.B) {
	f := newKrbFixture(b)
	cl := client.NewWithPassword("alice", krbRealm, "unused", config.New())
	gssFlags := []int{gssapi.ContextFlagInteg, gssapi.ContextFlagConf, gssapi.ContextFlagMutual}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		tok, err := spnego.NewKRB5TokenAPREQ(cl, f.ticket.Ticket, f.ticket.SessionKey, gssFlags, []int{flags.APOptionMutualRequired})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := tok.Marshal(); err != nil {
			b.Fatal(err)
		}
	}
}

// makeAPReqs builds n distinct initial context tokens with our initiator.
func makeAPReqs(b *testing.B, f *krbFixture, n int) [][]byte {
	cred := f.initiatorCred(b, kerberos.New(kerberos.WithClock(uniqueClock())))
	defer cred.Close()
	toks := make([][]byte, n)
	for i := range toks {
		ic, _ := cred.NewInitiator(mechs.InitiatorParams{Target: krbSPN, Req: mutualReq})
		r := ic.Step(&mechs.StepInput{})
		if r.Status != status.SEC_I_CONTINUE_NEEDED {
			b.Fatal(r.Err)
		}
		toks[i] = r.Token
	}
	return toks
}

const krbBatch = 4096

// BenchmarkKerberosAcceptor: one accept leg (context creation, AP-REQ
// verification with replay check, AP-REP). Distinct AP-REQs are made in
// batches with the timer stopped, each batch for a fresh acceptor
// credential and replay cache, so the cache stays small (a full one:
// replay's BenchmarkReplayCacheInsert).
func BenchmarkKerberosAcceptor(b *testing.B) {
	f := newKrbFixture(b)
	b.ReportAllocs()
	b.ResetTimer()
	for done := 0; done < b.N; {
		b.StopTimer()
		n := min(krbBatch, b.N-done)
		toks := makeAPReqs(b, f, n)
		cred := f.acceptorCred(b, kerberos.New(kerberos.WithReplayCache(replay.NewMemory())))
		b.StartTimer()
		for _, tok := range toks {
			ac, err := cred.NewAcceptor(mechs.AcceptorParams{})
			if err != nil {
				b.Fatal(err)
			}
			r := ac.Step(&mechs.StepInput{Token: tok})
			if r.Status != status.SEC_E_OK || len(r.Token) == 0 {
				b.Fatalf("status %v: %v", r.Status, r.Err)
			}
		}
		done += n
	}
}

// BenchmarkGokrb5VerifyAPREQ: gokrb5's service.VerifyAPREQ (PAC decoding
// off) on the same kind of token, including the unmarshalling of the
// AP-REQ it needs; it builds no AP-REP (gokrb5 cannot).
func BenchmarkGokrb5VerifyAPREQ(b *testing.B) {
	f := newKrbFixture(b)
	settings := service.NewSettings(f.kt, service.DecodePAC(false))
	b.ReportAllocs()
	b.ResetTimer()
	for done := 0; done < b.N; {
		b.StopTimer()
		n := min(krbBatch, b.N-done)
		toks := makeAPReqs(b, f, n)
		b.StartTimer()
		for _, tok := range toks {
			var kt spnego.KRB5Token
			if err := kt.Unmarshal(tok); err != nil {
				b.Fatal(err)
			}
			ok, _, err := service.VerifyAPREQ(&kt.APReq, settings)
			if !ok || err != nil {
				b.Fatalf("gokrb5 refused our AP-REQ: %v", err)
			}
		}
		done += n
	}
}

// checkKrbHandshake fails b unless the handshake took the three legs of
// a mutual Kerberos handshake (AP-REQ, AP-REP, the initiator's check of
// it) and both sides granted mutual authentication, integrity and
// confidentiality.
func checkKrbHandshake(b *testing.B, r handshakeResult) {
	b.Helper()
	if r.legs != 3 {
		b.Fatalf("%d legs, want 3", r.legs)
	}
	want := uint64(secctx.ISC_RET_MUTUAL_AUTH | secctx.ISC_RET_INTEGRITY | secctx.ISC_RET_CONFIDENTIALITY)
	if r.clientFlags&want != want {
		b.Fatalf("client flags %#x lack mutual authentication, integrity or confidentiality", r.clientFlags)
	}
	if w := uint64(secctx.ASC_RET_MUTUAL_AUTH | secctx.ASC_RET_INTEGRITY | secctx.ASC_RET_CONFIDENTIALITY); r.serverFlags&w != w {
		b.Fatalf("server flags %#x lack mutual authentication, integrity or confidentiality", r.serverFlags)
	}
}

// BenchmarkKerberosHandshake: a whole mutual handshake (AP-REQ, verify,
// AP-REP, verify) with a cached ticket through the engine's asynchronous
// legs (queue, worker, completion callback: asyncLegs, as
// BenchmarkNTLMHandshake runs), then both contexts deleted.
// BenchmarkNegotiateKerberos runs the same legs with the same flags under
// Negotiate.
func BenchmarkKerberosHandshake(b *testing.B) {
	benchEngineHandshakes(b, krbCase(newKrbFixture(b)))
}

// BenchmarkKerberosHandshakeDirect: BenchmarkKerberosHandshake's legs
// without the engine (stepHandshake).
func BenchmarkKerberosHandshakeDirect(b *testing.B) {
	benchDirectHandshakes(b, krbCase(newKrbFixture(b)))
}

// krbCase is a mutual Kerberos handshake on f's ticket and keytab, checked
// by checkKrbHandshake.
func krbCase(f *krbFixture) handshakeCase {
	return handshakeCase{
		pkg:    kerberos.New(kerberos.WithReplayCache(replay.NewMemory())),
		client: &kerberos.ServiceTickets{Tickets: []*kdc.Ticket{f.ticket}},
		server: &kerberos.Keytab{Keytab: f.kt},
		target: krbSPN,
		req:    mutualReq,
		check:  checkKrbHandshake,
	}
}

// newTicketAPReqs builds n initial context tokens, each on a ticket of its
// own, so that no acceptor-side cache of verified tickets can help.
func newTicketAPReqs(b *testing.B, f *krbFixture, n int) [][]byte {
	toks := make([][]byte, n)
	for i := range toks {
		t := issueTicket(b, f.kt, f.ticket.Client, f.ticket.Server, f.ticket.Flags)
		cred, err := kerberos.New().AcquireCredentials(mechs.CredentialRequest{Use: secctx.SECPKG_CRED_OUTBOUND,
			AuthData: &kerberos.ServiceTickets{Tickets: []*kdc.Ticket{t}}})
		if err != nil {
			b.Fatal(err)
		}
		ic, _ := cred.NewInitiator(mechs.InitiatorParams{Target: krbSPN, Req: mutualReq})
		r := ic.Step(&mechs.StepInput{})
		if r.Status != status.SEC_I_CONTINUE_NEEDED {
			b.Fatal(r.Err)
		}
		toks[i] = r.Token
		cred.Close()
	}
	return toks
}

// BenchmarkKerberosAcceptorFirstContact is BenchmarkKerberosAcceptor with a
// new ticket in every AP-REQ: the ticket decryption and key derivation that
// the acceptor's cache of verified tickets saves a returning client are paid
// each time. The tokens are made once (making tickets is slow); each batch
// goes to a fresh acceptor credential and replay cache, both empty, so no
// token is ever seen twice by one replay cache.
func BenchmarkKerberosAcceptorFirstContact(b *testing.B) {
	f := newKrbFixture(b)
	const batch = 256
	toks := newTicketAPReqs(b, f, batch)
	b.ReportAllocs()
	b.ResetTimer()
	for done := 0; done < b.N; {
		b.StopTimer()
		n := min(batch, b.N-done)
		cred := f.acceptorCred(b, kerberos.New(kerberos.WithReplayCache(replay.NewMemory())))
		b.StartTimer()
		for _, tok := range toks[:n] {
			ac, err := cred.NewAcceptor(mechs.AcceptorParams{})
			if err != nil {
				b.Fatal(err)
			}
			r := ac.Step(&mechs.StepInput{Token: tok})
			if r.Status != status.SEC_E_OK || len(r.Token) == 0 {
				b.Fatalf("status %v: %v", r.Status, r.Err)
			}
		}
		b.StopTimer()
		cred.Close()
		b.StartTimer()
		done += n
	}
}
