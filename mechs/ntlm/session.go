package ntlm

import (
	"crypto/md5"
	"crypto/subtle"
	"encoding/binary"
	"hash/crc32"
	"sync"

	secctx "github.com/asyncsspi/asyncsspi/context"
	"github.com/asyncsspi/asyncsspi/status"
)

// signatureSize is the size of NTLMSSP_MESSAGE_SIGNATURE (MS-NLMP 2.2.2.9),
// what MakeSignature and EncryptMessage write into the TOKEN buffer.
const signatureSize = 16

// direction is the message protection state of one direction of a
// connection-oriented context (MS-NLMP 3.4): its signing key, its RC4
// sealing handle and its sequence number.
//
// Locking: mu guards everything. The send side (MakeSignature,
// EncryptMessage) uses one direction and the receive side (VerifySignature,
// DecryptMessage) the other, so the two sides run concurrently, as Windows
// allows; a second caller on the same side waits.
//
// Everything is derived on first use, under mu, in two stages, so that a
// handshake that never protects a message pays for nothing, and one that
// protects a single small message (SPNEGO's mechListMIC) pays only for
// what that message needs:
//   - keyed: SIGNKEY and SEALKEY (one MD5 each), the RC4 key schedule, and
//     a copy of the schedule's result (sealInit), so that resetSeal is a
//     copy rather than another key schedule;
//   - hmacSet: the precomputed HMAC-MD5 states of SIGNKEY and the
//     direction's own hasher, which pay off from the second message on.
//     The first message, if small, is signed by a one-shot HMAC on the
//     stack instead.
type direction struct {
	mu      sync.Mutex
	flags   uint32 // the negotiated flags
	seq     uint32
	client  bool // whether this direction uses the client-to-server keys
	keyed   bool
	hmacSet bool
	oneShot bool     // the one-shot HMAC has been used
	key     [16]byte // ExportedSessionKey, until keyed
	signRaw [16]byte // SIGNKEY, once keyed (with extended session security)
	signKey hmacKey  // precomputed HMAC-MD5 states of SIGNKEY, once hmacSet
	seal    rc4      // the sealing handle
	// sealInit is the sealing handle as the key schedule left it: what
	// resetSeal restores.
	sealInit rc4
	sig      [signatureSize]byte
}

// sessionSecurity is both directions plus the negotiated flags that decide
// the signature format.
type sessionSecurity struct {
	send direction
	recv direction
}

// init records the exported session key; each direction derives its keys
// (MS-NLMP 3.4.5.2, 3.4.5.3), RC4 handle and HMAC states on first use. It
// runs during Step, which the engine never runs concurrently with the
// per-message calls.
func (s *sessionSecurity) init(sessionKey []byte, flags uint32, client bool) {
	for _, d := range []*direction{&s.send, &s.recv} {
		d.mu.Lock()
		outbound := d == &s.send
		// The client signs and seals with the client-to-server keys.
		d.client = outbound == client
		copy(d.key[:], sessionKey)
		d.flags = flags
		d.keyed, d.hmacSet, d.oneShot = false, false, false
		d.seq = 0
		d.mu.Unlock()
	}
}

// prepare derives SEALKEY and SIGNKEY and keys the RC4 handle; mu is held.
func (d *direction) prepare() {
	if d.keyed {
		return
	}
	var buf keyScratch
	sk, n := sealKey(&buf, d.key[:], d.flags, d.client)
	d.sealInit.reset(sk[:n])
	d.seal = d.sealInit
	if gk, ok := signKey(&buf, d.key[:], d.flags, d.client); ok {
		d.signRaw = gk
	}
	clear(sk[:])
	clear(buf[:])
	clear(d.key[:])
	d.keyed = true
}

func (s *sessionSecurity) wipe() {
	for _, d := range []*direction{&s.send, &s.recv} {
		d.mu.Lock()
		d.seal.wipe()
		d.sealInit.wipe()
		d.signKey = hmacKey{}
		clear(d.key[:])
		clear(d.signRaw[:])
		d.keyed, d.hmacSet = false, false
		d.mu.Unlock()
	}
}

// resetSeal puts one direction's RC4 sealing handle back in the state the
// key schedule left it in (what re-keying it from its sealing key gives),
// leaving the sequence number alone.
func (d *direction) resetSeal() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.keyed {
		d.prepare() // a fresh handle is already a reset one
		return
	}
	d.seal = d.sealInit
}

// oneShotMax is the most signed data the one-shot HMAC takes (a
// mechListMIC covers a few dozen bytes).
const oneShotMax = 192

// mac is HMAC_MD5(SIGNKEY, SeqNum || Message) over the signed buffers
// (MS-NLMP 3.4.4.2); mu is held and the direction is keyed. x is the
// direction's hasher, made here when first needed.
func (d *direction) mac(x **hasher, seq uint32, msg []secctx.Buffer) [16]byte {
	if !d.hmacSet {
		if !d.oneShot {
			if sum, ok := hmacOneShot(&d.signRaw, seq, msg); ok {
				d.oneShot = true
				return sum
			}
		}
		if *x == nil {
			*x = newHasher()
		}
		(*x).setKey(&d.signKey, d.signRaw[:])
		d.hmacSet = true
	}
	hx := *x
	hx.begin(&d.signKey)
	hx.writeUint32(seq)
	for i := range msg {
		if isSigned(&msg[i]) {
			hx.write(msg[i].Data)
		}
	}
	return *hx.end(&d.signKey)
}

// hmacOneShot is HMAC-MD5 (RFC 2104) of seq || the signed buffers under
// key, computed with md5.Sum on stack buffers (no hasher, no allocation);
// false when the signed data is more than oneShotMax bytes.
func hmacOneShot(key *[16]byte, seq uint32, msg []secctx.Buffer) ([16]byte, bool) {
	var in [md5.BlockSize + 4 + oneShotMax]byte
	n := md5.BlockSize + 4
	for i := range msg {
		if isSigned(&msg[i]) {
			if len(msg[i].Data) > len(in)-n {
				return [16]byte{}, false
			}
			n += copy(in[n:], msg[i].Data)
		}
	}
	padKey(in[:md5.BlockSize], key, 0x36)
	binary.LittleEndian.PutUint32(in[md5.BlockSize:], seq)
	inner := md5.Sum(in[:n])
	var out [md5.BlockSize + md5.Size]byte
	padKey(out[:md5.BlockSize], key, 0x5c)
	copy(out[md5.BlockSize:], inner[:])
	sum := md5.Sum(out[:])
	clear(in[:md5.BlockSize])
	clear(out[:md5.BlockSize])
	return sum, true
}

// padKey writes key XOR the pad byte p into the block dst (RFC 2104).
func padKey(dst []byte, key *[16]byte, p byte) {
	for i := range dst {
		dst[i] = p
	}
	for i, k := range key {
		dst[i] ^= k
	}
}

// isSigned reports whether a buffer takes part in the signature, and
// isSealed whether EncryptMessage encrypts it.
func isSigned(b *secctx.Buffer) bool { return b.Type.Base() == secctx.SECBUFFER_DATA }
func isSealed(b *secctx.Buffer) bool {
	return b.Type.Base() == secctx.SECBUFFER_DATA && !b.Type.ReadOnly()
}

// checksum is the checksum a signature carries, computed over the
// plaintext of the signed buffers (MS-NLMP 3.4.4): with extended session
// security HMAC_MD5(SIGNKEY, SeqNum || Message)[0..7] (3.4.4.2), else
// CRC32(Message) in the first four bytes (3.4.4.1).
func (d *direction) checksum(x **hasher, flags uint32, msg []secctx.Buffer, seq uint32) (sum [8]byte) {
	if flags&negotiateExtendedSessionSecurity != 0 {
		mac := d.mac(x, seq, msg)
		return [8]byte(mac[:8])
	}
	var crc uint32
	for i := range msg {
		if isSigned(&msg[i]) {
			crc = crc32.Update(crc, crc32.IEEETable, msg[i].Data)
		}
	}
	binary.LittleEndian.PutUint32(sum[:], crc)
	return sum
}

// sealData runs the writable DATA buffers through the sealing handle:
// EncryptMessage's sealing and DecryptMessage's unsealing (MS-NLMP 3.4.3).
func (d *direction) sealData(msg []secctx.Buffer) {
	for i := range msg {
		if isSealed(&msg[i]) && len(msg[i].Data) > 0 {
			d.seal.xor(msg[i].Data, msg[i].Data)
		}
	}
}

// sign writes the signature carrying sum into d.sig, advancing the RC4
// handle (MS-NLMP 3.4.4). seq is the sequence number to sign with. Any
// sealing must already have used its key stream: SEAL encrypts the message
// first, then the checksum (3.4.3).
func (d *direction) sign(flags uint32, sum [8]byte, seq uint32) {
	sig := d.sig[:]
	binary.LittleEndian.PutUint32(sig[0:], 1)
	if flags&negotiateExtendedSessionSecurity != 0 {
		// 3.4.4.2: the checksum RC4'd with the sealing handle when
		// KEY_EXCH was negotiated, then the sequence number.
		copy(sig[4:12], sum[:])
		if flags&negotiateKeyExch != 0 {
			d.seal.xor(sig[4:12], sig[4:12])
		}
		binary.LittleEndian.PutUint32(sig[12:], seq)
		return
	}
	// 3.4.4.1: RandomPad 0, Checksum CRC32(Message), SeqNum 0, all three
	// RC4'd; then SeqNum XOR the sequence number and RandomPad zeroed.
	clear(sig[4:])
	copy(sig[8:12], sum[:4])
	d.seal.xor(sig[4:16], sig[4:16])
	binary.LittleEndian.PutUint32(sig[12:], binary.LittleEndian.Uint32(sig[12:])^seq)
	clear(sig[4:8])
}

func tokenBuffer(msg []secctx.Buffer) int { return secctx.Find(msg, secctx.SECBUFFER_TOKEN) }

// protect is MakeSignature (seal false) and EncryptMessage (seal true).
func (s *sessionSecurity) protect(x **hasher, msg []secctx.Buffer, seal bool) status.Code {
	ti := tokenBuffer(msg)
	if ti < 0 {
		return status.SEC_E_INVALID_TOKEN
	}
	if cap(msg[ti].Data) < signatureSize {
		return status.SEC_E_BUFFER_TOO_SMALL
	}
	d := &s.send
	d.mu.Lock()
	defer d.mu.Unlock()
	d.prepare()
	// The checksum is over the plaintext; sealing uses the key stream
	// before the signature does.
	sum := d.checksum(x, d.flags, msg, d.seq)
	if seal {
		d.sealData(msg)
	}
	d.sign(d.flags, sum, d.seq)
	d.seq++
	msg[ti].Data = append(msg[ti].Data[:0], d.sig[:]...)
	return status.SEC_E_OK
}

// check is VerifySignature (sealed false) and DecryptMessage (sealed true).
//
// A signature whose sequence number is not the next expected one gives
// SEC_E_OUT_OF_SEQUENCE and changes nothing. Any other mismatch gives
// SEC_E_MESSAGE_ALTERED; the sequence number and RC4 handle still advance,
// as the sender's did, so that the next genuine message verifies.
func (s *sessionSecurity) check(x **hasher, msg []secctx.Buffer, sealed bool) status.Code {
	ti := tokenBuffer(msg)
	if ti < 0 {
		return status.SEC_E_INVALID_TOKEN
	}
	got := msg[ti].Data
	if len(got) < signatureSize {
		return status.SEC_E_INVALID_TOKEN
	}
	got = got[:signatureSize]
	d := &s.recv
	d.mu.Lock()
	defer d.mu.Unlock()
	d.prepare()
	flags := d.flags
	seq := d.seq
	ess := flags&negotiateExtendedSessionSecurity != 0
	if binary.LittleEndian.Uint32(got) != 1 {
		return status.SEC_E_MESSAGE_ALTERED
	}
	if ess && binary.LittleEndian.Uint32(got[12:]) != seq {
		return status.SEC_E_OUT_OF_SEQUENCE
	}
	if sealed {
		d.sealData(msg)
	}
	d.sign(flags, d.checksum(x, flags, msg, seq), seq)
	d.seq++
	if !ess {
		// The sequence number is under RC4: compare it apart from the
		// checksum to tell the two failures apart.
		if subtle.ConstantTimeCompare(got[12:16], d.sig[12:16]) != 1 {
			if subtle.ConstantTimeCompare(got[8:12], d.sig[8:12]) == 1 {
				return status.SEC_E_OUT_OF_SEQUENCE
			}
			return status.SEC_E_MESSAGE_ALTERED
		}
	}
	if subtle.ConstantTimeCompare(got, d.sig[:]) != 1 {
		return status.SEC_E_MESSAGE_ALTERED
	}
	return status.SEC_E_OK
}
