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
//	sspi get [-u USER[:PASSWORD]] [-negotiate|-kerberos|-ntlm] URL
//	    Fetches URL, authenticating as curl --negotiate does.
//	sspi serve -listen ADDR -upstream URL [-keytab FILE] [-ntlm-users FILE] [-user-header NAME]
//	    An authenticating reverse proxy.
//	sspi token [BASE64|-]
//	    Decodes a SPNEGO, Kerberos or NTLM token and prints its fields.
//	sspi packages
//	    Lists the security packages and their capabilities.
//	sspi status CODE...
//	    Names SECURITY_STATUS values (hex, signed decimal, or SEC_* name).
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

func main() {
	err := run(os.Stdout, os.Args[1:])
	var ee exitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		if ee.err != nil {
			fmt.Fprintln(os.Stderr, "sspi:", ee.err)
		}
		os.Exit(ee.code)
	default:
		fmt.Fprintln(os.Stderr, "sspi:", err)
		os.Exit(1)
	}
}

// exitError ends the command with an exit status of its own (sspi get: by
// the outcome of the request).
type exitError struct {
	code int
	err  error
}

func (e exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit status %d", e.code)
	}
	return e.err.Error()
}

// commands are the subcommands, each run with its own arguments.
var commands = map[string]func(w io.Writer, args []string) error{
	"demo":     runDemo,
	"get":      runGet,
	"serve":    runServe,
	"token":    runToken,
	"packages": func(w io.Writer, _ []string) error { return runPackages(w) },
	"status":   runStatus,
}

func run(w io.Writer, args []string) error {
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	if len(args) == 0 || args[0] == "-h" || args[0] == "-help" || args[0] == "help" {
		return fmt.Errorf("usage: sspi %s (sspi COMMAND -help for each)", strings.Join(names, "|"))
	}
	if cmd, ok := commands[args[0]]; ok {
		return cmd(w, args[1:])
	}
	return fmt.Errorf("unknown command %q: want %s", args[0], strings.Join(names, ", "))
}
