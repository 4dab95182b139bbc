package negotiate

import (
	secctx "github.com/asyncsspi/asyncsspi/context"
	"github.com/asyncsspi/asyncsspi/status"
)

// MakeSignature, VerifySignature, EncryptMessage and DecryptMessage go to
// the established sub-context.
func (c *negContext) MakeSignature(qop uint32, msg []secctx.Buffer, seq uint32) status.Code {
	return c.messages().MakeSignature(qop, msg, seq)
}

func (c *negContext) VerifySignature(msg []secctx.Buffer, seq uint32) (uint32, status.Code) {
	return c.messages().VerifySignature(msg, seq)
}

func (c *negContext) EncryptMessage(qop uint32, msg []secctx.Buffer, seq uint32) status.Code {
	return c.messages().EncryptMessage(qop, msg, seq)
}

func (c *negContext) DecryptMessage(msg []secctx.Buffer, seq uint32) (uint32, status.Code) {
	return c.messages().DecryptMessage(msg, seq)
}

// perMessage is the part of a context the per-message calls use.
type perMessage interface {
	MakeSignature(qop uint32, msg []secctx.Buffer, seq uint32) status.Code
	VerifySignature(msg []secctx.Buffer, seq uint32) (uint32, status.Code)
	EncryptMessage(qop uint32, msg []secctx.Buffer, seq uint32) status.Code
	DecryptMessage(msg []secctx.Buffer, seq uint32) (uint32, status.Code)
}

// messages is where the per-message calls go: the established
// sub-context, or notEstablished before the handshake completes.
func (c *negContext) messages() perMessage {
	if e := c.established.Load(); e != nil {
		return e.ctx
	}
	return notEstablished{}
}

// notEstablished refuses the per-message calls before the handshake
// completes, as Windows does, with SEC_E_INVALID_HANDLE.
type notEstablished struct{}

func (notEstablished) MakeSignature(uint32, []secctx.Buffer, uint32) status.Code {
	return status.SEC_E_INVALID_HANDLE
}

func (notEstablished) VerifySignature([]secctx.Buffer, uint32) (uint32, status.Code) {
	return 0, status.SEC_E_INVALID_HANDLE
}

func (notEstablished) EncryptMessage(uint32, []secctx.Buffer, uint32) status.Code {
	return status.SEC_E_INVALID_HANDLE
}

func (notEstablished) DecryptMessage([]secctx.Buffer, uint32) (uint32, status.Code) {
	return 0, status.SEC_E_INVALID_HANDLE
}
