package ntlm

import (
	"bytes"
	"encoding/binary"
	"iter"
	"slices"
	"strings"
	"unicode/utf16"
)

// AV_PAIR identifiers, MS-NLMP 2.2.2.1.
const (
	avEOL             uint16 = 0x0000 // MsvAvEOL
	avNbComputerName  uint16 = 0x0001 // MsvAvNbComputerName
	avNbDomainName    uint16 = 0x0002 // MsvAvNbDomainName
	avDNSComputerName uint16 = 0x0003 // MsvAvDnsComputerName
	avDNSDomainName   uint16 = 0x0004 // MsvAvDnsDomainName
	avDNSTreeName     uint16 = 0x0005 // MsvAvDnsTreeName
	avFlags           uint16 = 0x0006 // MsvAvFlags
	avTimestamp       uint16 = 0x0007 // MsvAvTimestamp
	avSingleHost      uint16 = 0x0008 // MsvAvSingleHost
	avTargetName      uint16 = 0x0009 // MsvAvTargetName
	avChannelBindings uint16 = 0x000A // MsvAvChannelBindings
)

// MsvAvFlags bits, MS-NLMP 2.2.2.1.
const (
	avFlagConstrained  uint32 = 0x00000001 // account authentication is constrained
	avFlagMIC          uint32 = 0x00000002 // the AUTHENTICATE message carries a MIC
	avFlagUntrustedSPN uint32 = 0x00000004 // the SPN came from an untrusted source
)

// avPairs is a validated AV_PAIR list (MS-NLMP 2.2.2.1), aliasing the
// message it came from. It ends at (and includes) its MsvAvEOL.
type avPairs []byte

// parseAVPairs validates an AV_PAIR list: every pair fits, the fixed-size
// pairs have their size, and the list ends with MsvAvEOL. Bytes after the
// MsvAvEOL are not part of the list (NTLMv2_CLIENT_CHALLENGE has Z(4) after
// it). The list is inside a field whose length the message already gave, so
// running over is malformed, never truncated.
func parseAVPairs(b []byte) (avPairs, error) {
	off := 0
	for {
		if len(b)-off < 4 {
			return nil, invalid("AV_PAIR list without MsvAvEOL")
		}
		id := binary.LittleEndian.Uint16(b[off:])
		n := int(binary.LittleEndian.Uint16(b[off+2:]))
		if len(b)-off-4 < n {
			return nil, invalid("AV_PAIR runs past its field")
		}
		if id == avEOL {
			if n != 0 {
				return nil, invalid("MsvAvEOL with a value")
			}
			return avPairs(b[: off+4 : off+4]), nil
		}
		if size, exact := avValueSize(id); n < size || exact && n != size {
			return nil, invalid("AV_PAIR value of the wrong size for its AvId")
		}
		off += 4 + n
	}
}

// avValueSize is the size MS-NLMP 2.2.2.1 gives the value of an AvId:
// exactly size bytes, or at least size when exact is false (0 for a value
// of any size).
func avValueSize(id uint16) (size int, exact bool) {
	switch id {
	case avFlags:
		return 4, true
	case avTimestamp:
		return 8, true
	case avChannelBindings:
		return 16, true
	case avSingleHost:
		return 48, false
	}
	return 0, false
}

// all yields the pairs of the list before its MsvAvEOL, each as its AvId
// and the whole pair (AvId, AvLen and value). The list was validated by
// parseAVPairs, or built by this package, so every pair fits.
func (l avPairs) all() iter.Seq2[uint16, []byte] {
	return func(yield func(uint16, []byte) bool) {
		for off := 0; off+4 <= len(l); {
			id := binary.LittleEndian.Uint16(l[off:])
			n := int(binary.LittleEndian.Uint16(l[off+2:]))
			if id == avEOL || !yield(id, l[off:off+4+n]) {
				return
			}
			off += 4 + n
		}
	}
}

// get returns the value of the first pair with id.
func (l avPairs) get(id uint16) ([]byte, bool) {
	for pid, pair := range l.all() {
		if pid == id {
			return pair[4:], true
		}
	}
	return nil, false
}

// count returns the first pair with id (AvId and AvLen included) and how
// many pairs have id.
func (l avPairs) count(id uint16) (first []byte, n int) {
	for pid, pair := range l.all() {
		if pid == id {
			if n == 0 {
				first = pair
			}
			n++
		}
	}
	return first, n
}

// echoes reports whether l, the AV pairs of a client's
// NTLMv2_CLIENT_CHALLENGE, carries what sent, the TargetInfo of our
// CHALLENGE, carried: each of its pairs once, byte for byte, the
// MsvAvTimestamp included (MS-NLMP 3.1.5.1.2: the client copies the
// server's pairs into its response, then adds or modifies MsvAvFlags,
// MsvAvSingleHost, MsvAvChannelBindings and MsvAvTargetName; 3.2.5.1.2
// reads MsvAvFlags from the client's list). The order is the client's own:
// gss-ntlmssp re-encodes the list. A client's MsvAvFlags must be there at
// most once, so that no copy without the MIC bit can hide one with it.
//
// The NTLMv2 proof covers l, so a man in the middle cannot edit it: what
// he can do is edit our CHALLENGE on its way to the client (remove the
// timestamp, or change its AvId, so that the client sends no MIC), and
// this finds that.
func (l avPairs) echoes(sent avPairs) bool {
	for id, pair := range sent.all() {
		if got, n := l.count(id); n != 1 || !bytes.Equal(got, pair) {
			return false
		}
	}
	_, n := l.count(avFlags)
	return n <= 1
}

// flags returns MsvAvFlags, 0 when absent.
func (l avPairs) flags() uint32 {
	if v, ok := l.get(avFlags); ok {
		return binary.LittleEndian.Uint32(v)
	}
	return 0
}

// timestamp returns MsvAvTimestamp (a FILETIME).
func (l avPairs) timestamp() (uint64, bool) {
	if v, ok := l.get(avTimestamp); ok {
		return binary.LittleEndian.Uint64(v), true
	}
	return 0, false
}

// str returns a name pair (UTF-16LE) as a string.
func (l avPairs) str(id uint16) string {
	v, _ := l.get(id)
	return fromUTF16(v)
}

// appendWithout appends the list minus its terminating MsvAvEOL and minus
// any pair in drop, for a client to append its own pairs to.
func (l avPairs) appendWithout(dst []byte, drop ...uint16) []byte {
	for id, pair := range l.all() {
		if !slices.Contains(drop, id) {
			dst = append(dst, pair...)
		}
	}
	return dst
}

// lenWithout is the length appendWithout appends.
func (l avPairs) lenWithout(drop ...uint16) int {
	n := 0
	for id, pair := range l.all() {
		if !slices.Contains(drop, id) {
			n += len(pair)
		}
	}
	return n
}

// appendAVPair appends one pair.
func appendAVPair(dst []byte, id uint16, value []byte) []byte {
	dst = binary.LittleEndian.AppendUint16(dst, id)
	dst = binary.LittleEndian.AppendUint16(dst, uint16(len(value)))
	return append(dst, value...)
}

// appendAVString appends a UTF-16LE name pair.
func appendAVString(dst []byte, id uint16, s string) []byte {
	dst = binary.LittleEndian.AppendUint16(dst, id)
	dst = binary.LittleEndian.AppendUint16(dst, uint16(utf16Len(s)))
	return appendUTF16(dst, s)
}

// appendAVEOL terminates a list.
func appendAVEOL(dst []byte) []byte { return append(dst, 0, 0, 0, 0) }

// utf16Len is the UTF-16LE byte length of s.
func utf16Len(s string) int {
	n := 0
	for _, r := range s {
		if r >= 0x10000 {
			n += 4
		} else {
			n += 2
		}
	}
	return n
}

// appendUTF16 appends s in UTF-16LE.
func appendUTF16(dst []byte, s string) []byte {
	for _, r := range s {
		if r >= 0x10000 {
			r1, r2 := utf16.EncodeRune(r)
			dst = append(dst, byte(r1), byte(r1>>8), byte(r2), byte(r2>>8))
			continue
		}
		dst = append(dst, byte(r), byte(r>>8))
	}
	return dst
}

// putUTF16 writes s in UTF-16LE at the start of dst (sized by utf16Len).
func putUTF16(dst []byte, s string) int {
	return len(appendUTF16(dst[:0], s))
}

// fromUTF16 decodes UTF-16LE; an odd trailing byte is dropped. ASCII, the
// common case for names, takes one allocation.
func fromUTF16(b []byte) string {
	n := len(b) / 2
	ascii := true
	for i := 0; i < n; i++ {
		if b[2*i+1] != 0 || b[2*i] >= 0x80 {
			ascii = false
			break
		}
	}
	if ascii {
		var sb strings.Builder
		sb.Grow(n)
		for i := 0; i < n; i++ {
			sb.WriteByte(b[2*i])
		}
		return sb.String()
	}
	u := make([]uint16, n)
	for i := range u {
		u[i] = uint16(b[2*i]) | uint16(b[2*i+1])<<8
	}
	return string(utf16.Decode(u))
}
