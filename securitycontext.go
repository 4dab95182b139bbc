package asyncsspi

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/asyncsspi/asyncsspi/async"
	secctx "github.com/asyncsspi/asyncsspi/context"
	"github.com/asyncsspi/asyncsspi/status"
)

// ContextOption sets a request of a new security context.
type ContextOption func(*contextConfig)

type contextConfig struct {
	isc      secctx.ISCReq
	asc      secctx.ASCReq
	bindings *secctx.ChannelBindings
	err      error
}

// MutualAuth asks that the server prove itself (ISC_REQ_MUTUAL_AUTH): with
// Kerberos, the client's handshake succeeds only once the server's AP-REP
// is verified.
func MutualAuth() ContextOption {
	return func(c *contextConfig) { c.isc |= secctx.ISC_REQ_MUTUAL_AUTH }
}

// Delegate asks to delegate the client's Kerberos TGT to the server
// (ISC_REQ_DELEGATE), so that the server can act as the client; the server
// reads it with SecurityContext.DelegatedCredential.
func Delegate() ContextOption {
	return func(c *contextConfig) { c.isc |= secctx.ISC_REQ_DELEGATE }
}

// Confidentiality asks for sealing (Seal and Open) and integrity.
func Confidentiality() ContextOption {
	return func(c *contextConfig) {
		c.isc |= secctx.ISC_REQ_CONFIDENTIALITY | secctx.ISC_REQ_INTEGRITY
		c.asc |= secctx.ASC_REQ_CONFIDENTIALITY | secctx.ASC_REQ_INTEGRITY
	}
}

// Integrity asks for signing (Sign and Verify).
func Integrity() ContextOption {
	return func(c *contextConfig) {
		c.isc |= secctx.ISC_REQ_INTEGRITY
		c.asc |= secctx.ASC_REQ_INTEGRITY
	}
}

// ExtendedError asks a server to answer a refusal with the package's error
// token (a Kerberos KRB-ERROR), as ASC_REQ_EXTENDED_ERROR does; the token
// is the output of the failed Step and should be sent to the client.
func ExtendedError() ContextOption {
	return func(c *contextConfig) {
		c.asc |= secctx.ASC_REQ_EXTENDED_ERROR
		c.isc |= secctx.ISC_REQ_EXTENDED_ERROR
	}
}

// ChannelBindings binds the handshake to a channel (SEC_CHANNEL_BINDINGS):
// the server refuses a handshake made over another channel.
func ChannelBindings(cb *secctx.ChannelBindings) ContextOption {
	return func(c *contextConfig) { c.bindings = cb }
}

// TLSChannelBindings binds the handshake to a TLS connection with
// tls-server-end-point bindings (RFC 5929), as Windows does for HTTPS.
func TLSChannelBindings(cs *tls.ConnectionState) ContextOption {
	return func(c *contextConfig) {
		cb, err := secctx.EndpointBindings(cs)
		if err != nil {
			c.err = err
			return
		}
		c.bindings = cb
	}
}

// RequestFlags adds raw ISC_REQ_* and ASC_REQ_* bits, for what the other
// options do not name.
func RequestFlags(isc secctx.ISCReq, asc secctx.ASCReq) ContextOption {
	return func(c *contextConfig) { c.isc |= isc; c.asc |= asc }
}

// SecurityContext is one side of one handshake, for Go callers. A handshake
// is a series of legs: give each the peer's last token (nil on a client's
// first leg), send the output to the peer, until done. Step does a leg and
// waits for it; Start, Status, Done, Wait, Result and OnComplete do the same
// for event loops, without blocking.
//
// A SecurityContext runs one leg at a time; its methods may be called from
// any goroutine but not concurrently with a Start or Step of the same
// context. Close it when done (it deletes the security context).
type SecurityContext struct {
	e      *Engine
	cred   *Credential
	client bool
	target string
	isc    secctx.ISCReq
	asc    secctx.ASCReq

	ac     *async.AsyncContext
	input  [2]secctx.Buffer // the leg's input, kept until it completes
	ninput int
	cbBlob []byte

	// h is the security context's handle once the first leg has given
	// one; written by Start and result, which never run concurrently
	// (see the type's comment).
	h      secctx.CtxtHandle
	done   bool
	failed bool

	mu    sync.Mutex // guards value and onDone
	value any
}

// NewClientContext starts a client's handshake with target, the server's
// service principal name ("HTTP/web.example.com").
func (c *Credential) NewClientContext(target string, opts ...ContextOption) (*SecurityContext, error) {
	if !c.use.Outbound() {
		return nil, status.Errorf(status.SEC_E_WRONG_CREDENTIAL_HANDLE, c.pkg, "a server credential cannot start a client context")
	}
	return c.newContext(true, target, opts)
}

// NewServerContext starts a server's handshake.
func (c *Credential) NewServerContext(opts ...ContextOption) (*SecurityContext, error) {
	if !c.use.Inbound() {
		return nil, status.Errorf(status.SEC_E_WRONG_CREDENTIAL_HANDLE, c.pkg, "a client credential cannot accept")
	}
	return c.newContext(false, "", opts)
}

func (c *Credential) newContext(client bool, target string, opts []ContextOption) (*SecurityContext, error) {
	var cfg contextConfig
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.err != nil {
		return nil, status.New(status.SEC_E_BAD_BINDINGS, c.pkg, cfg.err)
	}
	s := &SecurityContext{e: c.e, cred: c, client: client, target: target, isc: cfg.isc, asc: cfg.asc}
	if cfg.bindings != nil {
		s.cbBlob = cfg.bindings.Marshal()
	}
	s.ac = c.e.async.CreateAsyncContext()
	s.ac.SetValue(s) // a drained async context leads back to s (CompletionQueue)
	return s, nil
}

// Step runs one leg with the peer's token in (nil for a client's first
// leg) and waits for it under ctx. out, when not empty, must be sent to
// the peer — also when done is true (a final token such as Kerberos'
// AP-REP). done reports that this side is established. If ctx ends first,
// the leg is cancelled and Step returns an error wrapping ctx.Err(); the
// handshake cannot go on.
func (s *SecurityContext) Step(ctx context.Context, in []byte) (out []byte, done bool, err error) {
	if err := s.Start(in); err != nil {
		return nil, false, err
	}
	select {
	case <-s.ac.Done():
	case <-ctx.Done():
		s.ac.Cancel()
		<-s.ac.Done()
		out, done, err := s.Result()
		if err != nil {
			// The leg's own error (cancelled, its status) and the
			// reason: errors.Is finds both, context.DeadlineExceeded
			// included.
			err = fmt.Errorf("%w (%w)", err, ctx.Err())
		}
		return out, done, err
	}
	return s.Result()
}

// Start queues one leg and returns at once. A nil error means the leg is
// queued: Status reads SEC_I_ASYNC_CALL_PENDING until it completes, then
// Result has its outcome. An error means it was not queued; it carries the
// reason (async.StatusQueueFull when the engine is at its depth: try again
// later; async.StatusBusy while the previous leg is pending). in must not
// be changed until the leg completes.
func (s *SecurityContext) Start(in []byte) error {
	if s.ac.Status() == status.SEC_I_ASYNC_CALL_PENDING {
		return status.New(async.StatusBusy, s.cred.pkg, errors.New("a leg is already pending"))
	}
	s.collect()
	if s.failed {
		return status.New(status.SEC_E_INVALID_HANDLE, s.cred.pkg, errors.New("the handshake failed earlier"))
	}
	if s.done && !s.client {
		return status.New(async.StatusBusy, s.cred.pkg, errors.New("the server's handshake is complete"))
	}
	n := 0
	if in != nil {
		s.input[n] = secctx.Buffer{Type: secctx.SECBUFFER_TOKEN, Data: in}
		n++
	}
	if s.cbBlob != nil {
		s.input[n] = secctx.Buffer{Type: secctx.SECBUFFER_CHANNEL_BINDINGS, Data: s.cbBlob}
		n++
	}
	s.ninput = n
	var bufs []secctx.Buffer
	if n > 0 {
		bufs = s.input[:n]
	}
	// Nothing of s is written after the leg is queued: its completion may
	// run (and call Result) before the queuing call returns.
	s.done = false
	var st status.Code
	if s.client {
		// Calling again after success re-authenticates (a new AP-REQ).
		st = s.e.async.InitializeSecurityContextAsync(s.ac, s.cred.h, s.h, s.target, s.isc, bufs)
	} else {
		st = s.e.async.AcceptSecurityContextAsync(s.ac, s.cred.h, s.h, bufs, s.asc)
	}
	if st != status.SEC_E_OK {
		s.collect() // the previous leg's outcome stands
		return status.New(st, s.cred.pkg, errors.New("leg not queued"))
	}
	return nil
}

// Status is where the current leg stands: SEC_I_ASYNC_CALL_PENDING while it
// runs, then its final SECURITY_STATUS (SEC_I_CONTINUE_NEEDED, SEC_E_OK or
// an error); async.StatusIdle before the first leg. One atomic load.
func (s *SecurityContext) Status() status.Code { return s.ac.Status() }

// Done returns a channel closed when the current leg completes (closed at
// once when no leg is pending).
func (s *SecurityContext) Done() <-chan struct{} { return s.ac.Done() }

// Wait waits for the current leg under ctx and returns its outcome as
// Result does, or ctx's error (wrapped, with the leg still running) if ctx
// ends first.
func (s *SecurityContext) Wait(ctx context.Context) (out []byte, done bool, err error) {
	if s.ac.Wait(ctx) == status.SEC_I_ASYNC_CALL_PENDING {
		return nil, false, status.New(status.SEC_I_ASYNC_CALL_PENDING, s.cred.pkg, ctx.Err())
	}
	return s.Result()
}

// Result is the outcome of the last completed leg, as Step returns it.
// Before it completes, err carries SEC_I_ASYNC_CALL_PENDING.
func (s *SecurityContext) Result() (out []byte, done bool, err error) {
	st := s.ac.Status()
	if st == status.SEC_I_ASYNC_CALL_PENDING {
		return nil, false, status.New(st, s.cred.pkg, errors.New("the leg is still pending"))
	}
	s.collect()
	if err := s.ac.Err(); err != nil {
		return s.ac.Token(), false, err
	}
	return s.ac.Token(), st == status.SEC_E_OK, nil
}

// collect takes the handle and the end of the handshake from the last
// completed leg.
func (s *SecurityContext) collect() {
	st := s.ac.Status()
	if st == status.SEC_I_ASYNC_CALL_PENDING || st == async.StatusIdle {
		return
	}
	if h := s.ac.ContextHandle(); h != 0 {
		s.h = h
	}
	switch {
	case st == status.SEC_E_OK:
		s.done = true
	case st.IsError() && st != status.SEC_E_INCOMPLETE_MESSAGE:
		// A refused leg ends the handshake; an incomplete one may be
		// tried again with the whole token.
		s.failed = true
	}
}

// Cancel ends the pending leg early (it completes with async.StatusCancelled).
func (s *SecurityContext) Cancel() { s.ac.Cancel() }

// OnComplete registers f, called once for each leg when it completes, on
// an engine goroutine (never inline in Start). f may call Result and Start
// the next leg; it must not block.
func (s *SecurityContext) OnComplete(f func(*SecurityContext)) {
	if f == nil {
		s.ac.SetNotifyCallback(nil, nil)
		return
	}
	s.ac.SetNotifyCallback(func(*async.AsyncContext, any) { f(s) }, nil)
}

// SetValue attaches the caller's own value (a connection, a request) to
// the context, so that a completion found through OnComplete or a
// completion queue leads back to it without a side map.
func (s *SecurityContext) SetValue(v any) {
	s.mu.Lock()
	s.value = v
	s.mu.Unlock()
}

// Value returns what SetValue attached.
func (s *SecurityContext) Value() any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.value
}

// Established reports whether this side's handshake has completed.
func (s *SecurityContext) Established() bool {
	s.collect()
	return s.done
}

// Handle returns the security context's handle in the SSPI-shaped API
// (Engine.Async), or 0 before the first leg has completed.
func (s *SecurityContext) Handle() secctx.CtxtHandle {
	s.collect()
	return s.h
}

// Close deletes the security context and releases its async context. A
// pending leg is cancelled (a later leg completes with
// async.StatusContextDeleted), without calling the OnComplete callback; a
// first leg whose step is already running is not interrupted, and the
// handle its result issues is deleted as it completes.
func (s *SecurityContext) Close() error {
	if s.ac.Status() == status.SEC_I_ASYNC_CALL_PENDING {
		// Registered before collect reads the status: a leg that
		// completes after that read finds this callback.
		e := s.e.async
		s.ac.SetNotifyCallback(func(ac *async.AsyncContext, _ any) {
			if h := ac.ContextHandle(); h != 0 {
				e.DeleteSecurityContext(h)
			}
		}, nil)
	}
	s.collect()
	var st status.Code
	if s.h != 0 {
		st = s.e.async.DeleteSecurityContext(s.h)
		s.h = 0
	} else {
		s.ac.Cancel()
	}
	s.e.async.FreeAsyncContext(s.ac)
	if st.IsError() {
		return status.New(st, s.cred.pkg, nil)
	}
	return nil
}

// Package is the package that did the handshake: "Kerberos" or "NTLM" under
// Negotiate (the one chosen), else the credential's.
func (s *SecurityContext) Package() string {
	if v, ok := s.query(secctx.SECPKG_ATTR_NEGOTIATION_INFO); ok {
		if ni, ok := v.(secctx.NegotiationInfo); ok && ni.Package.Name != "" {
			return ni.Package.Name
		}
	}
	return s.cred.pkg
}

// ClientName is the authenticated client: "user@REALM" (Kerberos) or
// "DOMAIN\user" (NTLM); "" before the handshake has got that far.
func (s *SecurityContext) ClientName() string {
	if v, ok := s.query(secctx.SECPKG_ATTR_NATIVE_NAMES); ok {
		if n, ok := v.(secctx.NativeNames); ok && n.ClientName != "" {
			return n.ClientName
		}
	}
	if v, ok := s.query(secctx.SECPKG_ATTR_NAMES); ok {
		if n, ok := v.(secctx.Names); ok {
			return n.UserName
		}
	}
	return ""
}

// ServerName is the server's principal, as the package knows it.
func (s *SecurityContext) ServerName() string {
	if v, ok := s.query(secctx.SECPKG_ATTR_NATIVE_NAMES); ok {
		if n, ok := v.(secctx.NativeNames); ok {
			return n.ServerName
		}
	}
	return ""
}

// Flags are the ISC_RET_* (client) or ASC_RET_* (server) bits established.
func (s *SecurityContext) Flags() uint64 {
	if v, ok := s.query(secctx.SECPKG_ATTR_FLAGS); ok {
		if f, ok := v.(secctx.Flags); ok {
			return f.Flags
		}
	}
	return 0
}

// MutuallyAuthenticated reports whether the server proved itself to the
// client (Kerberos with an AP-REP; always false for NTLM).
func (s *SecurityContext) MutuallyAuthenticated() bool {
	return s.Established() && s.Flags()&uint64(secctx.ISC_RET_MUTUAL_AUTH) != 0
}

// Expiry is when the context stops being valid (zero when it does not).
func (s *SecurityContext) Expiry() time.Time {
	if v, ok := s.query(secctx.SECPKG_ATTR_LIFESPAN); ok {
		if l, ok := v.(secctx.Lifespan); ok {
			return l.Expiry
		}
	}
	return time.Time{}
}

// SessionKey returns a copy of the session key the handshake established.
func (s *SecurityContext) SessionKey() ([]byte, error) {
	v, err := s.attribute(secctx.SECPKG_ATTR_SESSION_KEY)
	if err != nil {
		return nil, err
	}
	if k, ok := v.(secctx.SessionKey); ok {
		return append([]byte(nil), k.Key...), nil
	}
	return nil, status.Errorf(status.SEC_E_UNSUPPORTED_FUNCTION, s.cred.pkg, "no session key")
}

func (s *SecurityContext) query(attr secctx.Attribute) (any, bool) {
	v, err := s.attribute(attr)
	return v, err == nil
}

func (s *SecurityContext) attribute(attr secctx.Attribute) (any, error) {
	s.collect()
	if s.h == 0 {
		return nil, status.Errorf(status.SEC_E_NO_CONTEXT, s.cred.pkg, "no security context yet")
	}
	v, st := s.e.async.QueryContextAttributes(s.h, attr)
	if st != status.SEC_E_OK {
		return nil, status.New(st, s.cred.pkg, nil)
	}
	return v, nil
}
