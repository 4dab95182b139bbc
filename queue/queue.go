// Package queue is a bounded worker pool that knows nothing of security.
//
// A Pool has a fixed number of worker goroutines and a queue of bounded
// depth. TrySubmit refuses at once when the queue is full (ErrFull) and never
// blocks; Submit waits for room and honours a context.Context. Close stops
// accepting work, completes every task still queued by calling its Cancel
// method, waits for running tasks, and returns only when every goroutine the
// pool started has exited.
//
// Every task a Pool accepts (a nil error from TrySubmit or Submit) has
// exactly one of Run or Cancel called on it, exactly once: none is dropped,
// also when Close races with submission.
//
// The queue is a buffered channel of Task interface values. A Task that is a
// pointer is stored without allocation, so submitting and running a task
// allocates nothing and starts no goroutine.
package queue

import (
	"context"
	"errors"
	"runtime"
	"sync"
)

// Task is one unit of work.
//
// Run does the work on a worker goroutine. Cancel completes a task that was
// accepted but will never run, because the pool closed first; it runs on a
// worker goroutine too, and must not block for long. Exactly one of the two
// is called, once. Neither may panic: a panic ends the program, as it would
// in any goroutine.
type Task interface {
	Run()
	Cancel()
}

// ErrFull is TrySubmit's refusal when the queue is at its depth.
var ErrFull = errors.New("queue: full")

// ErrClosed is the refusal of TrySubmit and Submit once Close has begun.
var ErrClosed = errors.New("queue: closed")

// Option configures a Pool.
type Option func(*config)

type config struct {
	workers int
	depth   int
}

// WithWorkers sets the number of worker goroutines (default GOMAXPROCS; at
// least 1).
func WithWorkers(n int) Option { return func(c *config) { c.workers = n } }

// WithDepth sets how many tasks may wait for a worker (default 1024; at least
// 1). Tasks being run do not count.
func WithDepth(n int) Option { return func(c *config) { c.depth = n } }

// Pool is a fixed set of workers fed by a bounded queue. Its methods are safe
// for concurrent use.
type Pool struct {
	tasks chan Task
	// quit is closed when Close begins. Workers that see it cancel what they
	// dequeue instead of running it; submitters that see it refuse.
	quit chan struct{}

	// mu orders submission against Close: submitters hold it for reading
	// while they send on tasks; Close takes it for writing before it closes
	// tasks, so no send can happen on a closed channel, and no task can be
	// sent after the workers have drained tasks.
	mu     sync.RWMutex
	closed bool // guarded by mu

	closeOnce sync.Once
	wg        sync.WaitGroup // the workers
}

// New starts a pool. Its workers run until Close.
func New(opts ...Option) *Pool {
	c := config{workers: runtime.GOMAXPROCS(0), depth: 1024}
	for _, o := range opts {
		o(&c)
	}
	if c.workers < 1 {
		c.workers = 1
	}
	if c.depth < 1 {
		c.depth = 1
	}
	p := &Pool{
		tasks: make(chan Task, c.depth),
		quit:  make(chan struct{}),
	}
	p.wg.Add(c.workers)
	for range c.workers {
		go p.work()
	}
	return p
}

// work is a worker's loop. It owns each task from the moment it receives it
// until Run or Cancel returns. It exits when Close has closed tasks and the
// queue is empty.
func (p *Pool) work() {
	defer p.wg.Done()
	for t := range p.tasks {
		select {
		case <-p.quit:
			t.Cancel()
		default:
			t.Run()
		}
	}
}

// TrySubmit queues t if there is room and returns nil; otherwise it returns
// ErrFull, or ErrClosed once Close has begun, at once. On a non-nil error the
// pool never calls t.
func (p *Pool) TrySubmit(t Task) error {
	select {
	case <-p.quit:
		return ErrClosed
	default:
	}
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.closed {
		return ErrClosed
	}
	select {
	case p.tasks <- t:
		return nil
	default:
		return ErrFull
	}
}

// Submit queues t, waiting for room until ctx is done (it returns ctx.Err())
// or Close begins (ErrClosed). On a non-nil error the pool never calls t.
func (p *Pool) Submit(ctx context.Context, t Task) error {
	select {
	case <-p.quit:
		return ErrClosed
	default:
	}
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.closed {
		return ErrClosed
	}
	// Fast path without the context's channel.
	select {
	case p.tasks <- t:
		return nil
	default:
	}
	select {
	case p.tasks <- t:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-p.quit:
		// Close is waiting for this read lock; let it go on.
		return ErrClosed
	}
}

// Len returns the number of tasks waiting for a worker.
func (p *Pool) Len() int { return len(p.tasks) }

// Cap returns the queue depth.
func (p *Pool) Cap() int { return cap(p.tasks) }

// Close stops accepting tasks, cancels every task still queued (its Cancel
// is called on a worker), waits for running tasks to return, and waits for
// the workers to exit. It is safe to call more than once and from several
// goroutines; every call returns after the workers have exited. It must not
// be called from inside a task (it would wait for itself).
func (p *Pool) Close() error {
	p.closeOnce.Do(func() {
		close(p.quit) // wakes Submit callers blocked on a full queue
		p.mu.Lock()   // waits for submitters inside their send
		p.closed = true
		close(p.tasks) // workers drain what is left, cancelling it, then exit
		p.mu.Unlock()
	})
	p.wg.Wait()
	return nil
}
