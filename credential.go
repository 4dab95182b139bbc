package asyncsspi

import (
	"errors"
	"fmt"
	"os"
	"os/user"
	"slices"
	"strings"
	"time"

	"github.com/jcmturner/gokrb5/v8/keytab"

	secctx "github.com/asyncsspi/asyncsspi/context"
	"github.com/asyncsspi/asyncsspi/mechs/kerberos"
	"github.com/asyncsspi/asyncsspi/mechs/kerberos/kdc"
	"github.com/asyncsspi/asyncsspi/mechs/negotiate"
	"github.com/asyncsspi/asyncsspi/mechs/ntlm"
	"github.com/asyncsspi/asyncsspi/status"
)

// Environment variables the credential sources follow, as MIT Kerberos and
// gss-ntlmssp do.
const (
	EnvCCache   = "KRB5CCNAME"     // the Kerberos ticket cache (FILE: only)
	EnvKeytab   = "KRB5_KTNAME"    // the service keytab
	EnvConfig   = "KRB5_CONFIG"    // krb5.conf (read by package kerberos)
	EnvNTLMFile = "NTLM_USER_FILE" // gss-ntlmssp's users file, DOMAIN:user:password
)

// A Source says where a credential's secrets come from. Make one with the
// constructors in this file (KerberosPassword, KerberosKeytab,
// KerberosKeys, KerberosCCache, KerberosServiceTickets, NTLMPassword,
// NTLMUsers, NTLMUserFile), compose several
// with Negotiate, or take FromEnvironment. A Source reads files and the
// environment when a credential is acquired from it, not when it is made.
type Source struct {
	pkg   string // kerberos.Name, ntlm.PackageName or negotiate.PackageName
	desc  string // what it is, for messages: "Kerberos ticket cache FILE:/tmp/krb5cc_0"
	parts []Source
	// uses are the credential uses the source can serve.
	uses secctx.CredentialUse
	// lenient: a part that cannot be had is left out (and said so) rather
	// than failing the whole credential.
	lenient bool
	// resolve gives AcquireCredentialsHandle's principal and pAuthData
	// for the use asked, or why the source cannot serve it.
	resolve func(use secctx.CredentialUse) (principal string, authData any, err error)
}

// String describes the source.
func (s Source) String() string { return s.desc }

// Package is the package a credential acquired from s is for:
// "Negotiate", "Kerberos" or "NTLM" ("" for the zero Source).
func (s Source) Package() string { return s.pkg }

// ClientPart returns what of s can give a client credential for package
// pkg ("Kerberos" or "NTLM"): s itself when it is for pkg, else the first
// such part of a Negotiate source (FromEnvironment's ticket cache for
// Kerberos, its users file for NTLM). The part is explicit, not lenient:
// acquiring it fails with the reason when what it names is missing. ok is
// false when s has no part for pkg. For the Negotiate package use s
// itself, or Negotiate(s) for a single-package source.
func (s Source) ClientPart(pkg string) (part Source, ok bool) {
	if strings.EqualFold(s.pkg, pkg) && s.pkg != negotiate.PackageName {
		return s, s.uses.Outbound()
	}
	for _, p := range s.parts {
		if strings.EqualFold(p.pkg, pkg) && p.uses.Outbound() {
			return p, true
		}
	}
	return Source{}, false
}

// KerberosPassword is a Kerberos client identity with a password: the
// client logs in (an AS exchange) on its first handshake. principal is
// "user@REALM", or "user" for krb5.conf's default_realm; a realm in the
// wrong case is matched to the configured one.
func KerberosPassword(principal, password string) Source {
	return Source{pkg: kerberos.Name, desc: "Kerberos password for " + principal, uses: secctx.SECPKG_CRED_OUTBOUND,
		resolve: func(secctx.CredentialUse) (string, any, error) {
			u, realm := secctx.SplitUser(principal)
			if u == "" || password == "" {
				return "", nil, errors.New("a Kerberos password credential needs a user and a password")
			}
			return "", &secctx.AuthIdentity{User: u, Domain: realm, Password: password}, nil
		}}
}

// KerberosKeytab is a keytab: a service's keys for a server credential
// (principal, "HTTP/host" or "HTTP/host@REALM", restricts it to that
// service; "" accepts every principal the keytab holds), or a client's
// keys for a client credential (principal "" takes the keytab's first,
// as kinit -k does). path "" is $KRB5_KTNAME (a bare path or FILE:path),
// else /etc/krb5.keytab, as MIT chooses.
func KerberosKeytab(path, principal string) Source {
	return Source{pkg: kerberos.Name, desc: "Kerberos keytab " + orEnv(path, EnvKeytab), uses: secctx.SECPKG_CRED_BOTH,
		resolve: func(secctx.CredentialUse) (string, any, error) {
			p := path
			if p == "" {
				p = strings.TrimPrefix(os.Getenv(EnvKeytab), "FILE:")
			}
			if p == "" {
				p = "/etc/krb5.keytab"
			}
			if err := readable(p); err != nil {
				return "", nil, fmt.Errorf("keytab %s: %w", p, err)
			}
			return principal, &kerberos.Keytab{Path: p}, nil
		}}
}

// KerberosKeys is KerberosKeytab over a keytab already in memory: one
// parsed by the caller (keytab.Keytab's Unmarshal) or built with gokrb5's
// keytab.New and AddEntry, so that a service's keys need no file.
// principal is as for KerberosKeytab. The credential reads kt when it is
// acquired and keeps it: kt must not be changed afterwards.
func KerberosKeys(kt *keytab.Keytab, principal string) Source {
	desc := "Kerberos keytab in memory"
	if principal != "" {
		desc += " for " + principal
	}
	return Source{pkg: kerberos.Name, desc: desc, uses: secctx.SECPKG_CRED_BOTH,
		resolve: func(secctx.CredentialUse) (string, any, error) {
			if kt == nil || len(kt.Entries) == 0 {
				return "", nil, errors.New("the keytab holds no keys")
			}
			return principal, &kerberos.Keytab{Keytab: kt}, nil
		}}
}

// KerberosServiceTickets is a Kerberos client identity made of service
// tickets obtained elsewhere (a kdc.Client, a KDC of the caller's own, a
// ticket issued with the service's key): the credential never asks a KDC.
// A target with no ticket among them fails with SEC_E_TARGET_UNKNOWN,
// which under Negotiate means falling back to NTLM; delegation is not
// offered. Tickets are matched by their server name ("HTTP/host", with or
// without "@REALM"); nil tickets are skipped, and at least one is needed.
// The list is copied; the tickets are not, and must not be changed
// afterwards.
func KerberosServiceTickets(tickets ...*kdc.Ticket) Source {
	tickets = slices.DeleteFunc(slices.Clone(tickets), func(t *kdc.Ticket) bool { return t == nil })
	var names []string
	for _, t := range tickets {
		names = append(names, t.Server.PrincipalNameString())
	}
	desc := "Kerberos service tickets"
	if len(tickets) > 0 {
		desc += fmt.Sprintf(" of %s@%s for %s", tickets[0].Client.PrincipalNameString(), tickets[0].CRealm, strings.Join(names, ", "))
	}
	return Source{pkg: kerberos.Name, desc: desc, uses: secctx.SECPKG_CRED_OUTBOUND,
		resolve: func(secctx.CredentialUse) (string, any, error) {
			if len(tickets) == 0 {
				return "", nil, errors.New("no service tickets")
			}
			return "", &kerberos.ServiceTickets{Tickets: tickets}, nil
		}}
}

// KerberosCCache is an MIT ticket cache (FILE: caches only), as left by
// kinit: the client's TGT and any service tickets. path "" is $KRB5CCNAME,
// else /tmp/krb5cc_UID, as MIT chooses.
func KerberosCCache(path string) Source {
	return Source{pkg: kerberos.Name, desc: "Kerberos ticket cache " + orEnv(path, EnvCCache), uses: secctx.SECPKG_CRED_OUTBOUND,
		resolve: func(use secctx.CredentialUse) (string, any, error) {
			name := path
			if name == "" {
				name = os.Getenv(EnvCCache)
			}
			if name == "" {
				name = fmt.Sprintf("/tmp/krb5cc_%d", os.Getuid())
			}
			p, ok := strings.CutPrefix(name, "FILE:")
			if !ok && strings.Contains(name, ":") && !strings.HasPrefix(name, "/") {
				return "", nil, fmt.Errorf("ticket cache %q: only FILE: caches are supported", name)
			}
			if err := readable(p); err != nil {
				return "", nil, fmt.Errorf("ticket cache %s: %w (run kinit, or set %s)", p, err, EnvCCache)
			}
			return "", &kerberos.CCache{Path: p}, nil
		}}
}

// NTLMPassword is an NTLM client identity. domain may be empty when user
// is "DOMAIN\user" or "user@domain".
func NTLMPassword(domain, user, password string) Source {
	return Source{pkg: ntlm.PackageName, desc: "NTLM password for " + joinDomain(domain, user), uses: secctx.SECPKG_CRED_OUTBOUND,
		resolve: func(use secctx.CredentialUse) (string, any, error) {
			if user == "" {
				return "", nil, errors.New("an NTLM password credential needs a user name")
			}
			return "", &secctx.AuthIdentity{User: user, Domain: domain, Password: password}, nil
		}}
}

// NTLMUsers is the accounts an NTLM server verifies clients against.
func NTLMUsers(store ntlm.UserStore) Source {
	return Source{pkg: ntlm.PackageName, desc: "NTLM user store", uses: secctx.SECPKG_CRED_INBOUND,
		resolve: func(use secctx.CredentialUse) (string, any, error) {
			if store == nil {
				return "", nil, errors.New("nil NTLM user store")
			}
			return "", store, nil
		}}
}

// NTLMUserFile is a users file in gss-ntlmssp's format (one
// DOMAIN:user:password a line); path "" is $NTLM_USER_FILE. A server
// verifies clients against every account in it; a client uses the account
// of the current user's name, or the file's only account, as gss-ntlmssp
// picks a default identity.
func NTLMUserFile(path string) Source {
	return Source{pkg: ntlm.PackageName, desc: "NTLM users file " + orEnv(path, EnvNTLMFile), uses: secctx.SECPKG_CRED_BOTH,
		resolve: func(use secctx.CredentialUse) (string, any, error) {
			p := path
			if p == "" {
				p = os.Getenv(EnvNTLMFile)
			}
			if p == "" {
				return "", nil, fmt.Errorf("no NTLM users file (%s is not set)", EnvNTLMFile)
			}
			store, err := ntlm.LoadUserFile(p)
			if err != nil {
				return "", nil, err
			}
			if use.Inbound() {
				return "", store, nil
			}
			u, ok := defaultNTLMUser(store)
			if !ok {
				return "", nil, fmt.Errorf("users file %s: no account for the current user and more than one account", p)
			}
			return "", &ntlm.NTHash{User: u.Name, Domain: u.Domain, Hash: u.NTHash}, nil
		}}
}

// defaultNTLMUser picks a client identity from a users file: the current
// user's account, else the only one.
func defaultNTLMUser(store *ntlm.MemoryStore) (ntlm.User, bool) {
	if me, err := user.Current(); err == nil {
		if u, ok := store.LookupUser("", me.Username); ok {
			return u, true
		}
	}
	all := store.Users()
	if len(all) == 1 {
		return all[0], true
	}
	return ntlm.User{}, false
}

// Negotiate composes sources into one Negotiate credential, Kerberos
// preferred: the client offers every part and falls back from Kerberos to
// NTLM inside one exchange when Kerberos cannot serve the target; the
// server accepts whichever the client chose. Every part must be available;
// a part that is not fails the credential with the reason.
func Negotiate(parts ...Source) Source {
	descs := make([]string, len(parts))
	for i, p := range parts {
		descs[i] = p.desc
	}
	return Source{pkg: negotiate.PackageName, desc: "Negotiate over " + strings.Join(descs, " and "), parts: parts, uses: secctx.SECPKG_CRED_BOTH}
}

// FromEnvironment is what a program finds about it, as MIT's and
// gss-ntlmssp's libraries do: for a client, Negotiate over the Kerberos
// ticket cache ($KRB5CCNAME) and the NTLM account in $NTLM_USER_FILE; for a
// server, Negotiate over the keytab ($KRB5_KTNAME) and the accounts in
// $NTLM_USER_FILE. A part that is not there is left out, and the engine
// logs which and why (Credential.Unavailable lists them); the credential
// fails only when no part is there.
func FromEnvironment() Source {
	serverKeytab := KerberosKeytab("", "")
	serverKeytab.uses = secctx.SECPKG_CRED_INBOUND // a client keytab is KRB5_CLIENT_KTNAME's, not KRB5_KTNAME's
	s := Negotiate(KerberosCCache(""), serverKeytab, NTLMUserFile(""))
	s.desc = "the environment (" + EnvCCache + ", " + EnvKeytab + ", " + EnvNTLMFile + ")"
	s.lenient = true
	return s
}

// Credential is an acquired credential: what a CredHandle names, with its
// package and what it had to do without. Close it when no new context
// needs it; contexts made from it keep working.
type Credential struct {
	e           *Engine
	h           secctx.CredHandle
	use         secctx.CredentialUse
	pkg         string
	parts       []string
	unavailable []error
	expiry      time.Time
}

// ClientCredential acquires an outbound credential from src.
func (e *Engine) ClientCredential(src Source) (*Credential, error) {
	return e.acquire(src, secctx.SECPKG_CRED_OUTBOUND)
}

// ServerCredential acquires an inbound credential from src.
func (e *Engine) ServerCredential(src Source) (*Credential, error) {
	return e.acquire(src, secctx.SECPKG_CRED_INBOUND)
}

func (e *Engine) acquire(src Source, use secctx.CredentialUse) (*Credential, error) {
	if src.resolve == nil && src.parts == nil {
		return nil, status.Errorf(status.SEC_E_NO_CREDENTIALS, "", "empty credential source")
	}
	if src.uses&use != use {
		return nil, status.Errorf(status.SEC_E_NO_CREDENTIALS, src.pkg, src.desc+" cannot serve a "+useName(use))
	}
	if src.pkg != negotiate.PackageName {
		principal, ad, err := src.resolve(use)
		if err != nil {
			return nil, status.New(status.SEC_E_NO_CREDENTIALS, src.pkg, fmt.Errorf("%s: %w", src.desc, err))
		}
		return e.acquireHandle(src.pkg, principal, ad, use, []string{src.pkg}, nil)
	}
	// Negotiate: resolve each part; a sub-package's first usable part wins.
	ad := &negotiate.AuthData{ByPackage: map[string]any{}}
	var principal string
	var held []string
	var unavailable []error
	for _, part := range src.parts {
		if part.pkg == negotiate.PackageName {
			return nil, status.Errorf(status.SEC_E_INVALID_PARAMETER, negotiate.PackageName, "Negotiate cannot hold Negotiate")
		}
		if _, ok := ad.ByPackage[part.pkg]; ok {
			continue
		}
		if part.uses&use != use {
			if !src.lenient {
				unavailable = append(unavailable, fmt.Errorf("%s cannot serve a %s", part.desc, useName(use)))
			}
			continue
		}
		p, a, err := part.resolve(use)
		if err != nil {
			unavailable = append(unavailable, fmt.Errorf("%s: %w", part.desc, err))
			continue
		}
		ad.ByPackage[part.pkg] = a
		held = append(held, part.pkg)
		if part.pkg == kerberos.Name {
			principal = p
		}
	}
	if len(unavailable) > 0 && (!src.lenient || len(held) == 0) {
		return nil, status.New(status.SEC_E_NO_CREDENTIALS, negotiate.PackageName, errors.Join(unavailable...))
	}
	ad.PackageList = strings.Join(held, ",")
	c, err := e.acquireHandle(negotiate.PackageName, principal, ad, use, held, unavailable)
	if err != nil {
		return nil, err
	}
	for _, u := range c.unavailable {
		e.log.Warn("credential part unavailable", "use", useName(use), "reason", u.Error())
	}
	return c, nil
}

func (e *Engine) acquireHandle(pkg, principal string, ad any, use secctx.CredentialUse, parts []string, unavailable []error) (*Credential, error) {
	h, exp, err := e.async.AcquireCredentialsHandle(principal, pkg, use, ad)
	if err != nil {
		return nil, err
	}
	c := &Credential{e: e, h: h, use: use, pkg: pkg, parts: parts, unavailable: unavailable, expiry: exp}
	if pkg == negotiate.PackageName {
		// A sub-package that refused its part leaves the Negotiate
		// credential without it: say so, with its own reason.
		got, ok := e.async.CredentialPackages(h)
		if ok {
			for _, want := range parts {
				if !contains(got, want) {
					_, _, perr := e.async.AcquireCredentialsHandle(principal, want, use, ad.(*negotiate.AuthData).ByPackage[want])
					c.unavailable = append(c.unavailable, fmt.Errorf("%s: %w", want, perr))
				}
			}
			c.parts = got
		}
	}
	return c, nil
}

// Handle returns the credential's handle in the SSPI-shaped API
// (Engine.Async).
func (c *Credential) Handle() secctx.CredHandle { return c.h }

// Package is the package the credential is for: "Negotiate", "Kerberos"
// or "NTLM".
func (c *Credential) Package() string { return c.pkg }

// Packages are the packages the credential holds: its sub-packages for
// Negotiate, in preference order.
func (c *Credential) Packages() []string { return append([]string(nil), c.parts...) }

// Unavailable says which parts the credential had to do without, and why
// (only FromEnvironment leaves parts out; explicit parts fail instead).
func (c *Credential) Unavailable() []error { return append([]error(nil), c.unavailable...) }

// Expiry is when the credential stops being usable, as
// AcquireCredentialsHandle reports it (ptsExpiry); the zero time for a
// credential that does not expire.
func (c *Credential) Expiry() time.Time { return c.expiry }

// Close frees the credential (FreeCredentialsHandle).
func (c *Credential) Close() error {
	if st := c.e.async.FreeCredentialsHandle(c.h); st.IsError() {
		return status.New(st, c.pkg, nil)
	}
	return nil
}

func useName(u secctx.CredentialUse) string {
	if u.Inbound() {
		return "server"
	}
	return "client"
}

func orEnv(path, env string) string {
	if path != "" {
		return path
	}
	return "$" + env
}

func joinDomain(domain, user string) string {
	if domain == "" {
		return user
	}
	return domain + `\` + user
}

func readable(path string) error {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return errors.New("not found")
		}
		return err
	}
	return f.Close()
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}
