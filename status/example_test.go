package status_test

import (
	"errors"
	"fmt"

	"github.com/asyncsspi/asyncsspi/status"
)

func ExampleError() {
	// A mechanism reports a failure with its code and cause; callers match
	// the code through any wrapping.
	err := fmt.Errorf("login alice: %w",
		status.Errorf(status.SEC_E_LOGON_DENIED, "Kerberos", "KDC_ERR_PREAUTH_FAILED"))

	var se *status.Error
	if errors.As(err, &se) {
		fmt.Println(se.Code, se.Mech, se.Code.IsError())
	}
	fmt.Println(errors.Is(err, status.SEC_E_LOGON_DENIED))
	// Output:
	// SEC_E_LOGON_DENIED Kerberos true
	// true
}

func ExampleCode_String() {
	fmt.Println(status.SEC_I_ASYNC_CALL_PENDING, uint32(status.SEC_E_INVALID_HANDLE) == 0x80090301)
	fmt.Println(status.Code(0x80100003))
	// Output:
	// SEC_I_ASYNC_CALL_PENDING true
	// 0x80100003
}
