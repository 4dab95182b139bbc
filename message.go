package asyncsspi

import (
	secctx "github.com/asyncsspi/asyncsspi/context"
	"github.com/asyncsspi/asyncsspi/status"
)

// Per-message protection once the handshake is done, over EncryptMessage,
// DecryptMessage, MakeSignature and VerifySignature. The tokens are those
// of GSS-API (gss_wrap, gss_get_mic), so that a peer using MIT's library
// reads them: a sealed message is the security trailer followed by the
// sealed data, as Windows lays it out. Each direction is one ordered
// stream: seal (or sign) from one goroutine at a time, open (or verify)
// from one goroutine at a time.

// Seal encrypts and integrity-protects msg for the peer (gss_wrap with
// confidentiality). msg is not changed.
func (s *SecurityContext) Seal(msg []byte) ([]byte, error) { return s.wrap(msg, 0) }

// SealIntegrityOnly protects msg's integrity without encrypting it
// (gss_wrap without confidentiality, SECQOP_WRAP_NO_ENCRYPT).
func (s *SecurityContext) SealIntegrityOnly(msg []byte) ([]byte, error) {
	return s.wrap(msg, secctx.SECQOP_WRAP_NO_ENCRYPT)
}

func (s *SecurityContext) wrap(msg []byte, qop uint32) ([]byte, error) {
	sizes, err := s.sizes()
	if err != nil {
		return nil, err
	}
	trailer := int(sizes.SecurityTrailer)
	buf := make([]byte, trailer+len(msg))
	copy(buf[trailer:], msg)
	bufs := []secctx.Buffer{
		{Type: secctx.SECBUFFER_TOKEN, Data: buf[:trailer]},
		{Type: secctx.SECBUFFER_DATA, Data: buf[trailer:]},
	}
	if st := s.e.async.EncryptMessage(s.h, qop, bufs, 0); st != status.SEC_E_OK {
		return nil, status.New(st, s.Package(), nil)
	}
	// The package may use less of the trailer than it reserved.
	out := make([]byte, 0, len(bufs[0].Data)+len(bufs[1].Data))
	out = append(out, bufs[0].Data...)
	return append(out, bufs[1].Data...), nil
}

// Open checks and decrypts a message Seal (or the peer's gss_wrap) made,
// and returns the plaintext. A message altered on the way fails with
// SEC_E_MESSAGE_ALTERED, one out of order with SEC_E_OUT_OF_SEQUENCE.
func (s *SecurityContext) Open(sealed []byte) ([]byte, error) {
	if s.h == 0 {
		s.collect()
	}
	tok := append([]byte(nil), sealed...)
	// A whole GSS token in one stream buffer, where the package reads it
	// that way (Kerberos); otherwise the trailer and the data apart.
	bufs := []secctx.Buffer{{Type: secctx.SECBUFFER_STREAM, Data: tok}, {Type: secctx.SECBUFFER_DATA}}
	_, st := s.e.async.DecryptMessage(s.h, bufs, 0)
	if st == status.SEC_E_OK {
		return bufs[1].Data, nil
	}
	if st != status.SEC_E_INVALID_TOKEN && st != status.SEC_E_UNSUPPORTED_FUNCTION {
		return nil, status.New(st, s.Package(), nil)
	}
	sizes, err := s.sizes()
	if err != nil {
		return nil, err
	}
	trailer := int(sizes.SecurityTrailer)
	if len(tok) < trailer {
		return nil, status.Errorf(status.SEC_E_INVALID_TOKEN, s.Package(), "sealed message shorter than its trailer")
	}
	tok = append(tok[:0], sealed...)
	bufs = []secctx.Buffer{{Type: secctx.SECBUFFER_TOKEN, Data: tok[:trailer]}, {Type: secctx.SECBUFFER_DATA, Data: tok[trailer:]}}
	if _, st := s.e.async.DecryptMessage(s.h, bufs, 0); st != status.SEC_E_OK {
		return nil, status.New(st, s.Package(), nil)
	}
	return bufs[1].Data, nil
}

// Sign returns a signature (gss_get_mic) over msg.
func (s *SecurityContext) Sign(msg []byte) ([]byte, error) {
	sizes, err := s.sizes()
	if err != nil {
		return nil, err
	}
	bufs := []secctx.Buffer{
		{Type: secctx.SECBUFFER_DATA | secctx.SECBUFFER_READONLY, Data: msg},
		{Type: secctx.SECBUFFER_TOKEN, Data: make([]byte, sizes.MaxSignature)},
	}
	if st := s.e.async.MakeSignature(s.h, 0, bufs, 0); st != status.SEC_E_OK {
		return nil, status.New(st, s.Package(), nil)
	}
	return bufs[1].Data, nil
}

// Verify checks the peer's signature (gss_verify_mic) over msg.
func (s *SecurityContext) Verify(msg, signature []byte) error {
	if s.h == 0 {
		s.collect()
	}
	bufs := []secctx.Buffer{
		{Type: secctx.SECBUFFER_DATA | secctx.SECBUFFER_READONLY, Data: msg},
		{Type: secctx.SECBUFFER_TOKEN, Data: signature},
	}
	if _, st := s.e.async.VerifySignature(s.h, bufs, 0); st != status.SEC_E_OK {
		return status.New(st, s.Package(), nil)
	}
	return nil
}

func (s *SecurityContext) sizes() (secctx.Sizes, error) {
	v, err := s.attribute(secctx.SECPKG_ATTR_SIZES)
	if err != nil {
		return secctx.Sizes{}, err
	}
	sz, ok := v.(secctx.Sizes)
	if !ok || sz.MaxSignature == 0 {
		return secctx.Sizes{}, status.Errorf(status.SEC_E_UNSUPPORTED_FUNCTION, s.Package(), "the context offers no message protection")
	}
	return sz, nil
}
