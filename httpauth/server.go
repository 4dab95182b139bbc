package httpauth

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/asyncsspi/asyncsspi"
	"github.com/asyncsspi/asyncsspi/async"
	"github.com/asyncsspi/asyncsspi/mechs/negotiate"
	"github.com/asyncsspi/asyncsspi/mechs/ntlm"
	"github.com/asyncsspi/asyncsspi/status"
)

// Defaults of the server's bounds; each has an option.
const (
	// DefaultHandshakeTimeout is how long a connection's unfinished
	// handshake (an NTLM challenge sent, its answer not yet come) is
	// kept.
	DefaultHandshakeTimeout = 30 * time.Second
	// DefaultMaxHandshakes caps the unfinished handshakes kept across
	// every connection at once.
	DefaultMaxHandshakes = 1024
	// DefaultLegTimeout bounds how long a request waits for its leg.
	DefaultLegTimeout = 30 * time.Second
	// retryAfter is the Retry-After of a 503 (seconds).
	retryAfter = "1"
)

// ConnectionBinding says which authentications a connection keeps for its
// later requests (see Authenticator.Install: without it no connection
// keeps anything).
type ConnectionBinding int

const (
	// BindNTLM, the default: a connection authenticated with NTLM stays
	// authenticated for its later requests, as IIS does (NTLM
	// authenticates connections, MS-NTHT section 1.3); Kerberos
	// authenticates each request that carries a token.
	BindNTLM ConnectionBinding = iota
	// BindAll: every authenticated connection stays authenticated,
	// Kerberos too (IIS's authPersistNonNTLM).
	BindAll
	// BindNone: no connection stays authenticated; every request must
	// carry its own complete authentication (an NTLM handshake still
	// needs its connection for its legs).
	BindNone
)

// Authenticator is HTTP server middleware that authenticates requests
// with Negotiate (Kerberos, or NTLM inside SPNEGO) and NTLM, each leg run
// on an asyncsspi engine. Make one with NewAuthenticator, protect handlers
// with Wrap, give the http.Server the connection hooks with Install, and
// Close it when the server is done. Its methods are safe for concurrent
// use.
type Authenticator struct {
	eng     *asyncsspi.Engine
	ownEng  bool
	cred    *asyncsspi.Credential
	ownCred bool
	log     *slog.Logger

	schemes  []string // offered, in order: SchemeNegotiate, SchemeNTLM
	binding  ConnectionBinding
	ctxOpts  []asyncsspi.ContextOption
	maxToken int

	handshakeTimeout time.Duration
	maxHandshakes    int
	legTimeout       time.Duration

	conns conns // connection state (server_conn.go)
}

// ServerOption configures NewAuthenticator.
type ServerOption func(*serverConfig)

type serverConfig struct {
	eng              *asyncsspi.Engine
	cred             *asyncsspi.Credential
	src              *asyncsspi.Source
	schemes          []string
	log              *slog.Logger
	binding          ConnectionBinding
	ctxOpts          []asyncsspi.ContextOption
	handshakeTimeout time.Duration
	maxHandshakes    int
	legTimeout       time.Duration
}

// WithEngine runs the legs on e instead of an engine of the
// Authenticator's own; Close does not close e.
func WithEngine(e *asyncsspi.Engine) ServerOption {
	return func(c *serverConfig) { c.eng = e }
}

// WithCredential accepts with c, a server credential acquired from the
// engine given WithEngine (a Negotiate credential serves both schemes; an
// NTLM one, the NTLM scheme). Close does not close c.
func WithCredential(c *asyncsspi.Credential) ServerOption {
	return func(cfg *serverConfig) { cfg.cred = c }
}

// WithSource acquires the server credential from src instead of
// asyncsspi.FromEnvironment(). A Kerberos or NTLM source is wrapped in
// asyncsspi.Negotiate, since HTTP clients send Kerberos inside SPNEGO (and
// NTLM both inside it and on its own).
func WithSource(src asyncsspi.Source) ServerOption {
	return func(c *serverConfig) { c.src = &src }
}

// WithSchemes sets the schemes offered, in the order of the
// WWW-Authenticate headers: SchemeNegotiate, SchemeNTLM or both (default:
// every scheme the credential can serve).
func WithSchemes(schemes ...string) ServerOption {
	return func(c *serverConfig) { c.schemes = append([]string(nil), schemes...) }
}

// WithLogger sets where the Authenticator writes its one line per
// authentication, successful (Info) or refused (Warn). Default:
// slog.Default().
func WithLogger(l *slog.Logger) ServerOption {
	return func(c *serverConfig) { c.log = l }
}

// WithConnectionBinding sets which authentications a connection keeps
// (default BindNTLM).
func WithConnectionBinding(b ConnectionBinding) ServerOption {
	return func(c *serverConfig) { c.binding = b }
}

// WithContextOptions adds requests to every server context (for example
// asyncsspi.ChannelBindings). asyncsspi.ExtendedError is always asked.
func WithContextOptions(opts ...asyncsspi.ContextOption) ServerOption {
	return func(c *serverConfig) { c.ctxOpts = append(c.ctxOpts, opts...) }
}

// WithHandshakeTimeout sets how long an unfinished handshake is kept for
// its connection's next request (default DefaultHandshakeTimeout).
func WithHandshakeTimeout(d time.Duration) ServerOption {
	return func(c *serverConfig) { c.handshakeTimeout = d }
}

// WithMaxHandshakes caps the unfinished handshakes kept at once (default
// DefaultMaxHandshakes). Past it, after the expired ones are dropped, a
// handshake that needs another leg is answered 503 with Retry-After.
func WithMaxHandshakes(n int) ServerOption {
	return func(c *serverConfig) { c.maxHandshakes = n }
}

// WithLegTimeout bounds how long a request waits for its leg on the engine
// (default DefaultLegTimeout); a leg that takes longer is cancelled and
// the request answered 503 with Retry-After.
func WithLegTimeout(d time.Duration) ServerOption {
	return func(c *serverConfig) { c.legTimeout = d }
}

// NewAuthenticator returns server middleware. Without options it makes an
// engine of its own and accepts with the environment's server credential
// (asyncsspi.FromEnvironment: the keytab in $KRB5_KTNAME, the accounts in
// $NTLM_USER_FILE); it fails when neither is there.
func NewAuthenticator(opts ...ServerOption) (*Authenticator, error) {
	cfg := serverConfig{
		handshakeTimeout: DefaultHandshakeTimeout,
		maxHandshakes:    DefaultMaxHandshakes,
		legTimeout:       DefaultLegTimeout,
	}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.log == nil {
		cfg.log = slog.Default()
	}
	if cfg.handshakeTimeout <= 0 || cfg.maxHandshakes <= 0 || cfg.legTimeout <= 0 {
		return nil, errors.New("httpauth: handshake timeout, handshake cap and leg timeout must be positive")
	}
	if cfg.binding < BindNTLM || cfg.binding > BindNone {
		return nil, fmt.Errorf("httpauth: unknown connection binding %d", cfg.binding)
	}
	a := &Authenticator{
		eng:              cfg.eng,
		cred:             cfg.cred,
		log:              cfg.log,
		binding:          cfg.binding,
		ctxOpts:          append([]asyncsspi.ContextOption{asyncsspi.ExtendedError()}, cfg.ctxOpts...),
		handshakeTimeout: cfg.handshakeTimeout,
		maxHandshakes:    cfg.maxHandshakes,
		legTimeout:       cfg.legTimeout,
	}
	if a.cred != nil && a.eng == nil {
		return nil, errors.New("httpauth: WithCredential needs WithEngine, the engine the credential was acquired from")
	}
	if a.cred != nil && cfg.src != nil {
		return nil, errors.New("httpauth: WithCredential and WithSource both given")
	}
	if a.eng == nil {
		a.eng = asyncsspi.New(asyncsspi.WithLogger(cfg.log))
		a.ownEng = true
	}
	if a.cred == nil {
		src := asyncsspi.FromEnvironment()
		if cfg.src != nil {
			src = *cfg.src
		}
		cred, err := a.eng.ServerCredential(src)
		if err == nil && cred.Package() != negotiate.PackageName {
			// HTTP clients send Kerberos inside SPNEGO, and NTLM
			// either way.
			cred.Close()
			cred, err = a.eng.ServerCredential(asyncsspi.Negotiate(src))
		}
		if err != nil {
			a.closeOwned()
			return nil, fmt.Errorf("httpauth: server credential: %w", err)
		}
		a.cred, a.ownCred = cred, true
	}
	if err := a.chooseSchemes(cfg.schemes); err != nil {
		a.closeOwned()
		return nil, err
	}
	a.maxToken = maxToken(a.eng)
	a.initConns()
	return a, nil
}

// chooseSchemes sets the offered schemes from what the credential serves
// and what the caller asked.
func (a *Authenticator) chooseSchemes(want []string) error {
	var can []string
	switch a.cred.Package() {
	case negotiate.PackageName:
		can = append(can, SchemeNegotiate)
		for _, p := range a.cred.Packages() {
			if strings.EqualFold(p, ntlm.PackageName) {
				can = append(can, SchemeNTLM)
			}
		}
	case ntlm.PackageName:
		can = append(can, SchemeNTLM)
	default:
		return fmt.Errorf("httpauth: a %s credential serves no HTTP scheme (use a Negotiate or NTLM credential)", a.cred.Package())
	}
	if len(want) == 0 {
		a.schemes = can
		return nil
	}
	for _, w := range want {
		s := canonicalScheme(w)
		if !contains(can, s) {
			return fmt.Errorf("httpauth: scheme %q: the credential serves %s", w, strings.Join(can, " and "))
		}
		if !contains(a.schemes, s) {
			a.schemes = append(a.schemes, s)
		}
	}
	return nil
}

// maxToken is the largest token any of the engine's packages takes
// (cbMaxToken: Negotiate's, which frames the others').
func maxToken(e *asyncsspi.Engine) int {
	n := 0
	for _, p := range e.Async().Packages() {
		n = max(n, int(p.Info().MaxToken))
	}
	return n
}

// Schemes returns the schemes offered, in order.
func (a *Authenticator) Schemes() []string { return append([]string(nil), a.schemes...) }

// MaxToken is the largest token accepted, in bytes (before base64).
func (a *Authenticator) MaxToken() int { return a.maxToken }

// Close drops every connection's state (closing its security contexts),
// and closes the credential and the engine if the Authenticator made them.
// Requests served afterwards are answered 503.
func (a *Authenticator) Close() error {
	a.conns.closeAll()
	return a.closeOwned()
}

func (a *Authenticator) closeOwned() error {
	var errs []error
	if a.ownCred && a.cred != nil {
		errs = append(errs, a.cred.Close())
	}
	if a.ownEng && a.eng != nil {
		errs = append(errs, a.eng.Close())
	}
	return errors.Join(errs...)
}

// Identity is an authenticated client, as a protected handler finds it in
// its request's context (IdentityFromContext).
type Identity struct {
	// Name is the client: "alice@EXAMPLE.COM" (Kerberos) or
	// `EXAMPLE\alice` (NTLM).
	Name string
	// Package is the security package that authenticated it: "Kerberos"
	// or "NTLM".
	Package string
	// Scheme is the HTTP scheme it used: SchemeNegotiate or SchemeNTLM.
	Scheme string
	// Bound reports that the authentication belongs to the connection:
	// its later requests are served as this client without a token.
	Bound bool
	// Expiry is when the authentication ends (the Kerberos ticket's end
	// time); zero when it does not.
	Expiry time.Time
	// Context is the server's security context, for per-message
	// protection (Seal, Open, Sign, Verify) and the session key. It is
	// usable while the request is served; the Authenticator closes it
	// after the handler returns (a bound one, when the connection closes,
	// is hijacked or authenticates again). Do not Step or Close it.
	Context *asyncsspi.SecurityContext
}

// DelegatedCredential returns a client credential that acts as this
// client, made from the Kerberos TGT it delegated (a client that asked
// for delegation: httpauth.WithDelegation, curl --delegation always), so
// that the handler can call another service as the user:
//
//	cred, err := id.DelegatedCredential()
//	if err != nil { ... } // SEC_E_NO_CREDENTIALS: nothing was delegated
//	defer cred.Close()
//	tr := httpauth.NewTransport(httpauth.WithClientCredential(cred))
//	defer tr.Close()
//	resp, err := (&http.Client{Transport: tr}).Get("http://upstream.example.com/")
//
// It is asyncsspi.SecurityContext.DelegatedCredential of the request's
// context: a Negotiate credential over Kerberos alone, acquired on the
// Authenticator's engine (its handshakes run there), which the caller owns
// and closes; it may outlive the request. Each call acquires a new one.
// NTLM cannot delegate (SEC_E_UNSUPPORTED_FUNCTION).
func (id *Identity) DelegatedCredential() (*asyncsspi.Credential, error) {
	if id == nil || id.Context == nil {
		return nil, status.Errorf(status.SEC_E_NO_CONTEXT, "", "httpauth: the identity has no security context")
	}
	return id.Context.DelegatedCredential()
}

type identityKey struct{}

// IdentityFromContext returns the client a protected handler's request
// was authenticated as.
func IdentityFromContext(ctx context.Context) (*Identity, bool) {
	id, ok := ctx.Value(identityKey{}).(*Identity)
	return id, ok && id != nil
}

// Wrap returns next protected: a request reaches next only once
// authenticated, with its Identity in the request's context; anything else
// is answered 401 with WWW-Authenticate challenges (or 503 with
// Retry-After when the engine or the handshake table is full).
func (a *Authenticator) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { a.serve(next, w, r) })
}

// serve is the middleware's one entry.
func (a *Authenticator) serve(next http.Handler, w http.ResponseWriter, r *http.Request) {
	cs := a.conns.lookup(r)
	if len(r.Header.Values("Authorization")) == 0 {
		if id := a.conns.bound(cs); id != nil {
			a.serveAs(next, w, r, id)
			return
		}
		a.challenge(w, cs)
		return
	}
	// A token ends what the connection had: the handshake in progress
	// goes on with it, or a new one begins, and the connection is no
	// longer authenticated unless that handshake succeeds.
	hs := a.conns.take(cs)

	authz, err := ParseAuthorization(r.Header, a.maxToken)
	switch {
	case authz.Scheme != "" && !contains(a.schemes, authz.Scheme):
		a.refuse(w, r, cs, hs, authz.Scheme, nil, fmt.Errorf("unknown scheme %q (offered: %s)", authz.Scheme, strings.Join(a.schemes, ", ")))
		return
	case err != nil:
		a.refuse(w, r, cs, hs, authz.Scheme, nil, err)
		return
	case authz.Scheme == SchemeNTLM && !isNTLMSSP(authz.Token):
		a.refuse(w, r, cs, hs, authz.Scheme, nil, errors.New("NTLM scheme with a token that is not an NTLMSSP message"))
		return
	}
	if hs != nil && hs.scheme != authz.Scheme {
		// The client started over with the other scheme.
		hs.close()
		hs = nil
	}
	if hs == nil {
		sc, err := a.cred.NewServerContext(a.ctxOpts...)
		if err != nil {
			a.unavailable(w, r, authz.Scheme, err)
			return
		}
		hs = &handshake{sc: sc, scheme: authz.Scheme}
	}
	out, done, err := a.leg(r.Context(), hs.sc, authz.Token)
	switch {
	case errors.Is(err, errUnavailable):
		hs.close()
		a.unavailable(w, r, hs.scheme, err)
	case errors.Is(err, errClientGone):
		hs.close()
	case err != nil:
		a.refuse(w, r, cs, hs, hs.pkgOf(err), out, err)
	case !done:
		a.continueHandshake(w, r, cs, hs, out)
	default:
		a.established(next, w, r, cs, hs, out)
	}
}

var (
	errUnavailable = errors.New("the engine cannot take the leg now")
	errClientGone  = errors.New("the client went away")
)

// leg runs one leg on the engine without blocking it: Start returns at
// once, and a full engine is an answer (errUnavailable), not a wait. The
// request waits for its leg under its context and the leg timeout; the
// engine's workers never wait for the request. A leg the request stops
// waiting for is left to the caller's close, which cancels it without
// waiting: a mechanism step already running is not interrupted.
func (a *Authenticator) leg(ctx context.Context, sc *asyncsspi.SecurityContext, in []byte) ([]byte, bool, error) {
	if err := sc.Start(in); err != nil {
		if errors.Is(err, async.StatusQueueFull) || errors.Is(err, async.StatusClosed) {
			return nil, false, fmt.Errorf("%w: %w", errUnavailable, err)
		}
		return nil, false, err
	}
	timer := time.NewTimer(a.legTimeout)
	defer timer.Stop()
	select {
	case <-sc.Done():
		out, done, err := sc.Result()
		if errors.Is(err, async.StatusClosed) {
			err = fmt.Errorf("%w: %w", errUnavailable, err)
		}
		return out, done, err
	case <-ctx.Done():
		return nil, false, fmt.Errorf("%w: %w", errClientGone, context.Cause(ctx))
	case <-timer.C:
		return nil, false, fmt.Errorf("%w: the leg took longer than %v", errUnavailable, a.legTimeout)
	}
}

// continueHandshake answers a leg that needs another: the connection
// keeps the handshake for its next request.
func (a *Authenticator) continueHandshake(w http.ResponseWriter, r *http.Request, cs *connState, hs *handshake, out []byte) {
	if cs == nil {
		hs.close()
		a.refuse(w, r, nil, nil, hs.pkg(), nil, errors.New("the handshake needs another leg on the same connection, and this request has no connection state (HTTP/2, or Authenticator.Install was not called on the http.Server)"))
		return
	}
	if err := a.conns.put(cs, hs); err != nil {
		hs.close()
		a.unavailable(w, r, hs.pkg(), err)
		return
	}
	h := w.Header()
	h.Set("WWW-Authenticate", hs.scheme+" "+base64.StdEncoding.EncodeToString(out))
	writeStatus(w, http.StatusUnauthorized)
}

// established serves an authenticated request: the final token (the
// AP-REP of mutual authentication, SPNEGO's accept-completed) goes on the
// handler's response, set before the handler can write its header.
func (a *Authenticator) established(next http.Handler, w http.ResponseWriter, r *http.Request, cs *connState, hs *handshake, out []byte) {
	sc := hs.sc
	id := &Identity{
		Name:    sc.ClientName(),
		Package: sc.Package(),
		Scheme:  hs.scheme,
		Expiry:  sc.Expiry(),
		Context: sc,
	}
	if len(out) > 0 {
		w.Header().Set("WWW-Authenticate", hs.scheme+" "+base64.StdEncoding.EncodeToString(out))
	}
	bind := cs != nil && (a.binding == BindAll || (a.binding == BindNTLM && strings.EqualFold(id.Package, ntlm.PackageName)))
	if bind {
		id.Bound = a.conns.bind(cs, id)
	}
	a.log.LogAttrs(r.Context(), slog.LevelInfo, "httpauth: authenticated",
		slog.String("user", id.Name), slog.String("package", id.Package), slog.String("scheme", id.Scheme),
		slog.String("remote", r.RemoteAddr), slog.Bool("bound", id.Bound))
	if !id.Bound {
		defer sc.Close()
	}
	a.serveAs(next, w, r, id)
}

func (a *Authenticator) serveAs(next http.Handler, w http.ResponseWriter, r *http.Request, id *Identity) {
	next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), identityKey{}, id)))
}

// challenge answers 401 with the offered schemes; NTLM is offered only
// to a request with connection state (its handshake needs a connection).
func (a *Authenticator) challenge(w http.ResponseWriter, cs *connState) {
	h := w.Header()
	for _, s := range a.schemes {
		if s == SchemeNTLM && cs == nil {
			continue
		}
		h.Add("WWW-Authenticate", s)
	}
	writeStatus(w, http.StatusUnauthorized)
}

// refuse answers 401 to a failed authentication, with the package's error
// token (a KRB-ERROR, asked with ASC_REQ_EXTENDED_ERROR) when it made one,
// else with the offers again, and logs one line.
func (a *Authenticator) refuse(w http.ResponseWriter, r *http.Request, cs *connState, hs *handshake, pkg string, errTok []byte, cause error) {
	if hs != nil {
		hs.close()
	}
	a.log.LogAttrs(r.Context(), slog.LevelWarn, "httpauth: authentication refused",
		slog.String("package", pkg), slog.String("remote", r.RemoteAddr),
		slog.Int("status", http.StatusUnauthorized), slog.String("cause", cause.Error()))
	if len(errTok) > 0 && hs != nil {
		w.Header().Set("WWW-Authenticate", hs.scheme+" "+base64.StdEncoding.EncodeToString(errTok))
		writeStatus(w, http.StatusUnauthorized)
		return
	}
	a.challenge(w, cs)
}

// unavailable answers 503 with Retry-After: the engine is full or closed,
// the leg took too long, or too many handshakes are in progress.
func (a *Authenticator) unavailable(w http.ResponseWriter, r *http.Request, pkg string, cause error) {
	a.log.LogAttrs(r.Context(), slog.LevelWarn, "httpauth: authentication unavailable",
		slog.String("package", pkg), slog.String("remote", r.RemoteAddr),
		slog.Int("status", http.StatusServiceUnavailable), slog.String("cause", cause.Error()))
	w.Header().Set("Retry-After", retryAfter)
	writeStatus(w, http.StatusServiceUnavailable)
}

func writeStatus(w http.ResponseWriter, code int) {
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	fmt.Fprintln(w, code, http.StatusText(code))
}

// handshake is an unfinished (or just finished) server context and the
// scheme it speaks.
type handshake struct {
	sc       *asyncsspi.SecurityContext
	scheme   string
	deadline time.Time // set while kept by a connection (conns.mu)
}

// pkg names the package for a log line: the one Negotiate chose, once it
// has.
func (hs *handshake) pkg() string { return hs.pkgOf(nil) }

// pkgOf prefers the package a failure names.
func (hs *handshake) pkgOf(err error) string {
	for e := err; e != nil; e = errors.Unwrap(e) {
		if se, ok := e.(*status.Error); ok && se.Mech != "" && !strings.EqualFold(se.Mech, negotiate.PackageName) {
			return se.Mech
		}
	}
	if p := hs.sc.Package(); p != "" && !strings.EqualFold(p, negotiate.PackageName) {
		return p
	}
	return hs.scheme
}

// close deletes the context; a leg still pending is cancelled, and a
// handle it issues deleted when it completes (SecurityContext.Close).
func (hs *handshake) close() { hs.sc.Close() }

// isNTLMSSP reports whether tok starts with the NTLMSSP signature
// (MS-NLMP 2.2.1).
func isNTLMSSP(tok []byte) bool {
	return len(tok) >= 8 && string(tok[:8]) == "NTLMSSP\x00"
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}
