package ntlm

import "encoding/binary"

// Common parts of the three messages (MS-NLMP 2.2.1): the 8-byte
// signature, the 32-bit message type, the NegotiateFlags, the 8-byte field
// descriptors (Len, MaxLen, BufferOffset) that point into the payload, and
// the optional Version field after the fixed header.

// maxToken is NTLM's cbMaxToken on Windows (QuerySecurityPackageInfo
// reports it): no NTLM message is longer, so a message that is, or a field
// descriptor that reaches past it, is malformed whatever else it says.
// Checking this first bounds every copy and every SECBUFFER_MISSING count.
const maxToken = 2888

// versionSize is the size of the VERSION structure (MS-NLMP 2.2.2.10).
const versionSize = 8

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

// bytes is the field's data in b (nil when empty), capped so that an
// append cannot run into the next field.
func (f field) bytes(b []byte) []byte {
	if f.n == 0 {
		return nil
	}
	return b[f.off : f.off+f.n : f.off+f.n]
}

// header is what the common part of a message says.
type header struct {
	flags   uint32
	fields  [6]field // in the order of the message's descriptors
	version version  // zero when the message has no Version field
	// payload is where the payload starts: the lowest offset of a
	// non-empty field, or the end of the header when there is none.
	payload int
}

// parseHeader checks the common part of a message of type typ whose fixed
// header (without Version) is fixed bytes long, whose NegotiateFlags are at
// flagsAt and whose field descriptors are at fieldsAt, and decodes it into
// h.
//
// The header ends where the payload starts. A message whose flags carry
// NTLMSSP_NEGOTIATE_VERSION has the 8-byte Version field after the fixed
// header (MS-NLMP 2.2.1) unless its payload starts right there: curl 7.88
// copies the CHALLENGE's flags, VERSION included, into an AUTHENTICATE it
// writes without a Version field, and Windows and impacket accept that by
// taking the header's length from the lowest payload offset, as this does.
//
// A field that starts inside the fixed header, or ends past maxToken, is
// malformed; when all fields fit within maxToken but b ends before one
// does, b is truncated and the count of missing bytes is exact (at most
// maxToken-len(b)).
func parseHeader(h *header, b []byte, typ uint32, fixed, flagsAt int, fieldsAt ...int) error {
	if len(b) > maxToken {
		return invalid("message longer than NTLM's maximum token size")
	}
	if err := checkHeader(b, typ, fixed); err != nil {
		return err
	}
	h.flags = binary.LittleEndian.Uint32(b[flagsAt:])
	end, low := 0, maxToken
	for i, at := range fieldsAt {
		f := readField(b, at)
		h.fields[i] = f
		if f.n == 0 {
			continue
		}
		if f.off < fixed {
			return invalid("field overlaps the fixed header")
		}
		if f.off+f.n > maxToken {
			return invalid("field reaches past NTLM's maximum token size")
		}
		end, low = max(end, f.off+f.n), min(low, f.off)
	}
	// No field starts at maxToken (it would end past it), so low is
	// maxToken only when there is no payload.
	h.payload = fixed
	hasVersion := h.flags&negotiateVersion != 0 && low >= fixed+versionSize
	if hasVersion {
		h.payload = fixed + versionSize
		end = max(end, h.payload)
	}
	if end > len(b) {
		return incomplete(end-len(b), "message ends before its fields")
	}
	if hasVersion {
		copy(h.version[:], b[fixed:])
	}
	if low < maxToken {
		h.payload = low
	}
	return nil
}

// putField writes a field descriptor.
func putField(b []byte, at, off, n int) {
	binary.LittleEndian.PutUint16(b[at:], uint16(n))
	binary.LittleEndian.PutUint16(b[at+2:], uint16(n))
	binary.LittleEndian.PutUint32(b[at+4:], uint32(off))
}

// putHeader writes the signature, the message type, the flags at flagsAt
// (with NTLMSSP_NEGOTIATE_VERSION) and the Version field after the fixed
// header: this package always writes Version (gss-ntlmssp refuses a
// NEGOTIATE shorter than 40 bytes).
func putHeader(b []byte, typ uint32, fixed, flagsAt int, flags uint32, v version) {
	copy(b, signature)
	binary.LittleEndian.PutUint32(b[8:], typ)
	binary.LittleEndian.PutUint32(b[flagsAt:], flags|negotiateVersion)
	copy(b[fixed:fixed+versionSize], v[:])
}

// payload writes a message's payload after its header: each put writes
// the field descriptor at at, pointing at the next free offset, and the
// data there.
type payload struct {
	b   []byte
	off int
}

func (w *payload) put(at int, data []byte) {
	putField(w.b, at, w.off, len(data))
	copy(w.b[w.off:], data)
	w.off += len(data)
}

// settleCharset settles the character set of names (MS-NLMP 2.2.2.5:
// NTLMSSP_NEGOTIATE_UNICODE wins over NTLM_NEGOTIATE_OEM, which is then
// cleared); ok is false when flags offer neither.
func settleCharset(flags uint32) (settled uint32, ok bool) {
	if flags&negotiateUnicode != 0 {
		return flags &^ negotiateOEM, true
	}
	return flags, flags&negotiateOEM != 0
}

// encodedLen is the length of a name field holding s: UTF-16LE when
// NTLMSSP_NEGOTIATE_UNICODE was negotiated, else OEM (the bytes of s).
func encodedLen(s string, unicode bool) int {
	if unicode {
		return utf16Len(s)
	}
	return len(s)
}

// putString writes s into dst, sized by encodedLen.
func putString(dst []byte, s string, unicode bool) {
	if unicode {
		putUTF16(dst, s)
	} else {
		copy(dst, s)
	}
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
