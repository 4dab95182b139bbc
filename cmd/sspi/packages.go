package main

import (
	"fmt"
	"io"
)

// runPackages lists the packages with their QuerySecurityPackageInfo data.
func runPackages(w io.Writer) error {
	for _, p := range demoPackages() {
		info := p.Info()
		fmt.Fprintf(w, "%-10s max token %5d  capabilities %#08x  %s\n", info.Name, info.MaxToken, uint32(info.Capabilities), info.Comment)
	}
	return nil
}
