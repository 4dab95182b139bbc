// Package gsspeer drives MIT GSSAPI (through python3-gssapi) as the other
// side of a handshake, so that tests can prove interoperability with real
// MIT krb5, MIT's SPNEGO and gss-ntlmssp.
//
// Each Peer is one child process running an embedded Python script
// (peer.py) that holds one GSSAPI security context. Go sends it requests
// one line at a time over its standard input and reads one answer line per
// request from its standard output; tokens travel base64-encoded. No
// goroutine is started by this package besides those of os/exec, and Close
// (also registered with t.Cleanup) kills the process and waits for it.
//
// When python3-gssapi is missing, Start skips the test, or fails it when
// ASYNCSSPI_REQUIRE_PEERS=1 (see internal/peertest).
package gsspeer

import (
	"bufio"
	_ "embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/asyncsspi/asyncsspi/internal/peertest"
)

//go:embed peer.py
var script string

// Peer is one running GSSAPI peer. Its methods may be called from several
// goroutines; requests are serialized by mu.
type Peer struct {
	cfg Config

	mu      sync.Mutex // guards everything below and the request/answer pairing
	cmd     *exec.Cmd
	stdin   io.WriteCloser
	stdout  *bufio.Reader
	rawOut  io.ReadCloser
	stderr  *peertest.Buffer
	info    *Info
	closed  bool
	waitErr error
}

// Start runs a peer for t. It fails t if the peer cannot start or its
// credentials cannot be acquired; StartErr returns that error instead.
func Start(t testing.TB, cfg Config) *Peer {
	t.Helper()
	p, err := StartErr(t, cfg)
	if err != nil {
		t.Fatalf("gsspeer: start %s %s: %v", cfg.Mech, cfg.Role, err)
	}
	return p
}

// StartErr is Start, returning the failure (typically an *Error from
// acquiring credentials) instead of failing t. It still skips or fails t
// when python3-gssapi is missing, and registers Close with t.Cleanup.
func StartErr(t testing.TB, cfg Config) (*Peer, error) {
	t.Helper()
	// Whether this Python can import gssapi is learnt from the script's
	// greeting, which saves starting it twice per peer (peertest.Python
	// would).
	py := peertest.PythonPath(t)
	if cfg.Mech == NTLMSSP || slices.Contains(cfg.NegMechs, NTLMSSP) || slices.Contains(cfg.CredMechs, NTLMSSP) {
		peertest.NTLMSSP(t)
	}
	if cfg.Mech == "" {
		cfg.Mech = Krb5
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 30 * time.Second
	}
	cmd := exec.Command(py, "-u", "-c", script)
	cmd.Env = environ(cfg.Env)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	p := &Peer{cfg: cfg, cmd: cmd, stdin: stdin, rawOut: stdout, stdout: bufio.NewReader(stdout), stderr: new(peertest.Buffer)}
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	t.Cleanup(func() { p.Close() })

	wire := map[string]any{
		"role":     map[Role]string{Initiator: "initiate", Acceptor: "accept"}[cfg.Role],
		"mech":     string(cfg.Mech),
		"target":   cfg.Target,
		"flags":    uint32(cfg.Flags),
		"username": cfg.Username,
		"password": cfg.Password,
	}
	if cfg.AcceptorName != "" {
		wire["acceptor_name"] = cfg.AcceptorName
	}
	if len(cfg.CredMechs) > 0 {
		wire["cred_mechs"] = cfg.CredMechs
	}
	if len(cfg.NegMechs) > 0 {
		wire["neg_mechs"] = cfg.NegMechs
	}
	if cb := cfg.ChannelBindings; cb != nil {
		wire["bindings"] = map[string]any{
			"initiator_addr_type": cb.InitiatorAddrType,
			"initiator_address":   b64(cb.InitiatorAddress),
			"acceptor_addr_type":  cb.AcceptorAddrType,
			"acceptor_address":    b64(cb.AcceptorAddress),
			"application_data":    b64(cb.ApplicationData),
		}
	}
	line, err := json.Marshal(wire)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	fields, err := p.roundTrip(string(line))
	p.mu.Unlock()
	if err != nil {
		return nil, err
	}
	if len(fields) == 2 && fields[0] == "MISSING" {
		p.Close()
		peertest.Missing(t, "python3 with the gssapi module (Debian package python3-gssapi): "+fields[1])
	}
	if len(fields) != 1 || fields[0] != "READY" {
		return nil, fmt.Errorf("gsspeer: unexpected greeting %q", fields)
	}
	return p, nil
}

// environ is os.Environ() without the variables that select Kerberos and
// NTLM configuration, then extra.
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

// Step feeds the other side's token (nil for an initiator's first call) to
// gss_init_sec_context or gss_accept_sec_context and returns the token to
// send back (possibly empty) and whether the context is complete. A GSSAPI
// failure is an *Error whose Token holds any error token to forward; out
// holds it too.
func (p *Peer) Step(token []byte) (out []byte, complete bool, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fields, err := p.roundTrip("STEP " + b64(token))
	if err != nil {
		var ge *Error
		if errors.As(err, &ge) {
			return ge.Token, false, err
		}
		return nil, false, err
	}
	if len(fields) != 3 {
		return nil, false, fmt.Errorf("gsspeer: bad STEP answer %q", fields)
	}
	out, err = unb64(fields[1])
	if err != nil {
		return nil, false, err
	}
	complete = fields[2] == "1"
	if complete {
		p.info = nil // refreshed on demand
	}
	return out, complete, nil
}

// Wrap seals (conf) or signs msg with gss_wrap.
func (p *Peer) Wrap(msg []byte, conf bool) ([]byte, error) {
	c := "0"
	if conf {
		c = "1"
	}
	return p.one("WRAP " + c + " " + b64(msg))
}

// Unwrap opens a gss_wrap token. Use UnwrapConf to learn whether it was
// sealed.
func (p *Peer) Unwrap(tok []byte) ([]byte, error) {
	msg, _, err := p.UnwrapConf(tok)
	return msg, err
}

// UnwrapConf opens a gss_wrap token and reports whether it was sealed.
func (p *Peer) UnwrapConf(tok []byte) (msg []byte, conf bool, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fields, err := p.roundTrip("UNWRAP " + b64(tok))
	if err != nil {
		return nil, false, err
	}
	if len(fields) != 3 {
		return nil, false, fmt.Errorf("gsspeer: bad UNWRAP answer %q", fields)
	}
	msg, err = unb64(fields[1])
	return msg, fields[2] == "1", err
}

// GetMIC returns gss_get_mic's token for msg.
func (p *Peer) GetMIC(msg []byte) ([]byte, error) {
	return p.one("MIC " + b64(msg))
}

// VerifyMIC checks mic over msg with gss_verify_mic.
func (p *Peer) VerifyMIC(msg, mic []byte) error {
	_, err := p.one("VERIFY " + b64(msg) + " " + b64(mic))
	return err
}

// Info returns what the peer knows about its context (best after the
// handshake completes).
func (p *Peer) Info() (Info, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.info != nil {
		return *p.info, nil
	}
	fields, err := p.roundTrip("INFO")
	if err != nil {
		return Info{}, err
	}
	if len(fields) < 2 {
		return Info{}, fmt.Errorf("gsspeer: bad INFO answer %q", fields)
	}
	var info Info
	if err := json.Unmarshal([]byte(strings.Join(fields[1:], " ")), &info); err != nil {
		return Info{}, fmt.Errorf("gsspeer: bad INFO answer: %v", err)
	}
	if info.SessionKey, err = unb64(info.SessionKeyB64); err != nil {
		return Info{}, err
	}
	if len(info.SessionKey) == 0 {
		info.SessionKey = nil
	}
	if info.Complete {
		p.info = &info
	}
	return info, nil
}

// PeerName returns the other side's name once the handshake is complete:
// for an acceptor the authenticated client (e.g. "alice@ASYNCSSPI.TEST",
// or "DOMAIN\\user" for NTLM), for an initiator the configured Target. It
// returns "" on failure.
func (p *Peer) PeerName() string {
	info, err := p.Info()
	if err != nil {
		return ""
	}
	return info.Peer
}

// Mech returns the mechanism OID of the context in dotted form; for SPNEGO
// the negotiated mechanism. It returns "" on failure.
func (p *Peer) Mech() string {
	info, err := p.Info()
	if err != nil {
		return ""
	}
	return info.Mech
}

// Flags returns the context's returned flags (0 on failure).
func (p *Peer) Flags() Flag {
	info, err := p.Info()
	if err != nil {
		return 0
	}
	return info.Flags
}

// Stderr returns what the child wrote to its standard error so far.
func (p *Peer) Stderr() string { return p.stderr.String() }

// Close ends the peer: it closes its input, kills the process and waits for
// it. It is safe to call more than once; Start registers it with t.Cleanup.
func (p *Peer) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil
	}
	p.closed = true
	p.stdin.Close()
	_ = p.cmd.Process.Kill()
	p.waitErr = p.cmd.Wait()
	return nil
}

func (p *Peer) one(req string) ([]byte, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fields, err := p.roundTrip(req)
	if err != nil {
		return nil, err
	}
	if len(fields) != 2 {
		return nil, fmt.Errorf("gsspeer: bad answer %q", fields)
	}
	return unb64(fields[1])
}

// roundTrip sends one request line and reads its answer: the fields of the
// first line starting "@@ ". An "ERR" answer becomes an *Error. The caller
// holds p.mu.
func (p *Peer) roundTrip(req string) ([]string, error) {
	if p.closed {
		return nil, errors.New("gsspeer: peer closed")
	}
	if _, err := io.WriteString(p.stdin, req+"\n"); err != nil {
		return nil, p.deadErr(err)
	}
	if d, ok := p.rawOut.(interface{ SetReadDeadline(time.Time) error }); ok {
		_ = d.SetReadDeadline(time.Now().Add(p.cfg.Timeout))
	}
	for {
		line, err := p.stdout.ReadString('\n')
		if err != nil {
			return nil, p.deadErr(err)
		}
		line = strings.TrimRight(line, "\r\n")
		rest, ok := strings.CutPrefix(line, "@@ ")
		if !ok {
			continue // library chatter on stdout
		}
		if errRest, isErr := strings.CutPrefix(rest, "ERR "); isErr {
			return nil, parseError(errRest)
		}
		if rest == "READY" {
			return []string{"READY"}, nil
		}
		if why, missing := strings.CutPrefix(rest, "MISSING "); missing {
			return []string{"MISSING", why}, nil
		}
		okRest, isOK := strings.CutPrefix(rest, "OK ")
		if !isOK {
			return nil, fmt.Errorf("gsspeer: unexpected answer %q", rest)
		}
		if strings.HasPrefix(okRest, "{") { // INFO: one JSON field
			return []string{"OK", okRest}, nil
		}
		return append([]string{"OK"}, strings.Fields(okRest)...), nil
	}
}

func (p *Peer) deadErr(err error) error {
	return fmt.Errorf("gsspeer: peer process: %v; stderr:\n%s", err, p.stderr.String())
}

func parseError(s string) error {
	tok, js, _ := strings.Cut(s, " ")
	var e struct {
		Major   uint32 `json:"major"`
		Minor   uint32 `json:"minor"`
		Message string `json:"message"`
	}
	if err := json.Unmarshal([]byte(js), &e); err != nil {
		return fmt.Errorf("gsspeer: bad error answer %q", s)
	}
	t, _ := unb64(tok)
	return &Error{Major: e.Major, Minor: e.Minor, Message: e.Message, Token: t}
}

func b64(b []byte) string {
	if len(b) == 0 {
		return "-"
	}
	return base64.StdEncoding.EncodeToString(b)
}

func unb64(s string) ([]byte, error) {
	if s == "-" || s == "" {
		return nil, nil
	}
	return base64.StdEncoding.DecodeString(s)
}
