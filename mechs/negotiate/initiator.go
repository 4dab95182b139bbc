package negotiate

import (
	"slices"

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
//	           sub-context completes (negContext.carry).
//	mic        the mechListMIC exchange, when required.
//	done       SEC_E_OK; a Step with no token re-authenticates.
type initiator struct {
	negContext
	target string
	subReq secctx.ISCReq

	// Everything below is owned by Step.
	cands    []*subCred // allowed sub-credentials, preference order (read-only)
	off      *offer     // what was offered (the credential's full offer, or a smaller one)
	firstErr error      // the most preferred sub-package's failure
	phase    iphase
	acc      NegState // the acceptor's latest negState
}

type iphase uint8

const (
	iStart iphase = iota
	iFirstReply
	iMech
	iDone
)

func newInitiator(c *Credential, p mechs.InitiatorParams) *initiator {
	req := p.Req
	// Negotiate asks its sub-mechanism for integrity so that the
	// mechListMIC can be made (MIT's SPNEGO does the same), unless the
	// caller said ISC_REQ_NO_INTEGRITY.
	if req&secctx.ISC_REQ_NO_INTEGRITY == 0 {
		req |= secctx.ISC_REQ_INTEGRITY
	}
	i := &initiator{target: p.Target, subReq: req}
	i.init(c, i, false)
	return i
}

// step runs one InitializeSecurityContext (Negotiate) leg.
func (c *initiator) step(in *mechs.StepInput) mechs.StepResult {
	switch c.phase {
	case iStart:
		return c.start(in)
	case iDone:
		if len(in.Token) == 0 {
			// Initialize again after success: re-authenticate.
			return c.start(in)
		}
		return c.afterDone(in)
	}
	return c.reply(in)
}

// start is the first leg (and the first leg of a re-authentication).
func (c *initiator) start(in *mechs.StepInput) mechs.StepResult {
	// The credential's shared list; filtering below makes a new one.
	cands := c.cred.allCands
	if len(in.Token) > 0 {
		// An acceptor that speaks first sends NegTokenInit2 (MS-SPNG
		// 3.2.5.2): keep to the mechanisms it lists, when any is ours.
		var hint negTokenInitRaw
		var listed []*subCred
		err := parseFramedNegTokenInit(in.Token, c.limit(), &hint, func(_ int, oid []byte) {
			if sc, _ := c.cred.subFor(oid); sc != nil {
				listed = append(listed, sc)
			}
		})
		if err != nil {
			return c.badToken(err)
		}
		var keep []*subCred // in our order
		for _, sc := range cands {
			if slices.Contains(listed, sc) {
				keep = append(keep, sc)
			}
		}
		if len(keep) > 0 {
			cands = keep
		}
	}
	// cands and off may alias the credential's shared lists: never
	// appended to in place.
	c.phase, c.cands, c.off = iStart, cands, nil
	c.acc, c.firstErr = NegStateAbsent, nil
	c.resetHandshake()
	return c.probe(in, 0)
}

// probe starts candidate i and, if it cannot serve the target, the next
// ones: the fallback inside the first leg, with no extra round trip.
func (c *initiator) probe(in *mechs.StepInput, i int) mechs.StepResult {
	for ; i < len(c.cands); i++ {
		ctx, err := c.newSub(c.cands[i], secctx.SECPKG_NEGOTIATION_OPTIMISTIC)
		if err != nil {
			if !c.skip(err) {
				return c.fail(failResult(err), nil)
			}
			continue
		}
		if r, done := c.probed(in, i, c.stepSub(ctx, c.subInput(in, nil))); done {
			return r
		}
	}
	if c.firstErr == nil {
		c.firstErr = status.Errorf(status.SEC_E_NO_CREDENTIALS, pkgName, "no sub-package can serve the target")
	}
	return c.fail(failResult(c.firstErr), nil)
}

// newSub makes sc's sub-context for the target and makes it the current
// one.
func (c *initiator) newSub(sc *subCred, state secctx.NegotiationState) (mechs.SecurityContext, error) {
	ctx, err := sc.cred.NewInitiator(mechs.InitiatorParams{Target: c.target, Req: c.subReq})
	return c.adopt(sc, state, ctx, err)
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
			return c.fail(failResult(err), nil), true
		}
		return mechs.StepResult{}, false
	}
	if res.Status != status.SEC_E_OK && res.Status != status.SEC_I_CONTINUE_NEEDED {
		return c.fail(failf(status.SEC_E_INTERNAL_ERROR, "sub-package returned "+res.Status.String()), nil), true
	}
	// Offer this candidate and every later one: those before it cannot
	// serve the target.
	if i == 0 && len(c.cands) == len(c.cred.subs) {
		c.off = &c.cred.full
	} else {
		off := newOffer(c.cands[i:])
		c.off = &off
	}
	c.list = c.off.list
	c.subDone = res.Status == status.SEC_E_OK
	c.flags, c.expiry = res.Flags, res.Expiry
	c.phase = iFirstReply
	var tok subToken
	if st := c.subTokenOf(&res); len(st.bytes()) > 0 {
		tok = st
	}
	return mechs.StepResult{
		Status: status.SEC_I_CONTINUE_NEEDED,
		Token:  frameInit(c.off.list, tok, nil, nil),
		Flags:  res.Flags,
		Expiry: res.Expiry,
	}, true
}

// reply handles a NegTokenResp from the acceptor.
func (c *initiator) reply(in *mechs.StepInput) mechs.StepResult {
	var resp NegTokenResp
	if err := parseNegTokenResp(in.Token, c.limit(), &resp); err != nil {
		return c.badToken(err)
	}
	if resp.NegState == Reject {
		return c.rejected(in, &resp)
	}
	if c.phase == iFirstReply {
		return c.firstReply(in, &resp)
	}
	c.acc = resp.NegState
	return c.carry(in, &resp)
}

// firstReply handles the acceptor's first NegTokenResp, which names the
// mechanism it chose (RFC 4178 section 3.2 step 4).
func (c *initiator) firstReply(in *mechs.StepInput, resp *NegTokenResp) mechs.StepResult {
	c.phase = iMech
	idx := 0
	if resp.SupportedMech != "" {
		if idx = c.off.index(resp.SupportedMech); idx < 0 {
			return c.fail(failf(status.SEC_E_INVALID_TOKEN, "acceptor chose mechanism "+resp.SupportedMech+", which was not offered"), nil)
		}
	}
	sc := c.off.subs[idx]
	// RFC 4178 section 5: the MIC exchange is optional only when the
	// chosen mechanism is the initiator's first choice (the Kerberos
	// OIDs count as one mechanism, as MIT treats them) and the acceptor
	// did not ask for it.
	if sc != c.off.subs[0] || resp.NegState == RequestMIC {
		c.mic.required = true
	}
	c.acc = resp.NegState
	// A counter-proposal: another package, or the same package under
	// another OID without a reply to our optimistic token (an acceptor
	// that knows only one of the Kerberos OIDs). The same package under
	// another OID with a reply (Samba names the other Kerberos OID) goes
	// on with the optimistic context.
	if sc != c.cur || (idx != 0 && resp.ResponseToken == nil && resp.NegState != AcceptCompleted) {
		return c.reselect(in, sc, idx, resp)
	}
	// Out of the optimistic state; a leg that completes goes straight to
	// complete (one lock instead of two).
	r := c.carry(in, resp)
	if r.IO != nil || r.Status != status.SEC_E_OK {
		c.setState(secctx.SECPKG_NEGOTIATION_IN_PROGRESS)
	}
	return r
}

// reselect follows the acceptor's counter-proposal: the optimistic
// sub-context is discarded and the chosen mechanism starts (RFC 4178
// section 3.2 step 4).
func (c *initiator) reselect(in *mechs.StepInput, sc *subCred, idx int, resp *NegTokenResp) mechs.StepResult {
	if len(resp.ResponseToken) > 0 || resp.MechListMIC != nil {
		return c.fail(failf(status.SEC_E_INVALID_TOKEN, "counter-proposal carries a mechanism token"), nil)
	}
	ctx, err := c.newSub(sc, secctx.SECPKG_NEGOTIATION_IN_PROGRESS)
	if err != nil {
		return c.fail(failResult(err), nil)
	}
	c.subDone = false
	return c.mechStepped(in, nil, c.stepSub(ctx, c.subInput(in, nil)), nil)
}

// finish concludes the exchange once the sub-context is complete (RFC
// 4178 section 5): done when the MICs, if required, went both ways, or
// else when the acceptor said accept-completed or we send nothing more.
func (c *initiator) finish(mechTok subToken, micIn []byte, _ bool) mechs.StepResult {
	defer c.releaseMIC()
	sending := len(mechTok.bytes()) > 0
	micOut, r, ok := c.settleMIC(micIn, sending)
	if !ok {
		return r
	}
	var out []byte
	if sending || micOut != nil {
		var tok subToken
		if sending {
			tok = mechTok
		}
		out = c.resp(NegStateAbsent, tok, micOut)
	}
	done := false
	switch {
	case c.mic.required && c.integrity():
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

// rejected handles negState reject. The acceptor's reject may carry its
// mechanism's error token (RFC 4178 section 4.2.2: a KRB-ERROR, say);
// given to the sub-context it belongs to, it ends the leg with that
// mechanism's own status (SEC_E_TIME_SKEW, ...) instead of the generic
// SEC_E_LOGON_DENIED.
func (c *initiator) rejected(in *mechs.StepInput, resp *NegTokenResp) mechs.StepResult {
	if sub := c.active; sub != nil && len(resp.ResponseToken) > 0 && !c.subDone && c.rejectIsAbout(resp) {
		res := c.stepSub(sub, c.subInput(in, resp.ResponseToken))
		if res.IO == nil && res.Status.IsError() && res.Status != status.SEC_E_INCOMPLETE_MESSAGE {
			if res.Err == nil {
				res.Err = status.New(res.Status, c.cur.sub.name, nil)
			}
			return c.fail(res, nil)
		}
	}
	return c.fail(failf(status.SEC_E_LOGON_DENIED, "the acceptor rejected the negotiation"), nil)
}

// rejectIsAbout reports whether a reject's error token is for the current
// sub-context: after the first reply always; in the first reply when it
// names no mechanism or the one our optimistic token was for.
func (c *initiator) rejectIsAbout(resp *NegTokenResp) bool {
	if c.phase != iFirstReply || resp.SupportedMech == "" {
		return true
	}
	i := c.off.index(resp.SupportedMech)
	return i >= 0 && c.off.subs[i] == c.cur
}

// afterDone handles a token after SEC_E_OK: the acceptor's closing
// accept-completed is harmless; anything else is out of place.
func (c *initiator) afterDone(in *mechs.StepInput) mechs.StepResult {
	var resp NegTokenResp
	if err := parseNegTokenResp(in.Token, c.limit(), &resp); err != nil {
		// The context stays complete: a bad late token is the caller's
		// to drop.
		return failResult(err)
	}
	if resp.NegState == AcceptCompleted && len(resp.ResponseToken) == 0 && resp.MechListMIC == nil {
		return mechs.StepResult{Status: status.SEC_E_OK, Flags: c.flags, Expiry: c.expiry}
	}
	return failf(status.SEC_E_INVALID_TOKEN, "token after the context completed")
}
