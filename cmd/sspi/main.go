// Command sspi is asyncsspi's command-line tool.
//
//	sspi demo [-mech all|ntlm|kerberos|negotiate]
//	    Runs complete handshakes through the async engine between an
//	    in-process client and acceptor, printing each leg as an event loop
//	    sees it, then signed and sealed messages each way. NTLM needs
//	    nothing installed. When the MIT KDC programs (krb5kdc, kdb5_util,
//	    kadmin.local) are installed, it starts a throwaway realm on
//	    loopback in a temporary folder and runs Kerberos with mutual
//	    authentication (the KDC exchanges shown as the I/O of a pending
//	    leg) and Negotiate, saying which package Negotiate chose and why;
//	    without them it says so and runs Negotiate over NTLM. The KDC is
//	    killed and the folder removed on every path, Ctrl-C included.
//	sspi packages
//	    Lists the security packages and their capabilities.
//	sspi status CODE...
//	    Names SECURITY_STATUS values (hex, signed decimal, or SEC_* name).
package main

import (
	"fmt"
	"io"
	"os"
)

func main() {
	if err := run(os.Stdout, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "sspi:", err)
		os.Exit(1)
	}
}

func run(w io.Writer, args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("usage: sspi demo|packages|status (see go doc ./cmd/sspi)")
	}
	switch args[0] {
	case "demo":
		return runDemo(w, args[1:])
	case "packages":
		return runPackages(w)
	case "status":
		return runStatus(w, args[1:])
	}
	return fmt.Errorf("unknown command %q: want demo, packages or status", args[0])
}
