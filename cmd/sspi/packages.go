package main

import (
	"fmt"
	"io"

	secctx "github.com/asyncsspi/asyncsspi/context"
	"github.com/asyncsspi/asyncsspi/mechs/ntlm"
)

func runPackages(w io.Writer) error {
	for _, p := range demoPackages() {
		info := p.Info()
		fmt.Fprintf(w, "%-10s max token %5d  capabilities %#08x  %s\n", info.Name, info.MaxToken, uint32(info.Capabilities), info.Comment)
	}
	return nil
}

var _ = secctx.SECPKG_FLAG_INTEGRITY
var _ = ntlm.PackageName
