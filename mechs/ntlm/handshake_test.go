package ntlm

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	secctx "github.com/asyncsspi/asyncsspi/context"
	"github.com/asyncsspi/asyncsspi/mechs"
	"github.com/asyncsspi/asyncsspi/status"
)

func stepIn(tok []byte) *mechs.StepInput { return &mechs.StepInput{Token: tok} }

type pairOpts struct {
	pkg      []Option
	client   any // AuthData
	ascReq   secctx.ASCReq
	iscReq   secctx.ISCReq
	target   string
	serverPk *Package
}

// newPair returns an initiator for alice (password "Secret1!") and an
// acceptor whose store knows her.
func newPair(t testing.TB, o *pairOpts) (*Context, *Context) {
	t.Helper()
	if o == nil {
		o = &pairOpts{}
	}
	store := NewMemoryStore()
	store.AddPassword("EXAMPLE", "alice", "Secret1!")
	p := New(append([]Option{WithUserStore(store), WithComputerName("TESTHOST"), WithDomainName("EXAMPLE")}, o.pkg...)...)
	ad := o.client
	if ad == nil {
		ad = &secctx.AuthIdentity{User: "alice", Domain: "EXAMPLE", Password: "Secret1!"}
	}
	cc, err := p.AcquireCredentials(mechs.CredentialRequest{Use: secctx.SECPKG_CRED_OUTBOUND, AuthData: ad})
	if err != nil {
		t.Fatal(err)
	}
	sp := p
	if o.serverPk != nil {
		sp = o.serverPk
	}
	sc, err := sp.AcquireCredentials(mechs.CredentialRequest{Use: secctx.SECPKG_CRED_INBOUND})
	if err != nil {
		t.Fatal(err)
	}
	req := o.iscReq
	if req == 0 {
		req = secctx.ISC_REQ_CONFIDENTIALITY | secctx.ISC_REQ_INTEGRITY | secctx.ISC_REQ_REPLAY_DETECT | secctx.ISC_REQ_SEQUENCE_DETECT
	}
	c, err := cc.NewInitiator(mechs.InitiatorParams{Target: o.target, Req: req})
	if err != nil {
		t.Fatal(err)
	}
	s, err := sc.NewAcceptor(mechs.AcceptorParams{Req: o.ascReq})
	if err != nil {
		t.Fatal(err)
	}
	return c.(*Context), s.(*Context)
}

// run drives both sides; it returns the acceptor's final result and the
// AUTHENTICATE message.
func run(t testing.TB, c, s *Context, cb, sb *secctx.ChannelBindings) (mechs.StepResult, []byte) {
	t.Helper()
	r1 := c.Step(&mechs.StepInput{})
	if r1.Status != status.SEC_I_CONTINUE_NEEDED {
		t.Fatalf("client leg 1: %v %v", r1.Status, r1.Err)
	}
	r2 := s.Step(&mechs.StepInput{Token: r1.Token, Bindings: sb})
	if r2.Status != status.SEC_I_CONTINUE_NEEDED || len(r2.Token) == 0 {
		t.Fatalf("server leg 1: %v %v", r2.Status, r2.Err)
	}
	r3 := c.Step(&mechs.StepInput{Token: r2.Token, Bindings: cb})
	if r3.Status != status.SEC_E_OK || len(r3.Token) == 0 {
		t.Fatalf("client leg 2: %v %v", r3.Status, r3.Err)
	}
	r4 := s.Step(&mechs.StepInput{Token: r3.Token, Bindings: sb})
	if r4.Status == status.SEC_E_OK && len(r4.Token) != 0 {
		t.Fatalf("server final leg returned a token")
	}
	return r4, r3.Token
}

func exchange(t *testing.T, from, to *Context, seal bool, text string) {
	t.Helper()
	data := []byte(text)
	msg := []secctx.Buffer{{Type: secctx.SECBUFFER_TOKEN, Data: make([]byte, 0, 16)}, {Type: secctx.SECBUFFER_DATA, Data: data}}
	var st status.Code
	if seal {
		st = from.EncryptMessage(0, msg, 0)
	} else {
		st = from.MakeSignature(0, msg, 0)
	}
	if st != status.SEC_E_OK {
		t.Fatalf("protect: %v", st)
	}
	if seal && bytes.Equal(data, []byte(text)) {
		t.Fatal("EncryptMessage left the data in clear")
	}
	if seal {
		_, st = to.DecryptMessage(msg, 0)
	} else {
		_, st = to.VerifySignature(msg, 0)
	}
	if st != status.SEC_E_OK || string(msg[1].Data) != text {
		t.Fatalf("unprotect: %v %q", st, msg[1].Data)
	}
}

func TestHandshake(t *testing.T) {
	c, s := newPair(t, &pairOpts{target: "HTTP/server.example.com"})
	r, _ := run(t, c, s, nil, nil)
	if r.Status != status.SEC_E_OK {
		t.Fatalf("accept: %v %v", r.Status, r.Err)
	}
	if !c.MICPresent() || !s.MICPresent() {
		t.Error("no MIC although the CHALLENGE carries a timestamp")
	}
	ck, _ := c.QueryAttribute(secctx.SECPKG_ATTR_SESSION_KEY)
	sk, _ := s.QueryAttribute(secctx.SECPKG_ATTR_SESSION_KEY)
	if !bytes.Equal(ck.(secctx.SessionKey).Key, sk.(secctx.SessionKey).Key) {
		t.Fatal("session keys differ")
	}
	n, _ := s.QueryAttribute(secctx.SECPKG_ATTR_NAMES)
	if n.(secctx.Names).UserName != `EXAMPLE\alice` {
		t.Errorf("names %+v", n)
	}
	f, _ := s.QueryAttribute(secctx.SECPKG_ATTR_FLAGS)
	if secctx.ASCRet(f.(secctx.Flags).Flags)&secctx.ASC_RET_CONFIDENTIALITY == 0 {
		t.Errorf("flags %v", secctx.ASCRet(f.(secctx.Flags).Flags))
	}
	for i := 0; i < 3; i++ {
		exchange(t, c, s, false, "signed client to server")
		exchange(t, s, c, false, "signed server to client")
		exchange(t, c, s, true, "sealed client to server")
		exchange(t, s, c, true, "sealed server to client")
	}
	sz, _ := c.QueryAttribute(secctx.SECPKG_ATTR_SIZES)
	if sz.(secctx.Sizes).MaxSignature != 16 || sz.(secctx.Sizes).SecurityTrailer != 16 {
		t.Errorf("sizes %+v", sz)
	}
	if _, st := c.QueryAttribute(secctx.SECPKG_ATTR_NEGOTIATION_INFO); st != status.SEC_E_OK {
		t.Error(st)
	}
	// Re-authentication: the initiator starts over after SEC_E_OK.
	s2c, s2 := newPair(t, nil)
	_ = s2c
	r, _ = run(t, c, s2, nil, nil)
	if r.Status != status.SEC_E_OK {
		t.Fatalf("re-authentication: %v %v", r.Status, r.Err)
	}
	exchange(t, c, s2, true, "after re-authentication")
}

func TestHandshakeFailures(t *testing.T) {
	t.Run("wrong password", func(t *testing.T) {
		c, s := newPair(t, &pairOpts{client: &secctx.AuthIdentity{User: "alice", Domain: "EXAMPLE", Password: "wrong"}})
		if r, _ := run(t, c, s, nil, nil); r.Status != status.SEC_E_LOGON_DENIED {
			t.Fatalf("%v %v", r.Status, r.Err)
		}
	})
	t.Run("unknown user", func(t *testing.T) {
		c, s := newPair(t, &pairOpts{client: &secctx.AuthIdentity{User: "mallory", Domain: "EXAMPLE", Password: "x"}})
		if r, _ := run(t, c, s, nil, nil); r.Status != status.SEC_E_LOGON_DENIED {
			t.Fatalf("%v %v", r.Status, r.Err)
		}
	})
	t.Run("nt hash and principal forms", func(t *testing.T) {
		for _, ad := range []any{
			&NTHash{User: "alice@EXAMPLE", Hash: HashPassword("Secret1!")},
			&secctx.AuthIdentity{User: `EXAMPLE\alice`, Password: "Secret1!"},
		} {
			c, s := newPair(t, &pairOpts{client: ad})
			if r, _ := run(t, c, s, nil, nil); r.Status != status.SEC_E_OK {
				t.Fatalf("%T: %v %v", ad, r.Status, r.Err)
			}
		}
	})
	t.Run("wrong MIC", func(t *testing.T) {
		c, s := newPair(t, nil)
		r1 := c.Step(stepIn(nil))
		r2 := s.Step(stepIn(r1.Token))
		r3 := c.Step(stepIn(r2.Token))
		r3.Token[micOffset] ^= 1
		if r := s.Step(stepIn(r3.Token)); r.Status != status.SEC_E_MESSAGE_ALTERED {
			t.Fatalf("%v %v", r.Status, r.Err)
		}
	})
	t.Run("MIC stripped", func(t *testing.T) {
		// Removing the MsvAvFlags MIC bit breaks the NTLMv2 proof, which
		// covers the AV pairs.
		c, s := newPair(t, nil)
		r1 := c.Step(stepIn(nil))
		r2 := s.Step(stepIn(r1.Token))
		r3 := c.Step(stepIn(r2.Token))
		auth, _ := parseAuthenticate(r3.Token)
		v, _ := auth.v2.avPairs.get(avFlags)
		v[0] &^= byte(avFlagMIC)
		if r := s.Step(stepIn(r3.Token)); r.Status != status.SEC_E_LOGON_DENIED {
			t.Fatalf("%v %v", r.Status, r.Err)
		}
	})
	t.Run("replayed AUTHENTICATE", func(t *testing.T) {
		// The same AUTHENTICATE into a second context of the same
		// credential whose challenge repeats the first one: the challenge
		// is refused; a second context with a fresh challenge refuses the
		// proof.
		store := NewMemoryStore()
		store.AddPassword("EXAMPLE", "alice", "Secret1!")
		fixed := bytes.Repeat([]byte{7}, 64)
		sp := New(WithUserStore(store), WithRand(&fixedRand{fixed}))
		c, s := newPair(t, &pairOpts{serverPk: sp})
		r, auth := run(t, c, s, nil, nil)
		if r.Status != status.SEC_E_OK {
			t.Fatalf("first: %v %v", r.Status, r.Err)
		}
		s2, _ := s.cred.NewAcceptor(mechs.AcceptorParams{})
		neg := c.negBuf
		if r := s2.Step(stepIn(neg[:])); r.Status != status.SEC_E_INTERNAL_ERROR {
			t.Fatalf("reused server challenge: %v %v", r.Status, r.Err)
		}
		// Same proof presented to an acceptor whose challenge matches: the
		// proof cache refuses it.
		s3 := &Context{cred: s.cred}
		s3.serverChal = s.serverChal
		s3.negotiate, s3.challenge, s3.chalFlags, s3.state = s.negotiate, s.challenge, s.chalFlags, stateSentChallenge
		if r := s3.Step(stepIn(auth)); r.Status != status.SEC_E_LOGON_DENIED || !errors.Is(r.Err, status.SEC_E_LOGON_DENIED) {
			t.Fatalf("replayed: %v %v", r.Status, r.Err)
		}
	})
	t.Run("dead after failure", func(t *testing.T) {
		c, s := newPair(t, &pairOpts{client: &secctx.AuthIdentity{User: "alice", Domain: "EXAMPLE", Password: "wrong"}})
		_, auth := run(t, c, s, nil, nil)
		if r := s.Step(stepIn(auth)); r.Status != status.SEC_E_LOGON_DENIED {
			t.Fatalf("%v", r.Status)
		}
	})
	t.Run("time skew", func(t *testing.T) {
		now := time.Now()
		clock := func() time.Time { return now }
		store := NewMemoryStore()
		store.AddPassword("EXAMPLE", "alice", "Secret1!")
		sp := New(WithUserStore(store), WithClock(clock))
		c, s := newPair(t, &pairOpts{serverPk: sp})
		r1 := c.Step(stepIn(nil))
		r2 := s.Step(stepIn(r1.Token))
		r3 := c.Step(stepIn(r2.Token))
		now = now.Add(10 * time.Minute)
		if r := s.Step(stepIn(r3.Token)); r.Status != status.SEC_E_TIME_SKEW {
			t.Fatalf("%v %v", r.Status, r.Err)
		}
	})
	t.Run("truncated", func(t *testing.T) {
		c, s := newPair(t, nil)
		r1 := c.Step(stepIn(nil))
		r := s.Step(stepIn(r1.Token[:20]))
		if r.Status != status.SEC_E_INCOMPLETE_MESSAGE || r.Missing != 12 {
			t.Fatalf("%v missing %d", r.Status, r.Missing)
		}
		// The context survives: the whole message still works.
		if r := s.Step(stepIn(r1.Token)); r.Status != status.SEC_I_CONTINUE_NEEDED {
			t.Fatalf("%v", r.Status)
		}
	})
	t.Run("anonymous", func(t *testing.T) {
		for _, allow := range []bool{false, true} {
			req := secctx.ASCReq(0)
			if allow {
				req = secctx.ASC_REQ_ALLOW_NULL_SESSION
			}
			c, s := newPair(t, &pairOpts{client: &secctx.AuthIdentity{}, ascReq: req})
			r, _ := run(t, c, s, nil, nil)
			want := status.SEC_E_LOGON_DENIED
			if allow {
				want = status.SEC_E_OK
			}
			if r.Status != want {
				t.Fatalf("allow=%v: %v %v", allow, r.Status, r.Err)
			}
		}
	})
}

func TestChannelBindings(t *testing.T) {
	good := &secctx.ChannelBindings{ApplicationData: []byte("tls-server-end-point:0123456789abcdef")}
	bad := &secctx.ChannelBindings{ApplicationData: []byte("tls-server-end-point:fedcba9876543210")}
	cases := []struct {
		name   string
		client *secctx.ChannelBindings
		server *secctx.ChannelBindings
		req    secctx.ASCReq
		want   status.Code
	}{
		{"match", good, good, 0, status.SEC_E_OK},
		{"mismatch", bad, good, 0, status.SEC_E_BAD_BINDINGS},
		{"client none", nil, good, 0, status.SEC_E_BAD_BINDINGS},
		{"client none allowed", nil, good, secctx.ASC_REQ_ALLOW_MISSING_BINDINGS, status.SEC_E_OK},
		{"client zero", nil, good, 0, status.SEC_E_BAD_BINDINGS},
		{"client zero allowed", nil, good, secctx.ASC_REQ_ALLOW_MISSING_BINDINGS, status.SEC_E_OK},
		{"server none", good, nil, 0, status.SEC_E_OK},
		{"mismatch despite allow-missing", bad, good, secctx.ASC_REQ_ALLOW_MISSING_BINDINGS, status.SEC_E_BAD_BINDINGS},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, s := newPair(t, &pairOpts{ascReq: tc.req})
			// "client zero": a client with no bindings that sends an
			// all-zero MsvAvChannelBindings, as Windows clients do.
			c.zeroBindings = strings.HasPrefix(tc.name, "client zero")
			r, _ := run(t, c, s, tc.client, tc.server)
			if r.Status != tc.want {
				t.Fatalf("%v %v, want %v", r.Status, r.Err, tc.want)
			}
		})
	}
}

func TestMessageFailures(t *testing.T) {
	c, s := newPair(t, nil)
	if r, _ := run(t, c, s, nil, nil); r.Status != status.SEC_E_OK {
		t.Fatal(r.Status)
	}
	mk := func(text string) []secctx.Buffer {
		msg := []secctx.Buffer{{Type: secctx.SECBUFFER_TOKEN, Data: make([]byte, 0, 16)}, {Type: secctx.SECBUFFER_DATA, Data: []byte(text)}}
		if st := c.MakeSignature(0, msg, 0); st != status.SEC_E_OK {
			t.Fatal(st)
		}
		return msg
	}
	m0, m1 := mk("zero"), mk("one")
	if _, st := s.VerifySignature(m1, 1); st != status.SEC_E_OUT_OF_SEQUENCE {
		t.Fatalf("out of order: %v", st)
	}
	m0[1].Data[0] ^= 1
	if _, st := s.VerifySignature(m0, 0); st != status.SEC_E_MESSAGE_ALTERED {
		t.Fatalf("altered: %v", st)
	}
	// The stream stays in step with the sender after an altered message.
	if _, st := s.VerifySignature(m1, 1); st != status.SEC_E_OK {
		t.Fatalf("next genuine message: %v", st)
	}
	small := []secctx.Buffer{{Type: secctx.SECBUFFER_TOKEN, Data: make([]byte, 0, 8)}, {Type: secctx.SECBUFFER_DATA, Data: []byte("x")}}
	if st := c.MakeSignature(0, small, 0); st != status.SEC_E_BUFFER_TOO_SMALL {
		t.Fatalf("small token buffer: %v", st)
	}
	if st := c.EncryptMessage(secctx.SECQOP_WRAP_NO_ENCRYPT, mk2(), 0); st != status.SEC_E_QOP_NOT_SUPPORTED {
		t.Fatalf("SECQOP_WRAP_NO_ENCRYPT: %v", st)
	}
	c.Close()
	c.Close()
	if st := c.MakeSignature(0, mk2(), 0); st != status.SEC_E_NO_CONTEXT {
		t.Fatalf("after Close: %v", st)
	}
}

func mk2() []secctx.Buffer {
	return []secctx.Buffer{{Type: secctx.SECBUFFER_TOKEN, Data: make([]byte, 0, 16)}, {Type: secctx.SECBUFFER_DATA, Data: []byte("x")}}
}

func TestUserFile(t *testing.T) {
	s, err := ParseUserFile(bytes.NewBufferString("# users\nEXAMPLE:alice:pa:ss\n:bob:pw\n\n"))
	if err != nil {
		t.Fatal(err)
	}
	if u, ok := s.LookupUser("example", "ALICE"); !ok || u.NTHash != HashPassword("pa:ss") {
		t.Errorf("alice: %v %v", u, ok)
	}
	if _, ok := s.LookupUser("OTHER", "bob"); !ok {
		t.Error("bob (any domain) not found")
	}
	if _, ok := s.LookupUser("OTHER", "alice"); ok {
		t.Error("alice found in another domain")
	}
	if _, err := ParseUserFile(bytes.NewBufferString("nocolons\n")); err == nil {
		t.Error("bad line accepted")
	}
}

// TestUserFileEnv: with no password, the initiator's key comes from the
// users file named by NTLM_USER_FILE (gss-ntlmssp's convention), and an
// acceptor without a store reads its users from the same file.
func TestUserFileEnv(t *testing.T) {
	path := filepath.Join(t.TempDir(), "users")
	if err := os.WriteFile(path, []byte("EXAMPLE:alice:Secret1!\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv(UserFileEnv, path)
	p := New()
	cc, err := p.AcquireCredentials(mechs.CredentialRequest{Principal: "alice", Use: secctx.SECPKG_CRED_OUTBOUND})
	if err != nil {
		t.Fatal(err)
	}
	if cc.Principal() != `EXAMPLE\alice` {
		t.Errorf("principal %q", cc.Principal())
	}
	sc, err := p.AcquireCredentials(mechs.CredentialRequest{Use: secctx.SECPKG_CRED_INBOUND})
	if err != nil {
		t.Fatal(err)
	}
	c, _ := cc.NewInitiator(mechs.InitiatorParams{})
	s, _ := sc.NewAcceptor(mechs.AcceptorParams{})
	if r, _ := run(t, c.(*Context), s.(*Context), nil, nil); r.Status != status.SEC_E_OK {
		t.Fatalf("%v %v", r.Status, r.Err)
	}
	if _, err := p.AcquireCredentials(mechs.CredentialRequest{Principal: "bob", Use: secctx.SECPKG_CRED_OUTBOUND}); status.CodeOf(err) != status.SEC_E_NO_CREDENTIALS {
		t.Errorf("unknown user: %v", err)
	}
	t.Setenv(UserFileEnv, "")
	if _, err := New().AcquireCredentials(mechs.CredentialRequest{Use: secctx.SECPKG_CRED_INBOUND}); status.CodeOf(err) != status.SEC_E_NO_CREDENTIALS {
		t.Errorf("no store: %v", err)
	}
}

// TestConcurrentDirections: the send side and the receive side of a
// context run at the same time, as Windows allows (run with -race).
func TestConcurrentDirections(t *testing.T) {
	c, s := newPair(t, nil)
	if r, _ := run(t, c, s, nil, nil); r.Status != status.SEC_E_OK {
		t.Fatal(r.Status)
	}
	const n = 200
	toServer := make(chan []secctx.Buffer, n)
	toClient := make(chan []secctx.Buffer, n)
	done := make(chan error, 4)
	send := func(from *Context, out chan<- []secctx.Buffer) {
		for i := 0; i < n; i++ {
			msg := []secctx.Buffer{{Type: secctx.SECBUFFER_TOKEN, Data: make([]byte, 0, 16)}, {Type: secctx.SECBUFFER_DATA, Data: []byte("message")}}
			if st := from.EncryptMessage(0, msg, 0); st != status.SEC_E_OK {
				done <- st
				return
			}
			out <- msg
		}
		done <- nil
	}
	recv := func(to *Context, in <-chan []secctx.Buffer) {
		for i := 0; i < n; i++ {
			msg := <-in
			if _, st := to.DecryptMessage(msg, 0); st != status.SEC_E_OK || string(msg[1].Data) != "message" {
				done <- st
				return
			}
		}
		done <- nil
	}
	go send(c, toServer)
	go send(s, toClient)
	go recv(s, toServer)
	go recv(c, toClient)
	for i := 0; i < 4; i++ {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}

// TestResetSealingState: SPNEGO's mechListMIC exchange, then a reset of
// the RC4 handles on both sides, then application messages.
func TestResetSealingState(t *testing.T) {
	c, s := newPair(t, nil)
	if r, _ := run(t, c, s, nil, nil); r.Status != status.SEC_E_OK {
		t.Fatal(r.Status)
	}
	mechTypes := []byte{0x30, 0x0c, 0x06, 0x0a, 0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37, 0x02, 0x02, 0x0a}
	msg := []secctx.Buffer{{Type: secctx.SECBUFFER_TOKEN, Data: make([]byte, 0, 16)}, {Type: secctx.SECBUFFER_DATA, Data: mechTypes}}
	if st := c.MakeSignature(0, msg, 0); st != status.SEC_E_OK {
		t.Fatal(st)
	}
	c.ResetSealingState(true)
	if _, st := s.VerifySignature(msg, 0); st != status.SEC_E_OK {
		t.Fatal(st)
	}
	s.ResetSealingState(false)
	exchange(t, c, s, true, "first application message")
	exchange(t, s, c, true, "reply")
}

// TestNTLMv1SessionSecurity: with WithNTLMv1 on both sides, a CHALLENGE
// without target information gets an NTLMv1 response with extended session
// security (the NTLM2 session response), which the acceptor verifies; the
// session keys agree.
func TestNTLMv1SessionSecurity(t *testing.T) {
	c, s := newPair(t, &pairOpts{pkg: []Option{WithNTLMv1()}})
	r1 := c.Step(stepIn(nil))
	r2 := s.Step(stepIn(r1.Token))
	chal, err := parseChallenge(r2.Token)
	if err != nil {
		t.Fatal(err)
	}
	chal.targetInfo = nil
	chal.flags &^= negotiateTargetInfo
	stripped := make([]byte, chal.size())
	chal.encode(stripped)
	r3 := c.Step(stepIn(stripped))
	if r3.Status != status.SEC_E_OK {
		t.Fatalf("client: %v %v", r3.Status, r3.Err)
	}
	auth, _ := parseAuthenticate(r3.Token)
	if auth.isV2 || len(auth.ntResponse) != 24 || auth.flags&negotiateExtendedSessionSecurity == 0 {
		t.Fatalf("not an NTLM2 session response: v2=%v nt=%d flags=%#x", auth.isV2, len(auth.ntResponse), auth.flags)
	}
	// The acceptor's own CHALLENGE carried target information, but its MIC
	// check does not apply to NTLMv1; the proof and key do.
	if r := s.Step(stepIn(r3.Token)); r.Status != status.SEC_E_OK {
		t.Fatalf("acceptor: %v %v", r.Status, r.Err)
	}
	exchange(t, c, s, true, "NTLMv1 sealed")
	exchange(t, s, c, false, "NTLMv1 signed")
}

// TestNonASCIINames: names outside ASCII (and outside the BMP) survive
// UTF-16, on the wire and in NTOWFv2; the acceptor announces DNS names.
func TestNonASCIINames(t *testing.T) {
	store := NewMemoryStore()
	store.AddPassword("ÉXAMPLE", "jörg😀", "pässwörd")
	p := New(WithUserStore(store), WithDNSNames("host.example.com", "example.com"), WithMaxClockSkew(time.Minute))
	cc, err := p.AcquireCredentials(mechs.CredentialRequest{Use: secctx.SECPKG_CRED_OUTBOUND,
		AuthData: &secctx.AuthIdentity{User: "jörg😀@ÉXAMPLE", Password: "pässwörd"}})
	if err != nil {
		t.Fatal(err)
	}
	sc, _ := p.AcquireCredentials(mechs.CredentialRequest{Use: secctx.SECPKG_CRED_INBOUND})
	c, _ := cc.NewInitiator(mechs.InitiatorParams{})
	s, _ := sc.NewAcceptor(mechs.AcceptorParams{})
	r1 := c.Step(stepIn(nil))
	r2 := s.Step(stepIn(r1.Token))
	chal, err := parseChallenge(r2.Token)
	if err != nil || chal.targetInfo.str(avDNSComputerName) != "host.example.com" || chal.targetInfo.str(avDNSDomainName) != "example.com" {
		t.Fatalf("CHALLENGE target info: %v %q", err, chal.targetInfo)
	}
	r3 := c.Step(stepIn(r2.Token))
	if r := s.Step(stepIn(r3.Token)); r.Status != status.SEC_E_OK {
		t.Fatalf("%v %v", r.Status, r.Err)
	}
	n, _ := s.QueryAttribute(secctx.SECPKG_ATTR_NAMES)
	if n.(secctx.Names).UserName != `ÉXAMPLE\jörg😀` {
		t.Errorf("names %q", n.(secctx.Names).UserName)
	}
}
