package status

// Kerberos error codes (RFC 4120 section 7.5.9) that FromKerberos maps.
const (
	krbErrClientUnknown     = 6  // KDC_ERR_C_PRINCIPAL_UNKNOWN
	krbErrServiceUnknown    = 7  // KDC_ERR_S_PRINCIPAL_UNKNOWN
	krbErrNotUnique         = 8  // KDC_ERR_PRINCIPAL_NOT_UNIQUE
	krbErrNeverValid        = 11 // KDC_ERR_NEVER_VALID
	krbErrPolicy            = 12 // KDC_ERR_POLICY
	krbErrBadOption         = 13 // KDC_ERR_BADOPTION
	krbErrEtypeNoSupp       = 14 // KDC_ERR_ETYPE_NOSUPP
	krbErrClientRevoked     = 18 // KDC_ERR_CLIENT_REVOKED
	krbErrServiceRevoked    = 19 // KDC_ERR_SERVICE_REVOKED
	krbErrKeyExpired        = 23 // KDC_ERR_KEY_EXPIRED
	krbErrPreauthFailed     = 24 // KDC_ERR_PREAUTH_FAILED
	krbErrPreauthRequired   = 25 // KDC_ERR_PREAUTH_REQUIRED
	krbErrBadIntegrity      = 31 // KRB_AP_ERR_BAD_INTEGRITY
	krbErrTicketExpired     = 32 // KRB_AP_ERR_TKT_EXPIRED
	krbErrTicketNotYetValid = 33 // KRB_AP_ERR_TKT_NYV
	krbErrRepeat            = 34 // KRB_AP_ERR_REPEAT
	krbErrNotUs             = 35 // KRB_AP_ERR_NOT_US
	krbErrBadMatch          = 36 // KRB_AP_ERR_BADMATCH
	krbErrSkew              = 37 // KRB_AP_ERR_SKEW
	krbErrBadAddr           = 38 // KRB_AP_ERR_BADADDR
	krbErrBadVersion        = 39 // KRB_AP_ERR_BADVERSION
	krbErrMsgType           = 40 // KRB_AP_ERR_MSG_TYPE
	krbErrModified          = 41 // KRB_AP_ERR_MODIFIED
	krbErrBadKeyVer         = 44 // KRB_AP_ERR_BADKEYVER
	krbErrNoKey             = 45 // KRB_AP_ERR_NOKEY
	krbErrMutFail           = 46 // KRB_AP_ERR_MUT_FAIL
	krbErrInappCksum        = 50 // KRB_AP_ERR_INAPP_CKSUM
	krbErrWrongRealm        = 68 // KDC_ERR_WRONG_REALM
)

// FromKerberos maps a KRB-ERROR error-code (RFC 4120 section 7.5.9) to the
// status an SSPI caller sees. Codes with no closer meaning map to
// SEC_E_INTERNAL_ERROR; the caller keeps the KRB-ERROR as the cause.
func FromKerberos(errorCode int32) Code {
	switch errorCode {
	case krbErrClientUnknown, krbErrPreauthFailed, krbErrClientRevoked,
		krbErrKeyExpired, krbErrPolicy:
		return SEC_E_LOGON_DENIED
	case krbErrServiceUnknown, krbErrWrongRealm:
		return SEC_E_TARGET_UNKNOWN
	case krbErrServiceRevoked:
		return SEC_E_TARGET_UNKNOWN
	case krbErrNotUnique:
		return SEC_E_TOO_MANY_PRINCIPALS
	case krbErrSkew, krbErrTicketNotYetValid, krbErrNeverValid:
		return SEC_E_TIME_SKEW
	case krbErrBadOption:
		return SEC_E_KDC_INVALID_REQUEST
	case krbErrEtypeNoSupp:
		return SEC_E_KDC_UNKNOWN_ETYPE
	case krbErrPreauthRequired:
		return SEC_E_NO_PA_DATA
	case krbErrTicketExpired:
		return SEC_E_CONTEXT_EXPIRED
	case krbErrRepeat:
		// Windows has no SEC_E_* code for a replay; the authenticator is
		// refused, which the caller sees as a failed logon.
		return SEC_E_LOGON_DENIED
	case krbErrNotUs, krbErrBadMatch, krbErrModified:
		// A ticket that does not decrypt with our key was issued for
		// another principal (what Windows reports as the wrong principal).
		return SEC_E_WRONG_PRINCIPAL
	case krbErrBadKeyVer, krbErrNoKey:
		return SEC_E_NO_KERB_KEY
	case krbErrMutFail:
		return SEC_E_MUTUAL_AUTH_FAILED
	case krbErrBadIntegrity, krbErrInappCksum:
		return SEC_E_MESSAGE_ALTERED
	case krbErrBadAddr:
		return SEC_E_LOGON_DENIED
	case krbErrBadVersion, krbErrMsgType:
		return SEC_E_INVALID_TOKEN
	}
	return SEC_E_INTERNAL_ERROR
}

// FromKerberosAP maps the error-code of a KRB-ERROR that an acceptor sent
// in place of an AP-REP (RFC 4121 section 4.1, TOK_ID 03 00): as
// FromKerberos, except that a code with no closer meaning
// (KRB_ERR_GENERIC, which MIT sends for most refusals, bad channel
// bindings among them) says that the acceptor refused the logon:
// SEC_E_LOGON_DENIED.
func FromKerberosAP(errorCode int32) Code {
	if c := FromKerberos(errorCode); c != SEC_E_INTERNAL_ERROR {
		return c
	}
	return SEC_E_LOGON_DENIED
}
