package negotiate

import (
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	secctx "github.com/asyncsspi/asyncsspi/context"
	"github.com/asyncsspi/asyncsspi/mechs"
	"github.com/asyncsspi/asyncsspi/status"
)

// negContext is what the initiator and the acceptor share: the chosen
// sub-context, the handshake's own state, what QueryAttribute reports,
// and the per-message calls, which go to the sub-context once the
// handshake is complete.
//
// Locking: Step is never concurrent with itself (the engine's rule), so
// the Step-only state of initiator and acceptor needs no lock. mu guards
// the fields QueryAttribute and Close read or change while a Step may run
// (sub, chosen, state, closed); Step takes it only to change them. closed
// is also atomic, so that Step's entry check needs no lock. The
// established sub-context is published with an atomic pointer when the
// handshake completes: the per-message calls load it without a lock, and
// the store happens before the Step that completed returns, so before the
// caller can call them.
type negContext struct {
	cred *Credential
	// role is the initiator or acceptor this negContext is part of, for
	// what the two do differently; accepting (below) says which.
	role role

	// active is the current sub-context as Step sees it: written and
	// read by Step only (setSub, dropSub), so read without the lock.
	active mechs.SecurityContext

	mu     sync.Mutex
	sub    mechs.SecurityContext // the current sub-context, nil before one is made
	chosen *subPackage           // its package

	established atomic.Pointer[established]
	firstEst    established // the slot the first completion publishes

	// The handshake, Step-owned (resetHandshake starts it afresh).
	cur    *subCred  // sub-credential of the current sub-context
	list   []byte    // the DER MechTypeList the mechListMICs cover, as the initiator sent it
	flags  uint64    // the sub-context's latest ISC_RET_* or ASC_RET_* flags
	expiry time.Time // and expiry

	// Step-owned scratch, reused leg after leg; micBuf is lent by the
	// package for the Step that makes or checks a mechListMIC.
	subIn  mechs.StepInput
	micBuf *micScratch
	// rare holds what only some exchanges need (I/O, extra buffers), made
	// on first use so that the common context stays small.
	rare *rareState

	state secctx.NegotiationState // guarded by mu
	// closed is written under mu (by Close) and read under it by setSub;
	// Step's entry check reads it without the lock.
	closed atomic.Bool

	// Small Step-owned fields, kept together so that the context stays
	// in a small size class.
	accepting bool // role is an *acceptor
	// hideExtErr: the sub-contexts were asked for ASC_REQ_EXTENDED_ERROR
	// and the caller was not, so ASC_RET_EXTENDED_ERROR is not reported.
	hideExtErr bool
	subDone    bool // the sub-context returned SEC_E_OK
	answered   bool // the acceptor's first NegTokenResp (with supportedMech) was sent
	failed     bool // the exchange failed: every later Step gives SEC_E_INVALID_HANDLE
	// unwrapped: the sub-package's own tokens travel unwrapped (an
	// acceptor answering a raw NTLMSSP or krb5 token), so its sub-steps
	// are asked for no room.
	unwrapped bool
	mic       micExchange
	// oidIdx picks the chosen mechanism's OID among cur's (the acceptor
	// names it in supportedMech).
	oidIdx uint8
	// spare is the room in front of the last sub-step's token.
	spare uint16
}

// role is what initiator and acceptor each do their own way.
type role interface {
	// step runs a leg once Step has found the context usable and no
	// sub-step waiting on I/O.
	step(in *mechs.StepInput) mechs.StepResult
	// finish runs once the sub-context is complete: the rest of the
	// mechListMIC exchange and the decision whether the exchange is over.
	// mechTok is the sub-context's final token, if it produced one now;
	// fromMech says the peer's token carried the last mechanism token.
	finish(mechTok subToken, micIn []byte, fromMech bool) mechs.StepResult
}

// init makes c the negContext of r, an initiator or acceptor over cred.
func (c *negContext) init(cred *Credential, r role, accepting bool) {
	c.cred, c.role, c.accepting = cred, r, accepting
	c.state = secctx.SECPKG_NEGOTIATION_IN_PROGRESS
}

// resetHandshake forgets the handshake's state, for a new exchange on the
// same context (a re-authentication).
func (c *negContext) resetHandshake() {
	c.cur, c.oidIdx, c.list = nil, 0, nil
	c.subDone, c.answered, c.flags, c.expiry = false, false, 0, time.Time{}
	c.mic.reset()
	c.unwrapped = false
}

// chosenOID is the content octets of the chosen mechanism's OID, nil
// before there is one.
func (c *negContext) chosenOID() []byte {
	if c.cur == nil {
		return nil
	}
	return c.cur.sub.oidDER[c.oidIdx]
}

// limit is the package's maximum token size: no token of a conforming
// peer is longer, so a longer one, or a DER length that says one would
// be, is SEC_E_INVALID_TOKEN (never SEC_E_INCOMPLETE_MESSAGE asking the
// caller for bytes no peer could send).
func (c *negContext) limit() int { return int(c.cred.pkg.info.MaxToken) }

// checkLimit refuses a token longer than the maximum token size, for the
// tokens Negotiate passes on without parsing (an unwrapped sub-token).
func (c *negContext) checkLimit(tok []byte) error {
	if len(tok) > c.limit() {
		return invalid("token larger than the maximum token size (" + strconv.Itoa(c.limit()) + ")")
	}
	return nil
}

// peer names the other side in messages.
func (c *negContext) peer() string {
	if c.accepting {
		return "initiator"
	}
	return "acceptor"
}

// rareState is negContext's Step-owned state for the less common paths.
type rareState struct {
	// subBufs is the scratch for a sub-step's buffers when the caller
	// passed more than the token.
	subBufs []secctx.Buffer
	// ioWait, when set, is how Step goes on once the sub-context's I/O
	// request is answered: the next Step hands IOReply/IOErr to the same
	// sub-context with ioToken, the token that sub-step was given.
	ioWait  func(in *mechs.StepInput, res mechs.StepResult) mechs.StepResult
	ioToken []byte
}

func (c *negContext) rareState() *rareState {
	if c.rare == nil {
		c.rare = new(rareState)
	}
	return c.rare
}

// dropIOWait forgets a parked sub-step, if any.
func (c *negContext) dropIOWait() {
	if c.rare != nil {
		c.rare.ioWait = nil
	}
}

// ioToken is the token of the parked sub-step.
func (c *negContext) ioToken() []byte { return c.rare.ioToken }

// awaitIO parks the exchange on a sub-context's I/O request (res.IO) and
// passes the request up; then runs with the sub-step's outcome on the Step
// that brings the I/O's answer.
func (c *negContext) awaitIO(res mechs.StepResult, token []byte, then func(in *mechs.StepInput, res mechs.StepResult) mechs.StepResult) mechs.StepResult {
	r := c.rareState()
	r.ioToken = append([]byte(nil), token...)
	r.ioWait = then
	return mechs.StepResult{IO: res.IO}
}

// Step runs one leg, initiator's or acceptor's: a deleted or failed
// context refuses it, an exchange parked on a sub-context's I/O resumes,
// and anything else is the role's.
func (c *negContext) Step(in *mechs.StepInput) mechs.StepResult {
	switch {
	case c.closed.Load():
		return failf(status.SEC_E_INVALID_HANDLE, "context deleted")
	case c.failed:
		return failf(status.SEC_E_INVALID_HANDLE, "context failed")
	}
	if r, ok := c.resumeIO(in); ok {
		return r
	}
	return c.role.step(in)
}

// resumeIO runs the parked sub-step with the I/O's answer, if the exchange
// is parked.
func (c *negContext) resumeIO(in *mechs.StepInput) (mechs.StepResult, bool) {
	if c.rare == nil || c.rare.ioWait == nil {
		return mechs.StepResult{}, false
	}
	then := c.rare.ioWait
	c.rare.ioWait = nil
	return then(in, c.stepSub(c.active, c.subInput(in, c.rare.ioToken))), true
}

// stepSub runs one Step of a sub-context. A sub-context that can leave
// room in front of its token (mechs.RoomStepper) is asked for what
// Negotiate's framing needs, so that subTokenOf can frame it in place.
// Flags the caller did not ask for (hideExtErr) are not reported.
func (c *negContext) stepSub(sub mechs.SecurityContext, in *mechs.StepInput) (r mechs.StepResult) {
	c.spare = 0
	if c.hideExtErr {
		defer func() { r.Flags &^= uint64(secctx.ASC_RET_EXTENDED_ERROR) }()
	}
	if rs, ok := sub.(mechs.RoomStepper); ok && !c.unwrapped && c.cred.room > 0 {
		res, spare := rs.StepWithRoom(in, c.cred.room)
		if spare > 0 && spare <= min(len(res.Token), mechs.MaxRoom) {
			c.spare = uint16(spare)
		} else if spare != 0 {
			// Room that cannot be: the package broke its contract.
			return failf(status.SEC_E_INTERNAL_ERROR, "sub-package reported more room than its token holds")
		}
		return res
	}
	return sub.Step(in)
}

// subTokenOf takes r, the last sub-step's result, with the room its
// package left in front of the token.
func (c *negContext) subTokenOf(r *mechs.StepResult) subToken {
	return subToken{buf: r.Token, room: int(c.spare)}
}

type established struct {
	ctx mechs.SecurityContext
	pkg *subPackage
}

// setSub installs a new current sub-context, closing the one it replaces
// unless that one is the established context (a re-authentication keeps
// serving messages with the old context until the new one completes). It
// reports false, closing ctx, when the context was closed meanwhile.
func (c *negContext) setSub(ctx mechs.SecurityContext, pkg *subPackage, state secctx.NegotiationState) bool {
	c.mu.Lock()
	if c.closed.Load() {
		c.mu.Unlock()
		if ctx != nil {
			ctx.Close()
		}
		return false
	}
	old := c.sub
	c.sub, c.chosen, c.state = ctx, pkg, state
	c.mu.Unlock()
	c.active = ctx
	if old != nil && old != ctx && !c.isEstablished(old) {
		old.Close()
	}
	return true
}

// adopt makes ctx, just made from sc (err: why it could not be), the
// current sub-context.
func (c *negContext) adopt(sc *subCred, state secctx.NegotiationState, ctx mechs.SecurityContext, err error) (mechs.SecurityContext, error) {
	if err != nil {
		return nil, err
	}
	if !c.setSub(ctx, sc.sub, state) {
		return nil, status.Errorf(status.SEC_E_INVALID_HANDLE, pkgName, "context deleted")
	}
	c.cur = sc
	return ctx, nil
}

func (c *negContext) isEstablished(ctx mechs.SecurityContext) bool {
	e := c.established.Load()
	return e != nil && e.ctx == ctx
}

func (c *negContext) setState(s secctx.NegotiationState) {
	c.mu.Lock()
	c.state = s
	c.mu.Unlock()
}

// complete publishes the current sub-context for the per-message calls.
func (c *negContext) complete() {
	c.mu.Lock()
	c.state = secctx.SECPKG_NEGOTIATION_COMPLETE
	// The first completion publishes the context's own slot; a
	// re-authentication publishes a new one, so that a published value is
	// never written again.
	e := &c.firstEst
	if c.established.Load() != nil {
		e = &established{}
	}
	e.ctx, e.pkg = c.sub, c.chosen
	c.mu.Unlock()
	if old := c.established.Swap(e); old != nil && old.ctx != e.ctx {
		old.ctx.Close()
	}
}

// dropSub closes the current sub-context (a failed or discarded one).
func (c *negContext) dropSub() {
	c.mu.Lock()
	old := c.sub
	c.sub, c.chosen = nil, nil
	c.mu.Unlock()
	c.active = nil
	if old != nil && !c.isEstablished(old) {
		old.Close()
	}
}

func (c *negContext) current() (mechs.SecurityContext, *subPackage, secctx.NegotiationState) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sub, c.chosen, c.state
}

// QueryAttribute answers SECPKG_ATTR_NEGOTIATION_INFO (the chosen package,
// "Kerberos" or "NTLM", and the negotiation state, also while the
// handshake is in progress) and SECPKG_ATTR_PACKAGE_INFO (the package in
// use, Negotiate's own info before one is chosen); every other attribute
// comes from the sub-context (SEC_E_UNSUPPORTED_FUNCTION before there is
// one).
func (c *negContext) QueryAttribute(attr secctx.Attribute) (any, status.Code) {
	sub, pkg, state := c.current()
	if e := c.established.Load(); e != nil && (sub == nil || state == secctx.SECPKG_NEGOTIATION_COMPLETE) {
		sub, pkg = e.ctx, e.pkg
	}
	switch attr {
	case secctx.SECPKG_ATTR_NEGOTIATION_INFO:
		info := c.cred.pkg.info
		if pkg != nil {
			info = pkg.pkg.Info()
		}
		return secctx.NegotiationInfo{Package: info, State: state}, status.SEC_E_OK
	case secctx.SECPKG_ATTR_PACKAGE_INFO:
		if pkg != nil {
			return pkg.pkg.Info(), status.SEC_E_OK
		}
		return c.cred.pkg.info, status.SEC_E_OK
	}
	if sub == nil {
		return nil, status.SEC_E_UNSUPPORTED_FUNCTION
	}
	return sub.QueryAttribute(attr)
}

// Close deletes the context and every sub-context it holds.
func (c *negContext) Close() {
	c.mu.Lock()
	if c.closed.Load() {
		c.mu.Unlock()
		return
	}
	c.closed.Store(true)
	sub := c.sub
	c.sub = nil
	c.mu.Unlock()
	e := c.established.Load()
	if sub != nil && (e == nil || e.ctx != sub) {
		sub.Close()
	}
	if e != nil {
		e.ctx.Close()
	}
}

// subInput builds a sub-context's StepInput in the context's own scratch
// (Step-owned; the sub-context must not keep it): its token, the caller's
// channel bindings and I/O outcome, and the caller's buffers with the
// TOKEN buffer's data replaced by the sub-token.
func (c *negContext) subInput(in *mechs.StepInput, token []byte) *mechs.StepInput {
	c.subIn = mechs.StepInput{Token: token, Bindings: in.Bindings, IOReply: in.IOReply, IOErr: in.IOErr}
	if onlyTokens(in.Buffers) {
		// Nothing but the token, which the sub-context gets as Token.
		return &c.subIn
	}
	if len(in.Buffers) > 0 {
		r := c.rareState()
		r.subBufs = append(r.subBufs[:0], in.Buffers...)
		if i := secctx.Find(r.subBufs, secctx.SECBUFFER_TOKEN); i >= 0 {
			r.subBufs[i].Data = token
		}
		c.subIn.Buffers = r.subBufs
	}
	return &c.subIn
}

func onlyTokens(bufs []secctx.Buffer) bool {
	for i := range bufs {
		if t := bufs[i].Type.Base(); t != secctx.SECBUFFER_TOKEN && t != secctx.SECBUFFER_EMPTY {
			return false
		}
	}
	return true
}

// canFallBack reports whether a sub-package's failure to start means it
// cannot serve this target, so that Negotiate tries the next one (Windows
// falls back from Kerberos to NTLM for a target that is no SPN, an
// unreachable KDC, or an SPN the KDC does not know). Other failures (a
// wrong password, clock skew) end the exchange.
func canFallBack(code status.Code) bool {
	switch code {
	case status.SEC_E_TARGET_UNKNOWN,
		status.SEC_E_NO_AUTHENTICATING_AUTHORITY,
		status.SEC_E_KDC_UNABLE_TO_REFER,
		status.SEC_E_NO_CREDENTIALS,
		status.SEC_E_UNKNOWN_CREDENTIALS,
		status.SEC_E_SECPKG_NOT_FOUND,
		status.SEC_E_UNSUPPORTED_FUNCTION:
		return true
	}
	return false
}

// failResult turns an error into a failed leg, keeping its code.
func failResult(err error) mechs.StepResult {
	code := status.CodeOf(err)
	return mechs.StepResult{Status: code, Err: err, Missing: Missing(err)}
}

func failf(code status.Code, msg string) mechs.StepResult {
	return failResult(status.Errorf(code, pkgName, msg))
}
