package kerberos

import (
	"crypto/subtle"
	"encoding/binary"
	"sync"
	"time"

	secctx "github.com/asyncsspi/asyncsspi/context"
	"github.com/asyncsspi/asyncsspi/status"
)

// session is what an established context (either side) needs for
// per-message tokens (RFC 4121 section 4.2) and for its attributes.
//
// Locking: the send side (MakeSignature, EncryptMessage) and the receive
// side (VerifySignature, DecryptMessage) each run on one goroutine at a
// time but concurrently with each other, so each sequence counter has its
// own mutex. The attribute fields are written by Step under attrMu and
// read by QueryAttribute, which may run at any time.
type session struct {
	initiator bool

	attrMu      sync.Mutex
	established bool
	key         *key // per-message key: acceptor subkey, else initiator subkey, else session key
	acceptorSub bool // key is the acceptor's subkey (flag AcceptorSubkey)
	flags       uint64
	client      string // "user@REALM"
	server      string // "service/host@REALM"
	start, end  time.Time
	closed      bool
	owned       [2]*key // subkeys wiped by close

	sendMu  sync.Mutex
	sendSeq uint64

	recvMu  sync.Mutex
	recvSeq uint64
}

// RFC 4121 section 4.2.2 token flags.
const (
	flagSentByAcceptor = 0x01
	flagSealed         = 0x02
	flagAcceptorSubkey = 0x04
)

// RFC 4121 section 4.2.6 token identifiers.
var (
	tokMIC  = [2]byte{0x04, 0x04}
	tokWrap = [2]byte{0x05, 0x04}
)

const tokenHeaderSize = 16

// established publishes the keys and names after a successful final leg.
func (s *session) establish(k *key, acceptorSub bool, sendSeq, recvSeq uint64, flags uint64, client, server string, start, end time.Time) {
	s.attrMu.Lock()
	s.key, s.acceptorSub = k, acceptorSub
	s.flags, s.client, s.server, s.start, s.end = flags, client, server, start, end
	s.established = true
	s.attrMu.Unlock()
	s.sendMu.Lock()
	s.sendSeq = sendSeq
	s.sendMu.Unlock()
	s.recvMu.Lock()
	s.recvSeq = recvSeq
	s.recvMu.Unlock()
}

// current returns the per-message key, or nil before the handshake ends
// or after Close.
func (s *session) current() (*key, bool) {
	s.attrMu.Lock()
	defer s.attrMu.Unlock()
	if !s.established || s.closed {
		return nil, false
	}
	return s.key, s.acceptorSub
}

func (s *session) signUsage() uint32 {
	if s.initiator {
		return usageInitiatorSign
	}
	return usageAcceptorSign
}

func (s *session) sealUsage() uint32 {
	if s.initiator {
		return usageInitiatorSeal
	}
	return usageAcceptorSeal
}

// peer usages: what the other side used.
func (s *session) peerSignUsage() uint32 {
	if s.initiator {
		return usageAcceptorSign
	}
	return usageInitiatorSign
}

func (s *session) peerSealUsage() uint32 {
	if s.initiator {
		return usageAcceptorSeal
	}
	return usageInitiatorSeal
}

func (s *session) ourFlags(acceptorSub bool) byte {
	var f byte
	if !s.initiator {
		f |= flagSentByAcceptor
	}
	if acceptorSub {
		f |= flagAcceptorSubkey
	}
	return f
}

func (s *session) nextSendSeq() uint64 {
	s.sendMu.Lock()
	v := s.sendSeq
	s.sendSeq++
	s.sendMu.Unlock()
	return v
}

// checkRecvSeq enforces strict ordering of received tokens: a token must
// carry exactly the next expected number (a replay, a gap or reordering
// is SEC_E_OUT_OF_SEQUENCE). It runs only after the token's integrity has
// been verified, so a forged token cannot move the counter.
func (s *session) checkRecvSeq(seq uint64) status.Code {
	s.recvMu.Lock()
	defer s.recvMu.Unlock()
	if seq != s.recvSeq {
		return status.SEC_E_OUT_OF_SEQUENCE
	}
	s.recvSeq++
	return status.SEC_E_OK
}

// dataBuffers returns the indexes of the SECBUFFER_DATA buffers.
func dataBuffers(msg []secctx.Buffer) []int {
	var idx []int
	for i := range msg {
		if msg[i].Type.Base() == secctx.SECBUFFER_DATA {
			idx = append(idx, i)
		}
	}
	return idx
}

// setToken stores tok into msg[i], reusing its capacity when it can.
func setToken(b *secctx.Buffer, tok []byte) {
	if cap(b.Data) >= len(tok) {
		b.Data = append(b.Data[:0], tok...)
		return
	}
	b.Data = tok
}

// MakeSignature writes a MIC token (RFC 4121 section 4.2.6.1) over the
// data buffers into the token buffer. qop must be 0.
func (s *session) MakeSignature(qop uint32, msg []secctx.Buffer, _ uint32) status.Code {
	k, asub := s.current()
	if k == nil {
		return status.SEC_E_NO_CONTEXT
	}
	if !k.fast {
		return status.SEC_E_UNSUPPORTED_FUNCTION
	}
	if qop != 0 {
		return status.SEC_E_QOP_NOT_SUPPORTED
	}
	ti := secctx.Find(msg, secctx.SECBUFFER_TOKEN)
	if ti < 0 {
		return status.SEC_E_INVALID_TOKEN
	}
	hdr := make([]byte, tokenHeaderSize, tokenHeaderSize+k.hlen)
	hdr[0], hdr[1] = tokMIC[0], tokMIC[1]
	hdr[2] = s.ourFlags(asub)
	for i := 3; i < 8; i++ {
		hdr[i] = 0xff
	}
	binary.BigEndian.PutUint64(hdr[8:], s.nextSendSeq())
	parts := make([][]byte, 0, 4)
	for _, i := range dataBuffers(msg) {
		parts = append(parts, msg[i].Data)
	}
	parts = append(parts, hdr)
	tok, err := k.checksumParts(hdr, s.signUsage(), parts)
	if err != nil {
		return status.SEC_E_INTERNAL_ERROR
	}
	setToken(&msg[ti], tok)
	return status.SEC_E_OK
}

// VerifySignature checks a MIC token from the peer.
func (s *session) VerifySignature(msg []secctx.Buffer, _ uint32) (uint32, status.Code) {
	k, asub := s.current()
	if k == nil {
		return 0, status.SEC_E_NO_CONTEXT
	}
	if !k.fast {
		return 0, status.SEC_E_UNSUPPORTED_FUNCTION
	}
	ti := secctx.Find(msg, secctx.SECBUFFER_TOKEN)
	if ti < 0 {
		return 0, status.SEC_E_INVALID_TOKEN
	}
	tok := msg[ti].Data
	hdr, sum, err := parseMIC(tok, k.hlen)
	if err != nil {
		return 0, codeOfTokenErr(err)
	}
	if c := s.checkPeerFlags(hdr[2], asub, false); c != status.SEC_E_OK {
		return 0, c
	}
	parts := make([][]byte, 0, 4)
	for _, i := range dataBuffers(msg) {
		parts = append(parts, msg[i].Data)
	}
	parts = append(parts, hdr)
	var want [64]byte
	got, err := k.checksumParts(want[:0], s.peerSignUsage(), parts)
	if err != nil {
		return 0, status.SEC_E_INTERNAL_ERROR
	}
	if subtle.ConstantTimeCompare(got, sum) != 1 {
		return 0, status.SEC_E_MESSAGE_ALTERED
	}
	return 0, s.checkRecvSeq(binary.BigEndian.Uint64(hdr[8:]))
}

// parseMIC splits a MIC token into its header and checksum.
func parseMIC(tok []byte, hlen int) (hdr, sum []byte, err error) {
	if len(tok) < tokenHeaderSize+hlen {
		if len(tok) >= 2 && (tok[0] != tokMIC[0] || tok[1] != tokMIC[1]) {
			return nil, nil, errMalformed
		}
		return nil, nil, &errTruncated{need: tokenHeaderSize + hlen - len(tok)}
	}
	if len(tok) != tokenHeaderSize+hlen || tok[0] != tokMIC[0] || tok[1] != tokMIC[1] {
		return nil, nil, errMalformed
	}
	for i := 3; i < 8; i++ {
		if tok[i] != 0xff {
			return nil, nil, errMalformed
		}
	}
	return tok[:tokenHeaderSize], tok[tokenHeaderSize:], nil
}

// checkPeerFlags checks a received token's flags (RFC 4121 4.2.2): the
// direction bit must name the peer, and the AcceptorSubkey bit must match
// the key in use (a mismatch means the token was made with another key).
func (s *session) checkPeerFlags(f byte, asub, wrap bool) status.Code {
	wantDir := byte(0)
	if s.initiator {
		wantDir = flagSentByAcceptor
	}
	allowed := byte(flagSentByAcceptor | flagAcceptorSubkey)
	if wrap {
		allowed |= flagSealed
	}
	if f&^allowed != 0 || f&flagSentByAcceptor != wantDir {
		return status.SEC_E_MESSAGE_ALTERED
	}
	if (f&flagAcceptorSubkey != 0) != asub {
		return status.SEC_E_MESSAGE_ALTERED
	}
	return status.SEC_E_OK
}

func codeOfTokenErr(err error) status.Code {
	if _, ok := err.(*errTruncated); ok {
		return status.SEC_E_INCOMPLETE_MESSAGE
	}
	return status.SEC_E_INVALID_TOKEN
}

// EncryptMessage makes a Wrap token (RFC 4121 section 4.2.6.2) in the
// layout Windows uses: the data buffers are encrypted in place (their
// lengths unchanged) and the token buffer receives the header and the
// rest of the token, with RRC chosen so that token buffer || data buffers
// is one valid Wrap token. With qop SECQOP_WRAP_NO_ENCRYPT the data stays
// in the clear and only a checksum is added.
func (s *session) EncryptMessage(qop uint32, msg []secctx.Buffer, _ uint32) status.Code {
	k, asub := s.current()
	if k == nil {
		return status.SEC_E_NO_CONTEXT
	}
	if !k.fast {
		return status.SEC_E_UNSUPPORTED_FUNCTION
	}
	if qop != 0 && qop != secctx.SECQOP_WRAP_NO_ENCRYPT {
		return status.SEC_E_QOP_NOT_SUPPORTED
	}
	ti := secctx.Find(msg, secctx.SECBUFFER_TOKEN)
	if ti < 0 {
		return status.SEC_E_INVALID_TOKEN
	}
	idx := dataBuffers(msg)
	n := 0
	for _, i := range idx {
		if msg[i].Type.ReadOnly() {
			return status.SEC_E_INVALID_PARAMETER
		}
		n += len(msg[i].Data)
	}
	sealed := qop == 0
	var hdr [tokenHeaderSize]byte
	hdr[0], hdr[1] = tokWrap[0], tokWrap[1]
	hdr[2] = s.ourFlags(asub)
	hdr[3] = 0xff
	binary.BigEndian.PutUint64(hdr[8:], s.nextSendSeq())
	if !sealed {
		// EC is the checksum length; the checksum covers the data and
		// the header with EC and RRC zero (RFC 4121 4.2.4).
		parts := make([][]byte, 0, len(idx)+1)
		for _, i := range idx {
			parts = append(parts, msg[i].Data)
		}
		parts = append(parts, hdr[:])
		tok := make([]byte, tokenHeaderSize, tokenHeaderSize+k.hlen)
		tok, err := k.checksumParts(tok, s.sealUsage(), parts)
		if err != nil {
			return status.SEC_E_INTERNAL_ERROR
		}
		binary.BigEndian.PutUint16(tok[4:], uint16(k.hlen))
		binary.BigEndian.PutUint16(tok[6:], uint16(k.hlen))
		copy(tok, hdr[:4])
		copy(tok[8:16], hdr[8:])
		setToken(&msg[ti], tok)
		return status.SEC_E_OK
	}
	hdr[2] |= flagSealed
	// Plaintext: data | header (EC 0, RRC 0); ciphertext C | HMAC.
	pt := make([]byte, 0, n+tokenHeaderSize)
	for _, i := range idx {
		pt = append(pt, msg[i].Data...)
	}
	pt = append(pt, hdr[:]...)
	ct, err := k.encrypt(make([]byte, 0, k.sealedSize(len(pt))), s.sealUsage(), pt)
	if err != nil {
		return status.SEC_E_INTERNAL_ERROR
	}
	rrc := len(ct) - confounderSize - n // header copy + HMAC
	tok := make([]byte, 0, tokenHeaderSize+confounderSize+rrc)
	tok = append(tok, hdr[:]...)
	binary.BigEndian.PutUint16(tok[6:], uint16(rrc))
	tok = append(tok, ct[len(ct)-rrc:]...)
	tok = append(tok, ct[:confounderSize]...)
	off := confounderSize
	for _, i := range idx {
		off += copy(msg[i].Data, ct[off:])
	}
	setToken(&msg[ti], tok)
	return status.SEC_E_OK
}

// DecryptMessage undoes a Wrap token. It takes either the Windows layout
// (a token buffer followed by data buffers, decrypted in place) or one
// SECBUFFER_STREAM buffer holding a whole token, as MIT's gss_wrap makes
// them; then the plaintext goes into the first data buffer (a subslice of
// the stream). It returns qop SECQOP_WRAP_NO_ENCRYPT for an unsealed token.
func (s *session) DecryptMessage(msg []secctx.Buffer, _ uint32) (uint32, status.Code) {
	k, asub := s.current()
	if k == nil {
		return 0, status.SEC_E_NO_CONTEXT
	}
	if !k.fast {
		return 0, status.SEC_E_UNSUPPORTED_FUNCTION
	}
	idx := dataBuffers(msg)
	var whole []byte
	stream := secctx.Find(msg, secctx.SECBUFFER_STREAM) >= 0
	if stream {
		whole = msg[secctx.Find(msg, secctx.SECBUFFER_STREAM)].Data
	} else {
		ti := secctx.Find(msg, secctx.SECBUFFER_TOKEN)
		if ti < 0 {
			return 0, status.SEC_E_INVALID_TOKEN
		}
		n := len(msg[ti].Data)
		for _, i := range idx {
			n += len(msg[i].Data)
		}
		whole = make([]byte, 0, n)
		whole = append(whole, msg[ti].Data...)
		for _, i := range idx {
			whole = append(whole, msg[i].Data...)
		}
	}
	pt, sealed, c := s.unwrap(k, asub, whole)
	if c != status.SEC_E_OK {
		return 0, c
	}
	qop := uint32(0)
	if !sealed {
		qop = secctx.SECQOP_WRAP_NO_ENCRYPT
	}
	if stream {
		if len(idx) > 0 {
			msg[idx[0]].Data = pt
		}
		return qop, status.SEC_E_OK
	}
	off := 0
	for _, i := range idx {
		d := msg[i].Data
		if off >= len(pt) {
			msg[i].Data = d[:0]
			continue
		}
		m := copy(d, pt[off:])
		msg[i].Data = d[:m]
		off += m
	}
	if off < len(pt) {
		// The sender did not use the Windows layout: hand back the
		// plaintext in the first data buffer.
		if len(idx) == 0 {
			return 0, status.SEC_E_INVALID_TOKEN
		}
		msg[idx[0]].Data = pt
		for _, i := range idx[1:] {
			msg[i].Data = msg[i].Data[:0]
		}
	}
	return qop, status.SEC_E_OK
}

// unwrap verifies and decrypts one whole Wrap token in place and returns
// the plaintext (a subslice of tok).
func (s *session) unwrap(k *key, asub bool, tok []byte) ([]byte, bool, status.Code) {
	if len(tok) < tokenHeaderSize {
		if len(tok) >= 2 && (tok[0] != tokWrap[0] || tok[1] != tokWrap[1]) {
			return nil, false, status.SEC_E_INVALID_TOKEN
		}
		return nil, false, status.SEC_E_INCOMPLETE_MESSAGE
	}
	if tok[0] != tokWrap[0] || tok[1] != tokWrap[1] || tok[3] != 0xff {
		return nil, false, status.SEC_E_INVALID_TOKEN
	}
	f := tok[2]
	if c := s.checkPeerFlags(f, asub, true); c != status.SEC_E_OK {
		return nil, false, c
	}
	ec := int(binary.BigEndian.Uint16(tok[4:]))
	rrc := int(binary.BigEndian.Uint16(tok[6:]))
	seq := binary.BigEndian.Uint64(tok[8:])
	var hdr [tokenHeaderSize]byte
	copy(hdr[:], tok[:tokenHeaderSize])
	body := tok[tokenHeaderSize:]
	if len(body) > 0 && rrc > 0 {
		rotateLeft(body, rrc%len(body))
	}
	sealed := f&flagSealed != 0
	if !sealed {
		if ec != k.hlen || len(body) < ec {
			return nil, false, status.SEC_E_INVALID_TOKEN
		}
		data, sum := body[:len(body)-ec], body[len(body)-ec:]
		hdr[4], hdr[5], hdr[6], hdr[7] = 0, 0, 0, 0
		var want [64]byte
		got, err := k.checksum(want[:0], s.peerSealUsage(), data, hdr[:])
		if err != nil {
			return nil, false, status.SEC_E_INTERNAL_ERROR
		}
		if subtle.ConstantTimeCompare(got, sum) != 1 {
			return nil, false, status.SEC_E_MESSAGE_ALTERED
		}
		return data, false, s.checkRecvSeq(seq)
	}
	p, err := k.decryptInPlace(s.peerSealUsage(), body)
	if err != nil {
		if err == errShortCipher {
			return nil, false, status.SEC_E_INVALID_TOKEN
		}
		return nil, false, status.SEC_E_MESSAGE_ALTERED
	}
	if len(p) < ec+tokenHeaderSize {
		return nil, false, status.SEC_E_MESSAGE_ALTERED
	}
	inner := p[len(p)-tokenHeaderSize:]
	// The encrypted header copy must match the outer one, RRC aside.
	if subtle.ConstantTimeCompare(inner[:6], hdr[:6]) != 1 || subtle.ConstantTimeCompare(inner[8:], hdr[8:]) != 1 {
		return nil, false, status.SEC_E_MESSAGE_ALTERED
	}
	return p[:len(p)-tokenHeaderSize-ec], true, s.checkRecvSeq(seq)
}

// rotateLeft rotates b left by n bytes in place (undoing the RRC rotation
// of RFC 4121 section 4.2.5).
func rotateLeft(b []byte, n int) {
	if n == 0 {
		return
	}
	tmp := make([]byte, n)
	copy(tmp, b[:n])
	copy(b, b[n:])
	copy(b[len(b)-n:], tmp)
}

// sizes reports SECPKG_ATTR_SIZES for the per-message key.
func sizes(k *key) secctx.Sizes {
	h := uint32(12)
	if k != nil {
		h = uint32(k.hlen)
	}
	return secctx.Sizes{
		MaxToken:        maxToken,
		MaxSignature:    tokenHeaderSize + h,
		BlockSize:       1,
		SecurityTrailer: tokenHeaderSize + confounderSize + tokenHeaderSize + h,
	}
}

// maxToken is cbMaxToken, as Windows reports it for Kerberos.
const maxToken = 48000

// queryAttribute answers the attributes both sides share.
func (s *session) queryAttribute(attr secctx.Attribute, info secctx.PackageInfo) (any, status.Code) {
	s.attrMu.Lock()
	defer s.attrMu.Unlock()
	switch attr {
	case secctx.SECPKG_ATTR_PACKAGE_INFO:
		return info, status.SEC_E_OK
	case secctx.SECPKG_ATTR_NEGOTIATION_INFO:
		st := secctx.SECPKG_NEGOTIATION_IN_PROGRESS
		if s.established {
			st = secctx.SECPKG_NEGOTIATION_COMPLETE
		}
		return secctx.NegotiationInfo{Package: info, State: st}, status.SEC_E_OK
	}
	if !s.established || s.closed {
		return nil, status.SEC_E_NO_CONTEXT
	}
	switch attr {
	case secctx.SECPKG_ATTR_SIZES:
		return sizes(s.key), status.SEC_E_OK
	case secctx.SECPKG_ATTR_NAMES:
		return secctx.Names{UserName: s.client}, status.SEC_E_OK
	case secctx.SECPKG_ATTR_NATIVE_NAMES:
		return secctx.NativeNames{ClientName: s.client, ServerName: s.server}, status.SEC_E_OK
	case secctx.SECPKG_ATTR_LIFESPAN:
		return secctx.Lifespan{Start: s.start, Expiry: s.end}, status.SEC_E_OK
	case secctx.SECPKG_ATTR_SESSION_KEY:
		return secctx.SessionKey{Key: append([]byte(nil), s.key.value...)}, status.SEC_E_OK
	case secctx.SECPKG_ATTR_FLAGS:
		return secctx.Flags{Flags: s.flags}, status.SEC_E_OK
	}
	return nil, status.SEC_E_UNSUPPORTED_FUNCTION
}

// close wipes the per-message key.
func (s *session) close() {
	s.attrMu.Lock()
	defer s.attrMu.Unlock()
	s.closed = true
	s.key = nil
	for i, k := range s.owned {
		k.wipe()
		s.owned[i] = nil
	}
}

// own records subkeys that belong to this context alone (not a ticket's
// session key, which the credential's caches share), to be wiped by Close.
func (s *session) own(a, b *key) {
	s.attrMu.Lock()
	s.owned = [2]*key{a, b}
	s.attrMu.Unlock()
}
