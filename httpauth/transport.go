package httpauth

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/asyncsspi/asyncsspi"
	"github.com/asyncsspi/asyncsspi/status"
)

// The HTTP authentication schemes a Transport answers, as
// WithClientSchemes names them.
const (
	// schemeNegotiate is RFC 4559's scheme: SPNEGO tokens, Kerberos
	// preferred, NTLM as the fallback.
	schemeNegotiate = "Negotiate"
	// schemeNTLM carries raw NTLM messages (MS-NTHT).
	schemeNTLM = "NTLM"
	// schemeKerberos carries raw Kerberos GSS tokens (RFC 4121), as a
	// few servers offer it.
	schemeKerberos = "Kerberos"
)

// Transport is an http.RoundTripper that answers HTTP authentication
// challenges with Negotiate, Kerberos or NTLM, running each leg on an
// asyncsspi engine: a 401 with WWW-Authenticate from the server, and a
// 407 with Proxy-Authenticate from an HTTP proxy.
//
// A client in one line, with the credentials of the environment (the
// Kerberos ticket cache of KRB5CCNAME and the NTLM account of
// NTLM_USER_FILE, see asyncsspi.FromEnvironment):
//
//	client := &http.Client{Transport: httpauth.NewTransport()}
//
// # What a request goes through
//
// A request is sent as it is. When the answer is a 401 (or 407) whose
// challenges name a scheme the Transport answers (Negotiate, then
// Kerberos, then NTLM, or the order of WithClientSchemes), the Transport
// acquires its credential for that scheme (once, on first need; a clear
// error wrapping SEC_E_NO_CREDENTIALS when there is none), starts a
// security context for the server's service principal name, "HTTP/host"
// (see WithSPNPort and WithCanonicalHost), and sends the request again
// with each token the context gives, until the server answers with
// something other than a 401 (or 407) naming the scheme with a token.
// Challenges are read with RFC 7235's list syntax, from one header field
// or several. A 401 with no scheme the Transport answers, or a 401 after
// its last token (the server refused), is returned as it is: the
// Transport never loops.
//
// The request body is sent again with Request.GetBody (http.NewRequest
// sets it for in-memory bodies). When the server asks for authentication
// and the body cannot be sent again, RoundTrip fails with
// ErrBodyNotReplayable: a body is never sent twice from one reader.
//
// # Connections
//
// NTLM authenticates the connection, not the request, so every handshake
// runs on a connection of its own that the Transport controls: a clone
// of the base *http.Transport allowed one HTTP/1.1 connection, leased by
// the request until its response body is read or closed. A connection
// that NTLM authenticated is kept (up to WithMaxConnsPerHost per host,
// WithMaxHosts hosts) and offered first to that host's later requests,
// which then go without a handshake. Kerberos authenticates every request
// anew (a new context, a new AP-REQ from the cached service ticket).
// When the base RoundTripper is not an *http.Transport, no connection can
// be pinned and NTLM relies on the base keeping the connection, as other
// clients do.
//
// # Mutual authentication and channel bindings
//
// By default the Transport asks for mutual authentication
// (ISC_REQ_MUTUAL_AUTH) and checks the server's final token (RFC 4559
// section 5: "WWW-Authenticate: Negotiate <token>" on the response that
// ends the handshake). When Kerberos did the handshake, a response whose
// final token is missing or does not verify is refused: RoundTrip closes
// its body and returns an error that wraps SEC_E_MUTUAL_AUTH_FAILED (or
// the status of the failed check), and the connection is closed. A final
// token that fails to verify is refused for NTLM too (a bad
// mechListMIC); NTLM itself never proves the server, so an NTLM response
// is accepted without one. A proxy's final token is checked when the
// proxy sends one; RFC 7235 allows Proxy-Authenticate only on a 407, so
// its absence is accepted. AuthenticationOf tells how a response was
// authenticated, and whether the server was verified.
//
// Over HTTPS the context is bound to the TLS connection with
// tls-server-end-point channel bindings (RFC 5929, what Windows sends for
// Extended Protection), computed from the certificate of the response
// that carried the challenge; WithChannelBindings(false) leaves them out.
//
// # Proxies
//
// A 407 from the proxy of the base transport is answered as a 401 is,
// with "HTTP/proxyhost" as the target, for plain-HTTP requests (which
// go to the proxy with the absolute URL). For HTTPS through a proxy, Go's
// transport sends the CONNECT itself, and a 407 answer to it reaches
// RoundTrip only as an error from the base transport: the Transport does
// not authenticate CONNECT (set http.Transport.GetProxyConnectHeader for
// a single-leg scheme, or use a proxy that does not ask).
//
// # Redirects
//
// Each request of a redirect chain is authenticated on its own, for its
// own host: the Transport never copies a token or an Authorization
// header from one host to another (and http.Client never sees the
// headers it adds). A request that carries its own Authorization header
// is passed to the base as it is; one that carries its own
// Proxy-Authorization gets its 407 back as it is.
//
// # Replacing gokrb5's spnego.Client or go-ntlmssp's Negotiator
//
// Where gokrb5 is used as
//
//	cl := client.NewWithPassword(user, realm, password, cfg)
//	resp, err := spnego.NewClient(cl, nil, "").Do(req)
//
// write
//
//	t := httpauth.NewTransport(httpauth.WithClientSource(asyncsspi.KerberosPassword(user+"@"+realm, password)))
//	resp, err := (&http.Client{Transport: t}).Do(req)
//
// (a keytab or ccache client: asyncsspi.KerberosKeytab, KerberosCCache).
// The Transport reads krb5.conf from KRB5_CONFIG; spnego.Client's
// explicit SPN is WithSPN. Where go-ntlmssp is used as
//
//	client := &http.Client{Transport: ntlmssp.Negotiator{RoundTripper: base}}
//	req.SetBasicAuth(`DOMAIN\user`, password)
//
// write
//
//	client := &http.Client{Transport: httpauth.NewTransport(
//		httpauth.WithBase(base),
//		httpauth.WithClientSource(asyncsspi.NTLMPassword("DOMAIN", "user", password)))}
//
// and drop SetBasicAuth: the credential belongs to the Transport, not to
// each request (a request that still carries an Authorization header is
// sent as it is). Unlike both, the Transport keeps NTLM on one connection,
// verifies the server's final token, and sends channel bindings.
//
// # Goroutines and closing
//
// The Transport starts no goroutine of its own; its pinned connections
// have net/http's, as any connection does, and CloseIdleConnections
// closes the idle ones. The engine it runs handshakes on has goroutines:
// a Transport made without WithClientEngine makes its own engine on
// first need and closes it (with the credentials it acquired) on Close,
// or on CloseIdleConnections once no handshake is in flight, so that
// http.Client.CloseIdleConnections releases everything; the next
// handshake starts a new one. An engine or credential given with
// WithClientEngine or WithClientCredential belongs to the caller and is
// never closed.
//
// A Transport is safe for concurrent use by multiple goroutines.
type Transport struct {
	base     http.RoundTripper
	pool     *pinPool // nil when base is not an *http.Transport
	proxy    func(*http.Request) (*url.URL, error)
	schemes  []string
	mutual   bool
	delegate bool
	bindings bool
	spnPort  bool
	spnFunc  func(host string) string
	resolver *net.Resolver // non-nil: canonicalise host names with it
	log      *slog.Logger

	src     asyncsspi.Source
	hasSrc  bool
	given   map[string]*asyncsspi.Credential // by scheme; the caller's
	userEng *asyncsspi.Engine

	mu        sync.Mutex // guards the fields below
	eng       *asyncsspi.Engine
	creds     map[string]*asyncsspi.Credential // by scheme; ours
	inflight  int                              // handshakes running
	closeIdle bool                             // close eng and creds when inflight reaches 0
}

// TransportOption configures NewTransport.
type TransportOption func(*transportConfig)

type transportConfig struct {
	base     http.RoundTripper
	src      *asyncsspi.Source
	creds    []*asyncsspi.Credential
	eng      *asyncsspi.Engine
	schemes  []string
	mutual   bool
	delegate bool
	bindings bool
	spnPort  bool
	spnFunc  func(string) string
	resolver *net.Resolver
	maxHosts int
	perHost  int
	log      *slog.Logger
}

// WithBase sets the RoundTripper requests go through (default: a clone of
// http.DefaultTransport). When it is an *http.Transport, handshakes run
// on single-connection clones of it (see the Transport's comment); its
// Proxy, dialer and TLS settings apply to them.
func WithBase(rt http.RoundTripper) TransportOption { return func(o *transportConfig) { o.base = rt } }

// WithClientSource sets where the Transport's credentials come from (default
// asyncsspi.FromEnvironment()). For the Negotiate scheme it acquires src
// itself (or asyncsspi.Negotiate(src) for a single-package source); for
// the NTLM and Kerberos schemes, src.ClientPart of that package.
func WithClientSource(src asyncsspi.Source) TransportOption {
	return func(o *transportConfig) { o.src = &src }
}

// WithClientCredential gives the Transport credentials already acquired, each
// answering the scheme of its package: a Negotiate credential the
// Negotiate scheme, an NTLM one NTLM, a Kerberos one Kerberos. They stay
// the caller's (the Transport never closes them). Schemes without a
// credential here are answered from WithClientSource when it is given too, and
// not at all otherwise.
func WithClientCredential(creds ...*asyncsspi.Credential) TransportOption {
	return func(o *transportConfig) { o.creds = append(o.creds, creds...) }
}

// WithClientEngine runs handshakes on e, which the caller owns and closes,
// instead of an engine of the Transport's own.
func WithClientEngine(e *asyncsspi.Engine) TransportOption {
	return func(o *transportConfig) { o.eng = e }
}

// WithClientSchemes sets the schemes the Transport answers, in order of
// preference (default Negotiate, Kerberos, NTLM): when a server offers
// several, the first of this list it offers is used.
func WithClientSchemes(schemes ...string) TransportOption {
	return func(o *transportConfig) { o.schemes = append([]string(nil), schemes...) }
}

// WithMutualAuth sets whether the server must prove itself (default
// true): with Kerberos, a response whose final token is missing or does
// not verify is refused. false neither asks for nor checks it.
func WithMutualAuth(required bool) TransportOption {
	return func(o *transportConfig) { o.mutual = required }
}

// WithDelegation asks Kerberos to delegate the client's TGT to the server
// (ISC_REQ_DELEGATE, curl's --delegation always). Only for servers
// trusted to act as the user.
func WithDelegation() TransportOption { return func(o *transportConfig) { o.delegate = true } }

// WithChannelBindings sets whether handshakes over HTTPS carry
// tls-server-end-point channel bindings (default true).
func WithChannelBindings(send bool) TransportOption {
	return func(o *transportConfig) { o.bindings = send }
}

// WithSPNPort puts the port in the service principal name when the URL's
// port is not the scheme's default: "HTTP/host:8080", as Windows does
// for services registered with their port.
func WithSPNPort() TransportOption { return func(o *transportConfig) { o.spnPort = true } }

// WithCanonicalHost replaces the host name by its canonical name (its
// CNAME target) before making the SPN, as MIT's dns_canonicalize_hostname
// and curl do; r nil uses net.DefaultResolver. An IP address, or a name
// whose lookup fails, is used as it is. Off by default: DNS decides the
// service name only where the administrator chose so.
func WithCanonicalHost(r *net.Resolver) TransportOption {
	return func(o *transportConfig) {
		if r == nil {
			r = net.DefaultResolver
		}
		o.resolver = r
	}
}

// WithSPN makes the service principal name with f from the host name
// (after WithCanonicalHost, with the port when WithSPNPort), instead of
// "HTTP/" + host; gokrb5's spnego.NewClient spn argument, for example.
func WithSPN(f func(host string) string) TransportOption {
	return func(o *transportConfig) { o.spnFunc = f }
}

// WithMaxConnsPerHost bounds the pinned connections kept and leased per
// host (default 8): a handshake beyond it waits for one to come back.
func WithMaxConnsPerHost(n int) TransportOption { return func(o *transportConfig) { o.perHost = n } }

// WithMaxHosts bounds the hosts whose pinned connections are kept
// (default 64).
func WithMaxHosts(n int) TransportOption { return func(o *transportConfig) { o.maxHosts = n } }

// WithClientLogger sets where the Transport logs its handshakes (Debug) and
// refusals (Warn). Default: slog.Default().
func WithClientLogger(l *slog.Logger) TransportOption { return func(o *transportConfig) { o.log = l } }

// NewTransport returns a Transport (see its comment for what it does and
// what it owns).
func NewTransport(opts ...TransportOption) *Transport {
	o := transportConfig{mutual: true, bindings: true, maxHosts: 64, perHost: 8}
	for _, f := range opts {
		f(&o)
	}
	if o.base == nil {
		if dt, ok := http.DefaultTransport.(*http.Transport); ok {
			o.base = dt.Clone()
		} else {
			o.base = http.DefaultTransport
		}
	}
	if o.log == nil {
		o.log = slog.Default()
	}
	if len(o.schemes) == 0 {
		o.schemes = []string{schemeNegotiate, schemeKerberos, schemeNTLM}
	}
	t := &Transport{
		base: o.base, mutual: o.mutual, delegate: o.delegate, bindings: o.bindings,
		spnPort: o.spnPort, spnFunc: o.spnFunc, resolver: o.resolver, log: o.log,
		userEng: o.eng, creds: map[string]*asyncsspi.Credential{}, given: map[string]*asyncsspi.Credential{},
	}
	for _, s := range o.schemes {
		if c := clientScheme(s); c != "" && !containsFold(t.schemes, c) {
			t.schemes = append(t.schemes, c)
		}
	}
	for _, c := range o.creds {
		if c == nil {
			continue
		}
		switch c.Package() {
		case "Negotiate":
			t.given[schemeNegotiate] = c
		case "NTLM":
			t.given[schemeNTLM] = c
		case "Kerberos":
			t.given[schemeKerberos] = c
		}
	}
	switch {
	case o.src != nil:
		t.src, t.hasSrc = *o.src, true
	case len(o.creds) == 0:
		t.src, t.hasSrc = asyncsspi.FromEnvironment(), true
	}
	if ht, ok := o.base.(*http.Transport); ok {
		t.pool = newPinPool(ht, max(o.maxHosts, 1), max(o.perHost, 1))
		t.proxy = ht.Proxy
	}
	return t
}

// canonicalScheme is the Transport's spelling of a scheme it answers, ""
// for another.
func clientScheme(s string) string {
	for _, c := range []string{schemeNegotiate, schemeNTLM, schemeKerberos} {
		if strings.EqualFold(s, c) {
			return c
		}
	}
	return ""
}

// ErrBodyNotReplayable is returned (wrapped) when a server asks for
// authentication and the request's body cannot be sent again: it has a
// Body but no GetBody. Give the request a GetBody (http.NewRequest does
// for *bytes.Buffer, *bytes.Reader and *strings.Reader bodies), or send a
// body-less request to the host first.
var ErrBodyNotReplayable = errors.New("httpauth: the server asks for authentication and the request body cannot be sent again (the request has no GetBody)")

// RoundTrip sends req, authenticating it as its Transport's comment says.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL == nil {
		closeBody(req)
		return nil, errors.New("httpauth: nil Request.URL")
	}
	if req.Header.Get("Authorization") != "" {
		return t.base.RoundTrip(req)
	}
	key := t.hostKey(req)
	if t.pool != nil {
		if pc := t.pool.takeAuthenticated(key); pc != nil {
			return t.exchange(req, pc, nil, false)
		}
	}
	resp, err := t.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	if !t.challenged(req, resp) {
		return resp, nil
	}
	if !replayable(req) {
		drain(resp)
		return nil, fmt.Errorf("%w: %s %s", ErrBodyNotReplayable, req.Method, redact(req.URL))
	}
	var pc *pinConn
	if t.pool != nil {
		if pc, err = t.pool.lease(req.Context(), key); err != nil {
			drain(resp)
			return nil, fmt.Errorf("httpauth: waiting for a connection to %s: %w", req.URL.Host, err)
		}
		if pc.origin.ok() && resp.StatusCode == http.StatusUnauthorized || pc.proxy.ok() && resp.StatusCode == http.StatusProxyAuthRequired {
			// A connection authenticated by another request's
			// handshake came back while this one waited: try it
			// before a handshake of its own.
			drain(resp)
			return t.exchange(req, pc, nil, true)
		}
	}
	return t.exchange(req, pc, resp, true)
}

// CloseIdleConnections closes the base's idle connections and every idle
// pinned one (forgetting what they were authenticated as), and, once no
// handshake is in flight, the credentials the Transport acquired and the
// engine it made.
func (t *Transport) CloseIdleConnections() {
	if ci, ok := t.base.(interface{ CloseIdleConnections() }); ok {
		ci.CloseIdleConnections()
	}
	if t.pool != nil {
		t.pool.closeIdle()
	}
	t.mu.Lock()
	if t.inflight > 0 {
		t.closeIdle = true
		t.mu.Unlock()
		return
	}
	eng, creds := t.takeResources()
	t.mu.Unlock()
	closeResources(eng, creds)
}

// Close is CloseIdleConnections that does not wait for handshakes in
// flight: the Transport's own engine is closed at once (a handshake in
// flight fails with the engine's status) and its goroutines waited for.
// The Transport stays usable: a later handshake starts a new engine.
func (t *Transport) Close() error {
	if ci, ok := t.base.(interface{ CloseIdleConnections() }); ok {
		ci.CloseIdleConnections()
	}
	if t.pool != nil {
		t.pool.closeIdle()
	}
	t.mu.Lock()
	eng, creds := t.takeResources()
	t.closeIdle = false
	t.mu.Unlock()
	return closeResources(eng, creds)
}

// takeResources hands over the engine (when it is ours) and the
// credentials the Transport acquired, to be closed. t.mu is held.
func (t *Transport) takeResources() (*asyncsspi.Engine, []*asyncsspi.Credential) {
	var creds []*asyncsspi.Credential
	for s, c := range t.creds {
		creds = append(creds, c)
		delete(t.creds, s)
	}
	var eng *asyncsspi.Engine
	if t.eng != nil && t.eng != t.userEng {
		eng = t.eng
	}
	t.eng = nil
	t.closeIdle = false
	return eng, creds
}

func closeResources(eng *asyncsspi.Engine, creds []*asyncsspi.Credential) error {
	var errs []error
	for _, c := range creds {
		if err := c.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	if eng != nil {
		if err := eng.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// begin and end bracket a handshake: the engine and credentials are not
// closed by CloseIdleConnections while one runs.
func (t *Transport) begin() {
	t.mu.Lock()
	t.inflight++
	t.mu.Unlock()
}

func (t *Transport) end() {
	t.mu.Lock()
	t.inflight--
	if t.inflight > 0 || !t.closeIdle {
		t.mu.Unlock()
		return
	}
	eng, creds := t.takeResources()
	t.mu.Unlock()
	closeResources(eng, creds)
}

// credential returns the credential that answers scheme, acquiring it on
// first need (and again once it has expired).
func (t *Transport) credential(scheme string) (*asyncsspi.Credential, error) {
	if c := t.given[scheme]; c != nil {
		return c, nil
	}
	if !t.hasSrc {
		return nil, status.Errorf(status.SEC_E_NO_CREDENTIALS, scheme, "httpauth: no credential for the "+scheme+" scheme was given")
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if c := t.creds[scheme]; c != nil {
		if exp := c.Expiry(); exp.IsZero() || time.Now().Before(exp) {
			return c, nil
		}
		// Expired (a ticket cache's TGT): acquire again; contexts made
		// from the old one keep working.
		c.Close()
		delete(t.creds, scheme)
	}
	src, err := t.sourceFor(scheme)
	if err != nil {
		return nil, err
	}
	if t.eng == nil {
		if t.userEng != nil {
			t.eng = t.userEng
		} else {
			t.eng = asyncsspi.New(asyncsspi.WithLogger(t.log))
		}
	}
	c, err := t.eng.ClientCredential(src)
	if err != nil {
		return nil, fmt.Errorf("httpauth: no credentials to answer %s from %s: %w", scheme, src, err)
	}
	t.creds[scheme] = c
	return c, nil
}

func (t *Transport) sourceFor(scheme string) (asyncsspi.Source, error) {
	if scheme == schemeNegotiate {
		if t.src.Package() == "Negotiate" {
			return t.src, nil
		}
		return asyncsspi.Negotiate(t.src), nil
	}
	part, ok := t.src.ClientPart(scheme) // the scheme names its package
	if !ok {
		return asyncsspi.Source{}, status.Errorf(status.SEC_E_NO_CREDENTIALS, scheme, "httpauth: "+t.src.String()+" has no "+scheme+" part")
	}
	return part, nil
}

// answerable reports whether the Transport may answer scheme.
func (t *Transport) answerable(scheme string) bool {
	return containsFold(t.schemes, scheme) && (t.hasSrc || t.given[scheme] != nil)
}

// challenged reports whether resp asks for authentication in a scheme the
// Transport answers. A 407 for a request that carries its own
// Proxy-Authorization is the caller's.
func (t *Transport) challenged(req *http.Request, resp *http.Response) bool {
	var name string
	switch resp.StatusCode {
	case http.StatusUnauthorized:
		name = "WWW-Authenticate"
	case http.StatusProxyAuthRequired:
		if req.Header.Get("Proxy-Authorization") != "" {
			return false
		}
		name = "Proxy-Authenticate"
	default:
		return false
	}
	cs, _ := ParseChallenges(resp.Header, name)
	return t.choose(cs) != ""
}

// choose returns the first scheme of the Transport's preference that cs
// offers, "" when none.
func (t *Transport) choose(cs []Challenge) string {
	for _, s := range t.schemes {
		if !t.answerable(s) {
			continue
		}
		for _, c := range cs {
			if strings.EqualFold(c.Scheme, s) {
				return s
			}
		}
	}
	return ""
}

// hostKey names the pinned-connection set of req's host: the proxy (when
// the base sends req through one), the URL scheme and the host with its
// port.
func (t *Transport) hostKey(req *http.Request) string {
	var proxy string
	if t.proxy != nil {
		if u, err := t.proxy(req); err == nil && u != nil {
			proxy = u.String()
		}
	}
	return proxy + "|" + strings.ToLower(req.URL.Scheme) + "://" + hostPort(req.URL)
}

func hostPort(u *url.URL) string {
	host, port := u.Hostname(), u.Port()
	if port == "" {
		port = defaultPort(u.Scheme)
	}
	return net.JoinHostPort(strings.ToLower(host), port)
}

func defaultPort(scheme string) string {
	if strings.EqualFold(scheme, "https") {
		return "443"
	}
	return "80"
}

// replayable reports whether req's body can be sent again.
func replayable(req *http.Request) bool {
	return req.Body == nil || req.Body == http.NoBody || req.GetBody != nil
}

func closeBody(req *http.Request) {
	if req.Body != nil {
		req.Body.Close()
	}
}

// maxDrain bounds what is read of a 401 or 407 body before the request is
// sent again: reading it to the end keeps the connection (which NTLM
// needs); a larger body is closed, and the connection with it.
const maxDrain = 256 << 10

func drain(resp *http.Response) {
	io.Copy(io.Discard, io.LimitReader(resp.Body, maxDrain))
	resp.Body.Close()
}

// redact is the URL without its user information and query, for errors.
func redact(u *url.URL) string {
	c := *u
	c.User = nil
	c.RawQuery = ""
	c.ForceQuery = false
	return c.String()
}

func containsFold(l []string, s string) bool {
	for _, x := range l {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}
