package ntlm

// negotiateMessage is NEGOTIATE_MESSAGE, MS-NLMP 2.2.1.1.
//
//	0  Signature "NTLMSSP\0"
//	8  MessageType 1
//	12 NegotiateFlags
//	16 DomainNameFields
//	24 WorkstationFields
//	32 Version (present when NTLMSSP_NEGOTIATE_VERSION is set)
//	40 Payload
type negotiateMessage struct {
	flags       uint32
	domain      []byte // OEM, only with NTLMSSP_NEGOTIATE_OEM_DOMAIN_SUPPLIED
	workstation []byte // OEM, only with NTLMSSP_NEGOTIATE_OEM_WORKSTATION_SUPPLIED
	version     version
}

const (
	negotiateFixed        = 32
	negotiateFixedVersion = 40
)

// negotiateSize is the encoded length of m.
func (m *negotiateMessage) size() int {
	return negotiateFixedVersion + len(m.domain) + len(m.workstation)
}

// encode writes m into b (len(b) == m.size()), Version included.
func (m *negotiateMessage) encode(b []byte) {
	flags := m.flags
	if len(m.domain) > 0 {
		flags |= negotiateOEMDomainSupplied
	}
	if len(m.workstation) > 0 {
		flags |= negotiateOEMWorkstationSupplied
	}
	putHeader(b, typeNegotiate, negotiateFixed, 12, flags, m.version)
	w := payload{b: b, off: negotiateFixedVersion}
	w.put(16, m.domain)
	w.put(24, m.workstation)
}

// parseNegotiate decodes a NEGOTIATE_MESSAGE. The slices alias b.
func parseNegotiate(b []byte) (negotiateMessage, error) {
	var m negotiateMessage
	var h header
	if err := parseHeader(&h, b, typeNegotiate, negotiateFixed, 12, 16, 24); err != nil {
		return m, err
	}
	m.flags, m.version = h.flags, h.version
	if m.flags&negotiateOEMDomainSupplied != 0 {
		m.domain = h.fields[0].bytes(b)
	}
	if m.flags&negotiateOEMWorkstationSupplied != 0 {
		m.workstation = h.fields[1].bytes(b)
	}
	return m, nil
}
