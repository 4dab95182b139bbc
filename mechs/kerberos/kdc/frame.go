package kdc

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// ErrFrame is the cause of a malformed TCP record (RFC 4120 section 7.2.2).
var ErrFrame = errors.New("kdc: malformed TCP record")

// frameChunk is the most ReadFrame allocates before the bytes to fill it
// have arrived: the buffer starts at this size (or the claimed length, if
// smaller) and doubles only once it is full.
const frameChunk = 4096

// ReadFrame reads one RFC 4120 section 7.2.2 record from r: a 4-byte
// big-endian length whose high bit is reserved (zero), then that many bytes.
// A length above max, or with the high bit set, is ErrFrame at once,
// before anything else is read or allocated.
//
// The length prefix is not trusted for an allocation: the record is read
// as it arrives, into a buffer that starts small and grows (doubling, up to
// the claimed length) only as it fills, so a peer that claims a megabyte
// and sends ten bytes costs a few kilobytes, not a megabyte.
func ReadFrame(r io.Reader, max int) ([]byte, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n&0x80000000 != 0 {
		return nil, fmt.Errorf("%w: reserved high bit of the length is set", ErrFrame)
	}
	if int64(n) > int64(max) {
		return nil, fmt.Errorf("%w: length %d exceeds %d", ErrFrame, n, max)
	}
	want := int(n)
	b := make([]byte, 0, min(want, frameChunk))
	for len(b) < want {
		if len(b) == cap(b) {
			nb := make([]byte, len(b), min(want, 2*cap(b)))
			copy(nb, b)
			b = nb
		}
		m, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+m]
		if err != nil && len(b) < want {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
	}
	return b, nil
}

// AppendFrame appends the RFC 4120 section 7.2.2 record of msg to dst.
func AppendFrame(dst, msg []byte) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(msg)))
	return append(dst, msg...)
}

// DER identifier octets of the KDC replies: [APPLICATION n] constructed
// (RFC 4120 section 5.4.2 AS-REP 11, TGS-REP 13; section 5.9.1 KRB-ERROR 30).
const (
	tagASRep    = 0x60 | 11
	tagTGSRep   = 0x60 | 13
	tagKRBError = 0x60 | 30
)

// isReply reports whether b is exactly one DER element tagged as an
// AS-REP, TGS-REP or KRB-ERROR (its outer length covering all of b). It
// does not parse the content.
func isReply(b []byte) bool {
	if len(b) < 2 {
		return false
	}
	switch b[0] {
	case tagASRep, tagTGSRep, tagKRBError:
	default:
		return false
	}
	n, hdr, ok := derLength(b[1:])
	return ok && 1+hdr+n == len(b)
}

// derLength decodes a DER definite length (X.690 section 8.1.3): the
// length, the octets it took, and whether it was well formed.
func derLength(b []byte) (n, size int, ok bool) {
	if len(b) == 0 {
		return 0, 0, false
	}
	if b[0] < 0x80 {
		return int(b[0]), 1, true
	}
	k := int(b[0] & 0x7f)
	if k == 0 || k > 4 || len(b) < 1+k {
		return 0, 0, false
	}
	for _, c := range b[1 : 1+k] {
		n = n<<8 | int(c)
	}
	if n < 0 {
		return 0, 0, false
	}
	return n, 1 + k, true
}
