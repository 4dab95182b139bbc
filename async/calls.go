package async

// The Sspi*Async call family: each call checks its arguments, resolves its
// handles, admits and claims its async context (begin), fills in the leg
// and queues it (submit). The return value is the queuing status only; the
// result arrives in the async context.

import (
	secctx "github.com/asyncsspi/asyncsspi/context"
	"github.com/asyncsspi/asyncsspi/mechs"
	"github.com/asyncsspi/asyncsspi/status"
)

// buildInput turns pInput into a step's input. It keeps input, which the
// caller must leave unchanged until the leg completes, as on Windows.
func buildInput(input []secctx.Buffer) (mechs.StepInput, status.Code) {
	in := mechs.StepInput{Token: secctx.Token(input), Buffers: input}
	if i := secctx.Find(input, secctx.SECBUFFER_CHANNEL_BINDINGS); i >= 0 {
		b, err := secctx.ParseChannelBindings(input[i].Data)
		if err != nil {
			return in, StatusBadArgument
		}
		in.Bindings = b
	}
	return in, status.SEC_E_OK
}

// queueHandshake is the common part of the asynchronous Initialize and
// Accept calls.
func (e *Engine) queueHandshake(ac *AsyncContext, kind legKind, cred secctx.CredHandle, h secctx.CtxtHandle,
	input []secctx.Buffer, target string, isc secctx.ISCReq, asc secctx.ASCReq) status.Code {
	if e.closing() {
		return StatusClosed // before the handle lookups: Close empties the tables
	}
	ent, ce, st := e.lookupHandshake(kind == legInit, cred, h, input)
	if st != status.SEC_E_OK {
		return st
	}
	in, st := buildInput(input)
	if st != status.SEC_E_OK {
		return st
	}
	seq, st := e.begin(ac)
	if st != status.SEC_E_OK {
		return st
	}
	if ent != nil {
		if st := ent.claim(ac, seq); st != status.SEC_E_OK {
			e.abandon(ac, false)
			return st
		}
		ac.pkgName = ent.pkg
	} else {
		ac.pkgName = ce.pkg.Name()
	}
	ac.kind, ac.ent, ac.cred, ac.in = kind, ent, ce, in
	ac.target, ac.iscReq, ac.ascReq = target, isc, asc
	return e.submit(ac)
}

// AcquireCredentialsHandleAsync queues AcquireCredentialsHandle
// (SspiAcquireCredentialsHandleAsync). The result is ac.CredHandle and
// ac.Expiry; a package not in the engine's Set completes with
// SEC_E_SECPKG_NOT_FOUND. The return value is the queuing status only.
func (e *Engine) AcquireCredentialsHandleAsync(ac *AsyncContext, principal, pkg string, use secctx.CredentialUse, authData any) status.Code {
	if _, st := e.begin(ac); st != status.SEC_E_OK {
		return st
	}
	ac.kind, ac.target, ac.pkgName, ac.use, ac.authData = legAcquire, principal, pkg, use, authData
	return e.submit(ac)
}

// InitializeSecurityContextAsync queues one client leg
// (SspiInitializeSecurityContextAsync). On the first leg pass h = 0 and a
// credential; later legs pass the handle from ac.ContextHandle (cred is then
// ignored) and the server's token in input. The result is in ac (Status,
// Token, ContextHandle, Flags, Expiry, Missing, Extra, Err). input must stay
// unchanged until the leg completes. The return value is the queuing status
// only: SEC_E_OK, StatusBusy, StatusQueueFull, StatusClosed,
// StatusBadArgument, SEC_E_INVALID_HANDLE, or SEC_E_INVALID_TOKEN for an
// input token longer than the package's cbMaxToken.
func (e *Engine) InitializeSecurityContextAsync(ac *AsyncContext, cred secctx.CredHandle, h secctx.CtxtHandle, target string, req secctx.ISCReq, input []secctx.Buffer) status.Code {
	return e.queueHandshake(ac, legInit, cred, h, input, target, req, 0)
}

// AcceptSecurityContextAsync queues one server leg
// (SspiAcceptSecurityContextAsync); otherwise as
// InitializeSecurityContextAsync.
func (e *Engine) AcceptSecurityContextAsync(ac *AsyncContext, cred secctx.CredHandle, h secctx.CtxtHandle, input []secctx.Buffer, req secctx.ASCReq) status.Code {
	return e.queueHandshake(ac, legAccept, cred, h, input, "", 0, req)
}

// DeleteSecurityContextAsync queues DeleteSecurityContext
// (SspiDeleteSecurityContextAsync). It completes with SEC_E_OK (also for a
// handle already deleted) or SEC_E_INVALID_HANDLE. A notify callback is
// optional, as on Windows for this call only.
func (e *Engine) DeleteSecurityContextAsync(ac *AsyncContext, h secctx.CtxtHandle) status.Code {
	if _, st := e.begin(ac); st != status.SEC_E_OK {
		return st
	}
	ac.kind, ac.delH = legDelete, h
	return e.submit(ac)
}

// FreeCredentialsHandleAsync queues FreeCredentialsHandle
// (SspiFreeCredentialsHandleAsync). It completes with SEC_E_OK (also for a
// handle already freed) or SEC_E_INVALID_HANDLE.
func (e *Engine) FreeCredentialsHandleAsync(ac *AsyncContext, cred secctx.CredHandle) status.Code {
	if _, st := e.begin(ac); st != status.SEC_E_OK {
		return st
	}
	ac.kind, ac.freeH = legFree, cred
	return e.submit(ac)
}
