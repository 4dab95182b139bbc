package negotiate

import (
	"strconv"

	"github.com/asyncsspi/asyncsspi/mechs"
	"github.com/asyncsspi/asyncsspi/status"
)

// The parts of a leg both sides run the same way, once the mechanism is
// chosen (RFC 4178 section 3.2 steps 5-7): NegTokenResp legs carry the
// sub-tokens until the sub-context completes, then the mechListMIC
// exchange (mechlistmic.go) and the side's own finish.

// fail ends the exchange: the context fails (every later Step gives
// SEC_E_INVALID_HANDLE) and its current sub-context is closed. token is
// what goes to the peer, or nil.
func (c *negContext) fail(r mechs.StepResult, token []byte) mechs.StepResult {
	c.failed = true
	c.dropIOWait()
	c.dropSub()
	if r.Err == nil {
		r.Err = status.New(r.Status, pkgName, nil)
	}
	r.IO, r.Token = nil, token
	return r
}

// refuse is fail with, from an acceptor, a reject NegTokenResp carrying
// errTok, the mechanism's error token if any (RFC 4178 section 4.2.2); an
// initiator sends nothing.
func (c *negContext) refuse(r mechs.StepResult, errTok []byte) mechs.StepResult {
	if !c.accepting {
		return c.fail(r, nil)
	}
	tok := plainToken(nil)
	if len(errTok) > 0 {
		tok = plainToken(errTok)
	}
	return c.fail(r, c.resp(Reject, tok, nil))
}

// badToken answers an input token that does not parse. One cut short
// (SEC_E_INCOMPLETE_MESSAGE, with the missing count) leaves the context
// exactly as it was, so that the caller can give the whole token; any
// other fails the exchange, with no answer: nothing says the peer speaks
// SPNEGO.
func (c *negContext) badToken(err error) mechs.StepResult {
	if status.CodeOf(err) == status.SEC_E_INCOMPLETE_MESSAGE {
		return failResult(err)
	}
	return c.fail(failResult(err), nil)
}

// resp frames a NegTokenResp. The initiator's carry no negState; the
// acceptor's first one names the chosen mechanism and, when the MIC
// exchange is required, says request-mic instead of accept-incomplete
// (RFC 4178 section 4.2.2).
func (c *negContext) resp(state NegState, token subToken, mic []byte) []byte {
	if !c.accepting {
		return frameResp(NegStateAbsent, nil, token, mic)
	}
	var mech []byte
	if !c.answered {
		mech = c.chosenOID()
		if state == AcceptIncomplete && c.mic.required {
			state = RequestMIC
		}
		c.answered = true
	}
	return frameResp(state, mech, token, mic)
}

// carry passes a NegTokenResp's mechanism token to the sub-context or,
// once that is complete, goes on to the mechListMIC exchange.
func (c *negContext) carry(in *mechs.StepInput, resp *NegTokenResp) mechs.StepResult {
	if !c.subDone {
		if resp.ResponseToken == nil {
			return c.refuse(failf(status.SEC_E_INVALID_TOKEN, c.peer()+" sent no mechanism token"), nil)
		}
		return c.mechStepped(in, resp.MechListMIC, c.stepSub(c.active, c.subInput(in, resp.ResponseToken)), resp.ResponseToken)
	}
	if len(resp.ResponseToken) > 0 {
		return c.refuse(failf(status.SEC_E_INVALID_TOKEN, c.peer()+" sent a mechanism token after the mechanism completed"), nil)
	}
	return c.role.finish(subToken{}, resp.MechListMIC, false)
}

// mechStepped handles a sub-step's outcome while the mechanism runs.
// micIn is the mechListMIC that came with the sub-token, token the
// sub-token (for the I/O's resumption).
func (c *negContext) mechStepped(in *mechs.StepInput, micIn []byte, res mechs.StepResult, token []byte) mechs.StepResult {
	if res.IO != nil {
		mic := cloneOrNil(micIn)
		return c.awaitIO(res, token, func(in *mechs.StepInput, res mechs.StepResult) mechs.StepResult {
			return c.mechStepped(in, mic, res, c.ioToken())
		})
	}
	if res.Status == status.SEC_E_INCOMPLETE_MESSAGE {
		return c.refuse(c.truncatedInside(res), nil)
	}
	if res.Status.IsError() {
		if res.Err == nil {
			res.Err = status.New(res.Status, c.cur.sub.name, nil)
		}
		return c.refuse(res, c.subTokenOf(&res).bytes())
	}
	c.flags, c.expiry = res.Flags, res.Expiry
	switch res.Status {
	case status.SEC_I_CONTINUE_NEEDED:
		if micIn != nil {
			return c.refuse(failf(status.SEC_E_INVALID_TOKEN, "mechListMIC before the mechanism completed"), nil)
		}
		tok := c.subTokenOf(&res)
		if tok.buf == nil {
			tok = plainToken([]byte{}) // present and empty
		}
		return mechs.StepResult{
			Status: status.SEC_I_CONTINUE_NEEDED,
			Token:  c.resp(AcceptIncomplete, tok, nil),
			Flags:  res.Flags,
			Expiry: res.Expiry,
		}
	case status.SEC_E_OK:
		c.subDone = true
		return c.role.finish(c.subTokenOf(&res), micIn, true)
	}
	return c.refuse(failf(status.SEC_E_INTERNAL_ERROR, "sub-package returned "+res.Status.String()), nil)
}

// truncatedInside is the leg's result when the sub-context finds its
// token cut short although the SPNEGO token around it was whole: the
// outer token's length is satisfied, so more bytes of it cannot help, and
// the peer sent a malformed token. It is SEC_E_INVALID_TOKEN (with no
// SECBUFFER_MISSING count, which would ask for bytes no peer will send),
// and the exchange fails like any other malformed token's. Only a
// SPNEGO token itself cut short is SEC_E_INCOMPLETE_MESSAGE, and that
// leaves the context as it was (badToken).
func (c *negContext) truncatedInside(res mechs.StepResult) mechs.StepResult {
	msg := "the " + c.cur.sub.name + " token inside a complete SPNEGO token is cut short"
	if res.Missing > 0 {
		msg += " by " + strconv.Itoa(res.Missing) + " bytes"
	}
	if res.Err != nil {
		msg += ": " + res.Err.Error()
	}
	return failResult(invalid(msg))
}

func cloneOrNil(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append([]byte{}, b...)
}
