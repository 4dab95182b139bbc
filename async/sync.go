package async

// The synchronous twins: the same steps as the Sspi*Async calls, run on the
// caller's goroutine, with any I/O a mechanism asks for performed inline.

import (
	"context"
	"errors"
	"time"

	secctx "github.com/asyncsspi/asyncsspi/context"
	"github.com/asyncsspi/asyncsspi/mechs"
	"github.com/asyncsspi/asyncsspi/status"
)

// Result is the outcome of a synchronous Initialize or Accept call.
type Result struct {
	// Status is the call's SECURITY_STATUS.
	Status status.Code
	// Context is phNewContext: the handle to pass to the next leg and to
	// the per-message calls (0 when a first leg failed).
	Context secctx.CtxtHandle
	// Token is the output token; send it to the peer when non-empty.
	Token []byte
	// Flags are pfContextAttr (ISC_RET_* or ASC_RET_*).
	Flags uint64
	// Expiry is ptsExpiry.
	Expiry time.Time
	// Missing and Extra are the SECBUFFER_MISSING and SECBUFFER_EXTRA
	// counts.
	Missing, Extra int
}

// AcquireCredentialsHandle acquires a credential on the caller's goroutine
// (AcquireCredentialsHandle); the same code as AcquireCredentialsHandleAsync.
// The error is a *status.Error.
func (e *Engine) AcquireCredentialsHandle(principal, pkg string, use secctx.CredentialUse, authData any) (secctx.CredHandle, time.Time, error) {
	if !e.enter() {
		return 0, time.Time{}, status.New(StatusClosed, "", ErrClosed)
	}
	defer e.leave()
	h, r := e.acquire(principal, pkg, use, authData)
	normalize(&r, pkg)
	if r.Err != nil {
		return 0, time.Time{}, r.Err
	}
	return h, r.Expiry, nil
}

// InitializeSecurityContext runs one client leg on the caller's goroutine
// (InitializeSecurityContext): the same steps as
// InitializeSecurityContextAsync, with any I/O the mechanism asks for done
// inline under ctx and the engine's I/O timeout. The error is a
// *status.Error whenever Result.Status is an error. If ctx ends, the leg
// ends with StatusCancelled (cause: ctx.Err()).
func (e *Engine) InitializeSecurityContext(ctx context.Context, cred secctx.CredHandle, h secctx.CtxtHandle, target string, req secctx.ISCReq, input []secctx.Buffer) (Result, error) {
	return e.handshakeSync(ctx, true, cred, h, input, target, req, 0)
}

// AcceptSecurityContext runs one server leg on the caller's goroutine
// (AcceptSecurityContext); otherwise as InitializeSecurityContext.
func (e *Engine) AcceptSecurityContext(ctx context.Context, cred secctx.CredHandle, h secctx.CtxtHandle, input []secctx.Buffer, req secctx.ASCReq) (Result, error) {
	return e.handshakeSync(ctx, false, cred, h, input, "", 0, req)
}

func failed(st status.Code, cause error) (Result, error) {
	return Result{Status: st}, status.New(st, "", cause)
}

func (e *Engine) handshakeSync(ctx context.Context, initiator bool, cred secctx.CredHandle, h secctx.CtxtHandle,
	input []secctx.Buffer, target string, isc secctx.ISCReq, asc secctx.ASCReq) (Result, error) {
	if e.closing() {
		return failed(StatusClosed, ErrClosed)
	}
	ent, ce, st := e.lookupHandshake(initiator, cred, h, input)
	if st != status.SEC_E_OK {
		return failed(st, nil)
	}
	in, st := buildInput(input)
	if st != status.SEC_E_OK {
		return failed(st, errors.New("async: malformed channel bindings"))
	}
	if !e.enter() {
		return failed(StatusClosed, ErrClosed)
	}
	defer e.leave()
	var (
		sc  mechs.SecurityContext
		pkg string
		r   mechs.StepResult
	)
	if ent != nil {
		if st := ent.claim(nil, 0); st != status.SEC_E_OK {
			return failed(st, nil)
		}
		sc, pkg = ent.sc, ent.pkg
	} else {
		pkg = ce.pkg.Name()
		sc, r = newSecurityContext(initiator, ce, target, isc, asc)
	}
	for sc != nil {
		if err := ctx.Err(); err != nil {
			r = engineResult(StatusCancelled, err)
			break
		}
		r = step(sc, &in, pkg)
		if r.IO == nil {
			break
		}
		if r.IO.Performer == nil {
			r = engineResult(status.SEC_E_INTERNAL_ERROR, errNoPerformer)
			break
		}
		reply, stop, err := e.syncIO(ctx, ent, r.IO, pkg)
		if stop != nil {
			r = *stop
			break
		}
		in.IOReply, in.IOErr = reply, err
	}
	r.IO = nil
	res := Result{Context: e.settle(initiator, ent, ce, sc, &r)}
	normalize(&r, pkg)
	res.Status, res.Token, res.Flags, res.Expiry, res.Missing, res.Extra = r.Status, r.Token, r.Flags, r.Expiry, r.Missing, r.Extra
	return res, r.Err
}

// syncIO performs a synchronous leg's I/O inline, under ctx, the engine's
// I/O timeout or the request's deadline (whichever is sooner), the engine's
// Close, and the deletion of the leg's context. It shares no exchange with
// other legs. stop is non-nil when the leg must end instead of stepping on.
func (e *Engine) syncIO(ctx context.Context, ent *ctxEntry, req *mechs.IORequest, pkg string) (reply []byte, stop *mechs.StepResult, err error) {
	ioCtx, cancel := context.WithDeadline(ctx, e.at(e.deadline(req)))
	defer cancel()
	unhook := context.AfterFunc(e.base, cancel)
	defer unhook()
	if ent != nil {
		ent.mu.Lock()
		ent.syncCancel = cancel
		deleted := ent.deleted
		ent.mu.Unlock()
		if deleted {
			cancel()
		}
	}
	reply, perr, err := perform(ioCtx, req, pkg)
	if ent != nil {
		ent.mu.Lock()
		ent.syncCancel = nil
		deleted := ent.deleted
		ent.mu.Unlock()
		if deleted {
			r := engineResult(StatusContextDeleted, ErrContextDeleted)
			return nil, &r, nil
		}
	}
	var r mechs.StepResult
	switch {
	case e.closing():
		r = engineResult(StatusClosed, ErrClosed)
	case ctx.Err() != nil:
		r = engineResult(StatusCancelled, ctx.Err())
	case perr != nil:
		r = failure(perr)
	default:
		return reply, nil, err
	}
	return nil, &r, nil
}
