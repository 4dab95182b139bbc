package queue_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/goleak"

	"github.com/asyncsspi/asyncsspi/queue"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// countTask records how it was completed.
type countTask struct {
	ran, cancelled atomic.Int32
	gate           chan struct{} // when non-nil, Run waits for it
	started        chan struct{} // when non-nil, Run closes it on entry
}

func (t *countTask) Run() {
	if t.started != nil {
		close(t.started)
	}
	if t.gate != nil {
		<-t.gate
	}
	t.ran.Add(1)
}
func (t *countTask) Cancel() { t.cancelled.Add(1) }

func (t *countTask) completions() int32 { return t.ran.Load() + t.cancelled.Load() }

func TestTrySubmitRefusesWhenFull(t *testing.T) {
	p := queue.New(queue.WithWorkers(1), queue.WithDepth(2))
	gate := make(chan struct{})
	blocker := &countTask{gate: gate, started: make(chan struct{})}
	if err := p.TrySubmit(blocker); err != nil {
		t.Fatal(err)
	}
	<-blocker.started // the only worker is busy now
	a, b, c := &countTask{}, &countTask{}, &countTask{}
	if err := p.TrySubmit(a); err != nil {
		t.Fatal(err)
	}
	if err := p.TrySubmit(b); err != nil {
		t.Fatal(err)
	}
	if err := p.TrySubmit(c); !errors.Is(err, queue.ErrFull) {
		t.Fatalf("third submit into depth 2 = %v, want ErrFull", err)
	}
	if p.Len() != 2 || p.Cap() != 2 {
		t.Fatalf("Len %d Cap %d", p.Len(), p.Cap())
	}
	close(gate)
	p.Close()
	for i, tk := range []*countTask{blocker, a, b} {
		if tk.completions() != 1 {
			t.Errorf("task %d completed %d times", i, tk.completions())
		}
	}
	if c.completions() != 0 {
		t.Error("a refused task was called")
	}
	if blocker.ran.Load() != 1 {
		t.Error("the running task did not finish running")
	}
}

func TestSubmitWaitsAndHonoursContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := queue.New(queue.WithWorkers(1), queue.WithDepth(1))
		defer p.Close()
		gate := make(chan struct{})
		blocker := &countTask{gate: gate, started: make(chan struct{})}
		p.TrySubmit(blocker)
		<-blocker.started
		p.TrySubmit(&countTask{}) // fills the queue

		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		start := time.Now()
		err := p.Submit(ctx, &countTask{})
		if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) != time.Second {
			t.Fatalf("Submit on a full queue = %v after %v", err, time.Since(start))
		}

		// Room appears while Submit waits: it succeeds.
		done := make(chan error)
		late := &countTask{started: make(chan struct{})}
		go func() { done <- p.Submit(t.Context(), late) }()
		synctest.Wait() // Submit is blocked now
		close(gate)
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		// Submit returning means late is queued, not that a worker has
		// taken it: closing now could cancel it (Close's contract), so
		// wait until it runs.
		<-late.started
		p.Close()
		if late.ran.Load() != 1 || late.cancelled.Load() != 0 {
			t.Fatal("task submitted after waiting did not run")
		}
	})
}

func TestCloseWakesBlockedSubmit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := queue.New(queue.WithWorkers(1), queue.WithDepth(1))
		gate := make(chan struct{})
		blocker := &countTask{gate: gate, started: make(chan struct{})}
		p.TrySubmit(blocker)
		<-blocker.started
		queued := &countTask{}
		p.TrySubmit(queued)
		done := make(chan error)
		go func() { done <- p.Submit(context.Background(), &countTask{}) }()
		synctest.Wait()
		closed := make(chan struct{})
		go func() { p.Close(); close(closed) }()
		if err := <-done; !errors.Is(err, queue.ErrClosed) {
			t.Fatalf("blocked Submit during Close = %v", err)
		}
		synctest.Wait()
		select {
		case <-closed:
			t.Fatal("Close returned while a task was still running")
		default:
		}
		close(gate)
		<-closed
		if queued.cancelled.Load() != 1 || queued.ran.Load() != 0 {
			t.Fatalf("queued task: ran %d cancelled %d", queued.ran.Load(), queued.cancelled.Load())
		}
		if err := p.TrySubmit(&countTask{}); !errors.Is(err, queue.ErrClosed) {
			t.Fatalf("TrySubmit after Close = %v", err)
		}
		if err := p.Submit(context.Background(), &countTask{}); !errors.Is(err, queue.ErrClosed) {
			t.Fatalf("Submit after Close = %v", err)
		}
		p.Close() // twice is harmless
	})
}

// TestNoneDropped races many submitters against Close: every accepted task
// is run or cancelled exactly once, every refused one is never called.
func TestNoneDropped(t *testing.T) {
	for round := range 20 {
		p := queue.New(queue.WithWorkers(3), queue.WithDepth(16))
		const n = 2000
		tasks := make([]countTask, n)
		accepted := make([]bool, n)
		var wg sync.WaitGroup
		for g := range 4 {
			wg.Go(func() {
				for i := g; i < n; i += 4 {
					var err error
					if i%2 == 0 {
						err = p.TrySubmit(&tasks[i])
					} else {
						err = p.Submit(context.Background(), &tasks[i])
					}
					accepted[i] = err == nil
				}
			})
		}
		if round%2 == 0 {
			p.Close()
		}
		wg.Wait()
		p.Close()
		for i := range tasks {
			want := int32(0)
			if accepted[i] {
				want = 1
			}
			if got := tasks[i].completions(); got != want {
				t.Fatalf("round %d task %d: accepted %v, completed %d times", round, i, accepted[i], got)
			}
		}
	}
}

func TestDefaultsAndClamp(t *testing.T) {
	p := queue.New(queue.WithWorkers(0), queue.WithDepth(-5))
	defer p.Close()
	if p.Cap() != 1 {
		t.Fatalf("Cap = %d, want the minimum 1", p.Cap())
	}
	tk := &doneTask{done: make(chan struct{}, 1)}
	if err := p.Submit(context.Background(), tk); err != nil {
		t.Fatal(err)
	}
	<-tk.done // runs on the single clamped worker
	if queue.New().Close() != nil {
		t.Fatal("Close error")
	}
}

// doneTask signals a reusable channel when it runs.
type doneTask struct{ done chan struct{} }

func (t *doneTask) Run()    { t.done <- struct{}{} }
func (t *doneTask) Cancel() { t.done <- struct{}{} }

func TestHotPathAllocationFree(t *testing.T) {
	p := queue.New(queue.WithWorkers(1), queue.WithDepth(8))
	defer p.Close()
	tk := &doneTask{done: make(chan struct{}, 1)}
	allocs := testing.AllocsPerRun(1000, func() {
		if err := p.TrySubmit(tk); err != nil {
			t.Fatal(err)
		}
		<-tk.done
		if err := p.Submit(context.Background(), tk); err != nil {
			t.Fatal(err)
		}
		<-tk.done
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per submit+run, want 0", allocs)
	}
}
