package gsspeer

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	secctx "github.com/asyncsspi/asyncsspi/context"
	"github.com/asyncsspi/asyncsspi/internal/testrealm"
	"go.uber.org/goleak"
)

// -update rewrites testdata/ with the tokens these tests capture.
var update = flag.Bool("update", false, "rewrite testdata/ with freshly captured tokens")

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// handshake steps tokens between two peers until both are complete and
// returns every token sent, initiator's first.
func handshake(t *testing.T, ini, acc *Peer) [][]byte {
	t.Helper()
	var sent [][]byte
	var in []byte
	iniDone, accDone := false, false
	for i := 0; i < 10; i++ {
		out, done, err := ini.Step(in)
		if err != nil {
			t.Fatalf("initiator step %d: %v\n%s", i, err, ini.Stderr())
		}
		iniDone = done
		if len(out) == 0 {
			break
		}
		sent = append(sent, out)
		out, done, err = acc.Step(out)
		if err != nil {
			t.Fatalf("acceptor step %d: %v\n%s", i, err, acc.Stderr())
		}
		accDone = done
		if len(out) == 0 {
			break
		}
		sent = append(sent, out)
		if iniDone && accDone {
			// The acceptor's last token must still reach the initiator only
			// if the initiator is not done; here both are.
			break
		}
		in = out
	}
	if !iniDone || !accDone {
		t.Fatalf("handshake incomplete: initiator %v acceptor %v after %d tokens", iniDone, accDone, len(sent))
	}
	return sent
}

// messages checks Wrap/Unwrap (sealed and signed only) and MIC both ways
// and returns a sealed wrap token and a MIC token made by the initiator.
// gss-ntlmssp always seals in gss_wrap (NTLM has no sign-only wrap), so
// for NTLM signOnly is false and the sealed flag is not checked for
// conf=false.
func messages(t *testing.T, ini, acc *Peer, signOnly bool) (wrapTok, micTok []byte) {
	t.Helper()
	for _, dir := range []struct {
		name     string
		from, to *Peer
	}{{"initiator->acceptor", ini, acc}, {"acceptor->initiator", acc, ini}} {
		for _, conf := range []bool{true, false} {
			msg := []byte("hello over " + dir.name)
			tok, err := dir.from.Wrap(msg, conf)
			if err != nil {
				t.Fatalf("%s wrap(conf=%v): %v", dir.name, conf, err)
			}
			if (conf || !signOnly) && bytes.Contains(tok, msg) {
				t.Fatalf("%s sealed token contains the plaintext", dir.name)
			}
			got, sealed, err := dir.to.UnwrapConf(tok)
			if err != nil {
				t.Fatalf("%s unwrap(conf=%v): %v", dir.name, conf, err)
			}
			if !bytes.Equal(got, msg) || (sealed != conf && (conf || signOnly)) {
				t.Fatalf("%s unwrap = %q sealed=%v, want %q sealed=%v", dir.name, got, sealed, msg, conf)
			}
			if conf && dir.from == ini {
				wrapTok = tok
			}
		}
		msg := []byte("signed over " + dir.name)
		mic, err := dir.from.GetMIC(msg)
		if err != nil {
			t.Fatalf("%s get_mic: %v", dir.name, err)
		}
		if err := dir.to.VerifyMIC(msg, mic); err != nil {
			t.Fatalf("%s verify_mic: %v", dir.name, err)
		}
		if dir.from == ini {
			micTok = mic
		}
		var ge *Error
		if err := dir.to.VerifyMIC([]byte("tampered"), mic); !errors.As(err, &ge) {
			t.Fatalf("%s verify_mic of a tampered message: %v, want *Error", dir.name, err)
		}
	}
	return wrapTok, micTok
}

func save(t *testing.T, name string, data []byte) {
	t.Helper()
	if !*update {
		return
	}
	if err := os.MkdirAll("testdata", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join("testdata", name), data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestKrb5(t *testing.T) {
	t.Parallel()
	realm := testrealm.Start(t)
	cc := realm.Kinit(t, testrealm.User, testrealm.Password)
	ini := Start(t, Config{
		Role: Initiator, Mech: Krb5, Target: testrealm.ServiceGSSName,
		Flags: Mutual | Integ | Conf | Sequence,
		Env:   append(realm.Env(), "KRB5CCNAME=FILE:"+cc),
	})
	acc := Start(t, Config{Role: Acceptor, Mech: Krb5, Env: realm.Env()})
	toks := handshake(t, ini, acc)
	if len(toks) != 2 {
		t.Fatalf("krb5 mutual handshake sent %d tokens, want AP-REQ and AP-REP", len(toks))
	}
	if got, want := acc.PeerName(), testrealm.User+"@"+realm.Name; got != want {
		t.Fatalf("acceptor peer name %q, want %q", got, want)
	}
	if got := acc.Mech(); got != string(Krb5) {
		t.Fatalf("acceptor mech %q", got)
	}
	if f := ini.Flags(); f&Mutual == 0 || f&Conf == 0 || f&Integ == 0 {
		t.Fatalf("initiator flags %#x", f)
	}
	info, err := acc.Info()
	if err != nil {
		t.Fatal(err)
	}
	iinfo, err := ini.Info()
	if err != nil {
		t.Fatal(err)
	}
	if len(info.SessionKey) == 0 || !bytes.Equal(info.SessionKey, iinfo.SessionKey) {
		t.Fatalf("session keys differ or missing: %x vs %x", info.SessionKey, iinfo.SessionKey)
	}
	wrapTok, micTok := messages(t, ini, acc, true)
	if got := realm.CountRequests("TGS_REQ"); got != 1 {
		t.Fatalf("TGS_REQ count %d, want 1", got)
	}
	save(t, "krb5_ap_req.gss", toks[0])
	save(t, "krb5_ap_rep.gss", toks[1])
	save(t, "krb5_wrap_conf.bin", wrapTok)
	save(t, "krb5_mic.bin", micTok)
}

func TestKrb5NoMutualOneLeg(t *testing.T) {
	t.Parallel()
	realm := testrealm.Start(t)
	cc := realm.Kinit(t, testrealm.User, testrealm.Password)
	ini := Start(t, Config{
		Role: Initiator, Mech: Krb5, Target: "HTTP/localhost@" + realm.Name,
		Flags: Integ,
		Env:   append(realm.Env(), "KRB5CCNAME=FILE:"+cc),
	})
	acc := Start(t, Config{Role: Acceptor, Mech: Krb5, AcceptorName: "HTTP/localhost@" + realm.Name, Env: realm.Env()})
	out, done, err := ini.Step(nil)
	if err != nil || !done || len(out) == 0 {
		t.Fatalf("initiator: %d bytes, done %v, %v", len(out), done, err)
	}
	reply, done, err := acc.Step(out)
	if err != nil || !done || len(reply) != 0 {
		t.Fatalf("acceptor: %d bytes, done %v, %v", len(reply), done, err)
	}
	// Replaying the AP-REQ to a fresh acceptor with the same replay cache
	// is refused, and the refusal is a Go error with GSSAPI's text.
	acc2 := Start(t, Config{Role: Acceptor, Mech: Krb5, Env: realm.Env()})
	_, _, err = acc2.Step(out)
	var ge *Error
	if !errors.As(err, &ge) || ge.Major == 0 || !strings.Contains(strings.ToLower(ge.Message), "replay") {
		t.Fatalf("replayed AP-REQ: %v", err)
	}
}

func TestKrb5WrongKeytabRefused(t *testing.T) {
	t.Parallel()
	realm := testrealm.Start(t)
	other := testrealm.Start(t, testrealm.WithRealm(realm.Name))
	cc := realm.Kinit(t, testrealm.User, testrealm.Password)
	ini := Start(t, Config{
		Role: Initiator, Mech: Krb5, Target: testrealm.ServiceGSSName, Flags: Mutual,
		Env: append(realm.Env(), "KRB5CCNAME=FILE:"+cc),
	})
	// Same realm name and SPN, different keys.
	acc := Start(t, Config{Role: Acceptor, Mech: Krb5, Env: other.Env()})
	tok, _, err := ini.Step(nil)
	if err != nil {
		t.Fatal(err)
	}
	errTok, _, err := acc.Step(tok)
	var ge *Error
	if !errors.As(err, &ge) {
		t.Fatalf("acceptor with the wrong keys: %v", err)
	}
	t.Logf("refused as expected: %v (error token %d bytes)", ge, len(errTok))
	if !bytes.Equal(errTok, ge.Token) {
		t.Fatal("Step's out and Error.Token differ")
	}
}

func TestKrb5Delegation(t *testing.T) {
	t.Parallel()
	realm := testrealm.Start(t)
	realm.Kadmin(t, "modprinc +ok_as_delegate "+testrealm.Service)
	cc := realm.Kinit(t, testrealm.User, testrealm.Password)
	ini := Start(t, Config{
		Role: Initiator, Mech: Krb5, Target: testrealm.ServiceGSSName,
		Flags: Mutual | Deleg,
		Env:   append(realm.Env(), "KRB5CCNAME=FILE:"+cc),
	})
	acc := Start(t, Config{Role: Acceptor, Mech: Krb5, Env: realm.Env()})
	handshake(t, ini, acc)
	info, err := acc.Info()
	if err != nil {
		t.Fatal(err)
	}
	if !info.Delegated || info.Flags&Deleg == 0 || info.DelegatedName != testrealm.User+"@"+realm.Name {
		t.Fatalf("no delegation: %+v", info)
	}
}

func TestSPNEGOKrb5(t *testing.T) {
	t.Parallel()
	realm := testrealm.Start(t)
	cc := realm.Kinit(t, testrealm.User, testrealm.Password)
	ini := Start(t, Config{
		Role: Initiator, Mech: SPNEGO, Target: testrealm.ServiceGSSName,
		Flags: Mutual | Integ | Conf,
		Env:   append(realm.Env(), "KRB5CCNAME=FILE:"+cc),
	})
	acc := Start(t, Config{Role: Acceptor, Mech: SPNEGO, Env: realm.Env()})
	toks := handshake(t, ini, acc)
	if got := acc.Mech(); got != string(Krb5) {
		t.Fatalf("SPNEGO negotiated %q, want krb5", got)
	}
	if got := ini.Mech(); got != string(Krb5) {
		t.Fatalf("SPNEGO initiator mech %q, want krb5", got)
	}
	if got, want := acc.PeerName(), testrealm.User+"@"+realm.Name; got != want {
		t.Fatalf("acceptor peer name %q, want %q", got, want)
	}
	messages(t, ini, acc, true)
	save(t, "spnego_krb5_neg_token_init.gss", toks[0])
	save(t, "spnego_krb5_neg_token_resp.bin", toks[1])
}

// ntlmUsers writes a gss-ntlmssp users file (DOMAIN:user:password lines).
func ntlmUsers(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ntlm_users")
	if err := os.WriteFile(path, []byte("TESTDOM:bob:Bob-Pa55word\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestNTLM(t *testing.T) {
	t.Parallel()
	users := ntlmUsers(t)
	ini := Start(t, Config{
		Role: Initiator, Mech: NTLMSSP, Target: "HTTP@localhost",
		Username: `TESTDOM\bob`, Password: "Bob-Pa55word",
		Flags: Integ | Conf | Mutual,
	})
	acc := Start(t, Config{Role: Acceptor, Mech: NTLMSSP, Env: []string{"NTLM_USER_FILE=" + users}})
	toks := handshake(t, ini, acc)
	if len(toks) != 3 {
		t.Fatalf("NTLM sent %d tokens, want NEGOTIATE, CHALLENGE, AUTHENTICATE", len(toks))
	}
	for i, sig := range toks {
		if !bytes.HasPrefix(sig, []byte("NTLMSSP\x00")) || sig[8] != byte(i+1) {
			t.Fatalf("token %d is not NTLM message type %d: %x", i, i+1, sig[:min(12, len(sig))])
		}
	}
	if got := acc.PeerName(); !strings.EqualFold(got, `TESTDOM\bob`) {
		t.Fatalf("acceptor peer name %q", got)
	}
	if got := acc.Mech(); got != string(NTLMSSP) {
		t.Fatalf("acceptor mech %q", got)
	}
	wrapTok, micTok := messages(t, ini, acc, false)
	save(t, "ntlm_negotiate.bin", toks[0])
	save(t, "ntlm_challenge.bin", toks[1])
	save(t, "ntlm_authenticate.bin", toks[2])
	save(t, "ntlm_wrap_conf.bin", wrapTok)
	save(t, "ntlm_mic.bin", micTok)
}

func TestNTLMWrongPassword(t *testing.T) {
	t.Parallel()
	users := ntlmUsers(t)
	ini := Start(t, Config{
		Role: Initiator, Mech: NTLMSSP, Target: "HTTP@localhost",
		Username: `TESTDOM\bob`, Password: "wrong",
	})
	acc := Start(t, Config{Role: Acceptor, Mech: NTLMSSP, Env: []string{"NTLM_USER_FILE=" + users}})
	neg, _, err := ini.Step(nil)
	if err != nil {
		t.Fatal(err)
	}
	chal, _, err := acc.Step(neg)
	if err != nil {
		t.Fatal(err)
	}
	auth, _, err := ini.Step(chal)
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = acc.Step(auth)
	var ge *Error
	if !errors.As(err, &ge) {
		t.Fatalf("wrong password accepted: %v", err)
	}
}

func TestSPNEGONTLM(t *testing.T) {
	t.Parallel()
	users := ntlmUsers(t)
	ini := Start(t, Config{
		Role: Initiator, Mech: SPNEGO, Target: "HTTP@localhost",
		Username: `TESTDOM\bob`, Password: "Bob-Pa55word",
		NegMechs: []Mech{NTLMSSP},
		Flags:    Integ | Conf | Mutual,
	})
	acc := Start(t, Config{Role: Acceptor, Mech: SPNEGO, Env: []string{"NTLM_USER_FILE=" + users}})
	toks := handshake(t, ini, acc)
	if got := acc.Mech(); got != string(NTLMSSP) {
		t.Fatalf("SPNEGO negotiated %q, want NTLMSSP", got)
	}
	if got := acc.PeerName(); !strings.EqualFold(got, `TESTDOM\bob`) {
		t.Fatalf("acceptor peer name %q", got)
	}
	messages(t, ini, acc, false)
	save(t, "spnego_ntlm_neg_token_init.gss", toks[0])
	save(t, "spnego_ntlm_neg_token_resp_challenge.bin", toks[1])
	save(t, "spnego_ntlm_neg_token_resp_authenticate.bin", toks[2])
	if len(toks) > 3 {
		save(t, "spnego_ntlm_neg_token_resp_final.bin", toks[3])
	}
}

func TestChannelBindings(t *testing.T) {
	t.Parallel()
	realm := testrealm.Start(t)
	cc := realm.Kinit(t, testrealm.User, testrealm.Password)
	cb := &secctx.ChannelBindings{ApplicationData: []byte("tls-server-end-point:0123456789abcdef")}
	ini := Start(t, Config{
		Role: Initiator, Mech: Krb5, Target: testrealm.ServiceGSSName, Flags: Mutual,
		ChannelBindings: cb,
		Env:             append(realm.Env(), "KRB5CCNAME=FILE:"+cc),
	})
	acc := Start(t, Config{Role: Acceptor, Mech: Krb5, ChannelBindings: cb, Env: realm.Env()})
	handshake(t, ini, acc)

	// Different bindings on the acceptor side are refused.
	ini2 := Start(t, Config{
		Role: Initiator, Mech: Krb5, Target: testrealm.ServiceGSSName, Flags: Mutual,
		ChannelBindings: cb,
		Env:             append(realm.Env(), "KRB5CCNAME=FILE:"+cc),
	})
	acc2 := Start(t, Config{Role: Acceptor, Mech: Krb5, Env: realm.Env(),
		ChannelBindings: &secctx.ChannelBindings{ApplicationData: []byte("something else")}})
	tok, _, err := ini2.Step(nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := acc2.Step(tok); err == nil {
		t.Fatal("mismatched channel bindings accepted")
	}
}

func TestBadTokenIsError(t *testing.T) {
	t.Parallel()
	acc := Start(t, Config{Role: Acceptor, Mech: SPNEGO})
	_, _, err := acc.Step([]byte("definitely not a token"))
	var ge *Error
	if !errors.As(err, &ge) || ge.Major == 0 || ge.Message == "" {
		t.Fatalf("garbage token: %v", err)
	}
}

func TestCloseTwice(t *testing.T) {
	t.Parallel()
	p := Start(t, Config{Role: Acceptor, Mech: Krb5})
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := p.Step(nil); err == nil {
		t.Fatal("step after close succeeded")
	}
}
