package ntlm

// version is the VERSION structure, MS-NLMP 2.2.2.10: ProductMajorVersion,
// ProductMinorVersion, ProductBuild (little-endian), three reserved bytes and
// NTLMRevisionCurrent.
type version [8]byte

// ntlmRevisionW2K3 is NTLMSSP_REVISION_W2K3, the only NTLMRevisionCurrent
// value in use (MS-NLMP 2.2.2.10).
const ntlmRevisionW2K3 = 0x0F

// ourVersion is what this package puts in its messages: 10.0, build 20348,
// revision 15. The field is informational (MS-NLMP 2.2.2.10 says it is only
// for debugging); peers do not act on it.
func ourVersion() version { return version{10, 0, 0x4c, 0x4f, 0, 0, 0, ntlmRevisionW2K3} }
