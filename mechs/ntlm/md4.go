package ntlm

import (
	"encoding/binary"
	"math/bits"
)

// md4 computes MD4 (RFC 1320), which NTOWFv1 (MS-NLMP 3.3.1) needs and the
// standard library does not have. It runs once per credential, never per
// message, so it favours brevity over speed.
func md4(msg []byte) [16]byte {
	a, b, c, d := uint32(0x67452301), uint32(0xefcdab89), uint32(0x98badcfe), uint32(0x10325476)
	n := len(msg)
	padded := make([]byte, 0, n+72)
	padded = append(padded, msg...)
	padded = append(padded, 0x80)
	for len(padded)%64 != 56 {
		padded = append(padded, 0)
	}
	padded = binary.LittleEndian.AppendUint64(padded, uint64(n)*8)

	var x [16]uint32
	for blk := 0; blk < len(padded); blk += 64 {
		for i := range x {
			x[i] = binary.LittleEndian.Uint32(padded[blk+4*i:])
		}
		aa, bb, cc, dd := a, b, c, d
		// Round 1: F(x,y,z) = xy | ~x z.
		for _, i := range [4]int{0, 4, 8, 12} {
			a = bits.RotateLeft32(a+((b&c)|(^b&d))+x[i], 3)
			d = bits.RotateLeft32(d+((a&b)|(^a&c))+x[i+1], 7)
			c = bits.RotateLeft32(c+((d&a)|(^d&b))+x[i+2], 11)
			b = bits.RotateLeft32(b+((c&d)|(^c&a))+x[i+3], 19)
		}
		// Round 2: G(x,y,z) = xy | xz | yz, constant 0x5A827999.
		for _, i := range [4]int{0, 1, 2, 3} {
			a = bits.RotateLeft32(a+((b&c)|(b&d)|(c&d))+x[i]+0x5a827999, 3)
			d = bits.RotateLeft32(d+((a&b)|(a&c)|(b&c))+x[i+4]+0x5a827999, 5)
			c = bits.RotateLeft32(c+((d&a)|(d&b)|(a&b))+x[i+8]+0x5a827999, 9)
			b = bits.RotateLeft32(b+((c&d)|(c&a)|(d&a))+x[i+12]+0x5a827999, 13)
		}
		// Round 3: H(x,y,z) = x ^ y ^ z, constant 0x6ED9EBA1.
		for _, i := range [4]int{0, 2, 1, 3} {
			a = bits.RotateLeft32(a+(b^c^d)+x[i]+0x6ed9eba1, 3)
			d = bits.RotateLeft32(d+(a^b^c)+x[i+8]+0x6ed9eba1, 9)
			c = bits.RotateLeft32(c+(d^a^b)+x[i+4]+0x6ed9eba1, 11)
			b = bits.RotateLeft32(b+(c^d^a)+x[i+12]+0x6ed9eba1, 15)
		}
		a += aa
		b += bb
		c += cc
		d += dd
	}
	var out [16]byte
	binary.LittleEndian.PutUint32(out[0:], a)
	binary.LittleEndian.PutUint32(out[4:], b)
	binary.LittleEndian.PutUint32(out[8:], c)
	binary.LittleEndian.PutUint32(out[12:], d)
	return out
}
