package negotiate

import (
	"testing"

	secctx "github.com/asyncsspi/asyncsspi/context"
	"github.com/asyncsspi/asyncsspi/mechs"
	"github.com/asyncsspi/asyncsspi/status"
)

// The SPNEGO layer alone: whole Negotiate handshakes (no engine) over the
// scripted sub-mechanisms, whose own legs cost next to nothing, so what
// is measured is what Negotiate adds to a real mechanism's handshake:
// token framing and parsing, mechanism choice, context bookkeeping (and,
// for the NTLM shape, two toy MICs of about a microsecond each).

func benchLayer(b *testing.B, ip, ap *Package) {
	icred, _ := ip.AcquireCredentials(mechs.CredentialRequest{Use: secctx.SECPKG_CRED_OUTBOUND})
	acred, _ := ap.AcquireCredentials(mechs.CredentialRequest{Use: secctx.SECPKG_CRED_INBOUND})
	in := &mechs.StepInput{}
	run := func() {
		ic, _ := icred.NewInitiator(mechs.InitiatorParams{Target: "HTTP/h"})
		ac, _ := acred.NewAcceptor(mechs.AcceptorParams{})
		in.Token = nil
		for side := 0; ; side ^= 1 {
			ctx := ic
			if side == 1 {
				ctx = ac
			}
			r := ctx.Step(in)
			if r.Status.IsError() {
				b.Fatal(r.Err)
			}
			if in.Token = r.Token; r.Token == nil {
				if r.Status != status.SEC_E_OK {
					b.Fatal(r.Status)
				}
				break
			}
		}
		ic.Close()
		ac.Close()
	}
	run()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		run()
	}
}

// BenchmarkLayerKerberosShape: AP-REQ in NegTokenInit, AP-REP in
// accept-completed, no MIC.
func BenchmarkLayerKerberosShape(b *testing.B) {
	benchLayer(b, New(toyKerberos(), toyNTLM()), New(toyKerberos(), toyNTLM()))
}

// BenchmarkLayerNTLMShape: three NTLM messages and the MIC exchange.
func BenchmarkLayerNTLMShape(b *testing.B) {
	benchLayer(b, New(toyNTLM()), New(toyNTLM()))
}
