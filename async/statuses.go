package async

import (
	"context"
	"errors"
	"fmt"

	"github.com/asyncsspi/asyncsspi/mechs"
	"github.com/asyncsspi/asyncsspi/status"
)

// The statuses the engine itself produces. Windows' asynchronous SSPI has no
// cancellation and leaves busy handles undocumented, so these are choices,
// made so that each outcome is distinguishable and none reads as success.
const (
	// StatusIdle is what a new, or reinitialised, async context reads:
	// no call has been issued on it. It is an error code, so a fresh
	// context never reads as a finished SEC_E_OK leg, and it is not
	// SEC_I_ASYNC_CALL_PENDING, so nothing waits on it forever.
	// SEC_E_NO_CONTEXT: "the required security context does not exist".
	StatusIdle = status.SEC_E_NO_CONTEXT

	// StatusQueueFull is the queuing status when the engine already holds
	// its queue depth (WithQueueDepth) of legs on the CPU side: queued for
	// a CPU worker or running on one. It is one of the documented errors
	// of the asynchronous functions.
	StatusQueueFull = status.SEC_E_INSUFFICIENT_MEMORY

	// StatusClosed is the queuing status once Close has begun, and the
	// final status of every leg Close ends.
	StatusClosed = status.SEC_E_SHUTDOWN_IN_PROGRESS

	// StatusBusy refuses a call issued before the previous one finished:
	// a leg queued on a security context that already has a leg pending,
	// a per-message call during a leg, or a call on an async context that
	// is still tracking one. The handshake is a strict sequence, and this
	// call is out of it.
	StatusBusy = status.SEC_E_OUT_OF_SEQUENCE

	// StatusCancelled is the final status of a leg ended by
	// AsyncContext.Cancel (or a synchronous call whose context ended).
	// Its Err wraps context.Canceled (or the context's error), so
	// errors.Is(ac.Err(), context.Canceled) tells it from a real expiry.
	StatusCancelled = status.SEC_E_CONTEXT_EXPIRED

	// StatusContextDeleted is the final status of a leg whose security
	// context was deleted (DeleteSecurityContext) before the leg
	// finished.
	StatusContextDeleted = status.SEC_E_UNFINISHED_CONTEXT_DELETED

	// StatusBadArgument refuses a call with an invalid argument (a nil or
	// foreign async context, malformed channel bindings).
	StatusBadArgument = status.SEC_E_INVALID_PARAMETER

	// StatusIOWaitFull is the code of the IOErr a Step receives when it
	// asked for I/O while the engine already held WithIOWaitLimit legs
	// waiting on I/O: the leg did not wait, and no authority was asked.
	// SEC_E_NO_AUTHENTICATING_AUTHORITY, "no authority could be
	// contacted", is what it is from the caller's side, is among the
	// documented final errors of SspiInitializeSecurityContextAsync and
	// SspiAcceptSecurityContextAsync (so callers handle it already), and
	// is what Negotiate falls back to NTLM on; it is distinct from
	// StatusQueueFull, so a full I/O budget never reads as a full CPU
	// queue. A KDC that did not answer gives the same code with
	// context.DeadlineExceeded as cause; the cause of this one is
	// ErrIOWaitFull, so errors.Is tells the two apart.
	StatusIOWaitFull = status.SEC_E_NO_AUTHENTICATING_AUTHORITY
)

// Causes carried by the *status.Error of the legs the engine ends itself.
var (
	// ErrCancelled is the cause of StatusCancelled; it wraps
	// context.Canceled.
	ErrCancelled = fmt.Errorf("async: leg cancelled: %w", context.Canceled)
	// ErrClosed is the cause of StatusClosed.
	ErrClosed = errors.New("async: engine closed")
	// ErrContextDeleted is the cause of StatusContextDeleted.
	ErrContextDeleted = errors.New("async: security context deleted while a leg was pending")
	// ErrMechanismPanic is wrapped by the cause of a SEC_E_INTERNAL_ERROR
	// that a panic in a mechanism became.
	ErrMechanismPanic = errors.New("async: panic in security package")
	// ErrIOWaitFull is the cause of StatusIOWaitFull: the engine's budget
	// of legs waiting on I/O was full.
	ErrIOWaitFull = errors.New("async: too many legs waiting on I/O")
)

// engineResult is a failed leg the engine ends itself.
func engineResult(code status.Code, cause error) mechs.StepResult {
	return mechs.StepResult{Status: code, Err: status.New(code, "", cause)}
}

// failure is a failed leg whose *status.Error is already made.
func failure(err *status.Error) mechs.StepResult {
	return mechs.StepResult{Status: err.Code, Err: err}
}

// codeResult is a leg that ends with a bare status.
func codeResult(st status.Code) mechs.StepResult {
	if st.IsError() {
		return mechs.StepResult{Status: st, Err: st}
	}
	return mechs.StepResult{Status: st}
}

// normalize makes a mechanism's result fit to publish: a pending status is
// not a final one, and a failure carries a *status.Error.
func normalize(r *mechs.StepResult, pkg string) {
	if r.Status == status.SEC_I_ASYNC_CALL_PENDING {
		*r = mechs.StepResult{Status: status.SEC_E_INTERNAL_ERROR,
			Err: status.Errorf(status.SEC_E_INTERNAL_ERROR, pkg, "security package returned SEC_I_ASYNC_CALL_PENDING as a result")}
	}
	if !r.Status.IsError() {
		r.Err = nil
		return
	}
	if se, ok := r.Err.(*status.Error); ok && se.Code == r.Status {
		return
	}
	cause := r.Err
	if c, ok := cause.(status.Code); ok && c == r.Status {
		cause = nil
	}
	r.Err = status.New(r.Status, pkg, cause)
}
