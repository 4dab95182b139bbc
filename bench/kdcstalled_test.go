package bench

// NTLM handshakes beside Kerberos legs stuck on a KDC that never answers
// (issue 11 item 5): the engine's CPU queue and its legs waiting on I/O are
// separate budgets, so the stuck legs must cost the NTLM handshakes nothing.
// Run it beside its baseline:
//
//	go test -run '^$' -bench 'NTLMHandshake(KDCStalled)?$' -benchmem ./bench/

import (
	"testing"
	"time"

	"github.com/asyncsspi/asyncsspi/async"
	secctx "github.com/asyncsspi/asyncsspi/context"
	"github.com/asyncsspi/asyncsspi/internal/fakemech"
	"github.com/asyncsspi/asyncsspi/mechs"
	"github.com/asyncsspi/asyncsspi/status"
)

// stalledLegs is how many legs wait on the silent KDC: the engine's whole
// queue depth before the budgets were split.
const stalledLegs = 4096

// BenchmarkNTLMHandshakeKDCStalled is BenchmarkNTLMHandshake through an
// engine that meanwhile holds 4,096 legs waiting on I/O that never
// answers. The stalled legs are the scripted fake's, each asking for a KDC
// exchange of its own (no share key) whose Perform blocks until the engine
// closes: a KDC that swallows every request, without the timing and retry
// behaviour of a real transport, so that all 4,096 stay waiting however
// long the run. 64 of them hold an I/O goroutine each (the default I/O
// concurrency); the others wait their turn.
func BenchmarkNTLMHandshakeKDCStalled(b *testing.B) {
	hc := ntlmCase(ntlmPackage(), 4)
	silent := &fakemech.IO{Realm: "EXAMPLE.ORG", Block: true}
	fake := fakemech.New(fakemech.WithScript(func(fakemech.Info, int, []byte) fakemech.Leg {
		return fakemech.Leg{IO: silent}
	}))
	e := async.New(mechs.NewSet(hc.pkg, fake), async.WithIOTimeout(24*time.Hour))
	defer e.Close()
	stalled := stallLegs(b, e, stalledLegs)
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
	b.StopTimer()
	if s := e.Stats(); s.IOLegs != stalledLegs {
		b.Fatalf("%d legs waiting on I/O at the end, want %d", s.IOLegs, stalledLegs)
	}
	for _, ac := range stalled {
		if ac.Status() != status.SEC_I_ASYNC_CALL_PENDING {
			b.Fatalf("a stalled leg completed: %v", ac.Status())
		}
	}
}

// stallLegs queues n first legs of the fake package on e and returns once
// every one of them waits on I/O.
func stallLegs(b *testing.B, e *async.Engine, n int) []*async.AsyncContext {
	b.Helper()
	cred, _, err := e.AcquireCredentialsHandle("", fakemech.Name, secctx.SECPKG_CRED_OUTBOUND, nil)
	if err != nil {
		b.Fatal(err)
	}
	acs := make([]*async.AsyncContext, n)
	for i := range acs {
		acs[i] = e.CreateAsyncContext()
		if st := e.InitializeSecurityContextAsync(acs[i], cred, 0, "krbtgt/EXAMPLE.ORG", 0, nil); st != status.SEC_E_OK {
			b.Fatalf("stalled leg %d not queued: %v", i, st)
		}
	}
	for deadline := time.Now().Add(time.Minute); e.Stats().IOLegs < n; {
		if time.Now().After(deadline) {
			b.Fatalf("only %d of %d legs wait on I/O after a minute", e.Stats().IOLegs, n)
		}
		time.Sleep(time.Millisecond)
	}
	return acs
}
