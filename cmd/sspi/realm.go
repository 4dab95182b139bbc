package main

import (
	"fmt"
	"io"

	"github.com/asyncsspi/asyncsspi/mechs"
	"github.com/asyncsspi/asyncsspi/mechs/ntlm"
)

func demoPackages() []mechs.Package {
	return []mechs.Package{ntlm.New()}
}

func demoRealm(w io.Writer, mech string) error {
	fmt.Fprintf(w, "== %s: not yet wired\n", mech)
	return nil
}
