// Package kdc is the client side of the Kerberos KDC exchanges (RFC 4120
// section 3.1 and 3.3): credentials from a password (AS exchange with
// encrypted-timestamp pre-authentication), a keytab, an existing ticket
// cache, or a TGT obtained elsewhere (one a client delegated, which no
// login can replace); service tickets from the TGS exchange, shared by concurrent callers
// and cached until shortly before they expire; and a KDC transport of its
// own (UDP and TCP on MIT's schedule, staggered failover remembered across
// exchanges, a context and a timeout on every exchange).
//
// The exchanges are sans-I/O operations (Op, in the manner of MIT's
// krb5_init_creds_step and krb5_tkt_creds_step): a Client's ServiceTicketOp,
// ForwardableTGTOp, TGTOp and LoginOp return a cached ticket or an Op, whose
// Next and Step hand out DER requests as mechs.IORequests and take the
// replies, so that an engine performs the I/O on its own side and the CPU
// work (building, decrypting, checking) stays on its workers. The Transport
// is the requests' Performer. The synchronous methods (Login, TGT,
// ServiceTicket, ForwardableTGT) drive the same operations, performing their
// requests inline.
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
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asyncsspi/asyncsspi/status"
	"github.com/jcmturner/gofork/encoding/asn1"
	"github.com/jcmturner/gokrb5/v8/config"
	"github.com/jcmturner/gokrb5/v8/credentials"
	"github.com/jcmturner/gokrb5/v8/keytab"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/types"
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

// Clone returns a deep copy of t: its session key, flags, names and
// ticket are the copy's own, so that wiping or changing one does not
// touch the other.
func (t *Ticket) Clone() *Ticket {
	if t == nil {
		return nil
	}
	c := *t
	c.Client = clonePrincipal(t.Client)
	c.Server = clonePrincipal(t.Server)
	c.Ticket.SName = clonePrincipal(t.Ticket.SName)
	c.Ticket.EncPart.Cipher = append([]byte(nil), t.Ticket.EncPart.Cipher...)
	c.Ticket.DecryptedEncPart = messages.EncTicketPart{}
	c.SessionKey.KeyValue = append([]byte(nil), t.SessionKey.KeyValue...)
	c.Flags.Bytes = append([]byte(nil), t.Flags.Bytes...)
	return &c
}

func clonePrincipal(p types.PrincipalName) types.PrincipalName {
	return types.PrincipalName{NameType: p.NameType, NameString: append([]string(nil), p.NameString...)}
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
// used, in this order of preference: Password, Keytab, CCache, TGT.
type ClientConfig struct {
	// Principal and Realm name the client. When empty they come from the
	// CCache's default principal, or the TGT's client; Realm defaults to
	// krb5.conf's default_realm.
	Principal types.PrincipalName
	Realm     string

	Password string              // the client's password, or
	Keytab   *keytab.Keytab      // a keytab with the client's keys, or
	CCache   *credentials.CCache // an existing ticket cache (KRB5CCNAME), or
	// TGT is a ticket-granting ticket for krbtgt/REALM of the client's
	// realm, obtained elsewhere: one a client delegated in a KRB-CRED,
	// say. The Client copies it, gets service tickets with it (and renews
	// it while it is renewable), but cannot log in: once it ends, the
	// Client's operations fail with SEC_E_NO_CREDENTIALS (ErrTGTEnded).
	TGT    *Ticket
	Config *config.Config // krb5.conf; nil loads it as LoadConfig does

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
// Concurrency: all methods are safe for concurrent use. Concurrent needs
// for one ticket share one operation (see Op), and so one exchange at a
// time: one TGS exchange per SPN, one AS exchange per login. A synchronous
// caller performs its operation's requests under its own context (and the
// Client's lifetime): when it gives up, the exchange it was performing ends
// and another caller waiting on the same operation takes it over.
//
// Goroutines: the Client starts none; its Transport starts one per
// connection while an exchange is under way. There is no background
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
	fromTGT      bool // started from ClientConfig.TGT
	now          func() time.Time
	renewBefore  time.Duration
	etypes       []int32
	skew         time.Duration
	keyPrefix    string        // of the Client's request keys, unique on its Transport
	rounds       atomic.Uint64 // numbers the Client's requests

	closeCtx context.Context
	cancel   context.CancelFunc
	closed   atomic.Bool

	// mu guards tgt, fwdTGT, tickets, bySPN, hint, pwKey and ops. It is never
	// held while an Op's lock is taken (an Op takes it under its own).
	// drivers counts synchronous callers; its Add happens under mu while
	// !closed, so Close's Wait (after it sets closed under mu) sees every
	// Add.
	mu      sync.RWMutex
	tgt     *Ticket
	fwdTGT  *Ticket
	tickets map[string]*Ticket // by canonical "svc/host@REALM"
	bySPN   map[string]*Ticket // by the caller's spelling, for a lookup without parsing
	hint    etypeInfo          // the ETYPE-INFO2 learnt from the KDC, for the next AS-REQ
	pwKey   derivedKey         // the key last derived from the password
	ops     map[string]*Op     // operations under way, shared, by what they obtain
	drivers sync.WaitGroup
}

// The keys of the Client's shared operations that are not for an SPN.
const (
	keyLogin   = "\x00login"
	keyTGT     = "\x00tgt"
	keyForward = "\x00forwarded"
)

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
		ops:         make(map[string]*Op),
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
	onlyTGT := c.password == "" && c.keytab == nil && c.ccache == nil && cfg.TGT != nil
	if onlyTGT && len(c.principal.NameString) == 0 {
		c.principal = cfg.TGT.Client
		if c.realm == "" {
			c.realm = cfg.TGT.CRealm
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
	if c.password == "" && c.keytab == nil && c.ccache == nil && cfg.TGT == nil {
		return nil, status.Errorf(status.SEC_E_NO_CREDENTIALS, mech, "kdc: no password, keytab, ticket cache or TGT")
	}
	c.etypes = pickEtypes(configuredEtypes(conf), cfg.AllowRC4)
	if onlyTGT {
		if err := c.takeTGT(cfg.TGT); err != nil {
			return nil, err
		}
	}
	if cfg.Transport != nil {
		c.transport = cfg.Transport
	} else {
		c.transport = NewTransport(WithProfile(ProfileFromConfig(conf)))
		c.ownTransport = true
	}
	c.keyPrefix = "kdc/" + strconv.FormatUint(c.transport.newClientID(), 10) + "/"
	c.closeCtx, c.cancel = context.WithCancel(context.Background())
	if c.ccache != nil {
		c.loadCCache()
	}
	return c, nil
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

// takeTGT starts the Client from a TGT obtained elsewhere: it must be a
// TGT of the Client's realm (krbtgt/REALM@REALM; cross-realm tickets are
// not supported) for the Client's principal, with a session key. It may
// have ended already: the Client's operations then fail with ErrTGTEnded.
func (c *Client) takeTGT(t *Ticket) error {
	switch {
	case !isTGS(t.Server, c.realm) || t.SRealm != c.realm:
		return status.Errorf(status.SEC_E_NO_CREDENTIALS, mech, fmt.Sprintf("kdc: the ticket is for %s@%s, not a TGT of realm %q", t.Server.PrincipalNameString(), t.SRealm, c.realm))
	case !samePrincipal(t.Client, c.principal) || t.CRealm != c.realm:
		return status.Errorf(status.SEC_E_NO_CREDENTIALS, mech, fmt.Sprintf("kdc: the TGT is for %s@%s, not %s@%s", t.Client.PrincipalNameString(), t.CRealm, c.principal.PrincipalNameString(), c.realm))
	case len(t.SessionKey.KeyValue) == 0 || t.EndTime.IsZero():
		return status.Errorf(status.SEC_E_NO_CREDENTIALS, mech, "kdc: the TGT has no session key or no end time")
	case !etypeAllowed(t.SessionKey.KeyType, containsEtype(c.etypes, etypeRC4)):
		return status.Errorf(status.SEC_E_KDC_UNKNOWN_ETYPE, mech, fmt.Sprintf("kdc: the TGT's session key is of enctype %d, which is not enabled", t.SessionKey.KeyType))
	}
	c.tgt, c.fromTGT = t.Clone(), true
	return nil
}

func isTGS(p types.PrincipalName, realm string) bool {
	return len(p.NameString) == 2 && p.NameString[0] == "krbtgt" && p.NameString[1] == realm
}

// Close ends the Client: synchronous callers' exchanges are cancelled and
// waited for, the operations under way fail with ErrClosed at their next
// step, and the Transport is closed if the Client made it. Later calls
// fail with ErrClosed (SEC_E_NO_CREDENTIALS).
func (c *Client) Close() error {
	c.mu.Lock()
	if c.closed.Load() {
		c.mu.Unlock()
		return nil
	}
	c.closed.Store(true)
	c.ops = make(map[string]*Op)
	c.mu.Unlock()
	c.cancel()
	c.drivers.Wait()
	c.transport.removeTaps(c.keyPrefix)
	if c.ownTransport {
		return c.transport.Close()
	}
	return nil
}

// closedErr is ErrClosed once the Client is closed.
func (c *Client) closedErr() error {
	if c.closed.Load() {
		return status.New(status.SEC_E_NO_CREDENTIALS, mech, ErrClosed)
	}
	return nil
}

// fresh reports whether t is valid and not yet due for replacement.
func (c *Client) fresh(t *Ticket) bool {
	now := c.now()
	return t.Valid(now, c.skew) && now.Before(t.renewAt(c.renewBefore))
}

// hasSecret reports whether the Client can log in (a password or keytab).
func (c *Client) hasSecret() bool { return c.password != "" || c.keytab != nil }

// Expiry is when the Client's credentials end: its TGT's end time once it
// has a TGT (from the ticket cache at once; from a password or keytab once
// the first login has happened), else the latest end among the service
// tickets of its ticket cache, else zero.
func (c *Client) Expiry() time.Time {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.tgt != nil {
		return c.tgt.EndTime
	}
	var end time.Time
	for _, t := range c.tickets {
		if t.EndTime.After(end) {
			end = t.EndTime
		}
	}
	return end
}

// CachedServiceTicket returns the cached ticket for spn if it is valid and
// not yet due for renewal. It does no I/O.
func (c *Client) CachedServiceTicket(spn string) (*Ticket, bool) {
	t, _, _, _ := c.lookup(spn)
	return t, t != nil
}

// lookup returns spn's cached ticket when it is fresh; otherwise spn read
// as a principal (or why it is not one).
func (c *Client) lookup(spn string) (*Ticket, types.PrincipalName, string, error) {
	c.mu.RLock()
	t := c.bySPN[spn]
	c.mu.RUnlock()
	if t != nil && c.fresh(t) {
		return t, types.PrincipalName{}, "", nil
	}
	// Another spelling of a cached principal (e.g. with "@REALM"), or a
	// spelling whose ticket was replaced.
	sname, realm, err := c.ParseSPN(spn)
	if err != nil {
		return nil, sname, realm, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if t = c.tickets[spnKey(sname, realm)]; t == nil || !c.fresh(t) {
		return nil, sname, realm, nil
	}
	if len(c.bySPN) < maxSPNSpellings || c.bySPN[spn] != nil {
		c.bySPN[spn] = t
	}
	return t, sname, realm, nil
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

// isKDCError reports whether err carries a KRB-ERROR with the given code.
func isKDCError(err error, code int32) bool {
	var ke *KDCError
	return errors.As(err, &ke) && ke.Code() == code
}
