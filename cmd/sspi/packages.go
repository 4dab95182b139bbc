package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
)

const packagesUsage = `usage: sspi packages

Lists the security packages sspi's engine holds (NTLM, Kerberos, and
Negotiate over the two) with what QuerySecurityPackageInfo reports for
each: the largest token (cbMaxToken), the SECPKG_FLAG_* capabilities and a
comment.

Exit status: 0, or 2 for bad arguments.
`

// runPackages lists the packages with their QuerySecurityPackageInfo data.
func runPackages(w io.Writer, args []string) error {
	fs := flag.NewFlagSet("packages", flag.ContinueOnError)
	fs.SetOutput(w)
	fs.Usage = func() { fmt.Fprint(fs.Output(), packagesUsage) }
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return exitError{exitUsage, err}
	}
	if fs.NArg() > 0 {
		return exitError{exitUsage, fmt.Errorf("packages: unexpected arguments %q (sspi packages -help)", fs.Args())}
	}
	for _, p := range demoPackages() {
		info := p.Info()
		fmt.Fprintf(w, "%-10s max token %5d  capabilities %#08x  %s\n", info.Name, info.MaxToken, uint32(info.Capabilities), info.Comment)
	}
	return nil
}
