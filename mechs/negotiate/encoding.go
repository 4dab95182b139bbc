package negotiate

import (
	"crypto/x509"
	"errors"
	"strconv"

	"golang.org/x/crypto/cryptobyte"
	"golang.org/x/crypto/cryptobyte/asn1"

	"github.com/asyncsspi/asyncsspi/status"
)

// Negotiate's tokens are DER (ITU-T X.690). They are read with cryptobyte,
// which never lets a value run past its container and refuses indefinite,
// non-minimal and multi-octet-tag encodings; what it returns aliases the
// token, so reading copies nothing. The MechTypeList and NegHints, built
// whole, are written with cryptobyte.Builder; the framing around a
// sub-token is written by appendHeader, which says why.

// Tags of RFC 2743 section 3.1 and RFC 4178 section 4.2 that
// cryptobyte/asn1 does not name.
const (
	// tagGSSToken is [APPLICATION 0] IMPLICIT SEQUENCE: the
	// InitialContextToken framing of a context's first token.
	tagGSSToken = asn1.Tag(0x60)
	// tagNegTokenInit and tagNegTokenResp are the two choices of
	// NegotiationToken, [0] and [1].
	tagNegTokenInit = asn1.Tag(0xa0)
	tagNegTokenResp = asn1.Tag(0xa1)
)

// field is the tag of a SEQUENCE's explicitly tagged field [n].
func field(n uint8) asn1.Tag { return asn1.Tag(n).ContextSpecific().Constructed() }

// maxTokenLimit is the largest token the package-independent parsers
// (ParseNegTokenInit, ParseNegTokenResp) believe: 65535 octets, the
// largest MaxTokenSize Windows allows. A context keeps to its package's
// own maximum (Package.Info().MaxToken), 48,256 over Kerberos.
const maxTokenLimit = 0xffff

// appendHeader appends a DER identifier octet and the definite length, in
// minimal form (X.690 sections 8.1.3 and 10.1), of a content of n octets.
//
// It exists because Negotiate frames a sub-package's token in place, in
// the room the sub-package left in front of it (mechs.RoomStepper, frame):
// the headers are written before content that is already there, so each
// length must be known before its content is written. cryptobyte.Builder
// writes a length after its content, and its nested builders allocate.
func appendHeader(dst []byte, tag asn1.Tag, n int) []byte {
	switch {
	case n < 0x80:
		return append(dst, byte(tag), byte(n))
	case n <= 0xff:
		return append(dst, byte(tag), 0x81, byte(n))
	case n <= 0xffff:
		return append(dst, byte(tag), 0x82, byte(n>>8), byte(n))
	case n <= 0xffffff:
		return append(dst, byte(tag), 0x83, byte(n>>16), byte(n>>8), byte(n))
	}
	return append(dst, byte(tag), 0x84, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
}

// tlvLen is the size of a TLV whose content is n octets.
func tlvLen(n int) int {
	var h [6]byte
	return len(appendHeader(h[:0], 0, n)) + n
}

// appendOctetsHeader appends the headers of [tag] { OCTET STRING } around
// n octets, the form of every token field of RFC 4178 section 4.2.
func appendOctetsHeader(dst []byte, tag asn1.Tag, n int) []byte {
	return appendHeader(appendHeader(dst, tag, tlvLen(n)), asn1.OCTET_STRING, n)
}

// appendMIC appends a token's last field, the mechListMIC [tag] OCTET
// STRING, when there is a MIC.
func appendMIC(dst []byte, tag asn1.Tag, mic []byte) []byte {
	if mic == nil {
		return dst
	}
	return append(appendOctetsHeader(dst, tag, len(mic)), mic...)
}

// octetsLen is the size of [tag] { OCTET STRING } around n octets.
func octetsLen(n int) int { return tlvLen(tlvLen(n)) }

// readToken returns the content of b's outermost TLV, which must have tag
// want and fill b exactly: a context token is one DER value. limit is the
// maximum token size: a longer b, or one whose DER length says it would
// be longer, is SEC_E_INVALID_TOKEN, so that no peer is ever asked for
// bytes it could not send. A b cut short is SEC_E_INCOMPLETE_MESSAGE with
// the number of octets missing.
func readToken(b []byte, want asn1.Tag, limit int) (cryptobyte.String, error) {
	if len(b) > limit {
		return nil, invalid("token larger than the maximum token size (" + strconv.Itoa(limit) + ")")
	}
	s := cryptobyte.String(b)
	var body cryptobyte.String
	if s.ReadASN1(&body, want) {
		if !s.Empty() {
			return nil, invalid("trailing bytes after token")
		}
		return body, nil
	}
	return nil, whyUnreadable(b, want, limit)
}

// whyUnreadable says why cryptobyte could not read b's outermost TLV,
// which its reads do not: a token cut short (and how many octets are
// missing) or a malformed one. It decodes the header (X.690 sections
// 8.1.2 and 8.1.3) only as far as that takes.
func whyUnreadable(b []byte, want asn1.Tag, limit int) error {
	switch {
	case len(b) > 0 && asn1.Tag(b[0]) != want:
		return invalid("unexpected token tag 0x" + strconv.FormatUint(uint64(b[0]), 16))
	case len(b) < 2:
		return incomplete(2-len(b), "token too short for a DER header")
	}
	hdr, n := 2, int(b[1])
	if n >= 0x80 {
		k := n & 0x7f
		if k == 0 || k > 4 {
			return invalid("indefinite or oversized DER length")
		}
		if len(b) < 2+k {
			return incomplete(2+k-len(b), "token too short for its DER length")
		}
		n = 0
		for _, c := range b[2 : 2+k] {
			n = n<<8 | int(c)
		}
		if n < 0x80 || b[2] == 0 {
			return invalid("DER length not in minimal form")
		}
		hdr += k
	}
	if hdr+n > limit {
		return invalid("DER length beyond the maximum token size (" + strconv.Itoa(limit) + ")")
	}
	if hdr+n > len(b) {
		return incomplete(hdr+n-len(b), "token truncated")
	}
	return invalid("malformed token")
}

// only returns the content of the single TLV s holds, which must have tag.
func only(s cryptobyte.String, tag asn1.Tag) (cryptobyte.String, bool) {
	var c cryptobyte.String
	return c, s.ReadASN1(&c, tag) && s.Empty()
}

// skipExtensions passes over what follows the last known field [last] of
// a SEQUENCE with an extension marker (RFC 4178 section 4.2): fields
// context-tagged above last, in increasing order. Anything else left is a
// known field out of order or repeated, or not a field at all.
func skipExtensions(s cryptobyte.String, last uint8) bool {
	for !s.Empty() {
		var tag asn1.Tag
		var v cryptobyte.String
		if !s.ReadAnyASN1(&v, &tag) || tag&0xe0 != 0xa0 || uint8(tag&0x1f) <= last {
			return false
		}
		last = uint8(tag & 0x1f)
	}
	return true
}

// tokenError is the cause carried by a *status.Error for a token that does
// not parse: SEC_E_INCOMPLETE_MESSAGE (missing more octets are needed; 0
// when unknown) or SEC_E_INVALID_TOKEN.
type tokenError struct {
	incomplete bool
	missing    int
	msg        string
}

func (e *tokenError) Error() string {
	if e.incomplete && e.missing > 0 {
		return e.msg + " (" + strconv.Itoa(e.missing) + " more bytes needed)"
	}
	return e.msg
}

func invalid(msg string) error {
	return status.New(status.SEC_E_INVALID_TOKEN, pkgName, &tokenError{msg: msg})
}

func incomplete(missing int, msg string) error {
	return status.New(status.SEC_E_INCOMPLETE_MESSAGE, pkgName, &tokenError{incomplete: true, missing: missing, msg: msg})
}

// Missing returns the SECBUFFER_MISSING count carried by an error from
// the token parsers: how many more bytes a truncated token needs (0 when
// unknown, or when err is not a SEC_E_INCOMPLETE_MESSAGE).
func Missing(err error) int {
	var te *tokenError
	if errors.As(err, &te) && te.incomplete {
		return te.missing
	}
	return 0
}

// Well-known OIDs, dotted and as DER content octets, so that the usual
// ones convert without arithmetic or allocation.
var knownOIDs = [...]struct {
	dotted string
	der    string
}{
	{"1.3.6.1.5.5.2", "\x2b\x06\x01\x05\x05\x02"},
	{"1.2.840.113554.1.2.2", "\x2a\x86\x48\x86\xf7\x12\x01\x02\x02"},
	{"1.2.840.48018.1.2.2", "\x2a\x86\x48\x82\xf7\x12\x01\x02\x02"},
	{"1.3.6.1.4.1.311.2.2.10", "\x2b\x06\x01\x04\x01\x82\x37\x02\x02\x0a"},
	{"1.3.6.1.4.1.311.2.2.30", "\x2b\x06\x01\x04\x01\x82\x37\x02\x02\x1e"},
	{"1.2.840.113554.1.2.2.3", "\x2a\x86\x48\x86\xf7\x12\x01\x02\x02\x03"},
	{"1.3.5.1.5.2", "\x2b\x05\x01\x05\x02"},
	{"1.3.6.1.5.2.5", "\x2b\x06\x01\x05\x02\x05"},
}

// oidContent returns the DER content octets of a dotted OID, or false
// when the string is not one in canonical form (no empty arc, no leading
// zero). Arcs may be of any size, as X.660 allows.
func oidContent(dotted string) ([]byte, bool) {
	for _, k := range knownOIDs {
		if k.dotted == dotted {
			return []byte(k.der), true
		}
	}
	o, err := x509.ParseOID(dotted)
	if err != nil || o.String() != dotted {
		return nil, false
	}
	c, err := o.MarshalBinary()
	return c, err == nil
}

// oidString converts OID content octets to dotted form; false when they
// are not a valid DER OID (X.690 section 8.19: minimal arcs, the last one
// terminated).
func oidString(c []byte) (string, bool) {
	if s, ok := knownOID(c); ok {
		return s, true
	}
	var o x509.OID
	if o.UnmarshalBinary(c) != nil {
		return "", false
	}
	return o.String(), true
}

// validOID is oidString's check alone, without making the string.
func validOID(c []byte) bool {
	if _, ok := knownOID(c); ok {
		return true
	}
	var o x509.OID
	return o.UnmarshalBinary(c) == nil
}

// knownOID is the dotted form of OID content octets in knownOIDs.
func knownOID(c []byte) (string, bool) {
	for _, k := range knownOIDs {
		if k.der == string(c) {
			return k.dotted, true
		}
	}
	return "", false
}

// encodeMechTypeList returns the DER of MechTypeList ::= SEQUENCE OF
// MechType (RFC 4178 section 4.1), the bytes mechListMIC covers, from the
// OIDs' content octets.
func encodeMechTypeList(oids [][]byte) []byte {
	var b cryptobyte.Builder
	b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
		for _, o := range oids {
			b.AddASN1(asn1.OBJECT_IDENTIFIER, func(b *cryptobyte.Builder) { b.AddBytes(o) })
		}
	})
	// It cannot fail: the tags are single octets and no list comes near
	// the 4 GiB DER lengths stop at.
	out, _ := b.Bytes()
	return out
}

// nextOID reads the next element of a MechTypeList's content: the OID's
// content octets, or false at the end of the list or at an element that
// is not a valid OBJECT IDENTIFIER (X.690 section 8.19).
func nextOID(list *cryptobyte.String) ([]byte, bool) {
	var oid cryptobyte.String
	if !list.ReadASN1(&oid, asn1.OBJECT_IDENTIFIER) {
		return nil, false
	}
	return oid, validOID(oid)
}
