package negotiate

import (
	"errors"
	"strings"
	"time"

	secctx "github.com/asyncsspi/asyncsspi/context"
	"github.com/asyncsspi/asyncsspi/mechs"
)

// subCred is one sub-package's credential inside a Negotiate credential.
type subCred struct {
	sub  *subPackage
	cred mechs.Credential
}

// Credential is a Negotiate credential: the sub-credentials acquired with
// the same request, in preference order. It is immutable after
// AcquireCredentials; the sub-credentials are safe for concurrent use, so
// it is too.
type Credential struct {
	pkg         *Package
	use         secctx.CredentialUse
	packageList string
	subs        []subCred
	// full is what an initiator offers when no sub-package failed:
	// every sub-package held (shared, read-only).
	full offer
	// room is the headroom asked of sub-packages (see headroom).
	room int
	// allCands points at subs, in order (shared, read-only).
	allCands []*subCred
}

// offer is what an initiator offers: the mechTypes (dotted OIDs, and
// their content octets), each one's sub-credential, and the DER
// MechTypeList, which the mechListMICs cover.
type offer struct {
	oids []string
	ders [][]byte
	subs []*subCred
	list []byte
}

// newOffer offers every OID of each of cands, in order.
func newOffer(cands []*subCred) offer {
	var off offer
	for _, sc := range cands {
		off.oids = append(off.oids, sc.sub.oids...)
		off.ders = append(off.ders, sc.sub.oidDER...)
		for range sc.sub.oids {
			off.subs = append(off.subs, sc)
		}
	}
	off.list = encodeMechTypeList(off.ders)
	return off
}

// index is the position of a dotted OID in the offer, or -1.
func (o *offer) index(oid string) int {
	for i, x := range o.oids {
		if x == oid {
			return i
		}
	}
	return -1
}

// subFor returns the sub-credential negotiated under an OID given as DER
// content octets, and the OID's index among the sub-package's.
func (c *Credential) subFor(oid []byte) (*subCred, uint8) {
	for i := range c.subs {
		for j, o := range c.subs[i].sub.oidDER {
			if string(o) == string(oid) {
				return &c.subs[i], uint8(j)
			}
		}
	}
	return nil, 0
}

// Package returns "Negotiate".
func (c *Credential) Package() string { return pkgName }

// Use returns the use the credential was acquired for.
func (c *Credential) Use() secctx.CredentialUse { return c.use }

// Principal is the most preferred sub-credential's principal.
func (c *Credential) Principal() string { return c.subs[0].cred.Principal() }

// Expiry is the earliest expiry among the sub-credentials (zero when none
// expires).
func (c *Credential) Expiry() time.Time {
	var e time.Time
	for _, s := range c.subs {
		if x := s.cred.Expiry(); !x.IsZero() && (e.IsZero() || x.Before(e)) {
			e = x
		}
	}
	return e
}

// Packages returns the names of the sub-packages the credential holds, in
// preference order.
func (c *Credential) Packages() []string {
	names := make([]string, len(c.subs))
	for i, s := range c.subs {
		names[i] = s.sub.name
	}
	return names
}

// SubCredential returns the credential of the named sub-package, if held.
func (c *Credential) SubCredential(pkg string) (mechs.Credential, bool) {
	for _, s := range c.subs {
		if strings.EqualFold(s.sub.name, pkg) {
			return s.cred, true
		}
	}
	return nil, false
}

// NewInitiator starts an InitializeSecurityContext (Negotiate) context. No
// sub-context is made until the first Step; the sub-credentials check
// their own use then.
func (c *Credential) NewInitiator(p mechs.InitiatorParams) (mechs.SecurityContext, error) {
	return newInitiator(c, p), nil
}

// NewAcceptor starts an AcceptSecurityContext (Negotiate) context.
func (c *Credential) NewAcceptor(p mechs.AcceptorParams) (mechs.SecurityContext, error) {
	return newAcceptor(c, p), nil
}

// Close closes every sub-credential.
func (c *Credential) Close() error {
	var errs []error
	for _, s := range c.subs {
		if err := s.cred.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
