// Package peertest decides what a test does when a real peer (the MIT KDC,
// MIT GSSAPI through python3-gssapi, gss-ntlmssp, curl) is missing: it skips
// with a clear message, or fails when ASYNCSSPI_REQUIRE_PEERS=1 is set, as
// CI sets it, so that a missing peer can never hide a required check.
package peertest

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// RequireEnv is the environment variable that turns a missing peer from a
// skip into a failure.
const RequireEnv = "ASYNCSSPI_REQUIRE_PEERS"

// Required reports whether missing peers must fail tests.
func Required() bool { return os.Getenv(RequireEnv) == "1" }

// Missing skips or fails t (see the package comment) because of what.
func Missing(t testing.TB, what string) {
	t.Helper()
	if Required() {
		t.Fatalf("real peer missing: %s (%s=1 requires every peer; install them with .ci/run's apt-get line)", what, RequireEnv)
	}
	t.Skipf("real peer missing, skipping: %s (set %s=1 to make this a failure)", what, RequireEnv)
}

// Binaries returns the full paths of the named programs, looked up in PATH
// and in the sbin folders where Debian puts the KDC programs. If one is
// missing it calls Missing.
func Binaries(t testing.TB, names ...string) map[string]string {
	t.Helper()
	paths := make(map[string]string, len(names))
	for _, n := range names {
		p, err := lookPath(n)
		if err != nil {
			Missing(t, "program "+n+" not found")
			return nil
		}
		paths[n] = p
	}
	return paths
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

// Python returns the path of a Python 3 that can import gssapi
// (python3-gssapi). Debian's is /usr/bin/python3; an earlier python3 on
// PATH may be another build without the module.
func Python(t testing.TB) string {
	t.Helper()
	for _, p := range []string{"/usr/bin/python3", "python3"} {
		path, err := exec.LookPath(p)
		if err != nil {
			continue
		}
		if exec.Command(path, "-c", "import gssapi").Run() == nil {
			return path
		}
	}
	Missing(t, "python3 with the gssapi module (Debian package python3-gssapi)")
	return ""
}

// NTLMSSP reports whether gss-ntlmssp is installed (its mech.d entry), and
// calls Missing when it is not.
func NTLMSSP(t testing.TB) {
	t.Helper()
	for _, p := range []string{"/etc/gss/mech.d/mech.ntlmssp.conf", "/etc/gss/mech.d/ntlmssp.conf"} {
		if _, err := os.Stat(p); err == nil {
			return
		}
	}
	Missing(t, "gss-ntlmssp (Debian package gss-ntlmssp)")
}
