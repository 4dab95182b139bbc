package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/asyncsspi/asyncsspi"
	"github.com/asyncsspi/asyncsspi/internal/peertest"
	"github.com/asyncsspi/asyncsspi/internal/testrealm"
)

const (
	serveDomain   = "EXAMPLE"
	serveUser     = "alice"
	servePassword = "Pa55word!"
)

// recorder is the upstream: it records the headers of every request it
// receives and answers with the user it was told.
type recorder struct {
	*httptest.Server
	mu   sync.Mutex
	seen []http.Header
	// hold, when set, makes each request wait for it to be closed, after
	// announcing itself on arrived.
	hold    chan struct{}
	arrived chan struct{}
	header  string
	// barrier, when set, holds each request until barrier.n are in.
	barrier *barrier
}

// barrier releases its waiters n at a time, so that n requests are in
// flight together.
type barrier struct {
	mu      sync.Mutex
	n, in   int
	release chan struct{}
}

func (b *barrier) wait() {
	b.mu.Lock()
	if b.release == nil {
		b.release = make(chan struct{})
	}
	ch := b.release
	if b.in++; b.in == b.n {
		close(ch)
		b.release, b.in = nil, 0
	}
	b.mu.Unlock()
	select {
	case <-ch:
	case <-time.After(10 * time.Second): // a client failed; its test says so
	}
}

// newRecorder starts the upstream; connState, if given, is its
// http.Server's ConnState hook.
func newRecorder(t *testing.T, header string, connState ...func(net.Conn, http.ConnState)) *recorder {
	rec := &recorder{header: header}
	rec.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec.mu.Lock()
		rec.seen = append(rec.seen, r.Header.Clone())
		hold, arrived, bar := rec.hold, rec.arrived, rec.barrier
		rec.mu.Unlock()
		if bar != nil {
			bar.wait()
		}
		if hold != nil {
			arrived <- struct{}{}
			<-hold
		}
		fmt.Fprintf(w, "upstream saw %s=%q", rec.header, r.Header.Values(rec.header))
	}))
	if len(connState) > 0 {
		rec.Config.ConnState = connState[0]
	}
	rec.Start()
	t.Cleanup(rec.Close)
	return rec
}

// holdRequests makes the requests from now on wait for hold to be closed,
// each announcing itself on arrived first.
func (rec *recorder) holdRequests() (hold, arrived chan struct{}) {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	rec.hold, rec.arrived = make(chan struct{}), make(chan struct{}, 1)
	return rec.hold, rec.arrived
}

func (rec *recorder) headers() []http.Header {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return append([]http.Header(nil), rec.seen...)
}

// proxy is a running `sspi serve`, in-process.
type proxy struct {
	addr string
	logs *syncBuffer
	stop context.CancelFunc
	done chan error
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startServe runs serve with args (and -listen on a free loopback port)
// until the test ends or stop is called.
func startServe(t *testing.T, args ...string) *proxy {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	p := &proxy{logs: &syncBuffer{}, stop: cancel, done: make(chan error, 1)}
	log := slog.New(slog.NewTextHandler(p.logs, nil))
	ready := make(chan net.Addr, 1)
	go func() {
		p.done <- serve(ctx, io.Discard, log, append([]string{"-listen", "127.0.0.1:0"}, args...), func(a net.Addr) { ready <- a })
	}()
	select {
	case a := <-ready:
		p.addr = a.String()
	case err := <-p.done:
		cancel()
		t.Fatalf("serve: %v\n%s", err, p.logs.String())
	}
	t.Cleanup(func() {
		cancel()
		if err := <-p.done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return p
}

func usersFile(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "users")
	if err := os.WriteFile(p, []byte(serveDomain+":"+serveUser+":"+servePassword+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// conn is a hand-driven client connection.
type conn struct {
	t  *testing.T
	c  net.Conn
	br *bufio.Reader
}

func dialProxy(t *testing.T, addr string) *conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &conn{t: t, c: c, br: bufio.NewReader(c)}
}

func (c *conn) get(lines ...string) (*http.Response, string, error) {
	req := "GET /x HTTP/1.1\r\nHost: localhost\r\n" + strings.Join(append(lines, ""), "\r\n") + "\r\n"
	c.c.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.WriteString(c.c, req); err != nil {
		return nil, "", err
	}
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		return nil, "", err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(body), err
}

func (c *conn) mustGet(lines ...string) (*http.Response, string) {
	c.t.Helper()
	resp, body, err := c.get(lines...)
	if err != nil {
		c.t.Fatal(err)
	}
	return resp, body
}

// ntlmHandshake runs an NTLM handshake on c as alice (the extra header
// lines on every request) and returns the final response. It may run on a
// goroutine of its own.
func ntlmHandshake(c *conn, extra ...string) (*http.Response, string, error) {
	e := asyncsspi.New()
	defer e.Close()
	cred, err := e.ClientCredential(asyncsspi.NTLMPassword(serveDomain, serveUser, servePassword))
	if err != nil {
		return nil, "", err
	}
	defer cred.Close()
	sc, err := cred.NewClientContext("HTTP/localhost")
	if err != nil {
		return nil, "", err
	}
	defer sc.Close()
	var in []byte
	for leg := 0; leg < 3; leg++ {
		out, _, err := sc.Step(context.Background(), in)
		if err != nil {
			return nil, "", err
		}
		resp, body, err := c.get(append([]string{"Authorization: NTLM " + base64.StdEncoding.EncodeToString(out)}, extra...)...)
		if err != nil {
			return nil, "", err
		}
		ch, more := strings.CutPrefix(resp.Header.Get("WWW-Authenticate"), "NTLM ")
		if resp.StatusCode != http.StatusUnauthorized || !more {
			return resp, body, nil
		}
		in, _ = base64.StdEncoding.DecodeString(ch)
	}
	return nil, "", errors.New("no end in 3 legs")
}

func ntlmLogin(t *testing.T, c *conn, extra ...string) (*http.Response, string) {
	t.Helper()
	resp, body, err := ntlmHandshake(c, extra...)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

// The user header reaches the upstream as the authenticated user, and
// only so: whatever the client sent under that name, in any case, with
// underscores, several times, or named in Connection, is gone; so is its
// Authorization header. The connection stays authenticated, and bad
// tokens get 401 without reaching the upstream.
func TestServeUserHeader(t *testing.T) {
	rec := newRecorder(t, "X-Remote-User")
	p := startServe(t, "-upstream", rec.URL, "-ntlm-users", usersFile(t), "-keytab", "")
	spoof := []string{
		"X-Remote-User: mallory", "x-remote-user: eve", "X-REMOTE-USER: trudy",
		"X_Remote_User: oscar", "x_remote_user: peggy", "Connection: keep-alive, X-Remote-User",
	}
	c := dialProxy(t, p.addr)
	resp, body := ntlmLogin(t, c, spoof...)
	if resp.StatusCode != http.StatusOK || body != `upstream saw X-Remote-User=["EXAMPLE\\alice"]` {
		t.Fatalf("%d %q\n%s", resp.StatusCode, body, p.logs.String())
	}
	// The next request on the connection needs no token.
	resp, body = c.mustGet(spoof...)
	if resp.StatusCode != http.StatusOK || body != `upstream saw X-Remote-User=["EXAMPLE\\alice"]` {
		t.Fatalf("second request: %d %q", resp.StatusCode, body)
	}
	seen := rec.headers()
	if len(seen) != 2 {
		t.Fatalf("upstream got %d requests, want 2 (no unauthenticated one)", len(seen))
	}
	for i, h := range seen {
		for k, v := range h {
			if headerFold(k) == "x-remote-user" && (k != "X-Remote-User" || len(v) != 1 || v[0] != `EXAMPLE\alice`) {
				t.Errorf("request %d: upstream got %s: %q", i, k, v)
			}
		}
		if h.Get("Authorization") != "" {
			t.Errorf("request %d: the client's Authorization reached the upstream", i)
		}
		if h.Get("X-Forwarded-For") == "" {
			t.Errorf("request %d: no X-Forwarded-For", i)
		}
	}
	// Bad tokens: 401, never to the upstream, and the proxy serves on.
	for _, bad := range [][]string{
		{"Authorization: NTLM %%%"},
		{"Authorization: Negotiate " + strings.Repeat("A", 70000)},
		{"Authorization: NTLM TlRMTVNTUAAB", "X-Remote-User: mallory"},
		{"Authorization: NTLM TlRMTVNTUAABAAAA", "Authorization: NTLM TlRMTVNTUAABAAAA"},
	} {
		c := dialProxy(t, p.addr)
		if resp, _ := c.mustGet(bad...); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("%q: %d", bad, resp.StatusCode)
		}
		if resp, _ := ntlmLogin(t, c); resp.StatusCode != http.StatusOK {
			t.Errorf("after %q: good login %d", bad, resp.StatusCode)
		}
	}
	if n := len(rec.headers()); n != 6 {
		t.Errorf("upstream got %d requests, want 6", n)
	}
	if n := strings.Count(p.logs.String(), "msg=\"httpauth: authenticated\""); n != 5 {
		t.Errorf("%d authentication log lines, want 5:\n%s", n, p.logs.String())
	}
}

// The proxy keeps its upstream connections: 8 clients with 10 requests
// each, the upstream holding every round until all 8 are in flight, need 8
// upstream connections. (Go's default of two idle connections per host
// would close 6 after each round and open 6 again: 62.)
func TestServeReusesUpstreamConnections(t *testing.T) {
	var mu sync.Mutex
	dials := 0
	rec := newRecorder(t, "X-Remote-User", func(c net.Conn, st http.ConnState) {
		if st == http.StateNew {
			mu.Lock()
			dials++
			mu.Unlock()
		}
	})
	p := startServe(t, "-upstream", rec.URL, "-ntlm-users", usersFile(t), "-keytab", "")
	const clients, requests = 8, 10
	rec.mu.Lock()
	rec.barrier = &barrier{n: clients}
	rec.mu.Unlock()
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for i := 0; i < clients; i++ {
		c := dialProxy(t, p.addr)
		wg.Add(1)
		go func() {
			defer wg.Done()
			if resp, _, err := ntlmHandshake(c); err != nil || resp.StatusCode != http.StatusOK {
				errs <- fmt.Errorf("login: %v %v", resp, err)
				return
			}
			for j := 1; j < requests; j++ {
				if resp, _, err := c.get(); err != nil || resp.StatusCode != http.StatusOK {
					errs <- fmt.Errorf("request %d: %v %v", j, resp, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if n := len(rec.headers()); n != clients*requests {
		t.Errorf("upstream got %d requests, want %d", n, clients*requests)
	}
	if dials > clients {
		t.Errorf("%d upstream connections for %d requests from %d clients", dials, clients*requests, clients)
	}
	t.Logf("%d upstream connections for %d requests from %d clients", dials, clients*requests, clients)
}

// Graceful shutdown: the listener closes at once, and the request in
// flight finishes.
func TestServeGracefulShutdown(t *testing.T) {
	rec := newRecorder(t, "X-Remote-User")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	logs := &syncBuffer{}
	ready := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() {
		done <- serve(ctx, io.Discard, slog.New(slog.NewTextHandler(logs, nil)),
			[]string{"-listen", "127.0.0.1:0", "-upstream", rec.URL, "-ntlm-users", usersFile(t), "-keytab", ""},
			func(a net.Addr) { ready <- a })
	}()
	addr := (<-ready).String()
	c := dialProxy(t, addr)
	if resp, _ := ntlmLogin(t, c); resp.StatusCode != http.StatusOK {
		t.Fatal(resp.StatusCode)
	}
	hold, arrived := rec.holdRequests()
	type result struct {
		code int
		body string
		err  error
	}
	inflight := make(chan result, 1)
	go func() {
		resp, body, err := c.get()
		if err != nil {
			inflight <- result{err: err}
			return
		}
		inflight <- result{code: resp.StatusCode, body: body}
	}()
	<-arrived
	cancel() // the signal
	// The listener closes before Shutdown waits: new connections fail.
	deadline := time.Now().Add(10 * time.Second)
	for {
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			break
		}
		nc.Close()
		if time.Now().After(deadline) {
			t.Fatal("still accepting after the shutdown began")
		}
		runtime.Gosched()
	}
	select {
	case err := <-done:
		t.Fatalf("serve returned with a request in flight: %v", err)
	default:
	}
	close(hold)
	r := <-inflight
	if r.err != nil || r.code != http.StatusOK || !strings.Contains(r.body, `EXAMPLE\\alice`) {
		t.Fatalf("request in flight: %+v", r)
	}
	if err := <-done; err != nil {
		t.Fatalf("serve: %v", err)
	}
	if !strings.Contains(logs.String(), "sspi serve: stopped") {
		t.Errorf("no stop line:\n%s", logs.String())
	}
}

// A request that outlives -shutdown-timeout is cut off, and serve says so
// with exit status 1.
func TestServeShutdownDeadline(t *testing.T) {
	rec := newRecorder(t, "X-Remote-User")
	hold, arrived := rec.holdRequests()
	defer close(hold)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ready := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() {
		done <- serve(ctx, io.Discard, slog.New(slog.DiscardHandler),
			[]string{"-listen", "127.0.0.1:0", "-upstream", rec.URL, "-ntlm-users", usersFile(t), "-keytab", "", "-shutdown-timeout", "200ms"},
			func(a net.Addr) { ready <- a })
	}()
	c := dialProxy(t, (<-ready).String())
	go ntlmHandshake(c) // cut off by the shutdown
	<-arrived
	cancel()
	err := <-done
	var ee exitError
	if !errors.As(err, &ee) || ee.code != serveExitError || !strings.Contains(err.Error(), "cut off") {
		t.Fatalf("serve: %v", err)
	}
}

// Flags: -help, missing and bad flags, exit statuses.
func TestServeFlags(t *testing.T) {
	var buf bytes.Buffer
	if err := run(&buf, []string{"serve", "-help"}); err != nil {
		t.Fatalf("-help: %v", err)
	}
	for _, want := range []string{"usage: sspi serve -listen ADDR -upstream URL", "-keytab file", "-ntlm-users file", "-user-header name", "X-Remote-User", "Exit status"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("-help lacks %q:\n%s", want, buf.String())
		}
	}
	t.Setenv(asyncsspi.EnvKeytab, "")
	t.Setenv(asyncsspi.EnvNTLMFile, "")
	users := usersFile(t)
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{nil, serveExitUsage, "-listen is required"},
		{[]string{"-listen", ":0"}, serveExitUsage, "-upstream is required"},
		{[]string{"-listen", ":0", "-upstream", "ftp://x"}, serveExitUsage, "not an http:// or https:// URL"},
		{[]string{"-listen", ":0", "-upstream", "http://x"}, serveExitUsage, "no credential"},
		{[]string{"-listen", ":0", "-upstream", "http://x", "-ntlm-users", users, "-user-header", "X Bad"}, serveExitUsage, "not a header name"},
		{[]string{"-listen", ":0", "-upstream", "http://x", "-ntlm-users", users, "extra"}, serveExitUsage, "unexpected arguments"},
		{[]string{"-bogus"}, serveExitUsage, "flag provided but not defined"},
		{[]string{"-listen", ":0", "-upstream", "http://x", "-ntlm-users", filepath.Join(t.TempDir(), "none")}, serveExitError, "none"},
		{[]string{"-listen", "256.0.0.1:bad", "-upstream", "http://x", "-ntlm-users", users}, serveExitError, "listen"},
	} {
		buf.Reset()
		err := serve(context.Background(), &buf, slog.New(slog.DiscardHandler), c.args, nil)
		var ee exitError
		if !errors.As(err, &ee) || ee.code != c.code || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: %v, want exit %d with %q", c.args, err, c.code, c.want)
		}
	}
}

// curl --ntlm through the proxy, two requests on one connection, with a
// spoofed user header; and curl --negotiate with an MIT ticket, with
// -user-header.
func TestServeCurl(t *testing.T) {
	curl := peertest.Binaries(t, "curl")["curl"]
	if curl == "" {
		return
	}
	realm := testrealm.Start(t)
	if realm == nil {
		return
	}
	rec := newRecorder(t, "X-User")
	p := startServe(t, "-upstream", rec.URL, "-ntlm-users", usersFile(t), "-keytab", realm.ServiceKeytab, "-user-header", "X-User")
	_, port, _ := strings.Cut(p.addr, ":")
	url := "http://localhost:" + port + "/"
	curlRun := func(env []string, args ...string) string {
		t.Helper()
		argv := append([]string{"-sS", "-v", "--resolve", "localhost:" + port + ":127.0.0.1", "-H", "X-User: mallory", "-H", "x_user: eve"}, args...)
		cmd := exec.Command(curl, argv...)
		cmd.Env = env
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("curl %q: %v\n%s", argv, err, stderr.String())
		}
		return string(out) + "\n--trace--\n" + stderr.String()
	}
	out := curlRun([]string{"PATH=/usr/bin:/bin", "HOME=" + t.TempDir()},
		"--ntlm", "-u", serveDomain+`\`+serveUser+":"+servePassword, url, url)
	if strings.Count(out, `upstream saw X-User=["EXAMPLE\\alice"]`) != 2 || !strings.Contains(out, "Re-using existing connection") {
		t.Fatalf("curl --ntlm:\n%s\nlogs:\n%s", out, p.logs.String())
	}
	ccache := realm.Kinit(t, testrealm.User, testrealm.Password)
	out = curlRun(realm.Environ("KRB5CCNAME=FILE:"+ccache), "--negotiate", "-u", ":", url)
	if !strings.Contains(out, fmt.Sprintf(`upstream saw X-User=[%q]`, realm.Principal(testrealm.User))) {
		t.Fatalf("curl --negotiate:\n%s\nlogs:\n%s", out, p.logs.String())
	}
	for i, h := range rec.headers() {
		if v := h.Values("X-User"); len(v) != 1 || v[0] == "mallory" || h.Get("X_user") != "" {
			t.Errorf("request %d: upstream got X-User %q, X_user %q", i, v, h.Get("X_user"))
		}
	}
}

// The built binary stops gracefully on SIGTERM with a request in flight,
// which completes; its exit status is 0.
func TestServeBinarySIGTERM(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the sspi binary")
	}
	bin := filepath.Join(t.TempDir(), "sspi")
	build := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	rec := newRecorder(t, "X-Remote-User")
	hold, arrived := rec.holdRequests()
	cmd := exec.Command(bin, "serve", "-listen", "127.0.0.1:0", "-upstream", rec.URL, "-ntlm-users", usersFile(t), "-keytab", "")
	cmd.Env = []string{"PATH=/usr/bin:/bin"}
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	// Its log, line by line, until it exits.
	lines := make(chan string, 64)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	var addr string
	timeout := time.After(30 * time.Second)
	for addr == "" {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatal("sspi serve exited before listening")
			}
			if strings.Contains(l, `msg="sspi serve: listening"`) {
				_, a, _ := strings.Cut(l, " addr=")
				addr, _, _ = strings.Cut(a, " ")
			}
		case <-timeout:
			t.Fatal("sspi serve did not say it was listening")
		}
	}
	rest := make(chan string, 1)
	go func() {
		var b strings.Builder
		for l := range lines {
			b.WriteString(l + "\n")
		}
		rest <- b.String()
	}()
	c := dialProxy(t, addr)
	type result struct {
		resp *http.Response
		body string
	}
	got := make(chan result, 1)
	go func() {
		resp, body, _ := ntlmHandshake(c)
		got <- result{resp, body}
	}()
	<-arrived
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	close(hold)
	r := <-got
	if r.resp == nil || r.resp.StatusCode != http.StatusOK {
		t.Fatalf("request in flight at SIGTERM: %+v", r)
	}
	// The log to its end (EOF when the process exits) before Wait,
	// which closes the pipe.
	logs := <-rest
	err := cmd.Wait()
	if err != nil {
		t.Fatalf("exit: %v\n%s", err, logs)
	}
	if !strings.Contains(logs, "shutting down") || !strings.Contains(logs, "stopped") || !strings.Contains(logs, `msg="httpauth: authenticated"`) {
		t.Errorf("logs:\n%s", logs)
	}
}
