package ntlm

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/hex"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	secctx "github.com/asyncsspi/asyncsspi/context"
	"github.com/asyncsspi/asyncsspi/internal/peertest"
	"github.com/asyncsspi/asyncsspi/mechs"
	"github.com/asyncsspi/asyncsspi/status"
)

// gssPeer is one side of a handshake in MIT GSSAPI with gss-ntlmssp,
// driven through testdata/gssntlm_peer.py over its stdin and stdout.
type gssPeer struct {
	t   *testing.T
	in  io.WriteCloser
	out *bufio.Reader
}

func startGSSPeer(t *testing.T, usersFile string, args ...string) *gssPeer {
	return startGSSPeerCB(t, usersFile, nil, args...)
}

// startGSSPeerCB starts a peer whose context uses channel bindings with
// application data cb (none when nil).
func startGSSPeerCB(t *testing.T, usersFile string, cb []byte, args ...string) *gssPeer {
	t.Helper()
	py := peertest.Python(t)
	peertest.NTLMSSP(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	cmd := exec.CommandContext(ctx, py, append([]string{filepath.Join("testdata", "gssntlm_peer.py")}, args...)...)
	cmd.Env = append(os.Environ(), UserFileEnv+"="+usersFile)
	if cb != nil {
		cmd.Env = append(cmd.Env, "PEER_CB="+hex.EncodeToString(cb))
	}
	cmd.Stderr = os.Stderr
	cmd.WaitDelay = 5 * time.Second
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
	t.Cleanup(func() {
		in.Close()
		cmd.Wait()
		cancel()
	})
	return &gssPeer{t: t, in: in, out: bufio.NewReader(out)}
}

func (p *gssPeer) call(cmd string, args ...[]byte) []string {
	p.t.Helper()
	line := cmd
	for _, a := range args {
		if len(a) == 0 {
			line += " -"
		} else {
			line += " " + base64.StdEncoding.EncodeToString(a)
		}
	}
	if _, err := io.WriteString(p.in, line+"\n"); err != nil {
		p.t.Fatalf("peer: %v", err)
	}
	reply, err := p.out.ReadString('\n')
	if err != nil {
		p.t.Fatalf("peer died: %v", err)
	}
	return strings.Fields(reply)
}

func dec(t *testing.T, s string) []byte {
	if s == "-" {
		return nil
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

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
func messagesBothWays(t *testing.T, ours *Context, peer *gssPeer) {
	for i := 0; i < 2; i++ {
		// Ours seals, the peer unwraps.
		r := peer.call("UNWRAP", sealTo(t, ours, "sealed by asyncsspi"))
		if r[0] != "DATA" || string(dec(t, r[1])) != "sealed by asyncsspi" {
			t.Fatalf("peer UNWRAP: %v", r)
		}
		// The peer wraps, ours unseals.
		r = peer.call("WRAP", []byte("sealed by gss-ntlmssp"))
		if r[0] != "DATA" {
			t.Fatalf("peer WRAP: %v", r)
		}
		if got := unsealFrom(t, ours, dec(t, r[1])); got != "sealed by gss-ntlmssp" {
			t.Fatalf("unsealed %q", got)
		}
		// Ours signs, the peer verifies.
		msg := []secctx.Buffer{{Type: secctx.SECBUFFER_TOKEN, Data: make([]byte, 0, 16)}, {Type: secctx.SECBUFFER_DATA, Data: []byte("signed by asyncsspi")}}
		if st := ours.MakeSignature(0, msg, 0); st != status.SEC_E_OK {
			t.Fatal(st)
		}
		if r := peer.call("VERIFY", msg[1].Data, msg[0].Data); r[0] != "OK" {
			t.Fatalf("peer VERIFY: %v", r)
		}
		// The peer signs, ours verifies.
		r = peer.call("MIC", []byte("signed by gss-ntlmssp"))
		if r[0] != "DATA" {
			t.Fatalf("peer MIC: %v", r)
		}
		msg = []secctx.Buffer{{Type: secctx.SECBUFFER_TOKEN, Data: dec(t, r[1])}, {Type: secctx.SECBUFFER_DATA, Data: []byte("signed by gss-ntlmssp")}}
		if _, st := ours.VerifySignature(msg, 0); st != status.SEC_E_OK {
			t.Fatalf("VerifySignature: %v", st)
		}
	}
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
			peer := startGSSPeer(t, users, "accept")
			p := New()
			cred, err := p.AcquireCredentials(mechs.CredentialRequest{Use: secctx.SECPKG_CRED_OUTBOUND,
				AuthData: &secctx.AuthIdentity{User: tc.user, Domain: "EXAMPLE", Password: tc.password}})
			if err != nil {
				t.Fatal(err)
			}
			mc, _ := cred.NewInitiator(mechs.InitiatorParams{Target: "HTTP/server.example.com",
				Req: secctx.ISC_REQ_CONFIDENTIALITY | secctx.ISC_REQ_INTEGRITY | secctx.ISC_REQ_REPLAY_DETECT | secctx.ISC_REQ_SEQUENCE_DETECT})
			c := mc.(*Context)
			r1 := c.Step(&mechs.StepInput{})
			rep := peer.call("STEP", r1.Token)
			if rep[0] != "TOKEN" || rep[2] != "CONTINUE" {
				t.Fatalf("peer on NEGOTIATE: %v", rep)
			}
			r3 := c.Step(&mechs.StepInput{Token: dec(t, rep[1])})
			if r3.Status != status.SEC_E_OK {
				t.Fatalf("our AUTHENTICATE: %v %v", r3.Status, r3.Err)
			}
			rep = peer.call("STEP", r3.Token)
			if !tc.ok {
				if rep[0] != "ERROR" {
					t.Fatalf("peer accepted a bad logon: %v", rep)
				}
				return
			}
			if rep[0] != "TOKEN" || rep[2] != "COMPLETE" {
				t.Fatalf("peer on AUTHENTICATE: %v", rep)
			}
			if !c.MICPresent() {
				t.Error("no MIC sent to gss-ntlmssp")
			}
			if name := peer.call("NAME"); name[0] != "DATA" || !strings.HasPrefix(string(dec(t, name[1])), `EXAMPLE\alice`) {
				t.Errorf("peer sees %v", name)
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
			peer := startGSSPeer(t, users, "initiate", tc.user, "EXAMPLE", tc.password, "HTTP@server.example.com")
			p := New(WithUserStore(store))
			cred, err := p.AcquireCredentials(mechs.CredentialRequest{Use: secctx.SECPKG_CRED_INBOUND})
			if err != nil {
				t.Fatal(err)
			}
			ms, _ := cred.NewAcceptor(mechs.AcceptorParams{})
			s := ms.(*Context)
			rep := peer.call("STEP")
			if rep[0] != "TOKEN" {
				t.Fatalf("peer NEGOTIATE: %v", rep)
			}
			r2 := s.Step(&mechs.StepInput{Token: dec(t, rep[1])})
			if r2.Status != status.SEC_I_CONTINUE_NEEDED {
				t.Fatalf("our CHALLENGE: %v %v", r2.Status, r2.Err)
			}
			rep = peer.call("STEP", r2.Token)
			if rep[0] != "TOKEN" {
				t.Fatalf("peer AUTHENTICATE: %v", rep)
			}
			r4 := s.Step(&mechs.StepInput{Token: dec(t, rep[1])})
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
			t.Logf("gss-ntlmssp client MIC: %v, flags %#x", s.MICPresent(), s.NegotiateFlags())
			messagesBothWays(t, s, peer)
		})
	}
}

// TestInteropChannelBindings: gss-ntlmssp and this package compute the same
// MsvAvChannelBindings hash, in both directions; different bindings fail.
func TestInteropChannelBindings(t *testing.T) {
	users := usersFile(t)
	appData := []byte("tls-server-end-point:0123456789abcdef0123456789abcdef")
	ours := &secctx.ChannelBindings{ApplicationData: appData}
	other := &secctx.ChannelBindings{ApplicationData: []byte("tls-server-end-point:something else")}
	store := NewMemoryStore()
	store.AddPassword("EXAMPLE", "alice", "Secret1!")

	t.Run("their client, our acceptor", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			sb   *secctx.ChannelBindings
			want status.Code
		}{{"same", ours, status.SEC_E_OK}, {"different", other, status.SEC_E_BAD_BINDINGS}} {
			peer := startGSSPeerCB(t, users, appData, "initiate", "alice", "EXAMPLE", "Secret1!", "HTTP@server.example.com")
			cred, _ := New(WithUserStore(store)).AcquireCredentials(mechs.CredentialRequest{Use: secctx.SECPKG_CRED_INBOUND})
			s, _ := cred.NewAcceptor(mechs.AcceptorParams{})
			rep := peer.call("STEP")
			r2 := s.Step(&mechs.StepInput{Token: dec(t, rep[1]), Bindings: tc.sb})
			rep = peer.call("STEP", r2.Token)
			if rep[0] != "TOKEN" {
				t.Fatalf("%s: peer AUTHENTICATE: %v", tc.name, rep)
			}
			if r := s.Step(&mechs.StepInput{Token: dec(t, rep[1]), Bindings: tc.sb}); r.Status != tc.want {
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
			peer := startGSSPeerCB(t, users, appData, "accept")
			cred, _ := New().AcquireCredentials(mechs.CredentialRequest{Use: secctx.SECPKG_CRED_OUTBOUND,
				AuthData: &secctx.AuthIdentity{User: "alice", Domain: "EXAMPLE", Password: "Secret1!"}})
			c, _ := cred.NewInitiator(mechs.InitiatorParams{Target: "HTTP/server.example.com", Req: secctx.ISC_REQ_INTEGRITY})
			r1 := c.Step(&mechs.StepInput{})
			rep := peer.call("STEP", r1.Token)
			r3 := c.Step(&mechs.StepInput{Token: dec(t, rep[1]), Bindings: tc.cb})
			rep = peer.call("STEP", r3.Token)
			if got := rep[0] == "TOKEN" && rep[2] == "COMPLETE"; got != tc.ok {
				t.Fatalf("%s: peer says %v", tc.name, rep)
			}
		}
	})
}
