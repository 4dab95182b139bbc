package negotiate

import (
	"bytes"
	"time"

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
	params mechs.AcceptorParams
	subReq secctx.ASCReq

	// Everything below is owned by Step.
	phase    aphase
	mechList []byte // DER of the client's MechTypeList, as received
	listArr  [64]byte
	cur      *subCred
	curOID   []byte // OID content octets of the chosen mechanism
	answered bool   // the first NegTokenResp (with supportedMech) was sent
	subDone  bool
	flags    uint64
	expiry   time.Time
	mic      micExchange
}

type aphase uint8

const (
	aStart aphase = iota
	aHinted
	aMech
	aDirect
	aDone
	aFailed
)

// ntlmSignature starts every NTLMSSP message (MS-NLMP 2.2.1).
var ntlmSignature = []byte("NTLMSSP\x00")

func newAcceptor(c *Credential, p mechs.AcceptorParams) *acceptor {
	req := p.Req
	req |= secctx.ASC_REQ_INTEGRITY
	return &acceptor{
		negContext: negContext{cred: c, state: secctx.SECPKG_NEGOTIATION_IN_PROGRESS},
		params:     p,
		subReq:     req,
	}
}

// Step runs one AcceptSecurityContext (Negotiate) leg.
func (c *acceptor) Step(in *mechs.StepInput) mechs.StepResult {
	if r, ok := c.enter(in); ok {
		return r
	}
	switch c.phase {
	case aStart, aHinted, aDone:
		return c.first(in)
	case aMech:
		return c.reply(in)
	case aDirect:
		sub := c.active
		return c.directStepped(in, c.stepSub(sub, c.subInput(in, in.Token)), in.Token)
	}
	return failf(status.SEC_E_INVALID_HANDLE, "context failed")
}

func (c *acceptor) fail(r mechs.StepResult, token []byte) mechs.StepResult {
	c.phase = aFailed
	c.dropIOWait()
	c.dropSub()
	if r.Err == nil {
		r.Err = status.New(r.Status, pkgName, nil)
	}
	r.IO = nil
	r.Token = token
	return r
}

// rejectToken is the NegTokenResp reject an acceptor sends with a failure
// (RFC 4178 section 4.2.2), with the mechanism's error token if any.
func (c *acceptor) rejectToken(errTok []byte) []byte {
	var mech []byte
	if !c.answered {
		mech = c.curOID
	}
	if len(errTok) == 0 {
		errTok = nil
	}
	return marshalResp(Reject, mech, errTok, nil)
}

func (c *acceptor) tokenError(err error) mechs.StepResult {
	if status.CodeOf(err) == status.SEC_E_INCOMPLETE_MESSAGE {
		return failResult(err)
	}
	return c.fail(failResult(err), nil)
}

func (c *acceptor) reset() {
	c.unwrapped = false
	c.mechList, c.cur, c.curOID = nil, nil, nil
	c.answered, c.subDone, c.flags, c.expiry = false, false, 0, time.Time{}
	c.mic.reset()
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
	if bytes.HasPrefix(tok, ntlmSignature) || (len(tok) < len(ntlmSignature) && bytes.HasPrefix(ntlmSignature, tok)) {
		if len(tok) < len(ntlmSignature) {
			return failResult(incomplete(len(ntlmSignature)-len(tok), "NTLMSSP message truncated"))
		}
		sc := c.cred.subFor(mechs.OIDNTLMSSP)
		if sc == nil {
			return c.fail(failf(status.SEC_E_INVALID_TOKEN, "raw NTLMSSP token, and NTLM is not available"), nil)
		}
		return c.direct(in, sc, mechs.OIDNTLMSSP)
	}
	if tok[0] != tagApplication0 {
		return c.fail(failf(status.SEC_E_INVALID_TOKEN, "first token is neither a framed GSS token nor an NTLMSSP message"), nil)
	}
	it, err := parseInitialToken(tok)
	if err != nil {
		return c.tokenError(err)
	}
	if !isSPNEGO(it.mechOID) {
		// A raw mechanism token (a krb5 AP-REQ framed with the
		// Kerberos OID, RFC 4121 section 4.1).
		sc := c.cred.subForDER(it.mechOID)
		if sc == nil {
			return c.fail(failf(status.SEC_E_INVALID_TOKEN, "first token is for a mechanism this credential does not serve"), nil)
		}
		o, _ := oidString(it.mechOID)
		return c.direct(in, sc, o)
	}
	var init negTokenInitRaw
	if err := parseNegTokenInitRaw(it.inner, &init); err != nil {
		return c.tokenError(err)
	}
	return c.negTokenInit(in, &init)
}

// speakFirst answers an empty first input with a NegTokenInit2 listing
// the acceptor's mechanisms (MS-SPNG 3.2.5.2).
func (c *acceptor) speakFirst() mechs.StepResult {
	c.phase = aHinted
	return mechs.StepResult{
		Status: status.SEC_I_CONTINUE_NEEDED,
		Token:  marshalInit(c.cred.full.list, nil, nil, true, HintName),
	}
}

// direct hands a raw first token to the sub-package it belongs to; the
// whole exchange then uses that package's own tokens.
func (c *acceptor) direct(in *mechs.StepInput, sc *subCred, oid string) mechs.StepResult {
	c.reset()
	ctx, err := sc.cred.NewAcceptor(mechs.AcceptorParams{Req: c.subReq})
	if err != nil {
		return c.fail(failResult(err), nil)
	}
	if !c.setSub(ctx, sc.sub, secctx.SECPKG_NEGOTIATION_DIRECT) {
		return failf(status.SEC_E_INVALID_HANDLE, "context deleted")
	}
	c.cur, c.curOID = sc, oidDEROf(sc, oid)
	c.phase = aDirect
	c.unwrapped = true
	return c.directStepped(in, c.stepSub(ctx, c.subInput(in, in.Token)), in.Token)
}

func (c *acceptor) directStepped(in *mechs.StepInput, res mechs.StepResult, token []byte) mechs.StepResult {
	if res.IO != nil {
		return c.awaitIO(res, token, func(in *mechs.StepInput, res mechs.StepResult) mechs.StepResult {
			return c.directStepped(in, res, c.ioToken())
		})
	}
	if res.Status == status.SEC_E_INCOMPLETE_MESSAGE {
		return res
	}
	if res.Status.IsError() {
		c.phase = aFailed
		c.dropSub()
		return res
	}
	if res.Status == status.SEC_E_OK {
		c.flags, c.expiry = res.Flags, res.Expiry
		c.phase = aDone
		c.complete()
	}
	return res
}

// negTokenInit chooses the mechanism (RFC 4178 section 3.2 step 2): the
// first of the initiator's mechanisms our credential serves.
func (c *acceptor) negTokenInit(in *mechs.StepInput, init *negTokenInitRaw) mechs.StepResult {
	c.reset()
	c.mechList = append(c.listArr[:0], init.mechTypesDER...)
	var sc *subCred
	idx := -1
	r := derReader{init.mechTypes}
	for i := 0; !r.empty(); i++ {
		oid, _, err := r.expect(tagOID)
		if err != nil {
			return c.fail(failResult(err), nil)
		}
		if sc = c.cred.subForDER(oid); sc != nil {
			idx = i
			c.curOID = oidDEROfContent(sc, oid)
			break
		}
	}
	if idx < 0 && len(init.mechTypes) == 0 {
		return c.fail(failf(status.SEC_E_INVALID_TOKEN, "NegTokenInit without mechTypes"), nil)
	}
	if sc == nil {
		return c.fail(failf(status.SEC_E_LOGON_DENIED, "no mechanism in common with the initiator"), marshalResp(Reject, nil, nil, nil))
	}
	// The MIC exchange is required unless we chose the initiator's first
	// choice (RFC 4178 section 5); we then send request-mic.
	firstChoice := idx == 0
	c.mic.required = !firstChoice
	c.cur = sc
	ctx, err := sc.cred.NewAcceptor(mechs.AcceptorParams{Req: c.subReq})
	if err != nil {
		return c.fail(failResult(err), c.rejectToken(nil))
	}
	if !c.setSub(ctx, sc.sub, secctx.SECPKG_NEGOTIATION_IN_PROGRESS) {
		return failf(status.SEC_E_INVALID_HANDLE, "context deleted")
	}
	c.phase = aMech
	if firstChoice && len(init.mechToken) > 0 {
		return c.mechStepped(in, init.mechListMIC, c.stepSub(ctx, c.subInput(in, init.mechToken)), init.mechToken)
	}
	// No usable optimistic token: name the choice and wait for the
	// initiator's first token of that mechanism.
	state := AcceptIncomplete
	if c.mic.required {
		state = RequestMIC
	}
	c.answered = true
	return mechs.StepResult{Status: status.SEC_I_CONTINUE_NEEDED, Token: marshalResp(state, c.curOID, nil, nil)}
}

// reply handles a NegTokenResp from the initiator.
func (c *acceptor) reply(in *mechs.StepInput) mechs.StepResult {
	var resp NegTokenResp
	if err := parseNegTokenResp(in.Token, &resp); err != nil {
		return c.tokenError(err)
	}
	if resp.NegState == Reject {
		return c.fail(failf(status.SEC_E_LOGON_DENIED, "the initiator rejected the negotiation"), nil)
	}
	if resp.SupportedMech != "" {
		return c.fail(failf(status.SEC_E_INVALID_TOKEN, "supportedMech from the initiator"), c.rejectToken(nil))
	}
	if !c.subDone {
		if resp.ResponseToken == nil {
			return c.fail(failf(status.SEC_E_INVALID_TOKEN, "initiator sent no mechanism token"), c.rejectToken(nil))
		}
		sub := c.active
		return c.mechStepped(in, resp.MechListMIC, c.stepSub(sub, c.subInput(in, resp.ResponseToken)), resp.ResponseToken)
	}
	if len(resp.ResponseToken) > 0 {
		return c.fail(failf(status.SEC_E_INVALID_TOKEN, "initiator sent a mechanism token after the mechanism completed"), c.rejectToken(nil))
	}
	return c.finish(subToken{}, resp.MechListMIC, false)
}

func (c *acceptor) mechStepped(in *mechs.StepInput, micIn []byte, res mechs.StepResult, token []byte) mechs.StepResult {
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
		return c.fail(res, c.rejectToken(c.subTokenOf(&res).bytes()))
	}
	c.flags, c.expiry = res.Flags, res.Expiry
	switch res.Status {
	case status.SEC_I_CONTINUE_NEEDED:
		if micIn != nil {
			return c.fail(failf(status.SEC_E_INVALID_TOKEN, "mechListMIC before the mechanism completed"), c.rejectToken(nil))
		}
		return mechs.StepResult{
			Status: status.SEC_I_CONTINUE_NEEDED,
			Token:  c.resp(AcceptIncomplete, orEmpty(c.subTokenOf(&res)), nil),
			Flags:  res.Flags,
			Expiry: res.Expiry,
		}
	case status.SEC_E_OK:
		c.subDone = true
		return c.finish(c.subTokenOf(&res), micIn, true)
	}
	return c.fail(failf(status.SEC_E_INTERNAL_ERROR, "sub-package returned "+res.Status.String()), c.rejectToken(nil))
}

// orEmpty makes an absent token a present, empty one.
func orEmpty(t subToken) subToken {
	if t.buf == nil {
		return plainToken([]byte{})
	}
	return t
}

// resp builds the next NegTokenResp; the first one names the mechanism
// and, when the MIC exchange is required, says request-mic.
func (c *acceptor) resp(state NegState, token subToken, mic []byte) []byte {
	var mech []byte
	if !c.answered {
		mech = c.curOID
		if state == AcceptIncomplete && c.mic.required {
			state = RequestMIC
		}
		c.answered = true
	}
	return frameResp(state, mech, token, mic)
}

// finish runs once the sub-context is complete (RFC 4178 section 5).
// mechTok is the sub-context's final token, if it produced one now;
// fromMech says the initiator's token carried the last mechanism token.
func (c *acceptor) finish(mechTok subToken, micIn []byte, fromMech bool) mechs.StepResult {
	defer c.releaseMIC()
	sub := c.active
	integrity := c.flags&uint64(secctx.ASC_RET_INTEGRITY) != 0
	if mechWantsMIC(sub) {
		c.mic.required = true
	}
	sending := len(mechTok.bytes()) > 0
	if micIn != nil {
		if c.mic.received {
			return c.fail(failf(status.SEC_E_INVALID_TOKEN, "second mechListMIC"), c.rejectToken(nil))
		}
		if err := c.verifyMechListMIC(sub, c.mechList, micIn); err != nil {
			return c.fail(failResult(err), c.rejectToken(nil))
		}
		c.mic.received, c.mic.required = true, true
	} else if c.mic.required && integrity && !sending && !c.mic.received {
		// The initiator sent the last token (its final mechanism
		// token, or its answer to our MIC) without the MIC it owes.
		return c.fail(failf(status.SEC_E_DOWNGRADE_DETECTED, "initiator sent no mechListMIC although the negotiation requires one"), c.rejectToken(nil))
	}
	var micOut []byte
	if integrity && c.mic.required && !c.mic.sent {
		m, err := c.makeMechListMIC(sub, c.mechList)
		if err != nil {
			return c.fail(failResult(err), c.rejectToken(nil))
		}
		micOut = m
		c.mic.sent = true
	}
	var tok subToken
	if sending {
		tok = mechTok
	}
	if c.mic.required && integrity && !(c.mic.sent && c.mic.received) {
		// Our MIC goes with the final mechanism token; the initiator's
		// comes back.
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
