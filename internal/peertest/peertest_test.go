package peertest

import (
	"testing"
)

func TestRequired(t *testing.T) {
	t.Setenv(RequireEnv, "1")
	if !Required() {
		t.Fatal("ASYNCSSPI_REQUIRE_PEERS=1 not seen")
	}
	t.Setenv(RequireEnv, "")
	if Required() {
		t.Fatal("required without the variable")
	}
}

func TestBinaries(t *testing.T) {
	if p := Binaries(t, "sh")["sh"]; p == "" {
		t.Fatal("sh not found")
	}
}
