// Package status holds SSPI's SECURITY_STATUS codes, their names, and an error
// type that carries a code, the mechanism that produced it and the cause.
//
// The values are bit for bit those of winerror.h. In particular
// SEC_E_INVALID_HANDLE is 0x80090301, not the 0x80100003 that Microsoft's
// pages for the asynchronous functions print (that value is
// SCARD_E_INVALID_HANDLE).
//
// A Code is itself an error, and *Error matches its code under errors.Is, so
//
//	errors.Is(err, status.SEC_E_LOGON_DENIED)
//
// holds for any error that wraps a logon failure, however deeply.
package status

import (
	"errors"
	"strconv"
)

// Code is a SECURITY_STATUS value. Success and informational codes have the
// severity bit (bit 31) clear; errors have it set.
type Code uint32

// String returns the SSPI name of the code, or its value in hex when the code
// is not one this package knows.
func (c Code) String() string {
	if n, ok := name(c); ok {
		return n
	}
	return "0x" + hex8(uint32(c))
}

// Error makes a Code usable as an error value (for errors.Is targets and for
// returning a bare code where no cause is known). It reads as String does, so
// that fmt prints a code the same way whichever method it picks.
func (c Code) Error() string { return c.String() }

// IsError reports whether the severity bit is set, as the SEC_SUCCESS macro
// tests (a status is success when, read as a signed LONG, it is >= 0).
func (c Code) IsError() bool { return c&0x80000000 != 0 }

// Int32 returns the code as Windows' signed SECURITY_STATUS.
func (c Code) Int32() int32 { return int32(c) }

func hex8(v uint32) string {
	s := strconv.FormatUint(uint64(v), 16)
	const zeros = "00000000"
	b := []byte(zeros[:8-len(s)] + s)
	for i, ch := range b {
		if ch >= 'a' && ch <= 'f' {
			b[i] = ch - 'a' + 'A'
		}
	}
	return string(b)
}

// Error is a failed SSPI call: its code, the package that produced it
// ("NTLM", "Kerberos", "Negotiate", or "" for the engine) and the cause.
type Error struct {
	Code Code
	Mech string
	Err  error
}

// New returns an *Error for code with a cause. A cause that is already an
// *Error with the same code and package is returned as it is: wrapping it
// again would say nothing more.
func New(code Code, mech string, cause error) *Error {
	if se, ok := cause.(*Error); ok && se != nil && se.Code == code && se.Mech == mech {
		return se
	}
	return &Error{Code: code, Mech: mech, Err: cause}
}

// Errorf returns an *Error whose cause is a plain message.
func Errorf(code Code, mech string, msg string) *Error {
	return &Error{Code: code, Mech: mech, Err: errors.New(msg)}
}

// Error reads "Mech: NAME (0xVALUE): cause". Each code and each package
// is said once: when the cause already carries this code (an *Error in its
// chain with the same Code), the code is left to the cause, and so is the
// package when the cause names the same one, so that an error passed up
// through several layers reads "Negotiate: Kerberos: SEC_E_TIME_SKEW
// (0x80090324): ..." rather than repeating itself.
func (e *Error) Error() string {
	var inner *Error
	if e.Err != nil && errors.As(e.Err, &inner) && inner.Code == e.Code {
		if e.Mech == "" || e.Mech == inner.Mech {
			return e.Err.Error()
		}
		return e.Mech + ": " + e.Err.Error()
	}
	s := e.Code.String()
	if _, known := name(e.Code); known {
		s += " (0x" + hex8(uint32(e.Code)) + ")"
	}
	if e.Mech != "" {
		s = e.Mech + ": " + s
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Is reports whether target is the same Code as e's, so that
// errors.Is(err, status.SEC_E_TIME_SKEW) works through any wrapping.
func (e *Error) Is(target error) bool {
	c, ok := target.(Code)
	return ok && c == e.Code
}

// CodeOf returns the status an error stands for: SEC_E_OK for nil, the code
// of the outermost *Error or Code in its chain, and SEC_E_INTERNAL_ERROR for
// an error that carries no code.
func CodeOf(err error) Code {
	if err == nil {
		return SEC_E_OK
	}
	var se *Error
	if errors.As(err, &se) {
		return se.Code
	}
	var c Code
	if errors.As(err, &c) {
		return c
	}
	return SEC_E_INTERNAL_ERROR
}
