package kdc

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/jcmturner/gokrb5/v8/config"
	"github.com/jcmturner/gokrb5/v8/credentials"
	"github.com/jcmturner/gokrb5/v8/keytab"
)

// DefaultConfigPath is where MIT reads krb5.conf when KRB5_CONFIG is unset.
const DefaultConfigPath = "/etc/krb5.conf"

// LoadConfig reads krb5.conf as MIT does: the first readable file of the
// colon-separated list in KRB5_CONFIG, else /etc/krb5.conf. When no file
// exists it returns gokrb5's built-in defaults (no realms), not an error.
// Directives gokrb5 does not support are ignored. LoadProfile also reads
// the relations gokrb5's Config does not carry.
func LoadConfig() (*config.Config, error) {
	p, err := LoadProfile()
	if err != nil {
		return nil, err
	}
	return p.Config, nil
}

// LoadConfigFile parses one krb5.conf file. A directive gokrb5 reports as
// unsupported does not fail the load.
func LoadConfigFile(path string) (*config.Config, error) {
	p, err := LoadProfileFile(path)
	if err != nil {
		return nil, err
	}
	return p.Config, nil
}

// Profile is a krb5.conf as this package reads it: gokrb5's Config, and
// the [libdefaults] relations that govern KDC exchanges read as MIT krb5
// reads them (gokrb5 refuses some values MIT accepts and ignores others).
// WithProfile gives them to a Transport.
type Profile struct {
	Config *config.Config
	// UDPPreferenceLimit is udp_preference_limit as MIT 1.20 reads it
	// (sendto_kdc.c): DefaultUDPPreferenceLimit when unset or negative,
	// at most 32700. A request larger than it goes over TCP first, then
	// over UDP if TCP fails; 0 and 1 put TCP first for every request.
	UDPPreferenceLimit int
	// RequestTimeout is request_timeout (MIT 1.22; 1.20 has no such
	// relation and ends an exchange by its retry schedule alone): the
	// most an Exchange may take in all. Zero when unset or 0, which
	// leaves the Transport's own bound.
	RequestTimeout time.Duration
}

// LoadProfile reads the krb5.conf LoadConfig would read.
func LoadProfile() (*Profile, error) {
	paths := []string{DefaultConfigPath}
	if env := os.Getenv("KRB5_CONFIG"); env != "" {
		paths = filepath.SplitList(env)
	}
	for _, p := range paths {
		if p == "" {
			continue
		}
		if _, err := os.Stat(p); err != nil {
			continue
		}
		return LoadProfileFile(p)
	}
	return ProfileFromConfig(config.New()), nil
}

// LoadProfileFile reads one krb5.conf file.
func LoadProfileFile(path string) (*Profile, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("kdc: krb5.conf %s: %w", path, err)
	}
	p, err := ParseProfile(string(b))
	if err != nil {
		return nil, fmt.Errorf("kdc: krb5.conf %s: %w", path, err)
	}
	return p, nil
}

// ProfileFromConfig is the Profile of a Config made elsewhere: its
// udp_preference_limit as gokrb5 read it, no request_timeout.
func ProfileFromConfig(c *config.Config) *Profile {
	p := &Profile{Config: c, UDPPreferenceLimit: DefaultUDPPreferenceLimit}
	if c != nil && c.LibDefaults.UDPPreferenceLimit > 0 {
		p.UDPPreferenceLimit = min(c.LibDefaults.UDPPreferenceLimit, maxUDPPreferenceLimit)
	}
	return p
}

// ParseProfile parses the text of a krb5.conf. The udp_preference_limit
// and request_timeout relations of [libdefaults] are read here, as MIT
// reads them, and udp_preference_limit is passed to gokrb5 only in a form
// it accepts (gokrb5 refuses a negative value or one above 32700, which
// MIT reads as the default and as 32700).
func ParseProfile(text string) (*Profile, error) {
	p := &Profile{UDPPreferenceLimit: DefaultUDPPreferenceLimit}
	lines := strings.Split(text, "\n")
	section := ""
	for i, line := range lines {
		l := strings.TrimSpace(line)
		if strings.HasPrefix(l, "[") {
			section = strings.ToLower(strings.Trim(l, "[] \t"))
			continue
		}
		if section != "libdefaults" {
			continue
		}
		key, val, ok := strings.Cut(l, "=")
		if !ok {
			continue
		}
		val = strings.TrimSpace(val)
		if j := strings.IndexAny(val, "#;"); j >= 0 {
			val = strings.TrimSpace(val[:j])
		}
		switch strings.ToLower(strings.TrimSpace(key)) {
		case "udp_preference_limit":
			n, err := strconv.ParseInt(val, 10, 64)
			switch {
			case err != nil || n < 0:
				n = DefaultUDPPreferenceLimit
			case n > maxUDPPreferenceLimit:
				n = maxUDPPreferenceLimit
			}
			p.UDPPreferenceLimit = int(n)
			lines[i] = "" // read here; gokrb5 refuses some of MIT's values
		case "request_timeout":
			d, err := parseDeltat(val)
			if err != nil {
				return nil, fmt.Errorf("request_timeout %q: %w", val, err)
			}
			p.RequestTimeout = d
		}
	}
	c, err := config.NewFromString(strings.Join(lines, "\n"))
	if err != nil {
		var unsupported config.UnsupportedDirective
		if c == nil || !errors.As(err, &unsupported) {
			return nil, err
		}
	}
	c.LibDefaults.UDPPreferenceLimit = p.UDPPreferenceLimit
	p.Config = c
	return p, nil
}

// parseDeltat reads an MIT duration string (krb5_string_to_deltat, the
// "duration" of krb5.conf(5)): a number of seconds, "h:m[:s]", or numbers
// with d, h, m and s units ("1d 2h", "30m").
func parseDeltat(s string) (time.Duration, error) {
	s = strings.ReplaceAll(strings.TrimSpace(s), " ", "")
	if s == "" {
		return 0, errors.New("empty duration")
	}
	if n, err := strconv.ParseUint(s, 10, 32); err == nil {
		return time.Duration(n) * time.Second, nil
	}
	if strings.Contains(s, ":") {
		parts := strings.Split(s, ":")
		if len(parts) > 3 {
			return 0, errors.New("too many fields")
		}
		var d time.Duration
		units := []time.Duration{time.Hour, time.Minute, time.Second}
		for i, f := range parts {
			n, err := strconv.ParseUint(f, 10, 32)
			if err != nil {
				return 0, err
			}
			d += time.Duration(n) * units[i]
		}
		return d, nil
	}
	var d time.Duration
	for s != "" {
		i := 0
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i == 0 || i == len(s) {
			return 0, errors.New("malformed duration")
		}
		n, err := strconv.ParseUint(s[:i], 10, 32)
		if err != nil {
			return 0, err
		}
		var unit time.Duration
		switch s[i] {
		case 'd':
			unit = 24 * time.Hour
		case 'h':
			unit = time.Hour
		case 'm':
			unit = time.Minute
		case 's':
			unit = time.Second
		default:
			return 0, errors.New("unknown unit in duration")
		}
		d += time.Duration(n) * unit
		s = s[i+1:]
	}
	return d, nil
}

// LoadCCache reads the ticket cache MIT would use: KRB5CCNAME when it names
// a FILE: cache (or a bare path), else /tmp/krb5cc_<uid>. Only the FILE
// type exists here; other types (KEYRING:, KCM:, MEMORY:) are an error.
func LoadCCache() (*credentials.CCache, error) {
	name := os.Getenv("KRB5CCNAME")
	if name == "" {
		name = fmt.Sprintf("/tmp/krb5cc_%d", os.Getuid())
	}
	path, ok := strings.CutPrefix(name, "FILE:")
	if !ok && strings.Contains(name, ":") && !strings.HasPrefix(name, "/") {
		return nil, fmt.Errorf("kdc: ticket cache %q: only FILE: caches are supported", name)
	}
	return credentials.LoadCCache(path)
}

// LoadKeytab reads the client keytab MIT would use: KRB5_CLIENT_KTNAME, else
// KRB5_KTNAME (a FILE: name or a bare path).
func LoadKeytab() (*keytab.Keytab, error) {
	name := os.Getenv("KRB5_CLIENT_KTNAME")
	if name == "" {
		name = os.Getenv("KRB5_KTNAME")
	}
	if name == "" {
		return nil, errors.New("kdc: neither KRB5_CLIENT_KTNAME nor KRB5_KTNAME is set")
	}
	path, _ := strings.CutPrefix(name, "FILE:")
	return keytab.Load(path)
}
