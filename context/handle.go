package context

// CredHandle names a credential (SSPI's CredHandle). The zero value is no
// handle, as a NULL phCredential is on Windows. Handles are issued by an
// engine; a deleted or unknown handle makes every call that takes it return
// SEC_E_INVALID_HANDLE.
type CredHandle uint64

// CtxtHandle names a security context (SSPI's CtxtHandle). The zero value is
// no handle: pass it on the first Initialize or Accept call.
type CtxtHandle uint64

// IsZero reports whether h is the zero (NULL) handle.
func (h CredHandle) IsZero() bool { return h == 0 }

// IsZero reports whether h is the zero (NULL) handle.
func (h CtxtHandle) IsZero() bool { return h == 0 }

// CredentialUse is AcquireCredentialsHandle's fCredentialUse.
type CredentialUse uint32

// SECPKG_CRED_* values (sspi.h).
const (
	SECPKG_CRED_INBOUND                CredentialUse = 0x1
	SECPKG_CRED_OUTBOUND               CredentialUse = 0x2
	SECPKG_CRED_BOTH                   CredentialUse = 0x3
	SECPKG_CRED_DEFAULT                CredentialUse = 0x4
	SECPKG_CRED_AUTOLOGON_RESTRICTED   CredentialUse = 0x10
	SECPKG_CRED_PROCESS_POLICY_ONLY    CredentialUse = 0x20
	SECPKG_CRED_KERB_ANCHOR_DS_VERSION CredentialUse = 0x40
	SECPKG_CRED_RESERVED               CredentialUse = 0xF0000000
)

// Inbound reports whether the credential may accept (AcceptSecurityContext).
func (u CredentialUse) Inbound() bool { return u&SECPKG_CRED_INBOUND != 0 }

// Outbound reports whether the credential may initiate
// (InitializeSecurityContext).
func (u CredentialUse) Outbound() bool { return u&SECPKG_CRED_OUTBOUND != 0 }

func (u CredentialUse) String() string {
	switch u & SECPKG_CRED_BOTH {
	case SECPKG_CRED_INBOUND:
		return "SECPKG_CRED_INBOUND"
	case SECPKG_CRED_OUTBOUND:
		return "SECPKG_CRED_OUTBOUND"
	case SECPKG_CRED_BOTH:
		return "SECPKG_CRED_BOTH"
	}
	return flagString(uint64(u), nil)
}

// DataRep is the TargetDataRep argument. Kerberos, NTLM and Negotiate ignore
// it, as they do on Windows.
type DataRep uint32

// Data representations (sspi.h).
const (
	SECURITY_NETWORK_DREP DataRep = 0x00000000
	SECURITY_NATIVE_DREP  DataRep = 0x00000010
)

// Per-message quality of protection (sspi.h, ntsecapi.h).
const (
	// SECQOP_WRAP_NO_ENCRYPT asks EncryptMessage for integrity only; the
	// same value as KERB_WRAP_NO_ENCRYPT.
	SECQOP_WRAP_NO_ENCRYPT uint32 = 0x80000001
	SECQOP_WRAP_OOB_DATA   uint32 = 0x40000000
)

// Package names (security.h).
const (
	NEGOSSP_NAME            = "Negotiate"
	MICROSOFT_KERBEROS_NAME = "Kerberos"
	NTLMSP_NAME             = "NTLM"
)
