package async

import (
	"context"
	"errors"
	"fmt"
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

// acquire is AcquireCredentialsHandle's body, shared by both forms.
func (e *Engine) acquire(principal, pkg string, use secctx.CredentialUse, authData any) (h secctx.CredHandle, r mechs.StepResult) {
	p, err := e.set.Lookup(pkg)
	if err != nil {
		return 0, mechs.StepResult{Status: status.CodeOf(err), Err: err}
	}
	var cred mechs.Credential
	func() {
		defer func() {
			if x := recover(); x != nil {
				cred, err = nil, status.New(status.SEC_E_INTERNAL_ERROR, p.Name(), fmt.Errorf("%w: %v", ErrMechanismPanic, x))
			}
		}()
		cred, err = p.AcquireCredentials(mechs.CredentialRequest{Principal: principal, Use: use, AuthData: authData})
	}()
	if err != nil || cred == nil {
		if err == nil {
			err = status.Errorf(status.SEC_E_INTERNAL_ERROR, p.Name(), "security package returned no credential")
		}
		return 0, mechs.StepResult{Status: status.CodeOf(err), Err: err}
	}
	h = secctx.CredHandle(e.creds.add(&credEntry{pkg: p, cred: cred}))
	return h, mechs.StepResult{Status: status.SEC_E_OK, Expiry: cred.Expiry()}
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
	in, st := buildInput(input)
	if st != status.SEC_E_OK {
		return failed(st, errors.New("async: malformed channel bindings"))
	}
	ent, ce, st := e.lookupHandshake(initiator, cred, h)
	if st != status.SEC_E_OK {
		return failed(st, nil)
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
		r = safeStep(sc, &in, pkg)
		if r.IO == nil {
			break
		}
		if r.IO.Performer == nil {
			r = engineResult(status.SEC_E_INTERNAL_ERROR, errors.New("async: I/O request without a performer"))
			break
		}
		reply, panicked, stop, err := e.syncIO(ctx, ent, r.IO)
		if stop != nil {
			r = *stop
			break
		}
		if panicked {
			r = engineResult(status.SEC_E_INTERNAL_ERROR, err)
			break
		}
		in.IOReply, in.IOErr = reply, err
	}
	r.IO = nil
	res := Result{Context: e.settle(initiator, ent, sc, pkg, &r)}
	normalize(&r, pkg)
	res.Status, res.Token, res.Flags, res.Expiry, res.Missing, res.Extra = r.Status, r.Token, r.Flags, r.Expiry, r.Missing, r.Extra
	return res, r.Err
}

// syncIO performs a synchronous leg's I/O inline, under ctx, the engine's
// I/O timeout, the engine's Close, and the deletion of the leg's context.
// stop is non-nil when the leg must end instead of stepping on.
func (e *Engine) syncIO(ctx context.Context, ent *ctxEntry, io *mechs.IORequest) (reply []byte, panicked bool, stop *mechs.StepResult, err error) {
	ioCtx, cancel := context.WithTimeout(ctx, e.cfg.ioTimeout)
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
	reply, panicked, err = safeDo(ioCtx, io)
	if ent != nil {
		ent.mu.Lock()
		ent.syncCancel = nil
		deleted := ent.deleted
		ent.mu.Unlock()
		if deleted {
			r := engineResult(StatusContextDeleted, ErrContextDeleted)
			return nil, false, &r, nil
		}
	}
	switch {
	case e.closing():
		r := engineResult(StatusClosed, ErrClosed)
		return nil, false, &r, nil
	case ctx.Err() != nil:
		r := engineResult(StatusCancelled, ctx.Err())
		return nil, false, &r, nil
	}
	return reply, panicked, nil, err
}

// DeleteSecurityContext deletes a security context (DeleteSecurityContext).
// It returns SEC_E_OK, also for a handle already deleted, as Windows does,
// and SEC_E_INVALID_HANDLE for a handle this engine never issued. A leg
// pending on the context completes with StatusContextDeleted (its I/O is
// cancelled; a step already running finishes first, and the mechanism's
// context is closed once nothing uses it).
func (e *Engine) DeleteSecurityContext(h secctx.CtxtHandle) status.Code {
	ent, st := e.ctxs.remove(uint64(h))
	if ent == nil {
		return st
	}
	ent.mu.Lock()
	ent.deleted = true
	leg, seq, syncCancel := ent.leg, ent.legSeq, ent.syncCancel
	closeNow := ent.closeIfIdleLocked()
	ent.mu.Unlock()
	if leg != nil {
		leg.abortLeg(abortDelete, seq, true)
	}
	if syncCancel != nil {
		syncCancel()
	}
	if closeNow {
		safeClose(ent.sc)
	}
	return status.SEC_E_OK
}

// FreeCredentialsHandle releases a credential (FreeCredentialsHandle). It
// returns SEC_E_OK, also for a handle already freed, and
// SEC_E_INVALID_HANDLE for one this engine never issued. Security contexts
// made from the credential keep working until they are deleted.
func (e *Engine) FreeCredentialsHandle(cred secctx.CredHandle) status.Code {
	ce, st := e.creds.remove(uint64(cred))
	if ce == nil {
		return st
	}
	safeCredClose(ce.cred)
	return status.SEC_E_OK
}

// msgEnter starts a per-message call on h: refused with
// SEC_E_INVALID_HANDLE for an unknown or deleted handle and with StatusBusy
// while a handshake leg is pending on it.
func (e *Engine) msgEnter(h secctx.CtxtHandle) (*ctxEntry, status.Code) {
	ent, st := e.ctxs.get(uint64(h))
	if st != status.SEC_E_OK {
		return nil, st
	}
	ent.mu.Lock()
	defer ent.mu.Unlock()
	switch {
	case ent.deleted:
		return nil, status.SEC_E_INVALID_HANDLE
	case ent.busy:
		return nil, StatusBusy
	}
	ent.msgs++
	return ent, status.SEC_E_OK
}

func (e *Engine) msgLeave(ent *ctxEntry) {
	ent.mu.Lock()
	ent.msgs--
	closeNow := ent.closeIfIdleLocked()
	ent.mu.Unlock()
	if closeNow {
		safeClose(ent.sc)
	}
}

// recoverCode turns a panic in a per-message call into SEC_E_INTERNAL_ERROR.
func recoverCode(st *status.Code) {
	if recover() != nil {
		*st = status.SEC_E_INTERNAL_ERROR
	}
}

// MakeSignature signs msg with the context h names (MakeSignature). The
// call runs on the caller's goroutine, directly in the mechanism.
func (e *Engine) MakeSignature(h secctx.CtxtHandle, qop uint32, msg []secctx.Buffer, seq uint32) (st status.Code) {
	ent, st := e.msgEnter(h)
	if ent == nil {
		return st
	}
	defer e.msgLeave(ent)
	defer recoverCode(&st)
	return ent.sc.MakeSignature(qop, msg, seq)
}

// VerifySignature checks a signature (VerifySignature).
func (e *Engine) VerifySignature(h secctx.CtxtHandle, msg []secctx.Buffer, seq uint32) (qop uint32, st status.Code) {
	ent, st := e.msgEnter(h)
	if ent == nil {
		return 0, st
	}
	defer e.msgLeave(ent)
	defer recoverCode(&st)
	return ent.sc.VerifySignature(msg, seq)
}

// EncryptMessage seals msg in place (EncryptMessage).
func (e *Engine) EncryptMessage(h secctx.CtxtHandle, qop uint32, msg []secctx.Buffer, seq uint32) (st status.Code) {
	ent, st := e.msgEnter(h)
	if ent == nil {
		return st
	}
	defer e.msgLeave(ent)
	defer recoverCode(&st)
	return ent.sc.EncryptMessage(qop, msg, seq)
}

// DecryptMessage unseals msg in place (DecryptMessage).
func (e *Engine) DecryptMessage(h secctx.CtxtHandle, msg []secctx.Buffer, seq uint32) (qop uint32, st status.Code) {
	ent, st := e.msgEnter(h)
	if ent == nil {
		return 0, st
	}
	defer e.msgLeave(ent)
	defer recoverCode(&st)
	return ent.sc.DecryptMessage(msg, seq)
}

// QueryContextAttributes returns an attribute of the context h names
// (QueryContextAttributes): secctx.Sizes, secctx.Names, secctx.Flags ... as
// mechs.SecurityContext.QueryAttribute documents. It may be called at any
// time, also while a leg is pending.
func (e *Engine) QueryContextAttributes(h secctx.CtxtHandle, attr secctx.Attribute) (v any, st status.Code) {
	ent, st := e.ctxs.get(uint64(h))
	if st != status.SEC_E_OK {
		return nil, st
	}
	ent.mu.Lock()
	deleted := ent.deleted
	ent.mu.Unlock()
	if deleted {
		return nil, status.SEC_E_INVALID_HANDLE
	}
	defer recoverCode(&st)
	return ent.sc.QueryAttribute(attr)
}

// Packages returns the engine's security packages
// (EnumerateSecurityPackages).
func (e *Engine) Packages() []mechs.Package { return e.set.Packages() }
