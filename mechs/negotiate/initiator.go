package negotiate

import (
	"time"

	secctx "github.com/asyncsspi/asyncsspi/context"
	"github.com/asyncsspi/asyncsspi/mechs"
	"github.com/asyncsspi/asyncsspi/status"
)

// initiator is the client side (InitializeSecurityContext (Negotiate)).
//
// Legs, in protocol order:
//
//	start      first Step: try the sub-packages in preference order until
//	           one produces a first token (falling back past those that
//	           cannot serve the target), then send the framed NegTokenInit
//	           with the mechanism list and that optimistic token.
//	firstReply the acceptor's first NegTokenResp names the mechanism; a
//	           counter-proposal restarts with that one.
//	mech       NegTokenResp legs carry the sub-tokens until the
//	           sub-context completes.
//	mic        the mechListMIC exchange, when required.
//	done       SEC_E_OK; a Step with no token re-authenticates.
type initiator struct {
	negContext
	params mechs.InitiatorParams
	subReq secctx.ISCReq

	// Everything below is owned by Step.
	phase    iphase
	cands    []*subCred  // allowed sub-credentials, preference order (read-only)
	off      *offer      // what was offered (the credential's full offer, or a smaller one)
	cur      *subCred    // sub-credential of the current sub-context
	curOID   []byte      // OID content octets of the current mechanism
	subDone  bool        // the sub-context returned SEC_E_OK
	flags    uint64      // the sub-context's latest ISC_RET_* flags
	expiry   time.Time   // and expiry
	acc      NegState    // the acceptor's latest negState
	mic      micExchange //
	firstErr error       // the most preferred sub-package's failure

}

type iphase uint8

const (
	iStart iphase = iota
	iFirstReply
	iMech
	iDone
	iFailed
)

func newInitiator(c *Credential, p mechs.InitiatorParams) *initiator {
	req := p.Req
	// Negotiate asks its sub-mechanism for integrity so that the
	// mechListMIC can be made (MIT's SPNEGO does the same), unless the
	// caller said ISC_REQ_NO_INTEGRITY.
	if req&secctx.ISC_REQ_NO_INTEGRITY == 0 {
		req |= secctx.ISC_REQ_INTEGRITY
	}
	return &initiator{
		negContext: negContext{cred: c, state: secctx.SECPKG_NEGOTIATION_IN_PROGRESS},
		params:     p,
		subReq:     req,
	}
}

// Step runs one InitializeSecurityContext (Negotiate) leg.
func (c *initiator) Step(in *mechs.StepInput) mechs.StepResult {
	if r, ok := c.enter(in); ok {
		return r
	}
	switch c.phase {
	case iStart:
		return c.start(in)
	case iFirstReply, iMech:
		return c.reply(in)
	case iDone:
		if len(in.Token) == 0 {
			// Initialize again after success: re-authenticate.
			return c.start(in)
		}
		return c.afterDone(in)
	}
	return failf(status.SEC_E_INVALID_HANDLE, "context failed")
}

// fail ends the exchange.
func (c *initiator) fail(r mechs.StepResult) mechs.StepResult {
	c.phase = iFailed
	c.dropIOWait()
	c.dropSub()
	if r.Err == nil {
		r.Err = status.New(r.Status, pkgName, nil)
	}
	r.Token, r.IO = nil, nil
	return r
}

// tokenError reports a reply that does not parse. A truncated one leaves
// the context as it was, so the caller can retry with the whole token.
func (c *initiator) tokenError(err error) mechs.StepResult {
	if status.CodeOf(err) == status.SEC_E_INCOMPLETE_MESSAGE {
		return failResult(err)
	}
	return c.fail(failResult(err))
}

// start is the first leg (and the first leg of a re-authentication).
func (c *initiator) start(in *mechs.StepInput) mechs.StepResult {
	c.phase = iStart
	// cands and off may alias the credential's shared lists: never
	// appended to in place.
	c.off = nil
	c.cur, c.curOID = nil, nil
	c.subDone, c.flags, c.expiry = false, 0, time.Time{}
	c.acc = NegStateAbsent
	c.mic.reset()
	c.firstErr = nil
	// The credential's shared list; filtering below makes a new one.
	c.cands = c.cred.allCands
	if len(in.Token) > 0 {
		// An acceptor that speaks first sends NegTokenInit2 (MS-SPNG
		// 3.2.5.2): keep to the mechanisms it lists, when any is ours.
		hint, err := ParseNegTokenInit(in.Token)
		if err != nil {
			return c.tokenError(err)
		}
		var keep []*subCred
		for _, sc := range c.cands {
			if offersAny(hint.MechTypes, sc.sub.oids) {
				keep = append(keep, sc)
			}
		}
		if len(keep) > 0 {
			c.cands = keep
		}
	}
	return c.probe(in, 0)
}

func offersAny(list, oids []string) bool {
	for _, a := range list {
		for _, b := range oids {
			if a == b {
				return true
			}
		}
	}
	return false
}

// probe starts candidate i and, if it cannot serve the target, the next
// ones: the fallback inside the first leg, with no extra round trip.
func (c *initiator) probe(in *mechs.StepInput, i int) mechs.StepResult {
	for ; i < len(c.cands); i++ {
		sc := c.cands[i]
		ctx, err := sc.cred.NewInitiator(mechs.InitiatorParams{Target: c.params.Target, Req: c.subReq})
		if err != nil {
			if !c.skip(err) {
				return c.fail(failResult(err))
			}
			continue
		}
		if !c.setSub(ctx, sc.sub, secctx.SECPKG_NEGOTIATION_OPTIMISTIC) {
			return failf(status.SEC_E_INVALID_HANDLE, "context deleted")
		}
		c.cur = sc
		if r, done := c.probed(in, i, c.stepSub(ctx, c.subInput(in, nil))); done {
			return r
		}
	}
	if c.firstErr == nil {
		c.firstErr = status.Errorf(status.SEC_E_NO_CREDENTIALS, pkgName, "no sub-package can serve the target")
	}
	return c.fail(failResult(c.firstErr))
}

// skip records a candidate's failure; false when it must end the exchange.
func (c *initiator) skip(err error) bool {
	if c.firstErr == nil {
		c.firstErr = err
	}
	return canFallBack(status.CodeOf(err))
}

// probed handles candidate i's first sub-step. done is false when the
// candidate could not serve and the next one should be tried.
func (c *initiator) probed(in *mechs.StepInput, i int, res mechs.StepResult) (mechs.StepResult, bool) {
	if res.IO != nil {
		return c.awaitIO(res, nil, func(in *mechs.StepInput, res mechs.StepResult) mechs.StepResult {
			if r, done := c.probed(in, i, res); done {
				return r
			}
			return c.probe(in, i+1)
		}), true
	}
	if res.Status.IsError() {
		err := res.Err
		if err == nil {
			err = status.New(res.Status, c.cands[i].sub.name, nil)
		}
		c.dropSub()
		if !c.skip(err) {
			return c.fail(failResult(err)), true
		}
		return mechs.StepResult{}, false
	}
	if res.Status != status.SEC_E_OK && res.Status != status.SEC_I_CONTINUE_NEEDED {
		return c.fail(failf(status.SEC_E_INTERNAL_ERROR, "sub-package returned "+res.Status.String())), true
	}
	// Offer this candidate and every later one: those before it cannot
	// serve the target.
	if i == 0 && len(c.cands) == len(c.cred.subs) {
		c.off = &c.cred.full
	} else {
		off := new(offer)
		for _, sc := range c.cands[i:] {
			for _, o := range sc.sub.oids {
				off.oids = append(off.oids, o)
				off.subs = append(off.subs, sc)
			}
		}
		// The OIDs were validated by NewWithOptions: this cannot fail.
		off.list, _ = encodeMechTypeList(off.oids)
		c.off = off
	}
	c.curOID = c.cands[i].sub.oidDER[0]
	c.subDone = res.Status == status.SEC_E_OK
	c.flags, c.expiry = res.Flags, res.Expiry
	c.phase = iFirstReply
	var tok subToken
	if st := c.subTokenOf(&res); len(st.bytes()) > 0 {
		tok = st
	}
	return mechs.StepResult{
		Status: status.SEC_I_CONTINUE_NEEDED,
		Token:  frameInit(c.off.list, tok, nil, false, ""),
		Flags:  res.Flags,
		Expiry: res.Expiry,
	}, true
}

// reply handles a NegTokenResp from the acceptor.
func (c *initiator) reply(in *mechs.StepInput) mechs.StepResult {
	var resp NegTokenResp
	if err := parseNegTokenResp(in.Token, &resp); err != nil {
		return c.tokenError(err)
	}
	if resp.NegState == Reject {
		return c.rejected(in, &resp)
	}
	if c.phase == iFirstReply {
		c.phase = iMech
		idx := 0
		if resp.SupportedMech != "" {
			idx = -1
			for i, o := range c.off.oids {
				if o == resp.SupportedMech {
					idx = i
					break
				}
			}
			if idx < 0 {
				return c.fail(failf(status.SEC_E_INVALID_TOKEN, "acceptor chose mechanism "+resp.SupportedMech+", which was not offered"))
			}
		}
		sc := c.off.subs[idx]
		// RFC 4178 section 5: the MIC exchange is optional only when the
		// chosen mechanism is the initiator's first choice (the
		// Kerberos OIDs count as one mechanism, as MIT treats them) and
		// the acceptor did not ask for it.
		if sc != c.off.subs[0] || resp.NegState == RequestMIC {
			c.mic.required = true
		}
		// A counter-proposal: another package, or the same package
		// under another OID without a reply to our optimistic token
		// (an acceptor that knows only one of the Kerberos OIDs). The
		// same package under another OID with a reply (Samba names the
		// other Kerberos OID) goes on with the optimistic context.
		if sc != c.cur || (idx != 0 && resp.ResponseToken == nil && resp.NegState != AcceptCompleted) {
			return c.reselect(in, sc, idx, &resp)
		}
		c.curOID = oidDEROf(sc, c.off.oids[idx])
		// Out of the optimistic state; a leg that completes goes
		// straight to complete (one lock instead of two).
		r := c.mechReply(in, &resp)
		if r.IO != nil || r.Status != status.SEC_E_OK {
			c.setState(secctx.SECPKG_NEGOTIATION_IN_PROGRESS)
		}
		return r
	}
	return c.mechReply(in, &resp)
}

// mechReply handles a NegTokenResp once the mechanism is settled.
func (c *initiator) mechReply(in *mechs.StepInput, resp *NegTokenResp) mechs.StepResult {
	c.acc = resp.NegState
	if !c.subDone {
		if resp.ResponseToken == nil {
			return c.fail(failf(status.SEC_E_INVALID_TOKEN, "acceptor sent no mechanism token"))
		}
		sub := c.active
		return c.mechStepped(in, resp.MechListMIC, c.stepSub(sub, c.subInput(in, resp.ResponseToken)), resp.ResponseToken)
	}
	if len(resp.ResponseToken) > 0 {
		return c.fail(failf(status.SEC_E_INVALID_TOKEN, "acceptor sent a mechanism token after the mechanism completed"))
	}
	return c.finish(subToken{}, resp.MechListMIC)
}

// oidDEROf returns the DER content octets of oid, one of sc's OIDs.
func oidDEROf(sc *subCred, oid string) []byte {
	for i, o := range sc.sub.oids {
		if o == oid {
			return sc.sub.oidDER[i]
		}
	}
	return sc.sub.oidDER[0]
}

// oidDEROfContent returns sc's own copy of the OID content octets oid.
func oidDEROfContent(sc *subCred, oid []byte) []byte {
	for _, o := range sc.sub.oidDER {
		if string(o) == string(oid) {
			return o
		}
	}
	return sc.sub.oidDER[0]
}

// reselect follows the acceptor's counter-proposal: the optimistic
// sub-context is discarded and the chosen mechanism starts (RFC 4178
// section 3.2 step 4).
func (c *initiator) reselect(in *mechs.StepInput, sc *subCred, idx int, resp *NegTokenResp) mechs.StepResult {
	if len(resp.ResponseToken) > 0 || resp.MechListMIC != nil {
		return c.fail(failf(status.SEC_E_INVALID_TOKEN, "counter-proposal carries a mechanism token"))
	}
	c.acc = resp.NegState
	ctx, err := sc.cred.NewInitiator(mechs.InitiatorParams{Target: c.params.Target, Req: c.subReq})
	if err != nil {
		return c.fail(failResult(err))
	}
	if !c.setSub(ctx, sc.sub, secctx.SECPKG_NEGOTIATION_IN_PROGRESS) {
		return failf(status.SEC_E_INVALID_HANDLE, "context deleted")
	}
	c.cur, c.curOID, c.subDone = sc, oidDEROf(sc, c.off.oids[idx]), false
	return c.mechStepped(in, nil, c.stepSub(ctx, c.subInput(in, nil)), nil)
}

// mechStepped handles a sub-step's outcome in the mech phase.
func (c *initiator) mechStepped(in *mechs.StepInput, micIn []byte, res mechs.StepResult, token []byte) mechs.StepResult {
	if res.IO != nil {
		mic := cloneOrNil(micIn)
		return c.awaitIO(res, token, func(in *mechs.StepInput, res mechs.StepResult) mechs.StepResult {
			return c.mechStepped(in, mic, res, c.ioToken())
		})
	}
	if res.Status.IsError() {
		if res.Err == nil {
			res.Err = status.New(res.Status, c.cur.sub.name, nil)
		}
		return c.fail(res)
	}
	c.flags, c.expiry = res.Flags, res.Expiry
	switch res.Status {
	case status.SEC_I_CONTINUE_NEEDED:
		if micIn != nil {
			return c.fail(failf(status.SEC_E_INVALID_TOKEN, "mechListMIC before the mechanism completed"))
		}
		tok := c.subTokenOf(&res)
		if tok.buf == nil {
			tok = plainToken([]byte{})
		}
		return mechs.StepResult{
			Status: status.SEC_I_CONTINUE_NEEDED,
			Token:  frameResp(NegStateAbsent, nil, tok, nil),
			Flags:  res.Flags,
			Expiry: res.Expiry,
		}
	case status.SEC_E_OK:
		c.subDone = true
		return c.finish(c.subTokenOf(&res), micIn)
	}
	return c.fail(failf(status.SEC_E_INTERNAL_ERROR, "sub-package returned "+res.Status.String()))
}

func cloneOrNil(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append([]byte{}, b...)
}

// finish runs once the sub-context is complete: the mechListMIC exchange
// (RFC 4178 section 5) and the decision whether the exchange is over.
// mechTok is the sub-context's final token, if it produced one now.
func (c *initiator) finish(mechTok subToken, micIn []byte) mechs.StepResult {
	defer c.releaseMIC()
	sub := c.active
	integrity := c.flags&uint64(secctx.ISC_RET_INTEGRITY) != 0
	if mechWantsMIC(sub) {
		c.mic.required = true
	}
	sending := len(mechTok.bytes()) > 0
	if micIn != nil {
		if c.mic.received {
			return c.fail(failf(status.SEC_E_INVALID_TOKEN, "second mechListMIC"))
		}
		if err := c.verifyMechListMIC(sub, c.off.list, micIn); err != nil {
			return c.fail(failResult(err))
		}
		c.mic.received, c.mic.required = true, true
	} else if c.mic.required && integrity && !sending && !c.mic.received {
		// The acceptor sent the last token (its final mechanism token,
		// or its answer to our MIC) without the MIC it owes.
		return c.fail(failf(status.SEC_E_DOWNGRADE_DETECTED, "acceptor sent no mechListMIC although the negotiation requires one"))
	}
	var micOut []byte
	// Send a MIC when required, and also, when integrity allows, with
	// the final mechanism token we send (Windows and gss-ntlmssp under
	// MIT do so for NTLM; the acceptor then answers with its own).
	if integrity && !c.mic.sent && (c.mic.required || sending) {
		m, err := c.makeMechListMIC(sub, c.off.list)
		if err != nil {
			return c.fail(failResult(err))
		}
		micOut = m
		c.mic.sent, c.mic.required = true, true
	}
	var out []byte
	if sending || micOut != nil {
		var tok subToken
		if sending {
			tok = mechTok
		}
		out = frameResp(NegStateAbsent, nil, tok, micOut)
	}
	done := false
	switch {
	case c.mic.required && integrity:
		done = c.mic.sent && c.mic.received
	case c.acc == AcceptCompleted:
		done = true
	default:
		// No MIC exchange: done unless we still send the final
		// mechanism token, whose verdict the acceptor sends back.
		done = out == nil
	}
	if !done {
		return mechs.StepResult{Status: status.SEC_I_CONTINUE_NEEDED, Token: out, Flags: c.flags, Expiry: c.expiry}
	}
	c.phase = iDone
	c.complete()
	return mechs.StepResult{Status: status.SEC_E_OK, Token: out, Flags: c.flags, Expiry: c.expiry}
}

// rejected handles negState reject: the acceptor's error token, if any,
// goes to the sub-context for a better status.
func (c *initiator) rejected(in *mechs.StepInput, resp *NegTokenResp) mechs.StepResult {
	if len(resp.ResponseToken) > 0 && !c.subDone {
		if sub := c.active; sub != nil && c.phase != iFirstReply {
			res := c.stepSub(sub, c.subInput(in, resp.ResponseToken))
			if res.IO == nil && res.Status.IsError() {
				return c.fail(res)
			}
		}
	}
	return c.fail(failf(status.SEC_E_LOGON_DENIED, "the acceptor rejected the negotiation"))
}

// afterDone handles a token after SEC_E_OK: the acceptor's closing
// accept-completed is harmless; anything else is out of place.
func (c *initiator) afterDone(in *mechs.StepInput) mechs.StepResult {
	var resp NegTokenResp
	if err := parseNegTokenResp(in.Token, &resp); err != nil {
		// The context stays complete: a bad late token is the caller's
		// to drop.
		return failResult(err)
	}
	if resp.NegState == AcceptCompleted && len(resp.ResponseToken) == 0 && resp.MechListMIC == nil {
		return mechs.StepResult{Status: status.SEC_E_OK, Flags: c.flags, Expiry: c.expiry}
	}
	return failf(status.SEC_E_INVALID_TOKEN, "token after the context completed")
}
