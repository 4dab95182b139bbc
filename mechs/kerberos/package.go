// Package kerberos is the Kerberos security package ("Kerberos"): the krb5
// GSS-API mechanism of RFC 4121 over the AP exchange of RFC 4120, as a
// synchronous, sans-I/O state machine behind the mechs interfaces.
//
// The initiator's first leg takes its service ticket from the credential's
// ticket cache. On a miss it joins (or starts) the credential's kdc.Op for
// that ticket and returns its request, a DER TGS-REQ (or AS-REQ, when the
// TGT is missing or due) built on the CPU worker, as an IORequest whose
// Performer is the credential's kdc.Transport; the next Step checks the
// reply and either returns the next request or builds the AP-REQ. Legs
// that need the same ticket return the same request, so the engine
// performs one exchange for all of them. Steps never do network I/O
// themselves.
//
// Messages are parsed with golang.org/x/crypto/cryptobyte and written
// with its Builder (the handshake's own messages sized ahead and written
// in place, see der_sized.go), and per-key AES schedules and HMAC states
// are cached, because gokrb5's reflection-based ASN.1 and per-call key
// derivation dominate its cost.
// gokrb5 v8 is used for key derivation of the SHA-1 enctypes, RC4,
// keytabs, ticket caches and krb5.conf.
//
// Credentials (AcquireCredentials' AuthData):
//
//   - outbound: a *secctx.AuthIdentity{User, Domain (the realm), Password}
//     for a password login; a *Keytab with the client's keys (Principal
//     names the client, "user@REALM"; default: the keytab's first
//     principal); a *CCache; a *TGT, a ticket-granting ticket obtained
//     elsewhere (the one a client delegated to this service, which an
//     acceptor's context gives as
//     secctx.SECPKG_ATTR_ASYNCSSPI_DELEGATED_CREDENTIAL): service tickets
//     come from the TGS exchange, and the credential ends with the TGT;
//     *ServiceTickets, tickets obtained elsewhere, with no KDC; or nil for
//     the ticket cache named by KRB5CCNAME.
//   - inbound: a *Keytab, or nil for the keytab named by KRB5_KTNAME
//     (default /etc/krb5.keytab). Principal, when set, restricts the
//     acceptor to that service principal ("HTTP/host" or
//     "HTTP/host@REALM"); when empty, any principal in the keytab is
//     accepted, as MIT's GSS_C_NO_NAME acceptor does.
//
// Each credential owns its kdc.Client and, unless WithTransport gave one,
// its kdc.Transport; Close closes both. What the Transports learn about a
// realm's KDCs (which answered, over which transport) is shared by every
// credential of the Package through one kdc.Hints, for kdc.DefaultHintTTL
// after it was last learnt.
package kerberos

import (
	"errors"
	"os"
	"strings"
	"time"

	secctx "github.com/asyncsspi/asyncsspi/context"
	"github.com/asyncsspi/asyncsspi/mechs"
	"github.com/asyncsspi/asyncsspi/mechs/kerberos/kdc"
	"github.com/asyncsspi/asyncsspi/replay"
	"github.com/asyncsspi/asyncsspi/status"
	"github.com/jcmturner/gokrb5/v8/config"
	"github.com/jcmturner/gokrb5/v8/credentials"
	"github.com/jcmturner/gokrb5/v8/keytab"
)

// Name is the SSPI package name.
const Name = secctx.MICROSOFT_KERBEROS_NAME

// DefaultMaxSkew is the clock skew allowed between peers (RFC 4120
// section 1.6's customary five minutes, MIT's clockskew default).
const DefaultMaxSkew = 5 * time.Minute

// Keytab is the AuthData for a credential backed by a keytab: the
// acceptor's service keys (inbound), or a client's keys (outbound). Give
// either a loaded Keytab or a Path.
type Keytab struct {
	Keytab *keytab.Keytab
	Path   string
}

// CCache is the AuthData for an outbound credential backed by an MIT
// ticket cache (a FILE: cache): either a loaded CCache or a Path.
type CCache struct {
	CCache *credentials.CCache
	Path   string
}

// Package is the Kerberos security package. Make it with New; it is safe
// for concurrent use and holds no per-handshake state.
type Package struct {
	config      *config.Config
	configPath  string
	transport   *kdc.Transport
	hints       *kdc.Hints // shared by the Transports of the Package's credentials
	clock       func() time.Time
	maxSkew     time.Duration
	allowRC4    bool
	rcache      replay.Cache
	requireBind bool
}

// Option configures a Package.
type Option func(*Package)

// WithConfig uses c as krb5.conf.
func WithConfig(c *config.Config) Option { return func(p *Package) { p.config = c } }

// WithConfigFile reads krb5.conf from path (instead of KRB5_CONFIG) when
// a credential is acquired.
func WithConfigFile(path string) Option { return func(p *Package) { p.configPath = path } }

// WithTransport shares one KDC transport among the package's credentials.
// The package does not close it. Without it, each credential makes its
// own Transport (closed with the credential), and they share what they
// learn about the KDCs.
func WithTransport(t *kdc.Transport) Option { return func(p *Package) { p.transport = t } }

// WithClock replaces time.Now.
func WithClock(now func() time.Time) Option { return func(p *Package) { p.clock = now } }

// WithMaxSkew sets the clock skew an acceptor allows (default 5 minutes;
// zero or negative keeps the default). It also bounds how long the replay
// cache keeps an authenticator.
func WithMaxSkew(d time.Duration) Option {
	return func(p *Package) {
		if d > 0 {
			p.maxSkew = d
		}
	}
}

// WithRC4 allows rc4-hmac (etype 23) tickets and keys. Per-message tokens
// for RC4 (RFC 4757's format) are not implemented.
func WithRC4(allow bool) Option { return func(p *Package) { p.allowRC4 = allow } }

// WithReplayCache makes the package's acceptors record authenticators in
// c instead of the process's default cache (see DefaultReplayCache): a
// cache of its own, say, or one kept on another host for a fleet (a
// replay.Cache that also implements mechs.IOPerformer is asked on the
// engine's I/O side; see package replay).
func WithReplayCache(c replay.Cache) Option { return func(p *Package) { p.rcache = c } }

// WithRequireBindings makes acceptors refuse an initiator that sent no
// channel bindings when the acceptor has some (SEC_E_BAD_BINDINGS). By
// default such an initiator is accepted, as Windows does when Extended
// Protection is not required, and as MIT does.
func WithRequireBindings(require bool) Option { return func(p *Package) { p.requireBind = require } }

// New returns the Kerberos package.
func New(opts ...Option) *Package {
	p := &Package{clock: time.Now, maxSkew: DefaultMaxSkew, hints: kdc.NewHints(0)}
	for _, o := range opts {
		o(p)
	}
	return p
}

func (p *Package) now() time.Time { return p.clock() }

// Name returns "Kerberos".
func (p *Package) Name() string { return Name }

// Info describes the package as QuerySecurityPackageInfo does.
func (p *Package) Info() secctx.PackageInfo {
	return secctx.PackageInfo{
		Capabilities: secctx.SECPKG_FLAG_INTEGRITY | secctx.SECPKG_FLAG_PRIVACY | secctx.SECPKG_FLAG_TOKEN_ONLY |
			secctx.SECPKG_FLAG_DATAGRAM | secctx.SECPKG_FLAG_CONNECTION | secctx.SECPKG_FLAG_EXTENDED_ERROR |
			secctx.SECPKG_FLAG_IMPERSONATION | secctx.SECPKG_FLAG_ACCEPT_WIN32_NAME | secctx.SECPKG_FLAG_NEGOTIABLE |
			secctx.SECPKG_FLAG_GSS_COMPATIBLE | secctx.SECPKG_FLAG_LOGON | secctx.SECPKG_FLAG_MUTUAL_AUTH |
			secctx.SECPKG_FLAG_DELEGATION,
		Version:  1,
		RPCID:    16, // RPC_C_AUTHN_GSS_KERBEROS
		MaxToken: maxToken,
		Name:     Name,
		Comment:  "Kerberos (RFC 4120, RFC 4121)",
	}
}

func (p *Package) loadConfig() (*kdc.Profile, error) {
	if p.config != nil {
		return kdc.ProfileFromConfig(p.config), nil
	}
	if p.configPath != "" {
		return kdc.LoadProfileFile(p.configPath)
	}
	return kdc.LoadProfile()
}

// AcquireCredentials prepares a credential (see the package comment for
// AuthData). It does no network I/O.
func (p *Package) AcquireCredentials(req mechs.CredentialRequest) (mechs.Credential, error) {
	use := req.Use & secctx.SECPKG_CRED_BOTH
	if use == 0 {
		return nil, status.Errorf(status.SEC_E_INVALID_PARAMETER, Name, "credential use must be inbound, outbound or both")
	}
	c := &credential{pkg: p, use: use, principal: req.Principal}
	if use.Outbound() {
		if err := c.acquireOutbound(req); err != nil {
			return nil, err
		}
	}
	if use.Inbound() {
		if err := c.acquireInbound(req); err != nil {
			if _, kt := req.AuthData.(*Keytab); use.Outbound() && !kt {
				// SECPKG_CRED_BOTH without service keys: the outbound
				// half still serves; NewAcceptor will say
				// SEC_E_NO_CREDENTIALS.
				return c, nil
			}
			c.Close()
			return nil, err
		}
	}
	return c, nil
}

func (c *credential) acquireOutbound(req mechs.CredentialRequest) error {
	p := c.pkg
	prof, err := p.loadConfig()
	if err != nil {
		return status.New(status.SEC_E_NO_CREDENTIALS, Name, err)
	}
	cfg := prof.Config
	kc := kdc.ClientConfig{Config: cfg, Transport: p.transport, Now: p.clock, AllowRC4: p.allowRC4}
	user, realm := secctx.SplitUser(req.Principal)
	switch ad := req.AuthData.(type) {
	case *secctx.AuthIdentity:
		if ad.User != "" {
			user, realm = secctx.SplitUser(ad.User)
		}
		if ad.Domain != "" {
			realm = ad.Domain
		}
		if user == "" {
			return status.Errorf(status.SEC_E_NO_CREDENTIALS, Name, "no user name in the identity")
		}
		kc.Password = ad.Password
		if kc.Password == "" {
			return status.Errorf(status.SEC_E_NO_CREDENTIALS, Name, "empty password")
		}
	case *Keytab:
		kt, err := ad.load()
		if err != nil {
			return err
		}
		kc.Keytab = kt
		if user == "" && len(kt.Entries) > 0 {
			// As kinit -k does: the keytab's first principal.
			e := kt.Entries[0]
			user = strings.Join(e.Principal.Components, "/")
			if realm == "" {
				realm = e.Principal.Realm
			}
		}
		if user == "" {
			return status.Errorf(status.SEC_E_NO_CREDENTIALS, Name, "a keytab credential needs the client principal (user@REALM)")
		}
	case *CCache:
		cc := ad.CCache
		if cc == nil {
			if cc, err = credentials.LoadCCache(ad.Path); err != nil {
				return status.New(status.SEC_E_NO_CREDENTIALS, Name, err)
			}
		}
		kc.CCache = cc
	case *TGT:
		if ad == nil || ad.Ticket == nil {
			return status.Errorf(status.SEC_E_NO_CREDENTIALS, Name, "a TGT credential needs the ticket")
		}
		t := ad.Ticket
		if user != "" && (user != t.Client.PrincipalNameString() || (realm != "" && !strings.EqualFold(realm, t.CRealm))) {
			return status.Errorf(status.SEC_E_UNKNOWN_CREDENTIALS, Name, "the TGT is for "+quote(t.Client.PrincipalNameString()+"@"+t.CRealm)+", not "+quote(req.Principal))
		}
		// The client is the ticket's, exactly as the KDC named it.
		kc.TGT, kc.Principal = t, t.Client
		user, realm = "", t.CRealm
	case *ServiceTickets:
		src, r, err := newStaticSource(ad)
		if err != nil {
			return err
		}
		c.src, c.realm = src, r
		if c.principal == "" {
			for _, t := range ad.Tickets {
				if t != nil {
					c.principal = t.Client.PrincipalNameString() + "@" + t.CRealm
					break
				}
			}
		}
		return nil
	case nil:
		cc, err := kdc.LoadCCache()
		if err != nil {
			return status.New(status.SEC_E_NO_CREDENTIALS, Name, err)
		}
		kc.CCache = cc
	default:
		return status.Errorf(status.SEC_E_UNKNOWN_CREDENTIALS, Name, "unsupported AuthData type for Kerberos")
	}
	if kc.Transport == nil {
		// The credential's own Transport, which learns with the others
		// of the Package; the credential closes it, or it is closed here
		// if no client comes of it.
		own := kdc.NewTransport(kdc.WithProfile(prof), kdc.WithHints(p.hints))
		kc.Transport = own
		defer func() {
			if c.client == nil {
				own.Close()
				return
			}
			c.transport = own
		}()
	}
	if user != "" {
		kc.Principal = principalName(nameTypePrincipal, strings.Split(user, "/"))
	}
	if strings.EqualFold(realm, "") && cfg != nil {
		realm = cfg.LibDefaults.DefaultRealm
	}
	kc.Realm = canonicalRealm(cfg, realm)
	client, err := kdc.NewClient(kc)
	if err != nil {
		if status.CodeOf(err) == status.SEC_E_INTERNAL_ERROR {
			return status.New(status.SEC_E_NO_CREDENTIALS, Name, err)
		}
		return err
	}
	pn, r := client.Principal()
	c.client = client
	c.src = newKDCSource(client)
	c.realm = r
	if c.principal == "" {
		c.principal = pn.PrincipalNameString() + "@" + r
	}
	return nil
}

func (k *Keytab) load() (*keytab.Keytab, error) {
	if k == nil {
		return nil, status.Errorf(status.SEC_E_NO_CREDENTIALS, Name, "nil keytab")
	}
	if k.Keytab != nil {
		return k.Keytab, nil
	}
	kt, err := keytab.Load(k.Path)
	if err != nil {
		return nil, status.New(status.SEC_E_NO_CREDENTIALS, Name, err)
	}
	return kt, nil
}

func (c *credential) acquireInbound(req mechs.CredentialRequest) error {
	var kt *keytab.Keytab
	switch ad := req.AuthData.(type) {
	case *Keytab:
		var err error
		if kt, err = ad.load(); err != nil {
			return err
		}
	case nil, *secctx.AuthIdentity:
		// An inbound credential needs service keys; an identity (for the
		// outbound half of SECPKG_CRED_BOTH) says nothing about them, so
		// the default keytab serves, as it does for MIT.
		path := os.Getenv("KRB5_KTNAME")
		path = strings.TrimPrefix(path, "FILE:")
		if path == "" {
			path = "/etc/krb5.keytab"
		}
		var err error
		if kt, err = keytab.Load(path); err != nil {
			return status.New(status.SEC_E_NO_CREDENTIALS, Name, err)
		}
	default:
		// With SECPKG_CRED_BOTH, AcquireCredentials keeps the outbound
		// half and NewAcceptor says SEC_E_NO_CREDENTIALS.
		return status.Errorf(status.SEC_E_UNKNOWN_CREDENTIALS, Name, "unsupported AuthData type for an inbound Kerberos credential")
	}
	acc, err := newAcceptorKeys(kt, req.Principal, c.pkg)
	if err != nil {
		return err
	}
	c.acc = acc
	return nil
}

// credential is an acquired Kerberos credential.
type credential struct {
	pkg       *Package
	use       secctx.CredentialUse
	principal string

	// outbound
	client    *kdc.Client
	transport *kdc.Transport // the client's, when the credential made it
	src       ticketSource
	realm     string

	// inbound
	acc *acceptorKeys
}

func (c *credential) Package() string           { return Name }
func (c *credential) Use() secctx.CredentialUse { return c.use }
func (c *credential) Principal() string         { return c.principal }

// Expiry is when the credential's TGT ends, as Windows reports for a
// logged-on credential: from a ticket cache at once, from a password or
// keytab once the first exchange has obtained the TGT (zero before); for
// a credential of service tickets, the latest end among them. An inbound
// credential has none (zero).
func (c *credential) Expiry() time.Time {
	if e, ok := c.src.(interface{ expiry() time.Time }); ok {
		return e.expiry()
	}
	return time.Time{}
}

// Close closes the credential's kdc.Client (which waits for its
// synchronous callers) and the Transport the credential made (which
// cancels its exchanges in flight). Contexts made from the credential
// keep their keys.
func (c *credential) Close() error {
	var err error
	if c.src != nil {
		err = c.src.close()
	}
	if c.transport != nil {
		if terr := c.transport.Close(); err == nil {
			err = terr
		}
	}
	return err
}

// NewInitiator starts a client context for target: "service/host",
// "service/host@REALM" or the GSS host-based form "service@host".
func (c *credential) NewInitiator(p mechs.InitiatorParams) (mechs.SecurityContext, error) {
	if c.src == nil {
		return nil, status.Errorf(status.SEC_E_NO_CREDENTIALS, Name, "the credential is not for outbound use")
	}
	if p.Req&(secctx.ISC_REQ_USE_DCE_STYLE|secctx.ISC_REQ_USE_SESSION_KEY) != 0 {
		// DCE-style three-leg exchanges and user-to-user tickets change
		// the protocol; they are not implemented, and silently doing the
		// ordinary exchange instead would not be what was asked.
		return nil, status.Errorf(status.SEC_E_UNSUPPORTED_FUNCTION, Name, "ISC_REQ_USE_DCE_STYLE and ISC_REQ_USE_SESSION_KEY are not supported")
	}
	spn, target, ok := normalizeTarget(p.Target)
	if !ok {
		return nil, status.New(status.SEC_E_TARGET_UNKNOWN, Name, errors.New("kerberos: target "+quote(p.Target)+" is not a service principal name"))
	}
	ic := &initiator{cred: c, spn: spn, target: target, req: p.Req}
	ic.initiator = true
	return ic, nil
}

// NewAcceptor starts a server context.
func (c *credential) NewAcceptor(p mechs.AcceptorParams) (mechs.SecurityContext, error) {
	if c.acc == nil {
		return nil, status.Errorf(status.SEC_E_NO_CREDENTIALS, Name, "the credential is not for inbound use")
	}
	return &acceptor{cred: c, req: p.Req}, nil
}

// normalizeTarget reads a target name. "service@host" (GSS_C_NT_HOSTBASED_SERVICE)
// becomes "service/host"; "service/host[@REALM]" is kept. Anything
// without a service and a host is not an SPN.
func normalizeTarget(t string) (spn string, p principal, ok bool) {
	t = strings.TrimSpace(t)
	if t == "" || strings.ContainsAny(t, " \t\\") {
		return "", principal{}, false
	}
	name, realm := t, ""
	if i := strings.LastIndexByte(t, '@'); i >= 0 {
		name, realm = t[:i], t[i+1:]
	}
	if !strings.Contains(name, "/") {
		// Host-based form: service@host.
		if realm == "" || name == "" {
			return "", principal{}, false
		}
		name, realm = name+"/"+realm, ""
	}
	parts := strings.Split(name, "/")
	for _, s := range parts {
		if s == "" {
			return "", principal{}, false
		}
	}
	if len(parts) < 2 {
		return "", principal{}, false
	}
	spn = name
	if realm != "" {
		spn += "@" + realm
	}
	return spn, principal{nameType: nameTypeSrvInst, parts: parts}, true
}

func quote(s string) string { return "\"" + s + "\"" }
