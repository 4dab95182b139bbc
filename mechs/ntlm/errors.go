package ntlm

import (
	"errors"
	"strconv"

	"github.com/asyncsspi/asyncsspi/mechs"
	"github.com/asyncsspi/asyncsspi/status"
)

// PackageName is the SSPI name of this package (NTLMSP_NAME).
const PackageName = "NTLM"

// tokenError is a parse failure: SEC_E_INCOMPLETE_MESSAGE with the number of
// bytes still needed (0 when unknown), or SEC_E_INVALID_TOKEN.
type tokenError struct {
	code    status.Code
	missing int
	msg     string
}

func (e *tokenError) Error() string {
	if e.code == status.SEC_E_INCOMPLETE_MESSAGE && e.missing > 0 {
		return "ntlm: " + e.msg + " (" + strconv.Itoa(e.missing) + " more bytes needed)"
	}
	return "ntlm: " + e.msg
}

func (e *tokenError) Unwrap() error { return e.code }

func invalid(msg string) error {
	return &tokenError{code: status.SEC_E_INVALID_TOKEN, msg: msg}
}

func incomplete(missing int, msg string) error {
	return &tokenError{code: status.SEC_E_INCOMPLETE_MESSAGE, missing: missing, msg: msg}
}

// failToken turns a parse error into a failed leg, with the
// SECBUFFER_MISSING count when the input was truncated.
func failToken(err error) mechs.StepResult {
	var te *tokenError
	if errors.As(err, &te) {
		r := mechs.Fail(te.code, PackageName, err)
		r.Missing = te.missing
		return r
	}
	return mechs.Fail(status.SEC_E_INVALID_TOKEN, PackageName, err)
}

func fail(code status.Code, msg string) mechs.StepResult {
	return mechs.Fail(code, PackageName, errors.New("ntlm: "+msg))
}
