package negotiate

import (
	"testing"

	secctx "github.com/asyncsspi/asyncsspi/context"
	"github.com/asyncsspi/asyncsspi/internal/gsspeer"
	"github.com/asyncsspi/asyncsspi/internal/testrealm"
	"github.com/asyncsspi/asyncsspi/mechs"
	"github.com/asyncsspi/asyncsspi/mechs/kerberos"
	"github.com/asyncsspi/asyncsspi/status"
)

// The delegated credential (secctx.SECPKG_ATTR_ASYNCSSPI_DELEGATED_CREDENTIAL,
// a library extension) is the Kerberos sub-context's: Negotiate forwards
// the query to the established sub-context as it does every attribute it
// does not answer itself.

func delegatedTGT(t *testing.T, ac mechs.SecurityContext, realm *testrealm.Realm) {
	t.Helper()
	v, st := ac.QueryAttribute(secctx.SECPKG_ATTR_ASYNCSSPI_DELEGATED_CREDENTIAL)
	if st != status.SEC_E_OK {
		t.Fatalf("delegated credential under Negotiate: %v (%v)", st, v)
	}
	tgt, ok := v.(*kerberos.TGT)
	if !ok || tgt.Ticket.Client.PrincipalNameString()+"@"+tgt.Ticket.CRealm != realm.Principal(testrealm.User) {
		t.Fatalf("delegated %#v", v)
	}
}

// MIT's SPNEGO initiator delegates (GSS_C_DELEG_FLAG) to our Negotiate
// acceptor, and our Negotiate initiator (ISC_REQ_DELEGATE) does too.
func TestDelegatedCredentialUnderNegotiate(t *testing.T) {
	s := newKrbSetup(t)
	cred := mustCred(t, s.pkg, secctx.SECPKG_CRED_INBOUND, s.serverData())

	peer := startMIT(t, s.env, gsspeer.Config{Role: gsspeer.Initiator, Target: testrealm.ServiceGSSName,
		Flags: gsspeer.Mutual | gsspeer.Deleg | gsspeer.Integ | gsspeer.Conf})
	ac, _ := cred.NewAcceptor(mechs.AcceptorParams{})
	defer ac.Close()
	if v, st := ac.QueryAttribute(secctx.SECPKG_ATTR_ASYNCSSPI_DELEGATED_CREDENTIAL); st != status.SEC_E_UNSUPPORTED_FUNCTION {
		t.Fatalf("before a sub-context: %v (%v)", st, v)
	}
	driveWithMIT(t, ac, peer, false)
	completedWith(t, ac, "Kerberos")
	delegatedTGT(t, ac, s.realm)

	ic, _ := mustCred(t, s.pkg, secctx.SECPKG_CRED_OUTBOUND, s.clientData("")).NewInitiator(mechs.InitiatorParams{
		Target: testrealm.Service, Req: krbReq | secctx.ISC_REQ_DELEGATE})
	defer ic.Close()
	ac2, _ := cred.NewAcceptor(mechs.AcceptorParams{})
	defer ac2.Close()
	bothOK(t, handshake(t, ic, ac2, nil))
	delegatedTGT(t, ac2, s.realm)
	// The initiator's side has none: the Kerberos sub-context says so.
	if _, st := ic.QueryAttribute(secctx.SECPKG_ATTR_ASYNCSSPI_DELEGATED_CREDENTIAL); st != status.SEC_E_UNSUPPORTED_FUNCTION {
		t.Fatalf("initiator: %v", st)
	}
}
