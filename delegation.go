package asyncsspi

import (
	"errors"

	secctx "github.com/asyncsspi/asyncsspi/context"
	"github.com/asyncsspi/asyncsspi/mechs/kerberos"
	"github.com/asyncsspi/asyncsspi/status"
)

// DelegatedCredential returns a client credential that acts as the client
// this server context authenticated, made from the Kerberos TGT the client
// delegated (the Delegate option on its side: ISC_REQ_DELEGATE), and
// acquired on the same engine: a proxy or gateway uses it to
// authenticate to another service as its user (Kerberos constrained only
// by what the KDC allows a forwarded TGT). Windows hands a server an
// impersonation token instead; this is the library's extension
// (secctx.SECPKG_ATTR_ASYNCSSPI_DELEGATED_CREDENTIAL).
//
// The credential is for the Negotiate package with Kerberos as its only
// part (Package "Negotiate", Packages ["Kerberos"]), so that it answers
// HTTP's Negotiate scheme and any SPNEGO peer. It gets service tickets
// from the KDC with the delegated TGT and cannot log in: once that TGT
// has ended, its handshakes fail with SEC_E_NO_CREDENTIALS. Each call
// acquires a new credential, which the caller owns: Close it when done.
// It stays usable after this context is closed.
//
// Errors: SEC_E_NO_CREDENTIALS when the client delegated nothing (it did
// not ask, or its TGT was not forwardable) or what it delegated cannot be
// used (a KRB-CRED that did not decrypt: the handshake succeeded without
// ASC_RET_DELEGATE), with the reason; SEC_E_UNSUPPORTED_FUNCTION when the
// handshake was NTLM, which cannot delegate, and on a client's context;
// SEC_E_NO_CONTEXT before the handshake is complete.
func (s *SecurityContext) DelegatedCredential() (*Credential, error) {
	if s.client {
		return nil, status.Errorf(status.SEC_E_UNSUPPORTED_FUNCTION, s.cred.pkg, "a client's context holds no delegated credential")
	}
	s.collect()
	if s.h == 0 || !s.done {
		return nil, status.Errorf(status.SEC_E_NO_CONTEXT, s.cred.pkg, "the handshake is not complete")
	}
	v, st := s.e.async.QueryContextAttributes(s.h, secctx.SECPKG_ATTR_ASYNCSSPI_DELEGATED_CREDENTIAL)
	if st != status.SEC_E_OK {
		// The package says why in the value, when it can.
		var why error
		if err, ok := v.(error); ok {
			why = err
		} else if st == status.SEC_E_UNSUPPORTED_FUNCTION {
			why = errors.New(s.Package() + " cannot delegate a credential")
		}
		return nil, status.New(st, s.Package(), why)
	}
	tgt, ok := v.(*kerberos.TGT)
	if !ok || tgt == nil || tgt.Ticket == nil {
		return nil, status.Errorf(status.SEC_E_INTERNAL_ERROR, s.Package(), "the delegated credential is not a Kerberos TGT")
	}
	client := tgt.Ticket.Client.PrincipalNameString() + "@" + tgt.Ticket.CRealm
	src := Negotiate(Source{pkg: kerberos.Name, desc: "Kerberos TGT delegated by " + client, uses: secctx.SECPKG_CRED_OUTBOUND,
		resolve: func(secctx.CredentialUse) (string, any, error) { return "", tgt, nil }})
	return s.e.ClientCredential(src)
}
