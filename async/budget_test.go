package async_test

import (
	"bytes"
	"context"
	"errors"
	"runtime"
	"testing"
	"testing/synctest"
	"time"

	"github.com/asyncsspi/asyncsspi/async"
	secctx "github.com/asyncsspi/asyncsspi/context"
	"github.com/asyncsspi/asyncsspi/internal/fakemech"
	"github.com/asyncsspi/asyncsspi/status"
)

// TestLegsWaitingOnIOHoldNoCPUSlot is issue 11 item 5: legs stuck on a KDC
// that never answers, as many as the queue depth, must not make NTLM-like
// legs (CPU only) be refused.
func TestLegsWaitingOnIOHoldNoCPUSlot(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const depth = 16
		io := &fakemech.IO{Block: true} // a KDC that never answers
		f := newFixture(t, byTarget(map[string]fakemech.Leg{"kerberos": ioLeg(io)}),
			async.WithQueueDepth(depth), async.WithIOTimeout(time.Hour))
		defer f.e.Close()
		stuck := queueAll(t, f, repeat("kerberos", depth)...)
		synctest.Wait()
		if s := f.e.Stats(); s.IOLegs != depth || s.CPULegs != 0 {
			t.Fatalf("with %d legs waiting on I/O: %+v", depth, s)
		}
		// Before the budgets were split, each of these was refused with
		// StatusQueueFull.
		for i := range 100 {
			acs := queueAll(t, f, "ntlm")
			if st := acs[0].Wait(context.Background()); st != status.SEC_E_OK {
				t.Fatalf("NTLM-like leg %d: %v", i, st)
			}
		}
		for _, ac := range stuck {
			if ac.Status() != status.SEC_I_ASYNC_CALL_PENDING {
				t.Fatalf("a stuck leg completed: %v", ac.Status())
			}
		}
	})
}

func TestIOWaitLimit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		io := &fakemech.IO{Block: true}
		f := newFixture(t, byTarget(map[string]fakemech.Leg{"kdc": ioLeg(io)}),
			async.WithIOWaitLimit(2), async.WithIOTimeout(5*time.Second))
		defer f.e.Close()
		waiting := queueAll(t, f, "kdc", "kdc")
		synctest.Wait()
		start := time.Now()
		over := queueAll(t, f, "kdc")[0]
		st := over.Wait(context.Background())
		if st != async.StatusIOWaitFull || time.Since(start) != 0 {
			t.Fatalf("leg beyond the I/O wait limit: %v after %v", st, time.Since(start))
		}
		if !errors.Is(over.Err(), async.ErrIOWaitFull) || errors.Is(over.Err(), context.DeadlineExceeded) {
			t.Fatalf("leg beyond the I/O wait limit: cause %v", over.Err())
		}
		if io.Performs.Load() != 2 {
			t.Fatalf("%d Perform calls: the refused leg's I/O was performed", io.Performs.Load())
		}
		// A KDC that did not answer: the same code, told apart by errors.Is.
		for _, ac := range waiting {
			if st := ac.Wait(context.Background()); st != status.SEC_E_NO_AUTHENTICATING_AUTHORITY ||
				!errors.Is(ac.Err(), context.DeadlineExceeded) || errors.Is(ac.Err(), async.ErrIOWaitFull) {
				t.Fatalf("timed-out leg: %v %v", st, ac.Err())
			}
		}
		// Room again.
		ok := queueAll(t, f, "kdc")[0]
		synctest.Wait()
		if s := f.e.Stats(); s.IOLegs != 1 {
			t.Fatalf("after the waiters timed out: %+v", s)
		}
		ok.Cancel()
		ok.Wait(context.Background())
	})
}

// TestLegsBackFromIOAlwaysFindRoom: legs coming back from I/O are taken by
// the CPU side even when it is at its depth, and new legs are refused
// meanwhile.
func TestLegsBackFromIOAlwaysFindRoom(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const depth, back = 2, 8
		io := &fakemech.IO{Key: "k", Delay: 10 * time.Second, Reply: []byte("r")}
		f := newFixture(t, byTarget(map[string]fakemech.Leg{
			"kdc":  ioLeg(io),
			"slow": {Delay: 20 * time.Second, Status: status.SEC_E_OK},
		}), async.WithWorkers(1), async.WithQueueDepth(depth), async.WithIOWaitLimit(back))
		defer f.e.Close()
		var acs []*async.AsyncContext
		for range back {
			acs = append(acs, queueAll(t, f, "kdc")...)
			synctest.Wait()
		}
		acs = append(acs, queueAll(t, f, "slow")...) // runs on the only worker
		synctest.Wait()
		acs = append(acs, queueAll(t, f, "fast")...) // queued: the CPU side is at its depth
		refused := f.e.CreateAsyncContext()
		if st := f.e.InitializeSecurityContextAsync(refused, f.cred, 0, "fast", 0, nil); st != async.StatusQueueFull {
			t.Fatalf("leg beyond the depth: %v", st)
		}
		time.Sleep(10 * time.Second)
		synctest.Wait()
		if s := f.e.Stats(); s.CPULegs != depth+back || s.IOLegs != 0 {
			t.Fatalf("after the exchange replied: %+v, want %d legs on the CPU side", s, depth+back)
		}
		if st := f.e.InitializeSecurityContextAsync(refused, f.cred, 0, "fast", 0, nil); st != async.StatusQueueFull {
			t.Fatalf("leg beyond the depth: %v", st)
		}
		for i, ac := range acs {
			if st := ac.Wait(context.Background()); st != status.SEC_E_OK {
				t.Fatalf("leg %d: %v %v", i, st, ac.Err())
			}
		}
		if s := f.e.Stats(); s.CPULegs != 0 {
			t.Fatalf("at rest: %+v", s)
		}
	})
}

// TestCallbackMayQueueAtFullDepth is issue 11 item 6: a completed leg's
// slot is free before its notify callback runs.
func TestCallbackMayQueueAtFullDepth(t *testing.T) {
	f := newFixture(t, twoLegs, async.WithQueueDepth(1))
	defer f.e.Close()
	ac := f.e.CreateAsyncContext()
	done := make(chan status.Code, 2)
	ac.SetNotifyCallback(func(ac *async.AsyncContext, _ any) {
		if ac.Status() != status.SEC_I_CONTINUE_NEEDED {
			done <- ac.Status()
			return
		}
		if st := f.e.InitializeSecurityContextAsync(ac, 0, ac.ContextHandle(), "", 0, nil); st != status.SEC_E_OK {
			done <- st // StatusQueueFull when the slot was still held
		}
	}, nil)
	if st := f.e.InitializeSecurityContextAsync(ac, f.cred, 0, "", 0, nil); st != status.SEC_E_OK {
		t.Fatal(st)
	}
	if st := <-done; st != status.SEC_E_OK {
		t.Fatalf("second leg, queued from the first's callback at depth 1: %v", st)
	}
	f.e.DeleteSecurityContext(ac.ContextHandle())
}

// TestDefaultDepth: with the default options, an engine on a machine of
// two or more CPUs takes 100,000 legs in flight at once (the default was
// once 4,096).
func TestDefaultDepth(t *testing.T) {
	if testing.Short() {
		t.Skip("queues 100,000 legs")
	}
	synctest.Test(t, func(t *testing.T) {
		const n = 100_000
		f := newFixture(t, byTarget(map[string]fakemech.Leg{"slow": slowCPU}), async.WithWorkers(1))
		defer f.e.Close()
		queueAll(t, f, "slow")
		synctest.Wait() // the only worker is busy for an hour
		want := min(n, 65536*runtime.GOMAXPROCS(0))
		acs := make([]*async.AsyncContext, n)
		accepted := 0
		for i := range acs {
			acs[i] = f.e.CreateAsyncContext()
			if st := f.e.InitializeSecurityContextAsync(acs[i], f.cred, 0, "", 0, nil); st == status.SEC_E_OK {
				accepted++
			} else if st != async.StatusQueueFull {
				t.Fatal(st)
			}
		}
		if accepted < want-1 { // the slow leg holds one slot
			t.Fatalf("%d of %d legs accepted, want %d", accepted, n, want-1)
		}
	})
}

func TestValue(t *testing.T) {
	f := newFixture(t, twoLegs)
	defer f.e.Close()
	q := f.e.NewCompletionQueue()
	type conn struct{ id int }
	conns := []*conn{{1}, {2}, {3}}
	for _, c := range conns {
		ac := f.e.CreateAsyncContext()
		if ac.Value() != nil {
			t.Fatal("a fresh context has a value")
		}
		ac.SetValue(c)
		ac.SetCompletionQueue(q)
		if err := ac.Reinit(); err != nil {
			t.Fatal(err)
		}
		f.e.InitializeSecurityContextAsync(ac, f.cred, 0, "", 0, nil)
	}
	seen := map[int]bool{}
	var batch []*async.AsyncContext
	for len(seen) < len(conns) {
		<-q.Ready()
		batch = q.Drain(batch[:0])
		for _, ac := range batch {
			c, ok := ac.Value().(*conn)
			if !ok || seen[c.id] {
				t.Fatalf("drained a context whose value is %v", ac.Value())
			}
			seen[c.id] = true
			f.e.DeleteSecurityContext(ac.ContextHandle())
			ac.SetValue(nil)
			if ac.Value() != nil {
				t.Fatal("SetValue(nil) left a value")
			}
		}
	}
	ac := f.e.CreateAsyncContext()
	ac.SetValue(7)
	if n := testing.AllocsPerRun(100, func() { _ = ac.Value() }); n != 0 {
		t.Fatalf("Value allocates %v", n)
	}
}

// TestOversizedTokenRefused: an input token longer than the package's
// cbMaxToken is refused before the package sees it (issue 11 item 3).
func TestOversizedTokenRefused(t *testing.T) {
	f := newFixture(t, twoLegs)
	defer f.e.Close()
	max := int(f.pkg.Info().MaxToken)
	big := []secctx.Buffer{{Type: secctx.SECBUFFER_TOKEN, Data: make([]byte, max+1)}}
	fits := []secctx.Buffer{{Type: secctx.SECBUFFER_TOKEN, Data: bytes.Repeat([]byte{1}, max)}}
	ac := f.e.CreateAsyncContext()
	steps := f.pkg.Steps.Load()
	if st := f.e.AcceptSecurityContextAsync(ac, f.cred, 0, big, 0); st != status.SEC_E_INVALID_TOKEN {
		t.Fatalf("async, first leg: %v", st)
	}
	if r, err := f.e.AcceptSecurityContext(context.Background(), f.cred, 0, big, 0); r.Status != status.SEC_E_INVALID_TOKEN || !errors.Is(err, status.SEC_E_INVALID_TOKEN) {
		t.Fatalf("sync, first leg: %v %v", r.Status, err)
	}
	if f.pkg.Steps.Load() != steps || f.pkg.Contexts() != 0 || ac.Status() != async.StatusIdle {
		t.Fatal("an oversized token reached the package")
	}
	if st := f.e.AcceptSecurityContextAsync(ac, f.cred, 0, fits, 0); st != status.SEC_E_OK || wait(t, ac) != status.SEC_I_CONTINUE_NEEDED {
		t.Fatalf("a token of exactly cbMaxToken: %v %v", ac.Status(), ac.Err())
	}
	h := ac.ContextHandle()
	if st := f.e.AcceptSecurityContextAsync(ac, 0, h, big, 0); st != status.SEC_E_INVALID_TOKEN {
		t.Fatalf("async, later leg: %v", st)
	}
	if r, _ := f.e.AcceptSecurityContext(context.Background(), 0, h, big, 0); r.Status != status.SEC_E_INVALID_TOKEN {
		t.Fatalf("sync, later leg: %v", r.Status)
	}
	if r, err := f.e.AcceptSecurityContext(context.Background(), 0, h, fits, 0); r.Status != status.SEC_E_OK {
		t.Fatalf("later leg that fits: %v %v", r.Status, err)
	}
	f.e.DeleteSecurityContext(h)
}
