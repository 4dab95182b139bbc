// Package testrealm starts a throwaway MIT Kerberos KDC for a test: its own
// realm, database, krb5.conf and kdc.conf in t.TempDir(), listening on a free
// loopback port (UDP and TCP), with nothing written to /etc and DNS lookups
// off. The KDC runs as a child process (krb5kdc -n) that t.Cleanup kills and
// waits for.
//
// Every realm is independent, so tests may call Start in parallel, and
// packages may run at the same time under "go test ./...". When the MIT
// programs are missing, Start skips the test, or fails it when
// ASYNCSSPI_REQUIRE_PEERS=1 (see internal/peertest).
//
// Programs that are not tests (the sspi demo) use Launch instead, in a
// folder they own, and Close the realm themselves; the setup helpers have
// twins that return errors (CreateUser, CreateService, WriteKeytab,
// RunKadmin). Skipping or failing on missing programs is Start's alone.
//
// Usage:
//
//	realm := testrealm.Start(t)
//	cfg, _ := config.NewFromString(realm.Krb5ConfText) // gokrb5
//	ccache := realm.Kinit(t, testrealm.User, testrealm.Password)
//	cmd := realm.Command("kvno", "HTTP/localhost")
package testrealm

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asyncsspi/asyncsspi/internal/peertest"
)

// Defaults created by Start unless WithoutDefaultPrincipals is given.
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
const masterPassword = "testrealm-master"

// startTimeout bounds how long Start waits for one krb5kdc to come up.
const startTimeout = 15 * time.Second

// Realm is a running MIT KDC and the files that describe it. Its exported
// fields are set by Start and never change afterwards; its methods may be
// called from several goroutines.
type Realm struct {
	// Name is the realm name, e.g. "ASYNCSSPI.TEST".
	Name string
	// KDCAddr is the live KDC, "127.0.0.1:port", UDP and TCP.
	KDCAddr string
	// KDCAddrs is every KDC listed for the realm in krb5.conf, in order:
	// the addresses given by WithKDCsBefore, then KDCAddr.
	KDCAddrs []string
	// Dir is the realm's temporary folder (database, logs, ccaches, keytabs).
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

// Start creates and starts a realm for t in t.TempDir(), and registers a
// Cleanup that closes it. See the package comment.
func Start(t testing.TB, opts ...Option) *Realm {
	t.Helper()
	progs := peertest.Binaries(t, programNames...)
	if progs == nil {
		return nil
	}
	r, err := launch(t.TempDir(), progs, opts)
	if err != nil {
		t.Fatalf("%v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("testrealm %s: KDC log %s:\n%s", r.Name, r.LogPath, tail(r.Log(), 40))
		}
		r.Close()
	})
	return r
}

// programNames are the MIT programs a realm needs.
var programNames = []string{"krb5kdc", "kdb5_util", "kadmin.local", "kinit"}

// Programs returns the full paths of the MIT programs a realm needs
// (krb5kdc, kdb5_util, kadmin.local, kinit), looked up in PATH and in the
// sbin folders where Debian puts the KDC programs, or an error naming the
// first one missing.
func Programs() (map[string]string, error) {
	progs := make(map[string]string, len(programNames))
	for _, n := range programNames {
		p, err := lookPath(n)
		if err != nil {
			return nil, fmt.Errorf("testrealm: MIT Kerberos program %s not found in PATH or the sbin folders", n)
		}
		progs[n] = p
	}
	return progs, nil
}

func lookPath(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, dir := range []string{"/usr/sbin", "/sbin", "/usr/local/sbin"} {
		p := filepath.Join(dir, name)
		if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", exec.ErrNotFound
}

// Launch creates and starts a realm in dir, an existing folder the caller
// owns (and removes after Close), for programs that are not tests. It
// returns an error when the MIT programs are missing (see Programs) or the
// KDC does not start. The caller must call Close, which kills the KDC and
// waits for it, on every path.
func Launch(dir string, opts ...Option) (*Realm, error) {
	progs, err := Programs()
	if err != nil {
		return nil, err
	}
	return launch(dir, progs, opts)
}

// launch is Launch with the programs already found. On error nothing is
// left running.
func launch(dir string, progs map[string]string, opts []Option) (*Realm, error) {
	cfg := defaultConfig()
	for _, o := range opts {
		o(&cfg)
	}
	r := &Realm{
		Name:    cfg.realm,
		Dir:     dir,
		progs:   progs,
		cfg:     cfg,
		LogPath: filepath.Join(dir, "kdc.log"),
	}
	r.Krb5Conf = filepath.Join(dir, "krb5.conf")
	r.KDCConf = filepath.Join(dir, "kdc.conf")
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return nil, fmt.Errorf("testrealm: %s is not an existing folder", dir)
	}
	if err := os.Mkdir(filepath.Join(dir, "rcache"), 0o700); err != nil {
		return nil, fmt.Errorf("testrealm: %w", err)
	}
	if err := writeFile(filepath.Join(dir, "kadm5.acl"), ""); err != nil {
		return nil, err
	}

	// The database does not depend on the port; write the files once with a
	// placeholder port so that kdb5_util and kadmin.local can read them.
	if err := r.writeConfig(0); err != nil {
		return nil, err
	}
	if err := r.run(nil, progs["kdb5_util"], "create", "-s", "-P", masterPassword, "-r", r.Name); err != nil {
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
		port, lock, err := reservePort()
		if err != nil {
			lastErr = err
			continue
		}
		if err := r.writeConfig(port); err != nil {
			if lock != nil {
				lock.Close()
			}
			return nil, err
		}
		kdc, err := r.startKDC(port)
		if err == nil {
			r.kdc, r.portClaim = kdc, lock
			r.KDCAddr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
			return r, nil
		}
		if lock != nil {
			lock.Close()
		}
		lastErr = err
	}
	return nil, fmt.Errorf("testrealm: cannot start krb5kdc: %v", lastErr)
}

// Close kills the KDC, waits for it to exit and releases the realm's port
// claim. It does not remove Dir. Calling it again does nothing; it returns
// nil (a KDC ended by a kill has no error worth reporting).
func (r *Realm) Close() error {
	r.closeOnce.Do(func() {
		if r.kdc != nil {
			r.kdc.stop()
		}
		if r.portClaim != nil {
			r.portClaim.Close()
		}
	})
	return nil
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
// kdestroy, …, looked up in PATH and the sbin folders) whose environment
// is Environ().
func (r *Realm) Command(name string, args ...string) *exec.Cmd {
	path := name
	if p, ok := r.progs[name]; ok {
		path = p
	} else if p, err := exec.LookPath(name); err == nil {
		path = p
	} else if p := filepath.Join("/usr/sbin", name); fileExists(p) {
		path = p
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

// AddUser creates the principal name (qualified with the realm unless it
// has one) with password, and fails t on error (see CreateUser).
func (r *Realm) AddUser(t testing.TB, name, password string) {
	t.Helper()
	if err := r.CreateUser(name, password); err != nil {
		t.Fatalf("%v", err)
	}
}

// CreateUser creates the principal name (qualified with the realm unless
// it has one) with password. The password must not contain white space or
// quotes.
func (r *Realm) CreateUser(name, password string) error {
	if password == "" || strings.ContainsAny(password, " \t\r\n\"'\\") || strings.ContainsAny(name, " \t\r\n\"'\\") {
		return fmt.Errorf("testrealm: AddUser: name and password must be non-empty and free of white space and quotes")
	}
	return r.kadmin("addprinc -pw " + password + " " + r.Principal(name))
}

// AddService creates the principal spn (e.g. "HTTP/host.test") with a random
// key, and fails t on error. Use Keytab to get its keys.
func (r *Realm) AddService(t testing.TB, spn string) {
	t.Helper()
	if err := r.CreateService(spn); err != nil {
		t.Fatalf("%v", err)
	}
}

// CreateService creates the principal spn (e.g. "HTTP/host.test") with a
// random key. Use WriteKeytab to get its keys.
func (r *Realm) CreateService(spn string) error {
	return r.kadmin("addprinc -randkey " + r.Principal(spn))
}

// Keytab writes the current keys of the given principals to a new keytab
// file and returns its path; it fails t on error (see WriteKeytab).
func (r *Realm) Keytab(t testing.TB, principals ...string) string {
	t.Helper()
	path, err := r.WriteKeytab(principals...)
	if err != nil {
		t.Fatalf("%v", err)
	}
	return path
}

// WriteKeytab writes the current keys of the given principals (without
// changing them: ktadd -norandkey) to a new keytab file in Dir and returns
// its path.
func (r *Realm) WriteKeytab(principals ...string) (string, error) {
	if len(principals) == 0 {
		return "", fmt.Errorf("testrealm: Keytab needs at least one principal")
	}
	path := filepath.Join(r.Dir, fmt.Sprintf("keytab-%d", r.seq.Add(1)))
	cmds := make([]string, 0, len(principals))
	for _, p := range principals {
		cmds = append(cmds, "ktadd -norandkey -k "+path+" "+r.Principal(p))
	}
	if err := r.kadmin(cmds...); err != nil {
		return "", err
	}
	if !fileExists(path) {
		return "", fmt.Errorf("testrealm: ktadd wrote no keytab %s", path)
	}
	return path, nil
}

// Kadmin runs kadmin.local queries (e.g. "modprinc -maxlife 1min alice")
// against the realm's database and fails t on any error output.
func (r *Realm) Kadmin(t testing.TB, queries ...string) {
	t.Helper()
	if err := r.kadmin(queries...); err != nil {
		t.Fatalf("%v", err)
	}
}

// RunKadmin runs kadmin.local queries against the realm's database and
// returns an error on any error output.
func (r *Realm) RunKadmin(queries ...string) error {
	return r.kadmin(queries...)
}

// Kinit gets a TGT for user (qualified with the realm unless it has one)
// with password, into a new FILE ccache in Dir, and returns the cache's
// path (usable as KRB5CCNAME and by gokrb5's credentials.LoadCCache). Extra
// args go to kinit before the principal (e.g. "-r", "1h").
func (r *Realm) Kinit(t testing.TB, user, password string, args ...string) string {
	t.Helper()
	path := filepath.Join(r.Dir, fmt.Sprintf("ccache-%d", r.seq.Add(1)))
	argv := append(append([]string(nil), args...), r.Principal(user))
	cmd := exec.Command(r.progs["kinit"], argv...)
	cmd.Env = r.Environ("KRB5CCNAME=FILE:" + path)
	cmd.Stdin = strings.NewReader(password + "\n")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("testrealm: kinit %s: %v\n%s", r.Principal(user), err, out)
	}
	return path
}

// Log returns the KDC's log so far.
func (r *Realm) Log() string {
	b, _ := os.ReadFile(r.LogPath)
	return string(b)
}

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

// StopKDC kills the KDC now (Cleanup would do it anyway), for tests of an
// unreachable KDC. Nothing answers on KDCAddr afterwards.
func (r *Realm) StopKDC() {
	r.kdc.stop()
}

// kadmin runs kadmin.local with the queries on its standard input.
// kadmin.local exits 0 even when a query fails, so any error line on its
// standard error other than the "no policy" notice is an error.
func (r *Realm) kadmin(queries ...string) error {
	r.admin.Lock()
	defer r.admin.Unlock()
	stdin := strings.Join(queries, "\n") + "\n"
	cmd := exec.Command(r.progs["kadmin.local"], "-r", r.Name)
	cmd.Env = r.Environ()
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("testrealm: kadmin.local %q: %v\n%s%s", queries, err, stdout.String(), stderr.String())
	}
	for _, line := range strings.Split(stderr.String(), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "No policy specified") || strings.HasPrefix(line, "WARNING: no policy specified") {
			continue
		}
		return fmt.Errorf("testrealm: kadmin.local %q: %s", queries, stderr.String())
	}
	return nil
}

func (r *Realm) run(stdin []byte, prog string, args ...string) error {
	cmd := exec.Command(prog, args...)
	cmd.Env = r.Environ()
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("testrealm: %s %q: %v\n%s", filepath.Base(prog), args, err, out)
	}
	return nil
}

// kdcProcess is one krb5kdc child. The goroutine started by startKDC owns
// cmd.Wait and closes done after it returns; stop kills the process and
// waits for done, so nothing outlives the test.
type kdcProcess struct {
	cmd     *exec.Cmd
	done    chan struct{}
	waitErr error // written before done is closed
	once    sync.Once
	out     *bytes.Buffer
}

func (k *kdcProcess) stop() {
	k.once.Do(func() {
		_ = k.cmd.Process.Kill()
		<-k.done
	})
}

// startKDC starts krb5kdc on the port written in kdc.conf and returns once
// it logs "commencing operation" and no other socket shares its port.
func (r *Realm) startKDC(port int) (*kdcProcess, error) {
	_ = os.Remove(r.LogPath)
	cmd := exec.Command(r.progs["krb5kdc"], "-n", "-r", r.Name)
	cmd.Env = r.Environ()
	out := new(bytes.Buffer)
	cmd.Stdout = &lockedWriter{w: out}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	k := &kdcProcess{cmd: cmd, done: make(chan struct{}), out: out}
	go func() {
		k.waitErr = cmd.Wait()
		close(k.done)
	}()
	deadline := time.Now().Add(startTimeout)
	for {
		select {
		case <-k.done:
			return nil, fmt.Errorf("krb5kdc exited: %v\n%s", k.waitErr, tail(r.Log(), 10))
		default:
		}
		if strings.Contains(r.Log(), "commencing operation") {
			break
		}
		if time.Now().After(deadline) {
			k.stop()
			return nil, fmt.Errorf("krb5kdc did not start within %v\n%s", startTimeout, tail(r.Log(), 10))
		}
		time.Sleep(2 * time.Millisecond)
	}
	// krb5kdc sets SO_REUSEADDR/SO_REUSEPORT, so a second KDC on the same
	// port starts without error and steals half the traffic. Refuse to run
	// beside another socket on our port.
	if n := socketsOnPort(port); n > 2 {
		k.stop()
		return nil, fmt.Errorf("port %d is shared with another socket", port)
	}
	return k, nil
}

// lockedWriter lets the KDC's stdout and stderr share one buffer.
type lockedWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// reservePort finds a loopback port free for both TCP and UDP and, on
// Linux, takes a process-wide claim on it: an abstract Unix socket named
// after the port, which the kernel frees when the holder exits. Realms
// started by concurrent test binaries therefore never pick the same port.
// The claim is closed when the realm is cleaned up.
func reservePort() (int, net.Listener, error) {
	for i := 0; i < 64; i++ {
		tl, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			return 0, nil, err
		}
		port := tl.Addr().(*net.TCPAddr).Port
		ul, err := net.ListenPacket("udp4", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			tl.Close()
			continue
		}
		var claim net.Listener
		if runtime.GOOS == "linux" {
			claim, err = net.Listen("unix", "@asyncsspi-testrealm-port-"+strconv.Itoa(port))
			if err != nil {
				tl.Close()
				ul.Close()
				continue
			}
		}
		tl.Close()
		ul.Close()
		return port, claim, nil
	}
	return 0, nil, fmt.Errorf("no loopback port free for both TCP and UDP")
}

// socketsOnPort counts IPv4 sockets bound to port: TCP listeners in
// /proc/net/tcp and UDP sockets in /proc/net/udp. It returns 0 when /proc is
// unreadable (not Linux).
func socketsOnPort(port int) int {
	hexPort := fmt.Sprintf(":%04X", port)
	n := 0
	for _, f := range []string{"/proc/net/tcp", "/proc/net/udp"} {
		b, err := os.ReadFile(f)
		if err != nil {
			return 0
		}
		for _, line := range strings.Split(string(b), "\n")[1:] {
			fields := strings.Fields(line)
			if len(fields) < 4 || !strings.HasSuffix(fields[1], hexPort) {
				continue
			}
			// TCP state 0A is LISTEN; UDP sockets show 07 (unconnected).
			if f == "/proc/net/tcp" && fields[3] != "0A" {
				continue
			}
			n++
		}
	}
	return n
}

// ClosedAddr returns "127.0.0.1:port" where nothing listens on UDP or TCP:
// a KDC there is refused at once (ICMP port unreachable, TCP RST).
func ClosedAddr(t testing.TB) string {
	t.Helper()
	port, claim, err := reservePort()
	if err != nil {
		t.Fatalf("testrealm: %v", err)
	}
	if claim != nil {
		t.Cleanup(func() { claim.Close() })
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
}

// SilentAddr returns "127.0.0.1:port" where a UDP socket and a TCP listener
// are bound but never read: datagrams vanish, TCP connections are accepted
// by the kernel and never answered — a KDC that hangs. No goroutine serves
// them; t.Cleanup closes both.
func SilentAddr(t testing.TB) string {
	t.Helper()
	for i := 0; i < 64; i++ {
		tl, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("testrealm: %v", err)
		}
		port := tl.Addr().(*net.TCPAddr).Port
		ul, err := net.ListenPacket("udp4", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			tl.Close()
			continue
		}
		t.Cleanup(func() {
			tl.Close()
			ul.Close()
		})
		return tl.Addr().String()
	}
	t.Fatalf("testrealm: no loopback port free for both TCP and UDP")
	return ""
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
		return fmt.Errorf("testrealm: %w", err)
	}
	return nil
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}
