package ntlm

// authenticateMessage is AUTHENTICATE_MESSAGE, MS-NLMP 2.2.1.3.
//
//	0  Signature "NTLMSSP\0"
//	8  MessageType 3
//	12 LmChallengeResponseFields
//	20 NtChallengeResponseFields
//	28 DomainNameFields
//	36 UserNameFields
//	44 WorkstationFields
//	52 EncryptedRandomSessionKeyFields
//	60 NegotiateFlags
//	64 Version (present when NTLMSSP_NEGOTIATE_VERSION is set)
//	72 MIC (16 bytes, present when the NTLMv2 response's MsvAvFlags say so)
//	88 Payload
type authenticateMessage struct {
	lmResponse  []byte
	ntResponse  []byte
	domain      []byte // in the negotiated character set
	user        []byte
	workstation []byte
	encKey      []byte // EncryptedRandomSessionKey
	flags       uint32
	version     version
	hasMIC      bool
	mic         [16]byte
	v2          ntlmv2Response // decoded ntResponse when it is NTLMv2
	isV2        bool
}

const (
	authenticateFixed        = 64
	authenticateFixedVersion = 72
	authenticateFixedMIC     = 88
	micOffset                = 72
)

// parseAuthenticate decodes an AUTHENTICATE_MESSAGE. The slices alias b.
// The MIC's place is known only from the NTLMv2 response: when its
// MsvAvFlags announce a MIC, the header must have Version and the 16 bytes
// after it, so the payload must start after them.
func parseAuthenticate(b []byte) (authenticateMessage, error) {
	var m authenticateMessage
	var h header
	err := parseHeader(&h, b, typeAuthenticate, authenticateFixed, 60, 12, 20, 28, 36, 44, 52)
	if err != nil {
		return m, err
	}
	m.flags, m.version = h.flags, h.version
	m.lmResponse = h.fields[0].bytes(b)
	m.ntResponse = h.fields[1].bytes(b)
	m.domain = h.fields[2].bytes(b)
	m.user = h.fields[3].bytes(b)
	m.workstation = h.fields[4].bytes(b)
	m.encKey = h.fields[5].bytes(b)
	if len(m.ntResponse) <= ntlmv1ResponseSize {
		return m, nil
	}
	if m.v2, err = parseNTLMv2Response(m.ntResponse); err != nil {
		return m, err
	}
	m.isV2 = true
	if m.v2.avPairs.flags()&avFlagMIC != 0 {
		if m.flags&negotiateVersion == 0 || h.payload < authenticateFixedMIC {
			return m, invalid("MIC announced but the header has no room for Version and MIC")
		}
		m.hasMIC = true
		copy(m.mic[:], b[micOffset:micOffset+16])
	}
	return m, nil
}

// authenticateLayout places the payload of an AUTHENTICATE message that is
// encoded straight into one buffer: the client computes the lengths, asks
// for the offsets, allocates once, writes the header and fields, then
// computes the NTLMv2 proof and the MIC in place.
type authenticateLayout struct {
	lm, nt, domain, user, workstation, encKey field
	total                                     int
}

func layoutAuthenticate(lmLen, ntLen, domainLen, userLen, wsLen, keyLen int, mic bool) authenticateLayout {
	var l authenticateLayout
	// Without a MIC the payload starts right after Version, as in the
	// MS-NLMP 4.2 examples.
	off := authenticateFixedVersion
	if mic {
		off = authenticateFixedMIC
	}
	put := func(f *field, n int) {
		f.off, f.n = off, n
		off += n
	}
	// Windows' order: names first, then the responses, then the key.
	put(&l.domain, domainLen)
	put(&l.user, userLen)
	put(&l.workstation, wsLen)
	put(&l.lm, lmLen)
	put(&l.nt, ntLen)
	put(&l.encKey, keyLen)
	l.total = off
	return l
}

// putHeader writes the fixed part, Version included (the MIC zeroed).
func (l *authenticateLayout) putHeader(b []byte, flags uint32, v version) {
	putHeader(b, typeAuthenticate, authenticateFixed, 60, flags, v)
	for i, f := range [...]field{l.lm, l.nt, l.domain, l.user, l.workstation, l.encKey} {
		putField(b, 12+8*i, f.off, f.n)
	}
	if l.domain.off >= authenticateFixedMIC {
		clear(b[micOffset : micOffset+16])
	}
}
