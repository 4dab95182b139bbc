package kerberos

import (
	"testing"

	"go.uber.org/goleak"
)

// The package's credentials own kdc.Clients, whose exchanges run on
// goroutines; every test must leave none behind.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
