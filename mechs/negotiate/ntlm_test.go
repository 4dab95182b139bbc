package negotiate_test

import (
	"bytes"
	"testing"

	secctx "github.com/asyncsspi/asyncsspi/context"
	"github.com/asyncsspi/asyncsspi/mechs"
	"github.com/asyncsspi/asyncsspi/mechs/negotiate"
	"github.com/asyncsspi/asyncsspi/mechs/ntlm"
	"github.com/asyncsspi/asyncsspi/status"
)

// realNTLM returns a Negotiate package over the real NTLM package, and
// an acceptor store holding alice.
func realNTLM(t testing.TB) (*negotiate.Package, *ntlm.MemoryStore) {
	store := ntlm.NewMemoryStore()
	store.AddPassword("EXAMPLE", "alice", "Passw0rd!")
	return negotiate.New(ntlm.New(ntlm.WithUserStore(store), ntlm.WithDomainName("EXAMPLE"))), store
}

// realNTLMPair returns an initiator with alice's password and an acceptor,
// under Negotiate over the real NTLM package, closed when the test ends.
func realNTLMPair(t testing.TB, password string, ireq secctx.ISCReq, areq secctx.ASCReq) (ic, ac mechs.SecurityContext) {
	t.Helper()
	p, _ := realNTLM(t)
	icred := acquire(t, p, secctx.SECPKG_CRED_OUTBOUND, &secctx.AuthIdentity{User: "alice", Domain: "EXAMPLE", Password: password})
	acred := acquire(t, p, secctx.SECPKG_CRED_INBOUND, nil)
	ic, _ = icred.NewInitiator(mechs.InitiatorParams{Target: "HTTP/localhost", Req: ireq})
	ac, _ = acred.NewAcceptor(mechs.AcceptorParams{Req: areq})
	t.Cleanup(func() { ic.Close(); ac.Close() })
	return ic, ac
}

func acquire(t testing.TB, p mechs.Package, use secctx.CredentialUse, data any) mechs.Credential {
	t.Helper()
	c, err := p.AcquireCredentials(mechs.CredentialRequest{Use: use, AuthData: data})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// run drives two contexts to completion and returns the number of tokens
// that crossed the wire.
func run(t testing.TB, ic, ac mechs.SecurityContext) int {
	t.Helper()
	var tok []byte
	turn := []mechs.SecurityContext{ic, ac}
	var done [2]bool
	n := 0
	for i := 0; i < 12; i++ {
		side := i % 2
		if tok == nil && i > 0 {
			break
		}
		res := turn[side].Step(&mechs.StepInput{Token: tok})
		if res.Status.IsError() {
			t.Fatalf("leg %d (side %d): %v", i, side, res.Err)
		}
		done[side] = res.Status == status.SEC_E_OK
		tok = res.Token
		if tok != nil {
			n++
		}
		if done[0] && done[1] && tok == nil {
			break
		}
	}
	if !done[0] || !done[1] {
		t.Fatalf("handshake incomplete: initiator %v acceptor %v", done[0], done[1])
	}
	return n
}

func TestRealNTLMUnderNegotiate(t *testing.T) {
	ic, ac := realNTLMPair(t, "Passw0rd!", secctx.ISC_REQ_CONFIDENTIALITY, secctx.ASC_REQ_CONFIDENTIALITY)
	if n := run(t, ic, ac); n != 4 {
		t.Fatalf("%d tokens, want 4 (NEGOTIATE, CHALLENGE, AUTHENTICATE+MIC, completed+MIC)", n)
	}
	for _, c := range []mechs.SecurityContext{ic, ac} {
		v, st := c.QueryAttribute(secctx.SECPKG_ATTR_NEGOTIATION_INFO)
		if ni := v.(secctx.NegotiationInfo); st != status.SEC_E_OK || ni.Package.Name != "NTLM" || ni.State != secctx.SECPKG_NEGOTIATION_COMPLETE {
			t.Fatalf("%+v %v", v, st)
		}
	}
	v, st := ac.QueryAttribute(secctx.SECPKG_ATTR_NAMES)
	if st != status.SEC_E_OK {
		t.Fatal(st)
	}
	t.Logf("client name %q", v.(secctx.Names).UserName)
	exchangeMessages(t, ic, ac)
}

// exchangeMessages signs and seals in both directions after the
// handshake.
func exchangeMessages(t *testing.T, ic, ac mechs.SecurityContext) {
	t.Helper()
	for i, pair := range [][2]mechs.SecurityContext{{ic, ac}, {ac, ic}, {ic, ac}} {
		from, to := pair[0], pair[1]
		msg := []byte("message one")
		bufs := []secctx.Buffer{{Type: secctx.SECBUFFER_DATA, Data: msg}, {Type: secctx.SECBUFFER_TOKEN, Data: make([]byte, 64)}}
		if st := from.MakeSignature(0, bufs, 0); st != status.SEC_E_OK {
			t.Fatalf("%d: MakeSignature %v", i, st)
		}
		if _, st := to.VerifySignature(bufs, 0); st != status.SEC_E_OK {
			t.Fatalf("%d: VerifySignature %v", i, st)
		}
		plain := []byte("sealed message")
		data := append([]byte(nil), plain...)
		bufs = []secctx.Buffer{{Type: secctx.SECBUFFER_TOKEN, Data: make([]byte, 64)}, {Type: secctx.SECBUFFER_DATA, Data: data}}
		if st := from.EncryptMessage(0, bufs, 0); st != status.SEC_E_OK {
			t.Fatalf("%d: EncryptMessage %v", i, st)
		}
		if _, st := to.DecryptMessage(bufs, 0); st != status.SEC_E_OK || !bytes.Equal(bufs[1].Data, plain) {
			t.Fatalf("%d: DecryptMessage %v %q", i, st, bufs[1].Data)
		}
	}
}

func TestRealNTLMWrongPassword(t *testing.T) {
	ic, ac := realNTLMPair(t, "wrong", 0, 0)
	var tok []byte
	for i := 0; i < 6; i++ {
		ctx := ic
		if i%2 == 1 {
			ctx = ac
		}
		res := ctx.Step(&mechs.StepInput{Token: tok})
		if res.Status.IsError() {
			if i%2 != 1 || res.Status != status.SEC_E_LOGON_DENIED {
				t.Fatalf("leg %d: %v", i, res.Err)
			}
			r, err := negotiate.ParseNegTokenResp(res.Token)
			if err != nil || r.NegState != negotiate.Reject {
				t.Fatalf("reject token %+v %v", r, err)
			}
			if res := ic.Step(&mechs.StepInput{Token: res.Token}); res.Status != status.SEC_E_LOGON_DENIED {
				t.Fatalf("initiator on reject: %v", res.Status)
			}
			return
		}
		tok = res.Token
	}
	t.Fatal("wrong password accepted")
}

// TestRawNTLMClientUnderNegotiate: a client speaking raw NTLM to a
// Negotiate server (as curl --ntlm and many libraries do) is answered in
// raw NTLM.
func TestRawNTLMClientUnderNegotiate(t *testing.T) {
	store := ntlm.NewMemoryStore()
	store.AddPassword("EXAMPLE", "alice", "Passw0rd!")
	np := ntlm.New(ntlm.WithUserStore(store))
	icred := acquire(t, np, secctx.SECPKG_CRED_OUTBOUND, &secctx.AuthIdentity{User: "alice", Domain: "EXAMPLE", Password: "Passw0rd!"})
	acred := acquire(t, negotiate.New(np), secctx.SECPKG_CRED_INBOUND, nil)
	ic, _ := icred.NewInitiator(mechs.InitiatorParams{Target: "HTTP/localhost", Req: secctx.ISC_REQ_CONFIDENTIALITY | secctx.ISC_REQ_INTEGRITY})
	ac, _ := acred.NewAcceptor(mechs.AcceptorParams{Req: secctx.ASC_REQ_CONFIDENTIALITY})
	defer ic.Close()
	defer ac.Close()
	r0 := ic.Step(&mechs.StepInput{})
	r1 := ac.Step(&mechs.StepInput{Token: r0.Token})
	if r1.Status != status.SEC_I_CONTINUE_NEEDED || !bytes.HasPrefix(r1.Token, []byte("NTLMSSP\x00\x02")) {
		t.Fatalf("%v %x", r1.Status, r1.Token)
	}
	r2 := ic.Step(&mechs.StepInput{Token: r1.Token})
	r3 := ac.Step(&mechs.StepInput{Token: r2.Token})
	if r3.Status != status.SEC_E_OK || len(r3.Token) != 0 {
		t.Fatalf("%v %x", r3.Status, r3.Token)
	}
	v, _ := ac.QueryAttribute(secctx.SECPKG_ATTR_NEGOTIATION_INFO)
	if ni := v.(secctx.NegotiationInfo); ni.Package.Name != "NTLM" {
		t.Fatalf("%+v", ni)
	}
	exchangeMessages(t, ic, ac)
}

// TestRealNTLMMICStripped: the NTLM AUTHENTICATE carries a MIC, so the
// acceptor requires the mechListMIC even though NTLM was the initiator's
// first choice; an initiator token stripped of it is refused.
func TestRealNTLMMICStripped(t *testing.T) {
	ic, ac := realNTLMPair(t, "Passw0rd!", 0, 0)
	r0 := ic.Step(&mechs.StepInput{})
	r1 := ac.Step(&mechs.StepInput{Token: r0.Token})
	r2 := ic.Step(&mechs.StepInput{Token: r1.Token})
	resp, err := negotiate.ParseNegTokenResp(r2.Token)
	if err != nil || resp.MechListMIC == nil {
		t.Fatalf("%+v %v", resp, err)
	}
	resp.MechListMIC = nil
	stripped, _ := resp.Marshal()
	if r := ac.Step(&mechs.StepInput{Token: stripped}); r.Status != status.SEC_E_DOWNGRADE_DETECTED {
		t.Fatalf("%v (%v)", r.Status, r.Err)
	}
}

// TestRealNTLMChannelBindings: channel bindings reach the NTLM
// sub-context on both sides (MsvAvChannelBindings); different bindings
// fail with SEC_E_BAD_BINDINGS.
func TestRealNTLMChannelBindings(t *testing.T) {
	cb := func(s string) *secctx.ChannelBindings {
		return &secctx.ChannelBindings{ApplicationData: []byte("tls-server-end-point:" + s)}
	}
	for _, c := range []struct {
		client, server string
		want           status.Code
	}{
		{"cert-A", "cert-A", status.SEC_E_OK},
		{"cert-A", "cert-B", status.SEC_E_BAD_BINDINGS},
	} {
		ic, ac := realNTLMPair(t, "Passw0rd!", 0, 0)
		icb, acb := cb(c.client), cb(c.server)
		var tok []byte
		var last mechs.StepResult
		for i := 0; i < 6; i++ {
			ctx, b := ic, icb
			if i%2 == 1 {
				ctx, b = ac, acb
			}
			last = ctx.Step(&mechs.StepInput{Token: tok, Bindings: b,
				Buffers: []secctx.Buffer{{Type: secctx.SECBUFFER_TOKEN, Data: tok}, {Type: secctx.SECBUFFER_CHANNEL_BINDINGS, Data: b.Marshal()}}})
			if last.Status.IsError() || last.Token == nil {
				break
			}
			tok = last.Token
		}
		if last.Status != c.want {
			t.Fatalf("%s/%s: %v (%v)", c.client, c.server, last.Status, last.Err)
		}
	}
}
