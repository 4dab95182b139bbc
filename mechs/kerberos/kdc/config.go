package kdc

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/jcmturner/gokrb5/v8/config"
	"github.com/jcmturner/gokrb5/v8/credentials"
	"github.com/jcmturner/gokrb5/v8/keytab"
)

// DefaultConfigPath is where MIT reads krb5.conf when KRB5_CONFIG is unset.
const DefaultConfigPath = "/etc/krb5.conf"

// LoadConfig reads krb5.conf as MIT does: the first readable file of the
// colon-separated list in KRB5_CONFIG, else /etc/krb5.conf. When no file
// exists it returns gokrb5's built-in defaults (no realms), not an error.
// Directives gokrb5 does not support are ignored.
func LoadConfig() (*config.Config, error) {
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
		return LoadConfigFile(p)
	}
	return config.New(), nil
}

// LoadConfigFile parses one krb5.conf file. A directive gokrb5 reports as
// unsupported does not fail the load.
func LoadConfigFile(path string) (*config.Config, error) {
	c, err := config.Load(path)
	if err != nil {
		var unsupported config.UnsupportedDirective
		if c != nil && errors.As(err, &unsupported) {
			return c, nil
		}
		return nil, fmt.Errorf("kdc: krb5.conf %s: %w", path, err)
	}
	return c, nil
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
