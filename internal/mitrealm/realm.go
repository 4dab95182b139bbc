// Package mitrealm starts a throwaway MIT Kerberos realm: its own database,
// krb5.conf and kdc.conf in a folder the caller owns, a krb5kdc on a free
// loopback port (UDP and TCP), nothing written to /etc and DNS lookups off.
// The KDC runs as a child process (krb5kdc -n) that Close kills and waits
// for.
//
// It is what `sspi demo` runs its Kerberos and Negotiate handshakes
// against; internal/testrealm wraps it for tests (a realm per test in
// t.TempDir(), skipped or failed when the MIT programs are missing). Every
// realm is independent, so several may run at once, in one process or in
// several.
//
// Usage:
//
//	realm, err := mitrealm.Launch(dir)
//	if err != nil { ... }
//	defer realm.Close()
//	cfg, _ := config.NewFromString(realm.Krb5ConfText) // gokrb5
//	ccache, err := realm.Kinit(mitrealm.User, mitrealm.Password)
package mitrealm

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// Defaults created by Launch unless WithoutDefaultPrincipals is given.
const (
	DefaultRealm = "ASYNCSSPI.TEST"
	// User is a client principal (alice@REALM) with password Password.
	User     = "alice"
	Password = "alice-Pa55word"
	// Service is the default service principal (HTTP/localhost@REALM),
	// created with a random key and written to Realm.ServiceKeytab. Its
	// GSS host-based name is ServiceGSSName.
	Service        = "HTTP/localhost"
	ServiceGSSName = "HTTP@localhost"
)

// masterPassword encrypts the throwaway database; it guards nothing.
const masterPassword = "mitrealm-master"

// Realm is a running MIT KDC and the files that describe it. Its exported
// fields are set by Launch and never change afterwards; its methods may be
// called from several goroutines.
type Realm struct {
	// Name is the realm name, e.g. "ASYNCSSPI.TEST".
	Name string
	// KDCAddr is the live KDC, "127.0.0.1:port", UDP and TCP.
	KDCAddr string
	// KDCAddrs is every KDC listed for the realm in krb5.conf, in order:
	// the addresses given by WithKDCsBefore, then KDCAddr.
	KDCAddrs []string
	// Dir is the realm's folder (database, logs, ccaches, keytabs).
	Dir string
	// Krb5Conf is the path of the realm's krb5.conf; Krb5ConfText is its
	// text, for gokrb5's config.NewFromString.
	Krb5Conf     string
	Krb5ConfText string
	// KDCConf is the path of the realm's kdc.conf.
	KDCConf string
	// ServiceKeytab holds the keys of Service (empty with
	// WithoutDefaultPrincipals). Env names it as KRB5_KTNAME.
	ServiceKeytab string
	// LogPath is the KDC's log file, which CountRequests reads.
	LogPath string

	progs map[string]string
	cfg   settings
	seq   atomic.Uint64

	// admin serializes kadmin.local runs: they share one database lock and
	// one keytab file per call.
	admin sync.Mutex

	// kdc and portClaim are set by launch and released once by Close.
	kdc       *kdcProcess
	portClaim net.Listener
	closeOnce sync.Once
}

// Launch creates and starts a realm in dir, an existing folder the caller
// owns (and removes after Close). It returns an error when the MIT programs
// are missing (see Programs) or the KDC does not start, and then leaves
// nothing running. Otherwise the caller must call Close, which kills the
// KDC and waits for it, on every path.
func Launch(dir string, opts ...Option) (*Realm, error) {
	progs, err := Programs()
	if err != nil {
		return nil, err
	}
	return launch(dir, progs, opts)
}

// launch is Launch with the programs found.
func launch(dir string, progs map[string]string, opts []Option) (*Realm, error) {
	cfg := defaultConfig()
	for _, o := range opts {
		o(&cfg)
	}
	r := &Realm{
		Name:     cfg.realm,
		Dir:      dir,
		progs:    progs,
		cfg:      cfg,
		LogPath:  filepath.Join(dir, "kdc.log"),
		Krb5Conf: filepath.Join(dir, "krb5.conf"),
		KDCConf:  filepath.Join(dir, "kdc.conf"),
	}
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return nil, fmt.Errorf("mitrealm: %s is not an existing folder", dir)
	}
	if err := os.Mkdir(filepath.Join(dir, "rcache"), 0o700); err != nil {
		return nil, fmt.Errorf("mitrealm: %w", err)
	}
	if err := writeFile(filepath.Join(dir, "kadm5.acl"), ""); err != nil {
		return nil, err
	}

	// The database does not depend on the port; write the files once with a
	// placeholder port so that kdb5_util and kadmin.local can read them.
	if err := r.writeConfig(0); err != nil {
		return nil, err
	}
	if err := r.run(progs["kdb5_util"], "create", "-s", "-P", masterPassword, "-r", r.Name); err != nil {
		return nil, err
	}
	if cfg.withDefaults {
		r.ServiceKeytab = filepath.Join(dir, "service.keytab")
		if err := r.kadmin(
			"addprinc -pw "+Password+" "+User,
			"addprinc -randkey "+Service,
			"ktadd -norandkey -k "+r.ServiceKeytab+" "+Service,
		); err != nil {
			return nil, err
		}
	}

	var lastErr error
	for attempt := 0; attempt < 8; attempt++ {
		port, claim, err := ReservePort()
		if err != nil {
			lastErr = err
			continue
		}
		if err := r.writeConfig(port); err != nil {
			closeClaim(claim)
			return nil, err
		}
		kdc, err := r.startKDC(port)
		if err == nil {
			r.kdc, r.portClaim = kdc, claim
			r.KDCAddr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
			return r, nil
		}
		closeClaim(claim)
		lastErr = err
	}
	return nil, fmt.Errorf("mitrealm: cannot start krb5kdc: %v", lastErr)
}

// Close kills the KDC, waits for it to exit and releases the realm's port
// claim. It does not remove Dir. Calling it again does nothing; it returns
// nil (a KDC ended by a kill has no error worth reporting).
func (r *Realm) Close() error {
	r.closeOnce.Do(func() {
		if r.kdc != nil {
			r.kdc.stop()
		}
		closeClaim(r.portClaim)
	})
	return nil
}

// StopKDC kills the KDC now (Close would do it anyway), for a realm whose
// KDC must be unreachable. Nothing answers on KDCAddr afterwards.
func (r *Realm) StopKDC() {
	r.kdc.stop()
}

// Env returns the environment variables that point MIT programs and
// libraries (kinit, klist, kvno, python-gssapi, curl) at this realm:
// KRB5_CONFIG, KRB5_KDC_PROFILE, KRB5RCACHEDIR, KRB5CCNAME (a FILE: cache in
// Dir, empty until someone kinits into it) and KRB5_KTNAME (ServiceKeytab).
// Append them after os.Environ() with KRB5* variables removed, as Command
// does; later entries win in os/exec.
func (r *Realm) Env() []string {
	env := []string{
		"KRB5_CONFIG=" + r.Krb5Conf,
		"KRB5_KDC_PROFILE=" + r.KDCConf,
		"KRB5RCACHEDIR=" + filepath.Join(r.Dir, "rcache"),
		"KRB5CCNAME=FILE:" + filepath.Join(r.Dir, "ccache"),
	}
	if r.ServiceKeytab != "" {
		env = append(env, "KRB5_KTNAME=FILE:"+r.ServiceKeytab)
	}
	return env
}

// Environ returns os.Environ() without KRB5* variables, followed by Env()
// and then extra ("NAME=value" entries, which win).
func (r *Realm) Environ(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "KRB5") {
			continue
		}
		env = append(env, kv)
	}
	env = append(env, r.Env()...)
	return append(env, extra...)
}

// Command returns an exec.Cmd for an MIT program (klist, kvno, kinit,
// kdestroy, …, found by LookPath) whose environment is Environ().
func (r *Realm) Command(name string, args ...string) *exec.Cmd {
	path, ok := r.progs[name]
	if !ok {
		if p, err := LookPath(name); err == nil {
			path = p
		} else {
			path = name // exec reports it missing when run
		}
	}
	cmd := exec.Command(path, args...)
	cmd.Env = r.Environ()
	return cmd
}

// Principal returns name qualified with the realm unless it already
// contains '@'.
func (r *Realm) Principal(name string) string {
	if strings.Contains(name, "@") {
		return name
	}
	return name + "@" + r.Name
}

// Log returns the KDC's log so far.
func (r *Realm) Log() string {
	b, _ := os.ReadFile(r.LogPath)
	return string(b)
}

// LogTail returns the last n lines of the KDC's log.
func (r *Realm) LogTail(n int) string { return tail(r.Log(), n) }

// CountRequests returns how many requests of kind ("AS_REQ" or "TGS_REQ")
// the KDC has logged so far, answered or refused. krb5kdc logs one line per
// request as it answers, so after a client has its reply the count includes
// that request.
func (r *Realm) CountRequests(kind string) int {
	n := 0
	needle := "): " + kind + " "
	for _, line := range strings.Split(r.Log(), "\n") {
		if strings.Contains(line, needle) {
			n++
		}
	}
	return n
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func writeFile(path, text string) error {
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		return fmt.Errorf("mitrealm: %w", err)
	}
	return nil
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}
