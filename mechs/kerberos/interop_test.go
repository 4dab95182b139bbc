package kerberos

import (
	"bytes"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	secctx "github.com/asyncsspi/asyncsspi/context"
	"github.com/asyncsspi/asyncsspi/internal/gsspeer"
	"github.com/asyncsspi/asyncsspi/internal/peertest"
	"github.com/asyncsspi/asyncsspi/internal/testrealm"
	"github.com/asyncsspi/asyncsspi/mechs"
	"github.com/asyncsspi/asyncsspi/mechs/kerberos/kdc"
	"github.com/asyncsspi/asyncsspi/status"
)

// These tests run our initiator and acceptor against MIT's krb5 GSS
// mechanism (python3-gssapi through internal/gsspeer) with a real MIT KDC
// started for the test (internal/testrealm).

func startRealm(t *testing.T) *testrealm.Realm {
	t.Helper()
	peertest.Python(t)
	return testrealm.Start(t)
}

// ourInitiatorCred logs alice in with her password through package kdc.
func ourInitiatorCred(t *testing.T, realm *testrealm.Realm) mechs.Credential {
	t.Helper()
	pkg := New(WithConfigFile(realm.Krb5Conf))
	cred, err := pkg.AcquireCredentials(mechs.CredentialRequest{Use: secctx.SECPKG_CRED_OUTBOUND,
		AuthData: &secctx.AuthIdentity{User: testrealm.User, Domain: realm.Name, Password: testrealm.Password}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cred.Close() })
	return cred
}

func ourAcceptorCred(t *testing.T, realm *testrealm.Realm, opts ...Option) mechs.Credential {
	t.Helper()
	pkg := New(append([]Option{WithConfigFile(realm.Krb5Conf)}, opts...)...)
	cred, err := pkg.AcquireCredentials(mechs.CredentialRequest{Use: secctx.SECPKG_CRED_INBOUND,
		AuthData: &Keytab{Path: realm.ServiceKeytab}})
	if err != nil {
		t.Fatal(err)
	}
	return cred
}

func mitAcceptor(t *testing.T, realm *testrealm.Realm, cb *secctx.ChannelBindings) *gsspeer.Peer {
	return gsspeer.Start(t, gsspeer.Config{Role: gsspeer.Acceptor, Mech: gsspeer.Krb5, Env: realm.Env(), ChannelBindings: cb})
}

func mitInitiator(t *testing.T, realm *testrealm.Realm, ccache, target string, fl gsspeer.Flag, cb *secctx.ChannelBindings) *gsspeer.Peer {
	return gsspeer.Start(t, gsspeer.Config{Role: gsspeer.Initiator, Mech: gsspeer.Krb5, Target: target, Flags: fl,
		Env: append(realm.Env(), "KRB5CCNAME=FILE:"+ccache), ChannelBindings: cb})
}

// saveToken writes a real MIT token to testdata (fuzz seeds) when
// ASYNCSSPI_SAVE_TOKENS=1.
func saveToken(t *testing.T, name string, tok []byte) {
	if os.Getenv("ASYNCSSPI_SAVE_TOKENS") != "1" || len(tok) == 0 {
		return
	}
	if err := os.WriteFile(filepath.Join("testdata", name), []byte(hex.EncodeToString(tok)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestInteropOurInitiatorMITAcceptor(t *testing.T) {
	realm := startRealm(t)
	cred := ourInitiatorCred(t, realm)
	for _, mutual := range []bool{true, false} {
		t.Run(map[bool]string{true: "mutual", false: "no-mutual"}[mutual], func(t *testing.T) {
			peer := mitAcceptor(t, realm, nil)
			req := secctx.ISC_REQ_CONFIDENTIALITY | secctx.ISC_REQ_INTEGRITY | secctx.ISC_REQ_SEQUENCE_DETECT
			if mutual {
				req |= secctx.ISC_REQ_MUTUAL_AUTH
			}
			ic, err := cred.NewInitiator(mechs.InitiatorParams{Target: testrealm.ServiceGSSName, Req: req})
			if err != nil {
				t.Fatal(err)
			}
			r := step(t, ic, &mechs.StepInput{})
			out, complete, err := peer.Step(r.Token)
			if err != nil || !complete {
				t.Fatalf("MIT acceptor: complete %v, %v", complete, err)
			}
			if mutual {
				wantStatus(t, r, status.SEC_I_CONTINUE_NEEDED)
				saveToken(t, "mit_ap_rep.hex", out)
				r = ic.Step(&mechs.StepInput{Token: out})
				wantStatus(t, r, status.SEC_E_OK)
				if !secctx.ISCRet(r.Flags).Has(secctx.ISC_RET_MUTUAL_AUTH) {
					t.Fatal("no ISC_RET_MUTUAL_AUTH")
				}
			} else {
				wantStatus(t, r, status.SEC_E_OK)
				if len(out) != 0 {
					t.Fatal("MIT sent an AP-REP without mutual authentication")
				}
			}
			if got := peer.PeerName(); got != testrealm.User+"@"+realm.Name {
				t.Fatalf("MIT saw initiator %q", got)
			}
			checkSessionKey(t, ic, peer)
			messagesWithMIT(t, ic, peer)
		})
	}
}

// checkSessionKey compares SECPKG_ATTR_SESSION_KEY with MIT's SSPI
// session key (GSS_C_INQ_SSPI_SESSION_KEY) when MIT reports one.
func checkSessionKey(t *testing.T, our mechs.SecurityContext, peer *gsspeer.Peer) {
	t.Helper()
	info, err := peer.Info()
	if err != nil {
		t.Fatal(err)
	}
	if info.SessionKey == nil {
		t.Log("MIT reports no SSPI session key; not compared")
		return
	}
	sk, st := our.QueryAttribute(secctx.SECPKG_ATTR_SESSION_KEY)
	if st != status.SEC_E_OK || !bytes.Equal(sk.(secctx.SessionKey).Key, info.SessionKey) {
		t.Fatalf("session key %x, MIT has %x", sk, info.SessionKey)
	}
}

func TestInteropMITInitiatorOurAcceptor(t *testing.T) {
	realm := startRealm(t)
	ccache := realm.Kinit(t, testrealm.User, testrealm.Password)
	cred := ourAcceptorCred(t, realm)
	if kt, err := os.ReadFile(realm.ServiceKeytab); err == nil && os.Getenv("ASYNCSSPI_SAVE_TOKENS") == "1" {
		// The service keys, so that fuzz seeds can open MIT's tickets
		// and authenticators (a throwaway realm's keys: no secret).
		os.WriteFile(filepath.Join("testdata", "mit_service.keytab"), kt, 0o644)
	}
	for _, mutual := range []bool{true, false} {
		t.Run(map[bool]string{true: "mutual", false: "no-mutual"}[mutual], func(t *testing.T) {
			fl := gsspeer.Integ | gsspeer.Conf | gsspeer.Sequence | gsspeer.Replay
			if mutual {
				fl |= gsspeer.Mutual
			}
			peer := mitInitiator(t, realm, ccache, testrealm.ServiceGSSName, fl, nil)
			tok, _, err := peer.Step(nil)
			if err != nil {
				t.Fatal(err)
			}
			if mutual {
				saveToken(t, "mit_ap_req_mutual.hex", tok)
			} else {
				saveToken(t, "mit_ap_req.hex", tok)
			}
			ac, _ := cred.NewAcceptor(mechs.AcceptorParams{})
			r := ac.Step(&mechs.StepInput{Token: tok})
			wantStatus(t, r, status.SEC_E_OK)
			if mutual != (len(r.Token) > 0) {
				t.Fatalf("mutual %v but AP-REP of %d bytes", mutual, len(r.Token))
			}
			if mutual {
				if _, complete, err := peer.Step(r.Token); err != nil || !complete {
					t.Fatalf("MIT initiator after our AP-REP: complete %v, %v", complete, err)
				}
			}
			n, _ := ac.QueryAttribute(secctx.SECPKG_ATTR_NAMES)
			if n.(secctx.Names).UserName != testrealm.User+"@"+realm.Name {
				t.Fatalf("names %+v", n)
			}
			checkSessionKey(t, ac, peer)
			messagesWithMIT(t, ac, peer)

			// The same AP-REQ again is a replay.
			ac2, _ := cred.NewAcceptor(mechs.AcceptorParams{})
			wantStatus(t, ac2.Step(&mechs.StepInput{Token: tok}), status.SEC_E_LOGON_DENIED)
		})
	}
}

// messagesWithMIT exchanges MIC and Wrap tokens both ways.
func messagesWithMIT(t *testing.T, our mechs.SecurityContext, peer *gsspeer.Peer) {
	t.Helper()
	for i := 0; i < 2; i++ {
		msg := []byte("message number " + string(rune('0'+i)) + " from Go")
		// Our MIC, MIT verifies.
		bufs := []secctx.Buffer{{Type: secctx.SECBUFFER_DATA, Data: msg}, {Type: secctx.SECBUFFER_TOKEN}}
		if st := our.MakeSignature(0, bufs, 0); st != status.SEC_E_OK {
			t.Fatal(st)
		}
		if err := peer.VerifyMIC(msg, bufs[1].Data); err != nil {
			t.Fatalf("MIT VerifyMIC: %v", err)
		}
		// MIT's MIC, we verify.
		mic, err := peer.GetMIC(msg)
		if err != nil {
			t.Fatal(err)
		}
		saveToken(t, "mit_mic.hex", mic)
		if _, st := our.VerifySignature([]secctx.Buffer{{Type: secctx.SECBUFFER_DATA, Data: msg}, {Type: secctx.SECBUFFER_TOKEN, Data: mic}}, 0); st != status.SEC_E_OK {
			t.Fatalf("VerifySignature of MIT's MIC: %v", st)
		}
		for _, conf := range []bool{true, false} {
			qop := uint32(0)
			if !conf {
				qop = secctx.SECQOP_WRAP_NO_ENCRYPT
			}
			// Our Wrap (Windows layout, RRC != 0), MIT unwraps.
			data := append([]byte(nil), msg...)
			wb := []secctx.Buffer{{Type: secctx.SECBUFFER_TOKEN}, {Type: secctx.SECBUFFER_DATA, Data: data}}
			if st := our.EncryptMessage(qop, wb, 0); st != status.SEC_E_OK {
				t.Fatal(st)
			}
			got, gotConf, err := peer.UnwrapConf(append(append([]byte(nil), wb[0].Data...), wb[1].Data...))
			if err != nil || string(got) != string(msg) || gotConf != conf {
				t.Fatalf("MIT unwrapped %q conf=%v: %v", got, gotConf, err)
			}
			// MIT's Wrap (RRC 0), we unwrap from a stream buffer.
			w, err := peer.Wrap(msg, conf)
			if err != nil {
				t.Fatal(err)
			}
			if conf {
				saveToken(t, "mit_wrap_sealed.hex", w)
			} else {
				saveToken(t, "mit_wrap_signed.hex", w)
			}
			sb := []secctx.Buffer{{Type: secctx.SECBUFFER_STREAM, Data: w}, {Type: secctx.SECBUFFER_DATA}}
			gotQop, st := our.DecryptMessage(sb, 0)
			if st != status.SEC_E_OK || gotQop != qop || string(sb[1].Data) != string(msg) {
				t.Fatalf("DecryptMessage of MIT's wrap: %v qop %x %q", st, gotQop, sb[1].Data)
			}
		}
	}
}

// upstreamSPN is the second service a delegated credential calls, as a
// proxy would call the service behind it.
const upstreamSPN = "HTTP/upstream.test"

// addUpstream adds the upstream service to realm and returns a function
// that starts an MIT acceptor (one context) with its keys.
func addUpstream(t *testing.T, realm *testrealm.Realm) func(t *testing.T) *gsspeer.Peer {
	t.Helper()
	realm.AddService(t, upstreamSPN)
	kt := realm.Keytab(t, upstreamSPN)
	return func(t *testing.T) *gsspeer.Peer {
		return gsspeer.Start(t, gsspeer.Config{Role: gsspeer.Acceptor, Mech: gsspeer.Krb5,
			Env: append(realm.Env(), "KRB5_KTNAME=FILE:"+kt)})
	}
}

// delegatedCred acquires an outbound credential from what ac's client
// delegated (SECPKG_ATTR_ASYNCSSPI_DELEGATED_CREDENTIAL).
func delegatedCred(t *testing.T, realm *testrealm.Realm, ac mechs.SecurityContext, opts ...Option) mechs.Credential {
	t.Helper()
	v, st := ac.QueryAttribute(secctx.SECPKG_ATTR_ASYNCSSPI_DELEGATED_CREDENTIAL)
	if st != status.SEC_E_OK {
		t.Fatalf("delegated credential: %v (%v)", st, v)
	}
	tgt := v.(*TGT)
	if got := tgt.Ticket.Client.PrincipalNameString() + "@" + tgt.Ticket.CRealm; got != realm.Principal(testrealm.User) {
		t.Fatalf("delegated TGT for %q", got)
	}
	if !isTGS(tgt.Ticket, realm.Name) {
		t.Fatalf("delegated ticket for %v@%s", tgt.Ticket.Server, tgt.Ticket.SRealm)
	}
	pkg := New(append([]Option{WithConfigFile(realm.Krb5Conf)}, opts...)...)
	cred, err := pkg.AcquireCredentials(mechs.CredentialRequest{Use: secctx.SECPKG_CRED_OUTBOUND, AuthData: tgt})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cred.Close() })
	if cred.Principal() != realm.Principal(testrealm.User) || !cred.Expiry().Equal(tgt.Ticket.EndTime) {
		t.Fatalf("delegated credential for %q until %v", cred.Principal(), cred.Expiry())
	}
	return cred
}

func isTGS(t *kdc.Ticket, realm string) bool {
	return len(t.Server.NameString) == 2 && t.Server.NameString[0] == "krbtgt" && t.Server.NameString[1] == realm && t.SRealm == realm
}

// actUpstream authenticates to the MIT acceptor of the upstream service
// with cred (asking to delegate again), and checks that it saw the
// original user, and a delegated credential.
func actUpstream(t *testing.T, realm *testrealm.Realm, cred mechs.Credential, upstream *gsspeer.Peer) {
	t.Helper()
	tgs := realm.CountRequests("TGS_REQ")
	ic, err := cred.NewInitiator(mechs.InitiatorParams{Target: "HTTP@upstream.test",
		Req: secctx.ISC_REQ_MUTUAL_AUTH | secctx.ISC_REQ_DELEGATE | secctx.ISC_REQ_CONFIDENTIALITY | secctx.ISC_REQ_INTEGRITY})
	if err != nil {
		t.Fatal(err)
	}
	defer ic.Close()
	r := step(t, ic, &mechs.StepInput{})
	wantStatus(t, r, status.SEC_I_CONTINUE_NEEDED)
	if got := realm.CountRequests("TGS_REQ"); got < tgs+1 {
		t.Fatalf("no TGS exchange with the KDC (%d -> %d)", tgs, got)
	}
	out, complete, err := upstream.Step(r.Token)
	if err != nil || !complete {
		t.Fatalf("MIT upstream acceptor: complete %v, %v", complete, err)
	}
	wantStatus(t, ic.Step(&mechs.StepInput{Token: out}), status.SEC_E_OK)
	if got := upstream.PeerName(); got != realm.Principal(testrealm.User) {
		t.Fatalf("the upstream service saw %q, want the original user", got)
	}
	info, err := upstream.Info()
	if err != nil || !info.Delegated {
		t.Fatalf("the delegated credential did not delegate again (forwardable TGT): %+v %v", info, err)
	}
	messagesWithMIT(t, ic, upstream)
}

// TestInteropDelegation (issue 12 item 1): a client delegates its TGT to
// our acceptor, which acts as that client towards a second service: a
// ticket for it from the real KDC with the delegated TGT, then a
// handshake with MIT's acceptor of that service, which sees the original
// user. The client is our initiator (a password login; krb5.conf says
// forwardable = true), then MIT's (kinit -f).
func TestInteropDelegation(t *testing.T) {
	realm := startRealm(t)
	acred := ourAcceptorCred(t, realm)

	t.Run("ours to MIT", func(t *testing.T) {
		cred := ourInitiatorCred(t, realm)
		peer := mitAcceptor(t, realm, nil)
		ic, _ := cred.NewInitiator(mechs.InitiatorParams{Target: testrealm.Service, Req: secctx.ISC_REQ_MUTUAL_AUTH | secctx.ISC_REQ_DELEGATE})
		r := step(t, ic, &mechs.StepInput{})
		wantStatus(t, r, status.SEC_I_CONTINUE_NEEDED)
		if !secctx.ISCRet(r.Flags).Has(secctx.ISC_RET_DELEGATE) {
			t.Fatal("no ISC_RET_DELEGATE: the TGT was not forwardable")
		}
		out, _, err := peer.Step(r.Token)
		if err != nil {
			t.Fatal(err)
		}
		wantStatus(t, ic.Step(&mechs.StepInput{Token: out}), status.SEC_E_OK)
		if info, err := peer.Info(); err != nil || !info.Delegated {
			t.Fatalf("MIT acceptor got no delegated credential: %+v %v", info, err)
		}
	})

	upstream := addUpstream(t, realm)
	t.Run("ours to ours, then upstream", func(t *testing.T) {
		cred := ourInitiatorCred(t, realm)
		ic, _ := cred.NewInitiator(mechs.InitiatorParams{Target: testrealm.Service, Req: secctx.ISC_REQ_MUTUAL_AUTH | secctx.ISC_REQ_DELEGATE})
		r := step(t, ic, &mechs.StepInput{})
		wantStatus(t, r, status.SEC_I_CONTINUE_NEEDED)
		ac, _ := acred.NewAcceptor(mechs.AcceptorParams{})
		defer ac.Close()
		ar := ac.Step(&mechs.StepInput{Token: r.Token})
		wantStatus(t, ar, status.SEC_E_OK)
		if !secctx.ASCRet(ar.Flags).Has(secctx.ASC_RET_DELEGATE) {
			t.Fatalf("no ASC_RET_DELEGATE: %v", secctx.ASCRet(ar.Flags))
		}
		wantStatus(t, ic.Step(&mechs.StepInput{Token: ar.Token}), status.SEC_E_OK)
		actUpstream(t, realm, delegatedCred(t, realm, ac), upstream(t))
	})

	t.Run("MIT to ours, then upstream", func(t *testing.T) {
		ccache := realm.Kinit(t, testrealm.User, testrealm.Password, "-f")
		mit := mitInitiator(t, realm, ccache, testrealm.ServiceGSSName, gsspeer.Mutual|gsspeer.Deleg|gsspeer.Integ|gsspeer.Conf, nil)
		tok, _, err := mit.Step(nil)
		if err != nil {
			t.Fatal(err)
		}
		saveToken(t, "mit_ap_req_deleg.hex", tok)
		if kt, err := os.ReadFile(realm.ServiceKeytab); err == nil && os.Getenv("ASYNCSSPI_SAVE_TOKENS") == "1" {
			// This realm's service keys open the saved AP-REQ and so
			// MIT's KRB-CRED (the fuzz seeds of FuzzKRBCred).
			os.WriteFile(filepath.Join("testdata", "mit_deleg_service.keytab"), kt, 0o644)
		}
		ac, _ := acred.NewAcceptor(mechs.AcceptorParams{})
		defer ac.Close()
		ar := ac.Step(&mechs.StepInput{Token: tok})
		wantStatus(t, ar, status.SEC_E_OK)
		if !secctx.ASCRet(ar.Flags).Has(secctx.ASC_RET_DELEGATE) || len(ac.(*acceptor).DelegatedCredential()) == 0 {
			t.Fatalf("no delegated credential from MIT: %v", secctx.ASCRet(ar.Flags))
		}
		if _, complete, err := mit.Step(ar.Token); err != nil || !complete {
			t.Fatalf("MIT initiator after our AP-REP: %v", err)
		}
		actUpstream(t, realm, delegatedCred(t, realm, ac), upstream(t))
	})

	t.Run("expired", func(t *testing.T) {
		// The delegated TGT outlived: its credential cannot log in
		// again, and says so without asking the KDC.
		cred := ourInitiatorCred(t, realm)
		ic, _ := cred.NewInitiator(mechs.InitiatorParams{Target: testrealm.Service, Req: secctx.ISC_REQ_DELEGATE})
		r := step(t, ic, &mechs.StepInput{})
		wantStatus(t, r, status.SEC_E_OK)
		ac, _ := acred.NewAcceptor(mechs.AcceptorParams{})
		defer ac.Close()
		wantStatus(t, ac.Step(&mechs.StepInput{Token: r.Token}), status.SEC_E_OK)
		later := func() time.Time { return time.Now().Add(48 * time.Hour) }
		dcred := delegatedCred(t, realm, ac, WithClock(later))
		requests := realm.CountRequests("TGS_REQ") + realm.CountRequests("AS_REQ")
		uc, _ := dcred.NewInitiator(mechs.InitiatorParams{Target: "HTTP@upstream.test"})
		res := step(t, uc, &mechs.StepInput{})
		wantStatus(t, res, status.SEC_E_NO_CREDENTIALS)
		if !errors.Is(res.Err, kdc.ErrTGTEnded) {
			t.Fatalf("cause %v, want kdc.ErrTGTEnded", res.Err)
		}
		if got := realm.CountRequests("TGS_REQ") + realm.CountRequests("AS_REQ"); got != requests {
			t.Fatalf("the KDC was asked (%d -> %d requests)", requests, got)
		}
	})
}

func TestInteropWrongPrincipalAndBindings(t *testing.T) {
	realm := startRealm(t)
	realm.AddService(t, "HTTP/other.test")
	ccache := realm.Kinit(t, testrealm.User, testrealm.Password)
	cred := ourAcceptorCred(t, realm)
	mitToken := func(target string, cb *secctx.ChannelBindings) []byte {
		t.Helper()
		tok, _, err := mitInitiator(t, realm, ccache, target, gsspeer.Mutual, cb).Step(nil)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}

	// A ticket for another service.
	ac, _ := cred.NewAcceptor(mechs.AcceptorParams{})
	wantStatus(t, ac.Step(&mechs.StepInput{Token: mitToken("HTTP@other.test", nil)}), status.SEC_E_WRONG_PRINCIPAL)

	// Channel bindings: MIT initiator with A, our acceptor with B, then A.
	cbA := &secctx.ChannelBindings{ApplicationData: []byte("tls-server-end-point:A")}
	cbB := &secctx.ChannelBindings{ApplicationData: []byte("tls-server-end-point:B")}
	ac, _ = cred.NewAcceptor(mechs.AcceptorParams{})
	wantStatus(t, ac.Step(&mechs.StepInput{Token: mitToken(testrealm.ServiceGSSName, cbA), Bindings: cbB}), status.SEC_E_BAD_BINDINGS)
	ac, _ = cred.NewAcceptor(mechs.AcceptorParams{})
	wantStatus(t, ac.Step(&mechs.StepInput{Token: mitToken(testrealm.ServiceGSSName, cbA), Bindings: cbA}), status.SEC_E_OK)

	// Our initiator with bindings A against MIT's acceptor with B: refused
	// there (and its error token, if any, fails our initiator); with A:
	// accepted.
	icred := ourInitiatorCred(t, realm)
	for _, tc := range []struct {
		acc *secctx.ChannelBindings
		ok  bool
	}{{cbB, false}, {cbA, true}} {
		mit := mitAcceptor(t, realm, tc.acc)
		ic, _ := icred.NewInitiator(mechs.InitiatorParams{Target: testrealm.Service, Req: secctx.ISC_REQ_MUTUAL_AUTH})
		r := step(t, ic, &mechs.StepInput{Bindings: cbA})
		wantStatus(t, r, status.SEC_I_CONTINUE_NEEDED)
		out, _, err := mit.Step(r.Token)
		if (err == nil) != tc.ok {
			t.Fatalf("MIT acceptor with bindings %q: err %v", tc.acc.ApplicationData, err)
		}
		var ge *gsspeer.Error
		if errors.As(err, &ge) && len(ge.Token) > 0 {
			saveToken(t, "mit_krb_error.hex", ge.Token)
			if r := ic.Step(&mechs.StepInput{Token: ge.Token}); !r.Status.IsError() {
				t.Fatalf("MIT's error token gave %v", r.Status)
			}
		}
		if tc.ok {
			wantStatus(t, ic.Step(&mechs.StepInput{Token: out}), status.SEC_E_OK)
		}
	}
}

func TestInteropSkew(t *testing.T) {
	realm := startRealm(t)
	ccache := realm.Kinit(t, testrealm.User, testrealm.Password)
	tok, _, err := mitInitiator(t, realm, ccache, testrealm.ServiceGSSName, gsspeer.Mutual, nil).Step(nil)
	if err != nil {
		t.Fatal(err)
	}
	// Our acceptor's clock is ten minutes ahead.
	cred := ourAcceptorCred(t, realm, WithClock(func() time.Time { return time.Now().Add(10 * time.Minute) }))
	ac, _ := cred.NewAcceptor(mechs.AcceptorParams{})
	wantStatus(t, ac.Step(&mechs.StepInput{Token: tok}), status.SEC_E_TIME_SKEW)
}

// TestInteropCredentialKinds logs in with each kind of outbound
// credential against the real KDC and completes a handshake with our
// acceptor: password, keytab, a ccache given by path, and the default
// ccache (KRB5CCNAME, nil AuthData).
func TestInteropCredentialKinds(t *testing.T) {
	realm := startRealm(t)
	clientKT := realm.Keytab(t, testrealm.User)
	ccache := realm.Kinit(t, testrealm.User, testrealm.Password)
	acred := ourAcceptorCred(t, realm)
	pkg := New(WithConfigFile(realm.Krb5Conf))
	for _, tc := range []struct {
		name      string
		principal string
		authData  any
		env       string
	}{
		{"password", "", &secctx.AuthIdentity{User: testrealm.User + "@" + realm.Name, Password: testrealm.Password}, ""},
		{"keytab", testrealm.User + "@" + realm.Name, &Keytab{Path: clientKT}, ""},
		{"keytab, first principal", "", &Keytab{Path: clientKT}, ""},
		{"ccache", "", &CCache{Path: ccache}, ""},
		{"default ccache", "", nil, "FILE:" + ccache},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.env != "" {
				t.Setenv("KRB5CCNAME", tc.env)
			}
			cred, err := pkg.AcquireCredentials(mechs.CredentialRequest{Principal: tc.principal, Use: secctx.SECPKG_CRED_OUTBOUND, AuthData: tc.authData})
			if err != nil {
				t.Fatal(err)
			}
			defer cred.Close()
			if cred.Principal() != testrealm.User+"@"+realm.Name {
				t.Fatalf("principal %q", cred.Principal())
			}
			ic, _ := cred.NewInitiator(mechs.InitiatorParams{Target: testrealm.Service + "@" + realm.Name, Req: secctx.ISC_REQ_MUTUAL_AUTH})
			r := step(t, ic, &mechs.StepInput{})
			wantStatus(t, r, status.SEC_I_CONTINUE_NEEDED)
			ac, _ := acred.NewAcceptor(mechs.AcceptorParams{})
			ar := ac.Step(&mechs.StepInput{Token: r.Token})
			wantStatus(t, ar, status.SEC_E_OK)
			wantStatus(t, ic.Step(&mechs.StepInput{Token: ar.Token}), status.SEC_E_OK)
		})
	}
	// Two credentials sharing one transport; the package leaves it open.
	cfg, err := kdc.LoadConfigFile(realm.Krb5Conf)
	if err != nil {
		t.Fatal(err)
	}
	tr := kdc.NewTransport(kdc.WithConfig(cfg))
	defer tr.Close()
	shared := New(WithConfig(cfg), WithTransport(tr))
	for i := 0; i < 2; i++ {
		cred, err := shared.AcquireCredentials(mechs.CredentialRequest{Use: secctx.SECPKG_CRED_OUTBOUND,
			AuthData: &secctx.AuthIdentity{User: testrealm.User, Domain: realm.Name, Password: testrealm.Password}})
		if err != nil {
			t.Fatal(err)
		}
		ic, _ := cred.NewInitiator(mechs.InitiatorParams{Target: testrealm.Service})
		wantStatus(t, step(t, ic, &mechs.StepInput{}), status.SEC_E_OK)
		cred.Close()
	}

	// A wrong password fails the first leg with SEC_E_LOGON_DENIED, an
	// unknown service with SEC_E_TARGET_UNKNOWN.
	bad, _ := pkg.AcquireCredentials(mechs.CredentialRequest{Use: secctx.SECPKG_CRED_OUTBOUND,
		AuthData: &secctx.AuthIdentity{User: testrealm.User, Domain: realm.Name, Password: "wrong"}})
	defer bad.Close()
	ic, _ := bad.NewInitiator(mechs.InitiatorParams{Target: testrealm.Service})
	wantStatus(t, step(t, ic, &mechs.StepInput{}), status.SEC_E_LOGON_DENIED)
	good := ourInitiatorCred(t, realm)
	ic, _ = good.NewInitiator(mechs.InitiatorParams{Target: "HTTP/nowhere.test"})
	wantStatus(t, step(t, ic, &mechs.StepInput{}), status.SEC_E_TARGET_UNKNOWN)
}

// TestInteropAESSHA2 runs both directions with MIT for services whose only
// key is AES-SHA2 (RFC 8009, etypes 19 and 20), so tickets, session keys,
// subkeys and per-message tokens all use it. (gokrb5's etype 20 uses
// 24-byte keys, so this is the independent check of ours.)
func TestInteropAESSHA2(t *testing.T) {
	peertest.Python(t)
	// Clients ask for AES-SHA2 first, so session keys use it too.
	const sha2First = "aes256-cts-hmac-sha384-192 aes128-cts-hmac-sha256-128 aes256-cts-hmac-sha1-96 aes128-cts-hmac-sha1-96"
	realm := testrealm.Start(t, testrealm.WithLibdefault("default_tkt_enctypes = "+sha2First),
		testrealm.WithLibdefault("default_tgs_enctypes = "+sha2First))
	ccache := realm.Kinit(t, testrealm.User, testrealm.Password)
	icred := ourInitiatorCred(t, realm)
	for _, tc := range []struct {
		etype int32
		enc   string
		host  string
	}{
		{etypeAES256SHA384, "aes256-cts-hmac-sha384-192:normal", "sha384.test"},
		{etypeAES128SHA256, "aes128-cts-hmac-sha256-128:normal", "sha256.test"},
	} {
		t.Run(tc.host, func(t *testing.T) {
			spn := "HTTP/" + tc.host
			realm.Kadmin(t, "addprinc -randkey -e "+tc.enc+" "+spn)
			kt := realm.Keytab(t, spn)

			// Ours to MIT's.
			peer := gsspeer.Start(t, gsspeer.Config{Role: gsspeer.Acceptor, Mech: gsspeer.Krb5,
				Env: append(realm.Env(), "KRB5_KTNAME=FILE:"+kt)})
			ic, _ := icred.NewInitiator(mechs.InitiatorParams{Target: "HTTP@" + tc.host, Req: secctx.ISC_REQ_MUTUAL_AUTH})
			r := step(t, ic, &mechs.StepInput{})
			wantStatus(t, r, status.SEC_I_CONTINUE_NEEDED)
			if got := ic.(*initiator).tkt.key.etype; got != tc.etype {
				t.Fatalf("session key etype %d, want %d", got, tc.etype)
			}
			out, _, err := peer.Step(r.Token)
			if err != nil {
				t.Fatal(err)
			}
			wantStatus(t, ic.Step(&mechs.StepInput{Token: out}), status.SEC_E_OK)
			if k, _ := ic.(*initiator).current(); k.etype != tc.etype {
				t.Fatalf("per-message key etype %d", k.etype)
			}
			checkSessionKey(t, ic, peer)
			messagesWithMIT(t, ic, peer)

			// MIT's to ours.
			pkg := New(WithConfigFile(realm.Krb5Conf))
			acred, err := pkg.AcquireCredentials(mechs.CredentialRequest{Use: secctx.SECPKG_CRED_INBOUND, AuthData: &Keytab{Path: kt}})
			if err != nil {
				t.Fatal(err)
			}
			mit := mitInitiator(t, realm, ccache, "HTTP@"+tc.host, gsspeer.Mutual|gsspeer.Integ|gsspeer.Conf, nil)
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
			if k, _ := ac.(*acceptor).current(); k.etype != tc.etype {
				t.Fatalf("acceptor per-message key etype %d", k.etype)
			}
			checkSessionKey(t, ac, mit)
			messagesWithMIT(t, ac, mit)
		})
	}
}

// TestInteropLowerCaseRealm (issue 11 item 14): a realm written in lower
// case, in the user name or as the domain, resolves to the realm krb5.conf
// knows, as Windows resolves a domain given in any case.
func TestInteropLowerCaseRealm(t *testing.T) {
	realm := startRealm(t)
	lower := strings.ToLower(realm.Name)
	pkg := New(WithConfigFile(realm.Krb5Conf))
	acred := ourAcceptorCred(t, realm)
	for _, id := range []*secctx.AuthIdentity{
		{User: testrealm.User + "@" + lower, Password: testrealm.Password},
		{User: testrealm.User, Domain: lower, Password: testrealm.Password},
	} {
		cred, err := pkg.AcquireCredentials(mechs.CredentialRequest{Use: secctx.SECPKG_CRED_OUTBOUND, AuthData: id})
		if err != nil {
			t.Fatal(err)
		}
		defer cred.Close()
		if got := cred.Principal(); got != testrealm.User+"@"+realm.Name {
			t.Fatalf("%+v: principal %q", id, got)
		}
		ic, _ := cred.NewInitiator(mechs.InitiatorParams{Target: testrealm.Service, Req: secctx.ISC_REQ_MUTUAL_AUTH})
		r := step(t, ic, &mechs.StepInput{})
		wantStatus(t, r, status.SEC_I_CONTINUE_NEEDED)
		ac, _ := acred.NewAcceptor(mechs.AcceptorParams{})
		ar := ac.Step(&mechs.StepInput{Token: r.Token})
		wantStatus(t, ar, status.SEC_E_OK)
		wantStatus(t, ic.Step(&mechs.StepInput{Token: ar.Token}), status.SEC_E_OK)
	}
}
