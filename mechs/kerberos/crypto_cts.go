package kerberos

import (
	"crypto/cipher"
	"crypto/subtle"
)

// This file is AES in CBC mode with ciphertext stealing, as RFC 3962
// section 5 defines it for Kerberos.

// ctsEncrypt encrypts p in place with AES in CBC mode with ciphertext
// stealing and a zero IV, as RFC 3962 section 5 defines it (the last two
// blocks swapped, the final one truncated). len(p) >= 16.
func ctsEncrypt(b cipher.Block, p []byte) {
	n := len(p)
	if n == aesBlock {
		b.Encrypt(p, p)
		return
	}
	m := (n + aesBlock - 1) / aesBlock
	r := n - aesBlock*(m-1)
	// One scratch array: slices of locals passed to the cipher.Block
	// interface escape, so several arrays would be several allocations.
	var scratch [2 * aesBlock]byte
	prev, last := scratch[:aesBlock], scratch[aesBlock:]
	for i := 0; i < m-1; i++ {
		blk := p[aesBlock*i : aesBlock*(i+1)]
		subtle.XORBytes(blk, blk, prev[:])
		b.Encrypt(blk, blk)
		copy(prev[:], blk)
	}
	copy(last[:], p[aesBlock*(m-1):])
	subtle.XORBytes(last[:], last[:], prev[:])
	b.Encrypt(last[:], last[:])
	copy(p[aesBlock*(m-1):], prev[:r])
	copy(p[aesBlock*(m-2):aesBlock*(m-1)], last[:])
}

// ctsDecrypt is ctsEncrypt's inverse; dst and src may be the same slice.
func ctsDecrypt(b cipher.Block, dst, src []byte) {
	n := len(src)
	if n == aesBlock {
		b.Decrypt(dst, src)
		return
	}
	m := (n + aesBlock - 1) / aesBlock
	r := n - aesBlock*(m-1)
	var scratch [7 * aesBlock]byte // one allocation (see ctsEncrypt)
	prev, c, t := scratch[:aesBlock], scratch[aesBlock:2*aesBlock], scratch[2*aesBlock:3*aesBlock]
	dn, cm1 := scratch[3*aesBlock:4*aesBlock], scratch[4*aesBlock:5*aesBlock]
	pm, pm1 := scratch[5*aesBlock:6*aesBlock], scratch[6*aesBlock:]
	for i := 0; i < m-2; i++ {
		copy(c[:], src[aesBlock*i:aesBlock*(i+1)])
		b.Decrypt(t[:], c[:])
		subtle.XORBytes(dst[aesBlock*i:aesBlock*(i+1)], t[:], prev[:])
		copy(prev, c)
	}
	b.Decrypt(dn[:], src[aesBlock*(m-2):aesBlock*(m-1)])
	cl := src[aesBlock*(m-1):]
	copy(cm1[:], cl)
	copy(cm1[r:], dn[r:])
	subtle.XORBytes(pm[:r], dn[:r], cl)
	b.Decrypt(pm1[:], cm1[:])
	subtle.XORBytes(pm1[:], pm1[:], prev[:])
	copy(dst[aesBlock*(m-2):], pm1[:])
	copy(dst[aesBlock*(m-1):n], pm[:r])
}
