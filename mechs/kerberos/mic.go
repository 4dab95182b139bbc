package kerberos

import (
	"crypto/subtle"
	"encoding/binary"

	secctx "github.com/asyncsspi/asyncsspi/context"
	"github.com/asyncsspi/asyncsspi/status"
)

// This file is the MIC token (RFC 4121 section 4.2.6.1): a 16-octet
// header (TOK_ID 04 04, flags, filler, SND_SEQ) and a checksum over the
// message and the header.

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

func codeOfTokenErr(err error) status.Code {
	if _, ok := err.(*errTruncated); ok {
		return status.SEC_E_INCOMPLETE_MESSAGE
	}
	return status.SEC_E_INVALID_TOKEN
}
