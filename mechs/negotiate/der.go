package negotiate

import (
	"errors"
	"strconv"
	"strings"

	"github.com/asyncsspi/asyncsspi/status"
)

// This file holds the small subset of DER (ITU-T X.690) that SPNEGO needs:
// definite lengths, the universal and context tags of RFC 4178 section 4.2,
// and OBJECT IDENTIFIER values. Encoding writes into one caller-sized
// buffer; decoding never allocates for the structure itself and never
// panics: every length is checked against what is left of its container.

// DER tags used by RFC 4178 and MS-SPNG.
const (
	tagBitString     = 0x03
	tagOctetString   = 0x04
	tagOID           = 0x06
	tagEnumerated    = 0x0a
	tagGeneralString = 0x1b
	tagSequence      = 0x30
	tagApplication0  = 0x60 // RFC 2743 section 3.1 InitialContextToken
	tagContext0      = 0xa0
	tagContext1      = 0xa1
	tagContext2      = 0xa2
	tagContext3      = 0xa3
	tagContext4      = 0xa4
)

// maxTokenLen bounds the lengths the parser believes (SSPI's largest
// cbMaxToken is under 64 KiB; 16 MiB leaves room for any real token and
// keeps a forged length from asking for gigabytes).
const maxTokenLen = 1 << 24

// derLenLen is the number of bytes the DER length of n takes.
func derLenLen(n int) int {
	switch {
	case n < 0x80:
		return 1
	case n <= 0xff:
		return 2
	case n <= 0xffff:
		return 3
	case n <= 0xffffff:
		return 4
	}
	return 5
}

// tlvLen is the full size of a TLV whose content is n bytes.
func tlvLen(n int) int { return 1 + derLenLen(n) + n }

// appendHeader appends a tag and the DER length of n.
func appendHeader(dst []byte, tag byte, n int) []byte {
	dst = append(dst, tag)
	switch {
	case n < 0x80:
		return append(dst, byte(n))
	case n <= 0xff:
		return append(dst, 0x81, byte(n))
	case n <= 0xffff:
		return append(dst, 0x82, byte(n>>8), byte(n))
	case n <= 0xffffff:
		return append(dst, 0x83, byte(n>>16), byte(n>>8), byte(n))
	}
	return append(dst, 0x84, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
}

// appendOctets appends [tag] { OCTET STRING b }: the explicit context tag
// wrapping an OCTET STRING, as every token field of RFC 4178 is written.
func appendTaggedOctets(dst []byte, tag byte, b []byte) []byte {
	dst = appendHeader(dst, tag, tlvLen(len(b)))
	dst = appendHeader(dst, tagOctetString, len(b))
	return append(dst, b...)
}

func taggedOctetsLen(b []byte) int { return tlvLen(tlvLen(len(b))) }

// tokenError is the cause carried by a *status.Error for a token that does
// not parse: SEC_E_INCOMPLETE_MESSAGE (Missing more bytes are needed; 0
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

// readHeader reads a tag and a definite DER length at the start of b. It
// returns the tag, the header size and the content length. The content
// may extend beyond b: the caller decides whether that is truncation (the
// outermost TLV) or malformation (a TLV inside a container).
func readHeader(b []byte) (tag byte, hdr, n int, err error) {
	if len(b) < 2 {
		return 0, 0, 0, incomplete(2-len(b), "token too short for a DER header")
	}
	tag = b[0]
	if tag&0x1f == 0x1f {
		return 0, 0, 0, invalid("multi-byte DER tags are not used by SPNEGO")
	}
	l := int(b[1])
	if l < 0x80 {
		return tag, 2, l, nil
	}
	k := l & 0x7f
	if k == 0 {
		return 0, 0, 0, invalid("indefinite DER length")
	}
	if k > 4 {
		return 0, 0, 0, invalid("DER length too large")
	}
	if len(b) < 2+k {
		return 0, 0, 0, incomplete(2+k-len(b), "token too short for its DER length")
	}
	n = 0
	for _, c := range b[2 : 2+k] {
		n = n<<8 | int(c)
	}
	if n > maxTokenLen {
		return 0, 0, 0, invalid("DER length too large")
	}
	if n < 0x80 || (k > 1 && b[2] == 0) {
		return 0, 0, 0, invalid("DER length not in minimal form")
	}
	return tag, 2 + k, n, nil
}

// readOuter reads the outermost TLV of a token: a content that runs past
// the end of b is truncation (SEC_E_INCOMPLETE_MESSAGE with the missing
// count); trailing bytes after it are invalid.
func readOuter(b []byte, want byte) (content []byte, err error) {
	tag, hdr, n, err := readHeader(b)
	if err != nil {
		return nil, err
	}
	if tag != want {
		return nil, invalid("unexpected token tag 0x" + strconv.FormatUint(uint64(tag), 16))
	}
	if hdr+n > len(b) {
		return nil, incomplete(hdr+n-len(b), "token truncated")
	}
	if hdr+n < len(b) {
		return nil, invalid("trailing bytes after token")
	}
	return b[hdr : hdr+n], nil
}

// derReader walks the TLVs inside one container.
type derReader struct {
	b []byte
}

func (r *derReader) empty() bool { return len(r.b) == 0 }

// next consumes one TLV that must fit in the container.
func (r *derReader) next() (tag byte, content, whole []byte, err error) {
	tag, hdr, n, err := readHeader(r.b)
	if err != nil {
		// Inside a container, running out of bytes is malformation.
		return 0, nil, nil, invalid("DER element overruns its container")
	}
	if hdr+n > len(r.b) {
		return 0, nil, nil, invalid("DER element overruns its container")
	}
	whole = r.b[:hdr+n]
	content = r.b[hdr : hdr+n]
	r.b = r.b[hdr+n:]
	return tag, content, whole, nil
}

// expect consumes one TLV with the given tag.
func (r *derReader) expect(tag byte) (content, whole []byte, err error) {
	t, c, w, err := r.next()
	if err != nil {
		return nil, nil, err
	}
	if t != tag {
		return nil, nil, invalid("unexpected DER tag 0x" + strconv.FormatUint(uint64(t), 16))
	}
	return c, w, nil
}

// only reads a container that must hold exactly one TLV with tag.
func only(b []byte, tag byte) (content, whole []byte, err error) {
	r := derReader{b}
	c, w, err := r.expect(tag)
	if err != nil {
		return nil, nil, err
	}
	if !r.empty() {
		return nil, nil, invalid("unexpected bytes after DER element")
	}
	return c, w, nil
}

// taggedOctets reads the content of [n] { OCTET STRING }.
func taggedOctets(content []byte) ([]byte, error) {
	c, _, err := only(content, tagOctetString)
	return c, err
}

// Well-known OIDs, DER content bytes (without tag and length), so that the
// usual lists encode and decode without any arithmetic.
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
// when the string is not a valid OID.
func oidContent(dotted string) ([]byte, bool) {
	for _, k := range knownOIDs {
		if k.dotted == dotted {
			return []byte(k.der), true
		}
	}
	parts := strings.Split(dotted, ".")
	if len(parts) < 2 {
		return nil, false
	}
	arcs := make([]uint64, len(parts))
	for i, p := range parts {
		v, err := strconv.ParseUint(p, 10, 63)
		if err != nil || p == "" || (len(p) > 1 && p[0] == '0') {
			return nil, false
		}
		arcs[i] = v
	}
	if arcs[0] > 2 || (arcs[0] < 2 && arcs[1] > 39) {
		return nil, false
	}
	var out []byte
	out = appendBase128(out, arcs[0]*40+arcs[1])
	for _, a := range arcs[2:] {
		out = appendBase128(out, a)
	}
	return out, true
}

func appendBase128(dst []byte, v uint64) []byte {
	var tmp [10]byte
	i := len(tmp) - 1
	tmp[i] = byte(v & 0x7f)
	for v >>= 7; v > 0; v >>= 7 {
		i--
		tmp[i] = byte(v&0x7f) | 0x80
	}
	return append(dst, tmp[i:]...)
}

// validOID reports whether c are valid OID content octets (minimal
// base-128 arcs, the last one terminated).
func validOID(c []byte) bool {
	if len(c) == 0 || c[len(c)-1]&0x80 != 0 {
		return false
	}
	start := true
	for _, b := range c {
		if start && b == 0x80 {
			return false
		}
		start = b&0x80 == 0
	}
	return true
}

// oidString converts OID content octets to dotted form; false when they
// are not a valid DER OID.
func oidString(c []byte) (string, bool) {
	for _, k := range knownOIDs {
		if k.der == string(c) {
			return k.dotted, true
		}
	}
	if len(c) == 0 || c[len(c)-1]&0x80 != 0 {
		return "", false
	}
	var sb strings.Builder
	first := true
	var v uint64
	start := true
	for _, b := range c {
		if start && b == 0x80 {
			return "", false // non-minimal arc
		}
		start = false
		if v > 1<<56 {
			return "", false
		}
		v = v<<7 | uint64(b&0x7f)
		if b&0x80 != 0 {
			continue
		}
		if first {
			switch {
			case v < 40:
				sb.WriteString("0.")
				sb.WriteString(strconv.FormatUint(v, 10))
			case v < 80:
				sb.WriteString("1.")
				sb.WriteString(strconv.FormatUint(v-40, 10))
			default:
				sb.WriteString("2.")
				sb.WriteString(strconv.FormatUint(v-80, 10))
			}
			first = false
		} else {
			sb.WriteByte('.')
			sb.WriteString(strconv.FormatUint(v, 10))
		}
		v = 0
		start = true
	}
	return sb.String(), true
}

// encodeMechTypeList returns the DER of MechTypeList ::= SEQUENCE OF
// MechType (RFC 4178 section 4.1): the bytes mechListMIC covers.
func encodeMechTypeList(oids []string) ([]byte, error) {
	contents := make([][]byte, len(oids))
	n := 0
	for i, o := range oids {
		c, ok := oidContent(o)
		if !ok {
			return nil, status.Errorf(status.SEC_E_INVALID_PARAMETER, pkgName, "invalid OID "+strconv.Quote(o))
		}
		contents[i] = c
		n += tlvLen(len(c))
	}
	out := make([]byte, 0, tlvLen(n))
	out = appendHeader(out, tagSequence, n)
	for _, c := range contents {
		out = appendHeader(out, tagOID, len(c))
		out = append(out, c...)
	}
	return out, nil
}

// parseMechTypeList parses the DER of a MechTypeList.
func parseMechTypeList(whole []byte) ([]string, error) {
	content, _, err := only(whole, tagSequence)
	if err != nil {
		return nil, err
	}
	r := derReader{content}
	var oids []string
	for !r.empty() {
		c, _, err := r.expect(tagOID)
		if err != nil {
			return nil, err
		}
		s, ok := oidString(c)
		if !ok {
			return nil, invalid("malformed OBJECT IDENTIFIER in mechTypes")
		}
		oids = append(oids, s)
	}
	return oids, nil
}
