package negotiate

import (
	secctx "github.com/asyncsspi/asyncsspi/context"
	"github.com/asyncsspi/asyncsspi/mechs"
	"github.com/asyncsspi/asyncsspi/status"
)

// acceptor is the server side (AcceptSecurityContext (Negotiate)).
//
// Legs, in protocol order:
//
//	start   the first token: a framed NegTokenInit (choose the first of
//	        the client's mechanisms our credentials serve, use its
//	        optimistic token if it is the client's first choice, or
//	        answer with the choice alone), a raw NTLMSSP message or a
//	        raw Kerberos token (direct: the sub-package's own tokens in
//	        both directions, as Windows answers such clients), or no
//	        token at all (speak first with a NegTokenInit2).
//	mech    NegTokenResp legs carry the sub-tokens.
//	mic     the mechListMIC exchange, when required.
//	done    SEC_E_OK, possibly with a final token to send. A new first
//	        token re-authenticates.
type acceptor struct {
	negContext
	subReq secctx.ASCReq

	// Everything below is owned by Step.
	phase   aphase
	listArr [64]byte // room for the client's MechTypeList (negContext.list)
}

type aphase uint8

const (
	aStart aphase = iota
	aHinted
	aMech
	aDirect
	aDone
)

// ntlmSignature starts every NTLMSSP message (MS-NLMP 2.2.1).
const ntlmSignature = "NTLMSSP\x00"

// ntlmOID is the NTLMSSP OID's content octets.
const ntlmOID = "\x2b\x06\x01\x04\x01\x82\x37\x02\x02\x0a"

func newAcceptor(c *Credential, p mechs.AcceptorParams) *acceptor {
	// Negotiate asks its sub-mechanism for integrity, for the
	// mechListMIC, and for its error token whatever the caller asked:
	// a refusal always goes back in a reject NegTokenResp, and the
	// mechanism's error token (a KRB-ERROR) in it lets the initiator's
	// mechanism tell why (RFC 4178 section 4.2.2). ASC_RET_EXTENDED_ERROR
	// is reported only to a caller that asked for it.
	a := &acceptor{subReq: p.Req | secctx.ASC_REQ_INTEGRITY | secctx.ASC_REQ_EXTENDED_ERROR}
	a.init(c, a, true)
	a.hideExtErr = p.Req&secctx.ASC_REQ_EXTENDED_ERROR == 0
	return a
}

// step runs one AcceptSecurityContext (Negotiate) leg.
func (c *acceptor) step(in *mechs.StepInput) mechs.StepResult {
	switch c.phase {
	case aMech:
		return c.reply(in)
	case aDirect:
		if err := c.checkLimit(in.Token); err != nil {
			return c.badToken(err)
		}
		return c.directStepped(in, c.stepSub(c.active, c.subInput(in, in.Token)), in.Token)
	}
	return c.first(in)
}

// first handles a context's first token.
func (c *acceptor) first(in *mechs.StepInput) mechs.StepResult {
	tok := in.Token
	if len(tok) == 0 {
		if c.phase != aStart {
			return c.fail(failf(status.SEC_E_INVALID_TOKEN, "no token"), nil)
		}
		return c.speakFirst()
	}
	if n := min(len(tok), len(ntlmSignature)); string(tok[:n]) == ntlmSignature[:n] {
		if n < len(ntlmSignature) {
			return failResult(incomplete(len(ntlmSignature)-n, "NTLMSSP message truncated"))
		}
		if err := c.checkLimit(tok); err != nil {
			return c.badToken(err)
		}
		sc, oid := c.cred.subFor([]byte(ntlmOID))
		if sc == nil {
			return c.fail(failf(status.SEC_E_INVALID_TOKEN, "raw NTLMSSP token, and NTLM is not available"), nil)
		}
		return c.direct(in, sc, oid)
	}
	if tok[0] != byte(tagGSSToken) {
		return c.fail(failf(status.SEC_E_INVALID_TOKEN, "first token is neither a framed GSS token nor an NTLMSSP message"), nil)
	}
	it, err := parseInitialToken(tok, c.limit())
	if err != nil {
		return c.badToken(err)
	}
	if !isSPNEGO(it.mechOID) {
		// A raw mechanism token (a krb5 AP-REQ framed with the
		// Kerberos OID, RFC 4121 section 4.1).
		sc, oid := c.cred.subFor(it.mechOID)
		if sc == nil {
			return c.fail(failf(status.SEC_E_INVALID_TOKEN, "first token is for a mechanism this credential does not serve"), nil)
		}
		return c.direct(in, sc, oid)
	}
	return c.negTokenInit(in, it.inner)
}

// speakFirst answers an empty first input with a NegTokenInit2 listing
// the acceptor's mechanisms (MS-SPNG 3.2.5.2).
func (c *acceptor) speakFirst() mechs.StepResult {
	c.phase = aHinted
	return mechs.StepResult{
		Status: status.SEC_I_CONTINUE_NEEDED,
		Token:  frameInit(c.cred.full.list, subToken{}, nil, c.cred.pkg.hints),
	}
}

// direct hands a raw first token to the sub-package it belongs to; the
// whole exchange then uses that package's own tokens. The new sub-context
// takes the token before the context changes, so that a token cut short
// (the sub-package's SEC_E_INCOMPLETE_MESSAGE, whose missing count is the
// caller's to fill, the token being the sub-package's own) leaves the
// context exactly as it was.
func (c *acceptor) direct(in *mechs.StepInput, sc *subCred, oid uint8) mechs.StepResult {
	ctx, err := sc.cred.NewAcceptor(mechs.AcceptorParams{Req: c.subReq})
	if err != nil {
		return c.fail(failResult(err), nil)
	}
	was := c.unwrapped
	c.unwrapped = true // no room: the token goes back unwrapped
	res := c.stepSub(ctx, c.subInput(in, in.Token))
	if res.Status == status.SEC_E_INCOMPLETE_MESSAGE {
		c.unwrapped = was
		ctx.Close()
		return res
	}
	c.resetHandshake()
	if _, err := c.adopt(sc, secctx.SECPKG_NEGOTIATION_DIRECT, ctx, nil); err != nil {
		return c.fail(failResult(err), nil)
	}
	c.oidIdx, c.phase, c.unwrapped = oid, aDirect, true
	return c.directStepped(in, res, in.Token)
}

// newSub makes an acceptor sub-context of sc and makes it the current
// one.
func (c *acceptor) newSub(sc *subCred, state secctx.NegotiationState) (mechs.SecurityContext, error) {
	ctx, err := sc.cred.NewAcceptor(mechs.AcceptorParams{Req: c.subReq})
	return c.adopt(sc, state, ctx, err)
}

// directStepped handles the outcome of an unwrapped sub-step: passed on
// as it is.
func (c *acceptor) directStepped(in *mechs.StepInput, res mechs.StepResult, token []byte) mechs.StepResult {
	if res.IO != nil {
		return c.awaitIO(res, token, func(in *mechs.StepInput, res mechs.StepResult) mechs.StepResult {
			return c.directStepped(in, res, c.ioToken())
		})
	}
	switch {
	case res.Status == status.SEC_E_INCOMPLETE_MESSAGE:
		return res
	case res.Status.IsError():
		return c.fail(res, res.Token)
	case res.Status == status.SEC_E_OK:
		c.flags, c.expiry = res.Flags, res.Expiry
		c.phase = aDone
		c.complete()
	}
	return res
}

// negTokenInit takes a NegTokenInit (b, inside the GSS framing) and
// chooses the mechanism (RFC 4178 section 3.2 step 2): the first of the
// initiator's mechanisms our credential serves, found while the list is
// checked.
func (c *acceptor) negTokenInit(in *mechs.StepInput, b []byte) mechs.StepResult {
	var init negTokenInitRaw
	var sc *subCred
	idx, oidIdx := -1, uint8(0)
	err := parseNegTokenInitRaw(b, &init, func(i int, oid []byte) {
		if sc == nil {
			if sc, oidIdx = c.cred.subFor(oid); sc != nil {
				idx = i
			}
		}
	})
	if err != nil {
		return c.badToken(err)
	}
	c.resetHandshake()
	c.list = append(c.listArr[:0], init.mechTypesDER...)
	c.oidIdx = oidIdx
	if len(init.mechTypes) == 0 {
		return c.fail(failf(status.SEC_E_INVALID_TOKEN, "NegTokenInit without mechTypes"), nil)
	}
	if sc == nil {
		return c.refuse(failf(status.SEC_E_LOGON_DENIED, "no mechanism in common with the initiator"), nil)
	}
	// The MIC exchange is required unless we chose the initiator's first
	// choice (RFC 4178 section 5); we then send request-mic.
	firstChoice := idx == 0
	c.mic.required = !firstChoice
	c.cur = sc // named in the reject, should the sub-context fail to start
	ctx, err := c.newSub(sc, secctx.SECPKG_NEGOTIATION_IN_PROGRESS)
	if err != nil {
		return c.refuse(failResult(err), nil)
	}
	c.phase = aMech
	if firstChoice && len(init.mechToken) > 0 {
		return c.mechStepped(in, init.mechListMIC, c.stepSub(ctx, c.subInput(in, init.mechToken)), init.mechToken)
	}
	// No usable optimistic token: name the choice and wait for the
	// initiator's first token of that mechanism.
	return mechs.StepResult{Status: status.SEC_I_CONTINUE_NEEDED, Token: c.resp(AcceptIncomplete, subToken{}, nil)}
}

// reply handles a NegTokenResp from the initiator.
func (c *acceptor) reply(in *mechs.StepInput) mechs.StepResult {
	var resp NegTokenResp
	if err := parseNegTokenResp(in.Token, c.limit(), &resp); err != nil {
		return c.badToken(err)
	}
	if resp.NegState == Reject {
		return c.fail(failf(status.SEC_E_LOGON_DENIED, "the initiator rejected the negotiation"), nil)
	}
	if resp.SupportedMech != "" {
		return c.refuse(failf(status.SEC_E_INVALID_TOKEN, "supportedMech from the initiator"), nil)
	}
	return c.carry(in, &resp)
}

// finish concludes the exchange once the sub-context is complete (RFC
// 4178 section 5): our MIC goes with the final mechanism token, and while
// the initiator's is still to come the exchange goes on.
func (c *acceptor) finish(mechTok subToken, micIn []byte, fromMech bool) mechs.StepResult {
	defer c.releaseMIC()
	sending := len(mechTok.bytes()) > 0
	micOut, r, ok := c.settleMIC(micIn, sending)
	if !ok {
		return r
	}
	var tok subToken
	if sending {
		tok = mechTok
	}
	if c.mic.required && c.integrity() && !(c.mic.sent && c.mic.received) {
		// The initiator's MIC comes back.
		return mechs.StepResult{Status: status.SEC_I_CONTINUE_NEEDED, Token: c.resp(AcceptIncomplete, tok, micOut), Flags: c.flags, Expiry: c.expiry}
	}
	var out []byte
	if tok.buf != nil || micOut != nil || fromMech || !c.answered {
		// The initiator waits for the verdict on its last mechanism
		// token; after its closing MIC it waits for nothing.
		out = c.resp(AcceptCompleted, tok, micOut)
	}
	c.phase = aDone
	c.complete()
	return mechs.StepResult{Status: status.SEC_E_OK, Token: out, Flags: c.flags, Expiry: c.expiry}
}
