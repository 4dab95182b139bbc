package async

// Calls into security packages.
//
// Rule: a panic in a security package becomes SEC_E_INTERNAL_ERROR for the
// call that hit it, with a cause wrapping ErrMechanismPanic, and the
// goroutine that made the call (a CPU worker, an I/O goroutine, the caller
// of a synchronous twin or a per-message call) lives on. Every call the
// engine makes into a package (AcquireCredentials, NewInitiator and
// NewAcceptor, Step, Perform, the per-message calls, QueryAttribute, the
// Closes) goes through callPackage, the engine's only recover.

import (
	"fmt"

	"github.com/asyncsspi/asyncsspi/mechs"
	"github.com/asyncsspi/asyncsspi/status"
)

// callPackage runs f, a call into the security package named mech. It
// returns nil, or, when f panicked, a SEC_E_INTERNAL_ERROR whose cause wraps
// ErrMechanismPanic and the panic value. f must not escape: it is called
// here and dropped, so a closure passed in is not allocated.
func callPackage(mech string, f func()) (perr *status.Error) {
	defer func() {
		if p := recover(); p != nil {
			perr = status.New(status.SEC_E_INTERNAL_ERROR, mech, fmt.Errorf("%w: %v", ErrMechanismPanic, p))
		}
	}()
	f()
	return nil
}

// step runs one Step of sc.
func step(sc mechs.SecurityContext, in *mechs.StepInput, pkg string) (r mechs.StepResult) {
	if perr := callPackage(pkg, func() { r = sc.Step(in) }); perr != nil {
		return failure(perr)
	}
	return r
}

// closeContext closes a mechanism's security context.
func closeContext(pkg string, sc mechs.SecurityContext) {
	callPackage(pkg, sc.Close)
}

// closeCredential closes a mechanism's credential.
func closeCredential(pkg string, c mechs.Credential) {
	callPackage(pkg, func() { _ = c.Close() })
}
