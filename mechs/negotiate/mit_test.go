package negotiate

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	secctx "github.com/asyncsspi/asyncsspi/context"
	"github.com/asyncsspi/asyncsspi/internal/gsspeer"
	"github.com/asyncsspi/asyncsspi/internal/peertest"
	"github.com/asyncsspi/asyncsspi/mechs"
	"github.com/asyncsspi/asyncsspi/mechs/ntlm"
	"github.com/asyncsspi/asyncsspi/status"
)

// mitPeer is MIT's SPNEGO (krb5 and gss-ntlmssp behind it) on the other
// side of a handshake: an internal/gsspeer peer.
type mitPeer struct {
	*gsspeer.Peer
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

// startMIT starts an MIT SPNEGO peer (mech SPNEGO unless cfg says) in
// env.
func startMIT(t testing.TB, env []string, cfg gsspeer.Config) *mitPeer {
	t.Helper()
	if cfg.Mech == "" {
		cfg.Mech = gsspeer.SPNEGO
	}
	if cfg.Role == gsspeer.Initiator && cfg.Flags == 0 {
		cfg.Flags = gsspeer.Mutual | gsspeer.Integ | gsspeer.Conf | gsspeer.Sequence
	}
	cfg.Env = append(cfg.Env, env...)
	return &mitPeer{gsspeer.Start(t, cfg)}
}

func (p *mitPeer) step(tok []byte) (out []byte, complete bool, errMsg string) {
	out, complete, err := p.Step(tok)
	if err != nil {
		return nil, false, err.Error()
	}
	return out, complete, ""
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
		in.IOReply, in.IOErr = res.IO.Performer.Perform(t.Context(), res.IO)
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
		sub := establishedSub(ours)
		if _, ok := sub.(mechs.SealingStateResetter); !ok {
			// MS-SPNG 3.3.5.1: after the mechListMIC, NTLM's RC4
			// handles go back to their state before it; gss-ntlmssp
			// does so when MIT's SPNEGO asks. Without the hook our
			// NTLM context is 16 RC4 bytes ahead of MIT's.
			peertest.Missing(t, "mechs/ntlm Context.ResetSealingState, needed for per-message interop after the NTLM mechListMIC")
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
		mic, err := peer.GetMIC(msg)
		if err != nil {
			t.Fatal(err)
		}
		bufs := []secctx.Buffer{{Type: secctx.SECBUFFER_DATA, Data: msg}, {Type: secctx.SECBUFFER_TOKEN, Data: mic}}
		if _, st := ours.VerifySignature(bufs, 0); st != status.SEC_E_OK {
			t.Fatalf("message %d: VerifySignature of MIT's MIC: %v", i, st)
		}
		w, err := peer.Wrap(msg, true)
		if err != nil {
			t.Fatal(err)
		}
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
		if err := peer.VerifyMIC(msg, bufs[1].Data); err != nil {
			t.Fatalf("message %d: MIT rejects our MIC: %v", i, err)
		}
		data := append([]byte(nil), msg...)
		bufs = []secctx.Buffer{{Type: secctx.SECBUFFER_TOKEN, Data: make([]byte, 16)}, {Type: secctx.SECBUFFER_DATA, Data: data}}
		if st := ours.EncryptMessage(0, bufs, 0); st != status.SEC_E_OK {
			t.Fatal(st)
		}
		got, err := peer.Unwrap(append(append([]byte(nil), bufs[0].Data...), bufs[1].Data...))
		if err != nil || !bytes.Equal(got, msg) {
			t.Fatalf("message %d: MIT unwraps our message: %v %q", i, err, got)
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
	peer := startMIT(t, env, gsspeer.Config{Role: gsspeer.Initiator, Target: "HTTP@localhost", Username: "alice@EXAMPLE", Password: "Passw0rd!"})
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
	completedWith(t, ac, "NTLM")
	messagesWithMIT(t, ac, peer)
}

// TestMITAcceptorNTLM: our Negotiate client (NTLM only) against MIT's
// SPNEGO acceptor.
func TestMITAcceptorNTLM(t *testing.T) {
	env := mitEnv(t)
	peer := startMIT(t, env, gsspeer.Config{Role: gsspeer.Acceptor})
	p := New(ntlmForMIT())
	cred := mustCred(t, p, secctx.SECPKG_CRED_OUTBOUND, &secctx.AuthIdentity{User: "alice", Domain: "EXAMPLE", Password: "Passw0rd!"})
	ic, _ := cred.NewInitiator(mechs.InitiatorParams{Target: "HTTP/localhost", Req: secctx.ISC_REQ_CONFIDENTIALITY | secctx.ISC_REQ_INTEGRITY})
	defer ic.Close()
	wire := driveWithMIT(t, ic, peer, true)
	if len(wire) != 4 {
		t.Fatalf("%d tokens", len(wire))
	}
	if m := peer.Mech(); m != mechs.OIDNTLMSSP {
		t.Fatalf("MIT negotiated %v", m)
	}
	messagesWithMIT(t, ic, peer)
}

// TestMITAcceptorCounterProposal: our client offers Kerberos first with an
// optimistic token; MIT's acceptor has no keytab, picks NTLM with
// request-mic, and the MICs are exchanged over the list we sent.
func TestMITAcceptorCounterProposal(t *testing.T) {
	env := mitEnv(t)
	peer := startMIT(t, env, gsspeer.Config{Role: gsspeer.Acceptor})
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
