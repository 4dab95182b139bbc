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
// engine's limits are explicit; New lists them with their defaults. The
// leg's own result arrives in its AsyncContext, whose Status reads
// SEC_I_ASYNC_CALL_PENDING until every output (token, handle, flags, expiry,
// counts) has been written, and the final SECURITY_STATUS after.
//
// A mechanism is a sans-I/O state machine. When its Step asks for network I/O
// (a KDC exchange, as a mechs.IORequest), the worker hands the leg to the
// engine's bounded I/O side and goes on with other legs. The leg waits on an
// exchange, which it shares with every other leg that asked for the same
// I/O, performed under the engine's I/O timeout and a context that ends when
// no leg waits on it any more or the engine closes. When the exchange ends,
// the leg is queued again and Step is called with the outcome; the leg reads
// pending throughout.
//
// # Guarantees
//
// Each rule is written once, at the top of the file that enforces it:
//
//   - leg.go: every queued leg completes exactly once, with a final status;
//     completion publishes the outputs, then the status (one atomic store),
//     then wakes Done, the completion queue and the notify callback, in that
//     order; the callback runs on an engine goroutine, never inline on the
//     goroutine that queued the leg.
//   - budget.go: legs on the CPU side and legs waiting on I/O are bounded
//     apart (WithQueueDepth, WithIOWaitLimit), each with its own status when
//     full; a leg back from I/O always finds room; a leg's slot is free
//     before its completion is published.
//   - contexts.go: one leg at a time per security context; an input token
//     longer than the package's cbMaxToken is refused before anything reads
//     it.
//   - asynccontext.go: Status is a single atomic load (no lock, no
//     allocation), and a fresh context never reads as SEC_E_OK.
//   - mechcall.go: a panic in a security package becomes
//     SEC_E_INTERNAL_ERROR for that call; the goroutine lives on.
//   - io.go: I/O never runs on a CPU worker and is bounded and timed out;
//     legs that ask for the same I/O share one exchange, performed once; an
//     exchange ends when its last waiting leg is cancelled, deleted or
//     closed, and a leg leaving does not disturb the others.
//   - engine.go: Close gives every pending leg a final status and returns
//     when every goroutine of the engine has exited.
//   - handles.go: handles are generation-checked.
//
// # Handles
//
// Credential and security-context handles are generation-checked: a deleted,
// stale, foreign or made-up handle gives SEC_E_INVALID_HANDLE, never a panic,
// and deleting a handle that was already deleted returns SEC_E_OK, as
// DeleteSecurityContext does on Windows.
//
// # Files
//
// engine.go (the Engine, New, Close, Stats), options.go (its options),
// budget.go (its two budgets), leg.go (the life of a leg), io.go (the I/O
// side and its shared exchanges), ilist.go (the lists io.go links legs and
// exchanges in), calls.go (the Sspi*Async family), sync.go (the synchronous
// twins), message.go (per-message calls), contexts.go (what handles name),
// handles.go (the handle tables), asynccontext.go (the async context),
// completion.go (the completion queue), mechcall.go (calls into security
// packages), statuses.go (the statuses and causes the engine produces).
package async
