package kdc

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/asyncsspi/asyncsspi/status"
	"github.com/jcmturner/gokrb5/v8/config"
	"github.com/jcmturner/gokrb5/v8/types"
)

func TestNewClientNeedsCredentials(t *testing.T) {
	alice := types.NewPrincipalName(1, "alice")
	for name, cfg := range map[string]ClientConfig{
		"no principal": {Realm: "R", Password: "x", Config: config.New()},
		"no realm":     {Principal: alice, Password: "x", Config: config.New()},
		"no secret":    {Principal: alice, Realm: "R", Config: config.New()},
	} {
		if _, err := NewClient(cfg); status.CodeOf(err) != status.SEC_E_NO_CREDENTIALS {
			t.Errorf("%s: %v, want SEC_E_NO_CREDENTIALS", name, err)
		}
	}
}

func TestEtypeSelection(t *testing.T) {
	if got := pickEtypes(nil, false); len(got) != 4 || containsEtype(got, etypeRC4) {
		t.Fatalf("defaults %v", got)
	}
	if got := pickEtypes(nil, true); !containsEtype(got, etypeRC4) {
		t.Fatalf("defaults with RC4 allowed %v", got)
	}
	if got := pickEtypes([]int32{23, 19, 16, 17}, false); len(got) != 2 || got[0] != 19 || got[1] != 17 {
		t.Fatalf("configured [23 19 16 17] without RC4 gave %v, want [19 17]", got)
	}
	conf, err := config.NewFromString("[libdefaults]\n default_tkt_enctypes = aes128-cts-hmac-sha256-128 aes256-cts-hmac-sha384-192\n")
	if err != nil {
		t.Fatal(err)
	}
	if got := pickEtypes(configuredEtypes(conf), false); len(got) != 2 || got[0] != 19 || got[1] != 20 {
		t.Fatalf("krb5.conf AES-SHA2 list gave %v", got)
	}
	// gokrb5's built-in list lacks AES-SHA2: the package defaults apply.
	if got := pickEtypes(configuredEtypes(config.New()), false); !containsEtype(got, etypeAES256SHA2) {
		t.Fatalf("built-in config gave %v", got)
	}
}

func TestTicketRenewAt(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	long := &Ticket{StartTime: t0, EndTime: t0.Add(10 * time.Hour)}
	if got := long.renewAt(5 * time.Minute); !got.Equal(t0.Add(10*time.Hour - 5*time.Minute)) {
		t.Fatalf("renewAt %v", got)
	}
	short := &Ticket{StartTime: t0, EndTime: t0.Add(4 * time.Minute)}
	if got := short.renewAt(5 * time.Minute); !got.Equal(t0.Add(2 * time.Minute)) {
		t.Fatalf("short ticket renewAt %v, want half-way", got)
	}
	if long.Valid(t0.Add(10*time.Hour), time.Minute) || !long.Valid(t0, 0) || long.Valid(t0.Add(-2*time.Minute), time.Minute) {
		t.Fatal("Valid bounds wrong")
	}
}

// fakeClock is a settable clock for ClientConfig.Now.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

// A cached service ticket is served without I/O until it is due; once due,
// a failed replacement still returns it while it is valid; once expired
// the failure shows.
func TestServiceTicketCacheAndRenewal(t *testing.T) {
	t0 := time.Now().Truncate(time.Second)
	clock := &fakeClock{t: t0}
	tr := NewTransport(WithKDCs("R", deadAddr(t)), WithTimeout(2*time.Second))
	defer tr.Close()
	c, err := NewClient(ClientConfig{
		Principal: types.NewPrincipalName(1, "alice"), Realm: "R", Password: "x",
		Config: config.New(), Transport: tr, Now: clock.Now, RenewBefore: 10 * time.Minute,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	tkt := &Ticket{Server: types.NewPrincipalName(2, "HTTP/h"), SRealm: "R", StartTime: t0, EndTime: t0.Add(time.Hour)}
	c.mu.Lock()
	c.tickets[spnKey(tkt.Server, "R")] = tkt
	c.mu.Unlock()

	if got, ok := c.CachedServiceTicket("HTTP/h"); !ok || got != tkt {
		t.Fatal("fresh ticket not served from the cache")
	}
	if got, err := c.ServiceTicket(context.Background(), "HTTP/h@R"); err != nil || got != tkt {
		t.Fatalf("ServiceTicket: %v", err)
	}
	clock.Set(t0.Add(55 * time.Minute)) // due (10 min before the end)
	if _, ok := c.CachedServiceTicket("HTTP/h"); ok {
		t.Fatal("a ticket due for renewal was served by CachedServiceTicket")
	}
	got, err := c.ServiceTicket(context.Background(), "HTTP/h")
	if err != nil || got != tkt {
		t.Fatalf("due but valid ticket with no KDC: %v, %v", got, err)
	}
	clock.Set(t0.Add(time.Hour))
	if _, err := c.ServiceTicket(context.Background(), "HTTP/h"); status.CodeOf(err) != status.SEC_E_NO_AUTHENTICATING_AUTHORITY {
		t.Fatalf("expired ticket with no KDC: %v", err)
	}
}

func TestServiceTicketNoKDC(t *testing.T) {
	c, err := NewClient(ClientConfig{
		Principal: types.NewPrincipalName(1, "alice"), Realm: "NOWHERE", Password: "x", Config: config.New(),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, err = c.ServiceTicket(context.Background(), "HTTP/h")
	if status.CodeOf(err) != status.SEC_E_NO_AUTHENTICATING_AUTHORITY || !errors.Is(err, ErrNoKDC) {
		t.Fatalf("%v", err)
	}
}

// A caller whose context ends returns at once; the shared exchange goes on
// until Close, which cancels it and waits.
func TestServiceTicketCallerCancelAndClose(t *testing.T) {
	silent := newFakeKDC(t, nil, nil)
	tr := NewTransport(WithKDCs("R", silent.addr), WithTimeout(time.Hour), WithStagger(time.Hour))
	c, err := NewClient(ClientConfig{
		Principal: types.NewPrincipalName(1, "alice"), Realm: "R", Password: "x",
		Config: config.New(), Transport: tr,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := c.ServiceTicket(ctx, "HTTP/h"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("%v, want the caller's deadline", err)
	}
	done := make(chan struct{})
	go func() { c.Close(); tr.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not end the shared exchange")
	}
	if _, err := c.ServiceTicket(context.Background(), "HTTP/h"); !errors.Is(err, ErrClosed) {
		t.Fatalf("after Close: %v", err)
	}
	if err := c.Login(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Login after Close: %v", err)
	}
}

func TestParseSPNRejects(t *testing.T) {
	c, err := NewClient(ClientConfig{Principal: types.NewPrincipalName(1, "a"), Realm: "R", Password: "x", Config: config.New()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, spn := range []string{"", "HTTP", "HTTP/", "/h", "HTTP//h", "@h", "HTTP@", "HTTP/h@OTHER"} {
		if _, _, err := c.ParseSPN(spn); status.CodeOf(err) != status.SEC_E_TARGET_UNKNOWN {
			t.Errorf("%q: %v", spn, err)
		}
	}
}

func TestCachedServiceTicketAllocs(t *testing.T) {
	t0 := time.Now()
	c, err := NewClient(ClientConfig{Principal: types.NewPrincipalName(1, "a"), Realm: "R", Password: "x", Config: config.New()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	tkt := &Ticket{Server: types.NewPrincipalName(2, "HTTP/h"), SRealm: "R", StartTime: t0, EndTime: t0.Add(time.Hour)}
	c.mu.Lock()
	c.tickets[spnKey(tkt.Server, "R")] = tkt
	c.bySPN["HTTP/h"] = tkt
	c.mu.Unlock()
	if got, ok := c.CachedServiceTicket("HTTP/h@R"); !ok || got != tkt {
		t.Fatal("other spelling not found")
	}
	if n := testing.AllocsPerRun(100, func() {
		if _, ok := c.CachedServiceTicket("HTTP/h"); !ok {
			t.Fatal("miss")
		}
	}); n != 0 {
		t.Fatalf("CachedServiceTicket allocates %v times", n)
	}
}

func BenchmarkCachedServiceTicket(b *testing.B) {
	t0 := time.Now()
	c, err := NewClient(ClientConfig{Principal: types.NewPrincipalName(1, "a"), Realm: "R", Password: "x", Config: config.New()})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	tkt := &Ticket{Server: types.NewPrincipalName(2, "HTTP/h"), SRealm: "R", StartTime: t0, EndTime: t0.Add(time.Hour)}
	c.mu.Lock()
	c.bySPN["HTTP/h"] = tkt
	c.mu.Unlock()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := c.ServiceTicket(context.Background(), "HTTP/h"); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// A Client started from a TGT takes its principal and realm from it and
// refuses a ticket that is not a TGT of its realm for its client.
func TestNewClientFromTGT(t *testing.T) {
	now := time.Now()
	tgt := &Ticket{
		Client: types.NewPrincipalName(1, "alice"), CRealm: "R",
		Server: types.NewPrincipalName(2, "krbtgt/R"), SRealm: "R",
		SessionKey: types.EncryptionKey{KeyType: etypeAES256SHA1, KeyValue: make([]byte, 32)},
		AuthTime:   now, EndTime: now.Add(time.Hour),
	}
	c, err := NewClient(ClientConfig{TGT: tgt, Config: config.New()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if p, r := c.Principal(); p.PrincipalNameString() != "alice" || r != "R" || !c.Expiry().Equal(tgt.EndTime) {
		t.Fatalf("client %v@%s until %v", p, r, c.Expiry())
	}
	tgt.SessionKey.KeyValue[0] = 1
	if c.currentTGT().SessionKey.KeyValue[0] != 0 {
		t.Fatal("the Client shares the caller's TGT")
	}
	for name, mutate := range map[string]func(*Ticket){
		"a service ticket": func(t *Ticket) { t.Server = types.NewPrincipalName(2, "HTTP/host") },
		"another realm":    func(t *Ticket) { t.SRealm, t.Server = "S", types.NewPrincipalName(2, "krbtgt/S") },
		"no session key":   func(t *Ticket) { t.SessionKey.KeyValue = nil },
		"no end time":      func(t *Ticket) { t.EndTime = time.Time{} },
		"RC4 not enabled":  func(t *Ticket) { t.SessionKey.KeyType = etypeRC4 },
	} {
		bad := tgt.Clone()
		mutate(bad)
		if _, err := NewClient(ClientConfig{TGT: bad, Config: config.New()}); err == nil || !status.CodeOf(err).IsError() {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := NewClient(ClientConfig{TGT: tgt, Principal: types.NewPrincipalName(1, "bob"), Realm: "R", Config: config.New()}); status.CodeOf(err) != status.SEC_E_NO_CREDENTIALS {
		t.Errorf("another client's TGT: %v", err)
	}
}
