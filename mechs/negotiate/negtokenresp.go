package negotiate

import (
	"strconv"

	"golang.org/x/crypto/cryptobyte"
	"golang.org/x/crypto/cryptobyte/asn1"
)

// NegState is NegTokenResp's negState (RFC 4178 section 4.2.2).
type NegState int8

// The four negState values, and NegStateAbsent for a token without one.
const (
	NegStateAbsent   NegState = -1
	AcceptCompleted  NegState = 0
	AcceptIncomplete NegState = 1
	Reject           NegState = 2
	RequestMIC       NegState = 3
)

func (s NegState) String() string {
	switch s {
	case NegStateAbsent:
		return "absent"
	case AcceptCompleted:
		return "accept-completed"
	case AcceptIncomplete:
		return "accept-incomplete"
	case Reject:
		return "reject"
	case RequestMIC:
		return "request-mic"
	}
	return "negState(" + strconv.Itoa(int(s)) + ")"
}

// NegTokenResp is RFC 4178 section 4.2.2's NegTokenResp: every token after
// the first, in both directions. It carries no GSS framing. A nil
// ResponseToken or MechListMIC is absent; an empty non-nil one is present
// and empty.
type NegTokenResp struct {
	NegState      NegState
	SupportedMech string // dotted OID; "" when absent
	ResponseToken []byte
	MechListMIC   []byte
}

// Marshal returns the DER of the token ([1] NegTokenResp).
func (t *NegTokenResp) Marshal() ([]byte, error) {
	var mech []byte
	if t.SupportedMech != "" {
		c, ok := oidContent(t.SupportedMech)
		if !ok {
			return nil, invalid("invalid supportedMech OID " + strconv.Quote(t.SupportedMech))
		}
		mech = c
	}
	if t.NegState < NegStateAbsent || t.NegState > RequestMIC {
		return nil, invalid("invalid negState")
	}
	return frameResp(t.NegState, mech, plainToken(t.ResponseToken), t.MechListMIC), nil
}

// frameResp writes a NegTokenResp around tok: in place, in the room in
// front of tok, when it has enough, else in one allocation. mech is the
// content octets of supportedMech's OID (nil when absent).
func frameResp(state NegState, mech []byte, tok subToken, mic []byte) []byte {
	token := tok.bytes()
	seq := 0
	if state != NegStateAbsent {
		seq += tlvLen(3)
	}
	if mech != nil {
		seq += tlvLen(tlvLen(len(mech)))
	}
	if token != nil {
		seq += octetsLen(len(token))
	}
	if mic != nil {
		seq += octetsLen(len(mic))
	}
	// Everything before the token's content octets.
	var hb [64]byte
	head := appendHeader(hb[:0], tagNegTokenResp, tlvLen(seq))
	head = appendHeader(head, asn1.SEQUENCE, seq)
	if state != NegStateAbsent {
		head = append(appendHeader(head, field(0), 3), byte(asn1.ENUM), 1, byte(state))
	}
	if mech != nil {
		head = appendHeader(head, field(1), tlvLen(len(mech)))
		head = append(appendHeader(head, asn1.OBJECT_IDENTIFIER, len(mech)), mech...)
	}
	if token != nil {
		head = appendOctetsHeader(head, field(2), len(token))
	}
	var tb [48]byte
	return frame(head, tok, appendMIC(tb[:0], field(3), mic))
}

// ParseNegTokenResp parses a NegTokenResp. A truncated token gives a
// *status.Error with SEC_E_INCOMPLETE_MESSAGE (see Missing); anything
// else malformed, or a token longer than 65535 bytes (the largest
// MaxTokenSize Windows allows), gives SEC_E_INVALID_TOKEN. The slices
// alias b.
func ParseNegTokenResp(b []byte) (*NegTokenResp, error) {
	t := &NegTokenResp{}
	if err := parseNegTokenResp(b, maxTokenLimit, t); err != nil {
		return nil, err
	}
	return t, nil
}

// parseNegTokenResp parses into t, without allocating for the known
// OIDs; limit is the maximum token size.
func parseNegTokenResp(b []byte, limit int, t *NegTokenResp) error {
	const malformed = "malformed NegTokenResp"
	*t = NegTokenResp{NegState: NegStateAbsent}
	body, err := readToken(b, tagNegTokenResp, limit)
	if err != nil {
		return err
	}
	seq, ok := only(body, asn1.SEQUENCE)
	var f cryptobyte.String
	var present bool
	if !ok || !seq.ReadOptionalASN1(&f, &present, field(0)) {
		return invalid(malformed)
	}
	if present {
		var e int
		if !f.ReadASN1Enum(&e) || !f.Empty() || e < int(AcceptCompleted) || e > int(RequestMIC) {
			return invalid("invalid negState")
		}
		t.NegState = NegState(e)
	}
	if !seq.ReadOptionalASN1(&f, &present, field(1)) {
		return invalid(malformed)
	}
	if present {
		oid, ok := only(f, asn1.OBJECT_IDENTIFIER)
		mech, ok2 := oidString(oid)
		if !ok || !ok2 {
			return invalid("malformed supportedMech OID")
		}
		t.SupportedMech = mech
	}
	if !seq.ReadOptionalASN1OctetString(&t.ResponseToken, nil, field(2)) ||
		!seq.ReadOptionalASN1OctetString(&t.MechListMIC, nil, field(3)) || !skipExtensions(seq, 3) {
		return invalid(malformed)
	}
	return nil
}
