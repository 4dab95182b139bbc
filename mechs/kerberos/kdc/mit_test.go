package kdc

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asyncsspi/asyncsspi/internal/testrealm"
	"github.com/asyncsspi/asyncsspi/status"
	"github.com/jcmturner/gokrb5/v8/config"
	"github.com/jcmturner/gokrb5/v8/credentials"
	"github.com/jcmturner/gokrb5/v8/keytab"
	"github.com/jcmturner/gokrb5/v8/types"
)

// These tests run the client against a real MIT KDC that the test starts.

const spnHTTP = testrealm.Service

type mitSetup struct {
	realm      *testrealm.Realm
	conf       *config.Config
	httpKeytab *keytab.Keytab
}

// setupMIT starts a realm whose principals require pre-authentication, as
// Active Directory's do; alice and HTTP/localhost exist.
func setupMIT(t *testing.T, opts ...testrealm.Option) *mitSetup {
	t.Helper()
	r := testrealm.Start(t, append([]testrealm.Option{testrealm.WithRequirePreauth()}, opts...)...)
	if r == nil {
		return nil // skipped
	}
	conf, err := LoadConfigFile(r.Krb5Conf)
	must(t, err)
	kt, err := keytab.Load(r.ServiceKeytab)
	must(t, err)
	return &mitSetup{realm: r, conf: conf, httpKeytab: kt}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// count returns how many KDC log lines of kind ("AS_REQ", "TGS_REQ")
// contain substr.
func (s *mitSetup) count(kind, substr string) int {
	n := 0
	for _, line := range strings.Split(s.realm.Log(), "\n") {
		if strings.Contains(line, "): "+kind+" ") && strings.Contains(line, substr) {
			n++
		}
	}
	return n
}

func (s *mitSetup) client(t *testing.T, cfg ClientConfig) *Client {
	t.Helper()
	if cfg.Config == nil {
		cfg.Config = s.conf
	}
	if cfg.Realm == "" {
		cfg.Realm = s.realm.Name
	}
	c, err := NewClient(cfg)
	must(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}

func alice() types.PrincipalName { return types.NewPrincipalName(1, testrealm.User) }

// checkServiceTicket proves a ticket real: it decrypts with the service's
// keytab and names the client.
func (s *mitSetup) checkServiceTicket(t *testing.T, tkt *Ticket, client string) {
	t.Helper()
	sname := types.NewPrincipalName(2, spnHTTP)
	if err := tkt.Ticket.DecryptEncPart(s.httpKeytab, &sname); err != nil {
		t.Fatalf("service ticket does not decrypt with the HTTP keytab: %v", err)
	}
	if got := tkt.Ticket.DecryptedEncPart.CName.PrincipalNameString(); got != client {
		t.Fatalf("ticket client %q, want %q", got, client)
	}
	if k := tkt.Ticket.DecryptedEncPart.Key; k.KeyType != tkt.SessionKey.KeyType || !bytes.Equal(k.KeyValue, tkt.SessionKey.KeyValue) {
		t.Fatal("session key in the ticket differs from the one the KDC gave the client")
	}
}

func TestMITPasswordLogin(t *testing.T) {
	t.Parallel()
	s := setupMIT(t)
	c := s.client(t, ClientConfig{Principal: alice(), Password: testrealm.Password})
	ctx := context.Background()
	must(t, c.Login(ctx))
	tkt, err := c.ServiceTicket(ctx, spnHTTP)
	must(t, err)
	s.checkServiceTicket(t, tkt, "alice")
	if got, ok := c.CachedServiceTicket(spnHTTP); !ok || got != tkt {
		t.Fatal("ticket not cached")
	}
	// Pre-auth took two AS-REQs (the first answered PREAUTH_REQUIRED).
	if n := s.count("AS_REQ", "alice@"); n != 2 {
		t.Fatalf("%d AS_REQs, want 2", n)
	}
	// A second login reuses the learnt ETYPE-INFO2: one AS-REQ.
	must(t, c.Login(ctx))
	if n := s.count("AS_REQ", "alice@"); n != 3 {
		t.Fatalf("%d AS_REQs after a second login, want 3", n)
	}
}

func TestMITKeytabLogin(t *testing.T) {
	t.Parallel()
	s := setupMIT(t)
	s.realm.AddService(t, "svc-client")
	kt, err := keytab.Load(s.realm.Keytab(t, "svc-client"))
	must(t, err)
	c := s.client(t, ClientConfig{Principal: types.NewPrincipalName(1, "svc-client"), Keytab: kt})
	tkt, err := c.ServiceTicket(context.Background(), spnHTTP)
	must(t, err)
	s.checkServiceTicket(t, tkt, "svc-client")
}

func TestMITCCache(t *testing.T) {
	t.Parallel()
	s := setupMIT(t)
	cc, err := credentials.LoadCCache(s.realm.Kinit(t, testrealm.User, testrealm.Password))
	must(t, err)
	c := s.client(t, ClientConfig{CCache: cc})
	if p, _ := c.Principal(); p.PrincipalNameString() != "alice" {
		t.Fatalf("principal from the ccache: %v", p)
	}
	must(t, c.Login(context.Background())) // checks the TGT, no I/O
	before := s.realm.CountRequests("AS_REQ")
	tkt, err := c.ServiceTicket(context.Background(), spnHTTP)
	must(t, err)
	s.checkServiceTicket(t, tkt, "alice")
	if n := s.realm.CountRequests("AS_REQ"); n != before {
		t.Fatal("a client with a ccache TGT sent an AS_REQ")
	}
}

func TestMITWrongPassword(t *testing.T) {
	t.Parallel()
	s := setupMIT(t)
	c := s.client(t, ClientConfig{Principal: alice(), Password: "wrong"})
	err := c.Login(context.Background())
	if status.CodeOf(err) != status.SEC_E_LOGON_DENIED {
		t.Fatalf("%v, want SEC_E_LOGON_DENIED", err)
	}
	var ke *KDCError
	if !errors.As(err, &ke) || ke.Code() != 24 {
		t.Fatalf("cause %v, want KDC_ERR_PREAUTH_FAILED", err)
	}
	// Without required pre-auth the KDC answers, and the reply does not
	// decrypt: also SEC_E_LOGON_DENIED.
	s.realm.Kadmin(t, "addprinc -requires_preauth -pw bob-pw bob")
	c2 := s.client(t, ClientConfig{Principal: types.NewPrincipalName(1, "bob"), Password: "wrong"})
	if err := c2.Login(context.Background()); status.CodeOf(err) != status.SEC_E_LOGON_DENIED {
		t.Fatalf("no-preauth principal, wrong password: %v", err)
	}
	c3 := s.client(t, ClientConfig{Principal: types.NewPrincipalName(1, "nobody"), Password: "x"})
	if err := c3.Login(context.Background()); status.CodeOf(err) != status.SEC_E_LOGON_DENIED {
		t.Fatalf("unknown client: %v", err)
	}
}

func TestMITUnknownSPN(t *testing.T) {
	t.Parallel()
	s := setupMIT(t)
	c := s.client(t, ClientConfig{Principal: alice(), Password: testrealm.Password})
	_, err := c.ServiceTicket(context.Background(), "HTTP/no-such-host")
	if status.CodeOf(err) != status.SEC_E_TARGET_UNKNOWN {
		t.Fatalf("%v, want SEC_E_TARGET_UNKNOWN", err)
	}
}

func TestMITClockSkew(t *testing.T) {
	t.Parallel()
	s := setupMIT(t)
	skewed := func() time.Time { return time.Now().Add(time.Hour) }
	c := s.client(t, ClientConfig{Principal: alice(), Password: testrealm.Password, Now: skewed})
	if err := c.Login(context.Background()); status.CodeOf(err) != status.SEC_E_TIME_SKEW {
		t.Fatalf("%v, want SEC_E_TIME_SKEW", err)
	}
}

// AES-SHA2 (RFC 8009, etypes 19 and 20): principals with only those keys
// log in; the AS-REP is encrypted in their key.
func TestMITAESSHA2(t *testing.T) {
	t.Parallel()
	s := setupMIT(t)
	for _, tc := range []struct {
		user  string
		etype int32
		enc   string
	}{
		{"sha384", etypeAES256SHA2, "aes256-cts-hmac-sha384-192:normal"},
		{"sha256", etypeAES128SHA2, "aes128-cts-hmac-sha256-128:normal"},
	} {
		s.realm.Kadmin(t, "addprinc -e "+tc.enc+" -pw "+tc.user+"-pw "+tc.user)
		var repEtype atomic.Int32
		tr := NewTransport(WithConfig(s.conf), WithObserver(func(_ string, _, reply []byte, err error) {
			if r, perr := ParseReply(reply); err == nil && perr == nil && r.AS != nil {
				repEtype.Store(r.AS.EncPart.EType)
			}
		}))
		c := s.client(t, ClientConfig{Principal: types.NewPrincipalName(1, tc.user), Password: tc.user + "-pw", Transport: tr})
		tkt, err := c.ServiceTicket(context.Background(), spnHTTP)
		must(t, err)
		s.checkServiceTicket(t, tkt, tc.user)
		if got := repEtype.Load(); got != tc.etype {
			t.Fatalf("%s: AS-REP in etype %d, want %d", tc.user, got, tc.etype)
		}
		c.Close()
		tr.Close()
	}
}

// RC4 is neither requested nor accepted unless enabled.
func TestMITRC4OnlyWhenEnabled(t *testing.T) {
	t.Parallel()
	s := setupMIT(t)
	c := s.client(t, ClientConfig{Principal: alice(), Password: testrealm.Password})
	if containsEtype(c.Etypes(), etypeRC4) {
		t.Fatal("RC4 requested by default")
	}
	c2 := s.client(t, ClientConfig{Principal: alice(), Password: testrealm.Password, AllowRC4: true})
	if !containsEtype(c2.Etypes(), etypeRC4) {
		t.Fatal("RC4 not requested when allowed")
	}
}

// A first KDC (in krb5.conf order) that never answers costs one stagger,
// not a timeout; one that refuses costs nothing. After the live KDC has
// answered, it is asked first.
func TestMITFailoverFromDeadKDC(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		addr func(testing.TB) string
	}{{"silent", testrealm.SilentAddr}, {"closed", testrealm.ClosedAddr}} {
		t.Run(tc.name, func(t *testing.T) {
			s := setupMIT(t, testrealm.WithKDCsBefore(tc.addr(t)))
			if got := len(NewTransport(WithConfig(s.conf)).KDCs(s.realm.Name)); got != 2 {
				t.Fatalf("krb5.conf lists %d KDCs, want 2", got)
			}
			tr := NewTransport(WithConfig(s.conf), WithStagger(200*time.Millisecond), WithTimeout(30*time.Second))
			defer tr.Close()
			c := s.client(t, ClientConfig{Principal: alice(), Password: testrealm.Password, Transport: tr})
			start := time.Now()
			tkt, err := c.ServiceTicket(context.Background(), spnHTTP)
			el := time.Since(start)
			must(t, err)
			s.checkServiceTicket(t, tkt, "alice")
			// Three exchanges (AS, AS with pre-auth, TGS); only the first
			// can wait out the dead KDC.
			// Bounded far below the 30 s timeout (generously: the
			// machine may be loaded).
			if el > 10*time.Second {
				t.Fatalf("took %v with a dead first KDC", el)
			}
			if tc.name == "silent" && el < 200*time.Millisecond {
				t.Fatalf("took %v: the silent first KDC was not asked first", el)
			}
			t.Logf("AS+AS+TGS with a %s first KDC (stagger 200ms): %v", tc.name, el)
		})
	}
}

// 10,000 concurrent first requests for one SPN: exactly one TGS-REQ reaches
// the KDC and every caller gets the ticket.
func TestMITConcurrentServiceTicketsShareOneTGS(t *testing.T) {
	t.Parallel()
	s := setupMIT(t)
	c := s.client(t, ClientConfig{Principal: alice(), Password: testrealm.Password})
	const n = 10000
	var wg sync.WaitGroup
	var failures atomic.Int64
	tickets := make([]*Ticket, n)
	start := time.Now()
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tkt, err := c.ServiceTicket(context.Background(), spnHTTP)
			if err != nil {
				failures.Add(1)
				return
			}
			tickets[i] = tkt
		}()
	}
	wg.Wait()
	el := time.Since(start)
	if f := failures.Load(); f != 0 {
		t.Fatalf("%d of %d calls failed", f, n)
	}
	if got := s.count("TGS_REQ", "for HTTP/localhost@"); got != 1 {
		t.Fatalf("%d TGS_REQs at the KDC for %d concurrent calls, want 1", got, n)
	}
	if got := s.count("AS_REQ", "alice@"); got != 2 {
		t.Fatalf("%d AS_REQs, want 2 (one PREAUTH_REQUIRED round)", got)
	}
	for _, tkt := range tickets {
		if tkt != tickets[0] {
			t.Fatal("callers got different tickets")
		}
	}
	s.checkServiceTicket(t, tickets[0], "alice")
	t.Logf("%d concurrent ServiceTicket calls: 1 TGS_REQ, 2 AS_REQ, 0 failures, %v", n, el)
}

// Tickets are replaced on the first request after they fall due, without a
// background goroutine; a renewable TGT is renewed (TGS with RENEW), not
// re-obtained with the password.
func TestMITRenewal(t *testing.T) {
	t.Parallel()
	s := setupMIT(t, testrealm.WithTicketLifetime(time.Minute), testrealm.WithRenewableLifetime(time.Hour))
	if s.conf.LibDefaults.TicketLifetime != time.Minute || s.conf.LibDefaults.RenewLifetime != time.Hour {
		t.Fatalf("krb5.conf lifetimes read as %v / %v", s.conf.LibDefaults.TicketLifetime, s.conf.LibDefaults.RenewLifetime)
	}
	var offset atomic.Int64
	now := func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
	c := s.client(t, ClientConfig{
		Principal: alice(), Password: testrealm.Password,
		Now: now, RenewBefore: 20 * time.Second,
	})
	ctx := context.Background()
	t1, err := c.ServiceTicket(ctx, spnHTTP)
	must(t, err)
	if d := t1.EndTime.Sub(t1.AuthTime); d > time.Minute+time.Second {
		t.Fatalf("ticket lifetime %v, asked 1m", d)
	}
	tgt1, err := c.TGT(ctx)
	must(t, err)
	if !tgt1.HasFlag(flagRenewable) {
		t.Fatal("TGT not renewable")
	}
	t2, err := c.ServiceTicket(ctx, spnHTTP)
	must(t, err)
	if t2 != t1 {
		t.Fatal("fresh ticket not served from the cache")
	}
	// 45 s later (within the KDC's 5 min skew): both the TGT and the
	// service ticket are due (20 s before their 1 min end).
	offset.Store(int64(45 * time.Second))
	t3, err := c.ServiceTicket(ctx, spnHTTP)
	must(t, err)
	if t3 == t1 {
		t.Fatal("due service ticket not replaced")
	}
	s.checkServiceTicket(t, t3, "alice")
	if got := s.count("TGS_REQ", "for HTTP/localhost@"); got != 2 {
		t.Fatalf("%d TGS_REQs for the service, want 2", got)
	}
	if got := s.count("TGS_REQ", "for krbtgt/"); got != 1 {
		t.Fatalf("%d TGT renewals, want 1", got)
	}
	if got := s.count("AS_REQ", "alice@"); got != 2 {
		t.Fatalf("%d AS_REQs, want 2 (the TGT was renewed, not re-obtained)", got)
	}
}

func TestMITForwardableTGT(t *testing.T) {
	t.Parallel()
	s := setupMIT(t)
	c := s.client(t, ClientConfig{Principal: alice(), Password: testrealm.Password})
	f, err := c.ForwardableTGT(context.Background())
	must(t, err)
	if !f.HasFlag(flagForwarded) || !isTGS(f.Server, s.realm.Name) {
		t.Fatalf("forwarded TGT: server %v flags %x", f.Server, f.Flags.Bytes)
	}
	// A principal the KDC will not give forwardable tickets.
	s.realm.Kadmin(t, "addprinc -allow_forwardable -pw nf-pw noforward")
	c2 := s.client(t, ClientConfig{Principal: types.NewPrincipalName(1, "noforward"), Password: "nf-pw"})
	if _, err := c2.ForwardableTGT(context.Background()); !errors.Is(err, ErrNotForwardable) {
		t.Fatalf("%v, want ErrNotForwardable", err)
	}
}

// Over TCP only (udp_preference_limit = 1), as a KDC reached through a
// firewall that drops UDP would be.
func TestMITOverTCP(t *testing.T) {
	t.Parallel()
	s := setupMIT(t)
	tr := NewTransport(WithConfig(s.conf), WithUDPPreferenceLimit(1))
	defer tr.Close()
	c := s.client(t, ClientConfig{Principal: alice(), Password: testrealm.Password, Transport: tr})
	tkt, err := c.ServiceTicket(context.Background(), spnHTTP)
	must(t, err)
	s.checkServiceTicket(t, tkt, "alice")
}

// A TGT the KDC holds expired while the client believes it valid (as when
// clocks differ): the KDC answers KRB_AP_ERR_TKT_EXPIRED, and the client
// logs in again once and retries. The wait is for the real KDC's clock:
// the realm's tickets live one second and the KDC accepts them until its
// skew allowance (4 s: under load a request can take seconds to be served)
// has passed as well.
func TestMITExpiredTGTAtKDC(t *testing.T) {
	t.Parallel()
	const skew = 4 * time.Second
	s := setupMIT(t, testrealm.WithTicketLifetime(time.Second), testrealm.WithClockSkew(skew))
	c := s.client(t, ClientConfig{Principal: alice(), Password: testrealm.Password})
	must(t, c.Login(context.Background()))
	c.mu.Lock()
	believed := *c.tgt
	believed.EndTime = believed.EndTime.Add(time.Hour)
	c.tgt = &believed
	realEnd := c.tgt.EndTime.Add(-time.Hour)
	c.mu.Unlock()
	time.Sleep(time.Until(realEnd) + skew + 1100*time.Millisecond)
	tkt, err := c.ServiceTicket(context.Background(), spnHTTP)
	must(t, err)
	s.checkServiceTicket(t, tkt, "alice")
	if !strings.Contains(s.realm.Log(), "Ticket expired") {
		t.Fatal("the KDC never refused the expired TGT; the test proved nothing")
	}
	if n := s.count("AS_REQ", "ISSUE"); n != 2 {
		t.Fatalf("%d AS exchanges issued a TGT, want 2 (login, then re-login after TKT_EXPIRED)", n)
	}
}

// krb5.conf from KRB5_CONFIG, the ticket cache from KRB5CCNAME and the
// keytab from KRB5_CLIENT_KTNAME, as MIT's tools find them. (Not parallel:
// it sets environment variables.)
func TestMITConfigFromEnvironment(t *testing.T) {
	r := testrealm.Start(t, testrealm.WithRequirePreauth())
	if r == nil {
		return
	}
	t.Setenv("KRB5_CONFIG", "/nonexistent/krb5.conf:"+r.Krb5Conf)
	t.Setenv("KRB5CCNAME", "FILE:"+r.Kinit(t, testrealm.User, testrealm.Password))
	r.AddService(t, "svc-client")
	t.Setenv("KRB5_CLIENT_KTNAME", "FILE:"+r.Keytab(t, "svc-client"))

	conf, err := LoadConfig()
	must(t, err)
	if conf.LibDefaults.DefaultRealm != r.Name {
		t.Fatalf("default realm %q from KRB5_CONFIG, want %q", conf.LibDefaults.DefaultRealm, r.Name)
	}
	cc, err := LoadCCache()
	must(t, err)
	kt, err := LoadKeytab()
	must(t, err)

	// Config nil: NewClient reads KRB5_CONFIG; the realm is default_realm.
	for name, cfg := range map[string]ClientConfig{
		"ccache":   {CCache: cc},
		"keytab":   {Principal: types.NewPrincipalName(1, "svc-client"), Keytab: kt},
		"password": {Principal: alice(), Password: testrealm.Password},
	} {
		c, err := NewClient(cfg)
		must(t, err)
		if _, err := c.ServiceTicket(context.Background(), testrealm.ServiceGSSName); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		must(t, c.Close())
	}
}

// BenchmarkMITTGSExchange measures one TGS exchange with a real MIT KDC
// over loopback UDP (the ticket cache is bypassed: each op asks the KDC).
func BenchmarkMITTGSExchange(b *testing.B) {
	r := testrealm.Start(b)
	if r == nil {
		return
	}
	conf, err := LoadConfigFile(r.Krb5Conf)
	if err != nil {
		b.Fatal(err)
	}
	c, err := NewClient(ClientConfig{Principal: alice(), Password: testrealm.Password, Config: conf})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	tgt, err := c.TGT(ctx)
	if err != nil {
		b.Fatal(err)
	}
	sname := types.NewPrincipalName(2, spnHTTP)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := c.tgsExchange(ctx, tgt, sname, r.Name, 0); err != nil {
			b.Fatal(err)
		}
	}
}

// 500 independent clients (no sharing between them) log in and get a
// service ticket at once over TCP only, through one Transport: 1,500
// exchanges queue for the per-KDC connection limit instead of opening a
// connection each, and none fails (gokrb5's transport lost 15-75% of 1,000
// such requests when the KDC closed connections beyond its limit).
func TestMITManyClientsOverTCP(t *testing.T) {
	t.Parallel()
	s := setupMIT(t, testrealm.WithTCP())
	// The point is that none fails, not how fast: 1,500 exchanges queued
	// on 8 connections take longer than the default 30 s per exchange
	// under -race on a loaded two-core machine.
	tr := NewTransport(WithConfig(s.conf), WithTimeout(3*time.Minute))
	defer tr.Close()
	const n = 500
	var wg sync.WaitGroup
	errs := make(chan error, n)
	start := time.Now()
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := NewClient(ClientConfig{Principal: alice(), Password: testrealm.Password, Config: s.conf, Transport: tr})
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			if _, err := c.ServiceTicket(context.Background(), spnHTTP); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	el := time.Since(start)
	failed := 0
	for err := range errs {
		if failed == 0 {
			t.Errorf("first failure: %v", err)
		}
		failed++
	}
	if failed > 0 {
		t.Fatalf("%d of %d clients failed", failed, n)
	}
	if got := s.count("TGS_REQ", "for HTTP/localhost@"); got != n {
		t.Fatalf("%d TGS_REQs, want %d", got, n)
	}
	t.Logf("%d clients over TCP (AS, AS+PA, TGS each): 0 failures, %v", n, el)
}

// tgsExchange runs one TGS exchange with tgt for sname@realm, bypassing the
// operations and their caches (for BenchmarkMITTGSExchange).
func (c *Client) tgsExchange(ctx context.Context, tgt *Ticket, sname types.PrincipalName, realm string, opts int) (*Ticket, error) {
	req, err := c.newTGSReq(tgt, sname, realm, opts)
	if err != nil {
		return nil, err
	}
	b, err := req.Marshal()
	if err != nil {
		return nil, err
	}
	rb, err := c.transport.Exchange(ctx, tgt.SRealm, b)
	if err != nil {
		return nil, err
	}
	return c.tgsReply(rb, req, tgt, sname, realm)
}

// BenchmarkMITOpTGSCPU measures the CPU side of a first contact's TGS
// round as an engine runs it: Next builds the TGS-REQ, Step decrypts and
// checks the TGS-REP and caches the ticket (the exchange itself, on the
// engine's I/O side, is not timed). These are the two CPU steps a cache
// miss adds to a leg.
func BenchmarkMITOpTGSCPU(b *testing.B) {
	r := testrealm.Start(b)
	if r == nil {
		return
	}
	conf, err := LoadConfigFile(r.Krb5Conf)
	if err != nil {
		b.Fatal(err)
	}
	c, err := NewClient(ClientConfig{Principal: alice(), Password: testrealm.Password, Config: conf})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	if _, err := c.TGT(ctx); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c.mu.Lock()
		clear(c.tickets)
		clear(c.bySPN)
		c.mu.Unlock()
		_, o, err := c.ServiceTicketOp(spnHTTP)
		if err != nil {
			b.Fatal(err)
		}
		req, _, err := o.Next()
		if err != nil || req == nil {
			b.Fatal(err)
		}
		b.StopTimer()
		reply, err := c.transport.Exchange(ctx, req.Realm, req.Message)
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if next, t, err := o.Step(req, reply, nil); next != nil || t == nil || err != nil {
			b.Fatal(err)
		}
	}
}

// A Client started from a forwarded TGT (what a client delegates) gets
// service tickets with it, never logs in, and once the TGT has ended says
// so, without asking the KDC.
func TestMITClientFromTGT(t *testing.T) {
	t.Parallel()
	s := setupMIT(t)
	ctx := context.Background()
	fwd, err := s.client(t, ClientConfig{Principal: alice(), Password: testrealm.Password}).ForwardableTGT(ctx)
	must(t, err)
	var offset atomic.Int64
	now := func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
	c := s.client(t, ClientConfig{TGT: fwd, Now: now})
	if p, _ := c.Principal(); p.PrincipalNameString() != "alice" || !c.Expiry().Equal(fwd.EndTime) {
		t.Fatalf("client %v until %v", p, c.Expiry())
	}
	as := s.realm.CountRequests("AS_REQ")
	tkt, err := c.ServiceTicket(ctx, spnHTTP)
	must(t, err)
	s.checkServiceTicket(t, tkt, "alice")
	if n := s.realm.CountRequests("AS_REQ"); n != as {
		t.Fatal("a client started from a TGT sent an AS_REQ")
	}
	// It can delegate again: the forwarded TGT is forwardable.
	again, err := c.ForwardableTGT(ctx)
	must(t, err)
	if !again.HasFlag(flagForwarded) {
		t.Fatalf("forwarded again: flags %x", again.Flags.Bytes)
	}

	offset.Store(int64(fwd.EndTime.Sub(time.Now()) + time.Minute))
	reqs := s.realm.CountRequests("AS_REQ") + s.realm.CountRequests("TGS_REQ")
	_, err = c.ServiceTicket(ctx, "HTTP/other.test")
	if status.CodeOf(err) != status.SEC_E_NO_CREDENTIALS || !errors.Is(err, ErrTGTEnded) {
		t.Fatalf("after the TGT's end: %v", err)
	}
	if n := s.realm.CountRequests("AS_REQ") + s.realm.CountRequests("TGS_REQ"); n != reqs {
		t.Fatal("the KDC was asked after the TGT's end")
	}
}

// A renewable TGT the Client was started from is renewed when due (a TGS
// exchange with RENEW), as a logged-in Client's is.
func TestMITClientFromTGTRenews(t *testing.T) {
	t.Parallel()
	s := setupMIT(t, testrealm.WithTicketLifetime(time.Minute), testrealm.WithRenewableLifetime(time.Hour))
	ctx := context.Background()
	tgt, err := s.client(t, ClientConfig{Principal: alice(), Password: testrealm.Password}).TGT(ctx)
	must(t, err)
	if !tgt.HasFlag(flagRenewable) {
		t.Fatal("TGT not renewable")
	}
	var offset atomic.Int64
	now := func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
	c := s.client(t, ClientConfig{TGT: tgt, Now: now, RenewBefore: 20 * time.Second})
	offset.Store(int64(45 * time.Second))
	renewals := s.count("TGS_REQ", "for krbtgt/")
	tkt, err := c.ServiceTicket(ctx, spnHTTP)
	must(t, err)
	s.checkServiceTicket(t, tkt, "alice")
	if got := s.count("TGS_REQ", "for krbtgt/"); got != renewals+1 {
		t.Fatalf("%d TGT renewals, want 1", got-renewals)
	}
	if bytes.Equal(c.currentTGT().Ticket.EncPart.Cipher, tgt.Ticket.EncPart.Cipher) {
		t.Fatal("the Client still holds the TGT it was started from")
	}
}
