package async

// Per-message calls (MakeSignature, VerifySignature, EncryptMessage,
// DecryptMessage) and QueryContextAttributes. They run on the caller's
// goroutine, directly in the mechanism, through one shape: perMessage
// resolves the handle, holds the context against deletion and against a
// handshake leg (contexts.go's rule), and calls the mechanism through
// callPackage.

import (
	secctx "github.com/asyncsspi/asyncsspi/context"
	"github.com/asyncsspi/asyncsspi/mechs"
	"github.com/asyncsspi/asyncsspi/status"
)

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
		closeContext(ent.pkg, ent.sc)
	}
}

// perMessage runs call, one per-message call, on the context h names.
func (e *Engine) perMessage(h secctx.CtxtHandle, call func(mechs.SecurityContext) (uint32, status.Code)) (qop uint32, st status.Code) {
	ent, st := e.msgEnter(h)
	if ent == nil {
		return 0, st
	}
	defer e.msgLeave(ent)
	if perr := callPackage(ent.pkg, func() { qop, st = call(ent.sc) }); perr != nil {
		return 0, perr.Code
	}
	return qop, st
}

// MakeSignature signs msg with the context h names (MakeSignature).
func (e *Engine) MakeSignature(h secctx.CtxtHandle, qop uint32, msg []secctx.Buffer, seq uint32) status.Code {
	_, st := e.perMessage(h, func(sc mechs.SecurityContext) (uint32, status.Code) {
		return 0, sc.MakeSignature(qop, msg, seq)
	})
	return st
}

// VerifySignature checks a signature (VerifySignature).
func (e *Engine) VerifySignature(h secctx.CtxtHandle, msg []secctx.Buffer, seq uint32) (qop uint32, st status.Code) {
	return e.perMessage(h, func(sc mechs.SecurityContext) (uint32, status.Code) {
		return sc.VerifySignature(msg, seq)
	})
}

// EncryptMessage seals msg in place (EncryptMessage).
func (e *Engine) EncryptMessage(h secctx.CtxtHandle, qop uint32, msg []secctx.Buffer, seq uint32) status.Code {
	_, st := e.perMessage(h, func(sc mechs.SecurityContext) (uint32, status.Code) {
		return 0, sc.EncryptMessage(qop, msg, seq)
	})
	return st
}

// DecryptMessage unseals msg in place (DecryptMessage).
func (e *Engine) DecryptMessage(h secctx.CtxtHandle, msg []secctx.Buffer, seq uint32) (qop uint32, st status.Code) {
	return e.perMessage(h, func(sc mechs.SecurityContext) (uint32, status.Code) {
		return sc.DecryptMessage(msg, seq)
	})
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
	if perr := callPackage(ent.pkg, func() { v, st = ent.sc.QueryAttribute(attr) }); perr != nil {
		return nil, perr.Code
	}
	return v, st
}
