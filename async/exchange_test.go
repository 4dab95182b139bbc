package async_test

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/asyncsspi/asyncsspi/async"
	secctx "github.com/asyncsspi/asyncsspi/context"
	"github.com/asyncsspi/asyncsspi/internal/fakemech"
	"github.com/asyncsspi/asyncsspi/mechs"
	"github.com/asyncsspi/asyncsspi/status"
)

// ioLeg is a leg that asks for io and then completes with SEC_E_OK.
func ioLeg(io *fakemech.IO) fakemech.Leg {
	return fakemech.Leg{IO: io, Status: status.SEC_E_OK, Token: []byte("after-io")}
}

// queueAll queues one first leg per target and returns their async
// contexts.
func queueAll(t *testing.T, f *fixture, targets ...string) []*async.AsyncContext {
	t.Helper()
	acs := make([]*async.AsyncContext, len(targets))
	for i, target := range targets {
		acs[i] = f.e.CreateAsyncContext()
		if st := f.e.InitializeSecurityContextAsync(acs[i], f.cred, 0, target, 0, nil); st != status.SEC_E_OK {
			t.Fatalf("leg %d (%s) not queued: %v", i, target, st)
		}
	}
	return acs
}

func repeat(s string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = s
	}
	return out
}

func TestLegsShareOneExchange(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		io := &fakemech.IO{Key: "tgs:HTTP/web", Delay: time.Second, Reply: []byte("the reply")}
		f := newFixture(t, byTarget(map[string]fakemech.Leg{"kdc": ioLeg(io)}))
		defer f.e.Close()
		const n = 1000
		start := time.Now()
		acs := queueAll(t, f, repeat("kdc", n)...)
		for i, ac := range acs {
			// fakemech checks that the reply it gets is the scripted one.
			if st := ac.Wait(context.Background()); st != status.SEC_E_OK || string(ac.Token()) != "after-io" {
				t.Fatalf("leg %d: %v %v", i, st, ac.Err())
			}
		}
		if got := io.Performs.Load(); got != 1 {
			t.Fatalf("%d legs with one key: %d Perform calls, want 1", n, got)
		}
		if time.Since(start) != time.Second {
			t.Fatalf("took %v, want the one exchange's second", time.Since(start))
		}
	})
}

func TestExchangeEndsWhenItsLastWaiterLeaves(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		io := &fakemech.IO{Key: "k", Block: true}
		f := newFixture(t, byTarget(map[string]fakemech.Leg{"kdc": ioLeg(io)}), async.WithIOTimeout(time.Hour))
		defer f.e.Close()
		acs := queueAll(t, f, repeat("kdc", 10)...)
		synctest.Wait()
		if io.Performs.Load() != 1 || io.Returns.Load() != 0 {
			t.Fatalf("Performs %d, Returns %d", io.Performs.Load(), io.Returns.Load())
		}
		start := time.Now()
		for i, ac := range acs {
			ac.Cancel()
			if st := ac.Wait(context.Background()); st != async.StatusCancelled || !errors.Is(ac.Err(), context.Canceled) {
				t.Fatalf("leg %d: %v %v", i, st, ac.Err())
			}
			synctest.Wait()
			if i < len(acs)-1 && io.Returns.Load() != 0 {
				t.Fatalf("the exchange ended with %d waiters left", len(acs)-1-i)
			}
		}
		if time.Since(start) != 0 {
			t.Fatal("cancelled legs waited")
		}
		if io.Returns.Load() != 1 || io.Cancelled.Load() != 1 {
			t.Fatalf("after the last waiter left: Returns %d, Cancelled %d", io.Returns.Load(), io.Cancelled.Load())
		}
		// The I/O goroutine that performed it is parked for reuse, not
		// stuck in Perform; Close ends it.
		if s := f.e.Stats(); s != (async.Stats{IOGoroutines: 1}) {
			t.Fatalf("after the last waiter left: %+v", s)
		}
	})
}

func TestWaitersLeavingDoNotDisturbTheOthers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		io := &fakemech.IO{Key: "k", Delay: 10 * time.Second, Reply: []byte("r")}
		// Leg 0 of each context continues at once, leg 1 waits on io.
		f := newFixture(t, func(_ fakemech.Info, leg int, _ []byte) fakemech.Leg {
			if leg == 0 {
				return fakemech.Leg{Status: status.SEC_I_CONTINUE_NEEDED}
			}
			return ioLeg(io)
		})
		defer f.e.Close()
		acs := queueAll(t, f, repeat("", 10)...)
		hs := make([]secctx.CtxtHandle, len(acs))
		for i, ac := range acs {
			ac.Wait(context.Background())
			hs[i] = ac.ContextHandle()
			if st := f.e.InitializeSecurityContextAsync(ac, 0, hs[i], "", 0, nil); st != status.SEC_E_OK {
				t.Fatal(st)
			}
		}
		synctest.Wait()
		start := time.Now()
		for _, ac := range acs[:4] {
			ac.Cancel()
		}
		f.e.DeleteSecurityContext(hs[4])
		for i, ac := range acs[:5] {
			want := async.StatusCancelled
			if i == 4 {
				want = async.StatusContextDeleted
			}
			if st := ac.Wait(context.Background()); st != want || time.Since(start) != 0 {
				t.Fatalf("leaving leg %d: %v after %v", i, st, time.Since(start))
			}
		}
		for i, ac := range acs[5:] {
			if st := ac.Wait(context.Background()); st != status.SEC_E_OK || time.Since(start) != 10*time.Second {
				t.Fatalf("staying leg %d: %v %v after %v", i, st, ac.Err(), time.Since(start))
			}
		}
		if io.Performs.Load() != 1 || io.Cancelled.Load() != 0 {
			t.Fatalf("Performs %d, Cancelled %d", io.Performs.Load(), io.Cancelled.Load())
		}
	})
}

func TestWhatDoesNotShare(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		reply := []byte("r")
		a := &fakemech.IO{Key: "a", Delay: time.Second, Reply: reply}
		b := &fakemech.IO{Key: "b", Delay: time.Second, Reply: reply}
		otherPerformer := &fakemech.IO{Key: "a", Delay: time.Second, Reply: reply}
		otherKind := &fakemech.IO{Key: "a", Kind: mechs.IOReplayCache, Delay: time.Second, Reply: reply}
		noKey := &fakemech.IO{Delay: time.Second, Reply: reply}
		uncomparable := &fakemech.IO{Key: "a", Uncomparable: true, Delay: time.Second, Reply: reply}
		f := newFixture(t, byTarget(map[string]fakemech.Leg{
			"a": ioLeg(a), "b": ioLeg(b), "other": ioLeg(otherPerformer), "kind": ioLeg(otherKind),
			"nokey": ioLeg(noKey), "uncomparable": ioLeg(uncomparable),
		}))
		defer f.e.Close()
		var targets []string
		for _, s := range []string{"a", "b", "other", "kind", "nokey", "uncomparable"} {
			targets = append(targets, repeat(s, 3)...)
		}
		for i, ac := range queueAll(t, f, targets...) {
			if st := ac.Wait(context.Background()); st != status.SEC_E_OK {
				t.Fatalf("leg %d (%s): %v %v", i, targets[i], st, ac.Err())
			}
		}
		for _, c := range []struct {
			name string
			io   *fakemech.IO
			want int32
		}{{"a", a, 1}, {"b", b, 1}, {"same key, other performer", otherPerformer, 1}, {"same key, other kind", otherKind, 1},
			{"empty key", noKey, 3}, {"uncomparable performer", uncomparable, 3}} {
			if got := c.io.Performs.Load(); got != c.want {
				t.Errorf("%s: %d Perform calls for 3 legs, want %d", c.name, got, c.want)
			}
		}
	})
}

func TestRequestDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		io := &fakemech.IO{Key: "k", Block: true}
		short, long := ioLeg(io), ioLeg(io)
		short.IOTimeout, long.IOTimeout = 2*time.Second, time.Hour
		f := newFixture(t, byTarget(map[string]fakemech.Leg{"short": short, "long": long}),
			async.WithIOTimeout(5*time.Second))
		defer f.e.Close()
		start := time.Now()
		for _, c := range []struct {
			target string
			after  time.Duration
		}{{"short", 2 * time.Second}, {"long", 5 * time.Second}} {
			acs := queueAll(t, f, c.target)
			if st := acs[0].Wait(context.Background()); st != status.SEC_E_NO_AUTHENTICATING_AUTHORITY ||
				!errors.Is(acs[0].Err(), context.DeadlineExceeded) || time.Since(start) != c.after {
				t.Fatalf("%s: %v %v after %v", c.target, st, acs[0].Err(), time.Since(start))
			}
			start = time.Now()
			r, err := f.e.InitializeSecurityContext(context.Background(), f.cred, 0, c.target, 0, nil)
			if r.Status != status.SEC_E_NO_AUTHENTICATING_AUTHORITY || !errors.Is(err, context.DeadlineExceeded) || time.Since(start) != c.after {
				t.Fatalf("sync %s: %v %v after %v", c.target, r.Status, err, time.Since(start))
			}
			start = time.Now()
		}
	})
}

// TestJoinOnlyWithinDeadline: a leg joins an exchange in flight only if the
// exchange ends no later than the leg's own deadline.
func TestJoinOnlyWithinDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// One performer and key, three deadlines.
		io := &fakemech.IO{Key: "k", Delay: 3 * time.Second, Reply: []byte("r")}
		leg := func(timeout time.Duration) fakemech.Leg {
			l := ioLeg(io)
			l.IOTimeout = timeout
			return l
		}
		f := newFixture(t, byTarget(map[string]fakemech.Leg{
			"first": leg(10 * time.Second), "later": leg(20 * time.Second), "sooner": leg(2 * time.Second),
		}), async.WithIOTimeout(time.Hour))
		defer f.e.Close()
		a := queueAll(t, f, "first")[0]
		synctest.Wait()
		b := queueAll(t, f, "later")[0]  // the exchange ends before b's deadline: b joins
		c := queueAll(t, f, "sooner")[0] // it would end after c's: c gets its own
		start := time.Now()
		for _, ac := range []*async.AsyncContext{a, b} {
			if st := ac.Wait(context.Background()); st != status.SEC_E_OK {
				t.Fatal(st, ac.Err())
			}
		}
		if st := c.Wait(context.Background()); st != status.SEC_E_NO_AUTHENTICATING_AUTHORITY || !errors.Is(c.Err(), context.DeadlineExceeded) {
			t.Fatalf("leg with the sooner deadline: %v %v after %v", st, c.Err(), time.Since(start))
		}
		if got := io.Performs.Load(); got != 2 {
			t.Fatalf("%d Perform calls, want 2 (a and b share, c alone)", got)
		}
	})
}

func TestIOGoroutinesStartOnDemand(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		io := &fakemech.IO{Block: true}
		f := newFixture(t, byTarget(map[string]fakemech.Leg{"kdc": ioLeg(io)}),
			async.WithWorkers(1), async.WithIOConcurrency(8), async.WithIOTimeout(time.Hour))
		defer f.e.Close()
		if s := f.e.Stats(); s != (async.Stats{}) {
			t.Fatalf("a new engine: %+v", s)
		}
		acs := queueAll(t, f, repeat("kdc", 3)...)
		synctest.Wait()
		if s := f.e.Stats(); s != (async.Stats{IOLegs: 3, Exchanges: 3, IOGoroutines: 3}) {
			t.Fatalf("3 exchanges in flight: %+v", s)
		}
		for _, ac := range acs {
			ac.Cancel()
			ac.Wait(context.Background())
		}
		synctest.Wait()
		if s := f.e.Stats(); s != (async.Stats{IOGoroutines: 3}) {
			t.Fatalf("after they ended (the goroutines park): %+v", s)
		}
		acs = queueAll(t, f, repeat("kdc", 20)...)
		synctest.Wait()
		if s := f.e.Stats(); s != (async.Stats{IOLegs: 20, Exchanges: 20, IOGoroutines: 8}) || io.Performs.Load() != 3+8 {
			t.Fatalf("20 exchanges, a concurrency of 8: %+v, %d Performs", s, io.Performs.Load())
		}
		// Last first: the 12 still queued leave before a goroutine is free
		// to take one of them.
		for i := len(acs) - 1; i >= 0; i-- {
			acs[i].Cancel()
		}
		for _, ac := range acs {
			if st := ac.Wait(context.Background()); st != async.StatusCancelled {
				t.Fatal(st)
			}
		}
		synctest.Wait()
		// The 12 that never got a goroutine were never performed.
		if io.Performs.Load() != 3+8 || io.Returns.Load() != 3+8 {
			t.Fatalf("Performs %d, Returns %d", io.Performs.Load(), io.Returns.Load())
		}
		if s := f.e.Stats(); s != (async.Stats{IOGoroutines: 8}) {
			t.Fatalf("at rest: %+v", s)
		}
	})
}

func TestCloseEndsSharedExchange(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		io := &fakemech.IO{Key: "k", Block: true}
		queued := &fakemech.IO{Block: true}
		f := newFixture(t, byTarget(map[string]fakemech.Leg{"kdc": ioLeg(io), "queued": ioLeg(queued)}),
			async.WithIOConcurrency(1), async.WithIOTimeout(time.Hour))
		acs := queueAll(t, f, repeat("kdc", 5)...)
		synctest.Wait()
		acs = append(acs, queueAll(t, f, "queued")...) // waits for the one I/O goroutine
		synctest.Wait()
		f.e.Close()
		for i, ac := range acs {
			if ac.Status() != async.StatusClosed {
				t.Fatalf("leg %d after Close: %v", i, ac.Status())
			}
		}
		if io.Performs.Load() != 1 || io.Cancelled.Load() != 1 || queued.Performs.Load() != 0 {
			t.Fatalf("shared: Performs %d Cancelled %d; queued: Performs %d", io.Performs.Load(), io.Cancelled.Load(), queued.Performs.Load())
		}
	})
}

// TestCancelWhileClosing: a leg taken off the I/O side by Cancel after the
// CPU pool has closed (its exchange's performer slow to honour the end of
// its context) is completed, as closed like every leg Close ends before it
// runs again, on a goroutine the engine owns and Close waits for, never
// inline in Cancel.
func TestCancelWhileClosing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		io := &fakemech.IO{Stubborn: true, Delay: 10 * time.Second, Reply: []byte("r")}
		f := newFixture(t, byTarget(map[string]fakemech.Leg{"kdc": ioLeg(io)}))
		ac := queueAll(t, f, "kdc")[0]
		got := make(chan status.Code) // unbuffered: a callback inline in Cancel would deadlock
		ac.SetNotifyCallback(func(ac *async.AsyncContext, _ any) { got <- ac.Status() }, nil)
		synctest.Wait()
		closed := make(chan struct{})
		go func() { f.e.Close(); close(closed) }()
		synctest.Wait() // Close waits for the stubborn Perform; the CPU pool has closed
		start := time.Now()
		ac.Cancel()
		if st := <-got; st != async.StatusClosed || time.Since(start) != 0 {
			t.Fatalf("leg cancelled during Close: %v after %v", st, time.Since(start))
		}
		<-closed
		if io.Returns.Load() != 1 {
			t.Fatal("Close returned before the performer did")
		}
	})
}
