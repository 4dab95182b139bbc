package httpauth_test

import (
	"testing"

	"go.uber.org/goleak"
)

// The Authenticator's engine and the test servers start goroutines; none
// may outlive the tests. (The client side's tests have the same TestMain,
// in transport_main_test.go: a package has one, so one of the two files
// goes when both are merged.)
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
