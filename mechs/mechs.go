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
	// Expiry is when the credential stops being usable:
	// secctx.NeverExpires() for never, the zero time when not known.
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
