package ntlm

// NEGOTIATE flags, MS-NLMP 2.2.2.5.
const (
	negotiateUnicode                 uint32 = 0x00000001 // NTLMSSP_NEGOTIATE_UNICODE
	negotiateOEM                     uint32 = 0x00000002 // NTLM_NEGOTIATE_OEM
	requestTarget                    uint32 = 0x00000004 // NTLMSSP_REQUEST_TARGET
	negotiateSign                    uint32 = 0x00000010 // NTLMSSP_NEGOTIATE_SIGN
	negotiateSeal                    uint32 = 0x00000020 // NTLMSSP_NEGOTIATE_SEAL
	negotiateDatagram                uint32 = 0x00000040 // NTLMSSP_NEGOTIATE_DATAGRAM
	negotiateLMKey                   uint32 = 0x00000080 // NTLMSSP_NEGOTIATE_LM_KEY
	negotiateNTLM                    uint32 = 0x00000200 // NTLMSSP_NEGOTIATE_NTLM
	negotiateAnonymous               uint32 = 0x00000800 // NTLMSSP_ANONYMOUS
	negotiateOEMDomainSupplied       uint32 = 0x00001000 // NTLMSSP_NEGOTIATE_OEM_DOMAIN_SUPPLIED
	negotiateOEMWorkstationSupplied  uint32 = 0x00002000 // NTLMSSP_NEGOTIATE_OEM_WORKSTATION_SUPPLIED
	negotiateAlwaysSign              uint32 = 0x00008000 // NTLMSSP_NEGOTIATE_ALWAYS_SIGN
	targetTypeDomain                 uint32 = 0x00010000 // NTLMSSP_TARGET_TYPE_DOMAIN
	targetTypeServer                 uint32 = 0x00020000 // NTLMSSP_TARGET_TYPE_SERVER
	negotiateExtendedSessionSecurity uint32 = 0x00080000 // NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY
	negotiateIdentify                uint32 = 0x00100000 // NTLMSSP_NEGOTIATE_IDENTIFY
	requestNonNTSessionKey           uint32 = 0x00400000 // NTLMSSP_REQUEST_NON_NT_SESSION_KEY
	negotiateTargetInfo              uint32 = 0x00800000 // NTLMSSP_NEGOTIATE_TARGET_INFO
	negotiateVersion                 uint32 = 0x02000000 // NTLMSSP_NEGOTIATE_VERSION
	negotiate128                     uint32 = 0x20000000 // NTLMSSP_NEGOTIATE_128
	negotiateKeyExch                 uint32 = 0x40000000 // NTLMSSP_NEGOTIATE_KEY_EXCH
	negotiate56                      uint32 = 0x80000000 // NTLMSSP_NEGOTIATE_56
)

// Message types (MS-NLMP 2.2.1).
const (
	typeNegotiate    uint32 = 1
	typeChallenge    uint32 = 2
	typeAuthenticate uint32 = 3
)

// signature is the 8-byte "NTLMSSP\0" every message starts with.
const signature = "NTLMSSP\x00"
