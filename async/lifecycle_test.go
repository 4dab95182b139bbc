package async_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/asyncsspi/asyncsspi/async"
	secctx "github.com/asyncsspi/asyncsspi/context"
	"github.com/asyncsspi/asyncsspi/internal/fakemech"
	"github.com/asyncsspi/asyncsspi/status"
)

// byTarget scripts every leg of a context by its target name; targets not
// in the map complete at once with SEC_E_OK and the token "ok".
func byTarget(m map[string]fakemech.Leg) fakemech.Script {
	return func(info fakemech.Info, _ int, _ []byte) fakemech.Leg {
		if l, ok := m[info.Target]; ok {
			return l
		}
		return fakemech.Leg{Status: status.SEC_E_OK, Token: []byte("ok")}
	}
}

var (
	slowCPU   = fakemech.Leg{Delay: time.Hour, Status: status.SEC_E_OK, Token: []byte("slow")}
	blockedIO = fakemech.Leg{IO: &fakemech.IO{Block: true}, Status: status.SEC_E_OK}
	slowIO    = fakemech.Leg{IO: &fakemech.IO{Delay: 20 * time.Second, Reply: []byte("kdc")}, Status: status.SEC_I_CONTINUE_NEEDED, Token: []byte("after-io")}
)

// counting registers a callback that counts its calls.
func counting(ac *async.AsyncContext) *atomic.Int32 {
	var n atomic.Int32
	ac.SetNotifyCallback(func(got *async.AsyncContext, data any) {
		if got != ac || data != "data" {
			panic("callback got the wrong context or data")
		}
		n.Add(1)
	}, "data")
	return &n
}

func TestIODoesNotHoldAWorker(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t, byTarget(map[string]fakemech.Leg{"io": slowIO}), async.WithWorkers(1))
		defer f.e.Close()
		a, b := f.e.CreateAsyncContext(), f.e.CreateAsyncContext()
		calls := counting(a)
		f.e.InitializeSecurityContextAsync(a, f.cred, 0, "io", 0, nil)
		synctest.Wait() // a's step ran and its I/O waits
		start := time.Now()
		f.e.InitializeSecurityContextAsync(b, f.cred, 0, "fast", 0, nil)
		if st := b.Wait(context.Background()); st != status.SEC_E_OK || time.Since(start) != 0 {
			t.Fatalf("fast leg behind I/O: %v after %v", st, time.Since(start))
		}
		if a.Status() != status.SEC_I_ASYNC_CALL_PENDING {
			t.Fatalf("leg waiting on I/O reads %v", a.Status())
		}
		if st := a.Wait(context.Background()); st != status.SEC_I_CONTINUE_NEEDED || string(a.Token()) != "after-io" {
			t.Fatalf("leg after I/O: %v %q %v", st, a.Token(), a.Err())
		}
		if time.Since(start) != 20*time.Second {
			t.Fatalf("I/O took %v", time.Since(start))
		}
		synctest.Wait()
		if calls.Load() != 1 {
			t.Fatalf("callback called %d times", calls.Load())
		}
	})
}

func TestIOTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t, byTarget(map[string]fakemech.Leg{"io": blockedIO}), async.WithIOTimeout(5*time.Second))
		defer f.e.Close()
		ac := f.e.CreateAsyncContext()
		start := time.Now()
		f.e.InitializeSecurityContextAsync(ac, f.cred, 0, "io", 0, nil)
		st := ac.Wait(context.Background())
		if st != status.SEC_E_NO_AUTHENTICATING_AUTHORITY || time.Since(start) != 5*time.Second {
			t.Fatalf("%v after %v", st, time.Since(start))
		}
		if !errors.Is(ac.Err(), context.DeadlineExceeded) {
			t.Fatalf("cause %v", ac.Err())
		}
		// The synchronous twin: the same timeout, inline.
		start = time.Now()
		r, err := f.e.InitializeSecurityContext(context.Background(), f.cred, 0, "io", 0, nil)
		if r.Status != status.SEC_E_NO_AUTHENTICATING_AUTHORITY || time.Since(start) != 5*time.Second || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("sync: %v %v after %v", r.Status, err, time.Since(start))
		}
	})
}

func TestWaitWithDeadlineAndBusy(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t, byTarget(map[string]fakemech.Leg{"io": slowIO, "slow": slowCPU}))
		defer f.e.Close()
		ac := f.e.CreateAsyncContext()
		f.e.InitializeSecurityContextAsync(ac, f.cred, 0, "io", 0, nil)
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if st := ac.Wait(ctx); st != status.SEC_I_ASYNC_CALL_PENDING {
			t.Fatalf("Wait past its deadline = %v", st)
		}
		if err := ac.Reinit(); status.CodeOf(err) != async.StatusBusy {
			t.Fatalf("Reinit while pending: %v", err)
		}
		if st := f.e.InitializeSecurityContextAsync(ac, f.cred, 0, "io", 0, nil); st != async.StatusBusy {
			t.Fatalf("second call on a pending async context: %v", st)
		}
		if ac.Wait(context.Background()) != status.SEC_I_CONTINUE_NEEDED {
			t.Fatal(ac.Status(), ac.Err())
		}
		h := ac.ContextHandle()
		// A leg pending on h refuses a second leg and per-message calls.
		f.e.InitializeSecurityContextAsync(ac, 0, h, "io", 0, nil)
		other := f.e.CreateAsyncContext()
		if st := f.e.InitializeSecurityContextAsync(other, 0, h, "io", 0, nil); st != async.StatusBusy {
			t.Fatalf("second leg on a busy handle: %v", st)
		}
		if _, err := f.e.InitializeSecurityContext(context.Background(), 0, h, "io", 0, nil); status.CodeOf(err) != async.StatusBusy {
			t.Fatalf("sync leg on a busy handle: %v", err)
		}
		if st := f.e.MakeSignature(h, 0, nil, 0); st != async.StatusBusy {
			t.Fatalf("per-message call during a leg: %v", st)
		}
		if _, st := f.e.QueryContextAttributes(h, secctx.SECPKG_ATTR_SIZES); st != status.SEC_E_OK {
			t.Fatalf("query during a leg: %v", st)
		}
		if other.Status() != async.StatusIdle {
			t.Fatalf("refused async context reads %v", other.Status())
		}
		ac.Wait(context.Background())
		if st := f.e.InitializeSecurityContextAsync(other, 0, h, "io", 0, nil); st != status.SEC_E_OK {
			t.Fatalf("leg after the previous completed: %v", st)
		}
		other.Wait(context.Background())
		// A refused call leaves the previous result readable.
		f.e.InitializeSecurityContextAsync(ac, 0, h, "io", 0, nil)
		if st := f.e.InitializeSecurityContextAsync(other, 0, h, "io", 0, nil); st != async.StatusBusy {
			t.Fatalf("busy handle: %v", st)
		}
		if other.Status() != status.SEC_I_CONTINUE_NEEDED || string(other.Token()) != "after-io" || other.ContextHandle() != h {
			t.Fatalf("refused call changed the previous result: %v %q", other.Status(), other.Token())
		}
		select {
		case <-other.Done():
		default:
			t.Fatal("Done of a context with nothing pending is not closed")
		}
		ac.Wait(context.Background())
	})
}

func TestCancel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t, byTarget(map[string]fakemech.Leg{"slow": slowCPU, "io": blockedIO}), async.WithWorkers(1))
		defer f.e.Close()
		busy, queued, inIO := f.e.CreateAsyncContext(), f.e.CreateAsyncContext(), f.e.CreateAsyncContext()
		nq, nio := counting(queued), counting(inIO)
		f.e.InitializeSecurityContextAsync(inIO, f.cred, 0, "io", 0, nil)
		synctest.Wait() // inIO waits on I/O, off the worker
		f.e.InitializeSecurityContextAsync(busy, f.cred, 0, "slow", 0, nil)
		synctest.Wait() // the only worker sleeps in busy's step
		steps := f.pkg.Steps.Load()
		f.e.InitializeSecurityContextAsync(queued, f.cred, 0, "fast", 0, nil)
		queued.Cancel()
		inIO.Cancel()
		if st := inIO.Wait(context.Background()); st != async.StatusCancelled || !errors.Is(inIO.Err(), context.Canceled) {
			t.Fatalf("leg cancelled during I/O: %v %v", st, inIO.Err())
		}
		if st := queued.Wait(context.Background()); st != async.StatusCancelled || !errors.Is(queued.Err(), async.ErrCancelled) {
			t.Fatalf("queued leg: %v %v", st, queued.Err())
		}
		if busy.Wait(context.Background()) != status.SEC_E_OK {
			t.Fatal("running leg")
		}
		if got := f.pkg.Steps.Load() - steps; got != 0 {
			t.Fatalf("cancelled queued leg ran %d steps", got)
		}
		busy.Cancel() // nothing pending: no effect
		if busy.Status() != status.SEC_E_OK {
			t.Fatal("Cancel without a pending leg changed the status")
		}
		synctest.Wait()
		if nq.Load() != 1 || nio.Load() != 1 {
			t.Fatalf("callbacks: %d %d", nq.Load(), nio.Load())
		}
		// First legs that were cancelled leave no handle and no open context.
		if !queued.ContextHandle().IsZero() || !inIO.ContextHandle().IsZero() {
			t.Fatal("cancelled first leg issued a handle")
		}
		// Synchronous twin: the caller's context ends the leg.
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		r, err := f.e.InitializeSecurityContext(ctx, f.cred, 0, "io", 0, nil)
		if r.Status != async.StatusCancelled || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("sync leg past its deadline: %v %v", r.Status, err)
		}
	})
}

func TestDeleteWhilePending(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// Leg 0 of every context is fast; later legs wait on I/O forever.
		script := func(_ fakemech.Info, leg int, _ []byte) fakemech.Leg {
			if leg == 0 {
				return fakemech.Leg{Status: status.SEC_I_CONTINUE_NEEDED}
			}
			return blockedIO
		}
		f := newFixture(t, script)
		defer f.e.Close()
		ac := f.e.CreateAsyncContext()
		f.e.InitializeSecurityContextAsync(ac, f.cred, 0, "", 0, nil)
		ac.Wait(context.Background())
		h := ac.ContextHandle()
		f.e.InitializeSecurityContextAsync(ac, 0, h, "", 0, nil)
		synctest.Wait()
		if f.pkg.Closed.Load() != 0 {
			t.Fatal("closed early")
		}
		if st := f.e.DeleteSecurityContext(h); st != status.SEC_E_OK {
			t.Fatal(st)
		}
		if st := ac.Wait(context.Background()); st != async.StatusContextDeleted || !errors.Is(ac.Err(), async.ErrContextDeleted) {
			t.Fatalf("leg on a deleted context: %v %v", st, ac.Err())
		}
		if f.pkg.Closed.Load() != 1 {
			t.Fatalf("mechanism contexts closed: %d", f.pkg.Closed.Load())
		}
		// The synchronous twin.
		r, _ := f.e.InitializeSecurityContext(context.Background(), f.cred, 0, "", 0, nil)
		done := make(chan async.Result)
		go func() {
			r2, _ := f.e.InitializeSecurityContext(context.Background(), 0, r.Context, "", 0, nil)
			done <- r2
		}()
		synctest.Wait()
		f.e.DeleteSecurityContext(r.Context)
		if r2 := <-done; r2.Status != async.StatusContextDeleted {
			t.Fatalf("sync leg on a deleted context: %v", r2.Status)
		}
		if f.pkg.Closed.Load() != 2 {
			t.Fatalf("mechanism contexts closed: %d", f.pkg.Closed.Load())
		}
	})
}

func TestPanicsBecomeInternalError(t *testing.T) {
	f := newFixture(t, byTarget(map[string]fakemech.Leg{
		"step": {Panic: "boom"},
		"io":   {IO: &fakemech.IO{Panic: "io boom"}},
	}), async.WithWorkers(1))
	defer f.e.Close()
	ac := f.e.CreateAsyncContext()
	for _, target := range []string{"step", "io", "fine"} {
		f.e.InitializeSecurityContextAsync(ac, f.cred, 0, target, 0, nil)
		st := wait(t, ac)
		want := status.SEC_E_INTERNAL_ERROR
		if target == "fine" {
			want = status.SEC_E_OK // the single worker lived on
		}
		if st != want {
			t.Fatalf("%s: %v %v", target, st, ac.Err())
		}
		if want == status.SEC_E_INTERNAL_ERROR && !errors.Is(ac.Err(), async.ErrMechanismPanic) {
			t.Fatalf("%s: cause %v", target, ac.Err())
		}
		r, err := f.e.InitializeSecurityContext(context.Background(), f.cred, 0, target, 0, nil)
		if r.Status != want || (want == status.SEC_E_OK) != (err == nil) {
			t.Fatalf("sync %s: %v %v", target, r.Status, err)
		}
	}
}

func TestQueueFullAndClosed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// One worker, busy for an hour; the depth of 2 is the running
		// leg and one queued. A leg waiting on I/O holds no CPU slot.
		f := newFixture(t, byTarget(map[string]fakemech.Leg{"io": blockedIO, "slow": slowCPU}),
			async.WithWorkers(1), async.WithQueueDepth(2), async.WithIOTimeout(2*time.Hour))
		inIO, running, queued, refused := f.e.CreateAsyncContext(), f.e.CreateAsyncContext(), f.e.CreateAsyncContext(), f.e.CreateAsyncContext()
		acs := []*async.AsyncContext{inIO, running, queued, refused}
		calls := []*atomic.Int32{counting(inIO), counting(running), counting(queued), counting(refused)}
		for i, c := range []struct {
			target string
			want   status.Code
		}{{"io", status.SEC_E_OK}, {"slow", status.SEC_E_OK}, {"fast", status.SEC_E_OK}, {"fast", async.StatusQueueFull}} {
			if st := f.e.InitializeSecurityContextAsync(acs[i], f.cred, 0, c.target, 0, nil); st != c.want {
				t.Fatalf("leg %d (%s): %v, want %v", i, c.target, st, c.want)
			}
			synctest.Wait()
		}
		f.e.Close() // waits the hour for the running step
		for i, want := range []status.Code{async.StatusClosed, status.SEC_E_OK, async.StatusClosed} {
			if acs[i].Status() != want || calls[i].Load() != 1 {
				t.Fatalf("leg %d after Close: %v, %d callbacks", i, acs[i].Status(), calls[i].Load())
			}
		}
		if calls[3].Load() != 0 || refused.Status() != async.StatusIdle {
			t.Fatal("a refused leg completed")
		}
		if st := f.e.InitializeSecurityContextAsync(refused, f.cred, 0, "", 0, nil); st != async.StatusClosed {
			t.Fatalf("queue after Close: %v", st)
		}
		if _, _, err := f.e.AcquireCredentialsHandle("", fakemech.Name, secctx.SECPKG_CRED_BOTH, nil); status.CodeOf(err) != async.StatusClosed {
			t.Fatalf("sync call after Close: %v", err)
		}
		if f.pkg.CredsClosed.Load() != 1 {
			t.Fatal("Close left the credential open")
		}
		f.e.Close()
	})
}

func TestCloseEndsEveryKindOfPendingLeg(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t, byTarget(map[string]fakemech.Leg{"slow": {Delay: time.Second, Status: status.SEC_I_CONTINUE_NEEDED}, "io": blockedIO}),
			async.WithWorkers(1), async.WithIOConcurrency(1))
		running, queued, inIO, ioQueued := f.e.CreateAsyncContext(), f.e.CreateAsyncContext(), f.e.CreateAsyncContext(), f.e.CreateAsyncContext()
		q := f.e.NewCompletionQueue()
		for _, ac := range []*async.AsyncContext{running, queued, inIO, ioQueued} {
			ac.SetCompletionQueue(q)
		}
		f.e.InitializeSecurityContextAsync(inIO, f.cred, 0, "io", 0, nil)
		f.e.InitializeSecurityContextAsync(ioQueued, f.cred, 0, "io", 0, nil)
		synctest.Wait()
		f.e.InitializeSecurityContextAsync(running, f.cred, 0, "slow", 0, nil)
		synctest.Wait()
		f.e.InitializeSecurityContextAsync(queued, f.cred, 0, "fast", 0, nil)
		syncDone := make(chan async.Result)
		go func() {
			r, _ := f.e.InitializeSecurityContext(context.Background(), f.cred, 0, "io", 0, nil)
			syncDone <- r
		}()
		synctest.Wait()
		f.e.Close()
		want := map[*async.AsyncContext]status.Code{
			running: status.SEC_I_CONTINUE_NEEDED, queued: async.StatusClosed,
			inIO: async.StatusClosed, ioQueued: async.StatusClosed,
		}
		got := q.Drain(nil)
		if len(got) != 4 {
			t.Fatalf("%d completions, want 4", len(got))
		}
		for _, ac := range got {
			if ac.Status() != want[ac] {
				t.Errorf("status %v, want %v", ac.Status(), want[ac])
			}
		}
		if r := <-syncDone; r.Status != async.StatusClosed {
			t.Fatalf("sync leg during Close: %v", r.Status)
		}
		// Every mechanism context is closed: the one that got a handle by
		// Close, the others when their first legs failed.
		if f.pkg.Closed.Load() != f.pkg.Contexts() || f.pkg.Contexts() != 4 {
			t.Fatalf("mechanism contexts closed: %d", f.pkg.Closed.Load())
		}
	})
}

func TestCompletionQueueDrain(t *testing.T) {
	f := newFixture(t, nil)
	defer f.e.Close()
	q := f.e.NewCompletionQueue()
	const n = 100
	acs := make(map[*async.AsyncContext]bool)
	for range n {
		ac := f.e.CreateAsyncContext()
		ac.SetCompletionQueue(q)
		acs[ac] = true
		if st := f.e.InitializeSecurityContextAsync(ac, f.cred, 0, "", 0, nil); st != status.SEC_E_OK {
			t.Fatal(st)
		}
	}
	var batch []*async.AsyncContext
	seen := 0
	for seen < n {
		<-q.Ready()
		batch = q.Drain(batch[:0])
		for _, ac := range batch {
			if !acs[ac] || ac.Status() != status.SEC_E_OK {
				t.Fatalf("drained %v", ac.Status())
			}
			delete(acs, ac)
			seen++
		}
	}
	if q.Len() != 0 {
		t.Fatal("left over")
	}
}

func TestCallbackMayReuseAndFree(t *testing.T) {
	f := newFixture(t, twoLegs)
	defer f.e.Close()
	ac := f.e.CreateAsyncContext()
	done := make(chan status.Code, 1)
	ac.SetNotifyCallback(func(ac *async.AsyncContext, _ any) {
		st := ac.Status()
		if st == status.SEC_I_CONTINUE_NEEDED {
			// Next leg, queued from inside the callback.
			if q := f.e.InitializeSecurityContextAsync(ac, 0, ac.ContextHandle(), "", 0, nil); q != status.SEC_E_OK {
				done <- q
			}
			return
		}
		f.e.DeleteSecurityContext(ac.ContextHandle())
		f.e.FreeAsyncContext(ac)
		done <- st
	}, nil)
	if !ac.RequiresNotify() {
		t.Fatal("RequiresNotify false with a callback")
	}
	f.e.InitializeSecurityContextAsync(ac, f.cred, 0, "", 0, nil)
	if st := <-done; st != status.SEC_E_OK {
		t.Fatal(st)
	}
	if st := f.e.InitializeSecurityContextAsync(ac, f.cred, 0, "", 0, nil); st != async.StatusBadArgument {
		t.Fatalf("queue on a freed context: %v", st)
	}
	if err := ac.Reinit(); status.CodeOf(err) != async.StatusBadArgument {
		t.Fatalf("Reinit of a freed context: %v", err)
	}
	f.e.FreeAsyncContext(nil)
}

func TestStatusReadAllocatesNothing(t *testing.T) {
	f := newFixture(t, nil)
	defer f.e.Close()
	ac := f.e.CreateAsyncContext()
	if n := testing.AllocsPerRun(1000, func() { _ = ac.Status() }); n != 0 {
		t.Fatalf("%v allocations per Status", n)
	}
}
