package negotiate

import "github.com/asyncsspi/asyncsspi/mechs"

// subToken is a sub-context's output token with the spare room in front of
// it that negContext.stepSub asked for: the token is
// buf[room:], and buf[:room] is Negotiate's to write its framing into, so
// that wrapping a token copies nothing. A nil buf is an absent token; a
// non-nil one of no bytes is present and empty.
type subToken struct {
	buf  []byte
	room int
}

// plainToken is a token with no room in front.
func plainToken(b []byte) subToken { return subToken{buf: b} }

// bytes returns the token proper (nil when absent).
func (t subToken) bytes() []byte {
	if t.buf == nil {
		return nil
	}
	return t.buf[t.room:]
}

// frame returns head, tok's bytes and tail, one after the other: written
// in place, head into tok's room and tail into its spare capacity, when
// both fit, else copied into one new buffer.
func frame(head []byte, tok subToken, tail []byte) []byte {
	t := tok.bytes()
	if len(head) <= tok.room && len(tail) <= cap(tok.buf)-len(tok.buf) {
		out := tok.buf[tok.room-len(head):]
		copy(out, head)
		return append(out, tail...)
	}
	out := make([]byte, 0, len(head)+len(t)+len(tail))
	out = append(out, head...)
	out = append(out, t...)
	return append(out, tail...)
}

// headroom is the room Negotiate asks its sub-packages for: enough for
// the largest framing it puts in front of a sub-token, the NegTokenInit
// with the whole mechanism list (GSS framing, [0], SEQUENCE, mechTypes,
// [2] and OCTET STRING headers of at most six bytes each, and the SPNEGO
// OID).
func headroom(fullList []byte) int {
	return min(len(fullList)+6*6+len(spnegoOIDTLV), mechs.MaxRoom)
}
