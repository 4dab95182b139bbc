package testrealm

import (
	"time"
)

// Option configures a realm started by Start.
type Option func(*settings)

type settings struct {
	realm         string
	forceTCP      bool
	ticketLife    time.Duration
	renewLife     time.Duration
	clockSkew     time.Duration
	kdcsBefore    []string
	withDefaults  bool
	extraLibdefs  []string
	requirePreath bool
}

func defaultConfig() settings {
	return settings{
		realm:        DefaultRealm,
		withDefaults: true,
	}
}

// WithRealm names the realm (upper case by convention). The default is
// DefaultRealm.
func WithRealm(name string) Option {
	return func(c *settings) { c.realm = name }
}

// WithTCP forces clients that read the realm's krb5.conf to use TCP for
// every KDC exchange ("udp_preference_limit = 1" in [libdefaults]).
func WithTCP() Option {
	return func(c *settings) { c.forceTCP = true }
}

// WithTicketLifetime sets the ticket lifetime: the KDC's max_life for the
// realm (and so for every principal created afterwards, krbtgt included) and
// the clients' ticket_lifetime in [libdefaults]. Whole seconds, at least 1.
func WithTicketLifetime(d time.Duration) Option {
	return func(c *settings) { c.ticketLife = d }
}

// WithRenewableLifetime sets the renewable lifetime: the KDC's
// max_renewable_life and the clients' renew_lifetime, so that kinit and
// gokrb5 ask for renewable tickets. Whole seconds, at least 1.
func WithRenewableLifetime(d time.Duration) Option {
	return func(c *settings) { c.renewLife = d }
}

// WithClockSkew sets "clockskew" in [libdefaults], which both the KDC and
// the clients of this realm read (MIT's default is 300 s). Whole seconds,
// at least 1.
func WithClockSkew(d time.Duration) Option {
	return func(c *settings) { c.clockSkew = d }
}

// WithKDCsBefore lists the given "host:port" addresses as KDCs of the realm
// in krb5.conf before the live KDC, for failover tests. ClosedAddr and
// SilentAddr make addresses that refuse or never answer.
func WithKDCsBefore(addrs ...string) Option {
	return func(c *settings) { c.kdcsBefore = append(c.kdcsBefore, addrs...) }
}

// WithoutDefaultPrincipals skips creating alice and HTTP/localhost.
func WithoutDefaultPrincipals() Option {
	return func(c *settings) { c.withDefaults = false }
}

// WithRequirePreauth makes every principal created afterwards require
// pre-authentication ("default_principal_flags = +preauth"), as Active
// Directory does: the first AS-REQ without PA-ENC-TIMESTAMP gets
// KDC_ERR_PREAUTH_REQUIRED.
func WithRequirePreauth() Option {
	return func(c *settings) { c.requirePreath = true }
}

// WithLibdefault adds a raw "key = value" line to [libdefaults] of the
// realm's krb5.conf.
func WithLibdefault(line string) Option {
	return func(c *settings) { c.extraLibdefs = append(c.extraLibdefs, line) }
}
