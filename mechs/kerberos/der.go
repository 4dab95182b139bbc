package kerberos

import (
	"errors"
	"time"
)

// This file holds the small DER encoder and decoder the AP exchange uses.
// Kerberos messages (RFC 4120 section 5) use only low tag numbers (< 31),
// definite lengths and a handful of universal types, so a hand-rolled codec
// covers them and avoids encoding/asn1's reflection, which dominates
// gokrb5's AP-REQ cost.

// DER tag bytes used by RFC 4120.
const (
	tagInteger         = 0x02
	tagBitString       = 0x03
	tagOctetString     = 0x04
	tagOID             = 0x06
	tagSequence        = 0x30
	tagGeneralString   = 0x1b
	tagGeneralizedTime = 0x18
)

// ctx returns the tag byte of a constructed context-specific [n].
func ctx(n int) byte { return 0xa0 | byte(n) }

// app returns the tag byte of a constructed [APPLICATION n] (n < 31).
func app(n int) byte { return 0x60 | byte(n) }

// errTruncated reports input that ends before its DER lengths say it does.
// need is how many more bytes are due (0 when unknown).
type errTruncated struct{ need int }

func (e *errTruncated) Error() string { return "kerberos: truncated token" }

var errMalformed = errors.New("kerberos: malformed DER")

// builder appends DER to b. open writes a tag and a one-byte length
// placeholder and returns the content start; close fixes the length up,
// moving the content when the length needs the long form.
type builder struct{ b []byte }

func (w *builder) open(tag byte) int {
	w.b = append(w.b, tag, 0)
	return len(w.b)
}

// openLong is open for an element whose content is expected to need a
// long-form length of lenBytes bytes (1 for 128-255, 2 for 256-65535):
// the space is reserved up front so that close need not move the content
// when the guess is right. A wrong guess costs a move, never correctness.
func (w *builder) openLong(tag byte, lenBytes int) int {
	w.b = append(w.b, tag, 0x80|byte(lenBytes))
	w.b = append(w.b, make([]byte, lenBytes)...)
	return len(w.b)
}

func (w *builder) close(start int) { w.closeAt(start, 0) }

// closeLong closes an element opened with openLong(tag, lenBytes).
func (w *builder) closeLong(start, lenBytes int) { w.closeAt(start, lenBytes) }

// closeAt writes the length of the content from start to the end, which
// was given have reserved long-form length bytes (0: open's one-byte
// placeholder), moving the content when n's DER length needs another
// number of bytes.
func (w *builder) closeAt(start, have int) {
	n := len(w.b) - start
	need := 0 // long-form length bytes (0: short form)
	if n >= 0x80 {
		for v := n; v > 0; v >>= 8 {
			need++
		}
	}
	if have != need {
		lenStart := start - 1 - have // the 0x80|k octet, or the placeholder
		newStart := lenStart + 1 + need
		if newStart > start {
			w.b = append(w.b, make([]byte, newStart-start)...)
		}
		copy(w.b[newStart:], w.b[start:start+n])
		w.b = w.b[:newStart+n]
		start = newStart
	}
	if need == 0 {
		w.b[start-1] = byte(n)
		return
	}
	w.b[start-1-need] = 0x80 | byte(need)
	for i := 1; i <= need; i++ {
		w.b[start-i] = byte(n)
		n >>= 8
	}
}

// raw appends already-encoded DER.
func (w *builder) raw(p []byte) { w.b = append(w.b, p...) }

func (w *builder) prim(tag byte, p []byte) {
	s := w.open(tag)
	w.b = append(w.b, p...)
	w.close(s)
}

func (w *builder) str(tag byte, s string) {
	st := w.open(tag)
	w.b = append(w.b, s...)
	w.close(st)
}

// integer appends a DER INTEGER in minimal two's complement.
func (w *builder) integer(v int64) {
	var tmp [8]byte
	n := 8
	for i := 7; i >= 0; i-- {
		tmp[i] = byte(v)
		v >>= 8
	}
	i := 0
	for i < 7 && ((tmp[i] == 0 && tmp[i+1]&0x80 == 0) || (tmp[i] == 0xff && tmp[i+1]&0x80 != 0)) {
		i++
	}
	w.b = append(w.b, tagInteger, byte(n-i))
	w.b = append(w.b, tmp[i:]...)
}

// ctxInt appends [n] INTEGER.
func (w *builder) ctxInt(n int, v int64) {
	s := w.open(ctx(n))
	w.integer(v)
	w.close(s)
}

// time appends a KerberosTime (GeneralizedTime, "YYYYMMDDHHMMSSZ").
func (w *builder) time(t time.Time) {
	t = t.UTC()
	var b [15]byte
	put := func(at, v, digits int) {
		for i := digits - 1; i >= 0; i-- {
			b[at+i] = byte('0' + v%10)
			v /= 10
		}
	}
	put(0, t.Year(), 4)
	put(4, int(t.Month()), 2)
	put(6, t.Day(), 2)
	put(8, t.Hour(), 2)
	put(10, t.Minute(), 2)
	put(12, t.Second(), 2)
	b[14] = 'Z'
	w.b = append(w.b, tagGeneralizedTime, 15)
	w.b = append(w.b, b[:]...)
}

// readTLV splits one DER element off b: its tag, its content and what
// follows. Indefinite lengths, high tag numbers and non-minimal long-form
// lengths are malformed; input that ends early is *errTruncated.
func readTLV(b []byte) (tag byte, content, rest []byte, err error) {
	if len(b) < 2 {
		return 0, nil, nil, &errTruncated{}
	}
	tag = b[0]
	if tag&0x1f == 0x1f {
		return 0, nil, nil, errMalformed
	}
	l := int(b[1])
	hdr := 2
	if l >= 0x80 {
		nb := l & 0x7f
		if nb == 0 || nb > 4 {
			return 0, nil, nil, errMalformed
		}
		if len(b) < 2+nb {
			return 0, nil, nil, &errTruncated{}
		}
		l = 0
		for _, c := range b[2 : 2+nb] {
			l = l<<8 | int(c)
		}
		if l < 0x80 || (nb > 1 && b[2] == 0) || l > 1<<28 {
			return 0, nil, nil, errMalformed
		}
		hdr += nb
	}
	if len(b)-hdr < l {
		return 0, nil, nil, &errTruncated{need: l - (len(b) - hdr)}
	}
	return tag, b[hdr : hdr+l], b[hdr+l:], nil
}

// expect reads one element with the given tag.
func expect(b []byte, tag byte) (content, rest []byte, err error) {
	t, c, r, err := readTLV(b)
	if err != nil {
		return nil, nil, err
	}
	if t != tag {
		return nil, nil, errMalformed
	}
	return c, r, nil
}

// seqReader walks the [n]-tagged fields of a SEQUENCE in order.
type seqReader struct{ b []byte }

// field returns the content of [n] if it is next, or ok=false if the next
// field has a higher tag (an absent OPTIONAL field). Errors are malformed
// or truncated input; every truncation inside a sequence is malformed,
// since its outer length was complete.
func (s *seqReader) field(n int) (content []byte, ok bool, err error) {
	if len(s.b) == 0 {
		return nil, false, nil
	}
	t, c, r, err := readTLV(s.b)
	if err != nil {
		return nil, false, errMalformed
	}
	if t&0xe0 != 0xa0 {
		return nil, false, errMalformed
	}
	if int(t&0x1f) > n {
		return nil, false, nil
	}
	if int(t&0x1f) < n {
		return nil, false, errMalformed
	}
	s.b = r
	return c, true, nil
}

// need is field for a mandatory [n].
func (s *seqReader) need(n int) ([]byte, error) {
	c, ok, err := s.field(n)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, errMalformed
	}
	return c, nil
}

// skipTo skips any fields below [n]'s position (unknown ones are not
// allowed: we only skip what the caller does not read).
func (s *seqReader) done() error {
	// Trailing fields are allowed for extensibility only when tagged
	// context-specific; they are checked to be well formed.
	for len(s.b) > 0 {
		t, _, r, err := readTLV(s.b)
		if err != nil || t&0xe0 != 0xa0 {
			return errMalformed
		}
		s.b = r
	}
	return nil
}

// parseInt reads a DER INTEGER element that fits an int64.
func parseInt(b []byte) (int64, error) {
	c, rest, err := expect(b, tagInteger)
	if err != nil || len(rest) != 0 || len(c) == 0 || len(c) > 8 {
		return 0, errMalformed
	}
	if len(c) > 1 && ((c[0] == 0 && c[1]&0x80 == 0) || (c[0] == 0xff && c[1]&0x80 != 0)) {
		return 0, errMalformed
	}
	v := int64(int8(c[0]))
	for _, x := range c[1:] {
		v = v<<8 | int64(x)
	}
	return v, nil
}

// parseInt32 reads an Int32 / UInt32 field (RFC 4120 5.2.4). UInt32 values
// come back as their bit pattern.
func parseInt32(b []byte) (int32, error) {
	v, err := parseInt(b)
	if err != nil || v < -1<<31 || v > 1<<32-1 {
		return 0, errMalformed
	}
	return int32(uint32(v)), nil
}

// parseOctets reads an OCTET STRING element.
func parseOctets(b []byte) ([]byte, error) {
	c, rest, err := expect(b, tagOctetString)
	if err != nil || len(rest) != 0 {
		return nil, errMalformed
	}
	return c, nil
}

// parseString reads a KerberosString (GeneralString).
func parseString(b []byte) (string, error) {
	c, rest, err := expect(b, tagGeneralString)
	if err != nil || len(rest) != 0 {
		return "", errMalformed
	}
	return string(c), nil
}

// parseTime reads a KerberosTime ("YYYYMMDDHHMMSSZ", RFC 4120 5.2.3).
func parseTime(b []byte) (time.Time, error) {
	c, rest, err := expect(b, tagGeneralizedTime)
	if err != nil || len(rest) != 0 || len(c) != 15 || c[14] != 'Z' {
		return time.Time{}, errMalformed
	}
	num := func(at, digits int) (int, bool) {
		v := 0
		for _, d := range c[at : at+digits] {
			if d < '0' || d > '9' {
				return 0, false
			}
			v = v*10 + int(d-'0')
		}
		return v, true
	}
	y, ok1 := num(0, 4)
	mo, ok2 := num(4, 2)
	d, ok3 := num(6, 2)
	h, ok4 := num(8, 2)
	mi, ok5 := num(10, 2)
	s, ok6 := num(12, 2)
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 60 {
		return time.Time{}, errMalformed
	}
	return time.Date(y, time.Month(mo), d, h, mi, s, 0, time.UTC), nil
}

// parseBitString32 reads a KerberosFlags BIT STRING as the 32 flag bits,
// bit 0 being the most significant (RFC 4120 5.2.8).
func parseBitString32(b []byte) (uint32, error) {
	c, rest, err := expect(b, tagBitString)
	if err != nil || len(rest) != 0 || len(c) < 1 || c[0] > 7 {
		return 0, errMalformed
	}
	var v uint32
	for i := 0; i < 4; i++ {
		v <<= 8
		if 1+i < len(c) {
			v |= uint32(c[1+i])
		}
	}
	return v, nil
}
