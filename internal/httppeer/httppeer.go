// Package httppeer runs an HTTP server that authenticates with MIT GSSAPI,
// independent of this module's code, so that tests can prove the HTTP
// client (httpauth.Transport, sspi get) against a real implementation:
// Python's http.server driving MIT's SPNEGO acceptor through
// python3-gssapi (Kerberos from the keytab of KRB5_KTNAME; NTLM through
// gss-ntlmssp with NTLM_USER_FILE).
//
// The server answers a request without credentials with 401 and
// "WWW-Authenticate: Negotiate", keeps one GSSAPI context per connection
// while a handshake is in progress, and answers the request that
// completes it with 200, the authenticated name in a JSON body (see
// Reply), and the acceptor's final token in "WWW-Authenticate: Negotiate
// <token>" for the client to verify (unless Config.OmitFinalToken). A
// connection NTLM authenticated stays authenticated, as IIS does: its
// later requests need no token (unless Config.NoPersistNTLM). With a
// certificate it serves HTTPS and gives the acceptor tls-server-end-point
// channel bindings (RFC 5929), computed by the script from the
// certificate file.
//
// Start runs the server as a child process (the embedded server.py) on a
// free loopback port; Close (registered with t.Cleanup) kills it and
// waits. When python3-gssapi is missing, Start skips the test, or fails it
// when ASYNCSSPI_REQUIRE_PEERS=1 (see internal/peertest); a test that
// needs NTLM calls peertest.NTLMSSP itself. The only goroutines are
// os/exec's and the one that waits for the process, which Close ends.
package httppeer

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/asyncsspi/asyncsspi/internal/peertest"
)

//go:embed server.py
var script string

// Config describes one server.
type Config struct {
	// Env entries ("NAME=value") are added to the child's environment
	// after os.Environ() with KRB5*, NTLM_USER_FILE and GSS_MECH_CONFIG
	// removed: typically realm.Env() (KRB5_CONFIG, KRB5_KTNAME,
	// KRB5RCACHEDIR) and "NTLM_USER_FILE=...".
	Env []string
	// NoPersistNTLM makes every request need its own handshake, also
	// after NTLM.
	NoPersistNTLM bool
	// OmitFinalToken leaves the acceptor's final token out of the 200,
	// as a server that does not support mutual authentication would.
	OmitFinalToken bool
	// CertFile and KeyFile (PEM), when set, make the server speak HTTPS
	// with that certificate (signed with SHA-256) and pass
	// tls-server-end-point channel bindings to the acceptor.
	CertFile, KeyFile string
	// StartTimeout bounds the wait for the server to listen; zero means
	// 30 s.
	StartTimeout time.Duration
}

// Reply is the body of the server's 200.
type Reply struct {
	User       string `json:"user"` // "alice@REALM" or "DOMAIN\\alice"
	Mech       string `json:"mech"` // the mechanism OID: Kerberos 1.2.840.113554.1.2.2, NTLM 1.3.6.1.4.1.311.2.2.10
	Conn       int    `json:"conn"` // the server's number for the connection
	Request    int    `json:"request"`
	Method     string `json:"method"`
	Path       string `json:"path"`
	BodyLen    int    `json:"body_len"`
	BodySHA256 string `json:"body_sha256"`
	Reused     bool   `json:"reused"` // answered on an NTLM-authenticated connection, without a token
}

// Mechanism OIDs as Reply.Mech gives them.
const (
	MechKerberos = "1.2.840.113554.1.2.2"
	MechNTLM     = "1.3.6.1.4.1.311.2.2.10"
)

// ParseReply decodes a 200's body.
func ParseReply(body []byte) (Reply, error) {
	var r Reply
	err := json.Unmarshal(body, &r)
	return r, err
}

// Request is one request as the server logged it.
type Request struct {
	Conn    int    `json:"conn"`
	Request int    `json:"request"`
	Path    string `json:"path"`
	Scheme  string `json:"scheme"` // of the Authorization header, "" none
	BodyLen int    `json:"body_len"`
	Status  int    `json:"status"`
	Error   string `json:"error"` // why a 401 was given
	Token   bool   `json:"token"` // the answer carried a token
	User    string `json:"user"`
	Mech    string `json:"mech"`
	Reused  bool   `json:"reused"`
}

// Server is a running server.
type Server struct {
	// URL is "http://localhost:PORT" (https with a certificate): the
	// host name of the test realm's service principal HTTP/localhost.
	URL  string
	Port int

	cmd  *exec.Cmd
	out  *lineWriter
	err  *lockedBuffer
	done chan struct{} // closed when the process has exited
	once sync.Once
}

// Start runs a server for t. It fails t if the server does not start.
func Start(t testing.TB, cfg Config) *Server {
	t.Helper()
	py := python(t)
	if cfg.StartTimeout == 0 {
		cfg.StartTimeout = 30 * time.Second
	}
	conf, err := json.Marshal(map[string]any{
		"persist_ntlm": !cfg.NoPersistNTLM,
		"final":        map[bool]string{false: "send", true: "omit"}[cfg.OmitFinalToken],
		"cert":         cfg.CertFile,
		"key":          cfg.KeyFile,
	})
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(py, "-u", "-c", script)
	cmd.Env = environ(cfg.Env)
	cmd.Stdin = strings.NewReader(string(conf) + "\n")
	s := &Server{cmd: cmd, out: newLineWriter(), err: new(lockedBuffer), done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = s.out, s.err
	if err := cmd.Start(); err != nil {
		t.Fatalf("httppeer: start %s: %v", py, err)
	}
	go func() {
		cmd.Wait()
		close(s.done)
	}()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("httppeer: server log:\n%s", s.Stderr())
		}
		s.Close()
	})
	timer := time.NewTimer(cfg.StartTimeout)
	defer timer.Stop()
	select {
	case first := <-s.out.first:
		switch {
		case strings.HasPrefix(first, "LISTEN "):
			s.Port, err = strconv.Atoi(strings.TrimPrefix(first, "LISTEN "))
			if err != nil {
				t.Fatalf("httppeer: bad greeting %q", first)
			}
		case strings.HasPrefix(first, "MISSING "):
			s.Close()
			peertest.Missing(t, "python3 with the gssapi module (Debian package python3-gssapi): "+strings.TrimPrefix(first, "MISSING "))
			return nil
		default:
			t.Fatalf("httppeer: server failed: %s\n%s", first, s.Stderr())
		}
	case <-s.done:
		t.Fatalf("httppeer: server exited before listening:\n%s", s.Stderr())
	case <-timer.C:
		t.Fatalf("httppeer: server not listening after %v:\n%s", cfg.StartTimeout, s.Stderr())
	}
	scheme := "http"
	if cfg.CertFile != "" {
		scheme = "https"
	}
	s.URL = fmt.Sprintf("%s://localhost:%d", scheme, s.Port)
	return s
}

// python returns Debian's /usr/bin/python3 (peers.md: an earlier python3
// on PATH may be a build without gssapi), else python3 from PATH; whether
// it has gssapi is learnt from the script's greeting.
func python(t testing.TB) string {
	t.Helper()
	for _, p := range []string{"/usr/bin/python3", "python3"} {
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	peertest.Missing(t, "python3 (with the Debian package python3-gssapi)")
	return ""
}

// environ is os.Environ() without the variables that select Kerberos
// and NTLM configuration, then extra.
func environ(extra []string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "KRB5") || strings.HasPrefix(kv, "NTLM_USER_FILE=") || strings.HasPrefix(kv, "GSS_MECH_CONFIG=") {
			continue
		}
		env = append(env, kv)
	}
	return append(env, extra...)
}

// Requests returns the requests the server has answered so far, in the
// order it answered them.
func (s *Server) Requests() []Request {
	var rs []Request
	for _, line := range s.out.lines() {
		js, ok := strings.CutPrefix(line, "REQ ")
		if !ok {
			continue
		}
		var r Request
		if json.Unmarshal([]byte(js), &r) == nil {
			rs = append(rs, r)
		}
	}
	return rs
}

// Stderr returns what the server wrote to its standard error (its access
// log and any Python traceback).
func (s *Server) Stderr() string { return s.err.String() }

// Close kills the server and waits for it. It is safe to call more than
// once.
func (s *Server) Close() {
	s.once.Do(func() {
		_ = s.cmd.Process.Kill()
		<-s.done
	})
}

// lineWriter collects the child's standard output, written by os/exec's
// copying goroutine, and hands the first "@@ " line to first.
type lineWriter struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	all   []string
	first chan string // receives the first "@@ " line, once
	sent  bool
}

func newLineWriter() *lineWriter { return &lineWriter{first: make(chan string, 1)} }

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	for {
		line, err := w.buf.ReadString('\n')
		if errors.Is(err, io.EOF) {
			w.buf.Reset()
			w.buf.WriteString(line) // an unfinished line waits for its end
			break
		}
		line = strings.TrimRight(line, "\r\n")
		rest, ok := strings.CutPrefix(line, "@@ ")
		if !ok {
			continue
		}
		w.all = append(w.all, rest)
		if !w.sent {
			w.sent = true
			w.first <- rest
		}
	}
	return len(p), nil
}

func (w *lineWriter) lines() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.all...)
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
