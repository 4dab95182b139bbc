package ntlm

// curl's own NTLM (not gss-ntlmssp) against our acceptor, over HTTP: curl
// 7.88 sends a NEGOTIATE without the VERSION flag, then copies our
// CHALLENGE's flags (VERSION set) into an AUTHENTICATE whose 64-byte
// header has no Version field, no MIC, and the target info echoed as is.

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	secctx "github.com/asyncsspi/asyncsspi/context"
	"github.com/asyncsspi/asyncsspi/internal/peertest"
	"github.com/asyncsspi/asyncsspi/mechs"
	"github.com/asyncsspi/asyncsspi/status"
)

// ntlmHTTP is a loopback HTTP server that authenticates each connection
// with our acceptor over "WWW-Authenticate: NTLM" (bare NTLM, as curl
// --ntlm speaks it): a handshake belongs to its keep-alive connection.
type ntlmHTTP struct {
	cred mechs.Credential
	log  *slog.Logger

	// mu guards conns and tokens. A connection's requests are served one
	// after the other on one goroutine; ConnState and the test read across.
	mu     sync.Mutex
	conns  map[net.Conn]*Context
	tokens [][]byte // every NTLM message in and out, in order
}

type connKey struct{}

func (h *ntlmHTTP) record(tok []byte) {
	h.mu.Lock()
	h.tokens = append(h.tokens, append([]byte(nil), tok...))
	h.mu.Unlock()
}

func (h *ntlmHTTP) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	conn := r.Context().Value(connKey{}).(net.Conn)
	deny := func(msg string, args ...any) {
		h.log.Warn(msg, args...)
		w.Header().Set("WWW-Authenticate", "NTLM")
		w.WriteHeader(http.StatusUnauthorized)
	}
	b64, ok := strings.CutPrefix(r.Header.Get("Authorization"), "NTLM ")
	if !ok {
		deny("no NTLM authorization")
		return
	}
	tok, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		deny("bad base64", "err", err)
		return
	}
	h.record(tok)
	h.mu.Lock()
	c := h.conns[conn]
	if c == nil || bytes.HasPrefix(tok, []byte("NTLMSSP\x00\x01")) {
		// A NEGOTIATE starts a handshake on this connection.
		if c != nil {
			c.Close()
		}
		mc, err := h.cred.NewAcceptor(mechs.AcceptorParams{})
		if err != nil {
			h.mu.Unlock()
			deny("no acceptor", "err", err)
			return
		}
		c = mc.(*Context)
		h.conns[conn] = c
	}
	h.mu.Unlock()
	res := c.Step(&mechs.StepInput{Token: tok})
	switch res.Status {
	case status.SEC_I_CONTINUE_NEEDED:
		h.record(res.Token)
		w.Header().Set("WWW-Authenticate", "NTLM "+base64.StdEncoding.EncodeToString(res.Token))
		w.WriteHeader(http.StatusUnauthorized)
	case status.SEC_E_OK:
		names, _ := c.QueryAttribute(secctx.SECPKG_ATTR_NAMES)
		h.log.Info("NTLM authentication succeeded", "user", names.(secctx.Names).UserName)
		w.Write([]byte("hello " + names.(secctx.Names).UserName))
	default:
		deny("NTLM authentication failed", "status", res.Status.String(), "err", res.Err)
	}
}

// startNTLMHTTP starts the server with an acceptor credential of p.
func startNTLMHTTP(t *testing.T, p *Package) (*ntlmHTTP, *httptest.Server, *peertest.Buffer) {
	t.Helper()
	cred, err := p.AcquireCredentials(mechs.CredentialRequest{Use: secctx.SECPKG_CRED_INBOUND})
	if err != nil {
		t.Fatal(err)
	}
	logs := new(peertest.Buffer)
	h := &ntlmHTTP{cred: cred, log: slog.New(slog.NewTextHandler(logs, nil)), conns: map[net.Conn]*Context{}}
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ConnContext = func(ctx context.Context, c net.Conn) context.Context {
		return context.WithValue(ctx, connKey{}, c)
	}
	srv.Config.ConnState = func(c net.Conn, st http.ConnState) {
		if st == http.StateClosed || st == http.StateHijacked {
			h.mu.Lock()
			if ctx := h.conns[c]; ctx != nil {
				ctx.Close()
			}
			delete(h.conns, c)
			h.mu.Unlock()
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return h, srv, logs
}

// curlPackage is the acceptor's package: fixed names, so that a stored
// handshake can be replayed (TestStoredCurlAuthenticate).
func curlPackage(password string, opts ...Option) *Package {
	store := NewMemoryStore()
	store.AddPassword("EXAMPLE", "alice", password)
	return New(append([]Option{WithUserStore(store), WithComputerName("TESTHOST"), WithDomainName("EXAMPLE")}, opts...)...)
}

// runCurl runs curl --ntlm against url and returns the HTTP status, the
// number of connections it made and the body.
func runCurl(t *testing.T, curl, url, userpass string) (code, connects, body string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out := filepath.Join(t.TempDir(), "body")
	// -q first: no ~/.curlrc; --noproxy: loopback only.
	cmd := exec.CommandContext(ctx, curl, "-q", "-sS", "--noproxy", "*", "--ntlm", "-u", userpass,
		"-o", out, "-w", "%{http_code} %{num_connects}", url)
	stdout, err := cmd.Output()
	if err != nil {
		t.Fatalf("curl: %v %s", err, stdout)
	}
	code, connects, _ = strings.Cut(string(stdout), " ")
	b, _ := os.ReadFile(out)
	return code, connects, string(b)
}

// TestCurlNTLM: curl --ntlm with the right password gets 200 on one
// keep-alive connection; with a wrong one 401, and the server logs
// SEC_E_LOGON_DENIED. NTLM_WRITE_TESTDATA=1 stores the right-password
// handshake in testdata/curl-*.hex.
func TestCurlNTLM(t *testing.T) {
	curl := peertest.Binaries(t, "curl")["curl"]
	if curl == "" {
		return
	}
	h, srv, logs := startNTLMHTTP(t, curlPackage("Secret1!"))
	code, connects, body := runCurl(t, curl, srv.URL+"/", `EXAMPLE\alice:Secret1!`)
	if code != "200" || connects != "1" || body != `hello EXAMPLE\alice` {
		t.Fatalf("right password: HTTP %s over %s connections, body %q; server log:\n%s", code, connects, body, logs)
	}
	h.mu.Lock()
	toks := h.tokens
	h.mu.Unlock()
	if len(toks) != 3 {
		t.Fatalf("%d NTLM messages, want NEGOTIATE, CHALLENGE, AUTHENTICATE", len(toks))
	}
	if a, err := parseAuthenticate(toks[2]); err != nil || a.hasMIC || !a.isV2 || a.flags&negotiateVersion == 0 {
		t.Errorf("curl's AUTHENTICATE is not the one this test is about (v2, VERSION flag, no MIC): %+v %v", a, err)
	}
	if os.Getenv("NTLM_WRITE_TESTDATA") == "1" {
		for i, name := range []string{"negotiate", "challenge", "authenticate"} {
			path := filepath.Join("testdata", "curl-"+name+".hex")
			if err := os.WriteFile(path, []byte(hex.EncodeToString(toks[i])+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}

	code, _, _ = runCurl(t, curl, srv.URL+"/", `EXAMPLE\alice:wrong`)
	if code != "401" || !strings.Contains(logs.String(), "status=SEC_E_LOGON_DENIED") {
		t.Fatalf("wrong password: HTTP %s; server log:\n%s", code, logs)
	}
}

// replayCurl replays the stored curl handshake against an acceptor that
// issues the very CHALLENGE curl answered (its server challenge and
// timestamp, read back from testdata/curl-challenge.hex) and returns the
// acceptor's final result.
func replayCurl(t *testing.T, password string, opts ...Option) mechs.StepResult {
	t.Helper()
	neg, chal, auth := token(t, "curl-negotiate"), token(t, "curl-challenge"), token(t, "curl-authenticate")
	cm, err := parseChallenge(chal)
	if err != nil {
		t.Fatal(err)
	}
	ts, _ := cm.targetInfo.timestamp()
	at := fromFiletime(ts)
	p := curlPackage(password, append([]Option{WithRand(&fixedRand{cm.serverChallenge[:]}), WithClock(func() time.Time { return at })}, opts...)...)
	cred, _ := p.AcquireCredentials(mechs.CredentialRequest{Use: secctx.SECPKG_CRED_INBOUND})
	s, _ := cred.NewAcceptor(mechs.AcceptorParams{})
	r := s.Step(stepIn(neg))
	if r.Status != status.SEC_I_CONTINUE_NEEDED || !bytes.Equal(r.Token, chal) {
		t.Fatalf("the acceptor does not reissue the stored CHALLENGE: %v\n got %x\nwant %x", r.Status, r.Token, chal)
	}
	return s.Step(stepIn(auth))
}

// TestStoredCurlAuthenticate: the captured curl AUTHENTICATE (no Version
// field although its flags carry VERSION) parses with its 64-byte header,
// is accepted with the right password, and refused with SEC_E_LOGON_DENIED
// with another or under WithRequireMIC (it has no MIC).
func TestStoredCurlAuthenticate(t *testing.T) {
	neg, err := parseNegotiate(token(t, "curl-negotiate"))
	if err != nil || neg.flags&negotiateVersion != 0 {
		t.Fatalf("curl's NEGOTIATE: %v, flags %#x", err, neg.flags)
	}
	auth := token(t, "curl-authenticate")
	a, err := parseAuthenticate(auth)
	if err != nil {
		t.Fatalf("curl's AUTHENTICATE does not parse: %v", err)
	}
	if a.flags&negotiateVersion == 0 || a.version != (version{}) || a.hasMIC || !a.isV2 {
		t.Fatalf("flags %#x, version %x, MIC %v, v2 %v", a.flags, a.version, a.hasMIC, a.isV2)
	}
	// LmChallengeResponse comes first in curl's payload.
	if lowest := readField(auth, 12).off; lowest != authenticateFixed {
		t.Fatalf("payload starts at %d, want %d (no Version field)", lowest, authenticateFixed)
	}
	if r := replayCurl(t, "Secret1!"); r.Status != status.SEC_E_OK {
		t.Fatalf("right password: %v %v", r.Status, r.Err)
	}
	if r := replayCurl(t, "other"); r.Status != status.SEC_E_LOGON_DENIED {
		t.Fatalf("other password: %v %v", r.Status, r.Err)
	}
	if r := replayCurl(t, "Secret1!", WithRequireMIC()); r.Status != status.SEC_E_LOGON_DENIED {
		t.Fatalf("WithRequireMIC: %v %v", r.Status, r.Err)
	}
}
