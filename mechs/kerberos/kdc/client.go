// Package kdc is the client side of the Kerberos KDC exchanges (RFC 4120
// section 3.1 and 3.3): credentials from a password (AS exchange with
// encrypted-timestamp pre-authentication), a keytab or an existing ticket
// cache; service tickets from the TGS exchange, shared by concurrent callers
// and cached until shortly before they expire; and a KDC transport of its
// own (UDP with TCP fallback, staggered failover, a context and a timeout on
// every exchange).
//
// Messages, crypto, keytabs, ticket caches and krb5.conf parsing come from
// gokrb5 v8, used as a library; gokrb5's client (its network code, sessions
// and renewal goroutine) is not used.
//
// Every failure is a *status.Error carrying the SSPI status: a wrong
// password is SEC_E_LOGON_DENIED, an unknown service principal
// SEC_E_TARGET_UNKNOWN, clock skew SEC_E_TIME_SKEW, no KDC reachable
// SEC_E_NO_AUTHENTICATING_AUTHORITY. A KRB-ERROR stays reachable as a
// *KDCError with errors.As.
package kdc

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/asyncsspi/asyncsspi/status"
	"github.com/jcmturner/gofork/encoding/asn1"
	"github.com/jcmturner/gokrb5/v8/config"
	"github.com/jcmturner/gokrb5/v8/credentials"
	"github.com/jcmturner/gokrb5/v8/iana/errorcode"
	"github.com/jcmturner/gokrb5/v8/keytab"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/types"
	"golang.org/x/sync/singleflight"
)

// maxSPNSpellings bounds the cache keyed by the caller's SPN strings.
const maxSPNSpellings = 4096

// DefaultRenewBefore is how long before a ticket's end time it is replaced,
// when ClientConfig.RenewBefore is zero.
const DefaultRenewBefore = 5 * time.Minute

// Ticket is a ticket and what the KDC told the client about it (the
// decrypted part of the KDC reply, RFC 4120 section 5.4.2).
type Ticket struct {
	Client     types.PrincipalName
	CRealm     string
	Server     types.PrincipalName
	SRealm     string
	Ticket     messages.Ticket
	SessionKey types.EncryptionKey
	Flags      asn1.BitString
	AuthTime   time.Time
	StartTime  time.Time
	EndTime    time.Time
	RenewTill  time.Time
}

// HasFlag reports whether ticket flag bit (gokrb5's iana/flags numbering,
// RFC 4120 section 5.3: bit 0 is the most significant bit of the first
// byte) is set. A flag beyond a short bit string is unset.
func (t *Ticket) HasFlag(bit int) bool {
	if bit < 0 || bit/8 >= len(t.Flags.Bytes) {
		return false
	}
	return t.Flags.Bytes[bit/8]&(0x80>>(bit%8)) != 0
}

// Valid reports whether the ticket may be used at now: it has started
// (allowing skew) and not ended.
func (t *Ticket) Valid(now time.Time, skew time.Duration) bool {
	start := t.StartTime
	if start.IsZero() {
		start = t.AuthTime
	}
	return now.Before(t.EndTime) && !now.Add(skew).Before(start)
}

// renewAt is when the ticket should be replaced: renewBefore ahead of its
// end, but never earlier than half-way through its life (so that a short
// ticket is not replaced at every request).
func (t *Ticket) renewAt(renewBefore time.Duration) time.Time {
	start := t.StartTime
	if start.IsZero() {
		start = t.AuthTime
	}
	at := t.EndTime.Add(-renewBefore)
	if half := start.Add(t.EndTime.Sub(start) / 2); at.Before(half) {
		at = half
	}
	return at
}

// ClientConfig configures a Client. Exactly one source of credentials is
// used, in this order of preference: Password, Keytab, CCache.
type ClientConfig struct {
	// Principal and Realm name the client. When empty they come from the
	// CCache's default principal; Realm defaults to krb5.conf's
	// default_realm.
	Principal types.PrincipalName
	Realm     string

	Password string              // the client's password, or
	Keytab   *keytab.Keytab      // a keytab with the client's keys, or
	CCache   *credentials.CCache // an existing ticket cache (KRB5CCNAME)
	Config   *config.Config      // krb5.conf; nil loads it as LoadConfig does

	// Transport carries the KDC exchanges. When nil the Client makes one
	// from Config and closes it in Close; a given Transport is shared and
	// left open.
	Transport *Transport
	// Now replaces time.Now (tests).
	Now func() time.Time
	// AllowRC4 permits rc4-hmac (etype 23). Off, only AES-SHA1 (17, 18)
	// and AES-SHA2 (19, 20) are requested or accepted.
	AllowRC4 bool
	// RenewBefore: a ticket (TGT or service ticket) is replaced on the
	// first request this long before it expires. Zero means
	// DefaultRenewBefore; negative means only once expired.
	RenewBefore time.Duration
}

// Client obtains and caches tickets for one client principal.
//
// Concurrency: all methods are safe for concurrent use. Concurrent requests
// for one SPN share one TGS exchange (singleflight), and concurrent needs
// for a TGT share one AS exchange. The shared exchange runs under the
// Client's own lifetime (cancelled by Close) and the Transport's timeout, so
// a caller whose context ends gets its context's error at once without
// failing the others.
//
// Goroutines: the Client starts none except singleflight's one per shared
// exchange in flight; Close cancels them and waits. There is no background
// renewal: tickets are renewed on the first request that finds them due.
type Client struct {
	conf         *config.Config
	transport    *Transport
	ownTransport bool
	principal    types.PrincipalName
	realm        string
	password     string
	keytab       *keytab.Keytab
	ccache       *credentials.CCache
	now          func() time.Time
	renewBefore  time.Duration
	etypes       []int32
	skew         time.Duration

	closeCtx context.Context
	cancel   context.CancelFunc
	flights  singleflight.Group

	// mu guards closed, tgt, fwdTGT, tickets, bySPN and hint. ops counts running
	// operations; its Add happens under mu while !closed, so Close's Wait
	// (after it sets closed under mu) sees every Add.
	mu      sync.RWMutex
	closed  bool
	tgt     *Ticket
	fwdTGT  *Ticket
	tickets map[string]*Ticket // by canonical "svc/host@REALM"
	bySPN   map[string]*Ticket // by the caller's spelling, for a lookup without parsing
	hint    etypeInfo          // the ETYPE-INFO2 learnt from the KDC, for the next AS-REQ
	ops     sync.WaitGroup
}

// Supported encryption types (RFC 3962, RFC 8009, RFC 4757 for RC4).
const (
	etypeAES128SHA1 int32 = 17
	etypeAES256SHA1 int32 = 18
	etypeAES128SHA2 int32 = 19
	etypeAES256SHA2 int32 = 20
	etypeRC4        int32 = 23
)

// defaultEtypes returns MIT 1.20's default order among what this package
// allows.
func defaultEtypes() []int32 {
	return []int32{etypeAES256SHA1, etypeAES128SHA1, etypeAES256SHA2, etypeAES128SHA2}
}

// NewClient checks cfg and returns a Client. It does no I/O beyond reading
// krb5.conf when cfg.Config is nil.
func NewClient(cfg ClientConfig) (*Client, error) {
	conf := cfg.Config
	if conf == nil {
		var err error
		if conf, err = LoadConfig(); err != nil {
			return nil, status.New(status.SEC_E_NO_CREDENTIALS, mech, err)
		}
	}
	c := &Client{
		conf:        conf,
		principal:   cfg.Principal,
		realm:       cfg.Realm,
		password:    cfg.Password,
		keytab:      cfg.Keytab,
		ccache:      cfg.CCache,
		now:         cfg.Now,
		renewBefore: cfg.RenewBefore,
		skew:        conf.LibDefaults.Clockskew,
		tickets:     make(map[string]*Ticket),
		bySPN:       make(map[string]*Ticket),
	}
	if c.now == nil {
		c.now = time.Now
	}
	if c.renewBefore == 0 {
		c.renewBefore = DefaultRenewBefore
	} else if c.renewBefore < 0 {
		c.renewBefore = 0
	}
	if c.skew <= 0 {
		c.skew = 5 * time.Minute
	}
	if c.ccache != nil && len(c.principal.NameString) == 0 {
		c.principal = c.ccache.DefaultPrincipal.PrincipalName
		if c.realm == "" {
			c.realm = c.ccache.DefaultPrincipal.Realm
		}
	}
	if c.realm == "" {
		c.realm = conf.LibDefaults.DefaultRealm
	}
	if len(c.principal.NameString) == 0 {
		return nil, status.Errorf(status.SEC_E_NO_CREDENTIALS, mech, "kdc: no client principal")
	}
	if c.realm == "" {
		return nil, status.Errorf(status.SEC_E_NO_CREDENTIALS, mech, "kdc: no realm (and no default_realm in krb5.conf)")
	}
	if c.password == "" && c.keytab == nil && c.ccache == nil {
		return nil, status.Errorf(status.SEC_E_NO_CREDENTIALS, mech, "kdc: no password, keytab or ticket cache")
	}
	c.etypes = pickEtypes(configuredEtypes(conf), cfg.AllowRC4)
	if cfg.Transport != nil {
		c.transport = cfg.Transport
	} else {
		c.transport = NewTransport(WithConfig(conf))
		c.ownTransport = true
	}
	c.closeCtx, c.cancel = context.WithCancel(context.Background())
	if c.ccache != nil {
		c.loadCCache()
	}
	return c, nil
}

// configuredEtypes returns default_tkt_enctypes when krb5.conf sets it, or
// nil when it holds gokrb5's built-in list (which lacks AES-SHA2).
func configuredEtypes(conf *config.Config) []int32 {
	builtin := config.New().LibDefaults.DefaultTktEnctypes
	got := conf.LibDefaults.DefaultTktEnctypes
	if len(got) == len(builtin) {
		same := true
		for i := range got {
			if got[i] != builtin[i] {
				same = false
				break
			}
		}
		if same {
			return nil
		}
	}
	return conf.LibDefaults.DefaultTktEnctypeIDs
}

// pickEtypes keeps the configured enctypes this package allows, in the
// configured order; with none left it uses defaultEtypes.
func pickEtypes(configured []int32, allowRC4 bool) []int32 {
	var out []int32
	for _, e := range configured {
		if etypeAllowed(e, allowRC4) && !containsEtype(out, e) {
			out = append(out, e)
		}
	}
	if len(out) == 0 {
		out = defaultEtypes()
		if allowRC4 {
			out = append(out, etypeRC4)
		}
	}
	return out
}

func etypeAllowed(e int32, allowRC4 bool) bool {
	switch e {
	case etypeAES128SHA1, etypeAES256SHA1, etypeAES128SHA2, etypeAES256SHA2:
		return true
	case etypeRC4:
		return allowRC4
	}
	return false
}

func containsEtype(l []int32, e int32) bool {
	for _, x := range l {
		if x == e {
			return true
		}
	}
	return false
}

// Principal returns the client principal and realm.
func (c *Client) Principal() (types.PrincipalName, string) { return c.principal, c.realm }

// Etypes returns the encryption types the Client requests, in order.
func (c *Client) Etypes() []int32 { return append([]int32(nil), c.etypes...) }

// Transport returns the Transport the Client uses.
func (c *Client) Transport() *Transport { return c.transport }

// loadCCache takes the TGT and any service tickets from the ticket cache.
func (c *Client) loadCCache() {
	now := c.now()
	for _, cred := range c.ccache.GetEntries() {
		if !cred.Client.PrincipalName.Equal(c.principal) || cred.Client.Realm != c.realm || cred.IsSKey {
			continue
		}
		var tkt messages.Ticket
		if err := tkt.Unmarshal(cred.Ticket); err != nil {
			continue
		}
		t := &Ticket{
			Client: cred.Client.PrincipalName, CRealm: cred.Client.Realm,
			Server: cred.Server.PrincipalName, SRealm: cred.Server.Realm,
			Ticket: tkt, SessionKey: cred.Key, Flags: cred.TicketFlags,
			AuthTime: cred.AuthTime, StartTime: cred.StartTime, EndTime: cred.EndTime, RenewTill: cred.RenewTill,
		}
		if !now.Before(t.EndTime) {
			continue
		}
		if isTGS(t.Server, c.realm) && t.SRealm == c.realm {
			if c.tgt == nil || t.EndTime.After(c.tgt.EndTime) {
				c.tgt = t
			}
			continue
		}
		key := spnKey(t.Server, t.SRealm)
		if old := c.tickets[key]; old == nil || t.EndTime.After(old.EndTime) {
			c.tickets[key] = t
		}
	}
}

func isTGS(p types.PrincipalName, realm string) bool {
	return len(p.NameString) == 2 && p.NameString[0] == "krbtgt" && p.NameString[1] == realm
}

// Close cancels the Client's exchanges in flight, waits for them, and closes
// the Transport if the Client made it. Later calls fail with ErrClosed
// (SEC_E_NO_CREDENTIALS).
func (c *Client) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	c.mu.Unlock()
	c.cancel()
	c.ops.Wait()
	if c.ownTransport {
		return c.transport.Close()
	}
	return nil
}

// enter registers an operation; it fails once the Client is closed.
func (c *Client) enter() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return status.New(status.SEC_E_NO_CREDENTIALS, mech, ErrClosed)
	}
	c.ops.Add(1)
	return nil
}

// shared runs fn once for all concurrent callers with the same key and
// returns its result to each. fn runs under the Client's lifetime context;
// each caller waits under its own ctx.
func (c *Client) shared(ctx context.Context, key string, fn func(ctx context.Context) (*Ticket, error)) (*Ticket, error) {
	if err := c.enter(); err != nil {
		return nil, err
	}
	defer c.ops.Done()
	ch := c.flights.DoChan(key, func() (any, error) {
		// This runs on singleflight's goroutine, possibly after the
		// caller that started it has given up; register it so that Close
		// waits for it.
		if err := c.enter(); err != nil {
			return nil, err
		}
		defer c.ops.Done()
		return fn(c.closeCtx)
	})
	select {
	case r := <-ch:
		if r.Err != nil {
			return nil, r.Err
		}
		return r.Val.(*Ticket), nil
	case <-ctx.Done():
		return nil, noAuthority(ctxCause(ctx))
	}
}

// Login obtains a new TGT: an AS exchange when the Client has a password or
// keytab, otherwise it checks that the ticket cache holds a valid TGT.
func (c *Client) Login(ctx context.Context) error {
	_, err := c.shared(ctx, "\x00login", func(ctx context.Context) (*Ticket, error) {
		if c.password == "" && c.keytab == nil {
			c.mu.Lock()
			tgt := c.tgt
			c.mu.Unlock()
			if tgt == nil || !tgt.Valid(c.now(), c.skew) {
				return nil, status.Errorf(status.SEC_E_NO_CREDENTIALS, mech, "kdc: the ticket cache holds no valid TGT and there is no password or keytab")
			}
			return tgt, nil
		}
		return c.asLogin(ctx)
	})
	return err
}

// TGT returns a valid TGT, logging in or renewing it when it is missing or
// due.
func (c *Client) TGT(ctx context.Context) (*Ticket, error) {
	c.mu.Lock()
	tgt := c.tgt
	c.mu.Unlock()
	if tgt != nil && c.fresh(tgt) {
		return tgt, nil
	}
	return c.shared(ctx, "\x00tgt", c.refreshTGT)
}

// fresh reports whether t is valid and not yet due for replacement.
func (c *Client) fresh(t *Ticket) bool {
	now := c.now()
	return t.Valid(now, c.skew) && now.Before(t.renewAt(c.renewBefore))
}

// refreshTGT replaces a missing or due TGT: a renewal (TGS exchange with
// the RENEW option, RFC 4120 section 3.3.3) while the TGT is renewable,
// else a new AS exchange when a password or keytab is at hand. If neither
// works but the current TGT is still valid, it is kept.
func (c *Client) refreshTGT(ctx context.Context) (*Ticket, error) {
	c.mu.Lock()
	tgt := c.tgt
	c.mu.Unlock()
	if tgt != nil && c.fresh(tgt) {
		return tgt, nil // refreshed by the flight before this one
	}
	now := c.now()
	var err error
	if tgt != nil && tgt.Valid(now, c.skew) && tgt.HasFlag(flagRenewable) && now.Before(tgt.RenewTill) {
		var nt *Ticket
		if nt, err = c.tgsExchange(ctx, tgt, tgt.Server, tgt.SRealm, optRenew); err == nil {
			c.mu.Lock()
			c.tgt = nt
			c.mu.Unlock()
			return nt, nil
		}
	}
	if c.password != "" || c.keytab != nil {
		return c.asLogin(ctx)
	}
	if tgt != nil && tgt.Valid(now, c.skew) {
		return tgt, nil
	}
	if err != nil {
		return nil, err
	}
	return nil, status.Errorf(status.SEC_E_NO_CREDENTIALS, mech, "kdc: the TGT has expired and there is no password or keytab to obtain another")
}

// CachedServiceTicket returns the cached ticket for spn if it is valid and
// not yet due for renewal. It does no I/O.
func (c *Client) CachedServiceTicket(spn string) (*Ticket, bool) {
	c.mu.RLock()
	t := c.bySPN[spn]
	c.mu.RUnlock()
	if t == nil {
		// Another spelling of a cached principal (e.g. with "@REALM").
		sname, realm, err := c.ParseSPN(spn)
		if err != nil {
			return nil, false
		}
		c.mu.RLock()
		t = c.tickets[spnKey(sname, realm)]
		c.mu.RUnlock()
	}
	if t == nil || !c.fresh(t) {
		return nil, false
	}
	return t, true
}

// ServiceTicket returns a ticket for spn ("service/host", optionally
// "@REALM"; "service@host" is read as the host-based name service/host):
// from the cache when one is valid and not due for renewal, else from a TGS
// exchange (after an AS exchange if there is no TGT yet). Concurrent callers
// for one SPN share one TGS exchange. If a due ticket cannot be replaced but
// is still valid, it is returned. The returned Ticket is shared with other
// callers: treat it as read-only.
func (c *Client) ServiceTicket(ctx context.Context, spn string) (*Ticket, error) {
	if t, ok := c.CachedServiceTicket(spn); ok {
		return t, nil
	}
	sname, realm, err := c.ParseSPN(spn)
	if err != nil {
		return nil, err
	}
	key := spnKey(sname, realm)
	c.mu.RLock()
	cached := c.tickets[key]
	c.mu.RUnlock()
	t, err := c.shared(ctx, key, func(ctx context.Context) (*Ticket, error) {
		c.mu.RLock()
		cur := c.tickets[key]
		c.mu.RUnlock()
		if cur != nil && c.fresh(cur) {
			return cur, nil
		}
		tgt, err := c.TGT(ctx)
		if err != nil {
			return nil, err
		}
		t, err := c.tgsExchange(ctx, tgt, sname, realm, 0)
		if isKDCError(err, errorcode.KRB_AP_ERR_TKT_EXPIRED) && (c.password != "" || c.keytab != nil) {
			// The KDC holds the TGT expired (clocks differ): log in
			// again once and retry.
			if tgt, err = c.asLogin(ctx); err == nil {
				t, err = c.tgsExchange(ctx, tgt, sname, realm, 0)
			}
		}
		if err != nil {
			return nil, err
		}
		c.mu.Lock()
		c.tickets[key] = t
		c.mu.Unlock()
		return t, nil
	})
	if err != nil && cached != nil && cached.Valid(c.now(), c.skew) && status.CodeOf(err) != status.SEC_E_NO_CREDENTIALS {
		t, err = cached, nil
	}
	if err == nil {
		c.mu.Lock()
		if len(c.bySPN) < maxSPNSpellings || c.bySPN[spn] != nil {
			c.bySPN[spn] = t
		}
		c.mu.Unlock()
	}
	return t, err
}

// ForwardableTGT returns a TGT for delegation (a KRB-CRED, RFC 4120 section
// 3.6): a ticket for krbtgt/REALM marked FORWARDED, obtained from the TGT
// with the FORWARDED option (RFC 4120 section 2.6) and cached like a
// service ticket. It fails with SEC_E_DELEGATION_POLICY when the TGT is not
// forwardable.
func (c *Client) ForwardableTGT(ctx context.Context) (*Ticket, error) {
	c.mu.Lock()
	cached := c.fwdTGT
	c.mu.Unlock()
	if cached != nil && c.fresh(cached) {
		return cached, nil
	}
	return c.shared(ctx, "\x00forwarded", func(ctx context.Context) (*Ticket, error) {
		c.mu.Lock()
		cur := c.fwdTGT
		c.mu.Unlock()
		if cur != nil && c.fresh(cur) {
			return cur, nil
		}
		tgt, err := c.TGT(ctx)
		if err != nil {
			return nil, err
		}
		if !tgt.HasFlag(flagForwardable) {
			return nil, status.New(status.SEC_E_DELEGATION_POLICY, mech, ErrNotForwardable)
		}
		t, err := c.tgsExchange(ctx, tgt, tgt.Server, tgt.SRealm, optForwarded)
		if err != nil {
			return nil, err
		}
		c.mu.Lock()
		c.fwdTGT = t
		c.mu.Unlock()
		return t, nil
	})
}

// ParseSPN reads a service principal name: "service/host[@REALM]" (a
// KRB_NT_SRV_INST name), or the GSS host-based form "service@host" (read
// as service/host, KRB_NT_SRV_HST). The realm defaults to the client's;
// a trailing "@REALM" is split at the last '@'.
func (c *Client) ParseSPN(spn string) (types.PrincipalName, string, error) {
	if spn == "" {
		return types.PrincipalName{}, "", status.Errorf(status.SEC_E_TARGET_UNKNOWN, mech, "kdc: empty SPN")
	}
	realm := c.realm
	if !strings.Contains(spn, "/") {
		svc, host, ok := strings.Cut(spn, "@")
		if !ok || svc == "" || host == "" {
			return types.PrincipalName{}, "", status.Errorf(status.SEC_E_TARGET_UNKNOWN, mech, fmt.Sprintf("kdc: SPN %q is neither service/host nor service@host", spn))
		}
		return types.PrincipalName{NameType: ntSrvHst, NameString: []string{svc, host}}, realm, nil
	}
	name := spn
	if i := strings.LastIndex(spn, "@"); i >= 0 {
		name, realm = spn[:i], spn[i+1:]
		if realm == "" {
			realm = c.realm
		}
	}
	parts := strings.Split(name, "/")
	for _, p := range parts {
		if p == "" {
			return types.PrincipalName{}, "", status.Errorf(status.SEC_E_TARGET_UNKNOWN, mech, fmt.Sprintf("kdc: SPN %q has an empty component", spn))
		}
	}
	if realm != c.realm {
		return types.PrincipalName{}, "", status.Errorf(status.SEC_E_TARGET_UNKNOWN, mech, fmt.Sprintf("kdc: SPN %q is in realm %q; cross-realm tickets are not supported (client realm %q)", spn, realm, c.realm))
	}
	return types.PrincipalName{NameType: ntSrvInst, NameString: parts}, realm, nil
}

// spnKey is the cache key of a service principal: its components and realm
// (the name type does not change which principal is meant).
func spnKey(p types.PrincipalName, realm string) string {
	return strings.Join(p.NameString, "/") + "@" + realm
}

// nonce returns a random 31-bit KDC-REQ nonce (RFC 4120 section 5.4.1:
// UInt32; MIT and Windows keep it positive).
func nonce() (int, error) {
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		return 0, err
	}
	return int(binary.BigEndian.Uint32(b[:]) & 0x7fffffff), nil
}

// errClosedOr maps a failure after Close to ErrClosed.
func (c *Client) errClosedOr(err error) error {
	if c.closeCtx.Err() != nil && errors.Is(err, context.Canceled) {
		return status.New(status.SEC_E_NO_CREDENTIALS, mech, ErrClosed)
	}
	return err
}

// isKDCError reports whether err carries a KRB-ERROR with the given code.
func isKDCError(err error, code int32) bool {
	var ke *KDCError
	return errors.As(err, &ke) && ke.Code() == code
}
