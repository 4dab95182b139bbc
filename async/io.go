package async

// The I/O side: the network I/O a mechanism's Step asks for.
//
// Rule: I/O never runs on a CPU worker. A leg whose Step returns an
// IORequest is handed to the I/O pool (at most WithIOConcurrency requests
// performed at once), performed under a context that derives from the
// engine's base and ends at the engine's I/O timeout, at the request's own
// Deadline (whichever is sooner), when the leg is cancelled or its security
// context deleted, and when the engine closes; then the leg is queued again
// on the CPU pool with the outcome in StepInput.IOReply and IOErr.

import (
	"context"
	"errors"

	"github.com/asyncsspi/asyncsspi/mechs"
	"github.com/asyncsspi/asyncsspi/status"
)

var errNoPerformer = errors.New("async: I/O request without a performer")

// ioTask is AsyncContext under another method set, as legTask is.
type ioTask AsyncContext

// Run performs the leg's I/O on an I/O goroutine.
func (t *ioTask) Run() {
	ac := (*AsyncContext)(t)
	ac.e.runIO(ac)
}

// Cancel completes a leg whose I/O the closing I/O queue will never run.
func (t *ioTask) Cancel() {
	ac := (*AsyncContext)(t)
	ac.e.complete(ac, engineResult(StatusClosed, ErrClosed))
}

// waitIO hands the leg, whose Step asked for req, to the I/O side. The
// calling worker lets go of the leg.
func (e *Engine) waitIO(ac *AsyncContext, req *mechs.IORequest) {
	ac.io = req
	if err := e.io.TrySubmit((*ioTask)(ac)); err != nil {
		// Closed (or, impossibly, full): the leg cannot go on.
		e.complete(ac, engineResult(StatusClosed, ErrClosed))
	}
}

// runIO runs on an I/O goroutine, which owns the leg until it requeues or
// completes it. It never holds a CPU worker.
func (e *Engine) runIO(ac *AsyncContext) {
	ctx, cancel := context.WithTimeout(e.base, e.cfg.ioTimeout)
	ac.mu.Lock()
	ac.ioCancel = cancel
	ac.mu.Unlock()
	// An abort set before ioCancel was visible did not cancel ctx.
	if ac.abort.Load() != abortNone {
		cancel()
	}
	reply, perr, err := perform(ctx, ac.io, ac.pkgName)
	ac.mu.Lock()
	ac.ioCancel = nil
	ac.mu.Unlock()
	cancel()
	ac.io = nil
	switch {
	case perr != nil:
		e.complete(ac, failure(perr))
		return
	case ac.abort.Load() != abortNone:
		e.complete(ac, abortResult(ac.abort.Load()))
		return
	case e.closing():
		e.complete(ac, engineResult(StatusClosed, ErrClosed))
		return
	}
	ac.in.IOReply, ac.in.IOErr = reply, err
	if err := e.cpu.TrySubmit((*legTask)(ac)); err != nil {
		e.complete(ac, engineResult(StatusClosed, ErrClosed))
	}
}

// perform carries out req under ctx and req.Deadline. perr is non-nil when
// the performer panicked.
func perform(ctx context.Context, req *mechs.IORequest, pkg string) (reply []byte, perr *status.Error, err error) {
	if !req.Deadline.IsZero() {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, req.Deadline)
		defer cancel()
	}
	perr = callPackage(pkg, func() { reply, err = req.Performer.Perform(ctx, req) })
	if perr != nil {
		return nil, perr, nil
	}
	return reply, nil, err
}
