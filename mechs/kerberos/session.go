package kerberos

import (
	"sync"
	"time"

	secctx "github.com/asyncsspi/asyncsspi/context"
	"github.com/asyncsspi/asyncsspi/status"
)

// This file is what both sides of an established context share: the
// per-message key and sequence numbers (RFC 4121 section 4.2), the token
// flags and identifiers (sections 4.2.2 and 4.2.6), and the attributes.
// The tokens themselves are in mic.go and wrap.go.

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
