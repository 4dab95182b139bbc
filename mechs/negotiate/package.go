// Package negotiate is the Negotiate security package: SPNEGO (RFC 4178)
// with Microsoft's extensions (MS-SPNG) over the sub-packages it is given,
// as Windows' Negotiate package composes Kerberos and NTLM.
//
// negotiate.New(kerberosPkg, ntlmPkg) makes a package whose initiator
// offers Kerberos (under the Microsoft and the standard OID) and then NTLM,
// sends an optimistic token for the first mechanism that can serve, and
// falls back to the next one inside the same exchange when a mechanism
// cannot serve the target (no SPN, no KDC, an SPN the KDC does not know).
// A credential can exclude packages with secctx.AuthIdentity.PackageList
// ("!ntlm"), so that fallback can be forbidden. The acceptor chooses from
// the client's list by its own credentials and also takes raw NTLMSSP and
// raw Kerberos tokens, as real clients send them under "Negotiate".
//
// The mechanism list is protected by mechListMIC (RFC 4178 section 5): it
// is computed with the chosen sub-context's MakeSignature over the DER of
// the MechTypeList, exchanged whenever the chosen mechanism was not both
// sides' first choice (and whenever the peer asks or sends one), and a
// mismatch or a missing MIC fails the exchange with
// SEC_E_DOWNGRADE_DETECTED.
//
// The tokens (NegTokenInit, NegTokenInit2, NegTokenResp and the GSS
// framing, RFC 4178 section 4.2, MS-SPNG 2.2.1) are read with cryptobyte
// without copying. A sub-package that implements mechs.RoomStepper leaves
// room in front of its token, and Negotiate writes its framing there, so
// that wrapping a sub-token copies nothing; ParseNegTokenInit,
// ParseNegTokenResp and the Marshal methods expose the same encoding.
//
// Info().MaxToken is the largest sub-package's maximum token plus 256
// (48,256 over Kerberos, as Windows reports it), and no context believes
// more: a longer token, or a DER length that says one would be, is
// SEC_E_INVALID_TOKEN. A SPNEGO token cut short is
// SEC_E_INCOMPLETE_MESSAGE with the number of bytes missing, and leaves
// the context exactly as it was, so that the whole token can be given
// next; a whole SPNEGO token whose inner mechanism token is cut short is
// malformed (SEC_E_INVALID_TOKEN, no missing count: more bytes of the
// same token cannot help) and fails the context.
//
// A sub-package's refusal goes to the initiator in a reject NegTokenResp
// with the mechanism's error token (RFC 4178 section 4.2.2): the acceptor
// asks its sub-packages for one (ASC_REQ_EXTENDED_ERROR) whatever its
// caller asked, and the initiator hands it to its sub-context, so that a
// refused Kerberos leg ends with Kerberos' own status (SEC_E_TIME_SKEW,
// ...) on both sides.
//
// The package is a sans-I/O state machine like its sub-packages: a
// sub-context's request for network I/O (a Kerberos KDC exchange) is
// passed up unchanged in StepResult.IO, and its outcome handed back to the
// same sub-context on the next Step.
package negotiate

import (
	"strings"
	"sync"

	secctx "github.com/asyncsspi/asyncsspi/context"
	"github.com/asyncsspi/asyncsspi/mechs"
	"github.com/asyncsspi/asyncsspi/status"
)

// PackageName is the SSPI package name.
const PackageName = "Negotiate"

const pkgName = PackageName

// RPCID is RPC_C_AUTHN_GSS_NEGOTIATE, SecPkgInfo.wRPCID of Negotiate.
const RPCID = 9

// negotiateOverhead is what SPNEGO adds to a sub-package's largest token
// (Windows reports cbMaxToken 48256 for Negotiate over Kerberos' 48000).
// The package's MaxToken is the largest sub-package's plus this; a
// sub-package that reports none (0) counts as unknownMaxToken.
const negotiateOverhead = 256

// unknownMaxToken is the largest token of a sub-package that reports no
// MaxToken: what makes Negotiate's 65535, the largest MaxTokenSize
// Windows allows.
const unknownMaxToken = maxTokenLimit - negotiateOverhead

// Option configures New.
type Option func(*config)

type config struct {
	oids        map[string][]string // lower-cased package name -> OIDs
	mitKerberos bool
}

// WithMechOIDs sets the OIDs the named sub-package is offered and
// recognised under, most preferred first (overriding mechs.OIDNamer and the
// built-in table).
func WithMechOIDs(pkg string, oids ...string) Option {
	return func(c *config) {
		if c.oids == nil {
			c.oids = map[string][]string{}
		}
		c.oids[strings.ToLower(pkg)] = append([]string(nil), oids...)
	}
}

// WithStandardKerberosOIDFirst offers Kerberos as mechs.OIDKerberos before
// mechs.OIDMSKerberos, as MIT does, instead of Windows' order. Both are
// accepted from peers either way.
func WithStandardKerberosOIDFirst() Option {
	return func(c *config) { c.mitKerberos = true }
}

// subPackage is one negotiable sub-package and its OIDs.
type subPackage struct {
	pkg  mechs.Package
	name string
	oids []string
	// oidDER[i] is oids[i] in DER content octets.
	oidDER [][]byte
}

// Package is the Negotiate package. It is immutable after New and safe for
// concurrent use.
type Package struct {
	subs []subPackage
	info secctx.PackageInfo
	// hints is the DER of the NegHints an acceptor that speaks first
	// sends (MS-SPNG 2.2.1).
	hints []byte
	mics  sync.Pool // *micScratch, lent to the Steps that make or check a mechListMIC
}

// New returns the Negotiate package over subs, in preference order: the
// initiator offers them in this order, and the acceptor uses this order
// only for tokens that name no order of their own. A sub-package whose OIDs
// are unknown (no mechs.OIDNamer, no WithMechOIDs, not "Kerberos" or "NTLM"),
// a nil one and a nested "Negotiate" are left out.
func New(subs ...mechs.Package) *Package {
	return NewWithOptions(subs, nil...)
}

// NewWithOptions is New with options.
func NewWithOptions(subs []mechs.Package, opts ...Option) *Package {
	var cfg config
	for _, o := range opts {
		o(&cfg)
	}
	p := &Package{hints: encodeNegHints(&NegHints{HintName: HintName})}
	var caps secctx.Capability
	var maxToken uint32
	for _, sp := range subs {
		if sp == nil || strings.EqualFold(sp.Name(), pkgName) {
			continue
		}
		oids := cfg.oidsFor(sp)
		s := subPackage{pkg: sp, name: sp.Name()}
		for _, o := range oids {
			c, ok := oidContent(o)
			if !ok {
				continue
			}
			s.oids = append(s.oids, o)
			s.oidDER = append(s.oidDER, c)
		}
		if len(s.oids) == 0 {
			continue
		}
		p.subs = append(p.subs, s)
		info := sp.Info()
		caps |= info.Capabilities
		if info.MaxToken == 0 {
			info.MaxToken = unknownMaxToken
		}
		maxToken = max(maxToken, info.MaxToken)
	}
	p.info = secctx.PackageInfo{
		Capabilities: caps | secctx.SECPKG_FLAG_NEGOTIABLE | secctx.SECPKG_FLAG_GSS_COMPATIBLE,
		Version:      1,
		RPCID:        RPCID,
		MaxToken:     maxToken + negotiateOverhead,
		Name:         pkgName,
		Comment:      "Microsoft Package Negotiator",
	}
	return p
}

func (c *config) oidsFor(sp mechs.Package) []string {
	if o, ok := c.oids[strings.ToLower(sp.Name())]; ok {
		return o
	}
	if m, ok := sp.(mechs.OIDNamer); ok {
		return m.OIDs()
	}
	switch strings.ToLower(sp.Name()) {
	case "kerberos":
		if c.mitKerberos {
			return []string{mechs.OIDKerberos, mechs.OIDMSKerberos}
		}
		return []string{mechs.OIDMSKerberos, mechs.OIDKerberos}
	case "ntlm":
		return []string{mechs.OIDNTLMSSP}
	}
	return nil
}

// Name returns "Negotiate".
func (p *Package) Name() string { return pkgName }

// Info describes the package.
func (p *Package) Info() secctx.PackageInfo { return p.info }

// SubPackages returns the names of the negotiable sub-packages, in
// preference order.
func (p *Package) SubPackages() []string {
	names := make([]string, len(p.subs))
	for i, s := range p.subs {
		names[i] = s.name
	}
	return names
}

// AuthData may be given as AcquireCredentialsHandle's pAuthData when the
// sub-packages need different data (a keytab for Kerberos, a user store
// for NTLM). Otherwise the request's AuthData goes to every sub-package
// as it is.
type AuthData struct {
	// PackageList restricts the sub-packages as
	// secctx.AuthIdentity.PackageList does ("!ntlm", "Kerberos").
	PackageList string
	// ByPackage maps a sub-package name (case-insensitive) to its
	// AuthData.
	ByPackage map[string]any
	// Default is the AuthData of sub-packages not in ByPackage.
	Default any
}

func (a *AuthData) forPackage(name string) any {
	for k, v := range a.ByPackage {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	return a.Default
}

// AcquireCredentials acquires a credential of every allowed sub-package
// with the same request (AcquireCredentialsHandle (Negotiate)). Packages
// the PackageList excludes are not asked; packages that fail are left
// out. It fails only when no sub-package gives a credential, with the
// most preferred package's error.
func (p *Package) AcquireCredentials(req mechs.CredentialRequest) (mechs.Credential, error) {
	list := ""
	var split *AuthData
	switch a := req.AuthData.(type) {
	case *secctx.AuthIdentity:
		if a != nil {
			list = a.PackageList
		}
	case secctx.AuthIdentity:
		list = a.PackageList
	case *AuthData:
		if a != nil {
			list, split = a.PackageList, a
		}
	}
	c := &Credential{pkg: p, use: req.Use, packageList: list}
	var firstErr error
	for i := range p.subs {
		s := &p.subs[i]
		if !secctx.PackageAllowed(list, s.name) {
			continue
		}
		sreq := req
		if split != nil {
			sreq.AuthData = split.forPackage(s.name)
		}
		sc, err := s.pkg.AcquireCredentials(sreq)
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		c.subs = append(c.subs, subCred{sub: s, cred: sc})
	}
	if len(c.subs) == 0 {
		if firstErr == nil {
			firstErr = status.Errorf(status.SEC_E_NO_CREDENTIALS, pkgName, "no sub-package is allowed by the package list "+quoteList(list))
		}
		return nil, firstErr
	}
	for i := range c.subs {
		c.allCands = append(c.allCands, &c.subs[i])
	}
	c.full = newOffer(c.allCands)
	c.room = headroom(c.full.list)
	return c, nil
}

func quoteList(l string) string { return "\"" + l + "\"" }
