package bench

// The handshake harness: whole handshakes, both sides, run either through
// the engine's asynchronous legs (benchEngineHandshakes) or by calling the
// mechanisms' Step directly (benchDirectHandshakes), for every
// *Handshake, Negotiate* and *Direct benchmark.

import (
	"testing"

	"github.com/asyncsspi/asyncsspi/async"
	secctx "github.com/asyncsspi/asyncsspi/context"
	"github.com/asyncsspi/asyncsspi/mechs"
	"github.com/asyncsspi/asyncsspi/status"
)

// handshakeCase is one handshake benchmark: the package, what its two
// credentials are acquired with, the target and flags, and the check of a
// handshake's result.
type handshakeCase struct {
	pkg            mechs.Package
	client, server any // AuthData of the outbound and the inbound credential
	target         string
	req            secctx.ISCReq
	check          func(*testing.B, handshakeResult)
}

// benchEngineHandshakes runs hc's handshakes through the engine
// (asyncLegs), checking the first.
func benchEngineHandshakes(b *testing.B, hc handshakeCase) {
	e := async.New(mechs.NewSet(hc.pkg))
	defer e.Close()
	client, _, err := e.AcquireCredentialsHandle("", hc.pkg.Name(), secctx.SECPKG_CRED_OUTBOUND, hc.client)
	if err != nil {
		b.Fatal(err)
	}
	server, _, err := e.AcquireCredentialsHandle("", hc.pkg.Name(), secctx.SECPKG_CRED_INBOUND, hc.server)
	if err != nil {
		b.Fatal(err)
	}
	l := newAsyncLegs(e)
	hc.check(b, l.handshake(b, client, server, hc.target, hc.req))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		l.handshake(b, client, server, hc.target, hc.req)
	}
}

// benchDirectHandshakes runs hc's handshakes with no engine
// (stepHandshake), checking the first.
func benchDirectHandshakes(b *testing.B, hc handshakeCase) {
	client, err := hc.pkg.AcquireCredentials(mechs.CredentialRequest{Use: secctx.SECPKG_CRED_OUTBOUND, AuthData: hc.client})
	if err != nil {
		b.Fatal(err)
	}
	defer client.Close()
	server, err := hc.pkg.AcquireCredentials(mechs.CredentialRequest{Use: secctx.SECPKG_CRED_INBOUND, AuthData: hc.server})
	if err != nil {
		b.Fatal(err)
	}
	defer server.Close()
	in := &mechs.StepInput{}
	hc.check(b, stepHandshake(b, client, server, hc.target, hc.req, in))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		stepHandshake(b, client, server, hc.target, hc.req, in)
	}
}

// asyncLegs runs whole handshakes through the engine's asynchronous legs:
// every leg is queued with InitializeSecurityContextAsync or
// AcceptSecurityContextAsync, run by a CPU worker, and completed through
// the notify callback, which signals done; one async context serves every
// leg in turn (Reinit's intended use), so the harness itself allocates
// nothing. BenchmarkNTLMHandshake and BenchmarkNegotiateNTLM both use it,
// so the two differ only in the package under test.
type asyncLegs struct {
	e    *async.Engine
	ac   *async.AsyncContext
	done chan struct{}
	in   []secctx.Buffer
}

func newAsyncLegs(e *async.Engine) *asyncLegs {
	l := &asyncLegs{e: e, ac: e.CreateAsyncContext(), done: make(chan struct{}, 1), in: make([]secctx.Buffer, 1)}
	l.ac.SetNotifyCallback(func(*async.AsyncContext, any) { l.done <- struct{}{} }, nil)
	return l
}

// handshakeResult is what one handshake ended with.
type handshakeResult struct {
	legs                     int
	clientFlags, serverFlags uint64
}

// handshake runs the legs, client first, until both sides have returned
// SEC_E_OK and no token is left to deliver, then deletes both contexts.
// Any status other than SEC_I_CONTINUE_NEEDED or SEC_E_OK fails b.
func (l *asyncLegs) handshake(b *testing.B, client, server secctx.CredHandle, target string, req secctx.ISCReq) handshakeResult {
	var ch, sh secctx.CtxtHandle
	var tok []byte
	var res handshakeResult
	cDone, sDone := false, false
	for !(cDone && sDone && tok == nil) {
		if res.legs > 8 {
			b.Fatal("handshake does not end")
		}
		var input []secctx.Buffer
		if tok != nil {
			l.in[0] = secctx.Buffer{Type: secctx.SECBUFFER_TOKEN, Data: tok}
			input = l.in
		}
		var st status.Code
		if res.legs%2 == 0 {
			st = l.e.InitializeSecurityContextAsync(l.ac, client, ch, target, req, input)
		} else {
			st = l.e.AcceptSecurityContextAsync(l.ac, server, sh, input, 0)
		}
		if st != status.SEC_E_OK {
			b.Fatalf("leg %d not queued: %v", res.legs, st)
		}
		<-l.done
		st = l.ac.Status()
		if st != status.SEC_E_OK && st != status.SEC_I_CONTINUE_NEEDED {
			b.Fatalf("leg %d: %v", res.legs, l.ac.Err())
		}
		tok = l.ac.Token()
		if res.legs%2 == 0 {
			ch, cDone, res.clientFlags = l.ac.ContextHandle(), st == status.SEC_E_OK, l.ac.Flags()
		} else {
			sh, sDone, res.serverFlags = l.ac.ContextHandle(), st == status.SEC_E_OK, l.ac.Flags()
		}
		if len(tok) == 0 {
			tok = nil
		}
		res.legs++
	}
	l.e.DeleteSecurityContext(ch)
	l.e.DeleteSecurityContext(sh)
	return res
}

// stepHandshake runs the same legs as asyncLegs.handshake by calling the
// mechanisms' Step directly, with no engine: the *Direct benchmarks, which
// show what the mechanisms themselves cost, apart from the engine's legs
// (queue, worker, completion) and the Go scheduler's handoffs between
// goroutines. in is reused; the contexts are made and closed each time.
func stepHandshake(b *testing.B, client, server mechs.Credential, target string, req secctx.ISCReq, in *mechs.StepInput) handshakeResult {
	ic, err := client.NewInitiator(mechs.InitiatorParams{Target: target, Req: req})
	if err != nil {
		b.Fatal(err)
	}
	ac, err := server.NewAcceptor(mechs.AcceptorParams{})
	if err != nil {
		b.Fatal(err)
	}
	var res handshakeResult
	in.Token = nil
	cDone, sDone := false, false
	for !(cDone && sDone && in.Token == nil) {
		if res.legs > 8 {
			b.Fatal("handshake does not end")
		}
		ctx := ic
		if res.legs%2 == 1 {
			ctx = ac
		}
		r := ctx.Step(in)
		if r.IO != nil || (r.Status != status.SEC_E_OK && r.Status != status.SEC_I_CONTINUE_NEEDED) {
			b.Fatalf("leg %d: %v %v", res.legs, r.Status, r.Err)
		}
		if res.legs%2 == 0 {
			cDone, res.clientFlags = r.Status == status.SEC_E_OK, r.Flags
		} else {
			sDone, res.serverFlags = r.Status == status.SEC_E_OK, r.Flags
		}
		in.Token = r.Token
		if len(r.Token) == 0 {
			in.Token = nil
		}
		res.legs++
	}
	ic.Close()
	ac.Close()
	return res
}
