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

func TestLookPathFindsSh(t *testing.T) {
	if _, err := lookPath("sh"); err != nil {
		t.Fatal(err)
	}
	if _, err := lookPath("no-such-program-asyncsspi"); err == nil {
		t.Fatal("found a program that does not exist")
	}
}
