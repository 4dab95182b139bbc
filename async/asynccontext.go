package async

// The async context (SspiAsyncContext): what a caller holds to follow one
// call at a time, and reads the outputs from.
//
// Rule: Status is a single atomic load, with no lock and no allocation, and
// it never reads SEC_E_OK before a call has completed with SEC_E_OK: the
// status word is stored XOR StatusIdle, so the zero value, like a context
// fresh from CreateAsyncContext or Reinit, reads StatusIdle.

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	secctx "github.com/asyncsspi/asyncsspi/context"
	"github.com/asyncsspi/asyncsspi/mechs"
	"github.com/asyncsspi/asyncsspi/status"
)

// AsyncContext tracks one asynchronous call at a time (SspiAsyncContext).
// Create it with Engine.CreateAsyncContext. Its zero value reads StatusIdle
// but cannot be used to queue calls.
//
// Ownership: while a leg is pending, the leg fields belong to whichever
// engine goroutine holds the leg (leg.go); the hand-overs between holders
// order their accesses. The outputs are
// written by the goroutine that completes the leg, before it publishes the
// final status; a caller that has seen a non-pending Status (or Done closed,
// or the callback called, or Drain return the context) may read them.
type AsyncContext struct {
	// st is the status word, stored XOR StatusIdle so that the zero value
	// reads StatusIdle. Written with one atomic store, under mu; read
	// with one atomic load, without mu.
	st atomic.Uint32
	// abort is abortCancel or abortDelete once the pending leg must end
	// early; reset when a leg is queued.
	abort atomic.Uint32
	// value is the caller's own value (SetValue).
	value atomic.Pointer[any]

	e *Engine

	// mu guards the fields below it and orders the publication of the
	// final status against Done, Reinit and the queuing of the next leg.
	mu     sync.Mutex
	active bool          // a leg is being queued or is pending
	freed  bool          // beside active: no padding between them
	seq    uint64        // number of the current (or last) leg
	done   chan struct{} // made lazily by Done; closed at completion
	cb     func(*AsyncContext, any)
	cbData any
	cq     *CompletionQueue

	// The leg, owned as described above. kind and use are side by side so
	// that they share a word: an AsyncContext is what every pending leg
	// costs.
	kind     legKind
	use      secctx.CredentialUse // ACH fCredentialUse
	pkgName  string
	ent      *ctxEntry             // the security context of a later leg
	cred     *credEntry            // the credential of a first leg
	sc       mechs.SecurityContext // the new context of a first leg
	in       mechs.StepInput       // Step's input, kept across I/O
	target   string                // ISC pszTargetName, or ACH pszPrincipal
	iscReq   secctx.ISCReq         // ISC fContextReq
	ascReq   secctx.ASCReq         // ASC fContextReq
	authData any                   // ACH pAuthData
	delH     secctx.CtxtHandle     // DeleteSecurityContextAsync's handle
	freeH    secctx.CredHandle     // FreeCredentialsHandleAsync's handle
	res      mechs.StepResult      // the result being completed
	outCtx   secctx.CtxtHandle     // output: phNewContext
	outCred  secctx.CredHandle     // output: phCredential

	// The exchange the leg waits on, and its neighbours among that
	// exchange's waiters; guarded by the engine's ioSide.mu (io.go).
	ioX     *exchange
	ioLinks ilinks[AsyncContext]
}

func (ac *AsyncContext) links() *ilinks[AsyncContext] { return &ac.ioLinks }

// encode maps a status to the word stored in st.
func encode(c status.Code) uint32 { return uint32(c ^ StatusIdle) }

// Status returns the status of the call this context tracks
// (SspiGetAsyncCallStatus): SEC_I_ASYNC_CALL_PENDING until the call has
// completed and all its outputs are written, then its final status; and
// StatusIdle before any call (or after Reinit). It is one atomic load: no
// lock, no allocation; it is safe to call from any goroutine.
func (ac *AsyncContext) Status() status.Code {
	return status.Code(ac.st.Load()) ^ StatusIdle
}

// Reinit readies the context for another call (SspiReinitAsyncContext): it
// clears the previous call's outputs and makes Status read StatusIdle,
// keeping the notify callback and completion queue. It is refused with a
// *status.Error carrying StatusBusy while a call is pending.
//
// Queuing a call on a context whose previous call has completed reinitialises
// it implicitly, so Reinit is needed only to forget a result.
func (ac *AsyncContext) Reinit() error {
	ac.mu.Lock()
	defer ac.mu.Unlock()
	if ac.freed || ac.e == nil {
		return status.Errorf(StatusBadArgument, "", "async context is freed or was not created by an engine")
	}
	if ac.active {
		return status.Errorf(StatusBusy, "", "async context has a call pending")
	}
	ac.resetOutputsLocked()
	ac.done = nil
	ac.st.Store(encode(StatusIdle))
	return nil
}

// resetOutputsLocked clears the outputs and leg state. ac.mu is held and no
// leg is pending.
func (ac *AsyncContext) resetOutputsLocked() {
	ac.kind, ac.pkgName, ac.ent, ac.cred, ac.sc = 0, "", nil, nil, nil
	ac.in = mechs.StepInput{}
	ac.target, ac.authData = "", nil
	ac.iscReq, ac.ascReq, ac.use, ac.delH, ac.freeH = 0, 0, 0, 0, 0
	ac.res = mechs.StepResult{}
	ac.outCtx, ac.outCred = 0, 0
}

// SetNotifyCallback registers the function called once when the call
// completes (SspiSetAsyncNotifyCallback), with data passed back to it. It
// runs on an engine goroutine, never inline on the goroutine that queued the
// call; inside it, Status returns the final status. It may Reinit the
// context and queue the next call, or free it, but must not block for long
// (it holds a worker) and must not call Engine.Close. A nil cb removes the
// callback. Setting it while a call is pending is allowed: the completion
// calls whichever callback is registered when it completes. It returns
// SEC_E_OK, or StatusBadArgument for a freed context.
func (ac *AsyncContext) SetNotifyCallback(cb func(ac *AsyncContext, data any), data any) status.Code {
	ac.mu.Lock()
	defer ac.mu.Unlock()
	if ac.freed {
		return StatusBadArgument
	}
	ac.cb, ac.cbData = cb, data
	return status.SEC_E_OK
}

// SetValue attaches the caller's own value to ac (a connection, a request),
// replacing any earlier one, so that a context drained from a completion
// queue or passed to a callback leads back to it without a side map. The
// engine never reads it, and it survives Reinit and every call; set nil to
// drop it. It is safe to call at any time, from any goroutine.
func (ac *AsyncContext) SetValue(v any) {
	if v == nil {
		ac.value.Store(nil)
		return
	}
	ac.value.Store(&v)
}

// Value returns the value SetValue attached, or nil. It is one atomic load.
func (ac *AsyncContext) Value() any {
	if p := ac.value.Load(); p != nil {
		return *p
	}
	return nil
}

// RequiresNotify reports whether a notify callback is registered
// (SspiAsyncContextRequiresNotify).
func (ac *AsyncContext) RequiresNotify() bool {
	ac.mu.Lock()
	defer ac.mu.Unlock()
	return ac.cb != nil
}

// SetCompletionQueue makes every completion of this context append it to q
// (nil stops that). Like the callback, it may be changed at any time.
func (ac *AsyncContext) SetCompletionQueue(q *CompletionQueue) {
	ac.mu.Lock()
	ac.cq = q
	ac.mu.Unlock()
}

// Done returns a channel closed when the pending call completes. When no call
// is pending (idle, or completed) it returns a closed channel. The channel is
// made on first use for each call, so a caller that only polls Status or
// uses the callback allocates nothing for it.
func (ac *AsyncContext) Done() <-chan struct{} {
	ac.mu.Lock()
	defer ac.mu.Unlock()
	if ac.done == nil {
		ac.done = make(chan struct{})
		if !ac.active {
			close(ac.done)
		}
	}
	return ac.done
}

// Wait waits until the pending call completes or ctx is done, and returns
// Status: the final status, SEC_I_ASYNC_CALL_PENDING when ctx ended first
// (the call goes on; Cancel ends it), or StatusIdle when no call was issued.
func (ac *AsyncContext) Wait(ctx context.Context) status.Code {
	if st := ac.Status(); st != status.SEC_I_ASYNC_CALL_PENDING {
		return st
	}
	select {
	case <-ac.Done():
	case <-ctx.Done():
	}
	return ac.Status()
}

// Cancel ends the pending call early. A leg still queued, or waiting on I/O,
// completes with StatusCancelled and an Err wrapping context.Canceled; a leg
// waiting on I/O leaves its exchange at once, and the exchange's context is
// cancelled if no other leg waits on it (io.go). A mechanism step already
// running is not interrupted: if it produces the leg's final result, that
// result stands (the mechanism's state has moved on), otherwise the leg
// completes as cancelled at its next hand-over. Either way the leg
// completes exactly once, on an engine goroutine. Without a pending call
// Cancel does nothing. A cancelled leg of a later handshake step leaves its
// security context mid-handshake: delete it.
func (ac *AsyncContext) Cancel() {
	ac.abortLeg(abortCancel, 0, false)
}

// abortLeg sets the abort reason of the pending leg (of number seq, when
// checkSeq). If the leg waits on I/O, it takes it off the I/O side and
// queues it on the CPU pool, whose worker completes it with its abort
// status.
func (ac *AsyncContext) abortLeg(reason uint32, seq uint64, checkSeq bool) {
	ac.mu.Lock()
	if !ac.active || (checkSeq && ac.seq != seq) {
		ac.mu.Unlock()
		return
	}
	if reason == abortDelete {
		ac.abort.Store(abortDelete) // deletion outranks cancellation
	} else {
		ac.abort.CompareAndSwap(abortNone, reason)
	}
	// Under ac.mu, so that the leg cannot complete, and a later leg of
	// ac begin, before it is taken off.
	held := ac.e.io.leave(ac)
	ac.mu.Unlock()
	if held {
		ac.e.resume(ac, false)
	}
}

// Outputs. Read them only after the call has completed (see AsyncContext).

// Token returns the output token (the SECBUFFER_TOKEN of pOutput). It may be
// empty with SEC_I_CONTINUE_NEEDED and non-empty with SEC_E_OK; a non-empty
// token must be sent to the peer.
func (ac *AsyncContext) Token() []byte { return ac.res.Token }

// ContextHandle returns the security context handle (phNewContext) of an
// Initialize or Accept call that succeeded or continues.
func (ac *AsyncContext) ContextHandle() secctx.CtxtHandle { return ac.outCtx }

// CredHandle returns the credential handle of an AcquireCredentialsHandle
// call (phCredential).
func (ac *AsyncContext) CredHandle() secctx.CredHandle { return ac.outCred }

// Flags returns pfContextAttr: the ISC_RET_* or ASC_RET_* bits.
func (ac *AsyncContext) Flags() uint64 { return ac.res.Flags }

// Expiry returns ptsExpiry: when the context or credential expires (zero for
// never or unknown).
func (ac *AsyncContext) Expiry() time.Time { return ac.res.Expiry }

// Missing returns the SECBUFFER_MISSING count of a SEC_E_INCOMPLETE_MESSAGE
// result.
func (ac *AsyncContext) Missing() int { return ac.res.Missing }

// Extra returns the SECBUFFER_EXTRA count: input bytes not consumed.
func (ac *AsyncContext) Extra() int { return ac.res.Extra }

// Err returns nil after a successful call and a *status.Error (with the
// final status as Code and the cause) after a failed one.
func (ac *AsyncContext) Err() error { return ac.res.Err }
