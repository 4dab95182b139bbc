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

// mechWantsMIC asks the sub-context whether it needs the MIC exchange.
func mechWantsMIC(ctx mechs.SecurityContext) bool {
	r, ok := ctx.(mechs.MechListMICRequirer)
	return ok && r.RequiresMechListMIC()
}
