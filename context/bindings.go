package context

import (
	"crypto"
	"crypto/md5"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"errors"

	_ "crypto/sha256" // tls-server-end-point hashes
	_ "crypto/sha512"
)

// ChannelBindings is SEC_CHANNEL_BINDINGS: what ties an authentication to
// the channel it runs over. Kerberos (the 0x8003 authenticator checksum,
// RFC 4121 section 4.1.1.2) and NTLM (MsvAvChannelBindings, MS-NLMP 2.2.2.1)
// both carry the MD5 hash that Hash computes.
type ChannelBindings struct {
	InitiatorAddrType uint32
	InitiatorAddress  []byte
	AcceptorAddrType  uint32
	AcceptorAddress   []byte
	ApplicationData   []byte
}

// secChannelBindingsSize is the fixed part of SEC_CHANNEL_BINDINGS: eight
// 32-bit fields.
const secChannelBindingsSize = 32

// Marshal encodes b as the SEC_CHANNEL_BINDINGS blob Windows passes in a
// SECBUFFER_CHANNEL_BINDINGS buffer: the 32-byte header (little-endian),
// then the initiator address, acceptor address and application data, at the
// offsets the header gives.
func (b *ChannelBindings) Marshal() []byte {
	n := secChannelBindingsSize + len(b.InitiatorAddress) + len(b.AcceptorAddress) + len(b.ApplicationData)
	out := make([]byte, secChannelBindingsSize, n)
	le := binary.LittleEndian
	off := uint32(secChannelBindingsSize)
	le.PutUint32(out[0:], b.InitiatorAddrType)
	le.PutUint32(out[4:], uint32(len(b.InitiatorAddress)))
	le.PutUint32(out[8:], off)
	off += uint32(len(b.InitiatorAddress))
	le.PutUint32(out[12:], b.AcceptorAddrType)
	le.PutUint32(out[16:], uint32(len(b.AcceptorAddress)))
	le.PutUint32(out[20:], off)
	off += uint32(len(b.AcceptorAddress))
	le.PutUint32(out[24:], uint32(len(b.ApplicationData)))
	le.PutUint32(out[28:], off)
	out = append(out, b.InitiatorAddress...)
	out = append(out, b.AcceptorAddress...)
	return append(out, b.ApplicationData...)
}

// ErrBadChannelBindings is returned by ParseChannelBindings for a blob whose
// lengths or offsets do not fit.
var ErrBadChannelBindings = errors.New("secctx: malformed SEC_CHANNEL_BINDINGS")

// ParseChannelBindings decodes a SEC_CHANNEL_BINDINGS blob. The slices it
// returns alias blob.
func ParseChannelBindings(blob []byte) (*ChannelBindings, error) {
	if len(blob) < secChannelBindingsSize {
		return nil, ErrBadChannelBindings
	}
	le := binary.LittleEndian
	field := func(lenAt, offAt int) ([]byte, error) {
		l, o := uint64(le.Uint32(blob[lenAt:])), uint64(le.Uint32(blob[offAt:]))
		if l == 0 {
			return nil, nil
		}
		if o+l > uint64(len(blob)) {
			return nil, ErrBadChannelBindings
		}
		return blob[o : o+l : o+l], nil
	}
	var b ChannelBindings
	var err error
	b.InitiatorAddrType = le.Uint32(blob[0:])
	if b.InitiatorAddress, err = field(4, 8); err != nil {
		return nil, err
	}
	b.AcceptorAddrType = le.Uint32(blob[12:])
	if b.AcceptorAddress, err = field(16, 20); err != nil {
		return nil, err
	}
	if b.ApplicationData, err = field(24, 28); err != nil {
		return nil, err
	}
	return &b, nil
}

// Hash is the MD5 of the gss_channel_bindings_struct as RFC 4121 section
// 4.1.1.2 lays it out (every length and type 32-bit little-endian), the
// value both Kerberos and NTLM put on the wire. A nil b hashes to all zeros,
// which both protocols read as "no bindings".
func (b *ChannelBindings) Hash() [16]byte {
	var sum [16]byte
	if b == nil {
		return sum
	}
	h := md5.New()
	var w [4]byte
	put := func(v uint32) {
		binary.LittleEndian.PutUint32(w[:], v)
		h.Write(w[:])
	}
	put(b.InitiatorAddrType)
	put(uint32(len(b.InitiatorAddress)))
	h.Write(b.InitiatorAddress)
	put(b.AcceptorAddrType)
	put(uint32(len(b.AcceptorAddress)))
	h.Write(b.AcceptorAddress)
	put(uint32(len(b.ApplicationData)))
	h.Write(b.ApplicationData)
	h.Sum(sum[:0])
	return sum
}

// ErrNoBindings is returned when a TLS connection cannot give the binding
// asked for.
var ErrNoBindings = errors.New("secctx: no channel binding for this TLS connection")

// EndpointBindings returns tls-server-end-point bindings (RFC 5929 section
// 4), what Windows gives for SECPKG_ATTR_ENDPOINT_BINDINGS: the hash of the
// server's certificate, with the hash of its signature algorithm, SHA-256
// where that is MD5 or SHA-1. Both sides of a TLS connection compute the
// same value.
func EndpointBindings(cs *tls.ConnectionState) (*ChannelBindings, error) {
	if cs == nil || len(cs.PeerCertificates) == 0 {
		return nil, ErrNoBindings
	}
	cert := cs.PeerCertificates[0]
	return EndpointBindingsForCert(cert)
}

// EndpointBindingsForCert is EndpointBindings for the server side, which
// knows its own certificate rather than a peer's.
func EndpointBindingsForCert(cert *x509.Certificate) (*ChannelBindings, error) {
	if cert == nil {
		return nil, ErrNoBindings
	}
	var hash crypto.Hash
	switch cert.SignatureAlgorithm {
	case x509.SHA384WithRSA, x509.ECDSAWithSHA384, x509.SHA384WithRSAPSS:
		hash = crypto.SHA384
	case x509.SHA512WithRSA, x509.ECDSAWithSHA512, x509.SHA512WithRSAPSS:
		hash = crypto.SHA512
	default: // SHA-256, and MD5 / SHA-1 upgraded to SHA-256 (RFC 5929 4.1)
		hash = crypto.SHA256
	}
	h := hash.New()
	h.Write(cert.Raw)
	const prefix = "tls-server-end-point:"
	data := append([]byte(prefix), h.Sum(nil)...)
	return &ChannelBindings{ApplicationData: data}, nil
}

// UniqueBindings returns tls-unique bindings (RFC 5929 section 3), what
// Windows gives for SECPKG_ATTR_UNIQUE_BINDINGS. TLS 1.3 has no tls-unique;
// it returns ErrNoBindings there.
func UniqueBindings(cs *tls.ConnectionState) (*ChannelBindings, error) {
	if cs == nil || len(cs.TLSUnique) == 0 {
		return nil, ErrNoBindings
	}
	const prefix = "tls-unique:"
	return &ChannelBindings{ApplicationData: append([]byte(prefix), cs.TLSUnique...)}, nil
}
