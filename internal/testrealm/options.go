package testrealm

import (
	"time"

	"github.com/asyncsspi/asyncsspi/internal/mitrealm"
)

// Option configures a realm started by Start (a mitrealm.Option).
type Option = mitrealm.Option

// WithRealm names the realm (mitrealm.WithRealm).
func WithRealm(name string) Option { return mitrealm.WithRealm(name) }

// WithTCP makes clients use TCP for every KDC exchange (mitrealm.WithTCP).
func WithTCP() Option { return mitrealm.WithTCP() }

// WithTicketLifetime sets the ticket lifetime
// (mitrealm.WithTicketLifetime).
func WithTicketLifetime(d time.Duration) Option { return mitrealm.WithTicketLifetime(d) }

// WithRenewableLifetime sets the renewable lifetime
// (mitrealm.WithRenewableLifetime).
func WithRenewableLifetime(d time.Duration) Option { return mitrealm.WithRenewableLifetime(d) }

// WithClockSkew sets "clockskew" in [libdefaults] (mitrealm.WithClockSkew).
func WithClockSkew(d time.Duration) Option { return mitrealm.WithClockSkew(d) }

// WithKDCsBefore lists addresses as KDCs before the live one, for
// failover tests; ClosedAddr and SilentAddr make addresses that refuse or
// never answer (mitrealm.WithKDCsBefore).
func WithKDCsBefore(addrs ...string) Option { return mitrealm.WithKDCsBefore(addrs...) }

// WithoutDefaultPrincipals skips creating alice and HTTP/localhost
// (mitrealm.WithoutDefaultPrincipals).
func WithoutDefaultPrincipals() Option { return mitrealm.WithoutDefaultPrincipals() }

// WithRequirePreauth makes new principals require pre-authentication
// (mitrealm.WithRequirePreauth).
func WithRequirePreauth() Option { return mitrealm.WithRequirePreauth() }

// WithLibdefault adds a raw line to [libdefaults] (mitrealm.WithLibdefault).
func WithLibdefault(line string) Option { return mitrealm.WithLibdefault(line) }
