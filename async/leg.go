package async

// The life of an asynchronous leg: admitted (begin), queued on the CPU pool
// (submit), run by a CPU worker (runLeg), perhaps handed to the I/O side
// and queued again with the outcome (io.go), and completed (complete).
//
// Rules enforced here:
//
//   - Every queued leg completes exactly once, with a final status: its
//     result, or StatusCancelled, StatusContextDeleted, StatusClosed,
//     SEC_E_INTERNAL_ERROR (a panic in the mechanism). At every moment
//     exactly one holder owns a pending leg (the CPU queue, the worker
//     running it, the I/O side, or whoever took it off the I/O side: an
//     I/O goroutine, or Cancel or a deletion), hand-overs between them are
//     channel sends or go through the I/O side's lock, and only the holder
//     completes the leg, after which it lets go.
//   - Completion publishes the outputs, then the status (one atomic store,
//     so a reader that sees a final status sees every output: the store
//     happens after the writes), then wakes Done, then appends to the
//     completion queue, then calls the notify callback, in that order, once.
//   - The notify callback always runs on an engine goroutine (a CPU worker,
//     an I/O goroutine, or, for a leg cancelled while Close runs, a
//     goroutine Close waits for), never inline on the goroutine that queued
//     the leg or called Cancel, even when the leg completes before the
//     queuing call returns: complete is only called by an engine
//     goroutine that holds the leg, and the queuing goroutine stops
//     holding the leg when it queues it.

import (
	"errors"

	"github.com/asyncsspi/asyncsspi/mechs"
	"github.com/asyncsspi/asyncsspi/queue"
	"github.com/asyncsspi/asyncsspi/status"
)

// legKind is what a leg does.
type legKind uint8

const (
	legAcquire legKind = iota + 1
	legInit
	legAccept
	legDelete
	legFree
)

// abort reasons, set by Cancel or by a deletion of the leg's security context.
const (
	abortNone uint32 = iota
	abortCancel
	abortDelete
)

func abortResult(reason uint32) mechs.StepResult {
	if reason == abortDelete {
		return engineResult(StatusContextDeleted, ErrContextDeleted)
	}
	return engineResult(StatusCancelled, ErrCancelled)
}

// begin admits an asynchronous leg and claims ac for it. On success the
// caller owns ac's leg fields until it calls submit or abandon.
func (e *Engine) begin(ac *AsyncContext) (uint64, status.Code) {
	if ac == nil || ac.e != e {
		return 0, StatusBadArgument
	}
	if !e.enter() {
		return 0, StatusClosed
	}
	if !e.admit() {
		e.leave()
		return 0, StatusQueueFull
	}
	ac.mu.Lock()
	defer ac.mu.Unlock()
	switch {
	case ac.freed:
		e.release()
		e.leave()
		return 0, StatusBadArgument
	case ac.active:
		e.release()
		e.leave()
		return 0, StatusBusy
	}
	// The previous call's outputs and status stay readable until submit;
	// a call refused before then leaves them as they were.
	ac.active = true
	ac.seq++
	ac.abort.Store(abortNone)
	ac.done = nil
	return ac.seq, status.SEC_E_OK
}

// abandon undoes begin for a call refused before it was queued. With
// wiped, submit had already cleared the previous outputs, and ac reads
// StatusIdle; otherwise it reads what it read before the call.
func (e *Engine) abandon(ac *AsyncContext, wiped bool) {
	ac.mu.Lock()
	ac.active = false
	if ac.done == nil {
		// Done always returns a closed channel when no call is pending.
		ac.done = make(chan struct{})
		close(ac.done)
	} else {
		close(ac.done) // made by Done during the refused call
	}
	if wiped {
		ac.resetOutputsLocked()
		ac.st.Store(encode(StatusIdle))
	}
	ac.mu.Unlock()
	e.release()
	e.leave()
}

// submit clears the previous call's outputs, publishes
// SEC_I_ASYNC_CALL_PENDING, and queues the leg whose fields the caller has
// set.
func (e *Engine) submit(ac *AsyncContext) status.Code {
	ac.mu.Lock()
	ac.res = mechs.StepResult{}
	ac.outCtx, ac.outCred = 0, 0
	ac.st.Store(encode(status.SEC_I_ASYNC_CALL_PENDING))
	ac.mu.Unlock()
	// The channel send inside TrySubmit orders every leg field written
	// above before the worker's reads.
	err := e.cpu.TrySubmit((*legTask)(ac))
	if err == nil {
		return status.SEC_E_OK
	}
	// Only a Close racing with this call gets here (the queue has room
	// for every admitted leg). Nothing ran: undo.
	if ent := ac.ent; ent != nil {
		e.releaseEntry(ent)
	}
	e.abandon(ac, true)
	if errors.Is(err, queue.ErrFull) {
		return StatusQueueFull
	}
	return StatusClosed
}

// legTask is AsyncContext under another method set, so a leg is queued as a
// pointer in an interface: no allocation.
type legTask AsyncContext

// Run runs the leg's next step on a CPU worker.
func (t *legTask) Run() {
	ac := (*AsyncContext)(t)
	ac.e.runLeg(ac)
}

// Cancel completes a leg the closing CPU queue will never run.
func (t *legTask) Cancel() {
	ac := (*AsyncContext)(t)
	ac.e.complete(ac, engineResult(StatusClosed, ErrClosed))
}

// runLeg runs on a CPU worker, which owns the leg until it completes it or
// hands it to the I/O side.
func (e *Engine) runLeg(ac *AsyncContext) {
	if reason := ac.abort.Load(); reason != abortNone {
		e.complete(ac, abortResult(reason))
		return
	}
	switch ac.kind {
	case legAcquire:
		h, r := e.acquire(ac.target, ac.pkgName, ac.use, ac.authData)
		ac.outCred = h
		e.complete(ac, r)
		return
	case legDelete:
		st := e.DeleteSecurityContext(ac.delH)
		e.complete(ac, codeResult(st))
		return
	case legFree:
		st := e.FreeCredentialsHandle(ac.freeH)
		e.complete(ac, codeResult(st))
		return
	}
	sc := ac.sc
	if ac.ent != nil {
		sc = ac.ent.sc
	} else if sc == nil {
		var r mechs.StepResult
		sc, r = newSecurityContext(ac.kind == legInit, ac.cred, ac.target, ac.iscReq, ac.ascReq)
		if sc == nil {
			e.complete(ac, r)
			return
		}
		ac.sc = sc
	}
	r := step(sc, &ac.in, ac.pkgName)
	if r.IO == nil {
		e.complete(ac, r)
		return
	}
	if r.IO.Performer == nil {
		e.complete(ac, engineResult(status.SEC_E_INTERNAL_ERROR, errNoPerformer))
		return
	}
	if reason := ac.abort.Load(); reason != abortNone {
		e.complete(ac, abortResult(reason))
		return
	}
	e.waitIO(ac, r.IO)
}

// complete finishes an asynchronous leg, exactly once: the goroutine that
// holds the leg calls it and then lets go of the leg.
func (e *Engine) complete(ac *AsyncContext, r mechs.StepResult) {
	if ac.kind == legInit || ac.kind == legAccept {
		ac.outCtx = e.settle(ac.kind == legInit, ac.ent, ac.cred, ac.sc, &r)
	}
	normalize(&r, ac.pkgName)
	r.IO = nil
	// The leg's CPU slot is free before anyone can see it complete
	// (budget.go).
	e.release()
	ac.mu.Lock()
	ac.res = r
	ac.in = mechs.StepInput{}
	ac.ent, ac.cred, ac.sc, ac.authData = nil, nil, nil, nil
	ac.active = false
	d, cq, cb, data := ac.done, ac.cq, ac.cb, ac.cbData
	// Publication: every output above is written before this store, and a
	// reader that loads the final status synchronizes with it.
	ac.st.Store(encode(r.Status))
	ac.mu.Unlock()
	if d != nil {
		close(d)
	}
	if cq != nil {
		cq.push(ac)
	}
	if cb != nil {
		cb(ac, data)
	}
	e.leave()
}
