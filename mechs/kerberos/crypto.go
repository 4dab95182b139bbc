package kerberos

import (
	"crypto/aes"
	"crypto/cipher"
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

// This file is the RFC 3961 encryption and checksum profile (section 5.3)
// for the enctypes of RFC 3962 (AES-CTS with HMAC-SHA1) and RFC 8009
// (AES-CTS with HMAC-SHA2), with RC4-HMAC (RFC 4757) through gokrb5. Key
// derivation is in crypto_derive.go, ciphertext stealing in crypto_cts.go.
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
