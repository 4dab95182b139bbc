// Package mechs defines what a security mechanism (an SSPI "package") is to
// the engine, and Set, the explicit list of packages an engine may use.
//
// A mechanism is a synchronous, sans-I/O state machine. Step runs one leg of
// a handshake on the caller's goroutine and returns either its output (a
// token, a status, the negotiated flags) or an IORequest: network I/O (an
// exchange with a KDC) that the engine performs on its I/O side, off its CPU
// workers, before it calls Step again with the outcome. Mechanisms start no
// goroutines of their own, except a KDC transport, which has a Close that
// waits for them.
package mechs

import (
	"context"
	"strconv"
	"strings"
	"time"

	secctx "github.com/asyncsspi/asyncsspi/context"
	"github.com/asyncsspi/asyncsspi/status"
)

// Mechanism OIDs in dotted form (RFC 4178, RFC 1964, MS-SPNG, MS-NLMP).
const (
	OIDSPNEGO      = "1.3.6.1.5.5.2"
	OIDKerberos    = "1.2.840.113554.1.2.2"
	OIDMSKerberos  = "1.2.840.48018.1.2.2"
	OIDNTLMSSP     = "1.3.6.1.4.1.311.2.2.10"
	OIDNegoEx      = "1.3.6.1.4.1.311.2.2.30"
	OIDKerberosU2U = "1.2.840.113554.1.2.2.3"
)

// Package is one security package: "Negotiate", "Kerberos" or "NTLM".
type Package interface {
	// Name is the SSPI package name, as AcquireCredentialsHandle takes it.
	Name() string
	// Info describes the package (QuerySecurityPackageInfo).
	Info() secctx.PackageInfo
	// AcquireCredentials prepares a credential. It does no network I/O:
	// anything that needs a KDC (an AS exchange for a password) happens
	// in a later Step. Failures are *status.Error values
	// (SEC_E_NO_CREDENTIALS, SEC_E_UNKNOWN_CREDENTIALS, ...).
	AcquireCredentials(req CredentialRequest) (Credential, error)
}

// CredentialRequest carries AcquireCredentialsHandle's arguments.
type CredentialRequest struct {
	// Principal is pszPrincipal: the user (initiator) or service
	// (acceptor) name, or "" for the default.
	Principal string
	// Use is fCredentialUse: SECPKG_CRED_INBOUND, _OUTBOUND or _BOTH.
	Use secctx.CredentialUse
	// AuthData is pAuthData: nil, a *secctx.AuthIdentity, or a value the
	// package documents (a keytab, a user store, an NT hash).
	AuthData any
}

// Credential is an acquired credential (what a CredHandle names). Its
// methods are safe for concurrent use: many contexts share one credential,
// and its caches (derived keys, tickets) are shared with them.
type Credential interface {
	// Package returns the package name.
	Package() string
	// Use returns the use it was acquired for.
	Use() secctx.CredentialUse
	// Principal is the name the credential speaks for.
	Principal() string
	// Expiry is when the credential stops being usable; zero for never.
	Expiry() time.Time
	// NewInitiator starts a client-side context (the first
	// InitializeSecurityContext call). It does no work beyond checking its
	// arguments; the first Step produces the first token.
	NewInitiator(p InitiatorParams) (SecurityContext, error)
	// NewAcceptor starts a server-side context (the first
	// AcceptSecurityContext call).
	NewAcceptor(p AcceptorParams) (SecurityContext, error)
	// Close releases the credential (FreeCredentialsHandle). Contexts
	// already made from it keep working until they are deleted. Close
	// stops any background work the credential owns and waits for it.
	Close() error
}

// InitiatorParams carries the first InitializeSecurityContext call's
// arguments.
type InitiatorParams struct {
	// Target is pszTargetName: an SPN ("HTTP/host.example.com"), or what
	// the package accepts in its place.
	Target string
	// Req is fContextReq.
	Req secctx.ISCReq
}

// AcceptorParams carries the first AcceptSecurityContext call's arguments.
type AcceptorParams struct {
	// Req is fContextReq.
	Req secctx.ASCReq
}

// StepInput is one leg's input.
type StepInput struct {
	// Token is the peer's token (the SECBUFFER_TOKEN input); nil on an
	// initiator's first leg.
	Token []byte
	// Bindings are the channel bindings of a SECBUFFER_CHANNEL_BINDINGS
	// input, or nil.
	Bindings *secctx.ChannelBindings
	// Buffers are all the input buffers, for packages that read others.
	Buffers []secctx.Buffer
	// IOReply and IOErr carry the outcome of the IORequest the previous
	// Step of this leg returned. Both are nil on a leg's first Step.
	IOReply any
	IOErr   error
	// Headroom asks for spare bytes in front of the output token, so that
	// a package wrapping this one's tokens (Negotiate) can frame the
	// token in place instead of copying it. A package that honours it
	// returns a Token whose first Headroom bytes are spare, and says so in
	// StepResult.Headroom; a package may ignore it. The engine never asks.
	Headroom int
}

// MaxHeadroom is the most spare room a package honours.
const MaxHeadroom = 256

// Room is the headroom a package honouring StepInput.Headroom leaves in
// front of its token: Headroom, clamped to [0, MaxHeadroom].
func (in *StepInput) Room() int {
	return min(max(in.Headroom, 0), MaxHeadroom)
}

// StepResult is one leg's output, or a request for I/O.
type StepResult struct {
	// IO, when non-nil, asks the engine to perform network I/O and to call
	// Step again, with the same Token and Bindings and the outcome in
	// IOReply / IOErr. The leg stays pending meanwhile; every other field
	// is ignored.
	IO *IORequest

	// Status is the leg's SECURITY_STATUS: SEC_E_OK, SEC_I_CONTINUE_NEEDED
	// (the Token, possibly empty, goes to the peer), or an error.
	Status status.Code
	// Token is the output token; it may be non-empty with SEC_E_OK and
	// must then still be sent. The engine takes ownership of it.
	Token []byte
	// Headroom is how many leading bytes of Token are spare room that
	// StepInput.Headroom asked for, not token: the token proper is
	// Token[Headroom:]. It is 0 unless the input asked for room.
	Headroom int
	// Flags are the ISC_RET_* (initiator) or ASC_RET_* (acceptor) bits
	// established so far; meaningful for security after the final leg.
	Flags uint64
	// Expiry is when the context stops being valid; zero for never.
	Expiry time.Time
	// Missing is the SECBUFFER_MISSING count with SEC_E_INCOMPLETE_MESSAGE:
	// how many more bytes of token are needed (0 when unknown).
	Missing int
	// Extra is the number of trailing input bytes not consumed
	// (SECBUFFER_EXTRA).
	Extra int
	// Err is the cause of a failure status, for status.Error.
	Err error
}

// Fail is shorthand for a failed leg.
func Fail(code status.Code, mech string, cause error) StepResult {
	return StepResult{Status: code, Err: status.New(code, mech, cause)}
}

// IORequest is network I/O a step needs before it can go on.
type IORequest struct {
	// Realm names the authority the I/O goes to, for limits and
	// diagnostics.
	Realm string
	// Do performs the I/O. The engine calls it on its I/O side (never on a
	// CPU worker) with a context that carries the engine's I/O deadline
	// and is cancelled when the leg is cancelled or the engine closes. Do
	// must return promptly once ctx is done. Its results become the next
	// Step's IOReply and IOErr.
	Do func(ctx context.Context) (any, error)
}

// SecurityContext is one side of one handshake (what a CtxtHandle names).
//
// The engine never calls Step concurrently with any other method of the
// same context. Once the handshake is complete, the send side
// (MakeSignature, EncryptMessage) and the receive side (VerifySignature,
// DecryptMessage) may each be called from one goroutine at a time, the two
// sides concurrently with each other, as Windows allows; QueryAttribute and
// Close may be called at any time, so implementations guard what those read.
type SecurityContext interface {
	// Step runs one leg (one InitializeSecurityContext or
	// AcceptSecurityContext call). Calling it again on an initiator after
	// SEC_E_OK with no token starts a re-authentication. Step must not
	// keep in.Token or in.Buffers after it returns (the caller may reuse
	// them): it copies what it needs, such as the messages an NTLM MIC
	// covers.
	Step(in *StepInput) StepResult

	// MakeSignature computes a signature over the SECBUFFER_DATA buffers
	// into the SECBUFFER_TOKEN buffer.
	MakeSignature(qop uint32, msg []secctx.Buffer, seq uint32) status.Code
	// VerifySignature checks the SECBUFFER_TOKEN signature over the
	// SECBUFFER_DATA buffers.
	VerifySignature(msg []secctx.Buffer, seq uint32) (qop uint32, st status.Code)
	// EncryptMessage seals the SECBUFFER_DATA buffers in place and writes
	// the trailer into the SECBUFFER_TOKEN buffer (qop
	// SECQOP_WRAP_NO_ENCRYPT: integrity only).
	EncryptMessage(qop uint32, msg []secctx.Buffer, seq uint32) status.Code
	// DecryptMessage unseals in place.
	DecryptMessage(msg []secctx.Buffer, seq uint32) (qop uint32, st status.Code)

	// QueryAttribute returns the value for attr: secctx.Sizes,
	// secctx.Names, secctx.Lifespan, secctx.SessionKey, secctx.Flags,
	// secctx.PackageInfo, secctx.NegotiationInfo, secctx.NativeNames ...
	// An attribute the package does not have gives
	// SEC_E_UNSUPPORTED_FUNCTION.
	QueryAttribute(attr secctx.Attribute) (any, status.Code)

	// Close deletes the context (DeleteSecurityContext) and wipes its
	// keys. Calling it twice is harmless.
	Close()
}

// Set is an explicit list of the packages an engine may use. There is no
// global registry: a package is usable only when it is in the Set given to
// the engine.
type Set struct {
	pkgs []Package
}

// NewSet returns a set of the given packages, in order. A later package with
// the same name as an earlier one is ignored.
func NewSet(pkgs ...Package) *Set {
	s := &Set{pkgs: make([]Package, 0, len(pkgs))}
	for _, p := range pkgs {
		if p == nil {
			continue
		}
		if _, err := s.Lookup(p.Name()); err == nil {
			continue
		}
		s.pkgs = append(s.pkgs, p)
	}
	return s
}

// Lookup finds a package by name, case-insensitively as Windows does. An
// unknown name gives a *status.Error with SEC_E_SECPKG_NOT_FOUND.
func (s *Set) Lookup(name string) (Package, error) {
	if s != nil {
		for _, p := range s.pkgs {
			if strings.EqualFold(p.Name(), name) {
				return p, nil
			}
		}
	}
	return nil, status.Errorf(status.SEC_E_SECPKG_NOT_FOUND, "", "no security package "+strconv.Quote(name))
}

// Packages returns the packages in order (EnumerateSecurityPackages). The
// slice is a copy.
func (s *Set) Packages() []Package {
	if s == nil {
		return nil
	}
	return append([]Package(nil), s.pkgs...)
}
