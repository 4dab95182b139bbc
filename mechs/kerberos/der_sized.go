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

// addHeader writes the tag and the DER length of an element whose n
// content octets the caller writes next.
func addHeader(b *cryptobyte.Builder, tag asn1.Tag, n int) {
	var h [6]byte
	b.AddBytes(putHeader(&h, tag, n))
}

// putHeader encodes the header addHeader writes into h and returns it.
// Each Builder call checks the builder's state, so the hot path's
// elements are composed on the stack and added with one call.
func putHeader(h *[6]byte, tag asn1.Tag, n int) []byte {
	h[0] = byte(tag)
	switch {
	case n < 0x80:
		h[1] = byte(n)
		return h[:2]
	case n < 0x100:
		h[1], h[2] = 0x81, byte(n)
		return h[:3]
	case n < 0x10000:
		h[1], h[2], h[3] = 0x82, byte(n>>8), byte(n)
		return h[:4]
	case n < 0x1000000:
		h[1], h[2], h[3], h[4] = 0x83, byte(n>>16), byte(n>>8), byte(n)
		return h[:5]
	}
	h[1], h[2], h[3], h[4], h[5] = 0x84, byte(n>>24), byte(n>>16), byte(n>>8), byte(n)
	return h[:6]
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

func addInt(b *cryptobyte.Builder, v int64) {
	var e [10]byte
	b.AddBytes(putInt(e[:0], v))
}

// putInt appends the INTEGER element v to e.
func putInt(e []byte, v int64) []byte {
	n := intLen(v)
	e = append(e, byte(asn1.INTEGER), byte(n))
	for i := n - 1; i >= 0; i-- {
		e = append(e, byte(v>>(8*i)))
	}
	return e
}

// ctxIntSize is the size of a field [n] holding the INTEGER v.
func ctxIntSize(v int64) int { return 2 + intSize(v) }

func addCtxInt(b *cryptobyte.Builder, n int, v int64) {
	var e [12]byte
	b.AddBytes(putInt(append(e[:0], byte(ctxTag(n)), byte(intSize(v))), v))
}

// timeSize is the size of a KerberosTime element (RFC 4120 section 5.2.3:
// GeneralizedTime "YYYYMMDDHHMMSSZ").
const timeSize = 17

func addTime(b *cryptobyte.Builder, t time.Time) {
	t = t.UTC()
	var d [timeSize]byte
	d[0], d[1] = byte(asn1.GeneralizedTime), 15
	put := func(at, v, digits int) {
		for i := digits - 1; i >= 0; i-- {
			d[2+at+i] = byte('0' + v%10)
			v /= 10
		}
	}
	put(0, t.Year(), 4)
	put(4, int(t.Month()), 2)
	put(6, t.Day(), 2)
	put(8, t.Hour(), 2)
	put(10, t.Minute(), 2)
	put(12, t.Second(), 2)
	d[16] = 'Z'
	b.AddBytes(d[:])
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
	nt := ctxIntSize(int64(p.nameType))
	addHeader(b, asn1.SEQUENCE, nt+tlvSize(tlvSize(list)))
	addCtxInt(b, 0, int64(p.nameType))
	addHeader(b, ctxTag(1), tlvSize(list))
	addHeader(b, asn1.SEQUENCE, list)
	for _, part := range p.parts {
		addString(b, asn1.GeneralString, part)
	}
}

// encryptionKeySize is the size of k's EncryptionKey element (RFC 4120
// section 5.2.9): SEQUENCE { [0] keytype, [1] OCTET STRING keyvalue }.
func encryptionKeySize(k *key) int {
	return tlvSize(ctxIntSize(int64(k.etype)) + tlvSize(tlvSize(len(k.value))))
}

func addEncryptionKey(b *cryptobyte.Builder, k *key) {
	addHeader(b, asn1.SEQUENCE, ctxIntSize(int64(k.etype))+tlvSize(tlvSize(len(k.value))))
	addCtxInt(b, 0, int64(k.etype))
	addHeader(b, ctxTag(1), tlvSize(len(k.value)))
	addOctetString(b, k.value)
}

// encryptedDataSize is the size of an EncryptedData element (RFC 4120
// section 5.2.9) without kvno, whose cipher is ctLen octets:
// SEQUENCE { [0] etype, [2] OCTET STRING cipher }.
func encryptedDataSize(etype int32, ctLen int) int {
	return tlvSize(ctxIntSize(int64(etype)) + tlvSize(tlvSize(ctLen)))
}

// addEncryptedDataHeader writes an EncryptedData element up to the
// content of its cipher OCTET STRING, which the caller appends in place.
func addEncryptedDataHeader(b *cryptobyte.Builder, etype int32, ctLen int) {
	addHeader(b, asn1.SEQUENCE, ctxIntSize(int64(etype))+tlvSize(tlvSize(ctLen)))
	addCtxInt(b, 0, int64(etype))
	addHeader(b, ctxTag(2), tlvSize(ctLen))
	addHeader(b, asn1.OCTET_STRING, ctLen)
}
