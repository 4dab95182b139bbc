package bench

// Negotiate benchmarks (issue 5, item 7): whole SPNEGO handshakes through
// the engine, to set beside the bare mechanisms' handshakes
// (BenchmarkNTLMHandshake, BenchmarkKerberosHandshake).
//
//	go test -run '^$' -bench 'Negotiate|NTLMHandshake|KerberosHandshake' -benchmem ./bench/

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
func BenchmarkNegotiateKerberos(b *testing.B) {
	// The same locally made ticket and keytab as the Kerberos benchmarks.
	f := newKrbFixture(b)
	kt, tkt, spn := f.kt, f.ticket, krbSPN
	e := async.New(mechs.NewSet(negotiate.New(kerberos.New(kerberos.WithReplayCache(64, 1<<16)), ntlmPackage())))
	defer e.Close()
	client, _, err := e.AcquireCredentialsHandle("", "Negotiate", secctx.SECPKG_CRED_OUTBOUND, &negotiate.AuthData{
		ByPackage: map[string]any{
			"Kerberos": &kerberos.ServiceTickets{Tickets: []*kdc.Ticket{tkt}},
			"NTLM":     &secctx.AuthIdentity{User: ntlmUser, Domain: ntlmDomain, Password: ntlmPassword},
		}})
	if err != nil {
		b.Fatal(err)
	}
	server, _, err := e.AcquireCredentialsHandle("", "Negotiate", secctx.SECPKG_CRED_INBOUND, &negotiate.AuthData{
		ByPackage: map[string]any{"Kerberos": &kerberos.Keytab{Keytab: kt}}})
	if err != nil {
		b.Fatal(err)
	}
	l := newAsyncLegs(e)
	checkKrbHandshake(b, l.handshake(b, client, server, spn, mutualReq))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		l.handshake(b, client, server, spn, mutualReq)
	}
}
