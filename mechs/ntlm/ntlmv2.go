package ntlm

import "encoding/binary"

// ntlmv2Response is NTLMv2_RESPONSE, MS-NLMP 2.2.2.8: the 16-byte
// NTProofStr, then NTLMv2_CLIENT_CHALLENGE (2.2.2.7, "temp" in 3.3.2):
//
//	0  RespType 1, HiRespType 1
//	2  Reserved1 (2), Reserved2 (4)
//	8  TimeStamp (8, FILETIME)
//	16 ChallengeFromClient (8)
//	24 Reserved3 (4)
//	28 AvPairs, ending in MsvAvEOL
type ntlmv2Response struct {
	proof           []byte // NTProofStr
	temp            []byte // NTLMv2_CLIENT_CHALLENGE, everything after the proof
	timestamp       uint64
	clientChallenge []byte
	avPairs         avPairs
}

const (
	ntlmv1ResponseSize   = 24
	ntlmv2ClientFixed    = 28
	ntlmv2ResponseMinLen = 16 + ntlmv2ClientFixed + 4
)

// parseNTLMv2Response decodes an NtChallengeResponse longer than 24 bytes.
// The response is a field whose length the message gave, so a short one is
// malformed.
func parseNTLMv2Response(b []byte) (ntlmv2Response, error) {
	var r ntlmv2Response
	if len(b) < ntlmv2ResponseMinLen {
		return r, invalid("NTLMv2 response too short")
	}
	r.proof = b[:16:16]
	r.temp = b[16:]
	t := r.temp
	if t[0] != 1 || t[1] != 1 {
		return r, invalid("NTLMv2 response with an unknown RespType")
	}
	r.timestamp = binary.LittleEndian.Uint64(t[8:])
	r.clientChallenge = t[16:24:24]
	l, err := parseAVPairs(t[ntlmv2ClientFixed:])
	if err != nil {
		return r, err
	}
	r.avPairs = l
	return r, nil
}
