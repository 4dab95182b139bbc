package ntlm

// challengeMessage is CHALLENGE_MESSAGE, MS-NLMP 2.2.1.2.
//
//	0  Signature "NTLMSSP\0"
//	8  MessageType 2
//	12 TargetNameFields
//	20 NegotiateFlags
//	24 ServerChallenge (8 bytes)
//	32 Reserved (8 bytes)
//	40 TargetInfoFields
//	48 Version (present when NTLMSSP_NEGOTIATE_VERSION is set)
//	56 Payload
type challengeMessage struct {
	flags           uint32
	targetName      []byte // in the negotiated character set
	serverChallenge [8]byte
	targetInfo      avPairs // nil when absent
	version         version
}

const (
	challengeFixed        = 48
	challengeFixedVersion = 56
)

func (m *challengeMessage) size() int {
	return challengeFixedVersion + len(m.targetName) + len(m.targetInfo)
}

// encode writes m into b (len(b) == m.size()), Version included. The
// payload may already sit in b where encode puts it (copy is then a no-op).
func (m *challengeMessage) encode(b []byte) {
	flags := m.flags
	if len(m.targetInfo) > 0 {
		flags |= negotiateTargetInfo
	}
	putHeader(b, typeChallenge, challengeFixed, 20, flags, m.version)
	copy(b[24:32], m.serverChallenge[:])
	clear(b[32:40])
	w := payload{b: b, off: challengeFixedVersion}
	w.put(12, m.targetName)
	w.put(40, m.targetInfo)
}

// parseChallenge decodes a CHALLENGE_MESSAGE. The slices alias b.
func parseChallenge(b []byte) (challengeMessage, error) {
	var m challengeMessage
	var h header
	err := parseHeader(&h, b, typeChallenge, challengeFixed, 20, 12, 40)
	if err != nil {
		return m, err
	}
	m.flags, m.version = h.flags, h.version
	copy(m.serverChallenge[:], b[24:32])
	m.targetName = h.fields[0].bytes(b)
	if h.fields[1].n > 0 {
		if m.targetInfo, err = parseAVPairs(h.fields[1].bytes(b)); err != nil {
			return m, err
		}
	}
	return m, nil
}
