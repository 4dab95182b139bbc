package httpauth_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/asyncsspi/asyncsspi"
	"github.com/asyncsspi/asyncsspi/async"
	"github.com/asyncsspi/asyncsspi/httpauth"
	"github.com/asyncsspi/asyncsspi/mechs/kerberos"
	"github.com/asyncsspi/asyncsspi/mechs/ntlm"
)

// The test accounts.
const (
	ntlmDomain   = "EXAMPLE"
	ntlmUser     = "alice"
	ntlmPassword = "Pa55word!"
)

func ntlmStore() *ntlm.MemoryStore {
	s := ntlm.NewMemoryStore()
	s.AddPassword(ntlmDomain, ntlmUser, ntlmPassword)
	return s
}

// logBuffer collects the Authenticator's JSON log lines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) logger() *slog.Logger {
	return slog.New(slog.NewJSONHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// lines returns the records logged so far, decoded.
func (b *logBuffer) lines() []map[string]any {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(b.buf.String()), "\n") {
		if l == "" {
			continue
		}
		m := map[string]any{}
		if err := json.Unmarshal([]byte(l), &m); err == nil {
			out = append(out, m)
		}
	}
	return out
}

// refusals returns the "authentication refused" records.
func (b *logBuffer) refusals() []map[string]any {
	var out []map[string]any
	for _, m := range b.lines() {
		if m["msg"] == "httpauth: authentication refused" {
			out = append(out, m)
		}
	}
	return out
}

// whoami is the protected handler: it prints the request's identity.
var whoami = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	id, ok := httpauth.IdentityFromContext(r.Context())
	if !ok {
		http.Error(w, "no identity", http.StatusInternalServerError)
		return
	}
	fmt.Fprintf(w, "name=%s package=%s scheme=%s bound=%v", id.Name, id.Package, id.Scheme, id.Bound)
})

// testServer is an Authenticator in front of whoami on a loopback
// httptest server.
type testServer struct {
	*httptest.Server
	eng    *asyncsspi.Engine
	auth   *httpauth.Authenticator
	logs   *logBuffer
	closed chan net.Conn // each connection the server has closed
}

type serverSetup struct {
	install bool
	// kerberos configures the server engine's Kerberos package (its
	// own client legs, in TestSlowKDC).
	kerberos []kerberos.Option
	opts     []httpauth.ServerOption
	engine   []async.Option
	store    ntlm.UserStore
	listener func(net.Listener) net.Listener
	handler  http.Handler
}

// startServer starts an NTLM-and-Negotiate server over the account in
// ntlmStore, with Install unless told otherwise.
func startServer(t *testing.T, setup serverSetup) *testServer {
	t.Helper()
	logs := &logBuffer{}
	e := asyncsspi.New(asyncsspi.WithEngineOptions(append([]async.Option{async.WithWorkers(2)}, setup.engine...)...),
		asyncsspi.WithKerberosOptions(setup.kerberos...))
	t.Cleanup(func() { e.Close() })
	store := setup.store
	if store == nil {
		store = ntlmStore()
	}
	cred, err := e.ServerCredential(asyncsspi.Negotiate(asyncsspi.NTLMUsers(store)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cred.Close() })
	opts := append([]httpauth.ServerOption{httpauth.WithEngine(e), httpauth.WithCredential(cred), httpauth.WithLogger(logs.logger())}, setup.opts...)
	auth, err := httpauth.NewAuthenticator(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { auth.Close() })
	h := setup.handler
	if h == nil {
		h = whoami
	}
	ts := &testServer{Server: httptest.NewUnstartedServer(auth.Wrap(h)), eng: e, auth: auth, logs: logs, closed: make(chan net.Conn, 64)}
	ts.Config.ConnState = func(c net.Conn, st http.ConnState) {
		if st == http.StateClosed {
			select {
			case ts.closed <- c:
			default:
			}
		}
	}
	if setup.listener != nil {
		ts.Listener = setup.listener(ts.Listener)
	}
	if setup.install {
		auth.Install(ts.Config)
	}
	ts.Start()
	t.Cleanup(ts.Close)
	return ts
}

func (ts *testServer) addr() string { return ts.Listener.Addr().String() }

// rawConn is one client connection on which the test writes requests
// by hand: it decides which request goes on which connection, and can
// send any header, repeated or malformed.
type rawConn struct {
	t  *testing.T
	c  net.Conn
	br *bufio.Reader
}

func dial(t *testing.T, addr string) *rawConn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &rawConn{t: t, c: c, br: bufio.NewReader(c)}
}

type response struct {
	code   int
	header http.Header
	body   string
}

// challenges returns the response's WWW-Authenticate values.
func (r *response) challenges() []string { return r.header.Values("WWW-Authenticate") }

// token returns the base64 token of the response's WWW-Authenticate for
// scheme, decoded, or nil.
func (r *response) token(t *testing.T, scheme string) []byte {
	t.Helper()
	for _, v := range r.challenges() {
		if b64, ok := strings.CutPrefix(v, scheme+" "); ok {
			tok, err := base64.StdEncoding.DecodeString(b64)
			if err != nil {
				t.Fatalf("WWW-Authenticate %q: %v", v, err)
			}
			return tok
		}
	}
	return nil
}

// get sends GET / with the given raw header lines and reads the response.
// An error means the connection broke.
func (rc *rawConn) get(lines ...string) (*response, error) {
	var b strings.Builder
	b.WriteString("GET / HTTP/1.1\r\nHost: localhost\r\n")
	for _, l := range lines {
		b.WriteString(l + "\r\n")
	}
	b.WriteString("\r\n")
	rc.c.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.WriteString(rc.c, b.String()); err != nil {
		return nil, err
	}
	resp, err := http.ReadResponse(rc.br, nil)
	if err != nil {
		return nil, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	return &response{code: resp.StatusCode, header: resp.Header, body: string(body)}, nil
}

func (rc *rawConn) mustGet(lines ...string) *response {
	rc.t.Helper()
	r, err := rc.get(lines...)
	if err != nil {
		rc.t.Fatal(err)
	}
	return r
}

func authz(scheme string, tok []byte) string {
	return "Authorization: " + scheme + " " + base64.StdEncoding.EncodeToString(tok)
}

// clientEngine is an engine for the test's in-process clients.
func clientEngine(t testing.TB) *asyncsspi.Engine {
	t.Helper()
	e := asyncsspi.New(asyncsspi.WithEngineOptions(async.WithWorkers(1)))
	t.Cleanup(func() { e.Close() })
	return e
}

// ntlmClient returns a client credential for the test account: NTLM for
// the NTLM scheme, Negotiate over NTLM for Negotiate.
func ntlmClient(t testing.TB, e *asyncsspi.Engine, scheme, password string) *asyncsspi.Credential {
	t.Helper()
	src := asyncsspi.NTLMPassword(ntlmDomain, ntlmUser, password)
	if scheme == httpauth.SchemeNegotiate {
		src = asyncsspi.Negotiate(src)
	}
	c, err := e.ClientCredential(src)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// login runs a whole handshake on rc with a new client context of cred
// and returns the last response. The client checks the server's final
// token, if any.
func login(t *testing.T, rc *rawConn, scheme string, cred *asyncsspi.Credential, opts ...asyncsspi.ContextOption) *response {
	t.Helper()
	sc, err := cred.NewClientContext("HTTP/localhost", opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var in []byte
	for leg := 0; leg < 5; leg++ {
		out, _, err := sc.Step(ctx, in)
		if err != nil {
			t.Fatalf("client leg %d: %v", leg, err)
		}
		resp := rc.mustGet(authz(scheme, out))
		tok := resp.token(t, scheme)
		if resp.code != http.StatusUnauthorized || tok == nil {
			if resp.code == http.StatusOK && tok != nil {
				if _, done, err := sc.Step(ctx, tok); err != nil || !done {
					t.Fatalf("client on the server's final token: done %v, %v", done, err)
				}
			}
			return resp
		}
		in = tok
	}
	t.Fatal("handshake did not end in 5 legs")
	return nil
}

// waitClosed waits until the server has closed n connections.
func (ts *testServer) waitClosed(t *testing.T, n int) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for i := 0; i < n; i++ {
		select {
		case <-ts.closed:
		case <-deadline:
			t.Fatalf("the server closed %d of %d connections", i, n)
		}
	}
}

func writeFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

// newUnstarted is h behind auth on an httptest server with Install.
func newUnstarted(h http.Handler, auth *httpauth.Authenticator) *httptest.Server {
	s := httptest.NewUnstartedServer(auth.Wrap(h))
	auth.Install(s.Config)
	return s
}
