package async_test

import (
	"bytes"
	"errors"
	"hash/fnv"
	"math/rand/v2"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/asyncsspi/asyncsspi/async"
	secctx "github.com/asyncsspi/asyncsspi/context"
	"github.com/asyncsspi/asyncsspi/internal/fakemech"
	"github.com/asyncsspi/asyncsspi/status"
)

const (
	stressLegs     = 100_000
	stressContexts = 10_000
	stressLegsPer  = 10 // a handshake that never fails has this many legs
)

// stressLeg is the scripted outcome of leg n of the handshake whose target
// is target: deterministic, so the checker can recompute it. With block,
// its I/O (if any) waits until it is cancelled: the test sets it near the
// end so that legs are still waiting on I/O when the engine closes.
func stressLeg(target string, n int, block bool) fakemech.Leg {
	h := fnv.New64a()
	h.Write([]byte(target))
	h.Write([]byte{byte(n)})
	r := h.Sum64() % 1000
	tok := []byte(target + "/" + strconv.Itoa(n))
	var l fakemech.Leg
	switch {
	case r < 5: // 0.5%
		l.Panic = "scripted panic"
	case r < 35: // 3%
		l.Status = status.SEC_E_LOGON_DENIED
	case n == stressLegsPer-1:
		l.Status, l.Token = status.SEC_E_OK, tok
	default:
		l.Status, l.Token = status.SEC_I_CONTINUE_NEEDED, tok
	}
	l.Flags = uint64(n)
	if r%10 == 7 { // 10%: the leg needs I/O first
		l.IO = &fakemech.IO{Realm: "R", Reply: []byte(target), Block: block}
	}
	return l
}

// stressSlot is one async context and the handshake it drives. Only the
// driver goroutine touches it, except calls.
type stressSlot struct {
	ac        *async.AsyncContext
	calls     atomic.Int32 // callback calls
	issued    int32        // legs queued on ac
	gen       int          // handshake number
	leg       int          // the pending leg's number
	h         secctx.CtxtHandle
	cancelled bool // Cancel was called on the pending leg
	deleted   bool // its context was deleted while the leg was pending
	closing   bool // Close began while the leg was pending
}

func (s *stressSlot) target(i int) string {
	return "t" + strconv.Itoa(i) + "." + strconv.Itoa(s.gen)
}

// TestStress runs 100,000 legs over 10,000 security contexts on 2 workers
// with random failures, panics, I/O, cancellations and deletions, and closes
// the engine at the end while legs are pending. Every leg must complete
// exactly once with the status and outputs its script, or its fate
// (cancelled, deleted, closed), allows; no goroutine may outlive Close.
func TestStress(t *testing.T) {
	if testing.Short() {
		t.Skip("stress test skipped in -short mode")
	}
	start := time.Now()
	var hold atomic.Bool
	pkg := fakemech.New(fakemech.WithScript(func(info fakemech.Info, n int, _ []byte) fakemech.Leg {
		return stressLeg(info.Target, n, hold.Load())
	}))
	f := newFixtureFromPackage(t, pkg, async.WithWorkers(2), async.WithQueueDepth(stressContexts+16), async.WithIOConcurrency(4))
	e := f.e
	q := e.NewCompletionQueue()
	rng := rand.New(rand.NewPCG(1, 2))
	slots := make([]stressSlot, stressContexts)
	issued, completed := 0, 0
	var closed bool
	outcomes := make(map[status.Code]int)

	issue := func(i int) {
		s := &slots[i]
		s.cancelled, s.deleted, s.closing = false, false, false
		var st status.Code
		if s.h.IsZero() {
			s.gen++
			s.leg = 0
			st = e.InitializeSecurityContextAsync(s.ac, f.cred, 0, s.target(i), 0, nil)
		} else {
			in := []secctx.Buffer{{Type: secctx.SECBUFFER_TOKEN, Data: []byte("peer")}}
			st = e.InitializeSecurityContextAsync(s.ac, 0, s.h, s.target(i), 0, in)
		}
		if st != status.SEC_E_OK {
			t.Fatalf("slot %d: queuing leg %d: %v", i, s.leg, st)
		}
		issued++
		s.issued++
		if issued >= stressLegs-500 {
			hold.Store(true)
		}
		switch x := rng.IntN(100); {
		case x < 2:
			s.ac.Cancel()
			s.cancelled = true
		case x < 3 && !s.h.IsZero():
			if st := e.DeleteSecurityContext(s.h); st != status.SEC_E_OK {
				t.Fatalf("delete: %v", st)
			}
			s.deleted = true
		}
	}

	// finish ends slot i's handshake, deleting its context if it has one;
	// a context deleted earlier deletes again harmlessly.
	finish := func(s *stressSlot) {
		if !s.h.IsZero() {
			if st := e.DeleteSecurityContext(s.h); st != status.SEC_E_OK {
				t.Fatalf("delete at the end of a handshake: %v", st)
			}
			if st := e.DeleteSecurityContext(s.h); st != status.SEC_E_OK {
				t.Fatalf("second delete: %v", st)
			}
		}
		s.h = 0
	}

	check := func(i int) {
		s := &slots[i]
		st := s.ac.Status()
		completed++
		outcomes[st]++
		switch st {
		case status.SEC_I_ASYNC_CALL_PENDING:
			t.Fatalf("slot %d drained while pending", i)
		case async.StatusCancelled:
			if !s.cancelled || !errors.Is(s.ac.Err(), async.ErrCancelled) {
				t.Fatalf("slot %d: cancelled without Cancel: %v", i, s.ac.Err())
			}
			finish(s)
			return
		case async.StatusContextDeleted:
			if !s.deleted {
				t.Fatalf("slot %d: deleted status without a deletion", i)
			}
			s.h = 0
			return
		case async.StatusClosed:
			if !s.closing {
				t.Fatalf("slot %d: closed status before Close", i)
			}
			return
		}
		want := stressLeg(s.target(i), s.leg, false)
		if want.Panic != nil {
			if st != status.SEC_E_INTERNAL_ERROR || !errors.Is(s.ac.Err(), async.ErrMechanismPanic) {
				t.Fatalf("slot %d leg %d: panic gave %v %v", i, s.leg, st, s.ac.Err())
			}
			finish(s)
			return
		}
		if st != want.Status {
			t.Fatalf("slot %d leg %d: status %v, want %v (%v)", i, s.leg, st, want.Status, s.ac.Err())
		}
		if st.IsError() {
			var se *status.Error
			if !errors.As(s.ac.Err(), &se) || se.Code != st {
				t.Fatalf("slot %d: Err %v", i, s.ac.Err())
			}
			finish(s)
			return
		}
		if !bytes.Equal(s.ac.Token(), want.Token) || s.ac.Flags() != want.Flags || s.ac.Err() != nil {
			t.Fatalf("slot %d leg %d: token %q flags %d, want %q %d", i, s.leg, s.ac.Token(), s.ac.Flags(), want.Token, want.Flags)
		}
		if s.leg == 0 {
			if s.ac.ContextHandle().IsZero() {
				t.Fatalf("slot %d: first leg issued no handle", i)
			}
			s.h = s.ac.ContextHandle()
		} else if s.ac.ContextHandle() != s.h {
			t.Fatalf("slot %d: handle changed", i)
		}
		s.leg++
		if st == status.SEC_E_OK || s.deleted {
			finish(s)
		}
	}

	for i := range slots {
		s := &slots[i]
		s.ac = e.CreateAsyncContext()
		s.ac.SetCompletionQueue(q)
		s.ac.SetNotifyCallback(func(*async.AsyncContext, any) { s.calls.Add(1) }, nil)
		issue(i)
	}
	index := make(map[*async.AsyncContext]int, len(slots))
	for i := range slots {
		index[slots[i].ac] = i
	}
	var batch []*async.AsyncContext
	for !closed {
		<-q.Ready()
		batch = q.Drain(batch[:0])
		for _, ac := range batch {
			i := index[ac]
			check(i)
			if issued < stressLegs {
				issue(i)
			}
		}
		if issued == stressLegs {
			// Close with up to 10,000 legs pending.
			for i := range slots {
				slots[i].closing = true
			}
			e.Close()
			closed = true
		}
	}
	// Close has completed every leg, so they are all in the queue.
	for _, ac := range q.Drain(batch[:0]) {
		check(index[ac])
	}
	if completed != stressLegs {
		t.Fatalf("%d legs completed, %d issued", completed, stressLegs)
	}
	for i := range slots {
		if got := slots[i].calls.Load(); got != slots[i].issued {
			t.Fatalf("slot %d: %d callbacks for %d legs", i, got, slots[i].issued)
		}
	}
	if pkg.Closed.Load() != pkg.Contexts() {
		t.Fatalf("%d mechanism contexts made, %d closed", pkg.Contexts(), pkg.Closed.Load())
	}
	goleak.VerifyNone(t)
	for _, st := range []status.Code{status.SEC_E_OK, status.SEC_I_CONTINUE_NEEDED, status.SEC_E_LOGON_DENIED,
		status.SEC_E_INTERNAL_ERROR, async.StatusCancelled, async.StatusContextDeleted, async.StatusClosed} {
		if outcomes[st] == 0 {
			t.Errorf("no leg ended with %v: the test did not exercise it", st)
		}
	}
	t.Logf("%d legs, %d contexts in %v; outcomes %v", completed, pkg.Contexts(), time.Since(start), outcomes)
}
