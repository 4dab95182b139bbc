// Command sspi is asyncsspi's command-line tool.
//
//	sspi demo [-mech all|ntlm|kerberos|negotiate] [-mit auto|off|require]
//	    Runs complete handshakes between an in-process client and server
//	    through the library's Go API, printing each leg as an event loop
//	    sees it, then signed and sealed messages each way. NTLM, Kerberos
//	    (a service ticket issued in process with a service key held in a
//	    keytab in memory) and Negotiate need nothing installed. When the
//	    MIT KDC programs (krb5kdc, kdb5_util, kadmin.local, kinit) are
//	    installed, it also starts a throwaway realm on loopback in a
//	    temporary folder and runs Kerberos with a password login (the KDC
//	    exchanges shown as the I/O of a pending leg) and Negotiate
//	    against it, saying which package Negotiate chose and why. The KDC
//	    is killed and the folder removed on every path, Ctrl-C included.
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
//
// sspi -help lists the commands and exit statuses; sspi COMMAND -help
// describes a command, its flags and its exit statuses.
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
	"packages": runPackages,
	"status":   runStatus,
}

// usage is sspi -help's text.
const usage = `usage: sspi COMMAND [flags] [arguments]

asyncsspi's command-line tool: Negotiate, Kerberos and NTLM as Windows
SSPI does them, asynchronously, in Go.

Commands:
  demo      complete handshakes in this process, each leg as an event loop
            sees it; needs nothing installed (make demo runs it)
  get       fetch a URL, authenticating as curl --negotiate does
  serve     an authenticating reverse proxy (Negotiate, Kerberos, NTLM)
  token     decode a SPNEGO, Kerberos or NTLM token and print its fields
  packages  list the security packages and their capabilities
  status    name SECURITY_STATUS values

"sspi COMMAND -help" (or "sspi help COMMAND") describes a command, its
flags and its exit statuses.

Exit status:
  0   success, or -help
  1   the command failed (each command's -help says when)
  2   no command, an unknown command, or bad flags or arguments
  3   sspi get: the server did not prove itself
  22  sspi get: the final response is not 2xx
`

// Exit statuses of sspi itself, before a command runs.
const exitUsage = 2

func run(w io.Writer, args []string) error {
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	if len(args) == 0 {
		return exitError{exitUsage, fmt.Errorf("no command: want one of %s (sspi -help)", strings.Join(names, ", "))}
	}
	switch args[0] {
	case "-h", "-help", "--help":
		_, err := io.WriteString(w, usage)
		return err
	case "help":
		if len(args) == 1 {
			_, err := io.WriteString(w, usage)
			return err
		}
		if cmd, ok := commands[args[1]]; ok && len(args) == 2 {
			return cmd(w, []string{"-help"})
		}
		return exitError{exitUsage, fmt.Errorf("help: want one of %s", strings.Join(names, ", "))}
	}
	if cmd, ok := commands[args[0]]; ok {
		return cmd(w, args[1:])
	}
	return exitError{exitUsage, fmt.Errorf("unknown command %q: want one of %s (sspi -help)", args[0], strings.Join(names, ", "))}
}
