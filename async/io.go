package async

// The I/O side: the network I/O a mechanism's Step asks for (mechs.IORequest).
//
// Rules enforced here:
//
//   - I/O never runs on a CPU worker. A leg whose Step returns an IORequest
//     waits on an exchange, which an I/O goroutine performs; when it ends
//     the leg is queued again on the CPU pool with the outcome in
//     StepInput.IOReply and IOErr. At most WithIOConcurrency exchanges are
//     performed at once; the others wait their turn in order. I/O
//     goroutines start on demand and park, for reuse, when there is nothing
//     to perform; there are never more than WithIOConcurrency of them.
//   - Legs whose requests have equal Performer, Kind and a non-empty Key,
//     asked while an exchange for them is in flight, wait on that one
//     exchange: Perform is called once, and every waiter receives the same
//     reply bytes (or the same error). A request with Key "", or whose
//     Performer is not comparable (a value holding a func, slice or map),
//     gets an exchange of its own.
//   - An exchange's context derives from the engine's base (cancelled by
//     Close) and ends at its deadline: the engine's I/O timeout after the
//     first leg asked, or that leg's IORequest.Deadline if sooner. A leg
//     joins an exchange only if the exchange ends no later than the leg's
//     own deadline would, so no leg waits past its own deadline; the time
//     an exchange waits for an I/O goroutine counts.
//   - A leg leaves an exchange when it is cancelled (AsyncContext.Cancel),
//     its security context deleted, or the engine closed; it is then
//     queued on the CPU pool, which completes it with its abort status. The
//     others waiting on the exchange are not disturbed. When the last waiter
//     leaves, the exchange ends: its context is cancelled (Perform must then
//     return, leaving no goroutine or socket behind), or, if it had not
//     started, it never does.

import (
	"context"
	"errors"
	"reflect"
	"sync"
	"time"

	"github.com/asyncsspi/asyncsspi/mechs"
	"github.com/asyncsspi/asyncsspi/status"
)

var errNoPerformer = errors.New("async: I/O request without a performer")

// ioSide is the engine's I/O side.
type ioSide struct {
	e   *Engine
	max int // WithIOConcurrency

	// mu guards the fields below, every exchange's fields marked so, and
	// the ioX and ioLinks of every AsyncContext.
	// Lock order: an AsyncContext's mu, then mu; never the other way.
	mu      sync.Mutex
	shared  map[exchangeKey]*exchange  // exchanges in flight that legs may join
	queue   ilist[exchange, *exchange] // exchanges waiting for an I/O goroutine
	legs    int                        // legs waiting on an exchange (budget.go)
	flying  int                        // exchanges queued or being performed
	running int                        // I/O goroutines alive
	parked  int                        // of which parked on wake, not yet signalled
	wake    sync.Cond                  // on mu: work was queued, or closed
	closed  bool

	wg sync.WaitGroup // the I/O goroutines
}

// exchangeKey identifies what legs may share: mechs.IORequest's doc.
type exchangeKey struct {
	performer mechs.IOPerformer
	kind      mechs.IOKind
	key       string
}

// exchange is one performance of an IORequest, and the legs waiting on it.
// It is what a leg waiting on I/O costs besides itself, so it is kept to
// 64 bytes: its key is recomputed from req, its package read from a
// waiter, its deadline kept as an offset from the engine's epoch.
type exchange struct {
	req      *mechs.IORequest // the first waiter's request: what is sent
	deadline time.Duration    // since the engine's epoch

	// Guarded by ioSide.mu.
	waiters ilist[AsyncContext, *AsyncContext]
	qlinks  ilinks[exchange]   // in ioSide.queue
	cancel  context.CancelFunc // set once an I/O goroutine performs it
	shared  bool               // in ioSide.shared
	queued  bool               // in ioSide.queue
}

func (x *exchange) links() *ilinks[exchange] { return &x.qlinks }

func (io *ioSide) init(e *Engine, max int) {
	io.e, io.max = e, max
	io.shared = make(map[exchangeKey]*exchange)
	io.wake.L = &io.mu
}

// shareKey returns the key legs share req under, if they may.
func shareKey(req *mechs.IORequest) (exchangeKey, bool) {
	if req.Key == "" || !reflect.ValueOf(req.Performer).Comparable() {
		return exchangeKey{}, false
	}
	return exchangeKey{req.Performer, req.Kind, req.Key}, true
}

// deadline is when an I/O request asked now must end: the engine's I/O
// timeout from now, or the request's Deadline if sooner, as an offset from
// the engine's epoch (a monotonic reading, so the wall clock's jumps do not
// move it).
func (e *Engine) deadline(req *mechs.IORequest) time.Duration {
	d := time.Since(e.epoch) + e.cfg.ioTimeout
	if !req.Deadline.IsZero() {
		d = min(d, req.Deadline.Sub(e.epoch))
	}
	return d
}

// at is the time of a deadline.
func (e *Engine) at(deadline time.Duration) time.Time { return e.epoch.Add(deadline) }

// waitIO makes the leg, whose Step asked for req, wait on an exchange. The
// calling worker lets go of the leg.
func (e *Engine) waitIO(ac *AsyncContext, req *mechs.IORequest) {
	io := &e.io
	deadline := e.deadline(req)
	key, share := shareKey(req)
	io.mu.Lock()
	if io.closed {
		io.mu.Unlock()
		e.complete(ac, engineResult(StatusClosed, ErrClosed))
		return
	}
	// An abort set before mu was taken is seen here; one set after finds
	// the leg waiting and takes it out (AsyncContext.abortLeg).
	if reason := ac.abort.Load(); reason != abortNone {
		io.mu.Unlock()
		e.complete(ac, abortResult(reason))
		return
	}
	if !io.startWaitLocked() {
		// The I/O wait limit is reached: the Step hears so at once, on
		// the CPU side, where the leg still is.
		io.mu.Unlock()
		ac.in.IOReply, ac.in.IOErr = nil, errIOWaitFull
		e.resume(ac, true)
		return
	}
	var x *exchange
	if share {
		if y := io.shared[key]; y != nil && y.deadline <= deadline {
			x = y
		}
	}
	if x == nil {
		x = &exchange{req: req, deadline: deadline}
		io.flying++
		if share && io.shared[key] == nil {
			x.shared = true
			io.shared[key] = x
		}
		io.schedule(x)
	}
	ac.ioX = x
	x.waiters.push(ac)
	io.mu.Unlock()
}

// errIOWaitFull is the IOErr of a Step that asked for I/O beyond the I/O
// wait limit.
var errIOWaitFull = status.New(StatusIOWaitFull, "", ErrIOWaitFull)

// unshare makes x unreachable for legs that ask later. io.mu is held.
func (io *ioSide) unshare(x *exchange) {
	if x.shared {
		key, _ := shareKey(x.req)
		delete(io.shared, key)
		x.shared = false
	}
}

// schedule queues x for an I/O goroutine, waking a parked one or starting
// one if fewer than max are alive. io.mu is held.
func (io *ioSide) schedule(x *exchange) {
	io.queue.push(x)
	x.queued = true
	switch {
	case io.parked > 0:
		io.parked--
		io.wake.Signal()
	case io.running < io.max:
		io.running++
		io.wg.Add(1)
		go io.work()
	}
}

// work is an I/O goroutine: it performs queued exchanges, parks when there
// are none, and exits when the I/O side is closed and nothing is queued.
func (io *ioSide) work() {
	defer io.wg.Done()
	io.mu.Lock()
	for {
		x := io.queue.pop()
		if x == nil {
			if io.closed {
				io.running--
				io.mu.Unlock()
				return
			}
			io.parked++
			io.wake.Wait()
			continue
		}
		x.queued = false
		ctx, cancel := context.WithDeadline(io.e.base, io.e.at(x.deadline))
		x.cancel = cancel
		// The package of a leg that waits on x names it in a panic's
		// status; x is dropped from the queue when its last waiter
		// leaves, so there is one.
		pkg := x.waiters.head.pkgName
		io.mu.Unlock()
		var reply []byte
		var perr *status.Error
		err := ctx.Err() // the engine is closing, or x waited past its deadline: send nothing
		if err == nil {
			reply, perr, err = perform(ctx, x.req, pkg)
		}
		cancel()
		io.mu.Lock()
		io.flying--
		io.unshare(x)
		head, n := x.takeAll()
		io.endWaitLocked(n)
		io.mu.Unlock()
		for ac := head; ac != nil; {
			next := ac.ioLinks.next
			ac.ioLinks.next = nil
			io.e.deliver(ac, reply, perr, err)
			ac = next
		}
		io.mu.Lock()
	}
}

// perform calls req's Performer under ctx. perr is non-nil when it
// panicked.
func perform(ctx context.Context, req *mechs.IORequest, pkg string) (reply []byte, perr *status.Error, err error) {
	if perr = callPackage(pkg, func() { reply, err = req.Performer.Perform(ctx, req) }); perr != nil {
		return nil, perr, nil
	}
	return reply, nil, err
}

// deliver hands an exchange's outcome to a leg that waited on it, which the
// calling I/O goroutine now holds and lets go of.
func (e *Engine) deliver(ac *AsyncContext, reply []byte, perr *status.Error, err error) {
	switch {
	case perr != nil:
		e.complete(ac, failure(perr))
	case e.closing():
		e.complete(ac, engineResult(StatusClosed, ErrClosed))
	default:
		ac.in.IOReply, ac.in.IOErr = reply, err
		e.resume(ac, true)
	}
}

// resume queues a leg that leaves the I/O side on the CPU pool. If the pool
// has closed, the leg is completed as closed: inline when the caller is an
// engine goroutine, otherwise on a goroutine of its own, which Close waits
// for, so that the notify callback never runs on a caller's goroutine.
func (e *Engine) resume(ac *AsyncContext, onEngine bool) {
	if e.cpu.TrySubmit((*legTask)(ac)) == nil {
		return
	}
	if onEngine {
		e.complete(ac, engineResult(StatusClosed, ErrClosed))
		return
	}
	e.stragglers.Go(func() { e.complete(ac, engineResult(StatusClosed, ErrClosed)) })
}

// leave takes ac out of the exchange it waits on, if any, and reports
// whether it did; the caller then holds the leg, back on the CPU side.
// When ac was the last waiter, the exchange ends. io.mu must not be held.
func (io *ioSide) leave(ac *AsyncContext) bool {
	io.mu.Lock()
	defer io.mu.Unlock()
	x := ac.ioX
	if x == nil {
		return false
	}
	ac.ioX = nil
	x.waiters.remove(ac)
	io.endWaitLocked(1)
	if x.waiters.head == nil {
		io.unshare(x)
		if x.queued {
			io.queue.remove(x)
			x.queued = false
			io.flying--
		}
		if x.cancel != nil {
			x.cancel()
		}
	}
	return true
}

// close stops the I/O side: nothing new waits on it, every goroutine drains
// what is queued (whose contexts, derived from the cancelled base, have
// ended, so nothing is sent) and exits. It returns when they have.
func (io *ioSide) close() {
	io.mu.Lock()
	io.closed = true
	io.parked = 0
	io.wake.Broadcast()
	io.mu.Unlock()
	io.wg.Wait()
}

// takeAll takes every waiter out of x and returns the first, and how many
// there were; the rest follow through their links' next, which the
// caller, now holding them all, clears as it lets go of each. io.mu is
// held.
func (x *exchange) takeAll() (head *AsyncContext, n int) {
	head = x.waiters.head
	for ac := head; ac != nil; ac = ac.ioLinks.next {
		ac.ioX, ac.ioLinks.prev = nil, nil
		n++
	}
	x.waiters = ilist[AsyncContext, *AsyncContext]{}
	return head, n
}
