package httpauth_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/asyncsspi/asyncsspi"
	secctx "github.com/asyncsspi/asyncsspi/context"
	"github.com/asyncsspi/asyncsspi/httpauth"
	"github.com/asyncsspi/asyncsspi/status"
)

// ntlmServer starts a server that asks for scheme (NTLM or Negotiate) and
// accepts alice with NTLM, keeping NTLM-authenticated connections.
func ntlmAuthServer(t testing.TB, scheme string, tls bool, tweak ...func(*authLayer)) (*authServer, *authLayer) {
	t.Helper()
	e := testEngine(t, "")
	src := asyncsspi.NTLMUsers(aliceStore())
	if scheme == "Negotiate" {
		src = asyncsspi.Negotiate(src)
	}
	l := &authLayer{cred: acceptorCred(t, e, src), scheme: scheme, persist: true}
	for _, f := range tweak {
		f(l)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/open", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "open\n") })
	mux.Handle("/", l)
	return startAuthServer(t, tls, mux, l), l
}

// ntlmClient is a Transport with alice's NTLM password, on its own engine,
// over base (nil: a fresh *http.Transport).
func ntlmTransport(t testing.TB, base http.RoundTripper, opts ...httpauth.TransportOption) (*http.Client, *httpauth.Transport) {
	t.Helper()
	if base == nil {
		base = &http.Transport{}
	}
	opts = append([]httpauth.TransportOption{
		httpauth.WithBase(base),
		httpauth.WithClientEngine(testEngine(t, "")),
		httpauth.WithClientSource(asyncsspi.NTLMPassword(aliceDomain, aliceUser, alicePassword)),
	}, opts...)
	tr := httpauth.NewTransport(opts...)
	t.Cleanup(func() { tr.Close() })
	return &http.Client{Transport: tr}, tr
}

func TestNTLMSchemes(t *testing.T) {
	for _, scheme := range []string{"NTLM", "Negotiate"} {
		t.Run(scheme, func(t *testing.T) {
			srv, layer := ntlmAuthServer(t, scheme, false)
			client, _ := ntlmTransport(t, nil)
			r, resp := getReply(t, client, srv.URL+"/a")
			if !strings.EqualFold(r.User, aliceDomain+`\`+aliceUser) || r.Pkg != "NTLM" {
				t.Fatalf("server saw %+v", r)
			}
			a, p := httpauth.AuthenticationOf(resp)
			if a == nil || p != nil {
				t.Fatalf("authentication %+v / proxy %+v", a, p)
			}
			if a.Scheme != scheme || a.Package != "NTLM" || a.Verified || a.Connection || a.Legs != 2 || a.Target != "HTTP/127.0.0.1" {
				t.Fatalf("authentication %+v", *a)
			}
			// The connection is authenticated: the next request goes on
			// it with no token and no 401.
			r2, resp2 := getReply(t, client, srv.URL+"/b")
			if r2.Conn != r.Conn || r2.User != r.User {
				t.Fatalf("second request on connection %d as %q, first on %d", r2.Conn, r2.User, r.Conn)
			}
			if a2, _ := httpauth.AuthenticationOf(resp2); a2 == nil || !a2.Connection || a2.Legs != 0 || a2.Package != "NTLM" {
				t.Fatalf("second authentication %+v", a2)
			}
			log := layer.requests()
			if len(log) != 4 || log[3].Scheme != "" || log[3].Status != 200 {
				t.Fatalf("server log %+v", log)
			}
		})
	}
}

// roundRobin sends each request on the next of its transports: each
// handshake leg on another connection, as a pooled transport may do.
type roundRobin struct {
	mu sync.Mutex
	ts []*http.Transport
	i  int
}

func (r *roundRobin) RoundTrip(req *http.Request) (*http.Response, error) {
	r.mu.Lock()
	t := r.ts[r.i%len(r.ts)]
	r.i++
	r.mu.Unlock()
	return t.RoundTrip(req)
}

func (r *roundRobin) CloseIdleConnections() {
	for _, t := range r.ts {
		t.CloseIdleConnections()
	}
}

// NTLM's legs must share a connection: the server keeps the challenge
// with the connection and refuses an AUTHENTICATE on another one. Many
// concurrent handshakes over a base pool with many idle connections all
// succeed, each on one connection; the control, legs spread over
// connections, is refused.
func TestNTLMLegsShareOneConnection(t *testing.T) {
	srv, layer := ntlmAuthServer(t, "NTLM", false)

	// The control: the server does refuse legs on different connections.
	rr := &roundRobin{ts: []*http.Transport{{}, {}}}
	defer rr.CloseIdleConnections()
	control, _ := ntlmTransport(t, rr)
	resp, err := control.Get(srv.URL + "/control")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("legs on two connections: %s, want the server's 401", resp.Status)
	}

	base := &http.Transport{MaxIdleConnsPerHost: 16}
	client, tr := ntlmTransport(t, base, httpauth.WithMaxConnsPerHost(4))
	// Warm the base pool with idle connections.
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if resp, err := client.Get(srv.URL + "/open"); err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}()
	}
	wg.Wait()
	errs := make(chan error, 16)
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			resp, err := client.Get(srv.URL + "/p/" + string(rune('a'+i)))
			if err != nil {
				errs <- err
				return
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				errs <- errors.New(resp.Status + ": " + resp.Header.Get("X-Auth-Error"))
			}
			_ = b
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	// Every AUTHENTICATE (an NTLM header answered 200) came on the
	// connection of the NEGOTIATE before it on that connection.
	lastOn := map[int64]layerSeen{}
	handshakes := 0
	for _, s := range layer.requests() {
		if s.Scheme == "NTLM" && s.Status == 200 {
			prev, ok := lastOn[s.Conn]
			if !ok || prev.Scheme != "NTLM" || prev.Status != 401 {
				t.Errorf("AUTHENTICATE on connection %d not after a NEGOTIATE there (%+v)", s.Conn, prev)
			}
			handshakes++
		}
		lastOn[s.Conn] = s
	}
	// At most 4 pinned connections: at most 4 handshakes, the other
	// requests rode on authenticated connections.
	if handshakes == 0 || handshakes > 4 {
		t.Errorf("%d handshakes for 16 requests with 4 pinned connections", handshakes)
	}
	tr.CloseIdleConnections()
}

func TestBodyReplay(t *testing.T) {
	srv, layer := ntlmAuthServer(t, "Negotiate", false)
	client, _ := ntlmTransport(t, nil)
	const body = "the same body on every leg"
	req, _ := http.NewRequest("POST", srv.URL+"/post", strings.NewReader(body))
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var r layerReply
	json.NewDecoder(resp.Body).Decode(&r)
	resp.Body.Close()
	if resp.StatusCode != 200 || r.Body != body || r.Method != "POST" {
		t.Fatalf("%s: %+v", resp.Status, r)
	}
	for i, s := range layer.requests() {
		if s.Body != body {
			t.Errorf("request %d carried %q", i, s.Body)
		}
	}

	// A body that cannot be sent again is sent once and refused clearly.
	srv2, layer2 := ntlmAuthServer(t, "NTLM", false)
	client2, _ := ntlmTransport(t, nil)
	req, _ = http.NewRequest("POST", srv2.URL+"/once", io.NopCloser(strings.NewReader(body)))
	if req.GetBody != nil {
		t.Fatal("test request has GetBody")
	}
	_, err = client2.Do(req)
	if !errors.Is(err, httpauth.ErrBodyNotReplayable) {
		t.Fatalf("non-replayable body: %v", err)
	}
	if log := layer2.requests(); len(log) != 1 || log[0].Body != body {
		t.Fatalf("server saw %+v, want the body once", log)
	}

	// On a connection already authenticated it goes once, and passes.
	getReply(t, client2, srv2.URL+"/login")
	req, _ = http.NewRequest("POST", srv2.URL+"/once", io.NopCloser(strings.NewReader(body)))
	resp, err = client2.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	json.NewDecoder(resp.Body).Decode(&r)
	resp.Body.Close()
	if resp.StatusCode != 200 || r.Body != body {
		t.Fatalf("on an authenticated connection: %s %+v", resp.Status, r)
	}
}

// A server that answers 401 to the final token is not asked again.
func TestRefusedAfterFinalToken(t *testing.T) {
	for _, scheme := range []string{"NTLM", "Negotiate"} {
		t.Run(scheme, func(t *testing.T) {
			srv, layer := ntlmAuthServer(t, scheme, false, func(l *authLayer) { l.refuseFinal = true })
			client, _ := ntlmTransport(t, nil)
			resp, err := client.Get(srv.URL + "/x")
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnauthorized || string(b) != "authenticate, please\n" {
				t.Fatalf("%s %q, want the server's 401 as it is", resp.Status, b)
			}
			if a, _ := httpauth.AuthenticationOf(resp); a == nil || !errors.Is(a.Err, httpauth.ErrRefused) || a.Legs != 2 {
				t.Fatalf("a refused response reports %+v", a)
			}
			if n := len(layer.requests()); n != 3 {
				t.Fatalf("%d requests, want 3 (plain, NEGOTIATE, AUTHENTICATE)", n)
			}
		})
	}
}

func TestUnsupportedSchemeReturnedAsIs(t *testing.T) {
	calls := 0
	srv := startAuthServer(t, false, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls++
		w.Header().Add("WWW-Authenticate", `Basic realm="x"`)
		w.Header().Add("WWW-Authenticate", `Digest realm="y", nonce="z"`)
		w.WriteHeader(401)
		io.WriteString(w, "no")
	}))
	client, _ := ntlmTransport(t, nil)
	resp, err := client.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 401 || string(b) != "no" || calls != 1 {
		t.Fatalf("%s %q after %d requests", resp.Status, b, calls)
	}
}

func TestChallengeLists(t *testing.T) {
	for name, chals := range map[string][]string{
		"one header":      {`Basic realm="a, NTLM, b", NTLM, Digest realm=x, nonce="n"`},
		"several headers": {`Basic realm="x"`, `Digest realm="y", nonce="z", qop="auth"`, `ntlm`},
		"empty elements":  {`, ,Newauth realm="apps", type=1, title="Login to \"apps\"", , NTLM`},
	} {
		t.Run(name, func(t *testing.T) {
			srv, _ := ntlmAuthServer(t, "NTLM", false, func(l *authLayer) { l.challenges = chals })
			client, _ := ntlmTransport(t, nil)
			getReply(t, client, srv.URL+"/x")
		})
	}
	// Preference: Negotiate over NTLM when both are offered, or the
	// order WithSchemes gives.
	srv, layer := ntlmAuthServer(t, "Negotiate", false, func(l *authLayer) {
		l.challenges = []string{"NTLM", "Negotiate"}
	})
	client, _ := ntlmTransport(t, nil)
	_, resp := getReply(t, client, srv.URL+"/pref")
	if a, _ := httpauth.AuthenticationOf(resp); a.Scheme != "Negotiate" {
		t.Fatalf("chose %s", a.Scheme)
	}
	client2, _ := ntlmTransport(t, nil, httpauth.WithClientSchemes("NTLM"))
	resp, err := client2.Get(srv.URL + "/pref")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	// The layer takes only Negotiate: the NTLM token is answered with
	// the challenge again, which the client returns.
	if resp.StatusCode != 401 || layer.requests()[len(layer.requests())-1].Scheme != "NTLM" {
		t.Fatalf("WithSchemes(NTLM): %s", resp.Status)
	}
}

// Redirects: each host is authenticated for itself; no token crosses.
func TestRedirectAuthenticatesPerHost(t *testing.T) {
	to, toLayer := ntlmAuthServer(t, "NTLM", false)
	from, _ := ntlmAuthServer(t, "NTLM", false, func(l *authLayer) {
		l.next = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, to.localURL("/landed"), http.StatusFound)
		})
	})
	client, _ := ntlmTransport(t, nil)
	r, resp := getReply(t, client, from.URL+"/start")
	if resp.Request.URL.Path != "/landed" || !strings.EqualFold(r.User, `EXAMPLE\alice`) {
		t.Fatalf("ended at %s as %+v", resp.Request.URL, r)
	}
	if a, _ := httpauth.AuthenticationOf(resp); a == nil || a.Target != "HTTP/localhost" {
		t.Fatalf("authentication of the redirect target: %+v", a)
	}
	if log := toLayer.requests(); len(log) != 3 || log[0].Scheme != "" {
		t.Fatalf("redirect target saw %+v; want a plain first request", log)
	}
}

// Cancelling the request's context mid-handshake ends RoundTrip with the
// context's error; nothing is left running (goleak checks at exit).
func TestCancelMidHandshake(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	// Cancel when the server has answered the first token.
	cancelling := startAuthServer(t, false, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "" {
			cancel()
			<-r.Context().Done() // the client hangs up
			return
		}
		w.Header().Set("WWW-Authenticate", "Negotiate")
		w.WriteHeader(401)
	}))
	client, tr := ntlmTransport(t, nil)
	req, _ := http.NewRequestWithContext(ctx, "GET", cancelling.URL, nil)
	_, err := client.Do(req)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled handshake: %v", err)
	}
	tr.CloseIdleConnections()
}

// A proxy that asks for authentication (407) for plain-HTTP requests,
// alone and in front of a server that asks too.
func TestProxyAuthentication(t *testing.T) {
	e := testEngine(t, "")
	users := asyncsspi.Negotiate(asyncsspi.NTLMUsers(aliceStore()))
	origin := &authLayer{cred: acceptorCred(t, e, users), scheme: "Negotiate", persist: true}
	proxy := &authLayer{proxy: true, cred: acceptorCred(t, e, users), scheme: "Negotiate", persist: true}
	cases := []struct {
		name  string
		layer []*authLayer
		h     http.Handler
	}{
		{"proxy", []*authLayer{proxy}, proxy},
		{"proxy and server", []*authLayer{proxy, origin}, proxy},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			proxy.next = nil
			if len(c.layer) == 2 {
				proxy.next = origin
			}
			ps := startAuthServer(t, false, c.h, c.layer...)
			pu, _ := url.Parse(ps.localURL(""))
			base := &http.Transport{Proxy: http.ProxyURL(pu)}
			client, _ := ntlmTransport(t, base)
			r, resp := getReply(t, client, "http://origin.example/x")
			s, p := httpauth.AuthenticationOf(resp)
			if p == nil || p.Target != "HTTP/localhost" || !p.Proxy || p.Package != "NTLM" {
				t.Fatalf("proxy authentication %+v", p)
			}
			if len(c.layer) == 2 {
				if s == nil || s.Target != "HTTP/origin.example" || !strings.EqualFold(r.Proxy, `EXAMPLE\alice`) || !strings.EqualFold(r.User, `EXAMPLE\alice`) {
					t.Fatalf("server authentication %+v, reply %+v", s, r)
				}
			} else if s != nil {
				t.Fatalf("server authentication %+v with no server challenge", s)
			}
			// The proxy connection stays authenticated.
			_, resp = getReply(t, client, "http://origin.example/y")
			if _, p := httpauth.AuthenticationOf(resp); p == nil || !p.Connection {
				t.Fatalf("second request's proxy authentication %+v", p)
			}
		})
	}
}

// Over HTTPS the handshake carries tls-server-end-point bindings; the
// acceptor, holding the certificate's, refuses a handshake without them.
func TestChannelBindingsNTLM(t *testing.T) {
	var srv *authServer
	var layer *authLayer
	srv, layer = ntlmAuthServer(t, "Negotiate", true)
	cb, err := secctx.EndpointBindingsForCert(srv.cert(t))
	if err != nil {
		t.Fatal(err)
	}
	layer.bindings = cb
	base := srv.Client().Transport.(*http.Transport).Clone()
	client, _ := ntlmTransport(t, base)
	getReply(t, client, srv.URL+"/bound")

	unbound, _ := ntlmTransport(t, base.Clone(), httpauth.WithChannelBindings(false))
	resp, err := unbound.Get(srv.URL + "/unbound")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 || !strings.Contains(resp.Header.Get("X-Auth-Error"), "SEC_E_BAD_BINDINGS") {
		t.Fatalf("without bindings: %s %q", resp.Status, resp.Header.Get("X-Auth-Error"))
	}
}

// The environment's credentials, acquired on first need, with a clear
// error when there are none; the Transport's own engine is closed by
// CloseIdleConnections (goleak checks that nothing is left).
func TestTransportFromEnvironment(t *testing.T) {
	srv, _ := ntlmAuthServer(t, "Negotiate", false)
	dir := t.TempDir()
	t.Setenv(asyncsspi.EnvCCache, "FILE:"+filepath.Join(dir, "no-cache"))
	t.Setenv(asyncsspi.EnvKeytab, filepath.Join(dir, "no-keytab"))
	t.Setenv(asyncsspi.EnvNTLMFile, "")
	client := &http.Client{Transport: httpauth.NewTransport()}
	_, err := client.Get(srv.URL + "/none")
	if !errors.Is(err, status.SEC_E_NO_CREDENTIALS) || !strings.Contains(err.Error(), "ticket cache") {
		t.Fatalf("no credentials: %v", err)
	}
	users := filepath.Join(dir, "users")
	if err := os.WriteFile(users, []byte("EXAMPLE:alice:"+alicePassword+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv(asyncsspi.EnvNTLMFile, users)
	r, _ := getReply(t, client, srv.URL+"/env")
	if !strings.EqualFold(r.User, `EXAMPLE\alice`) {
		t.Fatalf("as %q", r.User)
	}
	client.CloseIdleConnections()
	// Usable again afterwards, with a new engine.
	getReply(t, client, srv.URL+"/again")
	client.CloseIdleConnections()
}

// A request that brings its own Authorization is not touched.
func TestOwnAuthorizationPassesThrough(t *testing.T) {
	srv, layer := ntlmAuthServer(t, "NTLM", false)
	client, _ := ntlmTransport(t, nil)
	req, _ := http.NewRequest("GET", srv.URL+"/own", nil)
	req.Header.Set("Authorization", "Basic Zm9vOmJhcg==")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 || len(layer.requests()) != 1 {
		t.Fatalf("%s after %d requests", resp.Status, len(layer.requests()))
	}

	// The same for a proxy's 407 and the caller's Proxy-Authorization.
	e := testEngine(t, "")
	proxy := &authLayer{proxy: true, cred: acceptorCred(t, e, asyncsspi.NTLMUsers(aliceStore())), scheme: "NTLM"}
	ps := startAuthServer(t, false, proxy, proxy)
	pu, _ := url.Parse(ps.URL)
	pclient, _ := ntlmTransport(t, &http.Transport{Proxy: http.ProxyURL(pu)})
	req, _ = http.NewRequest("GET", "http://origin.example/own", nil)
	req.Header.Set("Proxy-Authorization", "Basic Zm9vOmJhcg==")
	resp, err = pclient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 407 || len(proxy.requests()) != 1 {
		t.Fatalf("own Proxy-Authorization: %s after %d requests", resp.Status, len(proxy.requests()))
	}
}

// HTTP/2 servers: the pinned connections speak HTTP/1.1, so NTLM's
// connection stays one connection.
func TestPinnedConnectionsAreHTTP1(t *testing.T) {
	e := testEngine(t, "")
	l := &authLayer{cred: acceptorCred(t, e, asyncsspi.NTLMUsers(aliceStore())), scheme: "NTLM", persist: true}
	mux := http.NewServeMux()
	mux.HandleFunc("/none", func(w http.ResponseWriter, r *http.Request) {})
	mux.Handle("/", l)
	h2 := startAuthServerMode(t, "h2", mux, l)
	base := h2.Client().Transport.(*http.Transport).Clone()
	base.ForceAttemptHTTP2 = true
	client, _ := ntlmTransport(t, base)
	_, resp := getReply(t, client, h2.URL+"/h2")
	if resp.ProtoMajor != 1 {
		t.Fatalf("authenticated over %s", resp.Proto)
	}
	// The base itself speaks HTTP/2 to the server.
	plain, err := base.RoundTrip(newGET(t, h2.URL+"/none"))
	if err != nil {
		t.Fatal(err)
	}
	plain.Body.Close()
	if plain.ProtoMajor != 2 {
		t.Skipf("the test server did not offer HTTP/2 (%s)", plain.Proto)
	}
}

func newGET(t *testing.T, u string) *http.Request {
	t.Helper()
	r, err := http.NewRequest("GET", u, nil)
	if err != nil {
		t.Fatal(err)
	}
	return r
}
