package kerberos

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/binary"
	"hash"
	"sync/atomic"

	"github.com/jcmturner/gokrb5/v8/crypto/etype"
)

// This file derives the per-usage keys of RFC 3961 section 5.1 (DK with
// n-fold, for RFC 3962) and RFC 8009 section 3 (KDF-HMAC-SHA2), and keeps
// them, with spare keyed HMAC states, for the life of a key.

// usageKey holds what one key usage derives (RFC 3961 section 5.3):
// Ke's cipher, and one spare keyed HMAC each for Ki and Kc. hmac's Reset
// restores the keyed state, so a spare HMAC skips the key setup. Ki and
// Kc are derived only when an HMAC must be made (first use, or a
// concurrent user holds the spare), so a key used only to decrypt and
// encrypt never derives Kc.
type usageKey struct {
	k     *key
	label [5]byte // usage number (big-endian) and a derivation constant byte
	ke    cipher.Block
	ki    macSlot
	kc    macSlot
	// scratch holds a derived key while usage or hmacOnce (which has the
	// slot to itself once its CompareAndSwap wins) computes with it, and is
	// wiped after: derived keys pass through the cipher.Block interface,
	// so a local array would escape to the heap anyway.
	scratch [32]byte
}

// macSlot keeps at most one idle keyed HMAC. get takes it (Swap, so two
// goroutines never share one) or makes a new one; put returns it, a
// racing put simply replacing the other's. Unlike a sync.Pool, a slot
// costs nothing to set up, which matters for the one-shot keys of a first
// contact (a fresh ticket session key per client).
type macSlot struct {
	idle atomic.Pointer[mac]
	used atomic.Bool // a one-shot HMAC has been computed
	// scratch holds the derived key during the one-shot HMAC; only the
	// goroutine whose CompareAndSwap set used touches it, once.
	scratch [32]byte
}

// oneShotMax is the longest message hmacOnce takes.
const oneShotMax = 512

// hmacOnce computes HMAC-SHA1 (RFC 2104) of data under Ki or Kc (derived
// here, on the stack) without making a keyed HMAC state, for the first
// use of a usage: a key used once (the session key of a fresh ticket
// verifies one authenticator and seals one AP-REP) then costs no
// allocation for its HMACs. It reports false, computing nothing, for the
// SHA-2 enctypes, for long messages, and for every use after the first
// (later uses keep a keyed state in the slot, which saves the two pad
// blocks per message).
func (uk *usageKey) hmacOnce(slot *macSlot, c byte, data []byte, sum *[64]byte) bool {
	k := uk.k
	if k.sha2 || len(data) > oneShotMax || slot.used.Load() || !slot.used.CompareAndSwap(false, true) {
		return false
	}
	label := uk.label
	label[4] = c
	kb := &slot.scratch
	n, err := k.deriveSHA1Into(label, kb)
	if err != nil {
		return false // used stays set: later uses take the keyed HMAC
	}
	const block = 64 // SHA-1's block size; derived keys are shorter
	var in [block + oneShotMax]byte
	var out [block + sha1.Size]byte
	for i := 0; i < block; i++ {
		in[i], out[i] = 0x36, 0x5c
	}
	for i, b := range kb[:n] {
		in[i] ^= b
		out[i] ^= b
	}
	m := copy(in[block:], data)
	inner := sha1.Sum(in[:block+m])
	copy(out[block:], inner[:])
	outer := sha1.Sum(out[:])
	copy(sum[:], outer[:])
	clear(kb[:])
	clear(in[:block])
	clear(out[:block])
	return true
}

type mac struct{ h hash.Hash }

// mac returns a keyed HMAC for derivation constant c (Ki or Kc) of the
// usage; give it back with put.
func (uk *usageKey) mac(slot *macSlot, c byte) (*mac, error) {
	if m := slot.idle.Swap(nil); m != nil {
		return m, nil
	}
	k := uk.k
	label := uk.label
	label[4] = c
	var kb []byte
	if k.sha2 {
		kb = k.deriveSHA2(label, c)
	} else {
		var err error
		if kb, err = k.deriveSHA1(label); err != nil {
			return nil, err
		}
	}
	m := &mac{h: hmac.New(k.hfn, kb)}
	clear(kb) // hmac keeps its own padded copy
	return m, nil
}

func (slot *macSlot) put(m *mac) {
	m.h.Reset()
	slot.idle.Store(m)
}

// usage returns the derived keys for usage u, deriving them on first use.
func (k *key) usage(u uint32) (*usageKey, error) {
	if u < maxUsage {
		if uk := k.derived[u].Load(); uk != nil {
			return uk, nil
		}
	}
	uk := &usageKey{k: k}
	binary.BigEndian.PutUint32(uk.label[:], u)
	if k.fast {
		label := uk.label
		label[4] = derivationEncryption
		var ke []byte
		if k.sha2 {
			ke = k.deriveSHA2(label, derivationEncryption)
		} else {
			// uk is not yet published: its scratch is ours.
			n, err := k.deriveSHA1Into(label, &uk.scratch)
			if err != nil {
				return nil, err
			}
			ke = uk.scratch[:n]
		}
		var err error
		uk.ke, err = aes.NewCipher(ke)
		clear(ke)
		if err != nil {
			return nil, err
		}
	}
	if u < maxUsage {
		k.derived[u].Store(uk)
	}
	return uk, nil
}

// keySize is the protocol key length of et. gokrb5 reports 24 bytes for
// aes256-cts-hmac-sha384-192, whose keys are 32 bytes (RFC 8009 section 5).
func keySize(et int32, e etype.EType) int {
	if et == etypeAES256SHA384 {
		return 32
	}
	return e.GetKeyByteSize()
}

// derivedBits is the length of a derived key for RFC 8009 (section 5):
// Ke is 128 or 256 bits, Ki and Kc 128 or 192.
func derivedBits(et int32, c byte) int {
	if et == etypeAES128SHA256 {
		return 128
	}
	if c == derivationEncryption {
		return 256
	}
	return 192
}

// deriveSHA2 derives Ke, Ki or Kc (constant c) for the RFC 8009 enctypes.
// It takes the label by value so that only this path moves it to the heap.
func (k *key) deriveSHA2(label [5]byte, c byte) []byte {
	return kdfHMACSHA2(k.hfn, k.value, label[:], derivedBits(k.etype, c))
}

// kdfHMACSHA2 is RFC 8009 section 3's KDF-HMAC-SHA2 with an empty context:
// k-truncate(HMAC(key, 00000001 | label | 0x00 | k)). One block suffices
// for every length RFC 8009 needs.
func kdfHMACSHA2(hfn func() hash.Hash, key, label []byte, bits int) []byte {
	h := hmac.New(hfn, key)
	var w [4]byte
	binary.BigEndian.PutUint32(w[:], 1)
	h.Write(w[:])
	h.Write(label)
	h.Write([]byte{0})
	binary.BigEndian.PutUint32(w[:], uint32(bits))
	h.Write(w[:])
	return h.Sum(nil)[:bits/8]
}

// deriveKeySHA1 is RFC 3961 section 5.1's DK for the RFC 3962 enctypes:
// DR(key, constant) = AES(key, n-fold(constant)) iterated until the key
// length is reached (one block for AES-128, two for AES-256), and
// random-to-key is the identity.
func (k *key) deriveSHA1(label [5]byte) ([]byte, error) {
	var out [32]byte
	n, err := k.deriveSHA1Into(label, &out)
	if err != nil {
		return nil, err
	}
	return append([]byte(nil), out[:n]...), nil
}

// deriveSHA1Into is deriveSHA1 into the caller's array (no allocation);
// it returns the derived key's length, len(k.value).
func (k *key) deriveSHA1Into(label [5]byte, out *[32]byte) (int, error) {
	bp := k.base.Load()
	if bp == nil {
		b, err := aes.NewCipher(k.value)
		if err != nil {
			return 0, err
		}
		bp = &b
		k.base.Store(bp)
	}
	b := *bp
	// The n-fold goes through out itself: out escapes (the cipher.Block
	// interface), so a local array would be one more allocation.
	*(*[aesBlock]byte)(out[:aesBlock]) = nfold5(label)
	n := len(k.value)
	b.Encrypt(out[:aesBlock], out[:aesBlock])
	for i := aesBlock; i < n; i += aesBlock {
		b.Encrypt(out[i:i+aesBlock], out[i-aesBlock:i])
	}
	return n, nil
}

// nfold5 is RFC 3961 section 5.1's n-fold of a 5-byte usage constant to
// 128 bits. The input is replicated to lcm(40, 128) = 640 bits, each
// copy rotated right by 13 bits more than the one before; copies are
// 40 bits, so copy k is simply the bytes [5k, 5k+5). The five 128-bit
// chunks are then added with ones'-complement (end-around carry)
// addition.
func nfold5(in [5]byte) [aesBlock]byte {
	const bits = 40
	const mask = 1<<bits - 1
	var v uint64
	for _, c := range in {
		v = v<<8 | uint64(c)
	}
	var buf [80]byte
	for k := 0; k < 16; k++ {
		r := uint(13*k) % bits
		x := v
		if r != 0 {
			x = (v>>r | v<<(bits-r)) & mask
		}
		for j := 4; j >= 0; j-- {
			buf[5*k+j] = byte(x)
			x >>= 8
		}
	}
	var sum [aesBlock]byte
	for chunk := 0; chunk < 5; chunk++ {
		c := buf[aesBlock*chunk : aesBlock*(chunk+1)]
		carry := 0
		for i := aesBlock - 1; i >= 0; i-- {
			t := int(sum[i]) + int(c[i]) + carry
			sum[i] = byte(t)
			carry = t >> 8
		}
		for carry != 0 { // end-around carry
			for i := aesBlock - 1; i >= 0 && carry != 0; i-- {
				t := int(sum[i]) + carry
				sum[i] = byte(t)
				carry = t >> 8
			}
		}
	}
	return sum
}
