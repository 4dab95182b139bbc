package negotiate

import "strconv"

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
	return marshalResp(t.NegState, mech, t.ResponseToken, t.MechListMIC), nil
}

// marshalResp writes a NegTokenResp in one allocation; mech is the content
// octets of supportedMech's OID (nil when absent).
func marshalResp(state NegState, mech, token, mic []byte) []byte {
	return frameResp(state, mech, plainToken(token), mic)
}

// frameResp writes a NegTokenResp around tok: in place in the room in
// front of tok when it has enough, else in one allocation.
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
		seq += taggedOctetsLen(token)
	}
	if mic != nil {
		seq += taggedOctetsLen(mic)
	}
	// Everything before the token's content octets.
	var hb [64]byte
	head := appendHeader(hb[:0], tagContext1, tlvLen(seq)) // negTokenResp [1]
	head = appendHeader(head, tagSequence, seq)
	if state != NegStateAbsent {
		head = append(head, tagContext0, 3, tagEnumerated, 1, byte(state))
	}
	if mech != nil {
		head = appendHeader(head, tagContext1, tlvLen(len(mech)))
		head = appendHeader(head, tagOID, len(mech))
		head = append(head, mech...)
	}
	if token != nil {
		head = appendHeader(head, tagContext2, tlvLen(len(token)))
		head = appendHeader(head, tagOctetString, len(token))
	}
	var tb [48]byte
	tail := tb[:0]
	if mic != nil {
		tail = appendTaggedOctets(tail, tagContext3, mic)
	}
	return frame(head, tok, tail)
}

// ParseNegTokenResp parses a NegTokenResp. A truncated token gives a
// *status.Error with SEC_E_INCOMPLETE_MESSAGE (see Missing); anything
// else malformed gives SEC_E_INVALID_TOKEN. The slices alias b.
func ParseNegTokenResp(b []byte) (*NegTokenResp, error) {
	t := &NegTokenResp{}
	if err := parseNegTokenResp(b, t); err != nil {
		return nil, err
	}
	return t, nil
}

// parseNegTokenResp parses into t, without allocating.
func parseNegTokenResp(b []byte, t *NegTokenResp) error {
	*t = NegTokenResp{NegState: NegStateAbsent}
	choice, err := readOuter(b, tagContext1)
	if err != nil {
		return err
	}
	seq, _, err := only(choice, tagSequence)
	if err != nil {
		return err
	}
	r := derReader{seq}
	last := -1
	for !r.empty() {
		tag, content, _, err := r.next()
		if err != nil {
			return err
		}
		if tag&0xe0 != 0xa0 {
			return invalid("NegTokenResp field is not context-tagged")
		}
		n := int(tag & 0x1f)
		if n <= last {
			return invalid("NegTokenResp fields out of order")
		}
		last = n
		switch n {
		case 0:
			e, _, err := only(content, tagEnumerated)
			if err != nil {
				return err
			}
			if len(e) != 1 || e[0] > byte(RequestMIC) {
				return invalid("invalid negState")
			}
			t.NegState = NegState(e[0])
		case 1:
			c, _, err := only(content, tagOID)
			if err != nil {
				return err
			}
			s, ok := oidString(c)
			if !ok {
				return invalid("malformed supportedMech OID")
			}
			t.SupportedMech = s
		case 2:
			if t.ResponseToken, err = taggedOctets(content); err != nil {
				return err
			}
		case 3:
			if t.MechListMIC, err = taggedOctets(content); err != nil {
				return err
			}
		default:
			// Extension marker: later fields are skipped.
		}
	}
	return nil
}
