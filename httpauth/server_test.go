package httpauth_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jcmturner/gokrb5/v8/config"

	"github.com/asyncsspi/asyncsspi"
	"github.com/asyncsspi/asyncsspi/async"
	"github.com/asyncsspi/asyncsspi/httpauth"
	"github.com/asyncsspi/asyncsspi/internal/testrealm"
	"github.com/asyncsspi/asyncsspi/mechs/kerberos"
	"github.com/asyncsspi/asyncsspi/mechs/ntlm"
	"github.com/asyncsspi/asyncsspi/status"
)

// A request without credentials is offered both schemes; with connection
// state NTLM is offered, without it only Negotiate.
func TestChallenge(t *testing.T) {
	for _, install := range []bool{true, false} {
		ts := startServer(t, serverSetup{install: install})
		resp := dial(t, ts.addr()).mustGet()
		want := []string{"Negotiate"}
		if install {
			want = append(want, "NTLM")
		}
		if resp.code != http.StatusUnauthorized || !slices.Equal(resp.challenges(), want) {
			t.Errorf("install %v: %d %q, want 401 %q", install, resp.code, resp.challenges(), want)
		}
	}
}

// NTLM over one kept-alive connection, as IIS serves it: the handshake's
// legs meet on the connection, the connection stays authenticated for its
// later requests, a new handshake on it works, and a new connection is
// never authenticated.
func TestNTLMConnectionBound(t *testing.T) {
	ts := startServer(t, serverSetup{install: true})
	cred := ntlmClient(t, clientEngine(t), httpauth.SchemeNTLM, ntlmPassword)
	rc := dial(t, ts.addr())
	resp := login(t, rc, httpauth.SchemeNTLM, cred)
	if resp.code != http.StatusOK || resp.body != `name=EXAMPLE\alice package=NTLM scheme=NTLM bound=true` {
		t.Fatalf("login: %d %q", resp.code, resp.body)
	}
	// Later requests on the connection need no token.
	for i := 0; i < 3; i++ {
		if r := rc.mustGet(); r.code != http.StatusOK || !strings.Contains(r.body, "bound=true") {
			t.Fatalf("request %d after login: %d %q", i, r.code, r.body)
		}
	}
	// A new handshake on the same connection (what mod_auth_gssapi 1.6.4
	// gets wrong) succeeds, for either scheme.
	for _, scheme := range []string{httpauth.SchemeNTLM, httpauth.SchemeNegotiate} {
		c := ntlmClient(t, clientEngine(t), scheme, ntlmPassword)
		if r := login(t, rc, scheme, c); r.code != http.StatusOK || !strings.Contains(r.body, "scheme="+scheme) {
			t.Fatalf("second handshake (%s) on the connection: %d %q", scheme, r.code, r.body)
		}
	}
	// A new connection is not authenticated.
	if r := dial(t, ts.addr()).mustGet(); r.code != http.StatusUnauthorized {
		t.Fatalf("new connection: %d %q", r.code, r.body)
	}
	// A failed handshake leaves the connection unauthenticated.
	bad := ntlmClient(t, clientEngine(t), httpauth.SchemeNTLM, "wrong")
	if r := login(t, rc, httpauth.SchemeNTLM, bad); r.code != http.StatusUnauthorized {
		t.Fatalf("wrong password: %d", r.code)
	}
	if r := rc.mustGet(); r.code != http.StatusUnauthorized {
		t.Fatalf("after a failed handshake the connection still served: %d %q", r.code, r.body)
	}
	refused := ts.logs.refusals()
	if len(refused) != 1 || refused[0]["package"] != "NTLM" || refused[0]["status"] != float64(401) ||
		!strings.Contains(fmt.Sprint(refused[0]["cause"]), "SEC_E_LOGON_DENIED") || refused[0]["remote"] == "" {
		t.Fatalf("log of the refusal: %v", refused)
	}
}

// Negotiate with NTLM inside SPNEGO: the final NegTokenResp (with the
// mechListMIC) is on the 200 response, and the client accepts it.
func TestNegotiateOverNTLM(t *testing.T) {
	ts := startServer(t, serverSetup{install: true})
	cred := ntlmClient(t, clientEngine(t), httpauth.SchemeNegotiate, ntlmPassword)
	rc := dial(t, ts.addr())
	resp := login(t, rc, httpauth.SchemeNegotiate, cred)
	if resp.code != http.StatusOK || resp.body != `name=EXAMPLE\alice package=NTLM scheme=Negotiate bound=true` {
		t.Fatalf("%d %q", resp.code, resp.body)
	}
	if resp.token(t, httpauth.SchemeNegotiate) == nil {
		t.Fatal("no final token on the 200 response")
	}
}

// Connection binding off: every request authenticates on its own.
func TestBindNone(t *testing.T) {
	ts := startServer(t, serverSetup{install: true, opts: []httpauth.ServerOption{httpauth.WithConnectionBinding(httpauth.BindNone)}})
	cred := ntlmClient(t, clientEngine(t), httpauth.SchemeNTLM, ntlmPassword)
	rc := dial(t, ts.addr())
	if r := login(t, rc, httpauth.SchemeNTLM, cred); r.code != http.StatusOK || !strings.Contains(r.body, "bound=false") {
		t.Fatalf("login: %d %q", r.code, r.body)
	}
	if r := rc.mustGet(); r.code != http.StatusUnauthorized {
		t.Fatalf("unbound connection served a request without a token: %d", r.code)
	}
}

// Without Install a request has no connection: a handshake that needs a
// second leg is refused with a log line that says why, and nothing is
// kept.
func TestWithoutInstall(t *testing.T) {
	ts := startServer(t, serverSetup{})
	cred := ntlmClient(t, clientEngine(t), httpauth.SchemeNegotiate, ntlmPassword)
	rc := dial(t, ts.addr())
	sc, _ := cred.NewClientContext("HTTP/localhost")
	defer sc.Close()
	out, _, err := sc.Step(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp := rc.mustGet(authz("Negotiate", out))
	if resp.code != http.StatusUnauthorized || !slices.Equal(resp.challenges(), []string{"Negotiate"}) {
		t.Fatalf("%d %q", resp.code, resp.challenges())
	}
	refused := ts.logs.refusals()
	if len(refused) != 1 || !strings.Contains(fmt.Sprint(refused[0]["cause"]), "Authenticator.Install") {
		t.Fatalf("log: %v", refused)
	}
	if c, h := ts.auth.Stats(); c != 0 || h != 0 {
		t.Fatalf("state kept without Install: %d connections, %d handshakes", c, h)
	}
}

// A reused RemoteAddr does not inherit anything: the listener here gives
// every connection the same remote address.
func TestReusedRemoteAddr(t *testing.T) {
	ts := startServer(t, serverSetup{install: true, listener: func(l net.Listener) net.Listener { return sameAddrListener{l} }})
	cred := ntlmClient(t, clientEngine(t), httpauth.SchemeNTLM, ntlmPassword)
	first := dial(t, ts.addr())
	if r := login(t, first, httpauth.SchemeNTLM, cred); r.code != http.StatusOK {
		t.Fatalf("login: %d", r.code)
	}
	// Same address, while the first is open, and after it closed.
	if r := dial(t, ts.addr()).mustGet(); r.code != http.StatusUnauthorized {
		t.Fatalf("second connection from the same address: %d", r.code)
	}
	first.c.Close()
	ts.waitClosed(t, 1)
	if r := dial(t, ts.addr()).mustGet(); r.code != http.StatusUnauthorized {
		t.Fatalf("connection after the first closed: %d", r.code)
	}
	// The handshake in progress on one connection is not continued by
	// another from the same address.
	sc, _ := cred.NewClientContext("HTTP/localhost")
	defer sc.Close()
	a := dial(t, ts.addr())
	out, _, _ := sc.Step(t.Context(), nil)
	r := a.mustGet(authz("NTLM", out))
	out, _, err := sc.Step(t.Context(), r.token(t, "NTLM"))
	if err != nil {
		t.Fatal(err)
	}
	if r := dial(t, ts.addr()).mustGet(authz("NTLM", out)); r.code != http.StatusUnauthorized {
		t.Fatalf("AUTHENTICATE on another connection from the same address: %d %q", r.code, r.body)
	}
}

type sameAddrListener struct{ net.Listener }

func (l sameAddrListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return sameAddrConn{c}, nil
}

type sameAddrConn struct{ net.Conn }

func (sameAddrConn) RemoteAddr() net.Addr {
	return &net.TCPAddr{IP: net.IPv4(192, 0, 2, 7), Port: 4444}
}

// State is dropped when connections close: handshakes in progress and
// authenticated connections alike.
func TestStateDroppedOnClose(t *testing.T) {
	ts := startServer(t, serverSetup{install: true})
	cred := ntlmClient(t, clientEngine(t), httpauth.SchemeNTLM, ntlmPassword)
	authed := dial(t, ts.addr())
	login(t, authed, httpauth.SchemeNTLM, cred)
	mid := dial(t, ts.addr())
	sc, _ := cred.NewClientContext("HTTP/localhost")
	defer sc.Close()
	out, _, _ := sc.Step(t.Context(), nil)
	if r := mid.mustGet(authz("NTLM", out)); r.code != http.StatusUnauthorized {
		t.Fatal(r.code)
	}
	if c, h := ts.auth.Stats(); c != 2 || h != 1 {
		t.Fatalf("open: %d connections, %d handshakes", c, h)
	}
	authed.c.Close()
	mid.c.Close()
	ts.waitClosed(t, 2)
	if c, h := ts.auth.Stats(); c != 0 || h != 0 {
		t.Fatalf("after close: %d connections, %d handshakes", c, h)
	}
}

// Handshakes in progress are capped; the expired ones make room. A
// handshake whose connection went silent past the timeout is gone: its
// next leg is refused.
func TestHandshakeCapAndTimeout(t *testing.T) {
	ts := startServer(t, serverSetup{install: true, opts: []httpauth.ServerOption{
		httpauth.WithMaxHandshakes(2), httpauth.WithHandshakeTimeout(time.Second)}})
	cred := ntlmClient(t, clientEngine(t), httpauth.SchemeNTLM, ntlmPassword)
	type half struct {
		rc *rawConn
		sc *asyncsspi.SecurityContext
		ch []byte
	}
	start := func() (*half, *response) {
		sc, _ := cred.NewClientContext("HTTP/localhost")
		t.Cleanup(func() { sc.Close() })
		rc := dial(t, ts.addr())
		out, _, _ := sc.Step(t.Context(), nil)
		r := rc.mustGet(authz("NTLM", out))
		return &half{rc, sc, r.token(t, "NTLM")}, r
	}
	began := time.Now()
	h1, _ := start()
	start()
	_, r := start()
	if r.code != http.StatusServiceUnavailable || r.header.Get("Retry-After") == "" {
		t.Fatalf("third handshake past the cap of 2: %d, Retry-After %q", r.code, r.header.Get("Retry-After"))
	}
	// The clock, not a sleep: wait for the deadline to pass.
	<-time.After(time.Until(began.Add(1100 * time.Millisecond)))
	if _, r := start(); r.code != http.StatusUnauthorized || r.token(t, "NTLM") == nil {
		t.Fatalf("handshake after the others expired: %d", r.code)
	}
	out, _, err := h1.sc.Step(t.Context(), h1.ch)
	if err != nil {
		t.Fatal(err)
	}
	if r := h1.rc.mustGet(authz("NTLM", out)); r.code != http.StatusUnauthorized {
		t.Fatalf("AUTHENTICATE after the handshake expired: %d %q", r.code, r.body)
	}
}

// Bad input gets 401 and one log line each, never 500, and the server
// goes on serving good clients on the same and on other connections.
func TestBadAuthorization(t *testing.T) {
	ts := startServer(t, serverSetup{install: true})
	cred := ntlmClient(t, clientEngine(t), httpauth.SchemeNTLM, ntlmPassword)
	negCred := ntlmClient(t, clientEngine(t), httpauth.SchemeNegotiate, ntlmPassword)

	// Real tokens to break.
	sc, _ := negCred.NewClientContext("HTTP/localhost")
	defer sc.Close()
	spnego, _, _ := sc.Step(t.Context(), nil)
	nsc, _ := cred.NewClientContext("HTTP/localhost")
	defer nsc.Close()
	negotiateMsg, _, _ := nsc.Step(t.Context(), nil)
	b64 := base64.StdEncoding.EncodeToString
	huge := b64(make([]byte, ts.auth.MaxToken()+1))

	cases := []struct {
		name  string
		lines []string
		cause string
	}{
		{"malformed base64", []string{"Authorization: Negotiate %%%not-base64%%%"}, "not base64"},
		{"bad padding", []string{"Authorization: Negotiate YQ=Y"}, "malformed"},
		{"empty token", []string{"Authorization: Negotiate"}, "without a token"},
		{"truncated SPNEGO", []string{authz("Negotiate", spnego[:len(spnego)/2])}, "SEC_E_INCOMPLETE_MESSAGE"},
		{"truncated NTLM", []string{authz("NTLM", negotiateMsg[:10])}, "NTLM"},
		{"garbage token", []string{authz("Negotiate", []byte("\x30\x03\x02\x01\x00"))}, "SEC_E_INVALID_TOKEN"},
		{"oversized", []string{"Authorization: Negotiate " + huge}, "larger than the package's maximum"},
		{"repeated", []string{authz("Negotiate", spnego), authz("Negotiate", spnego)}, "repeated Authorization"},
		{"joined", []string{"Authorization: Negotiate " + b64(spnego) + ", Negotiate " + b64(spnego)}, "several credentials"},
		{"repeated other spelling", []string{authz("Negotiate", spnego), "authorization: NTLM " + b64(negotiateMsg)}, "repeated Authorization"},
		{"unknown scheme", []string{"Authorization: Basic YWxpY2U6cGFzcw=="}, `unknown scheme "Basic"`},
		{"SPNEGO under NTLM", []string{authz("NTLM", spnego)}, "not an NTLMSSP message"},
		{"no scheme", []string{"Authorization:  "}, "no scheme"},
	}
	good := dial(t, ts.addr())
	for i, c := range cases {
		before := len(ts.logs.refusals())
		rc := dial(t, ts.addr())
		r := rc.mustGet(c.lines...)
		if r.code != http.StatusUnauthorized {
			t.Errorf("%s: status %d %q", c.name, r.code, r.body)
		}
		refused := ts.logs.refusals()
		if len(refused) != before+1 {
			t.Errorf("%s: %d log lines, want 1", c.name, len(refused)-before)
			continue
		}
		l := refused[len(refused)-1]
		if !strings.Contains(fmt.Sprint(l["cause"]), c.cause) || l["status"] != float64(401) || l["remote"] == "" || l["package"] == nil {
			t.Errorf("%s: log %v, want cause with %q", c.name, l, c.cause)
		}
		// The connection still serves a good client afterwards.
		if i%3 == 0 {
			if r := login(t, rc, httpauth.SchemeNTLM, cred); r.code != http.StatusOK {
				t.Errorf("%s: good login on the same connection: %d", c.name, r.code)
			}
		}
		if r := login(t, good, httpauth.SchemeNTLM, cred); r.code != http.StatusOK {
			t.Errorf("%s: good login on another connection: %d", c.name, r.code)
		}
	}

	// A token for a finished handshake: the AUTHENTICATE message again,
	// on the authenticated connection.
	rc := dial(t, ts.addr())
	sc2, _ := cred.NewClientContext("HTTP/localhost")
	defer sc2.Close()
	out, _, _ := sc2.Step(t.Context(), nil)
	r := rc.mustGet(authz("NTLM", out))
	auth3, _, _ := sc2.Step(t.Context(), r.token(t, "NTLM"))
	if r := rc.mustGet(authz("NTLM", auth3)); r.code != http.StatusOK {
		t.Fatalf("login: %d", r.code)
	}
	if r := rc.mustGet(authz("NTLM", auth3)); r.code != http.StatusUnauthorized {
		t.Fatalf("AUTHENTICATE replayed after the handshake: %d", r.code)
	}
	if r := rc.mustGet(); r.code != http.StatusUnauthorized {
		t.Fatalf("the connection stayed authenticated after a bad token: %d", r.code)
	}
	if r := login(t, rc, httpauth.SchemeNTLM, cred); r.code != http.StatusOK {
		t.Fatalf("login after: %d", r.code)
	}
	for _, l := range ts.logs.lines() {
		if l["status"] == float64(500) {
			t.Errorf("500 logged: %v", l)
		}
	}
}

// When the engine is at its queue depth, a request gets 503 with
// Retry-After at once instead of waiting; when room comes back, the same
// client gets through.
func TestEngineFull(t *testing.T) {
	gate := make(chan struct{})
	store := &gatedStore{MemoryStore: ntlmStore(), gate: gate, entered: make(chan struct{})}
	ts := startServer(t, serverSetup{install: true, store: store, engine: []async.Option{async.WithQueueDepth(1)}})
	cred := ntlmClient(t, clientEngine(t), httpauth.SchemeNTLM, ntlmPassword)

	// A first client's AUTHENTICATE leg holds the engine's one slot: its
	// account lookup waits at the gate.
	sc, _ := cred.NewClientContext("HTTP/localhost")
	defer sc.Close()
	held := dial(t, ts.addr())
	out, _, _ := sc.Step(t.Context(), nil)
	r := held.mustGet(authz("NTLM", out))
	out, _, _ = sc.Step(t.Context(), r.token(t, "NTLM"))
	heldDone := make(chan *response, 1)
	go func() {
		r, _ := held.get(authz("NTLM", out))
		heldDone <- r
	}()
	<-store.entered

	start := time.Now()
	other := dial(t, ts.addr())
	sc3, _ := cred.NewClientContext("HTTP/localhost")
	defer sc3.Close()
	neg, _, _ := sc3.Step(t.Context(), nil)
	r = other.mustGet(authz("NTLM", neg))
	if r.code != http.StatusServiceUnavailable || r.header.Get("Retry-After") != "1" {
		t.Fatalf("engine full: %d Retry-After %q", r.code, r.header.Get("Retry-After"))
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("503 took %v", d)
	}
	unavailable := 0
	for _, l := range ts.logs.lines() {
		if l["msg"] == "httpauth: authentication unavailable" && l["status"] == float64(503) &&
			strings.Contains(fmt.Sprint(l["cause"]), "SEC_E_INSUFFICIENT_MEMORY") {
			unavailable++
		}
	}
	if unavailable != 1 {
		t.Errorf("%d 503 log lines: %v", unavailable, ts.logs.lines())
	}

	close(gate)
	if r := <-heldDone; r == nil || r.code != http.StatusOK {
		t.Fatalf("held request: %+v", r)
	}
	// The client retries, as Retry-After says. (The engine frees a leg's
	// slot just after the leg's completion is published, so the very
	// next leg may still find the engine full for a moment.)
	for attempt := 0; ; attempt++ {
		r := login(t, other, httpauth.SchemeNTLM, cred)
		if r.code == http.StatusOK {
			break
		}
		if r.code != http.StatusServiceUnavailable || attempt == 100 {
			t.Fatalf("after the engine emptied, attempt %d: %d", attempt, r.code)
		}
		runtime.Gosched()
	}
}

// A leg that takes longer than the leg timeout is answered 503 without
// waiting for it, and a second worker keeps serving other clients.
func TestLegTimeout(t *testing.T) {
	gate := make(chan struct{})
	store := &gatedStore{MemoryStore: ntlmStore(), gate: gate, only: "slow"}
	store.AddPassword(ntlmDomain, "slow", ntlmPassword)
	ts := startServer(t, serverSetup{install: true, store: store, opts: []httpauth.ServerOption{httpauth.WithLegTimeout(300 * time.Millisecond)}})
	defer close(gate)

	e := clientEngine(t)
	slow, err := e.ClientCredential(asyncsspi.NTLMPassword(ntlmDomain, "slow", ntlmPassword))
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	start := time.Now()
	if r := login(t, dial(t, ts.addr()), httpauth.SchemeNTLM, slow); r.code != http.StatusServiceUnavailable || r.header.Get("Retry-After") == "" {
		t.Fatalf("slow leg: %d", r.code)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("timeout answer took %v", d)
	}
	cred := ntlmClient(t, e, httpauth.SchemeNTLM, ntlmPassword)
	if r := login(t, dial(t, ts.addr()), httpauth.SchemeNTLM, cred); r.code != http.StatusOK {
		t.Fatalf("other client while a leg hangs: %d", r.code)
	}
}

// A KDC that never answers holds its legs on the engine's I/O side, not
// its CPU worker: with one worker and client legs of the same engine stuck
// on a silent KDC, the server goes on authenticating NTLM clients at once.
func TestSlowKDC(t *testing.T) {
	kdc := testrealm.SilentAddr(t)
	cfg, err := config.NewFromString("[libdefaults]\n default_realm = SLOW.TEST\n dns_lookup_kdc = false\n dns_lookup_realm = false\n" +
		"[realms]\n SLOW.TEST = {\n  kdc = " + kdc + "\n }\n")
	if err != nil {
		t.Fatal(err)
	}
	ts := startServer(t, serverSetup{install: true, kerberos: []kerberos.Option{kerberos.WithConfig(cfg)},
		engine: []async.Option{async.WithWorkers(1), async.WithIOTimeout(time.Minute)}})
	ccred, err := ts.eng.ClientCredential(asyncsspi.KerberosPassword("bob@SLOW.TEST", "x"))
	if err != nil {
		t.Fatal(err)
	}
	defer ccred.Close()
	var stuck []*asyncsspi.SecurityContext
	for i := 0; i < 4; i++ {
		sc, _ := ccred.NewClientContext("HTTP/slow.test")
		if err := sc.Start(nil); err != nil {
			t.Fatal(err)
		}
		stuck = append(stuck, sc)
	}
	defer func() {
		for _, sc := range stuck {
			sc.Close()
		}
	}()
	cred := ntlmClient(t, clientEngine(t), httpauth.SchemeNTLM, ntlmPassword)
	start := time.Now()
	for i := 0; i < 3; i++ {
		if r := login(t, dial(t, ts.addr()), httpauth.SchemeNTLM, cred); r.code != http.StatusOK {
			t.Fatalf("login %d while the KDC is silent: %d", i, r.code)
		}
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("three logins took %v", d)
	}
	for i, sc := range stuck {
		if sc.Status() != status.SEC_I_ASYNC_CALL_PENDING {
			t.Fatalf("client leg %d is not waiting on the KDC: %v", i, sc.Status())
		}
	}
}

// gatedStore holds account lookups (of user only, or of everyone) until
// gate is closed, as a slow directory would.
type gatedStore struct {
	*ntlm.MemoryStore
	gate    chan struct{}
	only    string
	once    sync.Once
	entered chan struct{}
}

func (s *gatedStore) LookupUser(domain, user string) (ntlm.User, bool) {
	if s.only == "" || strings.EqualFold(user, s.only) {
		s.once.Do(func() {
			if s.entered != nil {
				close(s.entered)
			}
		})
		<-s.gate
	}
	return s.MemoryStore.LookupUser(domain, user)
}

// A client that goes away while its leg runs leaves nothing behind.
func TestClientGoneMidLeg(t *testing.T) {
	gate := make(chan struct{})
	store := &gatedStore{MemoryStore: ntlmStore(), gate: gate, entered: make(chan struct{})}
	ts := startServer(t, serverSetup{install: true, store: store})
	cred := ntlmClient(t, clientEngine(t), httpauth.SchemeNTLM, ntlmPassword)
	sc, _ := cred.NewClientContext("HTTP/localhost")
	defer sc.Close()
	rc := dial(t, ts.addr())
	out, _, _ := sc.Step(t.Context(), nil)
	r := rc.mustGet(authz("NTLM", out))
	out, _, _ = sc.Step(t.Context(), r.token(t, "NTLM"))
	go rc.get(authz("NTLM", out))
	<-store.entered
	rc.c.Close()
	ts.waitClosed(t, 1)
	close(gate)
	if c, h := ts.auth.Stats(); c != 0 || h != 0 {
		t.Fatalf("%d connections, %d handshakes left", c, h)
	}
}

// The default credential comes from the environment; with nothing there,
// NewAuthenticator says so.
func TestFromEnvironment(t *testing.T) {
	dir := t.TempDir()
	t.Setenv(asyncsspi.EnvKeytab, dir+"/none.keytab")
	t.Setenv(asyncsspi.EnvCCache, "FILE:"+dir+"/none")
	t.Setenv(asyncsspi.EnvNTLMFile, "")
	if _, err := httpauth.NewAuthenticator(); err == nil || !strings.Contains(err.Error(), "keytab") {
		t.Fatalf("empty environment: %v", err)
	}
	users := dir + "/users"
	writeFile(t, users, "EXAMPLE:alice:Pa55word!\n")
	t.Setenv(asyncsspi.EnvNTLMFile, users)
	auth, err := httpauth.NewAuthenticator(httpauth.WithLogger(discard()))
	if err != nil {
		t.Fatal(err)
	}
	defer auth.Close()
	if got := auth.Schemes(); !slices.Equal(got, []string{"Negotiate", "NTLM"}) {
		t.Fatalf("schemes %v", got)
	}
	if auth.MaxToken() < 48000 {
		t.Fatalf("max token %d", auth.MaxToken())
	}
	if _, err := httpauth.NewAuthenticator(httpauth.WithSchemes("Basic"), httpauth.WithLogger(discard())); err == nil {
		t.Fatal("scheme Basic accepted")
	}
	a2, err := httpauth.NewAuthenticator(httpauth.WithSchemes("ntlm"), httpauth.WithLogger(discard()))
	if err != nil {
		t.Fatal(err)
	}
	defer a2.Close()
	if got := a2.Schemes(); !slices.Equal(got, []string{"NTLM"}) {
		t.Fatalf("schemes %v", got)
	}
}

// Install chains the hooks a server already has, and sets timeouts only
// where there are none.
func TestInstallChainsHooks(t *testing.T) {
	auth, err := httpauth.NewAuthenticator(httpauth.WithSource(asyncsspi.NTLMUsers(ntlmStore())), httpauth.WithLogger(discard()))
	if err != nil {
		t.Fatal(err)
	}
	defer auth.Close()
	type key struct{}
	var states []http.ConnState
	var mu sync.Mutex
	srv := &http.Server{
		ReadHeaderTimeout: 7 * time.Second,
		ConnContext:       func(ctx context.Context, c net.Conn) context.Context { return context.WithValue(ctx, key{}, "mine") },
		ConnState: func(c net.Conn, st http.ConnState) {
			mu.Lock()
			states = append(states, st)
			mu.Unlock()
		},
	}
	auth.Install(srv)
	if srv.ReadHeaderTimeout != 7*time.Second || srv.IdleTimeout != httpauth.DefaultIdleTimeout {
		t.Fatalf("timeouts %v %v", srv.ReadHeaderTimeout, srv.IdleTimeout)
	}
	c1, c2 := net.Pipe()
	defer c2.Close()
	ctx := srv.ConnContext(context.Background(), c1)
	if ctx.Value(key{}) != "mine" {
		t.Fatal("the server's own ConnContext was dropped")
	}
	srv.ConnState(c1, http.StateNew)
	srv.ConnState(c1, http.StateClosed)
	c1.Close()
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(states, []http.ConnState{http.StateNew, http.StateClosed}) {
		t.Fatalf("the server's own ConnState saw %v", states)
	}
}
