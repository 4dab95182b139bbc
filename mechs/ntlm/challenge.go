package ntlm

import "encoding/binary"

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

// encode writes m into b (len(b) == m.size()), Version included.
func (m *challengeMessage) encode(b []byte) {
	putHeader(b, typeChallenge)
	flags := m.flags | negotiateVersion
	if len(m.targetInfo) > 0 {
		flags |= negotiateTargetInfo
	}
	off := challengeFixedVersion
	putField(b, 12, off, len(m.targetName))
	copy(b[off:], m.targetName)
	off += len(m.targetName)
	binary.LittleEndian.PutUint32(b[20:], flags)
	copy(b[24:32], m.serverChallenge[:])
	clear(b[32:40])
	putField(b, 40, off, len(m.targetInfo))
	copy(b[off:], m.targetInfo)
	copy(b[48:56], m.version[:])
}

// parseChallenge decodes a CHALLENGE_MESSAGE. The slices alias b.
func parseChallenge(b []byte) (challengeMessage, error) {
	var m challengeMessage
	h, err := parseHeader(b, typeChallenge, challengeFixed, 20, 12, 40)
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
