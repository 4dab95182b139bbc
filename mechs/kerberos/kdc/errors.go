package kdc

import (
	"context"
	"errors"
	"fmt"

	"github.com/asyncsspi/asyncsspi/status"
	"github.com/jcmturner/gokrb5/v8/iana/errorcode"
	"github.com/jcmturner/gokrb5/v8/messages"
)

// mech is the Mech name carried by every *status.Error this package returns.
const mech = "Kerberos"

// Sentinel causes, wrapped in a *status.Error with the code named beside each.
var (
	// ErrClosed: the Client or Transport was closed
	// (SEC_E_NO_AUTHENTICATING_AUTHORITY for a Transport, SEC_E_NO_CREDENTIALS
	// for a Client).
	ErrClosed = errors.New("kdc: closed")
	// ErrNoKDC: no KDC address is known for the realm
	// (SEC_E_NO_AUTHENTICATING_AUTHORITY).
	ErrNoKDC = errors.New("kdc: no KDC known for the realm")
	// ErrNotForwardable: the TGT does not carry the FORWARDABLE flag
	// (SEC_E_DELEGATION_REQUIRED is not applicable; SEC_E_NO_CREDENTIALS).
	ErrNotForwardable = errors.New("kdc: the TGT is not forwardable")
	// ErrTGTEnded: the Client was started from a TGT (ClientConfig.TGT),
	// which has ended and could not be renewed; with no password or
	// keytab it cannot log in again (SEC_E_NO_CREDENTIALS).
	ErrTGTEnded = errors.New("kdc: the TGT the credential was started from has ended, and the credential cannot log in again")
)

// KDCError is a KRB-ERROR the KDC answered with (RFC 4120 section 5.9.1).
// It is the cause inside the *status.Error that Client methods return, so
// errors.As(err, &kdcErr) reaches it.
type KDCError struct {
	KRBError messages.KRBError
}

func (e *KDCError) Error() string {
	s := fmt.Sprintf("KDC replied KRB-ERROR %d (%s)", e.KRBError.ErrorCode, errorcode.Lookup(e.KRBError.ErrorCode))
	if e.KRBError.EText != "" {
		s += ": " + e.KRBError.EText
	}
	return s
}

// Code is the KRB-ERROR error-code (RFC 4120 section 7.5.9).
func (e *KDCError) Code() int32 { return e.KRBError.ErrorCode }

// statusOfKRBError maps a KRB-ERROR to its SSPI status. It follows
// status.FromKerberos except for KDC_ERR_SVC_UNAVAILABLE (29), which means
// no KDC could serve, not an internal failure.
func statusOfKRBError(k messages.KRBError) *status.Error {
	code := status.FromKerberos(k.ErrorCode)
	if k.ErrorCode == errorcode.KDC_ERR_SVC_UNAVAILABLE {
		code = status.SEC_E_NO_AUTHENTICATING_AUTHORITY
	}
	return status.New(code, mech, &KDCError{KRBError: k})
}

// noAuthority wraps cause as SEC_E_NO_AUTHENTICATING_AUTHORITY unless it
// already carries a status.
func noAuthority(cause error) error {
	var se *status.Error
	if errors.As(cause, &se) {
		return cause
	}
	return status.New(status.SEC_E_NO_AUTHENTICATING_AUTHORITY, mech, cause)
}

// ctxCause returns the reason ctx ended, preferring a cause set with
// context.WithCancelCause / WithTimeoutCause.
func ctxCause(ctx context.Context) error {
	if c := context.Cause(ctx); c != nil {
		return c
	}
	return ctx.Err()
}
