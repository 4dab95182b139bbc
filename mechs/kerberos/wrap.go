package kerberos

import (
	"crypto/subtle"
	"encoding/binary"

	secctx "github.com/asyncsspi/asyncsspi/context"
	"github.com/asyncsspi/asyncsspi/status"
)

// This file is the Wrap token (RFC 4121 section 4.2.6.2): a 16-octet
// header (TOK_ID 05 04, flags, filler, EC, RRC, SND_SEQ) followed by the
// sealed or checksummed message, rotated right by RRC octets (section
// 4.2.5).

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
