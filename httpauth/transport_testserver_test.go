package httpauth_test

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/asyncsspi/asyncsspi"
	"github.com/asyncsspi/asyncsspi/async"
	secctx "github.com/asyncsspi/asyncsspi/context"
	"github.com/asyncsspi/asyncsspi/mechs/kerberos"
	"github.com/asyncsspi/asyncsspi/mechs/ntlm"
)

// A small HTTP server that authenticates with our own acceptor, for the
// failure cases real servers do not produce on demand (a forged or absent
// final token, a 401 after the final token, strict per-connection NTLM).
// It checks only our two halves against each other; the tests against
// internal/httppeer (MIT) are the proof of interoperability.

const (
	aliceDomain   = "EXAMPLE"
	aliceUser     = "alice"
	alicePassword = "Pa55word!"
)

func aliceStore() *ntlm.MemoryStore {
	s := ntlm.NewMemoryStore()
	s.AddPassword(aliceDomain, aliceUser, alicePassword)
	return s
}

// reply is what authLayer answers an authenticated request with.
type layerReply struct {
	User   string `json:"user"`
	Pkg    string `json:"pkg"`
	Conn   int64  `json:"conn"`
	Method string `json:"method"`
	Body   string `json:"body"`
	Proxy  string `json:"proxy,omitempty"` // who the proxy layer authenticated
}

// layerSeen is one request as a layer saw it.
type layerSeen struct {
	Conn   int64
	Scheme string // of the Authorization (or Proxy-Authorization) header, "" none
	Body   string
	Status int
}

// authLayer authenticates requests as a server (401) or a proxy (407)
// with our acceptor, keeping one security context per connection.
type authLayer struct {
	proxy  bool
	cred   *asyncsspi.Credential
	scheme string // "Negotiate", "NTLM" or "Kerberos"
	// challenges is the challenge header as sent on a first 401 (or
	// 407); default just the scheme.
	challenges []string
	// bindings, when set, are given to every server context.
	bindings *secctx.ChannelBindings
	// persist: a connection NTLM authenticated stays authenticated.
	persist bool
	// final rewrites the final token (nil: as it is); returning nil
	// leaves it out.
	final func([]byte) []byte
	// refuseFinal answers 401 (with the scheme alone) to the last
	// token even though it verified.
	refuseFinal bool
	// next serves authenticated requests; nil writes a reply.
	next http.Handler

	mu     sync.Mutex
	states map[int64]*layerConn
	log    []layerSeen
}

type layerConn struct {
	sc   *asyncsspi.SecurityContext
	user string
	pkg  string
}

type layerConnKey struct{}

func layerConnID(ctx context.Context) int64 {
	id, _ := ctx.Value(layerConnKey{}).(int64)
	return id
}

func (l *authLayer) record(s layerSeen) {
	l.mu.Lock()
	l.log = append(l.log, s)
	l.mu.Unlock()
}

func (l *authLayer) requests() []layerSeen {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]layerSeen(nil), l.log...)
}

func (l *authLayer) names() (authz, chal string, code int) {
	if l.proxy {
		return "Proxy-Authorization", "Proxy-Authenticate", http.StatusProxyAuthRequired
	}
	return "Authorization", "WWW-Authenticate", http.StatusUnauthorized
}

func (l *authLayer) state(id int64) *layerConn {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.states == nil {
		l.states = map[int64]*layerConn{}
	}
	s := l.states[id]
	if s == nil {
		s = &layerConn{}
		l.states[id] = s
	}
	return s
}

// forget closes the connection's context.
func (l *authLayer) forget(id int64) {
	l.mu.Lock()
	s := l.states[id]
	delete(l.states, id)
	l.mu.Unlock()
	if s != nil && s.sc != nil {
		s.sc.Close()
	}
}

func (l *authLayer) closeAll() {
	l.mu.Lock()
	ids := make([]int64, 0, len(l.states))
	for id := range l.states {
		ids = append(ids, id)
	}
	l.mu.Unlock()
	for _, id := range ids {
		l.forget(id)
	}
}

func (l *authLayer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	id := layerConnID(r.Context())
	authzName, chalName, code := l.names()
	body, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(strings.NewReader(string(body)))
	st := l.state(id)
	authz := r.Header.Get(authzName)
	scheme, tok, _ := strings.Cut(authz, " ")
	rec := layerSeen{Conn: id, Scheme: scheme, Body: string(body)}
	challenge := func(token []byte) {
		if len(token) > 0 {
			w.Header().Set(chalName, l.scheme+" "+base64.StdEncoding.EncodeToString(token))
		} else if len(l.challenges) > 0 {
			for _, c := range l.challenges {
				w.Header().Add(chalName, c)
			}
		} else {
			w.Header().Set(chalName, l.scheme)
		}
		w.WriteHeader(code)
		io.WriteString(w, "authenticate, please\n")
		rec.Status = code
		l.record(rec)
	}
	pass := func(final []byte) {
		if final != nil && l.final != nil {
			final = l.final(final)
		}
		if len(final) > 0 {
			w.Header().Set(chalName, l.scheme+" "+base64.StdEncoding.EncodeToString(final))
		}
		rec.Status = http.StatusOK
		l.record(rec)
		if l.proxy {
			r.Header.Del(authzName)
			r.Header.Set("X-Proxy-User", st.user)
		}
		if l.next != nil {
			l.next.ServeHTTP(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(layerReply{User: st.user, Pkg: st.pkg, Conn: id, Method: r.Method, Body: string(body), Proxy: r.Header.Get("X-Proxy-User")})
	}
	if authz == "" {
		if l.persist && st.user != "" && st.pkg == "NTLM" {
			pass(nil)
			return
		}
		challenge(nil)
		return
	}
	if !strings.EqualFold(scheme, l.scheme) {
		challenge(nil)
		return
	}
	in, err := base64.StdEncoding.DecodeString(tok)
	if err != nil {
		challenge(nil)
		return
	}
	if st.sc == nil || st.sc.Established() {
		if st.sc != nil {
			st.sc.Close()
		}
		var opts []asyncsspi.ContextOption
		if l.bindings != nil {
			opts = append(opts, asyncsspi.ChannelBindings(l.bindings))
		}
		sc, err := l.cred.NewServerContext(opts...)
		if err != nil {
			w.Header().Set("X-Auth-Error", "server context: "+err.Error())
			challenge(nil)
			return
		}
		st.sc, st.user, st.pkg = sc, "", ""
	}
	out, done, err := st.sc.Step(r.Context(), in)
	if err != nil {
		st.sc.Close()
		st.sc = nil
		w.Header().Set("X-Auth-Error", err.Error())
		challenge(nil)
		return
	}
	if !done {
		challenge(out)
		return
	}
	st.user, st.pkg = st.sc.ClientName(), st.sc.Package()
	if l.refuseFinal {
		st.user = ""
		challenge(nil)
		return
	}
	pass(out)
}

// cleaner is what startAuthServerMode needs of a testing.TB (an Example
// has none: exampleCleanup plays it).
type cleaner interface {
	Helper()
	Cleanup(func())
}

// testServer is an httptest server whose connections are numbered, with
// authentication layers that forget a connection's context when it
// closes.
type authServer struct {
	*httptest.Server
	layers []*authLayer
	nconn  atomic.Int64
	closed chan int64 // connection ids as they close
}

func startAuthServer(t testing.TB, tls bool, h http.Handler, layers ...*authLayer) *authServer {
	t.Helper()
	mode := "http"
	if tls {
		mode = "tls"
	}
	return startAuthServerMode(t, mode, h, layers...)
}

// startServerMode starts a server speaking mode: "http", "tls" or "h2"
// (TLS offering HTTP/2).
func startAuthServerMode(t cleaner, mode string, h http.Handler, layers ...*authLayer) *authServer {
	t.Helper()
	s := &authServer{layers: layers, closed: make(chan int64, 1024)}
	srv := httptest.NewUnstartedServer(h)
	var ids sync.Map // net.Conn -> id
	srv.Config.ConnContext = func(ctx context.Context, c net.Conn) context.Context {
		id := s.nconn.Add(1)
		ids.Store(c, id)
		return context.WithValue(ctx, layerConnKey{}, id)
	}
	srv.Config.ConnState = func(c net.Conn, cs http.ConnState) {
		if cs != http.StateClosed && cs != http.StateHijacked {
			return
		}
		if v, ok := ids.LoadAndDelete(c); ok {
			for _, l := range s.layers {
				l.forget(v.(int64))
			}
			select {
			case s.closed <- v.(int64):
			default:
			}
		}
	}
	switch mode {
	case "tls":
		srv.StartTLS()
	case "h2":
		srv.EnableHTTP2 = true
		srv.StartTLS()
	default:
		srv.Start()
	}
	s.Server = srv
	t.Cleanup(func() {
		srv.Close()
		for _, l := range layers {
			l.closeAll()
		}
	})
	return s
}

// localURL is the server's URL with host "localhost" (the SPN
// HTTP/localhost of the test realm), plus path.
func (s *authServer) localURL(path string) string {
	u, _ := url.Parse(s.URL)
	u.Host = "localhost:" + u.Port()
	return u.String() + path
}

// cert is the TLS server's certificate.
func (s *authServer) cert(t testing.TB) *x509.Certificate {
	t.Helper()
	c := s.Certificate()
	if c == nil {
		t.Fatal("no TLS certificate")
	}
	return c
}

// newEngine returns an engine for tests (Kerberos reading krb5conf when
// given), closed at cleanup.
func testEngine(t testing.TB, krb5conf string, kopts ...kerberos.Option) *asyncsspi.Engine {
	t.Helper()
	opts := []asyncsspi.Option{asyncsspi.WithEngineOptions(async.WithWorkers(2))}
	if krb5conf != "" {
		kopts = append(kopts, kerberos.WithConfigFile(krb5conf))
	}
	opts = append(opts, asyncsspi.WithKerberosOptions(kopts...))
	e := asyncsspi.New(opts...)
	t.Cleanup(func() { e.Close() })
	return e
}

func acceptorCred(t testing.TB, e *asyncsspi.Engine, src asyncsspi.Source) *asyncsspi.Credential {
	t.Helper()
	c, err := e.ServerCredential(src)
	if err != nil {
		t.Fatalf("server credential: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// getJSON does a GET and decodes the reply, failing t on anything but a
// 200.
func getReply(t testing.TB, c *http.Client, u string) (layerReply, *http.Response) {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s: %s (%s)", u, resp.Status, b, resp.Header.Get("X-Auth-Error"))
	}
	var r layerReply
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("reply %q: %v", b, err)
	}
	return r, resp
}
