package negotiate

import (
	"testing"
	"time"

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

// nullPkg is a mutual-authentication mechanism of three legs that does no
// work but what every real mechanism does: a context per side and a new
// output token per leg (600 and 200 bytes, as an AP-REQ and an AP-REP),
// honouring StepInput.Headroom as mechs/kerberos does. Negotiate over it
// minus it alone is the SPNEGO layer's own cost.
type nullPkg struct{}

func (nullPkg) Name() string { return "Kerberos" }
func (nullPkg) Info() secctx.PackageInfo {
	return secctx.PackageInfo{Name: "Kerberos", Capabilities: secctx.SECPKG_FLAG_INTEGRITY}
}
func (nullPkg) OIDs() []string { return []string{mechs.OIDMSKerberos, mechs.OIDKerberos} }
func (nullPkg) AcquireCredentials(req mechs.CredentialRequest) (mechs.Credential, error) {
	return nullCred{use: req.Use}, nil
}

type nullCred struct{ use secctx.CredentialUse }

func (nullCred) Package() string             { return "Kerberos" }
func (c nullCred) Use() secctx.CredentialUse { return c.use }
func (nullCred) Principal() string           { return "alice" }
func (nullCred) Expiry() time.Time           { return time.Time{} }
func (nullCred) Close() error                { return nil }
func (nullCred) NewInitiator(mechs.InitiatorParams) (mechs.SecurityContext, error) {
	return &nullCtx{initiator: true}, nil
}
func (nullCred) NewAcceptor(mechs.AcceptorParams) (mechs.SecurityContext, error) {
	return &nullCtx{}, nil
}

type nullCtx struct {
	initiator bool
	leg       int
	mechs.SecurityContext
}

func (c *nullCtx) Step(in *mechs.StepInput) mechs.StepResult {
	r, _ := c.StepWithRoom(in, 0)
	return r
}

func (c *nullCtx) StepWithRoom(in *mechs.StepInput, room int) (mechs.StepResult, int) {
	c.leg++
	tok := func(n int) []byte {
		b := make([]byte, room+n)
		b[room] = 0x60
		return b
	}
	flags := uint64(secctx.ISC_RET_INTEGRITY | secctx.ISC_RET_MUTUAL_AUTH)
	switch {
	case c.initiator && c.leg == 1:
		return mechs.StepResult{Status: status.SEC_I_CONTINUE_NEEDED, Token: tok(600), Flags: flags}, room
	case c.initiator:
		return mechs.StepResult{Status: status.SEC_E_OK, Flags: flags}, 0
	}
	return mechs.StepResult{Status: status.SEC_E_OK, Token: tok(200), Flags: flags}, room
}
func (c *nullCtx) Close() {}

// BenchmarkLayerNull: Negotiate over nullPkg; BenchmarkLayerNullBare:
// nullPkg alone. The difference is what the SPNEGO layer adds to a
// Kerberos handshake.
func BenchmarkLayerNull(b *testing.B) {
	p := New(nullPkg{})
	benchLayer(b, p, p)
}

func BenchmarkLayerNullBare(b *testing.B) {
	icred, _ := nullPkg{}.AcquireCredentials(mechs.CredentialRequest{})
	in := &mechs.StepInput{}
	b.ReportAllocs()
	for b.Loop() {
		ic, _ := icred.NewInitiator(mechs.InitiatorParams{})
		ac, _ := icred.NewAcceptor(mechs.AcceptorParams{})
		in.Token = nil
		r := ic.Step(in)
		in.Token = r.Token
		r = ac.Step(in)
		in.Token = r.Token
		ic.Step(in)
		ic.Close()
		ac.Close()
	}
}
