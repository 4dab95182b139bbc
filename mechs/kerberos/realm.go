package kerberos

import (
	"strings"

	"github.com/jcmturner/gokrb5/v8/config"
)

// canonicalRealm returns realm as krb5.conf spells it when krb5.conf knows
// that realm in another case (its default_realm, a [realms] entry, or a
// [domain_realm] value), and realm unchanged otherwise. Kerberos compares
// realm names case-sensitively (RFC 4120 section 6.1) and they are upper
// case by convention, while users write the domain as they like: Windows
// takes "alice@example.test", or the domain "example.test", for the realm
// EXAMPLE.TEST, and so does this package.
func canonicalRealm(cfg *config.Config, realm string) string {
	if cfg == nil || realm == "" {
		return realm
	}
	known := make([]string, 0, 1+len(cfg.Realms)+len(cfg.DomainRealm))
	known = append(known, cfg.LibDefaults.DefaultRealm)
	for _, r := range cfg.Realms {
		known = append(known, r.Realm)
	}
	for _, r := range cfg.DomainRealm {
		known = append(known, r)
	}
	for _, k := range known {
		if k == realm {
			return realm
		}
	}
	for _, k := range known {
		if k != "" && strings.EqualFold(k, realm) {
			return k
		}
	}
	return realm
}
