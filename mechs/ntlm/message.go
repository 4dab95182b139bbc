package ntlm

import "encoding/binary"

// Common parts of the three messages (MS-NLMP 2.2.1): the 8-byte
// signature, the 32-bit message type and the 8-byte field descriptors
// (Len, MaxLen, BufferOffset) that point into the payload.

// checkHeader checks the signature and message type against what is
// present of b. A b that is a prefix of a valid header is incomplete; one
// that differs is malformed.
func checkHeader(b []byte, typ uint32, fixed int) error {
	var want [12]byte
	copy(want[:], signature)
	binary.LittleEndian.PutUint32(want[8:], typ)
	n := min(len(b), 12)
	for i := 0; i < n; i++ {
		if b[i] != want[i] {
			if i < 8 {
				return invalid("not an NTLMSSP message")
			}
			return invalid("unexpected NTLMSSP message type")
		}
	}
	if len(b) < fixed {
		return incomplete(fixed-len(b), "message shorter than its fixed header")
	}
	return nil
}

// field is a decoded field descriptor.
type field struct {
	off, n int
}

func readField(b []byte, at int) field {
	n := int(binary.LittleEndian.Uint16(b[at:]))
	off := int(binary.LittleEndian.Uint32(b[at+4:]))
	return field{off: off, n: n}
}

// fieldSet checks a message's fields against its length: a field with data
// must start at or after the fixed header; if any reaches past the end, the
// message is truncated and the count of missing bytes is known exactly.
type fieldSet struct {
	header int // end of the fixed header
	end    int // furthest end of any field
	bad    bool
}

func (s *fieldSet) add(f field) {
	if f.n == 0 {
		return
	}
	if f.off < s.header {
		s.bad = true
	}
	if e := f.off + f.n; e > s.end {
		s.end = e
	}
}

func (s *fieldSet) check(total int) error {
	if s.bad {
		return invalid("field overlaps the fixed header")
	}
	if s.end > total {
		return incomplete(s.end-total, "field runs past the end of the message")
	}
	return nil
}

func (f field) bytes(b []byte) []byte {
	if f.n == 0 {
		return nil
	}
	return b[f.off : f.off+f.n : f.off+f.n]
}

// putField writes a field descriptor.
func putField(b []byte, at, off, n int) {
	binary.LittleEndian.PutUint16(b[at:], uint16(n))
	binary.LittleEndian.PutUint16(b[at+2:], uint16(n))
	binary.LittleEndian.PutUint32(b[at+4:], uint32(off))
}

func putHeader(b []byte, typ uint32) {
	copy(b, signature)
	binary.LittleEndian.PutUint32(b[8:], typ)
}

// decodeString decodes a name field: UTF-16LE when NTLMSSP_NEGOTIATE_UNICODE
// was negotiated, OEM (taken as Latin-1/ASCII) otherwise.
func decodeString(b []byte, unicode bool) string {
	if unicode {
		return fromUTF16(b)
	}
	r := make([]rune, len(b))
	for i, c := range b {
		r[i] = rune(c)
	}
	return string(r)
}
