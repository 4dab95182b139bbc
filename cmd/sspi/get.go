package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"time"

	"github.com/asyncsspi/asyncsspi"
	"github.com/asyncsspi/asyncsspi/httpauth"
	"github.com/asyncsspi/asyncsspi/status"
)

// Exit statuses of sspi get.
const (
	getExitFailure   = 1  // no response: bad URL, no credentials, connection or handshake failure
	getExitUsage     = 2  // bad flags or arguments
	getExitNotProved = 3  // a response came but was refused: the server did not prove itself
	getExitHTTP      = 22 // the final response's status is not 2xx (curl -f's 22)
)

const getUsage = `usage: sspi get [-u USER[:PASSWORD]] [-negotiate|-kerberos|-ntlm] [flags] URL

Fetches URL as curl --negotiate does: when the server (or an HTTP proxy,
from HTTP_PROXY) answers 401 (407) asking for Negotiate, Kerberos or NTLM,
sspi get authenticates and sends the request again. The body goes to
standard output; standard error says which package authenticated, the
status, and whether the server was verified (mutual authentication: the
server's final Kerberos token checked).

Credentials:
  without -u   the environment's: the Kerberos ticket cache (KRB5CCNAME,
               as kinit leaves it) and the NTLM account of NTLM_USER_FILE;
               krb5.conf from KRB5_CONFIG
  -u USER      USER's password: "alice@REALM" for Kerberos, "DOMAIN\alice"
               for NTLM; read from the terminal when standard input is
               one, otherwise from $SSPI_PASSWORD
  -u USER:PASSWORD
               the password given (visible to other users in ps)

Packages (one at most):
  -negotiate   Negotiate: Kerberos, falling back to NTLM (the default)
  -kerberos    Kerberos only (inside Negotiate, or the Kerberos scheme)
  -ntlm        NTLM only (the NTLM scheme, or inside Negotiate)

Exit status:
  0   the final response is 2xx
  1   no response: bad URL, no credentials, a connection or handshake
      failure
  2   bad flags or arguments
  3   the response was refused: the server did not prove itself (its
      final token was missing or did not verify, with Kerberos and
      mutual authentication)
  22  the final response is not 2xx (as curl -f), a refused
      authentication (401) included

Flags:
`

// getOptions are sspi get's inputs besides its flags, replaced in tests.
type getOptions struct {
	stdout, stderr io.Writer
	getenv         func(string) string
	// readPassword reads a password from the terminal (without echo),
	// nil when standard input is not a terminal.
	readPassword func(prompt string) (string, error)
}

// runGet is the command: sspi get ARGS.
func runGet(w io.Writer, args []string) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	o := getOptions{stdout: w, stderr: os.Stderr, getenv: os.Getenv}
	if st, err := os.Stdin.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
		o.readPassword = terminalPassword
	}
	return get(ctx, o, args)
}

func get(ctx context.Context, o getOptions, args []string) error {
	fs := flag.NewFlagSet("get", flag.ContinueOnError)
	fs.SetOutput(o.stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), getUsage)
		fs.PrintDefaults()
	}
	user := fs.String("u", "", "`USER[:PASSWORD]` to authenticate as (default: the environment's credentials)")
	negotiate := fs.Bool("negotiate", false, "Negotiate: Kerberos, falling back to NTLM (the default)")
	kerberos := fs.Bool("kerberos", false, "Kerberos only")
	ntlm := fs.Bool("ntlm", false, "NTLM only")
	cacert := fs.String("cacert", "", "PEM `FILE` of certificates to verify the server with (default: the system's)")
	insecure := fs.Bool("k", false, "do not verify the server's TLS certificate (channel bindings are still sent)")
	spnPort := fs.Bool("spn-port", false, "put a non-default port in the service principal name (HTTP/host:port)")
	noMutual := fs.Bool("no-mutual", false, "do not ask the server to prove itself, nor refuse a response that does not")
	timeout := fs.Duration("timeout", 2*time.Minute, "give up after `DURATION` (0: never)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return exitError{code: getExitUsage, err: err}
	}
	usage := func(format string, a ...any) error {
		return exitError{code: getExitUsage, err: fmt.Errorf("get: "+format+" (sspi get -help)", a...)}
	}
	if fs.NArg() != 1 {
		return usage("want one URL, got %d arguments", fs.NArg())
	}
	u, err := url.Parse(fs.Arg(0))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return usage("%q is not an http or https URL", fs.Arg(0))
	}
	pkg := "Negotiate"
	n := 0
	for name, set := range map[string]bool{"Negotiate": *negotiate, "Kerberos": *kerberos, "NTLM": *ntlm} {
		if set {
			pkg = name
			n++
		}
	}
	if n > 1 {
		return usage("-negotiate, -kerberos and -ntlm exclude each other")
	}

	src, err := getSource(o, pkg, *user, isSet(fs, "u"))
	if err != nil {
		return exitError{code: getExitFailure, err: fmt.Errorf("get: %w", err)}
	}
	base := http.DefaultTransport.(*http.Transport).Clone()
	if *cacert != "" || *insecure {
		cfg := &tls.Config{InsecureSkipVerify: *insecure}
		if *cacert != "" {
			pem, err := os.ReadFile(*cacert)
			if err != nil {
				return exitError{code: getExitFailure, err: fmt.Errorf("get: -cacert: %w", err)}
			}
			cfg.RootCAs = x509.NewCertPool()
			if !cfg.RootCAs.AppendCertsFromPEM(pem) {
				return exitError{code: getExitFailure, err: fmt.Errorf("get: -cacert %s: no PEM certificate in it", *cacert)}
			}
		}
		base.TLSClientConfig = cfg
	}
	opts := []httpauth.TransportOption{httpauth.WithBase(base), httpauth.WithClientSource(src)}
	switch pkg {
	case "Kerberos":
		opts = append(opts, httpauth.WithClientSchemes("Negotiate", "Kerberos"))
	case "NTLM":
		opts = append(opts, httpauth.WithClientSchemes("NTLM", "Negotiate"))
	}
	if *spnPort {
		opts = append(opts, httpauth.WithSPNPort())
	}
	if *noMutual {
		opts = append(opts, httpauth.WithMutualAuth(false))
	}
	tr := httpauth.NewTransport(opts...)
	defer tr.Close()
	if *timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *timeout)
		defer cancel()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return exitError{code: getExitFailure, err: fmt.Errorf("get: %w", err)}
	}
	req.Header.Set("User-Agent", "sspi-get")
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		code := getExitFailure
		if errors.Is(err, status.SEC_E_MUTUAL_AUTH_FAILED) {
			code = getExitNotProved
		}
		return exitError{code: code, err: fmt.Errorf("get: %w", err)}
	}
	defer resp.Body.Close()
	_, copyErr := io.Copy(o.stdout, resp.Body)
	report(o.stderr, resp)
	if copyErr != nil {
		return exitError{code: getExitFailure, err: fmt.Errorf("get: reading the body: %w", copyErr)}
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return exitError{code: getExitHTTP}
	}
	return nil
}

// report says on w how the response was authenticated.
func report(w io.Writer, resp *http.Response) {
	server, proxy := httpauth.AuthenticationOf(resp)
	fmt.Fprintf(w, "sspi get: %s %s\n", resp.Proto, resp.Status)
	for _, a := range []*httpauth.Authentication{proxy, server} {
		if a == nil {
			continue
		}
		who := "server"
		if a.Proxy {
			who = "proxy"
		}
		if a.Err != nil {
			fmt.Fprintf(w, "sspi get: %s refused %s (%s) for %s: %v\n", who, a.Scheme, a.Package, a.Target, a.Err)
			continue
		}
		line := "sspi get: authenticated to the " + who + " " + a.Target + " with " + a.Package
		if a.Scheme != a.Package {
			line += " (" + a.Scheme + ")"
		}
		if a.Client != "" {
			line += " as " + a.Client
		}
		if a.Connection {
			line += ", on a connection authenticated earlier"
		}
		switch {
		case a.Verified:
			line += "; " + who + " verified (mutual authentication)"
		case strings.EqualFold(a.Package, "NTLM"):
			line += "; " + who + " not verified (NTLM does not authenticate the server)"
		default:
			line += "; " + who + " not verified"
		}
		fmt.Fprintln(w, line)
	}
	if server == nil && proxy == nil {
		fmt.Fprintln(w, "sspi get: no authentication was asked for, or none that sspi get answers")
	}
}

// getSource is the credential source for pkg: the environment's without
// -u, else USER's password.
func getSource(o getOptions, pkg, user string, haveUser bool) (asyncsspi.Source, error) {
	if !haveUser {
		switch pkg {
		case "Kerberos":
			return asyncsspi.KerberosCCache(""), nil
		case "NTLM":
			return asyncsspi.NTLMUserFile(""), nil
		}
		return asyncsspi.FromEnvironment(), nil
	}
	name, password, hasPassword := strings.Cut(user, ":")
	if name == "" {
		return asyncsspi.Source{}, errors.New("-u: empty user name")
	}
	if !hasPassword {
		var err error
		if password, err = getPassword(o, name); err != nil {
			return asyncsspi.Source{}, err
		}
	}
	krb := asyncsspi.KerberosPassword(kerberosName(name), password)
	nt := asyncsspi.NTLMPassword("", name, password)
	switch pkg {
	case "Kerberos":
		return krb, nil
	case "NTLM":
		return nt, nil
	}
	return asyncsspi.Negotiate(krb, nt), nil
}

// kerberosName turns "DOMAIN\user" into "user@DOMAIN" for Kerberos.
func kerberosName(name string) string {
	if d, u, ok := strings.Cut(name, `\`); ok {
		return u + "@" + d
	}
	return name
}

// getPassword reads USER's password from the terminal, else from
// $SSPI_PASSWORD.
func getPassword(o getOptions, user string) (string, error) {
	if o.readPassword != nil {
		p, err := o.readPassword("Password for " + user + ": ")
		if !errors.Is(err, errNoTerminal) {
			return p, err
		}
	}
	if p := o.getenv("SSPI_PASSWORD"); p != "" {
		return p, nil
	}
	return "", fmt.Errorf("-u %s has no password, standard input is not a terminal to ask for one, and SSPI_PASSWORD is not set", user)
}

// errNoTerminal: standard input is a character device but not a terminal
// (/dev/null, as cron and CI give), so there is no one to ask.
var errNoTerminal = errors.New("standard input is not a terminal")

// terminalPassword prompts on standard error and reads a line from the
// terminal with its echo turned off (stty), restoring it afterwards.
func terminalPassword(prompt string) (string, error) {
	stty := func(arg string) error {
		cmd := exec.Command("stty", arg)
		cmd.Stdin = os.Stdin
		return cmd.Run()
	}
	// A character device need not be a terminal: stty reads the
	// terminal's settings only from one.
	if stty("-g") != nil {
		return "", errNoTerminal
	}
	fmt.Fprint(os.Stderr, prompt)
	if err := stty("-echo"); err == nil {
		defer func() {
			stty("echo")
			fmt.Fprintln(os.Stderr)
		}()
	}
	line, err := bufio.NewReader(os.Stdin).ReadString('\n')
	if err != nil && line == "" {
		return "", fmt.Errorf("reading the password: %w", err)
	}
	return strings.TrimRight(line, "\r\n"), nil
}

func isSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) {
		if f.Name == name {
			set = true
		}
	})
	return set
}
