package bench

// Engine benchmarks: the cost of the async machinery itself, with the
// scripted fake mechanism (internal/fakemech), whose steps cost next to
// nothing, so what is measured is the engine.
//
//	go test -run '^$' -bench 'GetAsyncCallStatus|Leg|Drain' -benchmem ./bench/

import (
	"context"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/asyncsspi/asyncsspi/async"
	secctx "github.com/asyncsspi/asyncsspi/context"
	"github.com/asyncsspi/asyncsspi/internal/fakemech"
	"github.com/asyncsspi/asyncsspi/mechs"
	"github.com/asyncsspi/asyncsspi/status"
)

// statusSink keeps the compiler from dropping status reads.
var statusSink status.Code

// engineFixture is an engine over the fake package with one credential.
func engineFixture(b *testing.B, script fakemech.Script, opts ...async.Option) (*async.Engine, *fakemech.Package, secctx.CredHandle) {
	b.Helper()
	pkg := fakemech.New(fakemech.WithScript(script))
	e := async.New(mechs.NewSet(pkg), opts...)
	cred, _, err := e.AcquireCredentialsHandle("bench", fakemech.Name, secctx.SECPKG_CRED_BOTH, nil)
	if err != nil {
		b.Fatal(err)
	}
	return e, pkg, cred
}

var benchToken = []byte("token")

// continueForever is a script whose every leg continues at once.
func continueForever(fakemech.Info, int, []byte) fakemech.Leg {
	return fakemech.Leg{Status: status.SEC_I_CONTINUE_NEEDED, Token: benchToken}
}

// BenchmarkGetAsyncCallStatus is SspiGetAsyncCallStatus: one atomic load.
func BenchmarkGetAsyncCallStatus(b *testing.B) {
	e, _, cred := engineFixture(b, continueForever)
	defer e.Close()
	ac := e.CreateAsyncContext()
	e.InitializeSecurityContextAsync(ac, cred, 0, "", 0, nil)
	ac.Wait(context.Background())
	b.ReportAllocs()
	var st status.Code
	for b.Loop() {
		st = ac.Status()
	}
	statusSink = st
}

// BenchmarkLegDirect calls the fake mechanism's Step directly: the baseline
// for BenchmarkLeg.
func BenchmarkLegDirect(b *testing.B) {
	pkg := fakemech.New(fakemech.WithScript(continueForever))
	cred, err := pkg.AcquireCredentials(mechs.CredentialRequest{Use: secctx.SECPKG_CRED_OUTBOUND})
	if err != nil {
		b.Fatal(err)
	}
	sc, err := cred.NewInitiator(mechs.InitiatorParams{})
	if err != nil {
		b.Fatal(err)
	}
	in := []secctx.Buffer{{Type: secctx.SECBUFFER_TOKEN, Data: benchToken}}
	b.ReportAllocs()
	for b.Loop() {
		step := mechs.StepInput{Token: secctx.Token(in), Buffers: in}
		r := sc.Step(&step)
		statusSink = r.Status
	}
}

// BenchmarkLeg runs one leg through the engine: queue, CPU worker, Step,
// completion, and the notify callback, on an established security context
// (a later leg, as most legs are), with the async context reused leg after
// leg as Reinit intends.
func BenchmarkLeg(b *testing.B) {
	e, _, cred := engineFixture(b, continueForever)
	defer e.Close()
	ac := e.CreateAsyncContext()
	done := make(chan struct{}, 1)
	ac.SetNotifyCallback(func(*async.AsyncContext, any) { done <- struct{}{} }, nil)
	if st := e.InitializeSecurityContextAsync(ac, cred, 0, "", 0, nil); st != status.SEC_E_OK {
		b.Fatal(st)
	}
	<-done
	h := ac.ContextHandle()
	in := []secctx.Buffer{{Type: secctx.SECBUFFER_TOKEN, Data: benchToken}}
	b.ReportAllocs()
	for b.Loop() {
		if st := e.InitializeSecurityContextAsync(ac, 0, h, "", 0, in); st != status.SEC_E_OK {
			b.Fatal(st)
		}
		<-done
		if ac.Status() != status.SEC_I_CONTINUE_NEEDED {
			b.Fatal(ac.Status())
		}
	}
}

// BenchmarkLegGoroutine runs the same Step the naive way: one goroutine and
// one channel per call.
func BenchmarkLegGoroutine(b *testing.B) {
	pkg := fakemech.New(fakemech.WithScript(continueForever))
	cred, err := pkg.AcquireCredentials(mechs.CredentialRequest{Use: secctx.SECPKG_CRED_OUTBOUND})
	if err != nil {
		b.Fatal(err)
	}
	sc, err := cred.NewInitiator(mechs.InitiatorParams{})
	if err != nil {
		b.Fatal(err)
	}
	in := []secctx.Buffer{{Type: secctx.SECBUFFER_TOKEN, Data: benchToken}}
	b.ReportAllocs()
	for b.Loop() {
		ch := make(chan mechs.StepResult, 1)
		go func() {
			step := mechs.StepInput{Token: secctx.Token(in), Buffers: in}
			ch <- sc.Step(&step)
		}()
		r := <-ch
		statusSink = r.Status
	}
}

// BenchmarkDrain measures the event-loop path (queue, complete, Ready,
// Drain) per completed context while 1,000 or 100,000 other legs stay
// pending (parked on I/O that never returns until Close). The cost per
// completed context must not grow with the number pending. It also reports
// the engine's heap per pending leg (B/pending-leg): everything allocated
// to hold the parked legs — queue slots, async contexts, security-context
// entries, the fake mechanism's contexts and I/O requests — divided by
// their number.
func BenchmarkDrain(b *testing.B) {
	for _, pending := range []int{1_000, 100_000} {
		b.Run("pending="+strconv.Itoa(pending), func(b *testing.B) {
			benchDrain(b, pending)
		})
	}
}

func benchDrain(b *testing.B, pending int) {
	script := func(info fakemech.Info, _ int, _ []byte) fakemech.Leg {
		if info.Target == "park" {
			return fakemech.Leg{IO: &fakemech.IO{Block: true}}
		}
		return fakemech.Leg{Status: status.SEC_I_CONTINUE_NEEDED, Token: benchToken}
	}
	const batch = 256
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	e, pkg, cred := engineFixture(b, script,
		async.WithQueueDepth(pending+batch+16), async.WithIOConcurrency(1), async.WithIOTimeout(time.Hour))
	parked := make([]*async.AsyncContext, pending)
	for i := range parked {
		parked[i] = e.CreateAsyncContext()
		if st := e.InitializeSecurityContextAsync(parked[i], cred, 0, "park", 0, nil); st != status.SEC_E_OK {
			b.Fatal(st)
		}
	}
	for pkg.Steps.Load() < int64(pending) {
		time.Sleep(time.Millisecond)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	perLeg := float64(after.HeapAlloc-before.HeapAlloc) / float64(pending)

	// Contexts that complete, each on its own established security context.
	q := e.NewCompletionQueue()
	acs := make([]*async.AsyncContext, batch)
	hs := make([]secctx.CtxtHandle, batch)
	for i := range acs {
		acs[i] = e.CreateAsyncContext()
		acs[i].SetCompletionQueue(q)
		e.InitializeSecurityContextAsync(acs[i], cred, 0, "", 0, nil)
	}
	var got []*async.AsyncContext
	for n := 0; n < batch; {
		<-q.Ready()
		got = q.Drain(got[:0])
		n += len(got)
	}
	for i := range acs {
		hs[i] = acs[i].ContextHandle()
	}
	in := []secctx.Buffer{{Type: secctx.SECBUFFER_TOKEN, Data: benchToken}}

	// ns/op is the whole event-loop cycle per completed context (queue,
	// worker, completion, Ready, Drain); ns/drained-ctx is the Drain call
	// alone, timed once all of a batch has completed.
	var drainTime time.Duration
	b.ReportAllocs()
	b.ResetTimer()
	for done := 0; done < b.N; {
		k := min(batch, b.N-done)
		for i := range k {
			if st := e.InitializeSecurityContextAsync(acs[i], 0, hs[i], "", 0, in); st != status.SEC_E_OK {
				b.Fatal(st)
			}
		}
		for q.Len() < k {
			<-q.Ready()
		}
		t0 := time.Now()
		got = q.Drain(got[:0])
		drainTime += time.Since(t0)
		if len(got) != k {
			b.Fatalf("drained %d, want %d", len(got), k)
		}
		done += k
	}
	b.StopTimer()
	b.ReportMetric(float64(drainTime.Nanoseconds())/float64(b.N), "ns/drained-ctx")
	b.ReportMetric(perLeg, "B/pending-leg")
	for _, ac := range parked {
		if ac.Status() != status.SEC_I_ASYNC_CALL_PENDING {
			b.Fatalf("a parked leg completed: %v", ac.Status())
		}
	}
	e.Close()
	for _, ac := range parked[:1] {
		if ac.Status() != async.StatusClosed {
			b.Fatalf("parked leg after Close: %v", ac.Status())
		}
	}
}
