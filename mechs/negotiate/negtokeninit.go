package negotiate

import (
	"strconv"

	"golang.org/x/crypto/cryptobyte"
	"golang.org/x/crypto/cryptobyte/asn1"

	"github.com/asyncsspi/asyncsspi/mechs"
	"github.com/asyncsspi/asyncsspi/status"
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
	oids := make([][]byte, len(t.MechTypes))
	for i, o := range t.MechTypes {
		c, ok := oidContent(o)
		if !ok {
			return nil, status.Errorf(status.SEC_E_INVALID_PARAMETER, pkgName, "invalid OID "+strconv.Quote(o))
		}
		oids[i] = c
	}
	var hints []byte
	if t.NegHints != nil {
		hints = encodeNegHints(t.NegHints)
	}
	return frameInit(encodeMechTypeList(oids), plainToken(t.MechToken), t.MechListMIC, hints), nil
}

// encodeNegHints returns the DER of MS-SPNG section 2.2.1's NegHints
// SEQUENCE; an empty HintName and a nil HintAddress are left out.
func encodeNegHints(h *NegHints) []byte {
	var b cryptobyte.Builder
	b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
		if h.HintName != "" {
			b.AddASN1(field(0), func(b *cryptobyte.Builder) {
				b.AddASN1(asn1.GeneralString, func(b *cryptobyte.Builder) { b.AddBytes([]byte(h.HintName)) })
			})
		}
		if h.HintAddress != nil {
			b.AddASN1(field(1), func(b *cryptobyte.Builder) { b.AddASN1OctetString(h.HintAddress) })
		}
	})
	// It cannot fail: single-octet tags, and hints far below 4 GiB.
	out, _ := b.Bytes()
	return out
}

// frameInit writes the framed NegTokenInit around tok: in place, in the
// room in front of tok, when it has enough, else in one allocation.
// mechList is the DER of the MechTypeList; hints, when non-nil, the DER of
// the NegHints, which makes the token a NegTokenInit2 (its mechListMIC
// then at [4]).
func frameInit(mechList []byte, tok subToken, mic []byte, hints []byte) []byte {
	mechToken := tok.bytes()
	// Sizes, innermost first.
	seq := tlvLen(len(mechList))
	if mechToken != nil {
		seq += octetsLen(len(mechToken))
	}
	micTag := field(3)
	if hints != nil {
		seq += tlvLen(len(hints))
		micTag = field(4)
	}
	if mic != nil {
		seq += octetsLen(len(mic))
	}
	choice := tlvLen(seq)
	app := len(spnegoOIDTLV) + tlvLen(choice)

	// Everything before the mechToken's content octets.
	var hb [160]byte
	head := appendHeader(hb[:0], tagGSSToken, app)
	head = append(head, spnegoOIDTLV...)
	head = appendHeader(head, tagNegTokenInit, choice)
	head = appendHeader(head, asn1.SEQUENCE, seq)
	head = appendHeader(head, field(0), len(mechList))
	head = append(head, mechList...)
	if mechToken != nil {
		head = appendOctetsHeader(head, field(2), len(mechToken))
	}
	// Everything after it.
	var tb [96]byte
	tail := tb[:0]
	if hints != nil {
		tail = append(appendHeader(tail, field(3), len(hints)), hints...)
	}
	return frame(head, tok, appendMIC(tail, micTag, mic))
}

// initialToken is a parsed RFC 2743 InitialContextToken: the mechanism OID
// (content octets) and the inner token.
type initialToken struct {
	mechOID []byte
	inner   []byte
}

// parseInitialToken reads the GSS framing of a context's first token. A
// token cut short gives SEC_E_INCOMPLETE_MESSAGE with the missing count.
func parseInitialToken(b []byte, limit int) (initialToken, error) {
	body, err := readToken(b, tagGSSToken, limit)
	if err != nil {
		return initialToken{}, err
	}
	var oid cryptobyte.String
	if !body.ReadASN1(&oid, asn1.OBJECT_IDENTIFIER) || len(oid) == 0 {
		return initialToken{}, invalid("GSS framing without a mechanism OID")
	}
	return initialToken{mechOID: oid, inner: body}, nil
}

// isSPNEGO reports whether OID content octets name SPNEGO.
func isSPNEGO(oid []byte) bool { return string(oid) == spnegoOIDTLV[2:] }

// ParseNegTokenInit parses a framed NegTokenInit or NegTokenInit2. A
// truncated token gives a *status.Error with SEC_E_INCOMPLETE_MESSAGE
// (see Missing); anything else malformed, or a token longer than 65535
// bytes (the largest MaxTokenSize Windows allows), gives
// SEC_E_INVALID_TOKEN. The slices alias b.
func ParseNegTokenInit(b []byte) (*NegTokenInit, error) {
	var raw negTokenInitRaw
	var types []string
	err := parseFramedNegTokenInit(b, maxTokenLimit, &raw, func(_ int, oid []byte) {
		s, _ := oidString(oid) // valid: checked before the call
		types = append(types, s)
	})
	if err != nil {
		return nil, err
	}
	return &NegTokenInit{MechTypes: types, ReqFlags: raw.reqFlags, MechToken: raw.mechToken, NegHints: raw.negHints,
		MechListMIC: raw.mechListMIC, mechTypesDER: raw.mechTypesDER}, nil
}

// parseFramedNegTokenInit parses a NegTokenInit in its GSS framing.
func parseFramedNegTokenInit(b []byte, limit int, t *negTokenInitRaw, each func(i int, oid []byte)) error {
	it, err := parseInitialToken(b, limit)
	if err != nil {
		return err
	}
	if !isSPNEGO(it.mechOID) {
		return invalid("GSS framing does not name SPNEGO")
	}
	return parseNegTokenInitRaw(it.inner, t, each)
}

// negTokenInitRaw is a parsed NegTokenInit whose mechanism list is left
// in DER (mechTypes is the SEQUENCE's content, mechTypesDER the whole
// SEQUENCE, both nil when absent), so that no OID need be converted to a
// string. The slices alias the token.
type negTokenInitRaw struct {
	mechTypes, mechTypesDER []byte
	reqFlags, mechToken     []byte
	negHints                *NegHints
	mechListMIC             []byte
}

// parseNegTokenInitRaw parses NegotiationToken's negTokenInit choice, [0]
// NegTokenInit (RFC 4178 section 4.2.1) or NegTokenInit2 (MS-SPNG section
// 2.2.1). Every element of mechTypes must be a valid OID; each, when
// non-nil, is called with each one's position and content octets as it
// is checked, so that callers need not read the list again.
func parseNegTokenInitRaw(b []byte, t *negTokenInitRaw, each func(i int, oid []byte)) error {
	const malformed = "malformed NegTokenInit"
	choice, ok := only(b, tagNegTokenInit)
	seq, ok2 := only(choice, asn1.SEQUENCE)
	var f cryptobyte.String
	var present bool
	if !ok || !ok2 || !seq.ReadOptionalASN1(&f, &present, field(0)) {
		return invalid(malformed)
	}
	if present {
		// [0] holds exactly the MechTypeList: f is its whole DER.
		list, ok := only(f, asn1.SEQUENCE)
		if !ok {
			return invalid(malformed)
		}
		for i, l := 0, list; !l.Empty(); i++ {
			oid, ok := nextOID(&l)
			if !ok {
				return invalid("malformed OBJECT IDENTIFIER in mechTypes")
			}
			if each != nil {
				each(i, oid)
			}
		}
		t.mechTypes, t.mechTypesDER = list, f
	}
	if !seq.ReadOptionalASN1(&f, &present, field(1)) {
		return invalid(malformed)
	}
	if present {
		if t.reqFlags, ok = only(f, asn1.BIT_STRING); !ok {
			return invalid(malformed)
		}
	}
	// [3] is RFC 4178's mechListMIC, or NegTokenInit2's negHints with the
	// mechListMIC at [4].
	if !seq.ReadOptionalASN1OctetString(&t.mechToken, nil, field(2)) || !seq.ReadOptionalASN1(&f, &present, field(3)) {
		return invalid(malformed)
	}
	switch {
	case present && f.PeekASN1Tag(asn1.OCTET_STRING):
		if t.mechListMIC, ok = only(f, asn1.OCTET_STRING); !ok || !seq.Empty() {
			return invalid("NegTokenInit field after mechListMIC, or malformed mechListMIC")
		}
		return nil
	case present:
		var err error
		if t.negHints, err = parseNegHints(f); err != nil {
			return err
		}
		if !seq.ReadOptionalASN1OctetString(&t.mechListMIC, nil, field(4)) {
			return invalid(malformed)
		}
	}
	if !skipExtensions(seq, 4) {
		return invalid("NegTokenInit fields out of order, or [4] without negHints")
	}
	return nil
}

// parseNegHints parses MS-SPNG's NegHints SEQUENCE.
func parseNegHints(b cryptobyte.String) (*NegHints, error) {
	h := &NegHints{}
	seq, ok := only(b, asn1.SEQUENCE)
	var name cryptobyte.String
	var present bool
	if !ok || !seq.ReadOptionalASN1(&name, &present, field(0)) {
		return nil, invalid("malformed negHints")
	}
	if present {
		s, ok := only(name, asn1.GeneralString)
		if !ok {
			return nil, invalid("malformed negHints")
		}
		h.HintName = string(s)
	}
	if !seq.ReadOptionalASN1OctetString(&h.HintAddress, nil, field(1)) || !skipExtensions(seq, 1) {
		return nil, invalid("malformed negHints")
	}
	return h, nil
}

// isKerberosOID reports whether a dotted OID names the Kerberos mechanism
// (RFC 1964, or the legacy Microsoft OID MS-SPNG section 3.3.5.1 notes).
func isKerberosOID(dotted string) bool {
	return dotted == mechs.OIDKerberos || dotted == mechs.OIDMSKerberos
}
