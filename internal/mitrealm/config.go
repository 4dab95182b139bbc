package mitrealm

import (
	"bytes"
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"time"
)

// Option configures a realm started by Launch.
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
// in krb5.conf before the live KDC, for failover tests (internal/testrealm's
// ClosedAddr and SilentAddr make addresses that refuse or never answer).
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

// writeConfig writes krb5.conf and kdc.conf for the KDC on port, and sets
// the fields that describe them.
func (r *Realm) writeConfig(port int) error {
	cfg := r.cfg
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	r.KDCAddrs = append(append([]string(nil), cfg.kdcsBefore...), addr)

	var k bytes.Buffer
	fmt.Fprintf(&k, "[libdefaults]\n")
	fmt.Fprintf(&k, "  default_realm = %s\n", r.Name)
	fmt.Fprintf(&k, "  dns_lookup_kdc = false\n")
	fmt.Fprintf(&k, "  dns_lookup_realm = false\n")
	fmt.Fprintf(&k, "  rdns = false\n")
	fmt.Fprintf(&k, "  dns_canonicalize_hostname = false\n")
	fmt.Fprintf(&k, "  default_ccache_name = FILE:%s\n", filepath.Join(r.Dir, "ccache"))
	// Forwardable TGTs, so that delegation (GSS_C_DELEG_FLAG,
	// ISC_REQ_DELEGATE) can be tested.
	fmt.Fprintf(&k, "  forwardable = true\n")
	if cfg.forceTCP {
		fmt.Fprintf(&k, "  udp_preference_limit = 1\n")
	}
	if cfg.ticketLife > 0 {
		fmt.Fprintf(&k, "  ticket_lifetime = %d\n", seconds(cfg.ticketLife))
	}
	if cfg.renewLife > 0 {
		fmt.Fprintf(&k, "  renew_lifetime = %d\n", seconds(cfg.renewLife))
	}
	if cfg.clockSkew > 0 {
		fmt.Fprintf(&k, "  clockskew = %d\n", seconds(cfg.clockSkew))
	}
	for _, l := range cfg.extraLibdefs {
		fmt.Fprintf(&k, "  %s\n", l)
	}
	fmt.Fprintf(&k, "\n[realms]\n  %s = {\n", r.Name)
	for _, a := range r.KDCAddrs {
		fmt.Fprintf(&k, "    kdc = %s\n", a)
	}
	fmt.Fprintf(&k, "  }\n\n[domain_realm]\n  localhost = %s\n  .localhost = %s\n", r.Name, r.Name)
	r.Krb5ConfText = k.String()

	// kdc.conf holds the [logging] section: krb5kdc reads both files, and a
	// kdc= line in each would log every request twice.
	var d bytes.Buffer
	fmt.Fprintf(&d, "[kdcdefaults]\n  kdc_listen = %s\n  kdc_tcp_listen = %s\n\n", addr, addr)
	fmt.Fprintf(&d, "[realms]\n  %s = {\n", r.Name)
	fmt.Fprintf(&d, "    database_name = %s\n", filepath.Join(r.Dir, "principal"))
	fmt.Fprintf(&d, "    key_stash_file = %s\n", filepath.Join(r.Dir, "stash"))
	fmt.Fprintf(&d, "    acl_file = %s\n", filepath.Join(r.Dir, "kadm5.acl"))
	fmt.Fprintf(&d, "    kdc_listen = %s\n    kdc_tcp_listen = %s\n", addr, addr)
	if cfg.ticketLife > 0 {
		fmt.Fprintf(&d, "    max_life = %ds\n", seconds(cfg.ticketLife))
	}
	if cfg.renewLife > 0 {
		fmt.Fprintf(&d, "    max_renewable_life = %ds\n", seconds(cfg.renewLife))
	}
	if cfg.requirePreath {
		fmt.Fprintf(&d, "    default_principal_flags = +preauth\n")
	}
	fmt.Fprintf(&d, "  }\n\n[logging]\n  kdc = FILE:%s\n", r.LogPath)

	if err := writeFile(r.Krb5Conf, r.Krb5ConfText); err != nil {
		return err
	}
	return writeFile(r.KDCConf, d.String())
}

func seconds(d time.Duration) int64 {
	s := int64(d / time.Second)
	if s < 1 {
		s = 1
	}
	return s
}
