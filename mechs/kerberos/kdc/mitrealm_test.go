package kdc

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/asyncsspi/asyncsspi/internal/peertest"
	"github.com/jcmturner/gokrb5/v8/config"
)

// mitRealm is a throwaway MIT realm: krb5kdc on a free loopback port,
// everything in a temporary folder, killed at cleanup.
type mitRealm struct {
	Realm    string
	Addr     string
	Dir      string
	ConfPath string
	Conf     *config.Config
	env      []string
	bins     map[string]string
	logPath  string
}

func startMITRealm(t *testing.T) *mitRealm {
	t.Helper()
	bins := peertest.Binaries(t, "krb5kdc", "kdb5_util", "kadmin.local", "kinit")
	if bins == nil {
		return nil
	}
	dir := t.TempDir()
	r := &mitRealm{Realm: "KDC.TEST", Dir: dir, bins: bins, logPath: filepath.Join(dir, "kdc.log")}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r.Addr = l.Addr().String()
	l.Close()
	r.ConfPath = filepath.Join(dir, "krb5.conf")
	krb5conf := fmt.Sprintf(`[libdefaults]
 default_realm = %[1]s
 dns_lookup_kdc = false
 dns_lookup_realm = false
 rdns = false
 dns_canonicalize_hostname = false
 forwardable = true
[realms]
 %[1]s = {
  kdc = %[2]s
 }
`, r.Realm, r.Addr)
	kdcconf := fmt.Sprintf(`[kdcdefaults]
 kdc_listen = %[2]s
 kdc_tcp_listen = %[2]s
[realms]
 %[1]s = {
  database_name = %[3]s/principal
  key_stash_file = %[3]s/stash
  acl_file = %[3]s/kadm5.acl
  max_life = 10h
  max_renewable_life = 7d
  supported_enctypes = aes256-cts-hmac-sha1-96:normal aes128-cts-hmac-sha1-96:normal aes256-cts-hmac-sha384-192:normal aes128-cts-hmac-sha256-128:normal
 }
[logging]
 kdc = FILE:%[4]s
`, r.Realm, r.Addr, dir, r.logPath)
	must(t, os.WriteFile(r.ConfPath, []byte(krb5conf), 0o644))
	must(t, os.WriteFile(filepath.Join(dir, "kdc.conf"), []byte(kdcconf), 0o644))
	must(t, os.WriteFile(filepath.Join(dir, "kadm5.acl"), nil, 0o644))
	r.env = append(os.Environ(), "KRB5_CONFIG="+r.ConfPath, "KRB5_KDC_PROFILE="+filepath.Join(dir, "kdc.conf"), "KRB5RCACHEDIR="+dir)
	r.run(t, r.bins["kdb5_util"], "create", "-s", "-P", "master-pw", "-r", r.Realm)
	cmd := exec.Command(r.bins["krb5kdc"], "-n", "-r", r.Realm)
	cmd.Env = r.env
	must(t, cmd.Start())
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	r.Conf, err = LoadConfigFile(r.ConfPath)
	must(t, err)
	for deadline := time.Now().Add(10 * time.Second); ; {
		b, _ := os.ReadFile(r.logPath)
		if strings.Contains(string(b), "commencing operation") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("krb5kdc did not start: %s", b)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return r
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func (r *mitRealm) run(t *testing.T, bin string, args ...string) string {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = r.env
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", bin, args, err, out)
	}
	return string(out)
}

func (r *mitRealm) kadmin(t *testing.T, query string) {
	t.Helper()
	r.run(t, r.bins["kadmin.local"], "-r", r.Realm, "-q", query)
}

// AddUser adds a principal with a password (and any addprinc options).
func (r *mitRealm) AddUser(t *testing.T, name, password string, opts ...string) {
	t.Helper()
	r.kadmin(t, fmt.Sprintf("addprinc %s -pw %s %s", strings.Join(opts, " "), password, name))
}

// AddService adds a principal with a random key and returns a keytab path.
func (r *mitRealm) AddService(t *testing.T, name string) string {
	t.Helper()
	r.kadmin(t, "addprinc -randkey "+name)
	kt := filepath.Join(r.Dir, strings.ReplaceAll(name, "/", "_")+".keytab")
	r.kadmin(t, fmt.Sprintf("ktadd -k %s %s", kt, name))
	return kt
}

// Kinit obtains a TGT into a new FILE ccache and returns its path.
func (r *mitRealm) Kinit(t *testing.T, name, password string) string {
	t.Helper()
	cc := filepath.Join(r.Dir, "cc_"+name)
	cmd := exec.Command(r.bins["kinit"], "-c", "FILE:"+cc, name)
	cmd.Env = r.env
	cmd.Stdin = strings.NewReader(password + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("kinit: %v\n%s", err, out)
	}
	return cc
}

// CountRequests counts KDC log lines of kind ("AS_REQ", "TGS_REQ") whose
// text contains substr.
func (r *mitRealm) CountRequests(t *testing.T, kind, substr string) int {
	t.Helper()
	b, err := os.ReadFile(r.logPath)
	must(t, err)
	n := 0
	for _, line := range strings.Split(string(b), "\n") {
		if strings.Contains(line, kind+" ") && strings.Contains(line, substr) {
			n++
		}
	}
	return n
}
