package kerberos

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"hash"
	"sync/atomic"

	krbcrypto "github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/crypto/etype"
	"github.com/jcmturner/gokrb5/v8/types"
)

// Encryption types (RFC 3962, RFC 8009, RFC 4757).
const (
	etypeAES128SHA1   = 17
	etypeAES256SHA1   = 18
	etypeAES128SHA256 = 19
	etypeAES256SHA384 = 20
	etypeRC4HMAC      = 23
)

// Key usages (RFC 4120 section 7.5.1, RFC 4121 section 2).
const (
	usageTicket          = 2
	usageAPReqAuth       = 11
	usageAPRepEncPart    = 12
	usageKRBCredEncPart  = 14
	usageAcceptorSeal    = 22
	usageAcceptorSign    = 23
	usageInitiatorSeal   = 24
	usageInitiatorSign   = 25
	maxUsage             = 26
	confounderSize       = 16
	aesBlock             = aes.BlockSize
	derivationEncryption = 0xAA
	derivationIntegrity  = 0x55
	derivationChecksum   = 0x99
)

var (
	errIntegrity    = errors.New("kerberos: integrity check failed")
	errBadEtype     = errors.New("kerberos: unsupported encryption type")
	errShortCipher  = errors.New("kerberos: ciphertext too short")
	errRC4NotWanted = errors.New("kerberos: RC4-HMAC is disabled")
)

// key is a protocol key (a long-term key, a ticket session key, or a
// subkey) with its usage-derived keys cached: the AES key schedules and
// HMAC states are computed once per key and usage, not once per message.
// A key is immutable after newKey apart from the lazily filled derived
// slots, which are published with atomic pointers (two racing derivations
// compute the same value; one wins), so it is safe for concurrent use.
type key struct {
	etype int32
	value []byte
	e     etype.EType
	fast  bool // AES-CTS with HMAC-SHA1 (RFC 3962) or HMAC-SHA2 (RFC 8009)
	sha2  bool
	hlen  int // integrity / checksum length in bytes
	hfn   func() hash.Hash

	derived [maxUsage]atomic.Pointer[usageKey]
	base    atomic.Pointer[cipher.Block] // AES with the protocol key itself, for DK
	buf     [32]byte                     // value's storage
}

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

func newKey(et int32, value []byte) (*key, error) {
	e, err := krbcrypto.GetEtype(et)
	if err != nil {
		return nil, errBadEtype
	}
	if len(value) != keySize(et, e) {
		return nil, errBadEtype
	}
	k := &key{etype: et, e: e, hlen: e.GetHMACBitLength() / 8}
	k.value = append(k.buf[:0], value...)
	switch et {
	case etypeAES128SHA1, etypeAES256SHA1:
		k.fast, k.hfn = true, sha1.New
	case etypeAES128SHA256:
		k.fast, k.sha2, k.hfn = true, true, sha256.New
	case etypeAES256SHA384:
		k.fast, k.sha2, k.hfn = true, true, sha512.New384
	case etypeRC4HMAC:
	default:
		return nil, errBadEtype
	}
	return k, nil
}

// keyFrom converts a gokrb5 EncryptionKey.
func keyFrom(ek types.EncryptionKey) (*key, error) { return newKey(ek.KeyType, ek.KeyValue) }

// randomKey makes a fresh key of etype et (a subkey). For the AES
// enctypes random-to-key is the identity (RFC 3962 section 6, RFC 8009).
func randomKey(et int32) (*key, error) {
	k, _, err := randomKeyAndSeq(et)
	return k, err
}

// randomKeyAndSeq is randomKey plus a random initial sequence number
// (masked to 30 bits, as the acceptor has always chosen it), from one
// random read: the acceptor's AP-REP needs both.
func randomKeyAndSeq(et int32) (*key, uint32, error) {
	e, err := krbcrypto.GetEtype(et)
	if err != nil {
		return nil, 0, errBadEtype
	}
	n := keySize(et, e)
	var b [64 + 4]byte
	if n > 64 {
		return nil, 0, errBadEtype
	}
	rand.Read(b[:n+4])
	k, err := newKey(et, b[:n])
	seq := binary.BigEndian.Uint32(b[n:]) & 0x3fffffff
	clear(b[:])
	return k, seq, err
}

// wipe zeroes the key and drops its derived schedules (the AES and HMAC
// states cannot be zeroed in place; without references they are
// collected).
func (k *key) wipe() {
	if k == nil {
		return
	}
	clear(k.value)
	// Most usages were never derived: a load spares their atomic stores.
	for i := range k.derived {
		if k.derived[i].Load() != nil {
			k.derived[i].Store(nil)
		}
	}
	if k.base.Load() != nil {
		k.base.Store(nil)
	}
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

// sealedSize is the ciphertext length for a plaintext of n bytes.
func (k *key) sealedSize(n int) int {
	if k.fast {
		return confounderSize + n + k.hlen
	}
	return n + 24 // RC4-HMAC: checksum 16 + confounder 8
}

// encrypt appends E(usage, plaintext) to dst (RFC 3961 section 5.3 with
// RFC 3962 / RFC 8009): CTS(Ke, confounder|plaintext) | HMAC.
func (k *key) encrypt(dst []byte, u uint32, plaintext []byte) ([]byte, error) {
	if !k.fast {
		ed, err := krbcrypto.GetEncryptedData(plaintext, types.EncryptionKey{KeyType: k.etype, KeyValue: k.value}, u, 0)
		if err != nil {
			return nil, err
		}
		return append(dst, ed.Cipher...), nil
	}
	uk, err := k.usage(u)
	if err != nil {
		return nil, err
	}
	start := len(dst)
	dst = append(dst, make([]byte, confounderSize)...)
	rand.Read(dst[start:])
	dst = append(dst, plaintext...)
	p := dst[start:]
	var once [64]byte // not the sum below, which escapes through hash.Hash
	if uk.hmacOnce(&uk.ki, derivationIntegrity, p, &once) {
		ctsEncrypt(uk.ke, p)
		return append(dst, once[:k.hlen]...), nil
	}
	var sum [64]byte
	m, err := uk.mac(&uk.ki, derivationIntegrity)
	if err != nil {
		return nil, err
	}
	h := m.h
	if !k.sha2 {
		h.Write(p)
		h.Sum(sum[:0])
		ctsEncrypt(uk.ke, p)
	} else {
		ctsEncrypt(uk.ke, p)
		var iv [aesBlock]byte
		h.Write(iv[:])
		h.Write(p)
		h.Sum(sum[:0])
	}
	uk.ki.put(m)
	return append(dst, sum[:k.hlen]...), nil
}

// decrypt decrypts ct into a new buffer and returns the plaintext.
func (k *key) decrypt(u uint32, ct []byte) ([]byte, error) {
	if !k.fast {
		return krbcrypto.DecryptMessage(ct, types.EncryptionKey{KeyType: k.etype, KeyValue: k.value}, u)
	}
	buf := make([]byte, len(ct))
	copy(buf, ct)
	return k.decryptInPlace(u, buf)
}

// decryptInPlace decrypts ct over itself and returns the plaintext, a
// subslice of ct. On failure ct's content is undefined.
func (k *key) decryptInPlace(u uint32, ct []byte) ([]byte, error) {
	if !k.fast {
		pt, err := k.decrypt(u, ct)
		if err != nil {
			return nil, errIntegrity
		}
		return pt, nil
	}
	if len(ct) < confounderSize+k.hlen {
		return nil, errShortCipher
	}
	uk, err := k.usage(u)
	if err != nil {
		return nil, err
	}
	c := ct[:len(ct)-k.hlen]
	var want [64]byte
	copy(want[:], ct[len(ct)-k.hlen:])
	if !k.sha2 && len(c) <= oneShotMax && !uk.ki.used.Load() {
		ctsDecrypt(uk.ke, c, c)
		var once [64]byte
		if uk.hmacOnce(&uk.ki, derivationIntegrity, c, &once) {
			if subtle.ConstantTimeCompare(once[:k.hlen], ct[len(ct)-k.hlen:]) != 1 {
				return nil, errIntegrity
			}
			return c[confounderSize:], nil
		}
		// Lost a race for the one-shot: c is decrypted already.
		m, err := uk.mac(&uk.ki, derivationIntegrity)
		if err != nil {
			return nil, err
		}
		var sum [64]byte
		m.h.Write(c)
		m.h.Sum(sum[:0])
		uk.ki.put(m)
		if subtle.ConstantTimeCompare(sum[:k.hlen], ct[len(ct)-k.hlen:]) != 1 {
			return nil, errIntegrity
		}
		return c[confounderSize:], nil
	}
	m, err := uk.mac(&uk.ki, derivationIntegrity)
	if err != nil {
		return nil, err
	}
	h := m.h
	var sum [64]byte
	if k.sha2 {
		var iv [aesBlock]byte
		h.Write(iv[:])
		h.Write(c)
		h.Sum(sum[:0])
		ctsDecrypt(uk.ke, c, c)
	} else {
		ctsDecrypt(uk.ke, c, c)
		h.Write(c)
		h.Sum(sum[:0])
	}
	uk.ki.put(m)
	if subtle.ConstantTimeCompare(sum[:k.hlen], want[:k.hlen]) != 1 {
		return nil, errIntegrity
	}
	return c[confounderSize:], nil
}

// checksum appends the keyed checksum of the concatenated parts (RFC
// 3961's get_mic for the etype's mandatory checksum: HMAC(Kc, data)
// truncated) to dst. The parts avoid copying a message and a token header
// into one buffer.
func (k *key) checksum(dst []byte, u uint32, p1, p2 []byte) ([]byte, error) {
	if !k.fast {
		data := append(append([]byte(nil), p1...), p2...)
		sum, err := k.e.GetChecksumHash(k.value, data, u)
		if err != nil {
			return nil, err
		}
		return append(dst, sum...), nil
	}
	uk, err := k.usage(u)
	if err != nil {
		return nil, err
	}
	m, err := uk.mac(&uk.kc, derivationChecksum)
	if err != nil {
		return nil, err
	}
	h := m.h
	h.Write(p1)
	h.Write(p2)
	var sum [64]byte
	h.Sum(sum[:0])
	uk.kc.put(m)
	return append(dst, sum[:k.hlen]...), nil
}

// checksumParts is checksum over any number of parts (for Wrap tokens
// spread over several data buffers).
func (k *key) checksumParts(dst []byte, u uint32, parts [][]byte) ([]byte, error) {
	if !k.fast || len(parts) <= 2 {
		var p1, p2 []byte
		switch {
		case len(parts) == 1:
			p1 = parts[0]
		case len(parts) == 2:
			p1, p2 = parts[0], parts[1]
		case len(parts) > 2:
			for _, p := range parts[:len(parts)-1] {
				p1 = append(p1, p...)
			}
			p2 = parts[len(parts)-1]
		}
		return k.checksum(dst, u, p1, p2)
	}
	uk, err := k.usage(u)
	if err != nil {
		return nil, err
	}
	m, err := uk.mac(&uk.kc, derivationChecksum)
	if err != nil {
		return nil, err
	}
	h := m.h
	for _, p := range parts {
		h.Write(p)
	}
	var sum [64]byte
	h.Sum(sum[:0])
	uk.kc.put(m)
	return append(dst, sum[:k.hlen]...), nil
}

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
