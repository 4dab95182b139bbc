package asyncsspi_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/asyncsspi/asyncsspi"
	"github.com/asyncsspi/asyncsspi/async"
	secctx "github.com/asyncsspi/asyncsspi/context"
	"github.com/asyncsspi/asyncsspi/internal/testrealm"
	"github.com/asyncsspi/asyncsspi/mechs/ntlm"
	"github.com/asyncsspi/asyncsspi/status"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func newEngine(t *testing.T) *asyncsspi.Engine {
	t.Helper()
	e := asyncsspi.New(asyncsspi.WithEngineOptions(async.WithWorkers(2)))
	t.Cleanup(func() { e.Close() })
	return e
}

func ntlmUsers() *ntlm.MemoryStore {
	s := ntlm.NewMemoryStore()
	s.AddPassword("EXAMPLE", "alice", "Pa55word!")
	return s
}

// handshake runs client and server to the end, as a caller would: each
// side's output goes to the other until both are done.
func handshake(t *testing.T, client, server *asyncsspi.SecurityContext) {
	t.Helper()
	ctx := t.Context()
	var fromServer []byte
	for i := 0; i < 10; i++ {
		out, cdone, err := client.Step(ctx, fromServer)
		if err != nil {
			t.Fatalf("client leg %d: %v", i, err)
		}
		if len(out) == 0 && cdone {
			if !server.Established() {
				t.Fatal("client done, server not")
			}
			return
		}
		back, sdone, err := server.Step(ctx, out)
		if err != nil {
			t.Fatalf("server leg %d: %v", i, err)
		}
		if cdone && sdone {
			return
		}
		fromServer = back
		if sdone && len(back) == 0 && cdone {
			return
		}
	}
	t.Fatal("handshake did not end in 10 legs")
}

func TestNTLMHandshakeAndMessages(t *testing.T) {
	e := newEngine(t)
	scred, err := e.ServerCredential(asyncsspi.NTLMUsers(ntlmUsers()))
	if err != nil {
		t.Fatal(err)
	}
	defer scred.Close()
	ccred, err := e.ClientCredential(asyncsspi.NTLMPassword("EXAMPLE", "alice", "Pa55word!"))
	if err != nil {
		t.Fatal(err)
	}
	defer ccred.Close()
	client, err := ccred.NewClientContext("HTTP/web.example.com", asyncsspi.Confidentiality())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	server, _ := scred.NewServerContext(asyncsspi.Confidentiality())
	defer server.Close()
	handshake(t, client, server)

	if got := server.ClientName(); !strings.EqualFold(got, `EXAMPLE\alice`) {
		t.Errorf("server sees client %q", got)
	}
	if p := server.Package(); p != "NTLM" {
		t.Errorf("package %q", p)
	}
	ck, err1 := client.SessionKey()
	sk, err2 := server.SessionKey()
	if err1 != nil || err2 != nil || !bytes.Equal(ck, sk) || len(ck) == 0 {
		t.Errorf("session keys %x %v / %x %v", ck, err1, sk, err2)
	}
	if client.MutuallyAuthenticated() {
		t.Error("NTLM reported mutual authentication")
	}
	for i, msg := range []string{"hello", "", strings.Repeat("x", 5000)} {
		sealed, err := client.Seal([]byte(msg))
		if err != nil {
			t.Fatal(err)
		}
		if len(msg) > 4 && bytes.Contains(sealed, []byte(msg)) {
			t.Fatal("sealed message holds the plaintext")
		}
		got, err := server.Open(sealed)
		if err != nil || string(got) != msg {
			t.Fatalf("message %d: Open = %q, %v", i, got, err)
		}
		sig, err := server.Sign([]byte(msg))
		if err != nil {
			t.Fatal(err)
		}
		if err := client.Verify([]byte(msg), sig); err != nil {
			t.Fatalf("message %d: Verify: %v", i, err)
		}
	}
	// Tampering is caught, with its status.
	sealed, _ := client.Seal([]byte("pay 10"))
	sealed[len(sealed)-1] ^= 1
	if _, err := server.Open(sealed); !errors.Is(err, status.SEC_E_MESSAGE_ALTERED) {
		t.Fatalf("altered message: %v", err)
	}
}

func TestWrongPasswordIsLogonDenied(t *testing.T) {
	e := newEngine(t)
	scred, _ := e.ServerCredential(asyncsspi.NTLMUsers(ntlmUsers()))
	ccred, _ := e.ClientCredential(asyncsspi.NTLMPassword("EXAMPLE", "alice", "wrong"))
	client, _ := ccred.NewClientContext("HTTP/web")
	server, _ := scred.NewServerContext()
	out, _, err := client.Step(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	back, _, err := server.Step(t.Context(), out)
	if err != nil {
		t.Fatal(err)
	}
	out, _, err = client.Step(t.Context(), back)
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = server.Step(t.Context(), out)
	var se *status.Error
	if !errors.Is(err, status.SEC_E_LOGON_DENIED) || !errors.As(err, &se) || se.Mech == "" {
		t.Fatalf("wrong password: %v", err)
	}
	// The handshake is over: another leg is refused, not run.
	if _, _, err := server.Step(t.Context(), out); !errors.Is(err, status.SEC_E_INVALID_HANDLE) {
		t.Fatalf("leg after a failure: %v", err)
	}
}

// A Negotiate source whose part is missing says which and why.
func TestMissingPartsAreSaid(t *testing.T) {
	e := newEngine(t)
	_, err := e.ClientCredential(asyncsspi.Negotiate(
		asyncsspi.KerberosCCache(filepath.Join(t.TempDir(), "no-such-cache")),
		asyncsspi.NTLMPassword("EXAMPLE", "alice", "Pa55word!")))
	if !errors.Is(err, status.SEC_E_NO_CREDENTIALS) || !strings.Contains(err.Error(), "ticket cache") {
		t.Fatalf("explicit missing part: %v", err)
	}

	// From the environment, a missing part is left out and reported.
	users := filepath.Join(t.TempDir(), "users")
	if err := os.WriteFile(users, []byte("EXAMPLE:alice:Pa55word!\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv(asyncsspi.EnvNTLMFile, users)
	t.Setenv(asyncsspi.EnvCCache, "FILE:"+filepath.Join(t.TempDir(), "none"))
	t.Setenv(asyncsspi.EnvKeytab, filepath.Join(t.TempDir(), "none.keytab"))
	c, err := e.ClientCredential(asyncsspi.FromEnvironment())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got := c.Packages(); len(got) != 1 || got[0] != "NTLM" {
		t.Fatalf("packages %v", got)
	}
	if u := c.Unavailable(); len(u) != 1 || !strings.Contains(u[0].Error(), "ticket cache") {
		t.Fatalf("unavailable %v", u)
	}
	s, err := e.ServerCredential(asyncsspi.FromEnvironment())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if u := s.Unavailable(); len(u) != 1 || !strings.Contains(u[0].Error(), "keytab") {
		t.Fatalf("server unavailable %v", u)
	}
	// The two negotiate NTLM with each other.
	client, _ := c.NewClientContext("HTTP/web")
	server, _ := s.NewServerContext()
	handshake(t, client, server)
	if server.Package() != "NTLM" || !strings.EqualFold(server.ClientName(), `EXAMPLE\alice`) {
		t.Fatalf("package %q client %q", server.Package(), server.ClientName())
	}
	client.Close()
	server.Close()

	// Nothing at all is an error.
	t.Setenv(asyncsspi.EnvNTLMFile, "")
	if _, err := e.ClientCredential(asyncsspi.FromEnvironment()); !errors.Is(err, status.SEC_E_NO_CREDENTIALS) {
		t.Fatalf("empty environment: %v", err)
	}
}

// The asynchronous forms: Start returns at once, OnComplete fires on an
// engine goroutine, the context carries the caller's value.
func TestAsyncForms(t *testing.T) {
	e := newEngine(t)
	scred, _ := e.ServerCredential(asyncsspi.NTLMUsers(ntlmUsers()))
	ccred, _ := e.ClientCredential(asyncsspi.NTLMPassword("EXAMPLE", "alice", "Pa55word!"))
	client, _ := ccred.NewClientContext("HTTP/web")
	type conn struct{ id int }
	client.SetValue(&conn{id: 7})
	got := make(chan any, 1)
	client.OnComplete(func(sc *asyncsspi.SecurityContext) { got <- sc.Value() })
	if err := client.Start(nil); err != nil {
		t.Fatal(err)
	}
	// (A second Start while this leg is pending is refused with
	// StatusBusy: TestCloseDuringFirstLeg checks it on a leg held
	// pending; here the leg may already be over.)
	if v := (<-got).(*conn); v.id != 7 {
		t.Fatalf("value %v", v)
	}
	out, done, err := client.Wait(t.Context())
	if err != nil || done || len(out) == 0 {
		t.Fatalf("first leg: %d bytes, done %v, %v", len(out), done, err)
	}
	if client.Status() != status.SEC_I_CONTINUE_NEEDED {
		t.Fatalf("status %v", client.Status())
	}
	client.OnComplete(nil)
	server, _ := scred.NewServerContext()
	if _, _, err := server.Step(t.Context(), out); err != nil {
		t.Fatal(err)
	}
	client.Close()
	server.Close()
}

// A context whose Step is cancelled by its ctx ends with the ctx's error.
func TestStepHonoursContext(t *testing.T) {
	e := newEngine(t)
	ccred, _ := e.ClientCredential(asyncsspi.NTLMPassword("EXAMPLE", "alice", "x"))
	client, _ := ccred.NewClientContext("HTTP/web")
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, _, err := client.Step(ctx, nil)
	if err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, async.StatusCancelled) {
		t.Fatalf("cancelled step: %v", err)
	}
	client.Close()
}

// Kerberos against a real MIT KDC: password client, keytab server, mutual
// authentication, the same session key on both sides, sealing both ways.
func TestKerberosWithMIT(t *testing.T) {
	realm := testrealm.Start(t)
	if realm == nil {
		return
	}
	for _, kv := range realm.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	e := newEngine(t)
	scred, err := e.ServerCredential(asyncsspi.KerberosKeytab(realm.ServiceKeytab, testrealm.Service))
	if err != nil {
		t.Fatal(err)
	}
	ccred, err := e.ClientCredential(asyncsspi.KerberosPassword(realm.Principal(testrealm.User), testrealm.Password))
	if err != nil {
		t.Fatal(err)
	}
	client, _ := ccred.NewClientContext(testrealm.Service, asyncsspi.MutualAuth(), asyncsspi.Confidentiality())
	server, _ := scred.NewServerContext()
	handshake(t, client, server)
	if !client.MutuallyAuthenticated() {
		t.Fatal("no mutual authentication")
	}
	if got, want := server.ClientName(), realm.Principal(testrealm.User); got != want {
		t.Errorf("server sees %q, want %q", got, want)
	}
	if client.Package() != "Kerberos" || client.Expiry().IsZero() {
		t.Errorf("package %q expiry %v", client.Package(), client.Expiry())
	}
	ck, _ := client.SessionKey()
	sk, _ := server.SessionKey()
	if len(ck) == 0 || !bytes.Equal(ck, sk) {
		t.Errorf("session keys differ")
	}
	sealed, err := server.Seal([]byte("from the server"))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := client.Open(sealed); err != nil || string(got) != "from the server" {
		t.Fatalf("Open: %q %v", got, err)
	}
	sealed, _ = client.Seal([]byte("from the client"))
	if got, err := server.Open(sealed); err != nil || string(got) != "from the client" {
		t.Fatalf("Open: %q %v", got, err)
	}
	client.Close()
	server.Close()
}

// gatedRand blocks its first Read until gate is closed, announcing it on
// entered: a mechanism step that draws randomness is held mid-step.
type gatedRand struct {
	once    sync.Once
	entered chan struct{}
	gate    chan struct{}
}

func (g *gatedRand) Read(p []byte) (int, error) {
	g.once.Do(func() {
		close(g.entered)
		<-g.gate
	})
	return rand.Read(p)
}

// Close while a first leg's step is running: the step is not
// interrupted, and the handle its result issues must not outlive the
// context (it was left in the engine's table until the engine closed).
func TestCloseDuringFirstLeg(t *testing.T) {
	g := &gatedRand{entered: make(chan struct{}), gate: make(chan struct{})}
	e := asyncsspi.New(asyncsspi.WithEngineOptions(async.WithWorkers(2)), asyncsspi.WithNTLMOptions(ntlm.WithRand(g)))
	defer e.Close()
	scred, _ := e.ServerCredential(asyncsspi.NTLMUsers(ntlmUsers()))
	defer scred.Close()
	ccred, _ := e.ClientCredential(asyncsspi.NTLMPassword("EXAMPLE", "alice", "Pa55word!"))
	defer ccred.Close()
	client, _ := ccred.NewClientContext("HTTP/web")
	defer client.Close()
	negotiateMsg, _, err := client.Step(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	server, _ := scred.NewServerContext()
	if err := server.Start(negotiateMsg); err != nil {
		t.Fatal(err)
	}
	<-g.entered // the server's step is drawing its challenge
	if err := server.Start(negotiateMsg); !errors.Is(err, async.StatusBusy) {
		t.Fatalf("second Start while a leg is pending: %v", err)
	}
	if err := server.Close(); err != nil {
		t.Fatal(err)
	}
	close(g.gate)
	// The leg completes; whatever handle it issued is deleted.
	<-server.Done()
	h := server.Handle()
	deadline := time.Now().Add(10 * time.Second)
	for h != 0 {
		if _, st := e.Async().QueryContextAttributes(h, secctx.SECPKG_ATTR_SIZES); st == status.SEC_E_INVALID_HANDLE {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("handle %v issued by a leg of a closed context is still live", h)
		}
		runtime.Gosched()
	}
}
