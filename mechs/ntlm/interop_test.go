package ntlm

// Interop with gss-ntlmssp through MIT GSSAPI (python3-gssapi), driven
// by internal/gsspeer. The tests skip when the peer is missing, and fail
// then with ASYNCSSPI_REQUIRE_PEERS=1.

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	secctx "github.com/asyncsspi/asyncsspi/context"
	"github.com/asyncsspi/asyncsspi/internal/gsspeer"
	"github.com/asyncsspi/asyncsspi/internal/peertest"
	"github.com/asyncsspi/asyncsspi/mechs"
	"github.com/asyncsspi/asyncsspi/status"
)

func usersFile(t *testing.T) string {
	path := filepath.Join(t.TempDir(), "users")
	if err := os.WriteFile(path, []byte("EXAMPLE:alice:Secret1!\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// wrapLayout: gss-ntlmssp's gss_wrap output is the 16-byte signature
// followed by the sealed data, which is EncryptMessage's TOKEN and DATA.

func sealTo(t *testing.T, c *Context, text string) []byte {
	msg := []secctx.Buffer{{Type: secctx.SECBUFFER_TOKEN, Data: make([]byte, 0, 16)}, {Type: secctx.SECBUFFER_DATA, Data: []byte(text)}}
	if st := c.EncryptMessage(0, msg, 0); st != status.SEC_E_OK {
		t.Fatalf("EncryptMessage: %v", st)
	}
	return append(msg[0].Data, msg[1].Data...)
}

func unsealFrom(t *testing.T, c *Context, wrapped []byte) string {
	if len(wrapped) < 16 {
		t.Fatalf("wrap token of %d bytes", len(wrapped))
	}
	msg := []secctx.Buffer{{Type: secctx.SECBUFFER_TOKEN, Data: wrapped[:16]}, {Type: secctx.SECBUFFER_DATA, Data: wrapped[16:]}}
	if _, st := c.DecryptMessage(msg, 0); st != status.SEC_E_OK {
		t.Fatalf("DecryptMessage: %v", st)
	}
	return string(msg[1].Data)
}

// messagesBothWays exchanges sealed and signed messages with the peer.
func messagesBothWays(t *testing.T, ours *Context, peer *gsspeer.Peer) {
	for i := 0; i < 2; i++ {
		// Ours seals, the peer unwraps.
		got, conf, err := peer.UnwrapConf(sealTo(t, ours, "sealed by asyncsspi"))
		if err != nil || !conf || string(got) != "sealed by asyncsspi" {
			t.Fatalf("peer unwrap: %q %v %v", got, conf, err)
		}
		// The peer wraps, ours unseals.
		w, err := peer.Wrap([]byte("sealed by gss-ntlmssp"), true)
		if err != nil {
			t.Fatalf("peer wrap: %v", err)
		}
		if got := unsealFrom(t, ours, w); got != "sealed by gss-ntlmssp" {
			t.Fatalf("unsealed %q", got)
		}
		// Ours signs, the peer verifies.
		msg := []secctx.Buffer{{Type: secctx.SECBUFFER_TOKEN, Data: make([]byte, 0, 16)}, {Type: secctx.SECBUFFER_DATA, Data: []byte("signed by asyncsspi")}}
		if st := ours.MakeSignature(0, msg, 0); st != status.SEC_E_OK {
			t.Fatal(st)
		}
		if err := peer.VerifyMIC(msg[1].Data, msg[0].Data); err != nil {
			t.Fatalf("peer verify: %v", err)
		}
		// The peer signs, ours verifies.
		mic, err := peer.GetMIC([]byte("signed by gss-ntlmssp"))
		if err != nil {
			t.Fatalf("peer get_mic: %v", err)
		}
		msg = []secctx.Buffer{{Type: secctx.SECBUFFER_TOKEN, Data: mic}, {Type: secctx.SECBUFFER_DATA, Data: []byte("signed by gss-ntlmssp")}}
		if _, st := ours.VerifySignature(msg, 0); st != status.SEC_E_OK {
			t.Fatalf("VerifySignature: %v", st)
		}
	}
}

func ntlmPeer(t *testing.T, role gsspeer.Role, users string, cb *secctx.ChannelBindings, user, password string) *gsspeer.Peer {
	t.Helper()
	peertest.NTLMSSP(t)
	cfg := gsspeer.Config{Role: role, Mech: gsspeer.NTLMSSP, ChannelBindings: cb, Env: []string{UserFileEnv + "=" + users}}
	if role == gsspeer.Initiator {
		cfg.Target = "HTTP@server.example.com"
		cfg.Username = `EXAMPLE\` + user
		cfg.Password = password
		cfg.Flags = gsspeer.Integ | gsspeer.Conf | gsspeer.Replay | gsspeer.Sequence
	}
	return gsspeer.Start(t, cfg)
}

// TestInteropOurClientTheirAcceptor: our initiator against gss-ntlmssp's
// acceptor.
func TestInteropOurClientTheirAcceptor(t *testing.T) {
	users := usersFile(t)
	for _, tc := range []struct {
		name, user, password string
		ok                   bool
	}{
		{"right password", "alice", "Secret1!", true},
		{"wrong password", "alice", "wrong", false},
		{"unknown user", "mallory", "Secret1!", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			peer := ntlmPeer(t, gsspeer.Acceptor, users, nil, "", "")
			cred, err := New().AcquireCredentials(mechs.CredentialRequest{Use: secctx.SECPKG_CRED_OUTBOUND,
				AuthData: &secctx.AuthIdentity{User: tc.user, Domain: "EXAMPLE", Password: tc.password}})
			if err != nil {
				t.Fatal(err)
			}
			mc, _ := cred.NewInitiator(mechs.InitiatorParams{Target: "HTTP/server.example.com",
				Req: secctx.ISC_REQ_CONFIDENTIALITY | secctx.ISC_REQ_INTEGRITY | secctx.ISC_REQ_REPLAY_DETECT | secctx.ISC_REQ_SEQUENCE_DETECT})
			c := mc.(*Context)
			r1 := c.Step(&mechs.StepInput{})
			chal, complete, err := peer.Step(r1.Token)
			if err != nil || complete {
				t.Fatalf("peer on NEGOTIATE: %v %v", complete, err)
			}
			r3 := c.Step(&mechs.StepInput{Token: chal})
			if r3.Status != status.SEC_E_OK {
				t.Fatalf("our AUTHENTICATE: %v %v", r3.Status, r3.Err)
			}
			_, complete, err = peer.Step(r3.Token)
			if !tc.ok {
				if err == nil {
					t.Fatalf("peer accepted a bad logon (complete=%v)", complete)
				}
				return
			}
			if err != nil || !complete {
				t.Fatalf("peer on AUTHENTICATE: %v %v", complete, err)
			}
			if !c.MICPresent() {
				t.Error("no MIC sent to gss-ntlmssp")
			}
			if name := peer.PeerName(); !strings.EqualFold(name, `EXAMPLE\alice`) {
				t.Errorf("peer sees %q", name)
			}
			messagesBothWays(t, c, peer)
		})
	}
}

// TestInteropTheirClientOurAcceptor: gss-ntlmssp's initiator against our
// acceptor.
func TestInteropTheirClientOurAcceptor(t *testing.T) {
	store := NewMemoryStore()
	store.AddPassword("EXAMPLE", "alice", "Secret1!")
	users := usersFile(t)
	for _, tc := range []struct {
		name, user, password string
		want                 status.Code
	}{
		{"right password", "alice", "Secret1!", status.SEC_E_OK},
		{"wrong password", "alice", "wrong", status.SEC_E_LOGON_DENIED},
		{"unknown user", "mallory", "Secret1!", status.SEC_E_LOGON_DENIED},
	} {
		t.Run(tc.name, func(t *testing.T) {
			peer := ntlmPeer(t, gsspeer.Initiator, users, nil, tc.user, tc.password)
			cred, err := New(WithUserStore(store)).AcquireCredentials(mechs.CredentialRequest{Use: secctx.SECPKG_CRED_INBOUND})
			if err != nil {
				t.Fatal(err)
			}
			ms, _ := cred.NewAcceptor(mechs.AcceptorParams{})
			s := ms.(*Context)
			neg, _, err := peer.Step(nil)
			if err != nil {
				t.Fatalf("peer NEGOTIATE: %v", err)
			}
			r2 := s.Step(&mechs.StepInput{Token: neg})
			if r2.Status != status.SEC_I_CONTINUE_NEEDED {
				t.Fatalf("our CHALLENGE: %v %v", r2.Status, r2.Err)
			}
			auth, _, err := peer.Step(r2.Token)
			if err != nil {
				t.Fatalf("peer AUTHENTICATE: %v", err)
			}
			r4 := s.Step(&mechs.StepInput{Token: auth})
			if r4.Status != tc.want {
				t.Fatalf("our acceptor: %v %v, want %v", r4.Status, r4.Err, tc.want)
			}
			if tc.want != status.SEC_E_OK {
				return
			}
			n, _ := s.QueryAttribute(secctx.SECPKG_ATTR_NAMES)
			if n.(secctx.Names).UserName != `EXAMPLE\alice` {
				t.Errorf("names %+v", n)
			}
			t.Logf("gss-ntlmssp client: MIC %v, flags %#x", s.MICPresent(), s.NegotiateFlags())
			messagesBothWays(t, s, peer)
		})
	}
}

// TestInteropChannelBindings: gss-ntlmssp and this package compute the same
// MsvAvChannelBindings hash, in both directions; different bindings fail.
func TestInteropChannelBindings(t *testing.T) {
	users := usersFile(t)
	ours := &secctx.ChannelBindings{ApplicationData: []byte("tls-server-end-point:0123456789abcdef0123456789abcdef")}
	other := &secctx.ChannelBindings{ApplicationData: []byte("tls-server-end-point:something else")}
	store := NewMemoryStore()
	store.AddPassword("EXAMPLE", "alice", "Secret1!")

	t.Run("their client, our acceptor", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			sb   *secctx.ChannelBindings
			want status.Code
		}{{"same", ours, status.SEC_E_OK}, {"different", other, status.SEC_E_BAD_BINDINGS}} {
			peer := ntlmPeer(t, gsspeer.Initiator, users, ours, "alice", "Secret1!")
			cred, _ := New(WithUserStore(store)).AcquireCredentials(mechs.CredentialRequest{Use: secctx.SECPKG_CRED_INBOUND})
			s, _ := cred.NewAcceptor(mechs.AcceptorParams{})
			neg, _, err := peer.Step(nil)
			if err != nil {
				t.Fatal(err)
			}
			r2 := s.Step(&mechs.StepInput{Token: neg, Bindings: tc.sb})
			auth, _, err := peer.Step(r2.Token)
			if err != nil {
				t.Fatalf("%s: peer AUTHENTICATE: %v", tc.name, err)
			}
			if r := s.Step(&mechs.StepInput{Token: auth, Bindings: tc.sb}); r.Status != tc.want {
				t.Fatalf("%s: %v %v, want %v", tc.name, r.Status, r.Err, tc.want)
			}
		}
	})
	t.Run("our client, their acceptor", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			cb   *secctx.ChannelBindings
			ok   bool
		}{{"same", ours, true}, {"different", other, false}} {
			peer := ntlmPeer(t, gsspeer.Acceptor, users, ours, "", "")
			cred, _ := New().AcquireCredentials(mechs.CredentialRequest{Use: secctx.SECPKG_CRED_OUTBOUND,
				AuthData: &secctx.AuthIdentity{User: "alice", Domain: "EXAMPLE", Password: "Secret1!"}})
			c, _ := cred.NewInitiator(mechs.InitiatorParams{Target: "HTTP/server.example.com", Req: secctx.ISC_REQ_INTEGRITY})
			r1 := c.Step(&mechs.StepInput{})
			chal, _, err := peer.Step(r1.Token)
			if err != nil {
				t.Fatal(err)
			}
			r3 := c.Step(&mechs.StepInput{Token: chal, Bindings: tc.cb})
			_, complete, err := peer.Step(r3.Token)
			if got := err == nil && complete; got != tc.ok {
				t.Fatalf("%s: peer complete=%v err=%v", tc.name, complete, err)
			}
		}
	})
}
