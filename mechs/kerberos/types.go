package kerberos

import (
	stdasn1 "encoding/asn1"
	"errors"
	"strings"
	"time"

	"golang.org/x/crypto/cryptobyte"
	"golang.org/x/crypto/cryptobyte/asn1"
)

// This file reads the basic types of RFC 4120 section 5.2 that every
// message is made of: Int32 and UInt32 (5.2.4), KerberosString and Realm
// (5.2.1, 5.2.2), PrincipalName (5.2.2), KerberosTime (5.2.3),
// KerberosFlags (5.2.8), EncryptionKey and EncryptedData (5.2.9). DER is
// read with cryptobyte.String; der_sized.go writes it.
//
// RFC 4120's ASN.1 module uses explicit tags: a SEQUENCE's field [n] is a
// constructed context-specific element holding the field's own DER.

var errMalformed = errors.New("kerberos: malformed DER")

// Message types (RFC 4120 section 7.5.7).
const (
	msgTypeAPReq    = 14
	msgTypeAPRep    = 15
	msgTypeKRBCred  = 22
	msgTypeKRBError = 30
)

// Name types (RFC 4120 section 6.2).
const (
	nameTypePrincipal = 1
	nameTypeSrvInst   = 2
	nameTypeSrvHst    = 3
)

// ctxTag is the tag of the explicitly tagged field [n].
func ctxTag(n int) asn1.Tag { return asn1.Tag(n).ContextSpecific().Constructed() }

// appTag is the tag of a constructed [APPLICATION n] (n < 31).
func appTag(n int) asn1.Tag { return asn1.Tag(0x40 | n).Constructed() }

// readInt32 reads field [n] holding an Int32 or a UInt32 (RFC 4120
// section 5.2.4); a UInt32 comes back as its bit pattern.
func readInt32(s *cryptobyte.String, n int, out *int32) bool {
	var f cryptobyte.String
	var v int64
	if !s.ReadASN1(&f, ctxTag(n)) || !f.ReadASN1Int64WithTag(&v, asn1.INTEGER) || !f.Empty() || v < -1<<31 || v > 1<<32-1 {
		return false
	}
	*out = int32(uint32(v))
	return true
}

// readOptInt32 is readInt32 for an OPTIONAL field.
func readOptInt32(s *cryptobyte.String, n int, out *int32, present *bool) bool {
	*present = s.PeekASN1Tag(ctxTag(n))
	return !*present || readInt32(s, n, out)
}

// readIntIs reads field [n] and checks that it holds want (pvno, msg-type).
func readIntIs(s *cryptobyte.String, n int, want int32) bool {
	var v int32
	return readInt32(s, n, &v) && v == want
}

// readGeneralString reads field [n] holding a KerberosString or Realm
// (GeneralString, RFC 4120 section 5.2.1), without copying it.
func readGeneralString(s *cryptobyte.String, n int, out *[]byte) bool {
	var f cryptobyte.String
	return s.ReadASN1(&f, ctxTag(n)) && f.ReadASN1Bytes(out, asn1.GeneralString) && f.Empty()
}

// readString is readGeneralString into a string.
func readString(s *cryptobyte.String, n int, out *string) bool {
	var b []byte
	if !readGeneralString(s, n, &b) {
		return false
	}
	*out = string(b)
	return true
}

// readOctets reads field [n] holding an OCTET STRING, without copying it.
func readOctets(s *cryptobyte.String, n int, out *[]byte) bool {
	var f cryptobyte.String
	return s.ReadASN1(&f, ctxTag(n)) && f.ReadASN1Bytes(out, asn1.OCTET_STRING) && f.Empty()
}

// readTime reads field [n] holding a KerberosTime.
func readTime(s *cryptobyte.String, n int, out *time.Time) bool {
	var f, c cryptobyte.String
	if !s.ReadASN1(&f, ctxTag(n)) || !f.ReadASN1(&c, asn1.GeneralizedTime) || !f.Empty() {
		return false
	}
	t, ok := kerberosTime(c)
	*out = t
	return ok
}

// readOptTime is readTime for an OPTIONAL field; an absent one leaves out
// zero.
func readOptTime(s *cryptobyte.String, n int, out *time.Time) bool {
	return !s.PeekASN1Tag(ctxTag(n)) || readTime(s, n, out)
}

// kerberosTime reads a KerberosTime's content: GeneralizedTime restricted
// to "YYYYMMDDHHMMSSZ" (RFC 4120 section 5.2.3). cryptobyte's own
// ReadASN1GeneralizedTime allows every form of GeneralizedTime and
// allocates to check its result; this does neither.
func kerberosTime(c []byte) (time.Time, bool) {
	if len(c) != 15 || c[14] != 'Z' {
		return time.Time{}, false
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
		return time.Time{}, false
	}
	return time.Date(y, time.Month(mo), d, h, mi, s, 0, time.UTC), true
}

// readFlags reads field [n] holding KerberosFlags (RFC 4120 section
// 5.2.8) as 32 bits, bit 0 the most significant.
func readFlags(s *cryptobyte.String, n int, out *uint32) bool {
	var f cryptobyte.String
	var bs stdasn1.BitString
	if !s.ReadASN1(&f, ctxTag(n)) || !f.ReadASN1BitString(&bs) || !f.Empty() {
		return false
	}
	var v uint32
	for i := 0; i < 4; i++ {
		v <<= 8
		if i < len(bs.Bytes) {
			v |= uint32(bs.Bytes[i])
		}
	}
	*out = v
	return true
}

// onlyExtensions reports whether what is left of a SEQUENCE after its
// last known field [last] is further fields with higher tags, in order:
// RFC 4120 messages may grow fields (section 5.1.3), and each must be
// well formed.
func onlyExtensions(s cryptobyte.String, last int) bool {
	for !s.Empty() {
		var f cryptobyte.String
		var tag asn1.Tag
		if !s.ReadAnyASN1(&f, &tag) || tag&0xe0 != 0xa0 || int(tag&0x1f) <= last {
			return false
		}
		last = int(tag & 0x1f)
	}
	return true
}

// sequenceIn reads the one SEQUENCE that b must be, optionally inside
// [APPLICATION app] (app < 0 for none), with nothing after it.
func sequenceIn(b []byte, app int) (cryptobyte.String, bool) {
	s := cryptobyte.String(b)
	if app >= 0 {
		var a cryptobyte.String
		if !s.ReadASN1(&a, appTag(app)) || !s.Empty() {
			return nil, false
		}
		s = a
	}
	var seq cryptobyte.String
	if !s.ReadASN1(&seq, asn1.SEQUENCE) || !s.Empty() {
		return nil, false
	}
	return seq, true
}

// principal is a PrincipalName (RFC 4120 section 5.2.2).
type principal struct {
	nameType int32
	parts    []string
}

func (p principal) String() string { return strings.Join(p.parts, "/") }

// principalParts reads a PrincipalName's DER: its name type and the
// content of its name-string SEQUENCE.
func principalParts(b []byte) (nameType int32, list cryptobyte.String, ok bool) {
	s, ok := sequenceIn(b, -1)
	var f cryptobyte.String
	if !ok || !readInt32(&s, 0, &nameType) || !s.ReadASN1(&f, ctxTag(1)) || !onlyExtensions(s, 1) ||
		!f.ReadASN1(&list, asn1.SEQUENCE) || !f.Empty() {
		return 0, nil, false
	}
	return nameType, list, true
}

// validPrincipal checks a PrincipalName's structure without allocating.
func validPrincipal(b []byte) bool {
	_, list, ok := principalParts(b)
	for ok && !list.Empty() {
		ok = list.SkipASN1(asn1.GeneralString)
	}
	return ok
}

// samePrincipal compares a parsed name with a valid PrincipalName's DER
// (validPrincipal) by name strings: name types differ between
// implementations.
func samePrincipal(p principal, raw []byte) bool {
	s, ok := sequenceIn(raw, -1)
	var f, list cryptobyte.String
	if !ok || !s.SkipASN1(ctxTag(0)) || !s.ReadASN1(&f, ctxTag(1)) || !f.ReadASN1(&list, asn1.SEQUENCE) {
		return false
	}
	i := 0
	for !list.Empty() {
		var part []byte
		if !list.ReadASN1Bytes(&part, asn1.GeneralString) || i >= len(p.parts) || p.parts[i] != string(part) {
			return false
		}
		i++
	}
	return i == len(p.parts)
}

func parsePrincipal(b []byte) (principal, error) {
	nt, list, ok := principalParts(b)
	if !ok {
		return principal{}, errMalformed
	}
	p := principal{nameType: nt}
	for !list.Empty() {
		var part []byte
		if !list.ReadASN1Bytes(&part, asn1.GeneralString) {
			return principal{}, errMalformed
		}
		p.parts = append(p.parts, string(part))
	}
	return p, nil
}

// readPrincipal reads field [n] holding a PrincipalName.
func readPrincipal(s *cryptobyte.String, n int, out *principal) bool {
	var f cryptobyte.String
	if !s.ReadASN1(&f, ctxTag(n)) {
		return false
	}
	p, err := parsePrincipal(f)
	*out = p
	return err == nil
}

// encryptedData is an EncryptedData (RFC 4120 section 5.2.9).
type encryptedData struct {
	etype  int32
	kvno   int32
	hasKV  bool
	cipher []byte
}

func parseEncryptedData(b []byte) (encryptedData, error) {
	var ed encryptedData
	s, ok := sequenceIn(b, -1)
	if !ok || !readInt32(&s, 0, &ed.etype) || !readOptInt32(&s, 1, &ed.kvno, &ed.hasKV) ||
		!readOctets(&s, 2, &ed.cipher) || !onlyExtensions(s, 2) {
		return encryptedData{}, errMalformed
	}
	return ed, nil
}

// readEncryptedData reads field [n] holding an EncryptedData.
func readEncryptedData(s *cryptobyte.String, n int, out *encryptedData) bool {
	var f cryptobyte.String
	if !s.ReadASN1(&f, ctxTag(n)) {
		return false
	}
	ed, err := parseEncryptedData(f)
	*out = ed
	return err == nil
}

// readEncryptionKey reads field [n] holding an EncryptionKey (RFC 4120
// section 5.2.9).
func readEncryptionKey(s *cryptobyte.String, n int, etype *int32, value *[]byte) bool {
	var f cryptobyte.String
	if !s.ReadASN1(&f, ctxTag(n)) {
		return false
	}
	k, ok := sequenceIn(f, -1)
	return ok && readInt32(&k, 0, etype) && readOctets(&k, 1, value) && onlyExtensions(k, 1)
}
