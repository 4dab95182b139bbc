package ntlm

import "encoding/binary"

// rc4 is the RC4 stream cipher held by value inside a context, so that
// setting it up allocates nothing (crypto/rc4.NewCipher allocates a Cipher
// each time). NTLM keys it with a 16-byte key per direction (MS-NLMP 3.4.3)
// and once per AUTHENTICATE for the session-key exchange (3.1.5.1.2).
type rc4 struct {
	s    [256]uint8
	i, j uint8
}

// reset keys the cipher (the RC4 key schedule). key must not be empty.
func (c *rc4) reset(key []byte) {
	// The identity permutation, eight bytes at a time.
	for i := 0; i < 256; i += 8 {
		binary.LittleEndian.PutUint64(c.s[i:], 0x0706050403020100+uint64(i)*0x0101010101010101)
	}
	s := &c.s
	var j uint8
	if len(key) == 16 {
		// NTLM's usual key length: the key index is the low four bits of
		// i, and no index needs a bounds check.
		k := (*[16]byte)(key)
		for i := 0; i < 256; i++ {
			x := s[uint8(i)]
			j += x + k[i&15]
			s[uint8(i)], s[j] = s[j], x
		}
	} else {
		k := 0
		for i := range s {
			x := s[i]
			j += x + key[k]
			s[i], s[j] = s[j], x
			if k++; k == len(key) {
				k = 0
			}
		}
	}
	c.i, c.j = 0, 0
}

// xor XORs the key stream into dst from src (which may be dst itself).
func (c *rc4) xor(dst, src []byte) {
	if len(src) == 0 {
		return
	}
	i, j := c.i, c.j
	_ = dst[len(src)-1]
	for k, v := range src {
		i++
		x := c.s[i]
		j += x
		y := c.s[j]
		c.s[i], c.s[j] = y, x
		dst[k] = v ^ c.s[x+y]
	}
	c.i, c.j = i, j
}

// wipe clears the state.
func (c *rc4) wipe() { *c = rc4{} }
