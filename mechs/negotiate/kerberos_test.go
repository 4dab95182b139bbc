package negotiate

import (
	"bytes"
	"errors"
	"testing"
	"time"

	secctx "github.com/asyncsspi/asyncsspi/context"
	"github.com/asyncsspi/asyncsspi/internal/gsspeer"
	"github.com/asyncsspi/asyncsspi/internal/testrealm"
	"github.com/asyncsspi/asyncsspi/mechs"
	"github.com/asyncsspi/asyncsspi/mechs/kerberos"
	"github.com/asyncsspi/asyncsspi/status"
)

// krbSetup is a throwaway MIT realm, a Negotiate package over our real
// Kerberos and NTLM packages, and the MIT environment (the realm's
// krb5.conf, keytab and a ccache for alice, gss-ntlmssp's users file).
type krbSetup struct {
	realm  *testrealm.Realm
	pkg    *Package
	ccache string
	env    []string
}

func newKrbSetup(t *testing.T) *krbSetup {
	realm := testrealm.Start(t)
	ccache := realm.Kinit(t, testrealm.User, testrealm.Password)
	env := append(mitEnv(t), realm.Env()...)
	env = append(env, "KRB5CCNAME=FILE:"+ccache)
	krb := kerberos.New(kerberos.WithConfigFile(realm.Krb5Conf))
	return &krbSetup{realm: realm, pkg: New(krb, ntlmForMIT()), ccache: ccache, env: env}
}

// clientData gives each sub-package its own credentials: alice's ticket
// cache for Kerberos, alice's NTLM password for NTLM.
func (s *krbSetup) clientData(packageList string) *AuthData {
	return &AuthData{
		PackageList: packageList,
		ByPackage: map[string]any{
			"Kerberos": &kerberos.CCache{Path: s.ccache},
			"NTLM":     &secctx.AuthIdentity{User: "alice", Domain: "EXAMPLE", Password: "Passw0rd!"},
		},
	}
}

func (s *krbSetup) serverData() *AuthData {
	return &AuthData{ByPackage: map[string]any{"Kerberos": &kerberos.Keytab{Path: s.realm.ServiceKeytab}}}
}

// pair is our initiator (alice, s.pkg) and an acceptor of acc (the
// service's keytab), closed when the test ends.
func (s *krbSetup) pair(t *testing.T, acc *Package) (ic, ac mechs.SecurityContext) {
	ic, _ = mustCred(t, s.pkg, secctx.SECPKG_CRED_OUTBOUND, s.clientData("")).NewInitiator(mechs.InitiatorParams{Target: testrealm.Service, Req: krbReq})
	ac, _ = mustCred(t, acc, secctx.SECPKG_CRED_INBOUND, s.serverData()).NewAcceptor(mechs.AcceptorParams{})
	t.Cleanup(func() { ic.Close(); ac.Close() })
	return ic, ac
}

const krbReq = secctx.ISC_REQ_MUTUAL_AUTH | secctx.ISC_REQ_INTEGRITY | secctx.ISC_REQ_CONFIDENTIALITY | secctx.ISC_REQ_SEQUENCE_DETECT

// micsWithMIT checks MICs (RFC 4121 MIC tokens) both ways.
func micsWithMIT(t *testing.T, ours mechs.SecurityContext, peer *mitPeer) {
	t.Helper()
	msg := []byte("from MIT")
	mic, err := peer.GetMIC(msg)
	if err != nil {
		t.Fatal(err)
	}
	if _, st := ours.VerifySignature([]secctx.Buffer{{Type: secctx.SECBUFFER_DATA, Data: msg}, {Type: secctx.SECBUFFER_TOKEN, Data: mic}}, 0); st != status.SEC_E_OK {
		t.Fatalf("VerifySignature of MIT's MIC: %v", st)
	}
	msg = []byte("from Go")
	bufs := []secctx.Buffer{{Type: secctx.SECBUFFER_DATA, Data: msg}, {Type: secctx.SECBUFFER_TOKEN, Data: make([]byte, 64)}}
	if st := ours.MakeSignature(0, bufs, 0); st != status.SEC_E_OK {
		t.Fatal(st)
	}
	if err := peer.VerifyMIC(msg, bufs[1].Data); err != nil {
		t.Fatalf("MIT rejects our MIC: %v", err)
	}
}

// TestMITAcceptorKerberos: our Negotiate client, with a ticket to be had,
// against MIT's SPNEGO acceptor: Kerberos is chosen (the Microsoft OID,
// first in our list), mutual authentication completes.
func TestMITAcceptorKerberos(t *testing.T) {
	s := newKrbSetup(t)
	peer := startMIT(t, s.env, gsspeer.Config{Role: gsspeer.Acceptor})
	cred := mustCred(t, s.pkg, secctx.SECPKG_CRED_OUTBOUND, s.clientData(""))
	ic, err := cred.NewInitiator(mechs.InitiatorParams{Target: testrealm.Service, Req: krbReq})
	if err != nil {
		t.Fatal(err)
	}
	defer ic.Close()
	wire := driveWithMIT(t, ic, peer, true)
	init, err := ParseNegTokenInit(wire[0])
	if err != nil || init.MechTypes[0] != mechs.OIDMSKerberos || init.MechTypes[1] != mechs.OIDKerberos || init.MechTypes[2] != mechs.OIDNTLMSSP {
		t.Fatalf("%+v %v", init, err)
	}
	resp, err := ParseNegTokenResp(wire[1])
	if err != nil || resp.NegState != AcceptCompleted || !isKerberosOID(resp.SupportedMech) {
		t.Fatalf("MIT's reply %+v %v", resp, err)
	}
	t.Logf("MIT answered supportedMech %s, %d tokens", resp.SupportedMech, len(wire))
	completedWith(t, ic, "Kerberos")
	micsWithMIT(t, ic, peer)
}

// TestMITInitiatorKerberos: MIT's SPNEGO client with alice's ticket
// against our Negotiate acceptor (keytab for Kerberos, a user store for
// NTLM): Kerberos is chosen.
func TestMITInitiatorKerberos(t *testing.T) {
	s := newKrbSetup(t)
	peer := startMIT(t, s.env, gsspeer.Config{Role: gsspeer.Initiator, Target: testrealm.ServiceGSSName})
	cred := mustCred(t, s.pkg, secctx.SECPKG_CRED_INBOUND, s.serverData())
	ac, _ := cred.NewAcceptor(mechs.AcceptorParams{})
	defer ac.Close()
	wire := driveWithMIT(t, ac, peer, false)
	init, err := ParseNegTokenInit(wire[0])
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("MIT offered %v, %d tokens", init.MechTypes, len(wire))
	completedWith(t, ac, "Kerberos")
	v, st := ac.QueryAttribute(secctx.SECPKG_ATTR_NAMES)
	if st != status.SEC_E_OK || v.(secctx.Names).UserName != s.realm.Principal(testrealm.User) {
		t.Fatalf("NAMES %v %v", v, st)
	}
	micsWithMIT(t, ac, peer)
}

// TestKerberosFallbackToNTLM: Kerberos cannot serve (a target that is no
// SPN; an SPN the KDC does not know; no KDC at all): Negotiate falls back
// to NTLM inside the first leg. With "!ntlm" the same failure ends the
// exchange.
func TestKerberosFallbackToNTLM(t *testing.T) {
	s := newKrbSetup(t)
	for _, c := range []struct {
		name, target string
		stopKDC      bool
		want         status.Code
	}{
		{"not an SPN", "localhost", false, status.SEC_E_TARGET_UNKNOWN},
		{"unknown SPN", "HTTP/nowhere.invalid", false, status.SEC_E_TARGET_UNKNOWN},
		{"no KDC", "HTTP/other.invalid", true, status.SEC_E_NO_AUTHENTICATING_AUTHORITY},
	} {
		t.Run(c.name, func(t *testing.T) {
			if c.stopKDC {
				s.realm.StopKDC()
			}
			cred := mustCred(t, s.pkg, secctx.SECPKG_CRED_OUTBOUND, s.clientData(""))
			acred := mustCred(t, s.pkg, secctx.SECPKG_CRED_INBOUND, s.serverData())
			ic, _ := cred.NewInitiator(mechs.InitiatorParams{Target: c.target, Req: krbReq})
			ac, _ := acred.NewAcceptor(mechs.AcceptorParams{})
			defer ic.Close()
			defer ac.Close()
			first := stepWithIO(t, ic, nil)
			if first.Status != status.SEC_I_CONTINUE_NEEDED {
				t.Fatalf("first leg: %v", first.Err)
			}
			init, err := ParseNegTokenInit(first.Token)
			if err != nil || len(init.MechTypes) != 1 || init.MechTypes[0] != mechs.OIDNTLMSSP || !bytes.HasPrefix(init.MechToken, []byte("NTLMSSP\x00\x01")) {
				t.Fatalf("no fallback to NTLM in the first leg: %+v %v", init, err)
			}
			tok := first.Token
			for i := 0; i < 6; i++ {
				r := stepWithIO(t, ac, tok)
				if r.Status.IsError() {
					t.Fatal(r.Err)
				}
				if r.Token == nil {
					break
				}
				r = stepWithIO(t, ic, r.Token)
				if r.Status.IsError() {
					t.Fatal(r.Err)
				}
				if tok = r.Token; tok == nil {
					break
				}
			}
			completedWith(t, ic, "NTLM")
			// Fallback forbidden: the Kerberos failure is the answer.
			cred = mustCred(t, s.pkg, secctx.SECPKG_CRED_OUTBOUND, s.clientData("!ntlm"))
			ic2, _ := cred.NewInitiator(mechs.InitiatorParams{Target: c.target, Req: krbReq})
			defer ic2.Close()
			if r := stepWithIO(t, ic2, nil); r.Status != c.want {
				t.Fatalf("with !ntlm: %v (%v), want %v", r.Status, r.Err, c.want)
			}
		})
	}
}

// TestMITRawKerberosClient: MIT's plain krb5 client (no SPNEGO) against
// our Negotiate acceptor, as clients that send a raw AP-REQ under
// "Negotiate" do: answered with a raw AP-REP.
func TestMITRawKerberosClient(t *testing.T) {
	s := newKrbSetup(t)
	peer := startMIT(t, s.env, gsspeer.Config{Role: gsspeer.Initiator, Mech: gsspeer.Krb5, Target: testrealm.ServiceGSSName})
	cred := mustCred(t, s.pkg, secctx.SECPKG_CRED_INBOUND, s.serverData())
	ac, _ := cred.NewAcceptor(mechs.AcceptorParams{})
	defer ac.Close()
	wire := driveWithMIT(t, ac, peer, false)
	if len(wire) != 2 || wire[1][0] != 0x60 {
		t.Fatalf("%d tokens, reply starts %x", len(wire), wire[len(wire)-1][:1])
	}
	completedWith(t, ac, "Kerberos")
	micsWithMIT(t, ac, peer)
}

// TestOurKerberosUnderNegotiate: our initiator and acceptor, Kerberos
// chosen, then sealed messages both ways.
func TestOurKerberosUnderNegotiate(t *testing.T) {
	s := newKrbSetup(t)
	ic, ac := s.pair(t, s.pkg)
	var tok []byte
	legs := 0
	for side := 0; ; side ^= 1 {
		ctx := ic
		if side == 1 {
			ctx = ac
		}
		r := stepWithIO(t, ctx, tok)
		if r.Status.IsError() {
			t.Fatal(r.Err)
		}
		legs++
		if tok = r.Token; tok == nil {
			break
		}
	}
	if legs != 3 {
		t.Fatalf("%d legs, want NegTokenInit(AP-REQ), accept-completed(AP-REP), OK", legs)
	}
	for _, c := range []mechs.SecurityContext{ic, ac} {
		completedWith(t, c, "Kerberos")
	}
	for _, dir := range [][2]mechs.SecurityContext{{ic, ac}, {ac, ic}} {
		plain := []byte("sealed under Kerberos")
		data := append([]byte(nil), plain...)
		bufs := []secctx.Buffer{{Type: secctx.SECBUFFER_TOKEN, Data: make([]byte, 128)}, {Type: secctx.SECBUFFER_DATA, Data: data}, {Type: secctx.SECBUFFER_PADDING, Data: make([]byte, 64)}}
		if st := dir[0].EncryptMessage(0, bufs, 0); st != status.SEC_E_OK {
			t.Fatal(st)
		}
		if _, st := dir[1].DecryptMessage(bufs, 0); st != status.SEC_E_OK || !bytes.Equal(bufs[1].Data, plain) {
			t.Fatalf("%v %q", st, bufs[1].Data)
		}
	}
}

// TestKerberosRefusalReachesInitiator: the acceptor's clock is an hour
// ahead, so its Kerberos refuses the AP-REQ with SEC_E_TIME_SKEW. Its
// KRB-ERROR travels in the reject NegTokenResp (the caller gave no
// ASC_REQ_EXTENDED_ERROR: Negotiate asks its sub-packages for the error
// token itself), and our initiator's Kerberos context, given it, ends the
// leg with SEC_E_TIME_SKEW rather than a generic refusal.
func TestKerberosRefusalReachesInitiator(t *testing.T) {
	s := newKrbSetup(t)
	ahead := kerberos.New(kerberos.WithConfigFile(s.realm.Krb5Conf), kerberos.WithClock(func() time.Time { return time.Now().Add(time.Hour) }))
	ic, ac := s.pair(t, New(ahead, ntlmForMIT()))
	r0 := stepWithIO(t, ic, nil)
	r1 := stepWithIO(t, ac, r0.Token)
	if r1.Status != status.SEC_E_TIME_SKEW {
		t.Fatalf("acceptor: %v (%v)", r1.Status, r1.Err)
	}
	resp, err := ParseNegTokenResp(r1.Token)
	if err != nil || resp.NegState != Reject || len(resp.ResponseToken) == 0 {
		t.Fatalf("reject %+v %v", resp, err)
	}
	if r2 := stepWithIO(t, ic, r1.Token); r2.Status != status.SEC_E_TIME_SKEW || !errors.Is(r2.Err, status.SEC_E_TIME_SKEW) {
		t.Fatalf("initiator on the reject: %v (%v)", r2.Status, r2.Err)
	}
}

// TestKerberosTruncatedAPREQ: a whole NegTokenInit whose AP-REQ is cut
// short is SEC_E_INVALID_TOKEN, not SEC_E_INCOMPLETE_MESSAGE, and fails
// the acceptor.
func TestKerberosTruncatedAPREQ(t *testing.T) {
	s := newKrbSetup(t)
	ic, ac := s.pair(t, s.pkg)
	init, err := ParseNegTokenInit(stepWithIO(t, ic, nil).Token)
	if err != nil || len(init.MechToken) < 100 {
		t.Fatalf("%+v %v", init, err)
	}
	init.MechToken = init.MechToken[:len(init.MechToken)-50]
	innerCutShort(t, ac, marshal(t, init), true)
}
