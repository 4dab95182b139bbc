package kerberos

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asyncsspi/asyncsspi/async"
	secctx "github.com/asyncsspi/asyncsspi/context"
	"github.com/asyncsspi/asyncsspi/internal/testrealm"
	"github.com/asyncsspi/asyncsspi/mechs"
	"github.com/asyncsspi/asyncsspi/mechs/kerberos/kdc"
	"github.com/asyncsspi/asyncsspi/status"
	"go.uber.org/goleak"
)

// silentKDC is a KDC address on loopback that answers nothing and counts
// what reaches it: datagrams, and TCP connections (accepted, never read).
type silentKDC struct {
	addr             string
	udp              net.PacketConn
	tcp              net.Listener
	datagrams, conns atomic.Int64
	wg               sync.WaitGroup
	mu               sync.Mutex
	open             []net.Conn
}

func newSilentKDC(t *testing.T) *silentKDC {
	t.Helper()
	s := &silentKDC{}
	for i := 0; ; i++ {
		tl, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ul, err := net.ListenPacket("udp4", tl.Addr().String())
		if err != nil {
			tl.Close()
			if i < 20 {
				continue
			}
			t.Fatal(err)
		}
		s.addr, s.tcp, s.udp = tl.Addr().String(), tl, ul
		break
	}
	s.wg.Add(2)
	go func() {
		defer s.wg.Done()
		buf := make([]byte, 65535)
		for {
			if _, _, err := s.udp.ReadFrom(buf); err != nil {
				return
			}
			s.datagrams.Add(1)
		}
	}()
	go func() {
		defer s.wg.Done()
		for {
			c, err := s.tcp.Accept()
			if err != nil {
				return
			}
			s.conns.Add(1)
			s.mu.Lock()
			s.open = append(s.open, c)
			s.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		s.udp.Close()
		s.tcp.Close()
		s.wg.Wait()
		s.mu.Lock()
		for _, c := range s.open {
			c.Close()
		}
		s.mu.Unlock()
	})
	return s
}

func (s *silentKDC) received() int64 { return s.datagrams.Load() + s.conns.Load() }

// firstLegs acquires an outbound credential for id on e and queues n first
// legs of mutual handshakes with target; the credential and the async
// contexts are freed when the test ends.
func firstLegs(t *testing.T, e *async.Engine, id *secctx.AuthIdentity, target string, n int) []*async.AsyncContext {
	t.Helper()
	cred, _, err := e.AcquireCredentialsHandle("", Name, secctx.SECPKG_CRED_OUTBOUND, id)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.FreeCredentialsHandle(cred) })
	acs := make([]*async.AsyncContext, n)
	for i := range acs {
		acs[i] = e.CreateAsyncContext()
		t.Cleanup(func() { e.FreeAsyncContext(acs[i]) })
		if st := e.InitializeSecurityContextAsync(acs[i], cred, 0, target, secctx.ISC_REQ_MUTUAL_AUTH, nil); st != status.SEC_E_OK {
			t.Fatalf("leg %d: %v", i, st)
		}
	}
	return acs
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("never: %s", what)
		}
	}
}

// Kerberos legs whose first contact waits on a KDC that never answers,
// all cancelled: the engine ends their shared exchange, and the
// Transport sends nothing more (before, the exchange ran on under the
// credential's lifetime, for 28 s of retransmissions); no goroutine is
// left once the engine is closed.
func TestEngineCancelledLegsEndTheirExchange(t *testing.T) {
	kdcAddr := newSilentKDC(t)
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	conf := filepath.Join(t.TempDir(), "krb5.conf")
	if err := os.WriteFile(conf, []byte("[libdefaults]\n default_realm = SILENT.TEST\n[realms]\n SILENT.TEST = {\n  kdc = "+kdcAddr.addr+"\n }\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	e := async.New(mechs.NewSet(New(WithConfigFile(conf))), async.WithIOTimeout(time.Hour))
	defer e.Close()
	const n = 50
	acs := firstLegs(t, e, &secctx.AuthIdentity{User: "alice", Domain: "SILENT.TEST", Password: "pw"}, "HTTP/host.silent.test", n)
	waitFor(t, "the AS-REQ reached the KDC", func() bool { return kdcAddr.datagrams.Load() > 0 })
	waitFor(t, "every leg waiting on I/O", func() bool { return e.Stats().IOLegs == n })
	if x := e.Stats().Exchanges; x != 1 {
		t.Fatalf("%d exchanges in flight for %d legs of one credential and SPN, want 1", x, n)
	}
	for _, ac := range acs {
		ac.Cancel()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for i, ac := range acs {
		if st := ac.Wait(ctx); st != async.StatusCancelled {
			t.Fatalf("leg %d: %v, want StatusCancelled", i, st)
		}
	}
	waitFor(t, "the exchange ended", func() bool { return e.Stats().Exchanges == 0 })
	time.Sleep(10 * time.Millisecond) // what was sent before the end, read by the fake
	before := kdcAddr.received()
	// On the default schedule the exchange would have opened a TCP
	// connection one second in and resent over UDP later.
	time.Sleep(2500 * time.Millisecond)
	if after := kdcAddr.received(); after != before {
		t.Fatalf("%d more datagrams or connections reached the KDC after every leg was cancelled", after-before)
	}
}

// A realm whose first KDC is silent on UDP: the first credential's first
// exchange pays the failover (one stagger, MIT's one second); a second
// credential of the same Package does not pay it again, and sends the
// silent KDC nothing.
func TestPackageSharesFailover(t *testing.T) {
	dead := newSilentKDC(t)
	realm := testrealm.Start(t, testrealm.WithKDCsBefore(dead.addr))
	pkg := New(WithConfigFile(realm.Krb5Conf))
	handshake := func() time.Duration {
		t.Helper()
		cred, err := pkg.AcquireCredentials(mechs.CredentialRequest{Use: secctx.SECPKG_CRED_OUTBOUND,
			AuthData: &secctx.AuthIdentity{User: testrealm.User, Domain: realm.Name, Password: testrealm.Password}})
		if err != nil {
			t.Fatal(err)
		}
		defer cred.Close()
		ic, err := cred.NewInitiator(mechs.InitiatorParams{Target: testrealm.Service})
		if err != nil {
			t.Fatal(err)
		}
		defer ic.Close()
		start := time.Now()
		r := step(t, ic, &mechs.StepInput{})
		wantStatus(t, r, status.SEC_E_OK)
		return time.Since(start)
	}
	if el := handshake(); el < kdc.DefaultStagger {
		t.Fatalf("first credential: %v; the silent first KDC was not asked first", el)
	}
	before := dead.received()
	if before == 0 {
		t.Fatal("the silent KDC was never asked")
	}
	if el := handshake(); el >= kdc.DefaultStagger {
		t.Fatalf("second credential: %v, paid the failover again", el)
	}
	time.Sleep(10 * time.Millisecond)
	if after := dead.received(); after != before {
		t.Fatalf("the second credential sent the silent KDC %d requests", after-before)
	}
}

// A first contact through the engine: thousands of legs queued at once
// cost one exchange per request: the AS-REQ answered
// KDC_ERR_PREAUTH_REQUIRED, the AS-REQ with PA-ENC-TIMESTAMP and the
// TGS-REQ are each performed once (counted by the Transport's observer,
// once per Exchange; retransmissions within an exchange are the
// Transport's schedule, not another exchange).
func TestEngineFirstContactOneExchangeEach(t *testing.T) {
	realm := testrealm.Start(t, testrealm.WithRequirePreauth())
	conf, err := kdc.LoadConfigFile(realm.Krb5Conf)
	if err != nil {
		t.Fatal(err)
	}
	var as, tgs atomic.Int64
	tr := kdc.NewTransport(kdc.WithConfig(conf), kdc.WithObserver(func(_ string, req, _ []byte, _ error) {
		switch req[0] {
		case 0x6a: // [APPLICATION 10] AS-REQ
			as.Add(1)
		case 0x6c: // [APPLICATION 12] TGS-REQ
			tgs.Add(1)
		}
	}))
	defer tr.Close()
	e := async.New(mechs.NewSet(New(WithConfig(conf), WithTransport(tr))), async.WithQueueDepth(10000))
	defer e.Close()
	const n = 3000
	acs := firstLegs(t, e, &secctx.AuthIdentity{User: testrealm.User, Domain: realm.Name, Password: testrealm.Password}, testrealm.Service, n)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for i, ac := range acs {
		if st := ac.Wait(ctx); st != status.SEC_I_CONTINUE_NEEDED {
			t.Fatalf("leg %d: %v %v", i, st, ac.Err())
		}
		e.DeleteSecurityContext(ac.ContextHandle())
	}
	if a, g := as.Load(), tgs.Load(); a != 2 || g != 1 {
		t.Fatalf("%d AS and %d TGS exchanges for %d first legs, want 2 and 1", a, g, n)
	}
	if got := realm.CountRequests("TGS_REQ"); got != 1 {
		t.Fatalf("%d TGS_REQs at the KDC, want 1", got)
	}
}

// A credential reports when its TGT ends (Windows reports the TGT's end
// for a logged-on credential): from a ticket cache at once; from a
// password or a keytab once the first exchange has obtained the TGT; and
// a credential of service tickets, its ticket's end.
func TestCredentialExpiry(t *testing.T) {
	realm := testrealm.Start(t, testrealm.WithTicketLifetime(2*time.Hour))
	pkg := New(WithConfigFile(realm.Krb5Conf))
	realm.AddService(t, "svc-client")
	acquire := func(ad any) mechs.Credential {
		t.Helper()
		cred, err := pkg.AcquireCredentials(mechs.CredentialRequest{Use: secctx.SECPKG_CRED_OUTBOUND, AuthData: ad})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cred.Close() })
		return cred
	}
	near := func(got time.Time, what string) {
		t.Helper()
		want := time.Now().Add(2 * time.Hour)
		if got.Before(want.Add(-time.Minute)) || got.After(want.Add(time.Minute)) {
			t.Fatalf("%s: expiry %v, want about %v (the TGT's end)", what, got, want)
		}
	}
	firstLeg := func(cred mechs.Credential) {
		t.Helper()
		ic, err := cred.NewInitiator(mechs.InitiatorParams{Target: testrealm.Service})
		if err != nil {
			t.Fatal(err)
		}
		defer ic.Close()
		wantStatus(t, step(t, ic, &mechs.StepInput{}), status.SEC_E_OK)
	}

	cc := acquire(&CCache{Path: realm.Kinit(t, testrealm.User, testrealm.Password)})
	near(cc.Expiry(), "ticket cache, before any exchange")

	for name, ad := range map[string]any{
		"password": &secctx.AuthIdentity{User: testrealm.User, Domain: realm.Name, Password: testrealm.Password},
		"keytab":   &Keytab{Path: realm.Keytab(t, "svc-client")},
	} {
		cred := acquire(ad)
		if !cred.Expiry().IsZero() {
			t.Fatalf("%s: expiry %v before the TGT was obtained", name, cred.Expiry())
		}
		firstLeg(cred)
		near(cred.Expiry(), name+", after the first exchange")
	}

	// A credential of service tickets: its ticket's end.
	conf, err := kdc.LoadConfigFile(realm.Krb5Conf)
	if err != nil {
		t.Fatal(err)
	}
	kc, err := kdc.NewClient(kdc.ClientConfig{Principal: principalName(nameTypePrincipal, []string{testrealm.User}),
		Realm: realm.Name, Password: testrealm.Password, Config: conf})
	if err != nil {
		t.Fatal(err)
	}
	defer kc.Close()
	tkt, err := kc.ServiceTicket(context.Background(), testrealm.Service)
	if err != nil {
		t.Fatal(err)
	}
	if got := acquire(&ServiceTickets{Tickets: []*kdc.Ticket{tkt}}).Expiry(); !got.Equal(tkt.EndTime) || got.IsZero() {
		t.Fatalf("service tickets: expiry %v, want the ticket's end %v", got, tkt.EndTime)
	}

	// The engine reports it from AcquireCredentialsHandle.
	e := async.New(mechs.NewSet(pkg))
	defer e.Close()
	h, exp, err := e.AcquireCredentialsHandle("", Name, secctx.SECPKG_CRED_OUTBOUND, &CCache{Path: realm.Kinit(t, testrealm.User, testrealm.Password)})
	if err != nil {
		t.Fatal(err)
	}
	defer e.FreeCredentialsHandle(h)
	near(exp, "AcquireCredentialsHandle of a ticket cache")
}
