package mechs

import (
	"time"

	secctx "github.com/asyncsspi/asyncsspi/context"
	"github.com/asyncsspi/asyncsspi/status"
)

// StepInput is one leg's input.
type StepInput struct {
	// Token is the peer's token (the SECBUFFER_TOKEN input); nil on an
	// initiator's first leg.
	Token []byte
	// Bindings are the channel bindings of a SECBUFFER_CHANNEL_BINDINGS
	// input, or nil.
	Bindings *secctx.ChannelBindings
	// Buffers are all the input buffers, for packages that read others.
	Buffers []secctx.Buffer
	// IOReply and IOErr carry the outcome of the IORequest the previous
	// Step of this leg returned: the reply's bytes, or why there is none.
	// Both are nil on a leg's first Step. IOReply belongs to the step for
	// the duration of the call and may be shared with other legs that
	// waited on the same exchange: read it, never write to it.
	IOReply []byte
	IOErr   error
}

// StepResult is one leg's output, or a request for I/O.
type StepResult struct {
	// IO, when non-nil, asks the engine to perform network I/O and to call
	// Step again, with the same Token and Bindings and the outcome in
	// IOReply / IOErr. The leg stays pending meanwhile; every other field
	// is ignored.
	IO *IORequest

	// Status is the leg's SECURITY_STATUS: SEC_E_OK, SEC_I_CONTINUE_NEEDED
	// (the Token, possibly empty, goes to the peer), or an error.
	Status status.Code
	// Token is the output token; it may be non-empty with SEC_E_OK and
	// must then still be sent. The engine takes ownership of it.
	Token []byte
	// Flags are the ISC_RET_* (initiator) or ASC_RET_* (acceptor) bits
	// established so far; meaningful for security after the final leg.
	Flags uint64
	// Expiry is when the context stops being valid:
	// secctx.NeverExpires() for never, the zero time when not known.
	Expiry time.Time
	// Missing is the SECBUFFER_MISSING count with SEC_E_INCOMPLETE_MESSAGE:
	// how many more bytes of token are needed (0 when unknown).
	Missing int
	// Extra is the number of trailing input bytes not consumed
	// (SECBUFFER_EXTRA).
	Extra int
	// Err is the cause of a failure status, for status.Error.
	Err error
}

// Fail is shorthand for a failed leg.
func Fail(code status.Code, mech string, cause error) StepResult {
	return StepResult{Status: code, Err: status.New(code, mech, cause)}
}
