package negotiate

import (
	"github.com/asyncsspi/asyncsspi/mechs"
)

// HintName is the negHints hintName Windows sends in NegTokenInit2
// (MS-SPNG section 2.2.1).
const HintName = "not_defined_in_RFC4178@please_ignore"

// spnegoOIDTLV is the DER of the SPNEGO OID 1.3.6.1.5.5.2 (RFC 4178
// section 3), the thisMech of the GSS framing.
const spnegoOIDTLV = "\x06\x06\x2b\x06\x01\x05\x05\x02"

// NegTokenInit is RFC 4178 section 4.2.1's NegTokenInit, or MS-SPNG
// section 2.2.1's NegTokenInit2 when NegHints is non-nil (an acceptor that
// speaks first sends it). As the first token of a context it travels in
// the GSS framing of RFC 2743 section 3.1 ([APPLICATION 0] with the SPNEGO
// OID); Marshal adds that framing and ParseNegTokenInit requires it.
type NegTokenInit struct {
	// MechTypes lists mechanism OIDs, dotted, in preference order.
	MechTypes []string
	// ReqFlags is the content of the reqFlags BIT STRING. RFC 4178 says
	// senders SHOULD omit it and acceptors MUST ignore it; Marshal never
	// writes it.
	ReqFlags []byte
	// MechToken is the optimistic token of MechTypes[0]'s mechanism.
	MechToken []byte
	// NegHints makes the token a NegTokenInit2.
	NegHints *NegHints
	// MechListMIC is the MIC over the MechTypeList.
	MechListMIC []byte

	// mechTypesDER is the DER of the MechTypeList as received (the
	// bytes an acceptor verifies the initiator's mechListMIC over).
	mechTypesDER []byte
}

// NegHints is MS-SPNG's negotiation hints.
type NegHints struct {
	HintName    string
	HintAddress []byte
}

// MechTypesDER returns the DER of the MechTypeList exactly as parsed (nil
// for a token built in memory): what mechListMIC is computed over.
func (t *NegTokenInit) MechTypesDER() []byte { return t.mechTypesDER }

// Marshal returns the framed token.
func (t *NegTokenInit) Marshal() ([]byte, error) {
	list, err := encodeMechTypeList(t.MechTypes)
	if err != nil {
		return nil, err
	}
	hint := ""
	if t.NegHints != nil {
		hint = t.NegHints.HintName
	}
	return marshalInit(list, t.MechToken, t.MechListMIC, t.NegHints != nil, hint), nil
}

// marshalInit writes the framed NegTokenInit (NegTokenInit2 when init2) in
// one allocation. mechList is the DER of the MechTypeList.
func marshalInit(mechList, mechToken, mic []byte, init2 bool, hint string) []byte {
	return frameInit(mechList, plainToken(mechToken), mic, init2, hint)
}

// frameInit writes the framed NegTokenInit around tok: in place in the
// room in front of tok when it has enough, else in one allocation.
func frameInit(mechList []byte, tok subToken, mic []byte, init2 bool, hint string) []byte {
	mechToken := tok.bytes()
	// Sizes, innermost first.
	seq := tlvLen(len(mechList))
	if mechToken != nil {
		seq += taggedOctetsLen(mechToken)
	}
	hintsSeq := 0
	if init2 {
		if hint != "" {
			hintsSeq = tlvLen(tlvLen(len(hint)))
		}
		seq += tlvLen(tlvLen(hintsSeq))
	}
	if mic != nil {
		seq += taggedOctetsLen(mic)
	}
	choice := tlvLen(seq)
	app := len(spnegoOIDTLV) + tlvLen(choice)

	// Everything before the mechToken's content octets.
	var hb [160]byte
	head := appendHeader(hb[:0], tagApplication0, app)
	head = append(head, spnegoOIDTLV...)
	head = appendHeader(head, tagContext0, choice) // negTokenInit [0]
	head = appendHeader(head, tagSequence, seq)
	head = appendHeader(head, tagContext0, len(mechList))
	head = append(head, mechList...)
	if mechToken != nil {
		head = appendHeader(head, tagContext2, tlvLen(len(mechToken)))
		head = appendHeader(head, tagOctetString, len(mechToken))
	}
	// Everything after it.
	var tb [96]byte
	tail := tb[:0]
	micTag := byte(tagContext3)
	if init2 {
		tail = appendHeader(tail, tagContext3, tlvLen(hintsSeq))
		tail = appendHeader(tail, tagSequence, hintsSeq)
		if hint != "" {
			tail = appendHeader(tail, tagContext0, tlvLen(len(hint)))
			tail = appendHeader(tail, tagGeneralString, len(hint))
			tail = append(tail, hint...)
		}
		micTag = tagContext4
	}
	if mic != nil {
		tail = appendTaggedOctets(tail, micTag, mic)
	}
	return frame(head, tok, tail)
}

// initialToken is a parsed RFC 2743 InitialContextToken: the mechanism OID
// (content octets) and the inner token.
type initialToken struct {
	mechOID []byte
	inner   []byte
}

// parseInitialToken reads the GSS framing of a context's first token. A
// token cut short gives SEC_E_INCOMPLETE_MESSAGE with the missing count.
func parseInitialToken(b []byte) (initialToken, error) {
	content, err := readOuter(b, tagApplication0)
	if err != nil {
		return initialToken{}, err
	}
	r := derReader{content}
	oid, _, err := r.expect(tagOID)
	if err != nil {
		return initialToken{}, err
	}
	if len(oid) == 0 {
		return initialToken{}, invalid("empty mechanism OID in GSS framing")
	}
	return initialToken{mechOID: oid, inner: r.b}, nil
}

// isSPNEGO reports whether OID content octets name SPNEGO.
func isSPNEGO(oid []byte) bool { return string(oid) == spnegoOIDTLV[2:] }

// ParseNegTokenInit parses a framed NegTokenInit or NegTokenInit2. A
// truncated token gives a *status.Error with SEC_E_INCOMPLETE_MESSAGE
// (see Missing); anything else malformed gives SEC_E_INVALID_TOKEN.
func ParseNegTokenInit(b []byte) (*NegTokenInit, error) {
	it, err := parseInitialToken(b)
	if err != nil {
		return nil, err
	}
	if !isSPNEGO(it.mechOID) {
		return nil, invalid("GSS framing does not name SPNEGO")
	}
	return parseNegTokenInitInner(it.inner)
}

// parseNegTokenInitInner parses NegotiationToken's negTokenInit choice:
// [0] NegTokenInit (or NegTokenInit2).
func parseNegTokenInitInner(b []byte) (*NegTokenInit, error) {
	var raw negTokenInitRaw
	if err := parseNegTokenInitRaw(b, &raw); err != nil {
		return nil, err
	}
	t := &NegTokenInit{ReqFlags: raw.reqFlags, MechToken: raw.mechToken, NegHints: raw.negHints, MechListMIC: raw.mechListMIC}
	if raw.mechTypesDER != nil {
		var err error
		if t.MechTypes, err = parseMechTypeList(raw.mechTypesDER); err != nil {
			return nil, err
		}
		t.mechTypesDER = raw.mechTypesDER
	}
	return t, nil
}

// negTokenInitRaw is a parsed NegTokenInit whose mechanism list is left
// in DER (mechTypes is the SEQUENCE's content, mechTypesDER the whole
// SEQUENCE): what the acceptor needs, without converting OIDs to strings.
// The slices alias the token.
type negTokenInitRaw struct {
	mechTypes, mechTypesDER []byte
	reqFlags, mechToken     []byte
	negHints                *NegHints
	mechListMIC             []byte
}

func parseNegTokenInitRaw(b []byte, t *negTokenInitRaw) error {
	choice, _, err := only(b, tagContext0)
	if err != nil {
		return err
	}
	seq, _, err := only(choice, tagSequence)
	if err != nil {
		return err
	}
	r := derReader{seq}
	last := -1
	micSeen := false
	for !r.empty() {
		tag, content, _, err := r.next()
		if err != nil {
			return err
		}
		if tag&0xe0 != 0xa0 {
			return invalid("NegTokenInit field is not context-tagged")
		}
		n := int(tag & 0x1f)
		if n <= last {
			return invalid("NegTokenInit fields out of order")
		}
		last = n
		if micSeen {
			return invalid("NegTokenInit field after mechListMIC")
		}
		switch n {
		case 0:
			list, whole, err := only(content, tagSequence)
			if err != nil {
				return err
			}
			// Every element must be a well-formed OID.
			lr := derReader{list}
			for !lr.empty() {
				c, _, err := lr.expect(tagOID)
				if err != nil {
					return err
				}
				if !validOID(c) {
					return invalid("malformed OBJECT IDENTIFIER in mechTypes")
				}
			}
			t.mechTypes, t.mechTypesDER = list, whole
		case 1:
			if t.reqFlags, _, err = only(content, tagBitString); err != nil {
				return err
			}
		case 2:
			if t.mechToken, err = taggedOctets(content); err != nil {
				return err
			}
		case 3:
			// RFC 4178: [3] mechListMIC OCTET STRING. MS-SPNG
			// NegTokenInit2: [3] negHints SEQUENCE, mechListMIC at [4].
			if len(content) > 0 && content[0] == tagOctetString {
				if t.mechListMIC, err = taggedOctets(content); err != nil {
					return err
				}
				micSeen = true
				continue
			}
			if t.negHints, err = parseNegHints(content); err != nil {
				return err
			}
		case 4:
			if t.negHints == nil {
				return invalid("NegTokenInit [4] without negHints")
			}
			if t.mechListMIC, err = taggedOctets(content); err != nil {
				return err
			}
		default:
			// Extension marker: later fields are skipped.
		}
	}
	return nil
}

func parseNegHints(content []byte) (*NegHints, error) {
	seq, _, err := only(content, tagSequence)
	if err != nil {
		return nil, err
	}
	h := &NegHints{}
	r := derReader{seq}
	last := -1
	for !r.empty() {
		tag, c, _, err := r.next()
		if err != nil {
			return nil, err
		}
		n := int(tag & 0x1f)
		if tag&0xe0 != 0xa0 || n <= last {
			return nil, invalid("malformed negHints")
		}
		last = n
		switch n {
		case 0:
			s, _, err := only(c, tagGeneralString)
			if err != nil {
				return nil, err
			}
			h.HintName = string(s)
		case 1:
			if h.HintAddress, err = taggedOctets(c); err != nil {
				return nil, err
			}
		}
	}
	return h, nil
}

// kerberosOIDs are the OIDs a raw Kerberos token is framed with, and that
// name the Kerberos mechanism in a mechTypes list (RFC 1964 and the legacy
// Microsoft OID, MS-SPNG section 3.3.5.1 notes both).
func isKerberosOID(dotted string) bool {
	return dotted == mechs.OIDKerberos || dotted == mechs.OIDMSKerberos
}
