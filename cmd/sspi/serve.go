package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/asyncsspi/asyncsspi"
	"github.com/asyncsspi/asyncsspi/httpauth"
)

// Exit statuses of sspi serve.
const (
	serveExitError = 1 // it could not start, or stopped on an error
	serveExitUsage = 2 // bad flags or arguments
)

// upstreamIdlePerHost is how many idle connections the proxy keeps to its
// upstream. Go's default transport keeps two per host, so that under load
// most requests open (and close) a connection of their own.
const upstreamIdlePerHost = 256

const serveUsage = `usage: sspi serve -listen ADDR -upstream URL [-keytab FILE] [-ntlm-users FILE] [-user-header NAME]

An authenticating reverse proxy. Clients authenticate with Negotiate
(Kerberos, or NTLM inside SPNEGO) or NTLM, as IIS serves them: an
NTLM-authenticated connection stays authenticated for its later requests.
Authenticated requests go to the upstream with the client's name in the
user header (X-Remote-User unless -user-header says otherwise); any header
of that name the client sent, in any case or with '_' for '-', is removed
first, and so is the client's Authorization header. Failed authentications
get 401, a full engine 503 with Retry-After. One log line (stderr) per
authentication.

Kerberos uses the keytab (default $KRB5_KTNAME), NTLM the users file in
gss-ntlmssp's format, one DOMAIN:user:password a line (default
$NTLM_USER_FILE); at least one is needed.

SIGINT or SIGTERM stops it gracefully: it stops accepting, lets the
requests in flight finish within -shutdown-timeout, then exits.

Exit status: 0 after a graceful stop (or -help), 1 when it cannot start or
requests had to be cut off at shutdown, 2 for bad flags.

Flags:
`

func runServe(w io.Writer, args []string) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	return serve(ctx, w, log, args, nil)
}

// serveConfig is sspi serve's flags.
type serveConfig struct {
	listen, upstream  string
	keytab, ntlmUsers string
	userHeader        string
	shutdownTimeout   time.Duration
}

func parseServeFlags(w io.Writer, args []string) (serveConfig, error) {
	var c serveConfig
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(w)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), serveUsage)
		fs.PrintDefaults()
	}
	fs.StringVar(&c.listen, "listen", "", "`address` to listen on, host:port (required)")
	fs.StringVar(&c.upstream, "upstream", "", "`URL` of the server to pass authenticated requests to (required)")
	fs.StringVar(&c.keytab, "keytab", "", "Kerberos service keytab `file` (default $KRB5_KTNAME)")
	fs.StringVar(&c.ntlmUsers, "ntlm-users", "", "NTLM users `file`, DOMAIN:user:password a line (default $NTLM_USER_FILE)")
	fs.StringVar(&c.userHeader, "user-header", "X-Remote-User", "request header `name` that carries the authenticated user upstream")
	fs.DurationVar(&c.shutdownTimeout, "shutdown-timeout", 30*time.Second, "how long requests in flight may take to finish at shutdown")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	var problems []string
	if fs.NArg() > 0 {
		problems = append(problems, fmt.Sprintf("unexpected arguments %q", fs.Args()))
	}
	if c.listen == "" {
		problems = append(problems, "-listen is required")
	}
	if c.upstream == "" {
		problems = append(problems, "-upstream is required")
	} else if u, err := url.Parse(c.upstream); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		problems = append(problems, fmt.Sprintf("-upstream %q is not an http:// or https:// URL", c.upstream))
	}
	if !validHeaderName(c.userHeader) {
		problems = append(problems, fmt.Sprintf("-user-header %q is not a header name", c.userHeader))
	}
	if c.shutdownTimeout <= 0 {
		problems = append(problems, "-shutdown-timeout must be positive")
	}
	if c.keytab == "" {
		c.keytab = strings.TrimPrefix(os.Getenv(asyncsspi.EnvKeytab), "FILE:")
	}
	if c.ntlmUsers == "" {
		c.ntlmUsers = os.Getenv(asyncsspi.EnvNTLMFile)
	}
	if c.keytab == "" && c.ntlmUsers == "" {
		problems = append(problems, "no credential: give -keytab or -ntlm-users (or set "+asyncsspi.EnvKeytab+" or "+asyncsspi.EnvNTLMFile+")")
	}
	if len(problems) > 0 {
		return c, fmt.Errorf("serve: %s (sspi serve -help)", strings.Join(problems, "; "))
	}
	return c, nil
}

// serve runs the proxy until ctx ends, then shuts it down gracefully.
// ready, if set, is told the listening address.
func serve(ctx context.Context, w io.Writer, log *slog.Logger, args []string, ready func(net.Addr)) error {
	cfg, err := parseServeFlags(w, args)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return exitError{serveExitUsage, err}
	}
	fail := func(err error) error { return exitError{serveExitError, err} }

	var parts []asyncsspi.Source
	if cfg.keytab != "" {
		parts = append(parts, asyncsspi.KerberosKeytab(cfg.keytab, ""))
	}
	if cfg.ntlmUsers != "" {
		parts = append(parts, asyncsspi.NTLMUserFile(cfg.ntlmUsers))
	}
	auth, err := httpauth.NewAuthenticator(httpauth.WithSource(asyncsspi.Negotiate(parts...)), httpauth.WithLogger(log))
	if err != nil {
		return fail(err)
	}
	defer auth.Close()

	upstream, _ := url.Parse(cfg.upstream) // checked by parseServeFlags
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns = 0 // no limit across hosts; per host below
	tr.MaxIdleConnsPerHost = upstreamIdlePerHost
	defer tr.CloseIdleConnections()
	errLog := slog.NewLogLogger(log.Handler(), slog.LevelError)
	srv := &http.Server{
		Handler:  auth.Wrap(newProxy(upstream, cfg.userHeader, tr, errLog)),
		ErrorLog: errLog,
	}
	auth.Install(srv)

	l, err := net.Listen("tcp", cfg.listen)
	if err != nil {
		return fail(err)
	}
	log.Info("sspi serve: listening", "addr", l.Addr().String(), "upstream", upstream.String(),
		"schemes", strings.Join(auth.Schemes(), ","), "user_header", cfg.userHeader)
	if ready != nil {
		ready(l.Addr())
	}
	// The Serve goroutine is owned here and waited for on every path.
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	select {
	case err := <-served:
		return fail(fmt.Errorf("serve: %w", err))
	case <-ctx.Done():
	}
	log.Info("sspi serve: shutting down", "cause", context.Cause(ctx).Error(), "timeout", cfg.shutdownTimeout)
	sctx, cancel := context.WithTimeout(context.Background(), cfg.shutdownTimeout)
	defer cancel()
	// Shutdown closes the listener, then waits for the requests in flight.
	err = srv.Shutdown(sctx)
	if err != nil {
		srv.Close()
	}
	<-served
	if err != nil {
		return fail(fmt.Errorf("shutdown: requests still in flight after %v were cut off: %w", cfg.shutdownTimeout, err))
	}
	log.Info("sspi serve: stopped")
	return nil
}

// newProxy passes authenticated requests to upstream, with the user in
// header userHeader.
func newProxy(upstream *url.URL, userHeader string, tr http.RoundTripper, errLog *log.Logger) *httputil.ReverseProxy {
	userHeader = http.CanonicalHeaderKey(userHeader)
	return &httputil.ReverseProxy{
		// Rewrite runs after the proxy has removed the hop-by-hop headers
		// (those a client names in Connection included), so a client
		// cannot have the header set here removed.
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(upstream)
			pr.SetXForwarded()
			h := pr.Out.Header
			removeSpellings(h, userHeader)
			h.Del("Authorization") // the client's token is for this proxy only
			if id, ok := httpauth.IdentityFromContext(pr.In.Context()); ok {
				h.Set(userHeader, id.Name)
			}
		},
		Transport: tr,
		ErrorLog:  errLog,
	}
}

// removeSpellings deletes every header that an upstream could read as
// name: the same name in any case (net/http canonicalizes those to one key,
// with all their values) and with '_' for '-' (as CGI, and servers that
// map underscores, read them).
func removeSpellings(h http.Header, name string) {
	want := headerFold(name)
	for k := range h {
		if headerFold(k) == want {
			delete(h, k)
		}
	}
}

func headerFold(s string) string {
	return strings.ReplaceAll(strings.ToLower(s), "_", "-")
}

// validHeaderName reports whether s is an RFC 9110 token.
func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return true
}
