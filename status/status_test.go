package status

import (
	"errors"
	"fmt"
	"io"
	"testing"
)

func TestCodeValues(t *testing.T) {
	seen := map[Code]string{}
	for _, w := range wantCodes {
		if uint32(w.code) != w.value {
			t.Errorf("%s = %#x, want %#x", w.name, uint32(w.code), w.value)
		}
		if got := w.code.String(); got != w.name {
			t.Errorf("Code(%#x).String() = %q, want %q", w.value, got, w.name)
		}
		if prev, dup := seen[w.code]; dup {
			t.Errorf("%s and %s share %#x", prev, w.name, w.value)
		}
		seen[w.code] = w.name
	}
	if len(wantCodes) < 90 {
		t.Fatalf("only %d codes pinned", len(wantCodes))
	}
}

func TestInvalidHandleIsTheWinerrorValue(t *testing.T) {
	if SEC_E_INVALID_HANDLE != 0x80090301 {
		t.Fatalf("SEC_E_INVALID_HANDLE = %#x", uint32(SEC_E_INVALID_HANDLE))
	}
	// The value Microsoft's async pages print is SCARD_E_INVALID_HANDLE.
	if got := Code(0x80100003).String(); got != "0x80100003" {
		t.Fatalf("0x80100003 prints as %q, want it unnamed", got)
	}
	if SEC_E_INVALID_HANDLE.Int32() != -2146893055 {
		t.Fatalf("signed value %d", SEC_E_INVALID_HANDLE.Int32())
	}
}

func TestSignedValues(t *testing.T) {
	// Signed SECURITY_STATUS values from the fact sheet, section 2.2.
	for _, tc := range []struct {
		c Code
		v int32
	}{
		{SEC_E_INVALID_TOKEN, -2146893048},
		{SEC_E_LOGON_DENIED, -2146893044},
		{SEC_E_NO_CREDENTIALS, -2146893042},
		{SEC_E_INCOMPLETE_MESSAGE, -2146893032},
		{SEC_E_WRONG_PRINCIPAL, -2146893022},
	} {
		if tc.c.Int32() != tc.v {
			t.Errorf("%v.Int32() = %d, want %d", tc.c, tc.c.Int32(), tc.v)
		}
	}
}

func TestIsError(t *testing.T) {
	for _, tc := range []struct {
		c    Code
		want bool
	}{
		{SEC_E_OK, false},
		{SEC_I_CONTINUE_NEEDED, false},
		{SEC_I_ASYNC_CALL_PENDING, false},
		{SEC_E_INVALID_HANDLE, true},
		{SEC_E_LOGON_DENIED, true},
		{SEC_I_INVALID_SESSION_STATE, true}, // named SEC_I, severity bit set
	} {
		if got := tc.c.IsError(); got != tc.want {
			t.Errorf("%v.IsError() = %v", tc.c, got)
		}
	}
}

func TestUnknownCodeString(t *testing.T) {
	if got := Code(0x1234abcd).String(); got != "0x1234ABCD" {
		t.Fatalf("got %q", got)
	}
	if got := Code(0x5).String(); got != "0x00000005" {
		t.Fatalf("got %q", got)
	}
	if got := Code(0x5).Error(); got != "0x00000005" {
		t.Fatalf("got %q", got)
	}
}

func TestAliases(t *testing.T) {
	if SEC_E_NO_SPM != SEC_E_INTERNAL_ERROR || SEC_E_NOT_SUPPORTED != SEC_E_UNSUPPORTED_FUNCTION {
		t.Fatal("aliases differ from winerror.h")
	}
}

func TestErrorWrapping(t *testing.T) {
	cause := io.ErrUnexpectedEOF
	err := fmt.Errorf("handshake: %w", New(SEC_E_INCOMPLETE_MESSAGE, "NTLM", cause))
	if !errors.Is(err, SEC_E_INCOMPLETE_MESSAGE) {
		t.Error("errors.Is does not find the code")
	}
	if errors.Is(err, SEC_E_INVALID_TOKEN) {
		t.Error("errors.Is matches another code")
	}
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Error("errors.Is does not find the cause")
	}
	var se *Error
	if !errors.As(err, &se) || se.Mech != "NTLM" || se.Code != SEC_E_INCOMPLETE_MESSAGE {
		t.Errorf("errors.As gives %+v", se)
	}
	if got, want := se.Error(), "NTLM: SEC_E_INCOMPLETE_MESSAGE (0x80090318): unexpected EOF"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if CodeOf(err) != SEC_E_INCOMPLETE_MESSAGE {
		t.Errorf("CodeOf = %v", CodeOf(err))
	}
	if CodeOf(nil) != SEC_E_OK || CodeOf(io.EOF) != SEC_E_INTERNAL_ERROR {
		t.Error("CodeOf of nil or a plain error")
	}
	if CodeOf(fmt.Errorf("x: %w", SEC_E_TIME_SKEW)) != SEC_E_TIME_SKEW {
		t.Error("CodeOf of a wrapped bare code")
	}
	if got := Errorf(SEC_E_LOGON_DENIED, "", "bad password").Error(); got != "SEC_E_LOGON_DENIED (0x8009030C): bad password" {
		t.Errorf("engine error text %q", got)
	}
}

// TestErrorReadsOnce: an error wrapped again with its own code reads its
// code and package once (it read "Kerberos: SEC_E_X (...): Kerberos:
// SEC_E_X (...): cause"); another package or another code still shows.
func TestErrorReadsOnce(t *testing.T) {
	cause := errors.New("preauthentication failed")
	inner := New(SEC_E_LOGON_DENIED, "Kerberos", cause)
	const once = "Kerberos: SEC_E_LOGON_DENIED (0x8009030C): preauthentication failed"
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"same code and package", New(SEC_E_LOGON_DENIED, "Kerberos", inner), once},
		{"built by hand", &Error{Code: SEC_E_LOGON_DENIED, Mech: "Kerberos", Err: inner}, once},
		{"twice over", &Error{Code: SEC_E_LOGON_DENIED, Mech: "Kerberos", Err: &Error{Code: SEC_E_LOGON_DENIED, Mech: "Kerberos", Err: inner}}, once},
		{"through fmt", New(SEC_E_LOGON_DENIED, "Kerberos", fmt.Errorf("KDC exchange: %w", inner)), "KDC exchange: " + once},
		{"the engine", New(SEC_E_LOGON_DENIED, "", inner), once},
		{"another package", New(SEC_E_LOGON_DENIED, "Negotiate", inner), "Negotiate: " + once},
		{"another code", New(SEC_E_INTERNAL_ERROR, "Negotiate", inner), "Negotiate: SEC_E_INTERNAL_ERROR (0x80090304): " + once},
	} {
		if got := tc.err.Error(); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
		if !errors.Is(tc.err, SEC_E_LOGON_DENIED) || !errors.Is(tc.err, cause) {
			t.Errorf("%s: errors.Is lost the code or the cause", tc.name)
		}
	}
	if got := New(SEC_E_LOGON_DENIED, "Kerberos", inner); got != inner {
		t.Error("New wrapped an *Error that already says the same")
	}
	if got := New(SEC_E_LOGON_DENIED, "Negotiate", inner); got == inner || got.Mech != "Negotiate" {
		t.Error("New dropped the outer package")
	}
}

func TestFromKerberos(t *testing.T) {
	for _, tc := range []struct {
		krb  int32
		want Code
	}{
		{24, SEC_E_LOGON_DENIED},
		{6, SEC_E_LOGON_DENIED},
		{7, SEC_E_TARGET_UNKNOWN},
		{37, SEC_E_TIME_SKEW},
		{32, SEC_E_CONTEXT_EXPIRED},
		{41, SEC_E_WRONG_PRINCIPAL},
		{46, SEC_E_MUTUAL_AUTH_FAILED},
		{34, SEC_E_LOGON_DENIED},
		{9999, SEC_E_INTERNAL_ERROR},
	} {
		if got := FromKerberos(tc.krb); got != tc.want {
			t.Errorf("FromKerberos(%d) = %v, want %v", tc.krb, got, tc.want)
		}
	}
}

// TestFromKerberosAP: the codes an acceptor refuses an AP-REQ with, as the
// initiator reports them; KRB_ERR_GENERIC (MIT's code for most refusals,
// bad channel bindings among them) and unknown codes are a refused logon.
func TestFromKerberosAP(t *testing.T) {
	for _, tc := range []struct {
		krb  int32
		want Code
	}{
		{37, SEC_E_TIME_SKEW}, {33, SEC_E_TIME_SKEW}, {32, SEC_E_CONTEXT_EXPIRED},
		{34, SEC_E_LOGON_DENIED}, {35, SEC_E_WRONG_PRINCIPAL}, {36, SEC_E_WRONG_PRINCIPAL},
		{41, SEC_E_WRONG_PRINCIPAL}, {31, SEC_E_MESSAGE_ALTERED}, {44, SEC_E_NO_KERB_KEY},
		{45, SEC_E_NO_KERB_KEY}, {14, SEC_E_KDC_UNKNOWN_ETYPE}, {60, SEC_E_LOGON_DENIED},
		{9999, SEC_E_LOGON_DENIED},
	} {
		if got := FromKerberosAP(tc.krb); got != tc.want {
			t.Errorf("FromKerberosAP(%d) = %v, want %v", tc.krb, got, tc.want)
		}
	}
}
