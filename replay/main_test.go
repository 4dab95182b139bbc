package replay

import (
	"testing"

	"go.uber.org/goleak"
)

// TestConcurrentInserts starts goroutines; none may outlive its test.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
