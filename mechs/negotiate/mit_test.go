package negotiate

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	secctx "github.com/asyncsspi/asyncsspi/context"
	"github.com/asyncsspi/asyncsspi/internal/peertest"
	"github.com/asyncsspi/asyncsspi/mechs"
	"github.com/asyncsspi/asyncsspi/mechs/ntlm"
	"github.com/asyncsspi/asyncsspi/status"
)

// mitPeer is MIT's SPNEGO (krb5 and gss-ntlmssp behind it) on the other
// side of a handshake, driven through python3-gssapi by
// testdata/mitpeer.py.
type mitPeer struct {
	t   testing.TB
	cmd *exec.Cmd
	in  *bufio.Writer
	out *bufio.Scanner
}

// mitEnv is a throwaway environment for MIT's libraries: a krb5.conf
// with DNS off and no KDC (Kerberos cannot serve, so SPNEGO goes to
// NTLM), gss-ntlmssp's users file with alice, and no ticket cache or
// keytab.
func mitEnv(t testing.TB) []string {
	peertest.NTLMSSP(t)
	dir := t.TempDir()
	conf := filepath.Join(dir, "krb5.conf")
	os.WriteFile(conf, []byte("[libdefaults]\n default_realm = NOWHERE.INVALID\n dns_lookup_kdc = false\n dns_lookup_realm = false\n rdns = false\n"), 0o600)
	users := filepath.Join(dir, "users")
	os.WriteFile(users, []byte("EXAMPLE:alice:Passw0rd!\n"), 0o600)
	return []string{
		"KRB5_CONFIG=" + conf,
		"NTLM_USER_FILE=" + users,
		"KRB5CCNAME=FILE:" + filepath.Join(dir, "ccache"),
		"KRB5_KTNAME=FILE:" + filepath.Join(dir, "keytab"),
		"KRB5RCACHEDIR=" + dir,
	}
}

func startMIT(t testing.TB, env []string, args ...string) *mitPeer {
	t.Helper()
	py := peertest.Python(t)
	cmd := exec.Command(py, append([]string{filepath.Join("testdata", "mitpeer.py")}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &mitPeer{t: t, cmd: cmd, in: bufio.NewWriter(stdin), out: bufio.NewScanner(stdout)}
	p.out.Buffer(make([]byte, 1<<20), 1<<20)
	t.Cleanup(func() {
		stdin.Close()
		cmd.Wait()
		if t.Failed() && stderr.Len() > 0 {
			t.Logf("mitpeer stderr: %s", stderr.String())
		}
	})
	if !p.out.Scan() || p.out.Text() != "READY" {
		t.Fatalf("mitpeer did not start: %q %s", p.out.Text(), stderr.String())
	}
	return p
}

func b64(b []byte) string {
	if len(b) == 0 {
		return "-"
	}
	return base64.StdEncoding.EncodeToString(b)
}

func unb64(t testing.TB, s string) []byte {
	if s == "-" {
		return nil
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// call sends one command and returns the answer's fields after "OK", or
// the error message.
func (p *mitPeer) call(args ...string) ([]string, string) {
	p.t.Helper()
	p.in.WriteString(strings.Join(args, " ") + "\n")
	p.in.Flush()
	if !p.out.Scan() {
		p.t.Fatalf("mitpeer exited")
	}
	f := strings.Fields(p.out.Text())
	if len(f) == 0 {
		p.t.Fatal("empty answer")
	}
	if f[0] == "ERR" {
		return nil, strings.Join(f[1:], " ")
	}
	return f[1:], ""
}

func (p *mitPeer) step(tok []byte) (out []byte, complete bool, errMsg string) {
	f, e := p.call("STEP", b64(tok))
	if e != "" {
		return nil, false, e
	}
	return unb64(p.t, f[1]), f[0] == "1", ""
}

// driveWithMIT runs a handshake between our context and the MIT peer and
// returns the tokens that crossed, in order.
func driveWithMIT(t *testing.T, ours mechs.SecurityContext, peer *mitPeer, oursFirst bool) [][]byte {
	t.Helper()
	var wire [][]byte
	var tok []byte
	oursDone, peerDone := false, false
	oursTurn := oursFirst
	for i := 0; i < 12; i++ {
		if oursTurn {
			res := stepWithIO(t, ours, tok)
			if res.Status.IsError() {
				t.Fatalf("our leg %d: %v", i, res.Err)
			}
			oursDone = res.Status == status.SEC_E_OK
			tok = res.Token
		} else {
			out, complete, e := peer.step(tok)
			if e != "" {
				t.Fatalf("MIT leg %d: %s", i, e)
			}
			peerDone = complete
			tok = out
		}
		if len(tok) == 0 {
			if oursDone && peerDone {
				return wire
			}
			t.Fatalf("leg %d: no token but not both complete (ours %v, MIT %v)", i, oursDone, peerDone)
		}
		wire = append(wire, tok)
		oursTurn = !oursTurn
	}
	t.Fatal("handshake with MIT does not end")
	return nil
}

// stepWithIO runs one leg, performing any I/O the leg asks for (a KDC
// exchange) as the engine would.
func stepWithIO(t testing.TB, ctx mechs.SecurityContext, tok []byte) mechs.StepResult {
	in := &mechs.StepInput{Token: tok}
	res := ctx.Step(in)
	for i := 0; res.IO != nil; i++ {
		if i > 8 {
			t.Fatal("endless I/O requests")
		}
		in.IOReply, in.IOErr = res.IO.Do(t.Context())
		res = ctx.Step(in)
	}
	return res
}

// messagesWithMIT exchanges MICs and wrapped messages both ways after an
// NTLM handshake (an NTLM GSS wrap token is the signature followed by
// the sealed data).
func messagesWithMIT(t *testing.T, ours mechs.SecurityContext, peer *mitPeer) {
	t.Helper()
	t.Run("messages", func(t *testing.T) {
		if _, ok := establishedSub(ours).(RC4StateResetter); !ok {
			// MS-SPNG 3.3.5.1: after the mechListMIC, NTLM's RC4
			// handles go back to their state before it; gss-ntlmssp
			// does so when MIT's SPNEGO asks. Without the hook our
			// NTLM context is 16 RC4 bytes ahead of MIT's.
			peertest.Missing(t, "mechs/ntlm Context.ResetRC4State (negotiate.RC4StateResetter), needed for per-message interop after the NTLM mechListMIC")
		}
		messagesWithMITLoop(t, ours, peer)
	})
}

// establishedSub returns the sub-context a completed Negotiate context
// uses for messages.
func establishedSub(ctx mechs.SecurityContext) mechs.SecurityContext {
	var e *established
	switch c := ctx.(type) {
	case *initiator:
		e = c.established.Load()
	case *acceptor:
		e = c.established.Load()
	}
	if e == nil {
		return nil
	}
	return e.ctx
}

func messagesWithMITLoop(t *testing.T, ours mechs.SecurityContext, peer *mitPeer) {
	for i := 0; i < 2; i++ {
		// MIT -> us.
		msg := []byte("from MIT " + string(rune('0'+i)))
		f, e := peer.call("MIC", b64(msg))
		if e != "" {
			t.Fatalf("MIT MIC: %s", e)
		}
		bufs := []secctx.Buffer{{Type: secctx.SECBUFFER_DATA, Data: msg}, {Type: secctx.SECBUFFER_TOKEN, Data: unb64(t, f[0])}}
		if _, st := ours.VerifySignature(bufs, 0); st != status.SEC_E_OK {
			t.Fatalf("message %d: VerifySignature of MIT's MIC: %v", i, st)
		}
		f, e = peer.call("WRAP", b64(msg))
		if e != "" {
			t.Fatalf("MIT WRAP: %s", e)
		}
		w := unb64(t, f[0])
		bufs = []secctx.Buffer{{Type: secctx.SECBUFFER_TOKEN, Data: w[:16]}, {Type: secctx.SECBUFFER_DATA, Data: w[16:]}}
		if _, st := ours.DecryptMessage(bufs, 0); st != status.SEC_E_OK || !bytes.Equal(bufs[1].Data, msg) {
			t.Fatalf("message %d: DecryptMessage of MIT's wrap: %v %q", i, st, bufs[1].Data)
		}
		// Us -> MIT.
		msg = []byte("from Go " + string(rune('0'+i)))
		bufs = []secctx.Buffer{{Type: secctx.SECBUFFER_DATA, Data: msg}, {Type: secctx.SECBUFFER_TOKEN, Data: make([]byte, 16)}}
		if st := ours.MakeSignature(0, bufs, 0); st != status.SEC_E_OK {
			t.Fatal(st)
		}
		if _, e := peer.call("VERIFY", b64(msg), b64(bufs[1].Data)); e != "" {
			t.Fatalf("message %d: MIT rejects our MIC: %s", i, e)
		}
		data := append([]byte(nil), msg...)
		bufs = []secctx.Buffer{{Type: secctx.SECBUFFER_TOKEN, Data: make([]byte, 16)}, {Type: secctx.SECBUFFER_DATA, Data: data}}
		if st := ours.EncryptMessage(0, bufs, 0); st != status.SEC_E_OK {
			t.Fatal(st)
		}
		f, e = peer.call("UNWRAP", b64(append(append([]byte(nil), bufs[0].Data...), bufs[1].Data...)))
		if e != "" || !bytes.Equal(unb64(t, f[0]), msg) {
			t.Fatalf("message %d: MIT unwraps our message: %s %v", i, e, f)
		}
	}
}

func ntlmForMIT() *ntlm.Package {
	store := ntlm.NewMemoryStore()
	store.AddPassword("EXAMPLE", "alice", "Passw0rd!")
	return ntlm.New(ntlm.WithUserStore(store), ntlm.WithDomainName("EXAMPLE"))
}

// TestMITInitiatorNTLM: MIT's SPNEGO client (no Kerberos ticket, so
// NTLM through gss-ntlmssp) against our Negotiate acceptor; the
// mechListMICs are exchanged.
func TestMITInitiatorNTLM(t *testing.T) {
	env := mitEnv(t)
	peer := startMIT(t, env, "initiate", "HTTP@localhost", "alice@EXAMPLE", "Passw0rd!")
	p := New(toyKerberos(), ntlmForMIT())
	cred := mustCred(t, p, secctx.SECPKG_CRED_INBOUND, nil)
	ac, _ := cred.NewAcceptor(mechs.AcceptorParams{Req: secctx.ASC_REQ_CONFIDENTIALITY | secctx.ASC_REQ_INTEGRITY})
	defer ac.Close()
	wire := driveWithMIT(t, ac, peer, false)
	if len(wire) != 4 {
		t.Fatalf("%d tokens", len(wire))
	}
	auth, err := ParseNegTokenResp(wire[2])
	if err != nil || auth.MechListMIC == nil {
		t.Fatalf("MIT's AUTHENTICATE leg has no mechListMIC: %+v %v", auth, err)
	}
	fin, err := ParseNegTokenResp(wire[3])
	if err != nil || fin.NegState != AcceptCompleted || fin.MechListMIC == nil {
		t.Fatalf("our final token %+v %v", fin, err)
	}
	if ni := negInfo(t, ac); ni.Package.Name != "NTLM" || ni.State != secctx.SECPKG_NEGOTIATION_COMPLETE {
		t.Fatalf("%+v", ni)
	}
	messagesWithMIT(t, ac, peer)
}

// TestMITAcceptorNTLM: our Negotiate client (NTLM only) against MIT's
// SPNEGO acceptor.
func TestMITAcceptorNTLM(t *testing.T) {
	env := mitEnv(t)
	peer := startMIT(t, env, "accept")
	p := New(ntlmForMIT())
	cred := mustCred(t, p, secctx.SECPKG_CRED_OUTBOUND, &secctx.AuthIdentity{User: "alice", Domain: "EXAMPLE", Password: "Passw0rd!"})
	ic, _ := cred.NewInitiator(mechs.InitiatorParams{Target: "HTTP/localhost", Req: secctx.ISC_REQ_CONFIDENTIALITY | secctx.ISC_REQ_INTEGRITY})
	defer ic.Close()
	wire := driveWithMIT(t, ic, peer, true)
	if len(wire) != 4 {
		t.Fatalf("%d tokens", len(wire))
	}
	f, _ := peer.call("MECH")
	if f[0] != mechs.OIDNTLMSSP {
		t.Fatalf("MIT negotiated %v", f)
	}
	messagesWithMIT(t, ic, peer)
}

// TestMITAcceptorCounterProposal: our client offers Kerberos first with an
// optimistic token; MIT's acceptor has no keytab, picks NTLM with
// request-mic, and the MICs are exchanged over the list we sent.
func TestMITAcceptorCounterProposal(t *testing.T) {
	env := mitEnv(t)
	peer := startMIT(t, env, "accept")
	p := New(toyKerberos(), ntlmForMIT())
	cred := mustCred(t, p, secctx.SECPKG_CRED_OUTBOUND, &secctx.AuthIdentity{User: "alice", Domain: "EXAMPLE", Password: "Passw0rd!"})
	ic, _ := cred.NewInitiator(mechs.InitiatorParams{Target: "HTTP/localhost", Req: secctx.ISC_REQ_CONFIDENTIALITY | secctx.ISC_REQ_INTEGRITY})
	defer ic.Close()
	wire := driveWithMIT(t, ic, peer, true)
	r, err := ParseNegTokenResp(wire[1])
	if err != nil || r.NegState != RequestMIC || r.SupportedMech != mechs.OIDNTLMSSP {
		t.Fatalf("MIT's counter-proposal %+v %v", r, err)
	}
	if ni := negInfo(t, ic); ni.Package.Name != "NTLM" {
		t.Fatalf("%+v", ni)
	}
	messagesWithMIT(t, ic, peer)
}
