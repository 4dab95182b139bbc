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

	secctx "github.com/asyncsspi/asyncsspi/context"
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
	benchEngineHandshakes(b, ntlmCase(negotiate.New(ntlmPackage()), 5))
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
	benchEngineHandshakes(b, negotiateKerberosCase(newKrbFixture(b)))
}

// negotiateKerberosCase is krbCase under Negotiate over Kerberos then
// NTLM, as a real Negotiate has them: the same ticket and keytab, with an
// NTLM identity beside the ticket.
func negotiateKerberosCase(f *krbFixture) handshakeCase {
	hc := krbCase(f)
	hc.client = &negotiate.AuthData{ByPackage: map[string]any{
		"Kerberos": hc.client,
		"NTLM":     &secctx.AuthIdentity{User: ntlmUser, Domain: ntlmDomain, Password: ntlmPassword},
	}}
	hc.server = &negotiate.AuthData{ByPackage: map[string]any{"Kerberos": hc.server}}
	hc.pkg = negotiate.New(hc.pkg, ntlmPackage())
	return hc
}

// BenchmarkNegotiateKerberosDirect: BenchmarkNegotiateKerberos's legs
// without the engine (stepHandshake), beside
// BenchmarkKerberosHandshakeDirect: the SPNEGO layer's own cost.
func BenchmarkNegotiateKerberosDirect(b *testing.B) {
	benchDirectHandshakes(b, negotiateKerberosCase(newKrbFixture(b)))
}

// BenchmarkNegotiateNTLMDirect: BenchmarkNegotiateNTLM's legs without the
// engine (stepHandshake), beside BenchmarkNTLMHandshakeDirect.
func BenchmarkNegotiateNTLMDirect(b *testing.B) {
	benchDirectHandshakes(b, ntlmCase(negotiate.New(ntlmPackage()), 5))
}
