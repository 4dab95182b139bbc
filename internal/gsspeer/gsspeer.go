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
	"bytes"
	_ "embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	secctx "github.com/asyncsspi/asyncsspi/context"
	"github.com/asyncsspi/asyncsspi/internal/peertest"
)

//go:embed peer.py
var script string

// Role says which side of the handshake the peer plays.
type Role int

const (
	// Initiator calls gss_init_sec_context (the client).
	Initiator Role = iota
	// Acceptor calls gss_accept_sec_context (the server).
	Acceptor
)

func (r Role) String() string {
	if r == Acceptor {
		return "acceptor"
	}
	return "initiator"
}

// Mech is a GSSAPI mechanism OID in dotted form.
type Mech string

// Mechanism OIDs.
const (
	Krb5    Mech = "1.2.840.113554.1.2.2"
	SPNEGO  Mech = "1.3.6.1.5.5.2"
	NTLMSSP Mech = "1.3.6.1.4.1.311.2.2.10"
)

// Flag is a GSS-API request/return flag (RFC 2744 values).
type Flag uint32

// GSS_C_*_FLAG values.
const (
	Deleg    Flag = 1
	Mutual   Flag = 2
	Replay   Flag = 4
	Sequence Flag = 8
	Conf     Flag = 16
	Integ    Flag = 32
	Anon     Flag = 64
)

// Config describes one peer.
type Config struct {
	Role Role
	Mech Mech

	// Target is, for an initiator, the acceptor's name: a host-based
	// service "service@host" (e.g. "HTTP@localhost") when it has an '@'
	// and no '/', otherwise a Kerberos principal ("HTTP/localhost@REALM").
	// For an acceptor it is ignored; see AcceptorName.
	Target string

	// AcceptorName, for a Kerberos acceptor, restricts it to that principal's
	// keys (gss_acquire_cred by name). Empty accepts with any key in the
	// keytab (KRB5_KTNAME). Never use it with NTLM.
	AcceptorName string

	// Flags requested by an initiator. Zero means python-gssapi's default,
	// Mutual|Sequence (it cannot request no flags at all); for a one-leg
	// krb5 exchange without AP-REP request e.g. Integ alone.
	Flags Flag

	// Username and Password make an initiator acquire credentials with a
	// password (gss_acquire_cred_with_password) for CredMechs. For NTLM,
	// Username may be "DOMAIN\\user" or "user@DOMAIN". Without a password
	// the peer uses default credentials: the ccache (KRB5CCNAME) for krb5,
	// the keytab (KRB5_KTNAME) for a krb5 acceptor, NTLM_USER_FILE for NTLM.
	Username string
	Password string

	// CredMechs lists the mechanisms to acquire credentials for; empty means
	// [Mech]. Setting it (or NegMechs) makes the peer acquire credentials
	// explicitly instead of passing GSS_C_NO_CREDENTIAL.
	CredMechs []Mech

	// NegMechs, for SPNEGO, restricts and orders the mechanisms offered or
	// accepted (gss_set_neg_mechs on the SPNEGO credential).
	NegMechs []Mech

	// ChannelBindings, when set, are passed to init/accept.
	ChannelBindings *secctx.ChannelBindings

	// Env entries ("NAME=value") are added to the child's environment
	// after os.Environ() with KRB5*, NTLM_USER_FILE and GSS_MECH_CONFIG
	// removed: typically realm.Env() and "NTLM_USER_FILE=...".
	Env []string

	// Timeout bounds each request; zero means 30 s.
	Timeout time.Duration
}

// Error is a failure reported by GSSAPI (or by the script) in the peer.
type Error struct {
	Major   uint32 // GSS major status (routine error in bits 16-23)
	Minor   uint32 // mechanism status
	Message string // gss_display_status text, major and minor
	// Token is the error token GSSAPI produced with the failure, if any.
	Token []byte
}

func (e *Error) Error() string {
	return fmt.Sprintf("gsspeer: GSSAPI error (major 0x%08x, minor %d): %s", e.Major, e.Minor, e.Message)
}

// Info is what a peer knows about its context after the handshake.
type Info struct {
	Complete      bool   `json:"complete"`
	Peer          string `json:"peer"`      // initiator: the target; acceptor: the client's name (NUL stripped)
	Mech          string `json:"mech"`      // the mechanism in use (for SPNEGO, the negotiated one)
	Flags         Flag   `json:"flags"`     // returned flags
	Lifetime      *int   `json:"lifetime"`  // seconds, nil when indefinite
	Delegated     bool   `json:"delegated"` // acceptor: delegated credentials received
	DelegatedName string `json:"delegated_name"`
	SessionKey    []byte `json:"-"` // GSS_C_INQ_SSPI_SESSION_KEY, nil when unsupported
	SessionKeyB64 string `json:"session_key"`
}

// Peer is one running GSSAPI peer. Its methods may be called from several
// goroutines; requests are serialized by mu.
type Peer struct {
	cfg Config

	mu      sync.Mutex // guards everything below and the request/answer pairing
	cmd     *exec.Cmd
	stdin   io.WriteCloser
	stdout  *bufio.Reader
	rawOut  io.ReadCloser
	stderr  *lockedBuffer
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
	py := python(t)
	if cfg.Mech == NTLMSSP || containsMech(cfg.NegMechs, NTLMSSP) || containsMech(cfg.CredMechs, NTLMSSP) {
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
	p := &Peer{cfg: cfg, cmd: cmd, stdin: stdin, rawOut: stdout, stdout: bufio.NewReader(stdout), stderr: new(lockedBuffer)}
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

// python returns Debian's /usr/bin/python3 (see peers.md: an earlier
// python3 on PATH may be a build without gssapi), else python3 from PATH.
// Whether it can import gssapi is learnt from the script's greeting, which
// saves starting Python twice per peer (peertest.Python would).
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

func containsMech(ms []Mech, m Mech) bool {
	for _, x := range ms {
		if x == m {
			return true
		}
	}
	return false
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

// lockedBuffer collects the child's standard error, written by os/exec's
// copying goroutine and read by Stderr.
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
