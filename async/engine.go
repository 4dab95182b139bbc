package async

// The Engine: its parts, New, and Close.
//
// Rule: Close gives every pending leg (queued, running, or waiting on I/O) a
// final status, closes every security context and credential still open,
// and returns when every goroutine the engine started has exited. How:
// state counts every call in progress (asynchronous legs and synchronous
// calls) with a closed bit on top; Close sets the bit, so that nothing new
// is admitted, cancels base (every I/O context derives from it), closes the
// CPU pool (whose queued legs are completed as closed), closes the I/O
// side (io.go), and then waits until the count drains to zero.

import (
	"context"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asyncsspi/asyncsspi/mechs"
	"github.com/asyncsspi/asyncsspi/queue"
)

// closedBit marks Engine.state once Close has begun; the bits below count
// the legs in flight, asynchronous and synchronous.
const closedBit = int64(1) << 62

// Engine runs the security packages of a mechs.Set on a bounded pool of CPU
// workers and a bounded I/O side. Its methods are safe for concurrent use.
type Engine struct {
	set *mechs.Set
	cfg config

	cpu *queue.Pool // runs legTask: mechanism steps
	io  ioSide      // performs exchanges: IORequest.Performer.Perform

	creds *table[credEntry]
	ctxs  *table[ctxEntry]

	// epoch is when New ran; I/O deadlines are kept as offsets from it.
	epoch time.Time
	// base is cancelled when Close begins; every I/O context derives
	// from it.
	base       context.Context
	cancelBase context.CancelFunc

	state    atomic.Int64 // closedBit | calls in progress
	cpuLegs  atomic.Int64 // asynchronous legs on the CPU side (budget.go)
	idle     chan struct{}
	idleOnce sync.Once

	// stragglers are the goroutines that complete a leg taken off the I/O
	// side by Cancel or a deletion after the CPU pool has closed.
	stragglers sync.WaitGroup

	closeOnce sync.Once
	closed    chan struct{} // closed when Close has finished
}

// New returns an engine over the packages in set and starts its CPU
// workers (GOMAXPROCS of them unless WithWorkers says otherwise); I/O
// goroutines start when I/O is first asked for. Close it to stop them.
//
// The engine's limits are explicit (budget.go):
//
//   - WithQueueDepth: legs queued for, or running on, a CPU worker; default
//     65,536 per CPU (GOMAXPROCS), at most 1,048,576, so that a 2-CPU
//     machine holds 131,072 legs before it refuses one with
//     StatusQueueFull;
//   - WithIOWaitLimit: legs waiting on I/O; default the queue depth;
//   - WithIOConcurrency: exchanges performed at once; default 64;
//   - WithIOTimeout: how long an exchange may take; default 30s.
//
// New allocates the CPU pool's queue up front: 16 bytes for each leg the
// two first limits allow (4 MiB with the defaults on 2 CPUs).
func New(set *mechs.Set, opts ...Option) *Engine {
	c := newConfig(opts)
	tag := uint8(rand.N(255) + 1)
	e := &Engine{
		set: set,
		cfg: c,
		// Room for every leg that can be on the CPU side (budget.go), so
		// the queue never refuses one that was admitted.
		cpu:    queue.New(queue.WithWorkers(c.workers), queue.WithDepth(cpuQueueSize(c))),
		creds:  newTable[credEntry](tag),
		ctxs:   newTable[ctxEntry](tag),
		idle:   make(chan struct{}),
		closed: make(chan struct{}),
		epoch:  time.Now(),
	}
	e.io.init(e, c.ioWorkers)
	e.base, e.cancelBase = context.WithCancel(context.Background())
	return e
}

// enter admits a call unless Close has begun.
func (e *Engine) enter() bool {
	if e.state.Add(1)&closedBit != 0 {
		e.leave()
		return false
	}
	return true
}

// leave ends a call admitted by enter.
func (e *Engine) leave() {
	if e.state.Add(-1) == closedBit {
		e.idleOnce.Do(func() { close(e.idle) })
	}
}

func (e *Engine) closing() bool { return e.state.Load()&closedBit != 0 }

// Close ends the engine. New calls are refused with StatusClosed; every
// pending leg gets a final status (StatusClosed for those queued or waiting
// on I/O, whose I/O contexts are cancelled; a step already running finishes
// first); synchronous calls in progress have their I/O cancelled; then every
// security context and credential still open is closed. Close returns when
// all of that is done and every goroutine the engine started has exited. It
// is safe to call more than once; it must not be called from a notify
// callback or a mechanism.
func (e *Engine) Close() error {
	e.closeOnce.Do(func() {
		defer close(e.closed)
		if e.state.Or(closedBit) == 0 {
			e.idleOnce.Do(func() { close(e.idle) })
		}
		e.cancelBase()
		// Queued legs are completed by their Cancel hooks; running steps
		// that ask for I/O reach the I/O side, whose contexts have ended;
		// exchanges that end find the CPU queue closed and complete their
		// legs; legs cancelled meanwhile are completed by stragglers.
		e.cpu.Close()
		e.io.close()
		<-e.idle
		e.stragglers.Wait()
		for _, ent := range e.ctxs.removeAll() {
			ent.mu.Lock()
			ent.deleted = true
			closeNow := ent.closeIfIdleLocked()
			ent.mu.Unlock()
			if closeNow {
				closeContext(ent.pkg, ent.sc)
			}
		}
		for _, ce := range e.creds.removeAll() {
			closeCredential(ce.pkg.Name(), ce.cred)
		}
	})
	<-e.closed
	return nil
}

// CreateAsyncContext returns a new async context (SspiCreateAsyncContext).
// It reads StatusIdle until a call is queued on it.
func (e *Engine) CreateAsyncContext() *AsyncContext {
	return &AsyncContext{e: e}
}

// FreeAsyncContext releases ac (SspiFreeAsyncContext); nil is allowed. It may
// be called from ac's own notify callback. Windows forbids freeing a context
// whose call is pending; here that cancels the call, which still completes
// (and calls its callback) once. A freed context refuses new calls.
func (e *Engine) FreeAsyncContext(ac *AsyncContext) {
	if ac == nil {
		return
	}
	ac.mu.Lock()
	ac.freed = true
	ac.mu.Unlock()
	ac.Cancel()
}

// Stats is a snapshot of an engine's load, for monitoring and for sizing
// its options.
type Stats struct {
	// CPULegs is the asynchronous legs queued for, or running on, a CPU
	// worker.
	CPULegs int
	// IOLegs is the asynchronous legs waiting on I/O.
	IOLegs int
	// Exchanges is the I/O exchanges in flight: being performed, or
	// waiting for an I/O goroutine. Legs that share one count once.
	Exchanges int
	// IOGoroutines is the I/O goroutines alive, performing or parked; at
	// most WithIOConcurrency.
	IOGoroutines int
}

// Stats returns a snapshot of the engine's load. Its fields are read at
// slightly different moments, so under load they need not add up exactly.
func (e *Engine) Stats() Stats {
	e.io.mu.Lock()
	s := Stats{IOLegs: e.io.legs, Exchanges: e.io.flying, IOGoroutines: e.io.running}
	e.io.mu.Unlock()
	s.CPULegs = int(e.cpuLegs.Load())
	return s
}

// Packages returns the engine's security packages
// (EnumerateSecurityPackages).
func (e *Engine) Packages() []mechs.Package { return e.set.Packages() }
