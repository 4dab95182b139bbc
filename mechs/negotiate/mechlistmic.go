package negotiate

import (
	"errors"

	secctx "github.com/asyncsspi/asyncsspi/context"
	"github.com/asyncsspi/asyncsspi/mechs"
	"github.com/asyncsspi/asyncsspi/status"
)

// RFC 4178 section 5: the mechListMIC is the chosen mechanism's GetMIC
// (here MakeSignature, QOP 0) over the DER of the MechTypeList the
// initiator sent, and is checked with VerifySignature. A mismatch means
// the list was tampered with: SEC_E_DOWNGRADE_DETECTED.

// defaultSignatureSize is the TOKEN buffer offered to MakeSignature when
// the sub-context does not report SECPKG_ATTR_SIZES (NTLM signatures are
// 16 bytes, Kerberos MIC tokens 28 with AES).
const defaultSignatureSize = 64

// makeMechListMIC signs list with ctx. The signature is written into
// the context's scratch (first try) and is valid until the next call.
func (c *negContext) makeMechListMIC(ctx mechs.SecurityContext, list []byte) ([]byte, error) {
	sc := c.micScratch()
	sig := sc.sig[:]
	for attempt := 0; ; attempt++ {
		msg := sc.bufs[:]
		msg[0] = secctx.Buffer{Type: secctx.SECBUFFER_DATA | secctx.SECBUFFER_READONLY, Data: list}
		msg[1] = secctx.Buffer{Type: secctx.SECBUFFER_TOKEN, Data: sig}
		st := ctx.MakeSignature(0, msg, 0)
		if st == status.SEC_E_BUFFER_TOO_SMALL && attempt == 0 {
			size := 4096
			if v, st := ctx.QueryAttribute(secctx.SECPKG_ATTR_SIZES); st == status.SEC_E_OK {
				if s, ok := v.(secctx.Sizes); ok && s.MaxSignature > 0 && s.MaxSignature < 1<<16 {
					size = int(s.MaxSignature)
				}
			}
			sig = make([]byte, size)
			continue
		}
		if st != status.SEC_E_OK {
			return nil, status.New(st, pkgName, errors.New("mechListMIC: the chosen mechanism cannot sign"))
		}
		resetRC4(ctx, true)
		return msg[1].Data, nil
	}
}

// verifyMechListMIC checks the peer's mechListMIC over list.
func (c *negContext) verifyMechListMIC(ctx mechs.SecurityContext, list, mic []byte) error {
	msg := c.micScratch().bufs[:]
	msg[0] = secctx.Buffer{Type: secctx.SECBUFFER_DATA | secctx.SECBUFFER_READONLY, Data: list}
	msg[1] = secctx.Buffer{Type: secctx.SECBUFFER_TOKEN, Data: mic}
	if _, st := ctx.VerifySignature(msg, 0); st != status.SEC_E_OK {
		return status.New(status.SEC_E_DOWNGRADE_DETECTED, pkgName,
			errors.New("mechListMIC does not match the mechanism list ("+st.String()+"): the negotiation was tampered with"))
	}
	resetRC4(ctx, false)
	return nil
}

// resetRC4 puts the sub-context's RC4 handle of one direction back in its
// state before the mechListMIC (MS-SPNG 3.3.5.1), when the sub-context
// has one (NTLM).
func resetRC4(ctx mechs.SecurityContext, outbound bool) {
	if r, ok := ctx.(mechs.SealingStateResetter); ok {
		r.ResetSealingState(outbound)
	}
}

// micExchange is the mechListMIC bookkeeping both sides keep (RFC 4178
// section 5, in the form MIT's SPNEGO also uses): required once either
// side knows the chosen mechanism was not both sides' first choice, or the
// acceptor sent request-mic, or the mechanism asks for it, or a MIC was
// received (who gets a MIC must send one).
type micExchange struct {
	required, sent, received bool
}

func (m *micExchange) reset() { *m = micExchange{} }

// integrity reports whether the sub-context gives integrity, without
// which no MIC is exchanged (RFC 4178 section 5).
func (c *negContext) integrity() bool {
	bit := uint64(secctx.ISC_RET_INTEGRITY)
	if c.accepting {
		bit = uint64(secctx.ASC_RET_INTEGRITY)
	}
	return c.flags&bit != 0
}

// settleMIC is the part of the mechListMIC exchange both sides run once
// the sub-context is complete: it checks the peer's MIC, or its absence
// where one is owed, and makes ours where the exchange requires one. The
// initiator also sends one with the final mechanism token it sends
// (sending), as Windows and gss-ntlmssp under MIT do for NTLM; the
// acceptor then answers with its own. micOut lives in the Step's MIC
// scratch until releaseMIC. ok false: the leg ends with r.
func (c *negContext) settleMIC(micIn []byte, sending bool) (micOut []byte, r mechs.StepResult, ok bool) {
	sub := c.active
	integrity := c.integrity()
	if r, ok := sub.(mechs.MechListMICRequirer); ok && r.RequiresMechListMIC() {
		c.mic.required = true
	}
	if micIn != nil {
		if c.mic.received {
			return nil, c.refuse(failf(status.SEC_E_INVALID_TOKEN, "second mechListMIC"), nil), false
		}
		if err := c.verifyMechListMIC(sub, c.list, micIn); err != nil {
			return nil, c.refuse(failResult(err), nil), false
		}
		c.mic.received, c.mic.required = true, true
	} else if c.mic.required && integrity && !sending && !c.mic.received {
		// The peer sent the last token (its final mechanism token, or
		// its answer to our MIC) without the MIC it owes.
		return nil, c.refuse(failf(status.SEC_E_DOWNGRADE_DETECTED, c.peer()+" sent no mechListMIC although the negotiation requires one"), nil), false
	}
	if integrity && !c.mic.sent && (c.mic.required || (sending && !c.accepting)) {
		m, err := c.makeMechListMIC(sub, c.list)
		if err != nil {
			return nil, c.refuse(failResult(err), nil), false
		}
		micOut = m
		c.mic.sent, c.mic.required = true, true
	}
	return micOut, mechs.StepResult{}, true
}

// micScratch holds the buffers of the mechListMIC calls.
type micScratch struct {
	bufs [2]secctx.Buffer
	sig  [defaultSignatureSize]byte
}

// micScratch returns the Step's MIC scratch, borrowing it from the
// package on first use in this Step.
func (c *negContext) micScratch() *micScratch {
	if c.micBuf == nil {
		if m, ok := c.cred.pkg.mics.Get().(*micScratch); ok {
			c.micBuf = m
		} else {
			c.micBuf = new(micScratch)
		}
	}
	return c.micBuf
}

// releaseMIC gives the MIC scratch back at the end of the Step that
// borrowed it, once the signature it holds has been copied into the
// output token.
func (c *negContext) releaseMIC() {
	if m := c.micBuf; m != nil {
		c.micBuf = nil
		m.bufs = [2]secctx.Buffer{}
		c.cred.pkg.mics.Put(m)
	}
}
