package async

// What handles name: credentials and security contexts, how they are made,
// used by legs, deleted and closed.
//
// Rule: one leg at a time per security context. A leg (asynchronous or
// synchronous) claims its context's entry before it is queued or run, and
// a second leg, or a per-message call, while one is pending is refused with
// StatusBusy; a per-message call in progress refuses a leg the same way.
// The mechanism's context is closed exactly once, by whichever goroutine
// last stops using it after it was deleted, so Close never runs
// concurrently with Step or a per-message call.
//
// Rule: an input SECBUFFER_TOKEN longer than the package's cbMaxToken is
// refused with SEC_E_INVALID_TOKEN when the call's handles are resolved,
// before the input is parsed, copied, queued or seen by the package
// (lookupHandshake).

import (
	"context"
	"errors"
	"sync"

	secctx "github.com/asyncsspi/asyncsspi/context"
	"github.com/asyncsspi/asyncsspi/mechs"
	"github.com/asyncsspi/asyncsspi/status"
)

// credEntry is what a CredHandle names.
type credEntry struct {
	pkg      mechs.Package
	cred     mechs.Credential
	maxToken int // the package's cbMaxToken (Info().MaxToken)
}

// ctxEntry is what a CtxtHandle names.
type ctxEntry struct {
	h         secctx.CtxtHandle
	pkg       string
	initiator bool
	sc        mechs.SecurityContext
	maxToken  int // as its credential's

	// mu guards the rest. Lock order: never hold mu while taking an
	// AsyncContext's mu.
	mu         sync.Mutex
	busy       bool               // a leg, async or sync, is pending
	leg        *AsyncContext      // the pending async leg
	legSeq     uint64             // its number, so an abort cannot hit a later leg
	syncCancel context.CancelFunc // cancels a synchronous leg's I/O
	msgs       int                // per-message calls in progress
	deleted    bool
	closed     bool
}

// closeIfIdleLocked reports whether the caller must now Close the
// mechanism's context: it is deleted and nobody is using it. The caller
// holds mu.
func (c *ctxEntry) closeIfIdleLocked() bool {
	if c.deleted && !c.busy && c.msgs == 0 && !c.closed {
		c.closed = true
		return true
	}
	return false
}

// claim marks ent busy with a leg (ac, seq), or with a synchronous leg
// when ac is nil.
func (c *ctxEntry) claim(ac *AsyncContext, seq uint64) status.Code {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.deleted:
		return status.SEC_E_INVALID_HANDLE
	case c.busy || c.msgs > 0:
		return StatusBusy
	}
	c.busy, c.leg, c.legSeq = true, ac, seq
	return status.SEC_E_OK
}

// releaseEntry ends a leg's hold on ent and reports whether ent was deleted
// meanwhile. It closes the mechanism's context if it was.
func (e *Engine) releaseEntry(ent *ctxEntry) (deleted bool) {
	ent.mu.Lock()
	ent.busy, ent.leg, ent.syncCancel = false, nil, nil
	deleted = ent.deleted
	closeNow := ent.closeIfIdleLocked()
	ent.mu.Unlock()
	if closeNow {
		closeContext(ent.pkg, ent.sc)
	}
	return deleted
}

// lookupHandshake resolves the handles of an Initialize or Accept call: the
// security context of a later leg, or the credential of a first leg. Then,
// before anything reads input, it refuses with SEC_E_INVALID_TOKEN a
// SECBUFFER_TOKEN longer than the package's cbMaxToken (Info().MaxToken;
// none is checked for a package that declares 0), so that no oversized
// token is parsed, copied or queued.
func (e *Engine) lookupHandshake(initiator bool, cred secctx.CredHandle, h secctx.CtxtHandle, input []secctx.Buffer) (*ctxEntry, *credEntry, status.Code) {
	var (
		ent      *ctxEntry
		ce       *credEntry
		st       status.Code
		maxToken int
	)
	if h != 0 {
		if ent, st = e.ctxs.get(uint64(h)); st != status.SEC_E_OK {
			return nil, nil, st
		}
		if ent.initiator != initiator {
			return nil, nil, status.SEC_E_INVALID_HANDLE
		}
		maxToken = ent.maxToken
	} else {
		if ce, st = e.creds.get(uint64(cred)); st != status.SEC_E_OK {
			return nil, nil, st
		}
		maxToken = ce.maxToken
	}
	if maxToken > 0 {
		for i := range input {
			if input[i].Type.Base() == secctx.SECBUFFER_TOKEN && len(input[i].Data) > maxToken {
				return nil, nil, status.SEC_E_INVALID_TOKEN
			}
		}
	}
	return ent, ce, status.SEC_E_OK
}

// newSecurityContext starts a first leg's context from its credential.
func newSecurityContext(initiator bool, ce *credEntry, target string, isc secctx.ISCReq, asc secctx.ASCReq) (mechs.SecurityContext, mechs.StepResult) {
	var (
		sc  mechs.SecurityContext
		err error
	)
	perr := callPackage(ce.pkg.Name(), func() {
		if initiator {
			sc, err = ce.cred.NewInitiator(mechs.InitiatorParams{Target: target, Req: isc})
		} else {
			sc, err = ce.cred.NewAcceptor(mechs.AcceptorParams{Req: asc})
		}
	})
	switch {
	case perr != nil:
		return nil, failure(perr)
	case err == nil && sc == nil:
		err = errors.New("security package returned no context")
		fallthrough
	case err != nil:
		return nil, mechs.StepResult{Status: status.CodeOf(err), Err: err}
	}
	return sc, mechs.StepResult{}
}

// settle decides what a finished Initialize or Accept leg leaves behind: for
// a later leg (on ent) it releases the security context (and reports the
// leg as StatusContextDeleted if the context was deleted meanwhile); for a
// first leg (from ce) that succeeded it issues the new handle, and for one
// that failed it closes the mechanism's context. It returns the handle to
// report.
func (e *Engine) settle(initiator bool, ent *ctxEntry, ce *credEntry, sc mechs.SecurityContext, r *mechs.StepResult) secctx.CtxtHandle {
	if ent != nil {
		if e.releaseEntry(ent) {
			*r = engineResult(StatusContextDeleted, ErrContextDeleted)
			return 0
		}
		return ent.h
	}
	if sc == nil {
		return 0
	}
	pkg := ce.pkg.Name()
	if r.Status.IsError() {
		closeContext(pkg, sc)
		return 0
	}
	ne := &ctxEntry{pkg: pkg, initiator: initiator, sc: sc, maxToken: ce.maxToken}
	ne.h = secctx.CtxtHandle(e.ctxs.add(ne))
	return ne.h
}

// acquire is AcquireCredentialsHandle's body, shared by both forms.
func (e *Engine) acquire(principal, pkg string, use secctx.CredentialUse, authData any) (secctx.CredHandle, mechs.StepResult) {
	p, err := e.set.Lookup(pkg)
	if err != nil {
		return 0, mechs.StepResult{Status: status.CodeOf(err), Err: err}
	}
	var (
		cred mechs.Credential
		info secctx.PackageInfo
	)
	if perr := callPackage(p.Name(), func() {
		info = p.Info()
		cred, err = p.AcquireCredentials(mechs.CredentialRequest{Principal: principal, Use: use, AuthData: authData})
	}); perr != nil {
		return 0, failure(perr)
	}
	if err != nil || cred == nil {
		if err == nil {
			err = status.Errorf(status.SEC_E_INTERNAL_ERROR, p.Name(), "security package returned no credential")
		}
		return 0, mechs.StepResult{Status: status.CodeOf(err), Err: err}
	}
	h := secctx.CredHandle(e.creds.add(&credEntry{pkg: p, cred: cred, maxToken: int(info.MaxToken)}))
	return h, mechs.StepResult{Status: status.SEC_E_OK, Expiry: cred.Expiry()}
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
		closeContext(ent.pkg, ent.sc)
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
	closeCredential(ce.pkg.Name(), ce.cred)
	return status.SEC_E_OK
}
