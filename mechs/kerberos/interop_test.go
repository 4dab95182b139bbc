package kerberos

import (
	"bufio"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	secctx "github.com/asyncsspi/asyncsspi/context"
	"github.com/asyncsspi/asyncsspi/internal/peertest"
	"github.com/asyncsspi/asyncsspi/internal/testrealm"
	"github.com/asyncsspi/asyncsspi/mechs"
	"github.com/asyncsspi/asyncsspi/status"
)

// These tests run our initiator and acceptor against MIT's krb5 GSS
// mechanism (python3-gssapi, testdata/gsspeer.py) with a real MIT KDC
// started for the test (internal/testrealm).

// gssPeer is one running gsspeer.py process.
type gssPeer struct {
	t   *testing.T
	cmd *exec.Cmd
	in  io.WriteCloser
	out *bufio.Reader
}

func startPeer(t *testing.T, realm *testrealm.Realm, extraEnv []string, args ...string) *gssPeer {
	t.Helper()
	py := peertest.Python(t)
	cmd := exec.Command(py, append([]string{filepath.Join("testdata", "gsspeer.py")}, args...)...)
	cmd.Env = realm.Environ(extraEnv...)
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &gssPeer{t: t, cmd: cmd, in: in, out: bufio.NewReader(out)}
	t.Cleanup(func() {
		in.Close()
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	if l := p.line(); l[0] != "READY" {
		t.Fatalf("peer: %v", l)
	}
	return p
}

func (p *gssPeer) line() []string {
	p.t.Helper()
	s, err := p.out.ReadString('\n')
	if err != nil {
		p.t.Fatalf("peer exited: %v", err)
	}
	return strings.Fields(s)
}

// call sends a command and returns the answer fields, or an error for ERR.
func (p *gssPeer) call(cmd ...string) ([]string, error) {
	p.t.Helper()
	if _, err := io.WriteString(p.in, strings.Join(cmd, " ")+"\n"); err != nil {
		p.t.Fatal(err)
	}
	l := p.line()
	if l[0] == "ERR" {
		return nil, errors.New(strings.Join(l[1:], " "))
	}
	return l, nil
}

func (p *gssPeer) must(cmd ...string) []string {
	p.t.Helper()
	l, err := p.call(cmd...)
	if err != nil {
		p.t.Fatalf("%s: %v", cmd[0], err)
	}
	return l
}

func enc(b []byte) string {
	if len(b) == 0 {
		return "-"
	}
	return base64.StdEncoding.EncodeToString(b)
}

func dec(t *testing.T, s string) []byte {
	t.Helper()
	if s == "-" {
		return nil
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

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
			peer := startPeer(t, realm, nil, "accept")
			req := secctx.ISC_REQ_CONFIDENTIALITY | secctx.ISC_REQ_INTEGRITY | secctx.ISC_REQ_SEQUENCE_DETECT
			if mutual {
				req |= secctx.ISC_REQ_MUTUAL_AUTH
			}
			ic, err := cred.NewInitiator(mechs.InitiatorParams{Target: testrealm.ServiceGSSName, Req: req})
			if err != nil {
				t.Fatal(err)
			}
			r := step(t, ic, &mechs.StepInput{})
			l := peer.must("STEP", enc(r.Token))
			if l[2] != "1" {
				t.Fatal("MIT acceptor not complete")
			}
			if mutual {
				wantStatus(t, r, status.SEC_I_CONTINUE_NEEDED)
				saveToken(t, "mit_ap_rep.hex", dec(t, l[1]))
				r = ic.Step(&mechs.StepInput{Token: dec(t, l[1])})
				wantStatus(t, r, status.SEC_E_OK)
				if !secctx.ISCRet(r.Flags).Has(secctx.ISC_RET_MUTUAL_AUTH) {
					t.Fatal("no ISC_RET_MUTUAL_AUTH")
				}
			} else {
				wantStatus(t, r, status.SEC_E_OK)
				if l[1] != "-" {
					t.Fatal("MIT sent an AP-REP without mutual authentication")
				}
			}
			names := peer.must("NAMES")
			if names[1] != testrealm.User+"@"+realm.Name {
				t.Fatalf("MIT saw initiator %q", names[1])
			}
			messagesWithMIT(t, ic, peer, true)
		})
	}
}

func TestInteropMITInitiatorOurAcceptor(t *testing.T) {
	realm := startRealm(t)
	ccache := realm.Kinit(t, testrealm.User, testrealm.Password)
	env := []string{"KRB5CCNAME=FILE:" + ccache}
	cred := ourAcceptorCred(t, realm)
	if kt, err := os.ReadFile(realm.ServiceKeytab); err == nil && os.Getenv("ASYNCSSPI_SAVE_TOKENS") == "1" {
		// The service keys, so that fuzz seeds can open MIT's tickets
		// and authenticators (a throwaway realm's keys: no secret).
		os.WriteFile(filepath.Join("testdata", "mit_service.keytab"), kt, 0o644)
	}
	for _, mutual := range []bool{true, false} {
		t.Run(map[bool]string{true: "mutual", false: "no-mutual"}[mutual], func(t *testing.T) {
			fl := "rs"
			if mutual {
				fl += "m"
			}
			peer := startPeer(t, realm, env, "initiate", testrealm.ServiceGSSName, fl)
			l := peer.must("STEP", "-")
			tok := dec(t, l[1])
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
				l = peer.must("STEP", enc(r.Token))
				if l[2] != "1" {
					t.Fatal("MIT initiator not complete after our AP-REP")
				}
			}
			n, _ := ac.QueryAttribute(secctx.SECPKG_ATTR_NAMES)
			if n.(secctx.Names).UserName != testrealm.User+"@"+realm.Name {
				t.Fatalf("names %+v", n)
			}
			messagesWithMIT(t, ac, peer, false)

			// The same AP-REQ again is a replay.
			ac2, _ := cred.NewAcceptor(mechs.AcceptorParams{})
			r = ac2.Step(&mechs.StepInput{Token: tok})
			if !r.Status.IsError() {
				t.Fatalf("replayed AP-REQ accepted: %v", r.Status)
			}
			wantStatus(t, r, status.SEC_E_LOGON_DENIED)
		})
	}
}

// messagesWithMIT exchanges MIC and Wrap tokens both ways between our
// context and the MIT peer; saveSide names the saved seeds.
func messagesWithMIT(t *testing.T, our mechs.SecurityContext, peer *gssPeer, weInitiate bool) {
	t.Helper()
	for i := 0; i < 2; i++ {
		msg := []byte("message number " + string(rune('0'+i)) + " from Go")
		// Our MIC, MIT verifies.
		bufs := []secctx.Buffer{{Type: secctx.SECBUFFER_DATA, Data: msg}, {Type: secctx.SECBUFFER_TOKEN}}
		if st := our.MakeSignature(0, bufs, 0); st != status.SEC_E_OK {
			t.Fatal(st)
		}
		peer.must("VERIFY", enc(msg), enc(bufs[1].Data))
		// MIT's MIC, we verify.
		l := peer.must("MIC", enc(msg))
		mic := dec(t, l[1])
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
			l := peer.must("UNWRAP", enc(append(append([]byte(nil), wb[0].Data...), wb[1].Data...)))
			if string(dec(t, l[1])) != string(msg) || (l[2] == "1") != conf {
				t.Fatalf("MIT unwrapped %q encrypted=%s", dec(t, l[1]), l[2])
			}
			// MIT's Wrap (RRC 0), we unwrap from a stream buffer.
			c := "0"
			if conf {
				c = "1"
			}
			l = peer.must("WRAP", enc(msg), c)
			w := dec(t, l[1])
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

func TestInteropWrongPrincipalAndBindings(t *testing.T) {
	realm := startRealm(t)
	realm.AddService(t, "HTTP/other.test")
	ccache := realm.Kinit(t, testrealm.User, testrealm.Password)
	env := []string{"KRB5CCNAME=FILE:" + ccache}
	cred := ourAcceptorCred(t, realm)

	// A ticket for another service.
	peer := startPeer(t, realm, env, "initiate", "HTTP@other.test", "m")
	l := peer.must("STEP", "-")
	ac, _ := cred.NewAcceptor(mechs.AcceptorParams{})
	wantStatus(t, ac.Step(&mechs.StepInput{Token: dec(t, l[1])}), status.SEC_E_WRONG_PRINCIPAL)

	// Channel bindings: MIT initiator with A, our acceptor with B.
	cbA := &secctx.ChannelBindings{ApplicationData: []byte("tls-server-end-point:A")}
	cbB := &secctx.ChannelBindings{ApplicationData: []byte("tls-server-end-point:B")}
	peer = startPeer(t, realm, env, "initiate", testrealm.ServiceGSSName, "m", hex.EncodeToString(cbA.ApplicationData))
	l = peer.must("STEP", "-")
	ac, _ = cred.NewAcceptor(mechs.AcceptorParams{})
	wantStatus(t, ac.Step(&mechs.StepInput{Token: dec(t, l[1]), Bindings: cbB}), status.SEC_E_BAD_BINDINGS)
	// ... and matching bindings pass.
	peer = startPeer(t, realm, env, "initiate", testrealm.ServiceGSSName, "m", hex.EncodeToString(cbA.ApplicationData))
	l = peer.must("STEP", "-")
	ac, _ = cred.NewAcceptor(mechs.AcceptorParams{})
	wantStatus(t, ac.Step(&mechs.StepInput{Token: dec(t, l[1]), Bindings: cbA}), status.SEC_E_OK)

	// Our initiator with bindings A against MIT's acceptor with B: refused
	// there; with A: accepted.
	icred := ourInitiatorCred(t, realm)
	for _, tc := range []struct {
		acc *secctx.ChannelBindings
		ok  bool
	}{{cbB, false}, {cbA, true}} {
		mit := startPeer(t, realm, nil, "accept", hex.EncodeToString(tc.acc.ApplicationData))
		ic, _ := icred.NewInitiator(mechs.InitiatorParams{Target: testrealm.Service, Req: secctx.ISC_REQ_MUTUAL_AUTH})
		r := step(t, ic, &mechs.StepInput{Bindings: cbA})
		wantStatus(t, r, status.SEC_I_CONTINUE_NEEDED)
		_, err := mit.call("STEP", enc(r.Token))
		if (err == nil) != tc.ok {
			t.Fatalf("MIT acceptor with bindings %q: err %v", tc.acc.ApplicationData, err)
		}
	}
}

func TestInteropSkew(t *testing.T) {
	realm := startRealm(t)
	ccache := realm.Kinit(t, testrealm.User, testrealm.Password)
	peer := startPeer(t, realm, []string{"KRB5CCNAME=FILE:" + ccache}, "initiate", testrealm.ServiceGSSName, "m")
	l := peer.must("STEP", "-")
	// Our acceptor's clock is ten minutes ahead.
	cred := ourAcceptorCred(t, realm, WithClock(func() time.Time { return time.Now().Add(10 * time.Minute) }))
	ac, _ := cred.NewAcceptor(mechs.AcceptorParams{})
	wantStatus(t, ac.Step(&mechs.StepInput{Token: dec(t, l[1])}), status.SEC_E_TIME_SKEW)
}
