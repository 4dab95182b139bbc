package kerberos

import (
	"errors"
	"time"

	"golang.org/x/crypto/cryptobyte"
	"golang.org/x/crypto/cryptobyte/asn1"
)

// This file is the one piece of DER writing that cryptobyte's Builder
// cannot do at the cost the handshake's hot path allows.
//
// Builder.AddASN1 writes an element by calling a continuation with a child
// Builder, and that child escapes to the heap: one allocation per element
// (AddASN1Int64 and AddASN1OctetString are continuations too). An AP-REQ
// and its authenticator have some thirty elements; the whole initiator leg
// makes eight allocations. So the messages of every handshake (AP-REQ,
// Authenticator, AP-REP, EncAPRepPart) are sized first and then written
// front to back by a fixed Builder (cryptobyte.NewFixedBuilder) over the
// token's final buffer, with the element headers below giving each
// length ahead of its content: no continuation, no move of content once
// written, no copy of the ticket, and the ciphertext is appended in place
// behind the headers. A size that does not match what is written is the
// fixed Builder's error (or errSizing), never a silent overrun.
//
// The messages built once in a while (KRB-ERROR, KRB-CRED) use
// Builder.AddASN1 continuations as usual, and the helpers below inside
// them where they fit.

var errSizing = errors.New("kerberos: internal error: a message's size was miscounted")

// tlvSize is the size of a DER element (one tag octet, definite length)
// with n content octets.
func tlvSize(n int) int {
	switch {
	case n < 0x80:
		return 2 + n
	case n < 0x100:
		return 3 + n
	case n < 0x10000:
		return 4 + n
	case n < 0x1000000:
		return 5 + n
	}
	return 6 + n
}

// The helpers below append small elements to a slice: the hot path
// composes a run of them in a stack array and adds it to the Builder with
// one call (each Builder call checks the builder's state), and the add*
// forms wrap them for single elements.

// appendHeader appends the tag and the DER length of an element whose n
// content octets follow.
func appendHeader(dst []byte, tag asn1.Tag, n int) []byte {
	switch {
	case n < 0x80:
		return append(dst, byte(tag), byte(n))
	case n < 0x100:
		return append(dst, byte(tag), 0x81, byte(n))
	case n < 0x10000:
		return append(dst, byte(tag), 0x82, byte(n>>8), byte(n))
	case n < 0x1000000:
		return append(dst, byte(tag), 0x83, byte(n>>16), byte(n>>8), byte(n))
	}
	return append(dst, byte(tag), 0x84, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
}

// addHeader writes an element's header; its n content octets follow.
func addHeader(b *cryptobyte.Builder, tag asn1.Tag, n int) {
	var h [6]byte
	b.AddBytes(appendHeader(h[:0], tag, n))
}

// finish returns what a fixed Builder wrote, which must be want octets.
func finish(b *cryptobyte.Builder, want int) ([]byte, error) {
	out, err := b.Bytes()
	if err != nil {
		return nil, err
	}
	if len(out) != want {
		return nil, errSizing
	}
	return out, nil
}

// intLen is the content length of the DER INTEGER v (minimal two's
// complement).
func intLen(v int64) int {
	n := 1
	for ; v >= 0x80 || v < -0x80; v >>= 8 {
		n++
	}
	return n
}

// intSize is the size of the INTEGER element v.
func intSize(v int64) int { return 2 + intLen(v) }

// appendInt appends the INTEGER element v.
func appendInt(dst []byte, v int64) []byte {
	n := intLen(v)
	dst = append(dst, byte(asn1.INTEGER), byte(n))
	for i := n - 1; i >= 0; i-- {
		dst = append(dst, byte(v>>(8*i)))
	}
	return dst
}

func addInt(b *cryptobyte.Builder, v int64) {
	var e [10]byte
	b.AddBytes(appendInt(e[:0], v))
}

// ctxIntSize is the size of a field [n] holding the INTEGER v.
func ctxIntSize(v int64) int { return 2 + intSize(v) }

// appendCtxInt appends the field [n] holding the INTEGER v.
func appendCtxInt(dst []byte, n int, v int64) []byte {
	return appendInt(append(dst, byte(ctxTag(n)), byte(intSize(v))), v)
}

func addCtxInt(b *cryptobyte.Builder, n int, v int64) {
	var e [12]byte
	b.AddBytes(appendCtxInt(e[:0], n, v))
}

// timeSize is the size of a KerberosTime element (RFC 4120 section 5.2.3:
// GeneralizedTime "YYYYMMDDHHMMSSZ").
const timeSize = 17

// appendTime appends the KerberosTime element of t.
func appendTime(dst []byte, t time.Time) []byte {
	t = t.UTC()
	var d [timeSize]byte
	d[0], d[1], d[16] = byte(asn1.GeneralizedTime), 15, 'Z'
	putDigits(d[2:6], t.Year())
	putDigits(d[6:8], int(t.Month()))
	putDigits(d[8:10], t.Day())
	putDigits(d[10:12], t.Hour())
	putDigits(d[12:14], t.Minute())
	putDigits(d[14:16], t.Second())
	return append(dst, d[:]...)
}

// putDigits writes v in decimal into d, right-aligned and zero-padded.
func putDigits(d []byte, v int) {
	for i := len(d) - 1; i >= 0; i-- {
		d[i] = byte('0' + v%10)
		v /= 10
	}
}

func addTime(b *cryptobyte.Builder, t time.Time) {
	var d [timeSize]byte
	b.AddBytes(appendTime(d[:0], t))
}

// addString writes a string element. The string goes through a small
// stack buffer: []byte(s) would be a heap copy for a long name.
func addString(b *cryptobyte.Builder, tag asn1.Tag, s string) {
	addHeader(b, tag, len(s))
	var tmp [64]byte
	for len(s) > 0 {
		n := copy(tmp[:], s)
		b.AddBytes(tmp[:n])
		s = s[n:]
	}
}

func addOctetString(b *cryptobyte.Builder, p []byte) {
	addHeader(b, asn1.OCTET_STRING, len(p))
	b.AddBytes(p)
}

// principalSize is the size of p's PrincipalName element (RFC 4120
// section 5.2.2): SEQUENCE { [0] name-type, [1] SEQUENCE OF
// KerberosString }.
func principalSize(p principal) int {
	return tlvSize(ctxIntSize(int64(p.nameType)) + tlvSize(tlvSize(principalListLen(p))))
}

func principalListLen(p principal) int {
	n := 0
	for _, part := range p.parts {
		n += tlvSize(len(part))
	}
	return n
}

func addPrincipal(b *cryptobyte.Builder, p principal) {
	list := principalListLen(p)
	var r [32]byte
	h := appendHeader(r[:0], asn1.SEQUENCE, ctxIntSize(int64(p.nameType))+tlvSize(tlvSize(list)))
	h = appendCtxInt(h, 0, int64(p.nameType))
	h = appendHeader(h, ctxTag(1), tlvSize(list))
	b.AddBytes(appendHeader(h, asn1.SEQUENCE, list))
	for _, part := range p.parts {
		addString(b, asn1.GeneralString, part)
	}
}

// encryptionKeySize is the size of k's EncryptionKey element (RFC 4120
// section 5.2.9): SEQUENCE { [0] keytype, [1] OCTET STRING keyvalue }.
func encryptionKeySize(k *key) int {
	return tlvSize(ctxIntSize(int64(k.etype)) + tlvSize(tlvSize(len(k.value))))
}

// appendEncryptionKey appends k's EncryptionKey element (at most 47
// octets: protocol keys are at most 32).
func appendEncryptionKey(dst []byte, k *key) []byte {
	dst = appendHeader(dst, asn1.SEQUENCE, ctxIntSize(int64(k.etype))+tlvSize(tlvSize(len(k.value))))
	dst = appendCtxInt(dst, 0, int64(k.etype))
	dst = appendHeader(dst, ctxTag(1), tlvSize(len(k.value)))
	dst = appendHeader(dst, asn1.OCTET_STRING, len(k.value))
	return append(dst, k.value...)
}

func addEncryptionKey(b *cryptobyte.Builder, k *key) {
	var r [64]byte
	b.AddBytes(appendEncryptionKey(r[:0], k))
	clear(r[:])
}

// encryptedDataSize is the size of an EncryptedData element (RFC 4120
// section 5.2.9) without kvno, whose cipher is ctLen octets:
// SEQUENCE { [0] etype, [2] OCTET STRING cipher }.
func encryptedDataSize(etype int32, ctLen int) int {
	return tlvSize(ctxIntSize(int64(etype)) + tlvSize(tlvSize(ctLen)))
}

// appendEncryptedDataHeader appends an EncryptedData element up to the
// content of its cipher OCTET STRING, which the caller appends in place.
func appendEncryptedDataHeader(dst []byte, etype int32, ctLen int) []byte {
	dst = appendHeader(dst, asn1.SEQUENCE, ctxIntSize(int64(etype))+tlvSize(tlvSize(ctLen)))
	dst = appendCtxInt(dst, 0, int64(etype))
	dst = appendHeader(dst, ctxTag(2), tlvSize(ctLen))
	return appendHeader(dst, asn1.OCTET_STRING, ctLen)
}
