package context

import "time"

// Attribute is QueryContextAttributes' ulAttribute (SECPKG_ATTR_*).
type Attribute uint32

// SECPKG_ATTR_* values (sspi.h).
const (
	SECPKG_ATTR_SIZES                       Attribute = 0
	SECPKG_ATTR_NAMES                       Attribute = 1
	SECPKG_ATTR_LIFESPAN                    Attribute = 2
	SECPKG_ATTR_DCE_INFO                    Attribute = 3
	SECPKG_ATTR_STREAM_SIZES                Attribute = 4
	SECPKG_ATTR_KEY_INFO                    Attribute = 5
	SECPKG_ATTR_AUTHORITY                   Attribute = 6
	SECPKG_ATTR_PROTO_INFO                  Attribute = 7
	SECPKG_ATTR_PASSWORD_EXPIRY             Attribute = 8
	SECPKG_ATTR_SESSION_KEY                 Attribute = 9
	SECPKG_ATTR_PACKAGE_INFO                Attribute = 10
	SECPKG_ATTR_USER_FLAGS                  Attribute = 11
	SECPKG_ATTR_NEGOTIATION_INFO            Attribute = 12
	SECPKG_ATTR_NATIVE_NAMES                Attribute = 13
	SECPKG_ATTR_FLAGS                       Attribute = 14
	SECPKG_ATTR_USE_VALIDATED               Attribute = 15
	SECPKG_ATTR_CREDENTIAL_NAME             Attribute = 16
	SECPKG_ATTR_TARGET_INFORMATION          Attribute = 17
	SECPKG_ATTR_ACCESS_TOKEN                Attribute = 18
	SECPKG_ATTR_TARGET                      Attribute = 19
	SECPKG_ATTR_AUTHENTICATION_ID           Attribute = 20
	SECPKG_ATTR_LOGOFF_TIME                 Attribute = 21
	SECPKG_ATTR_NEGO_KEYS                   Attribute = 22
	SECPKG_ATTR_PROMPTING_NEEDED            Attribute = 24
	SECPKG_ATTR_UNIQUE_BINDINGS             Attribute = 25
	SECPKG_ATTR_ENDPOINT_BINDINGS           Attribute = 26
	SECPKG_ATTR_CLIENT_SPECIFIED_TARGET     Attribute = 27
	SECPKG_ATTR_LAST_CLIENT_TOKEN_STATUS    Attribute = 30
	SECPKG_ATTR_NEGO_PKG_INFO               Attribute = 31
	SECPKG_ATTR_NEGO_STATUS                 Attribute = 32
	SECPKG_ATTR_CONTEXT_DELETED             Attribute = 33
	SECPKG_ATTR_DTLS_MTU                    Attribute = 34
	SECPKG_ATTR_APPLICATION_PROTOCOL        Attribute = 35
	SECPKG_ATTR_NEGOTIATED_TLS_EXTENSIONS   Attribute = 36
	SECPKG_ATTR_IS_LOOPBACK                 Attribute = 37
	SECPKG_ATTR_SUBJECT_SECURITY_ATTRIBUTES Attribute = 128
)

// Library extensions: attributes this library answers that Windows does
// not have. They are numbered from SECPKG_ATTR_ASYNCSSPI_BASE
// (0x41530000, "AS"), a range no Windows header uses (Windows' own values
// are below 0x100, Schannel's from 0x50, and the 0x8000xxxx forms such as
// SECPKG_ATTR_CREDS_2), so that a value never means one thing here and
// another on Windows. A package that does not know one answers
// SEC_E_UNSUPPORTED_FUNCTION, as for any attribute it lacks.
const (
	SECPKG_ATTR_ASYNCSSPI_BASE Attribute = 0x41530000

	// SECPKG_ATTR_ASYNCSSPI_DELEGATED_CREDENTIAL, asked of an
	// acceptor's context once its handshake is complete, gives what the
	// client delegated (ISC_REQ_DELEGATE) as the AcquireCredentialsHandle
	// pAuthData of an outbound credential that acts as the client: for
	// Kerberos a *kerberos.TGT, the TGT forwarded in the authenticator's
	// KRB-CRED (RFC 4121 section 4.1.1). Windows has no such attribute:
	// its server impersonates the client through an access token instead.
	// Every query gives the caller a value of its own.
	//
	// When there is none: SEC_E_NO_CREDENTIALS when the client delegated
	// nothing, or what it delegated cannot be used (a KRB-CRED that did
	// not decrypt, or does not hold a TGT for the authenticated client);
	// the value is then an error (a *status.Error) saying why, or nil.
	// SEC_E_NO_CONTEXT before the handshake is complete;
	// SEC_E_UNSUPPORTED_FUNCTION from a package that cannot delegate
	// (NTLM) and from an initiator's context.
	SECPKG_ATTR_ASYNCSSPI_DELEGATED_CREDENTIAL Attribute = SECPKG_ATTR_ASYNCSSPI_BASE + 1
)

// Sizes is SecPkgContext_Sizes (SECPKG_ATTR_SIZES).
type Sizes struct {
	MaxToken        uint32 // cbMaxToken
	MaxSignature    uint32 // cbMaxSignature: 0 when integrity is unavailable
	BlockSize       uint32 // cbBlockSize
	SecurityTrailer uint32 // cbSecurityTrailer: the TOKEN buffer EncryptMessage needs
}

// Names is SecPkgContext_Names (SECPKG_ATTR_NAMES): the client's name, as
// "DOMAIN\user" for NTLM and "user@REALM" for Kerberos.
type Names struct {
	UserName string
}

// NativeNames is SecPkgContext_NativeNames (SECPKG_ATTR_NATIVE_NAMES).
type NativeNames struct {
	ClientName string
	ServerName string
}

// Lifespan is SecPkgContext_Lifespan (SECPKG_ATTR_LIFESPAN).
type Lifespan struct {
	Start  time.Time
	Expiry time.Time // NeverExpires() when the context does not expire; zero when not known
}

// SessionKey is SecPkgContext_SessionKey (SECPKG_ATTR_SESSION_KEY). The
// slice is the caller's copy.
type SessionKey struct {
	Key []byte
}

// Flags is SecPkgContext_Flags (SECPKG_ATTR_FLAGS): the negotiated
// ISC_RET_* (initiator) or ASC_RET_* (acceptor) bits.
type Flags struct {
	Flags uint64
}

// Capability is SecPkgInfo's fCapabilities (SECPKG_FLAG_*).
type Capability uint32

// SECPKG_FLAG_* values (sspi.h) that Kerberos, NTLM and Negotiate report.
const (
	SECPKG_FLAG_INTEGRITY         Capability = 0x00000001
	SECPKG_FLAG_PRIVACY           Capability = 0x00000002
	SECPKG_FLAG_TOKEN_ONLY        Capability = 0x00000004
	SECPKG_FLAG_DATAGRAM          Capability = 0x00000008
	SECPKG_FLAG_CONNECTION        Capability = 0x00000010
	SECPKG_FLAG_MULTI_REQUIRED    Capability = 0x00000020
	SECPKG_FLAG_CLIENT_ONLY       Capability = 0x00000040
	SECPKG_FLAG_EXTENDED_ERROR    Capability = 0x00000080
	SECPKG_FLAG_IMPERSONATION     Capability = 0x00000100
	SECPKG_FLAG_ACCEPT_WIN32_NAME Capability = 0x00000200
	SECPKG_FLAG_STREAM            Capability = 0x00000400
	SECPKG_FLAG_NEGOTIABLE        Capability = 0x00000800
	SECPKG_FLAG_GSS_COMPATIBLE    Capability = 0x00001000
	SECPKG_FLAG_LOGON             Capability = 0x00002000
	SECPKG_FLAG_MUTUAL_AUTH       Capability = 0x00010000
	SECPKG_FLAG_DELEGATION        Capability = 0x00020000
	SECPKG_FLAG_NEGOTIABLE2       Capability = 0x00200000
)

// PackageInfo is SecPkgInfo (SECPKG_ATTR_PACKAGE_INFO, and what
// QuerySecurityPackageInfo returns).
type PackageInfo struct {
	Capabilities Capability
	Version      uint16
	RPCID        uint16
	MaxToken     uint32
	Name         string
	Comment      string
}

// NegotiationState is SecPkgContext_NegotiationInfo's NegotiationState.
type NegotiationState uint32

// SECPKG_NEGOTIATION_* values (sspi.h).
const (
	SECPKG_NEGOTIATION_COMPLETE      NegotiationState = 0
	SECPKG_NEGOTIATION_OPTIMISTIC    NegotiationState = 1
	SECPKG_NEGOTIATION_IN_PROGRESS   NegotiationState = 2
	SECPKG_NEGOTIATION_DIRECT        NegotiationState = 3
	SECPKG_NEGOTIATION_TRY_MULTICRED NegotiationState = 4
)

func (s NegotiationState) String() string {
	switch s {
	case SECPKG_NEGOTIATION_COMPLETE:
		return "SECPKG_NEGOTIATION_COMPLETE"
	case SECPKG_NEGOTIATION_OPTIMISTIC:
		return "SECPKG_NEGOTIATION_OPTIMISTIC"
	case SECPKG_NEGOTIATION_IN_PROGRESS:
		return "SECPKG_NEGOTIATION_IN_PROGRESS"
	case SECPKG_NEGOTIATION_DIRECT:
		return "SECPKG_NEGOTIATION_DIRECT"
	case SECPKG_NEGOTIATION_TRY_MULTICRED:
		return "SECPKG_NEGOTIATION_TRY_MULTICRED"
	}
	return "SECPKG_NEGOTIATION(" + flagString(uint64(s), nil) + ")"
}

// NegotiationInfo is SecPkgContext_NegotiationInfo
// (SECPKG_ATTR_NEGOTIATION_INFO): the package chosen ("Kerberos" or "NTLM"
// under Negotiate) and how far negotiation has gone. It can be queried while
// Initialize still returns SEC_I_CONTINUE_NEEDED.
type NegotiationInfo struct {
	Package PackageInfo
	State   NegotiationState
}
