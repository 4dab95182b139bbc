// Package peertest decides what a test does when a real peer (the MIT KDC,
// MIT GSSAPI through python3-gssapi, gss-ntlmssp, curl) is missing: it skips
// with a clear message, or fails when ASYNCSSPI_REQUIRE_PEERS=1 is set, as
// CI sets it, so that a missing peer can never hide a required check.
package peertest

import (
	"bytes"
	"os"
	"os/exec"
	"sync"
	"testing"

	"github.com/asyncsspi/asyncsspi/internal/mitrealm"
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

// Binaries returns the full paths of the named programs, looked up by
// mitrealm.LookPath (PATH, then the sbin folders where Debian puts the KDC
// programs). If one is missing it calls Missing.
func Binaries(t testing.TB, names ...string) map[string]string {
	t.Helper()
	paths := make(map[string]string, len(names))
	for _, n := range names {
		p, err := mitrealm.LookPath(n)
		if err != nil {
			Missing(t, "program "+n+" not found")
			return nil
		}
		paths[n] = p
	}
	return paths
}

// pythons are the Pythons to try, in order: Debian's /usr/bin/python3 (an
// earlier python3 on PATH may be another build without the gssapi module),
// then python3 from PATH.
func pythons() []string { return []string{"/usr/bin/python3", "python3"} }

// Python returns the path of a Python 3 that can import gssapi
// (python3-gssapi), and calls Missing when there is none.
func Python(t testing.TB) string {
	t.Helper()
	for _, p := range pythons() {
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

// PythonPath returns the first Python 3 found, without checking that it
// can import gssapi (for a caller that learns that from the script it
// runs), and calls Missing when there is none.
func PythonPath(t testing.TB) string {
	t.Helper()
	for _, p := range pythons() {
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	Missing(t, "python3 (with the Debian package python3-gssapi)")
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

// Buffer collects what a peer writes (a child's standard error copied by
// os/exec, a test server's log) for the test to read while it runs: a
// bytes.Buffer behind a mutex.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *Buffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// String returns what was written so far.
func (l *Buffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
