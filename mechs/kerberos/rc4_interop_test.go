package kerberos

import (
	"testing"

	secctx "github.com/asyncsspi/asyncsspi/context"
	"github.com/asyncsspi/asyncsspi/internal/gsspeer"
	"github.com/asyncsspi/asyncsspi/internal/peertest"
	"github.com/asyncsspi/asyncsspi/internal/testrealm"
	"github.com/asyncsspi/asyncsspi/mechs"
	"github.com/asyncsspi/asyncsspi/status"
)

// TestInteropRC4Handshake: with RC4 allowed, a service whose only key is
// rc4-hmac (so its tickets are RC4-encrypted) completes handshakes both
// ways with MIT; by default such tickets are refused. The MIT KDC still
// picks AES session keys here, so RC4 session keys (and RFC 4757
// per-message tokens, which are not implemented) are not exercised.
func TestInteropRC4Handshake(t *testing.T) {
	peertest.Python(t)
	const rc4First = "rc4-hmac aes256-cts-hmac-sha1-96"
	realm := testrealm.Start(t, testrealm.WithLibdefault("allow_weak_crypto = true"),
		testrealm.WithLibdefault("default_tkt_enctypes = "+rc4First),
		testrealm.WithLibdefault("default_tgs_enctypes = "+rc4First),
		testrealm.WithLibdefault("permitted_enctypes = "+rc4First))
	spn := "HTTP/rc4.test"
	realm.Kadmin(t, "addprinc -randkey -e rc4-hmac:normal "+spn)
	kt := realm.Keytab(t, spn)

	pkg := New(WithConfigFile(realm.Krb5Conf), WithRC4(true))
	icred, err := pkg.AcquireCredentials(mechs.CredentialRequest{Use: secctx.SECPKG_CRED_OUTBOUND,
		AuthData: &secctx.AuthIdentity{User: testrealm.User, Domain: realm.Name, Password: testrealm.Password}})
	if err != nil {
		t.Fatal(err)
	}
	defer icred.Close()
	peer := gsspeer.Start(t, gsspeer.Config{Role: gsspeer.Acceptor, Mech: gsspeer.Krb5, Env: append(realm.Env(), "KRB5_KTNAME=FILE:"+kt)})
	ic, _ := icred.NewInitiator(mechs.InitiatorParams{Target: "HTTP@rc4.test", Req: secctx.ISC_REQ_MUTUAL_AUTH})
	r := step(t, ic, &mechs.StepInput{})
	wantStatus(t, r, status.SEC_I_CONTINUE_NEEDED)
	out, _, err := peer.Step(r.Token)
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, ic.Step(&mechs.StepInput{Token: out}), status.SEC_E_OK)

	ccache := realm.Kinit(t, testrealm.User, testrealm.Password)
	acred, err := pkg.AcquireCredentials(mechs.CredentialRequest{Use: secctx.SECPKG_CRED_INBOUND, AuthData: &Keytab{Path: kt}})
	if err != nil {
		t.Fatal(err)
	}
	mit := mitInitiator(t, realm, ccache, "HTTP@rc4.test", gsspeer.Mutual|gsspeer.Integ|gsspeer.Conf, nil)
	tok, _, err := mit.Step(nil)
	if err != nil {
		t.Fatal(err)
	}
	ac, _ := acred.NewAcceptor(mechs.AcceptorParams{})
	ar := ac.Step(&mechs.StepInput{Token: tok})
	wantStatus(t, ar, status.SEC_E_OK)
	if _, complete, err := mit.Step(ar.Token); err != nil || !complete {
		t.Fatalf("MIT after our AP-REP: %v", err)
	}
	// Not allowed by default.
	strict, _ := New(WithConfigFile(realm.Krb5Conf)).AcquireCredentials(mechs.CredentialRequest{Use: secctx.SECPKG_CRED_INBOUND, AuthData: &Keytab{Path: kt}})
	tok2, _, _ := mitInitiator(t, realm, ccache, "HTTP@rc4.test", gsspeer.Mutual, nil).Step(nil)
	ac, _ = strict.NewAcceptor(mechs.AcceptorParams{})
	wantStatus(t, ac.Step(&mechs.StepInput{Token: tok2}), status.SEC_E_KDC_UNKNOWN_ETYPE)
}
