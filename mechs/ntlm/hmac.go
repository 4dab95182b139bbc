package ntlm

import (
	"crypto/md5"
	"encoding"
	"hash"
)

// NTLM computes HMAC-MD5 (RFC 2104) many times per handshake under the
// same few keys. hmacKey keeps, for one key, the MD5 states after the
// inner (ipad) and outer (opad) blocks, marshaled by crypto/md5; a hasher
// restores them instead of hashing the pads again, saving two of the MD5
// blocks of every HMAC.

// md5StateSize is the size of crypto/md5's marshaled state: a 4-byte
// magic, four 32-bit words, a 64-byte block and a 64-bit length.
const md5StateSize = 4 + 16 + md5.BlockSize + 8

// hmacKey is a precomputed HMAC-MD5 key. It is read-only once set, so one
// may be shared (a credential's NTOWFv2 key is shared by its contexts).
type hmacKey struct {
	inner, outer [md5StateSize]byte
}

// hasher is one MD5 instance with scratch space, owned by one goroutine at
// a time (a context's handshake, or one direction of its message
// protection). Everything passed to the hash.Hash lives in the hasher or in
// caller-owned heap memory, so that the interface calls make no copies
// escape to the heap.
type hasher struct {
	h   hash.Hash
	u   encoding.BinaryUnmarshaler
	a   encoding.BinaryAppender
	pad [md5.BlockSize]byte
	key [16]byte
	sum [md5.Size]byte
	tmp [4]byte
}

func newHasher() *hasher {
	x := &hasher{}
	x.init()
	return x
}

func (x *hasher) init() {
	x.h = md5.New()
	x.u = x.h.(encoding.BinaryUnmarshaler)
	x.a = x.h.(encoding.BinaryAppender)
}

// setKey precomputes k for key (at most 64 bytes; NTLM keys are 16).
func (x *hasher) setKey(k *hmacKey, key []byte) {
	x.startPad(key, 0x36)
	x.a.AppendBinary(k.inner[:0])
	x.startPad(key, 0x5c)
	x.a.AppendBinary(k.outer[:0])
}

// startPad resets the MD5 and absorbs the key XOR the pad byte p (0x36
// for the inner hash, 0x5c for the outer, RFC 2104).
func (x *hasher) startPad(key []byte, p byte) {
	n := copy(x.pad[:], key)
	for i := range x.pad {
		if i < n {
			x.pad[i] ^= p
		} else {
			x.pad[i] = p
		}
	}
	x.h.Reset()
	x.h.Write(x.pad[:])
}

// begin starts an HMAC under a precomputed key.
func (x *hasher) begin(k *hmacKey) {
	if err := x.u.UnmarshalBinary(k.inner[:]); err != nil {
		panic("ntlm: bad precomputed MD5 state") // impossible: we marshaled it
	}
}

// beginRaw starts an HMAC under a 16-byte key used once (hashed with the
// pads as usual).
func (x *hasher) beginRaw(key []byte) {
	copy(x.key[:], key)
	x.startPad(x.key[:], 0x36)
}

func (x *hasher) write(p []byte) { x.h.Write(p) }

// writeUint32 absorbs a little-endian 32-bit value.
func (x *hasher) writeUint32(v uint32) {
	x.tmp[0], x.tmp[1], x.tmp[2], x.tmp[3] = byte(v), byte(v>>8), byte(v>>16), byte(v>>24)
	x.h.Write(x.tmp[:])
}

// end finishes an HMAC begun with begin; the result is in x.sum.
func (x *hasher) end(k *hmacKey) *[16]byte {
	x.h.Sum(x.sum[:0])
	if err := x.u.UnmarshalBinary(k.outer[:]); err != nil {
		panic("ntlm: bad precomputed MD5 state")
	}
	x.h.Write(x.sum[:])
	x.h.Sum(x.sum[:0])
	return &x.sum
}

// endRaw finishes an HMAC begun with beginRaw.
func (x *hasher) endRaw() *[16]byte {
	x.h.Sum(x.sum[:0])
	x.startPad(x.key[:], 0x5c)
	x.h.Write(x.sum[:])
	x.h.Sum(x.sum[:0])
	return &x.sum
}

// hmacOnce is HMAC_MD5(key, parts...) for a one-off key (16 bytes).
func (x *hasher) hmacOnce(key []byte, parts ...[]byte) [16]byte {
	x.beginRaw(key)
	for _, p := range parts {
		x.h.Write(p)
	}
	return *x.endRaw()
}
