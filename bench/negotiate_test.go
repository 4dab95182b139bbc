package bench

// Negotiate benchmarks (issue 5, item 7): whole SPNEGO handshakes through
// the engine, to set beside the bare mechanisms' handshakes
// (BenchmarkNTLMHandshake, BenchmarkKerberosHandshake).
//
//	go test -run '^$' -bench 'Negotiate|NTLMHandshake|KerberosHandshake' -benchmem ./bench/
//
// The *Direct benchmarks run the same legs with no engine: beside each
// other they show the SPNEGO layer's own cost, apart from the engine's
// per-leg handoffs, which on a machine with idle cores cost the Go
// scheduler's wakeups of them, and so vary with each leg's own length.

import (
	"testing"

	"github.com/asyncsspi/asyncsspi/async"
	secctx "github.com/asyncsspi/asyncsspi/context"
	"github.com/asyncsspi/asyncsspi/mechs"
	"github.com/asyncsspi/asyncsspi/mechs/kerberos"
	"github.com/asyncsspi/asyncsspi/mechs/kerberos/kdc"
	"github.com/asyncsspi/asyncsspi/mechs/negotiate"
)

// BenchmarkNegotiateNTLM: NTLM under Negotiate, with the same credentials,
// flags and asynchronous engine legs as BenchmarkNTLMHandshake: NegTokenInit
// with NEGOTIATE, CHALLENGE, AUTHENTICATE with the initiator's mechListMIC,
// accept-completed with the acceptor's, and the initiator's check of it
// (one leg more than bare NTLM).
//
// Issue 5 hoped for this within 10% of BenchmarkNTLMHandshake; it cannot
// be. The mechListMIC exchange (RFC 4178 section 5, required because the
// AUTHENTICATE carries an NTLM MIC, MS-SPNG 3.2.5.1) makes each side set up
// both directions of NTLM message protection that the bare handshake never
// touches: per direction SIGNKEY and SEALKEY (MS-NLMP 3.4.5.2-3, an MD5 of
// two blocks each), an RC4 key schedule, and one HMAC-MD5 of the
// mechanism list (four MD5 blocks). That is 32 MD5 blocks and 4 RC4 key
// schedules per handshake, about as much cryptography as the NTLM
// handshake itself (some 36 blocks and 2 key schedules), plus a fifth
// engine leg and the SPNEGO framing.
func BenchmarkNegotiateNTLM(b *testing.B) {
	e := async.New(mechs.NewSet(negotiate.New(ntlmPackage())))
	defer e.Close()
	client, _, err := e.AcquireCredentialsHandle("", "Negotiate", secctx.SECPKG_CRED_OUTBOUND,
		&secctx.AuthIdentity{User: ntlmUser, Domain: ntlmDomain, Password: ntlmPassword})
	if err != nil {
		b.Fatal(err)
	}
	server, _, err := e.AcquireCredentialsHandle("", "Negotiate", secctx.SECPKG_CRED_INBOUND, nil)
	if err != nil {
		b.Fatal(err)
	}
	l := newAsyncLegs(e)
	checkNTLMHandshake(b, l.handshake(b, client, server, "HTTP/web.example.com", ntlmHandshakeReq), 5)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		l.handshake(b, client, server, "HTTP/web.example.com", ntlmHandshakeReq)
	}
}

// BenchmarkNegotiateKerberos: Kerberos under Negotiate with mutual
// authentication, as BenchmarkKerberosHandshake runs it bare (the same
// flags and the same asynchronous engine legs, asyncLegs): NegTokenInit
// with the AP-REQ, accept-completed with the AP-REP, the initiator's check
// (Kerberos is both sides' first choice, so no mechListMIC). The
// sub-packages are Kerberos then NTLM, as a real Negotiate has them.
//
// Issue 5 asks for this within 10% of BenchmarkKerberosHandshake. The
// layer frames the sub-tokens in place (StepInput.Headroom) and adds two
// small contexts; its own cost is about 0.8 µs on a mechanism that does
// nothing (mechs/negotiate BenchmarkLayerNull) and 1.0-1.5 µs beside the
// real handshake (the *Direct pair: +14-19%). Through the engine the gap
// grows to +25-35% on a 2-core VM, because each leg's handoff to an idle
// core costs more the longer the leg runs; with GOMAXPROCS=1 it is
// +7-11%.
func BenchmarkNegotiateKerberos(b *testing.B) {
	f := newKrbFixture(b)
	e := async.New(mechs.NewSet(negotiateKerberosPackage()))
	defer e.Close()
	client, _, err := e.AcquireCredentialsHandle("", "Negotiate", secctx.SECPKG_CRED_OUTBOUND, negotiateKerberosClient(f))
	if err != nil {
		b.Fatal(err)
	}
	server, _, err := e.AcquireCredentialsHandle("", "Negotiate", secctx.SECPKG_CRED_INBOUND, negotiateKerberosServer(f))
	if err != nil {
		b.Fatal(err)
	}
	l := newAsyncLegs(e)
	checkKrbHandshake(b, l.handshake(b, client, server, krbSPN, mutualReq))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		l.handshake(b, client, server, krbSPN, mutualReq)
	}
}

// negotiateKerberosPackage is Negotiate over Kerberos then NTLM, as a real
// Negotiate has them.
func negotiateKerberosPackage() *negotiate.Package {
	return negotiate.New(kerberos.New(kerberos.WithReplayCache(64, 1<<16)), ntlmPackage())
}

// negotiateKerberosClient and negotiateKerberosServer hold the same locally
// made ticket and keytab as the Kerberos benchmarks.
func negotiateKerberosClient(f *krbFixture) *negotiate.AuthData {
	return &negotiate.AuthData{ByPackage: map[string]any{
		"Kerberos": &kerberos.ServiceTickets{Tickets: []*kdc.Ticket{f.ticket}},
		"NTLM":     &secctx.AuthIdentity{User: ntlmUser, Domain: ntlmDomain, Password: ntlmPassword},
	}}
}

func negotiateKerberosServer(f *krbFixture) *negotiate.AuthData {
	return &negotiate.AuthData{ByPackage: map[string]any{"Kerberos": &kerberos.Keytab{Keytab: f.kt}}}
}

// BenchmarkNegotiateKerberosDirect: BenchmarkNegotiateKerberos's legs
// without the engine (stepHandshake), beside
// BenchmarkKerberosHandshakeDirect: the SPNEGO layer's own cost.
func BenchmarkNegotiateKerberosDirect(b *testing.B) {
	f := newKrbFixture(b)
	p := negotiateKerberosPackage()
	client, err := p.AcquireCredentials(mechs.CredentialRequest{Use: secctx.SECPKG_CRED_OUTBOUND, AuthData: negotiateKerberosClient(f)})
	if err != nil {
		b.Fatal(err)
	}
	server, err := p.AcquireCredentials(mechs.CredentialRequest{Use: secctx.SECPKG_CRED_INBOUND, AuthData: negotiateKerberosServer(f)})
	if err != nil {
		b.Fatal(err)
	}
	in := &mechs.StepInput{}
	checkKrbHandshake(b, stepHandshake(b, client, server, krbSPN, mutualReq, in))
	b.ReportAllocs()
	for b.Loop() {
		stepHandshake(b, client, server, krbSPN, mutualReq, in)
	}
}

// BenchmarkNegotiateNTLMDirect: BenchmarkNegotiateNTLM's legs without the
// engine (stepHandshake), beside BenchmarkNTLMHandshakeDirect.
func BenchmarkNegotiateNTLMDirect(b *testing.B) {
	p := negotiate.New(ntlmPackage())
	client, err := p.AcquireCredentials(mechs.CredentialRequest{Use: secctx.SECPKG_CRED_OUTBOUND,
		AuthData: &secctx.AuthIdentity{User: ntlmUser, Domain: ntlmDomain, Password: ntlmPassword}})
	if err != nil {
		b.Fatal(err)
	}
	server, err := p.AcquireCredentials(mechs.CredentialRequest{Use: secctx.SECPKG_CRED_INBOUND})
	if err != nil {
		b.Fatal(err)
	}
	in := &mechs.StepInput{}
	checkNTLMHandshake(b, stepHandshake(b, client, server, "HTTP/web.example.com", ntlmHandshakeReq, in), 5)
	b.ReportAllocs()
	for b.Loop() {
		stepHandshake(b, client, server, "HTTP/web.example.com", ntlmHandshakeReq, in)
	}
}
