// Package asyncsspi is the Go-shaped face of the library: an engine over the
// usual packages (Negotiate over Kerberos and NTLM), typed credentials that
// follow the environment as MIT Kerberos and gss-ntlmssp do, and a security
// context with one call per handshake leg, in the shape of x/crypto/ssh's
// GSSAPIClient, with typed accessors and per-message protection.
//
// The SSPI-shaped API it is built on stays available: package async has the
// whole Sspi*Async family, handles and buffers, and Engine.Async returns the
// engine underneath.
//
// A client in a few lines:
//
//	e := asyncsspi.New()
//	defer e.Close()
//	cred, err := e.ClientCredential(asyncsspi.FromEnvironment())
//	sc, err := cred.NewClientContext("HTTP/web.example.com", asyncsspi.MutualAuth())
//	out, done, err := sc.Step(ctx, nil) // send out; feed the server's reply to Step
//
// # Status codes and errors
//
// One rule: a method whose only answer is where a call stands returns a
// status.Code (SecurityContext.Status, like async.AsyncContext.Status: one
// atomic load, SEC_I_ASYNC_CALL_PENDING while a leg runs). Every other method
// returns an error, which for every failure the library itself reports is a
// *status.Error: errors.Is(err, status.SEC_E_LOGON_DENIED) tests the
// SECURITY_STATUS, errors.As(err, &se) gives the code, the package and the
// cause, and errors.Is also finds the cause's own sentinels
// (context.Canceled, replay.ErrReplay ...).
//
// # Goroutines
//
// An Engine owns the goroutines of package async (CPU workers and I/O
// goroutines started on demand); Close stops them and waits. Nothing in this
// package starts a goroutine of its own.
package asyncsspi

import (
	"log/slog"

	"github.com/asyncsspi/asyncsspi/async"
	"github.com/asyncsspi/asyncsspi/mechs"
	"github.com/asyncsspi/asyncsspi/mechs/kerberos"
	"github.com/asyncsspi/asyncsspi/mechs/negotiate"
	"github.com/asyncsspi/asyncsspi/mechs/ntlm"
)

// Engine runs handshakes for Go callers: the async engine over Negotiate,
// Kerberos and NTLM. Its methods are safe for concurrent use.
type Engine struct {
	async *async.Engine
	log   *slog.Logger
}

// Option configures New.
type Option func(*config)

type config struct {
	engine   []async.Option
	kerberos []kerberos.Option
	ntlm     []ntlm.Option
	log      *slog.Logger
}

// WithEngineOptions passes options to the async engine underneath (workers,
// queue depth, I/O limits and timeouts).
func WithEngineOptions(opts ...async.Option) Option {
	return func(c *config) { c.engine = append(c.engine, opts...) }
}

// WithKerberosOptions passes options to the Kerberos package (krb5.conf,
// clock skew, RC4, replay cache ...).
func WithKerberosOptions(opts ...kerberos.Option) Option {
	return func(c *config) { c.kerberos = append(c.kerberos, opts...) }
}

// WithNTLMOptions passes options to the NTLM package.
func WithNTLMOptions(opts ...ntlm.Option) Option {
	return func(c *config) { c.ntlm = append(c.ntlm, opts...) }
}

// WithLogger sets where the engine says what it had to do without
// (a credential part that is missing, say). Default: slog.Default().
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.log = l } }

// New returns an engine over the usual set: Negotiate (preferring Kerberos,
// falling back to NTLM, as Windows' Negotiate does), Kerberos and NTLM.
// Close it to stop its goroutines.
func New(opts ...Option) *Engine {
	var c config
	for _, o := range opts {
		o(&c)
	}
	if c.log == nil {
		c.log = slog.Default()
	}
	krb := kerberos.New(c.kerberos...)
	nt := ntlm.New(c.ntlm...)
	set := mechs.NewSet(negotiate.New(krb, nt), krb, nt)
	return &Engine{async: async.New(set, c.engine...), log: c.log}
}

// Async returns the SSPI-shaped engine underneath, for the calls this
// package does not wrap.
func (e *Engine) Async() *async.Engine { return e.async }

// Close ends every handshake in flight (each completes with a final
// status), closes every credential and context still open, and waits for
// the engine's goroutines.
func (e *Engine) Close() error { return e.async.Close() }
