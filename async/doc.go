// Package async is the engine: it mirrors Windows' asynchronous SSPI family
// (SspiCreateAsyncContext, SspiInitializeSecurityContextAsync, ...) over the
// security packages of a mechs.Set, and offers synchronous twins that run the
// same code on the caller's goroutine.
//
// # Legs
//
// Every handshake call (a "leg") is queued on a fixed pool of CPU workers and
// returns at once: the return value is only the queuing status, SEC_E_OK when
// queued, or the reason it could not queue (see the Status* constants). The
// leg's own result arrives in its AsyncContext, whose Status reads
// SEC_I_ASYNC_CALL_PENDING until every output (token, handle, flags, expiry,
// counts) has been written, and the final SECURITY_STATUS after.
//
// A mechanism is a sans-I/O state machine. When its Step asks for network I/O
// (a KDC exchange), the worker hands the request to the engine's bounded I/O
// side, with the engine's I/O timeout and a context that is cancelled when the
// leg is cancelled, its security context deleted, or the engine closed, and
// goes on with other legs. When the I/O returns, the leg is queued again and
// Step is called with the outcome; the leg reads pending throughout.
//
// # Guarantees
//
//   - Every queued leg completes exactly once, with a final status: its
//     result, or StatusCancelled, StatusContextDeleted, StatusClosed,
//     SEC_E_INTERNAL_ERROR (a panic in the mechanism; the worker lives on).
//   - Completion publishes the outputs, then the status (one atomic store,
//     so a reader that sees a final status sees every output: the store
//     happens after the writes), then wakes Done, then appends to the
//     completion queue, then calls the notify callback, in that order, once.
//   - The notify callback always runs on an engine goroutine (a CPU worker or
//     an I/O goroutine), never inline on the goroutine that queued the leg,
//     even when the leg completes before the queuing call returns. It may
//     Reinit, queue the next leg on, or free, its async context.
//   - One leg at a time per security context: a second leg (or a per-message
//     call) while one is pending is refused with StatusBusy.
//   - Status is a single atomic load: no lock, no allocation.
//   - Close gives every pending leg (queued, running, or waiting on I/O) a
//     final status and returns when every goroutine of the engine has
//     exited.
//
// # Handles
//
// Credential and security-context handles are generation-checked: a deleted,
// stale, foreign or made-up handle gives SEC_E_INVALID_HANDLE, never a panic,
// and deleting a handle that was already deleted returns SEC_E_OK, as
// DeleteSecurityContext does on Windows.
package async

import "github.com/asyncsspi/asyncsspi/status"

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
	// its queue depth of legs in flight. It is one of the documented
	// errors of the asynchronous functions.
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
)
