package ntlm

import (
	"crypto/rand"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	secctx "github.com/asyncsspi/asyncsspi/context"
	"github.com/asyncsspi/asyncsspi/mechs"
	"github.com/asyncsspi/asyncsspi/status"
)

// Package is the NTLM security package. It is immutable after New and safe
// for concurrent use.
type Package struct {
	allowV1     bool
	requireMIC  bool
	store       UserStore
	skew        time.Duration
	rand        io.Reader
	now         func() time.Time
	computer    string
	domain      string
	dnsComputer string
	dnsDomain   string
	version     version // the Version field of our messages

	// hashers lends *hasher values to the Steps that compute HMACs, so
	// that a context does not make (and carry) its own MD5 for the one or
	// two legs that use it.
	hashers sync.Pool
}

// hasher lends an MD5 hasher for one Step; give it back with release.
func (p *Package) hasher() *hasher {
	if x, ok := p.hashers.Get().(*hasher); ok {
		return x
	}
	return newHasher()
}

// release wipes the hasher's key-derived scratch and gives it back.
func (p *Package) release(x *hasher) {
	x.h.Reset()
	clear(x.pad[:])
	clear(x.key[:])
	clear(x.sum[:])
	p.hashers.Put(x)
}

// Option configures a Package.
type Option func(*Package)

// WithNTLMv1 allows NTLMv1 and LM. An acceptor then accepts NTLMv1 (and
// NTLM2 session) responses, and an initiator answers with NTLMv1 a
// CHALLENGE that carries no target information. Off by default: without
// it an NTLMv1 or LM response is refused with SEC_E_LOGON_DENIED and a
// cause that says why.
func WithNTLMv1() Option { return func(p *Package) { p.allowV1 = true } }

// WithRequireMIC makes acceptors refuse, with SEC_E_LOGON_DENIED, an
// AUTHENTICATE message without a MIC (MS-NLMP 3.1.5.1.2), which
// legacy clients such as curl send. Without it such a message is accepted
// when the target info it echoes is the one the CHALLENGE carried, which
// is checked in any case. Anonymous logons, which have no session key for
// a MIC, are governed by ASC_REQ_ALLOW_NULL_SESSION alone.
func WithRequireMIC() Option { return func(p *Package) { p.requireMIC = true } }

// WithUserStore sets the accounts acceptors verify against, and where
// initiators given a user but no password find the key. Without it, the
// file named by NTLM_USER_FILE is read when a credential is acquired.
func WithUserStore(s UserStore) Option { return func(p *Package) { p.store = s } }

// WithMaxClockSkew sets how far an NTLMv2 response's timestamp may be from
// the acceptor's clock (default 5 minutes); beyond it the acceptor fails
// with SEC_E_TIME_SKEW. It also bounds how long the replay cache remembers
// an AUTHENTICATE message.
func WithMaxClockSkew(d time.Duration) Option { return func(p *Package) { p.skew = d } }

// WithRand sets the source of server and client challenges and of exported
// session keys (default crypto/rand). For tests.
func WithRand(r io.Reader) Option { return func(p *Package) { p.rand = r } }

// WithClock sets the clock (default time.Now). For tests.
func WithClock(now func() time.Time) Option { return func(p *Package) { p.now = now } }

// WithComputerName sets the NetBIOS computer name an acceptor announces
// (MsvAvNbComputerName) and an initiator sends as its workstation; the
// default is the host name, up to the first dot, upper-cased.
func WithComputerName(name string) Option { return func(p *Package) { p.computer = name } }

// WithDomainName sets the NetBIOS domain name an acceptor announces
// (TargetName, MsvAvNbDomainName); default "WORKGROUP".
func WithDomainName(name string) Option { return func(p *Package) { p.domain = name } }

// WithDNSNames sets the DNS computer and domain names an acceptor
// announces (MsvAvDnsComputerName, MsvAvDnsDomainName); empty ones are
// left out.
func WithDNSNames(computer, domain string) Option {
	return func(p *Package) { p.dnsComputer, p.dnsDomain = computer, domain }
}

// New returns the NTLM package.
func New(opts ...Option) *Package {
	p := &Package{skew: 5 * time.Minute, rand: rand.Reader, now: time.Now, domain: "WORKGROUP", version: ourVersion()}
	for _, o := range opts {
		o(p)
	}
	if p.computer == "" {
		h, _ := os.Hostname()
		if i := strings.IndexByte(h, '.'); i >= 0 {
			h = h[:i]
		}
		if h == "" {
			h = "LOCALHOST"
		}
		p.computer = strings.ToUpper(h)
	}
	return p
}

// Name returns "NTLM".
func (p *Package) Name() string { return PackageName }

// Info describes the package as QuerySecurityPackageInfo("NTLM") does.
func (p *Package) Info() secctx.PackageInfo {
	return secctx.PackageInfo{
		Capabilities: secctx.SECPKG_FLAG_INTEGRITY | secctx.SECPKG_FLAG_PRIVACY |
			secctx.SECPKG_FLAG_TOKEN_ONLY | secctx.SECPKG_FLAG_CONNECTION |
			secctx.SECPKG_FLAG_MULTI_REQUIRED | secctx.SECPKG_FLAG_IMPERSONATION |
			secctx.SECPKG_FLAG_ACCEPT_WIN32_NAME | secctx.SECPKG_FLAG_NEGOTIABLE |
			secctx.SECPKG_FLAG_LOGON,
		Version:  1,
		RPCID:    10, // RPC_C_AUTHN_WINNT
		MaxToken: maxToken,
		Name:     PackageName,
		Comment:  "NTLM Security Package",
	}
}

// NTHash is AuthData for an initiator that holds an NT hash instead of a
// password. User may be "user@domain" or "DOMAIN\user" with Domain empty.
type NTHash struct {
	User   string
	Domain string
	Hash   [16]byte
}

// AcquireCredentials implements mechs.Package. See the package comment for
// the AuthData it takes.
func (p *Package) AcquireCredentials(req mechs.CredentialRequest) (mechs.Credential, error) {
	c := &Credential{pkg: p, use: req.Use, principal: req.Principal}
	if req.Use&(secctx.SECPKG_CRED_INBOUND|secctx.SECPKG_CRED_OUTBOUND) == 0 {
		return nil, status.Errorf(status.SEC_E_INVALID_PARAMETER, PackageName, "credential use must be inbound, outbound or both")
	}
	var store UserStore
	var err error
	authData := req.AuthData
	if h, ok := authData.(NTHash); ok {
		authData = &h
	}
	switch ad := authData.(type) {
	case nil:
	case *secctx.AuthIdentity:
		if ad.PackageList != "" && !secctx.PackageAllowed(ad.PackageList, PackageName) {
			return nil, status.Errorf(status.SEC_E_NO_CREDENTIALS, PackageName, "NTLM excluded by the package list")
		}
		switch {
		case ad.User == "" && ad.Domain == "" && ad.Password == "":
			// All empty: the anonymous (null session) credential.
			c.anonymous = true
		default:
			c.setUser(ad.User, ad.Domain)
			if ad.Password != "" {
				c.setHash(HashPassword(ad.Password), ad.Password)
			}
		}
	case *NTHash:
		c.setUser(ad.User, ad.Domain)
		c.setHash(ad.Hash, "")
	case UserStore:
		store = ad
	default:
		return nil, status.Errorf(status.SEC_E_UNKNOWN_CREDENTIALS, PackageName, "unsupported AuthData type")
	}
	if store == nil {
		store = p.store
	}
	if req.Use&secctx.SECPKG_CRED_OUTBOUND != 0 && !c.hasKey && !c.anonymous {
		// A user without a key: the principal or the AuthIdentity names
		// the user, the store (or NTLM_USER_FILE) has the key.
		if c.user == "" && req.Principal != "" {
			c.setUser(req.Principal, "")
		}
		if c.user == "" {
			return nil, status.Errorf(status.SEC_E_NO_CREDENTIALS, PackageName, "no user name for an outbound credential")
		}
		if store, err = storeOrEnv(store); err != nil {
			return nil, err
		}
		u, ok := store.LookupUser(c.domain, c.user)
		if !ok {
			return nil, status.Errorf(status.SEC_E_NO_CREDENTIALS, PackageName, "no key for "+c.domain+`\`+c.user)
		}
		if c.domain == "" {
			c.domain = u.Domain
		}
		c.setHash(u.NTHash, "")
	}
	if req.Use&secctx.SECPKG_CRED_INBOUND != 0 {
		if store, err = storeOrEnv(store); err != nil {
			return nil, err
		}
		c.store = store
		c.replay = newReplayCache(2 * p.skew)
	}
	return c, nil
}

// storeOrEnv returns store or, when it is nil, the users file named by
// NTLM_USER_FILE; failing that, SEC_E_NO_CREDENTIALS.
func storeOrEnv(store UserStore) (UserStore, error) {
	if store != nil {
		return store, nil
	}
	path := os.Getenv(UserFileEnv)
	if path == "" {
		return nil, status.New(status.SEC_E_NO_CREDENTIALS, PackageName, errNoStore)
	}
	s, err := LoadUserFile(path)
	if err != nil {
		return nil, status.New(status.SEC_E_NO_CREDENTIALS, PackageName, err)
	}
	return s, nil
}

type constError string

func (e constError) Error() string { return string(e) }

const errNoStore = constError("ntlm: no user store: give one with WithUserStore or as AuthData, or name a users file in " + UserFileEnv)
