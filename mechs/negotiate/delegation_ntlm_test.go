package negotiate_test

import (
	"testing"

	secctx "github.com/asyncsspi/asyncsspi/context"
	"github.com/asyncsspi/asyncsspi/status"
)

// NTLM cannot delegate: the delegated credential
// (secctx.SECPKG_ATTR_ASYNCSSPI_DELEGATED_CREDENTIAL) is
// SEC_E_UNSUPPORTED_FUNCTION from its sub-context, forwarded by Negotiate.
func TestDelegatedCredentialNTLM(t *testing.T) {
	ic, ac := realNTLMPair(t, "Passw0rd!", secctx.ISC_REQ_DELEGATE, 0)
	run(t, ic, ac)
	if v, st := ac.QueryAttribute(secctx.SECPKG_ATTR_ASYNCSSPI_DELEGATED_CREDENTIAL); st != status.SEC_E_UNSUPPORTED_FUNCTION || v != nil {
		t.Fatalf("NTLM: %v (%v)", st, v)
	}
}
