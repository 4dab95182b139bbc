package mitrealm_test

import (
	"fmt"
	"go/build"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/jcmturner/gokrb5/v8/credentials"
	"github.com/jcmturner/gokrb5/v8/keytab"
	"go.uber.org/goleak"

	"github.com/asyncsspi/asyncsspi/internal/mitrealm"
	"github.com/asyncsspi/asyncsspi/internal/peertest"
	"github.com/asyncsspi/asyncsspi/internal/testrealm"
)

// A realm's KDC is waited for by a goroutine; none may outlive a test.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// programs skips or fails t (peertest.Missing) without the MIT programs.
func programs(t *testing.T) {
	t.Helper()
	if _, err := mitrealm.Programs(); err != nil {
		peertest.Missing(t, err.Error())
	}
}

func TestLookPath(t *testing.T) {
	if _, err := mitrealm.LookPath("sh"); err != nil {
		t.Fatal(err)
	}
	if _, err := mitrealm.LookPath("no-such-program-asyncsspi"); err == nil {
		t.Fatal("found a program that does not exist")
	}
}

// TestNoTestingImport: the package is a product (sspi demo runs it), so it
// imports nothing made for tests.
func TestNoTestingImport(t *testing.T) {
	pkg, err := build.ImportDir(".", 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, imp := range pkg.Imports {
		if imp == "testing" || strings.HasPrefix(imp, "testing/") || strings.HasSuffix(imp, "/internal/peertest") || strings.HasSuffix(imp, "/internal/testrealm") {
			t.Errorf("mitrealm imports %s", imp)
		}
	}
	if !slices.Contains(pkg.Imports, "os/exec") {
		t.Errorf("imports %v: did the build context read this package?", pkg.Imports)
	}
}

// TestLaunchClose: a realm started in a folder of the caller's, set up
// through the error-returning helpers, and closed by Close: the KDC is
// gone afterwards, and a second Close is harmless.
func TestLaunchClose(t *testing.T) {
	t.Parallel()
	programs(t)
	dir := t.TempDir()
	r, err := mitrealm.Launch(dir, mitrealm.WithRealm("LAUNCH.TEST"))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if r.Name != "LAUNCH.TEST" || r.Dir != dir || r.ServiceKeytab == "" {
		t.Fatalf("%+v", r)
	}
	if err := r.CreateUser("bob", "bob-Pa55"); err != nil {
		t.Fatal(err)
	}
	if err := r.CreateUser("bob", "bob-Pa55"); err == nil {
		t.Fatal("creating bob twice: no error")
	}
	if err := r.CreateUser("carol", "has space"); err == nil {
		t.Fatal("password with a space: no error")
	}
	if err := r.CreateService("HTTP/launch.test"); err != nil {
		t.Fatal(err)
	}
	kt, err := r.WriteKeytab("HTTP/launch.test")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := keytab.Load(kt); err != nil {
		t.Fatal(err)
	}
	if _, err := r.WriteKeytab(); err == nil {
		t.Fatal("WriteKeytab with no principal: no error")
	}
	if err := r.RunKadmin("getprinc nobody"); err == nil {
		t.Fatal("getprinc of a missing principal: no error")
	}
	cc, err := r.Kinit("bob", "bob-Pa55")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := credentials.LoadCCache(cc); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Kinit("bob", "not-the-password"); err == nil {
		t.Fatal("kinit with a wrong password: no error")
	}
	pid := mitrealm.KDCPid(r)
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	// The KDC has been waited for: its pid no longer names our child.
	if _, err := os.Stat(fmt.Sprintf("/proc/%d/status", pid)); err == nil {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if strings.Contains(string(b), "krb5kdc") {
			t.Fatalf("krb5kdc %d still running after Close", pid)
		}
	}
	cmd := r.Command("kinit", "bob")
	cmd.Stdin = strings.NewReader("bob-Pa55\n")
	if out, err := cmd.CombinedOutput(); err == nil {
		t.Fatalf("kinit after Close succeeded: %s", out)
	}
}

// TestLaunchBadDir: Launch in a folder that does not exist fails with an
// error and starts nothing.
func TestLaunchBadDir(t *testing.T) {
	programs(t)
	if r, err := mitrealm.Launch(filepath.Join(t.TempDir(), "missing", "dir")); err == nil {
		r.Close()
		t.Fatal("no error")
	}
}

func TestSocketsOnPort(t *testing.T) {
	if _, err := os.Stat("/proc/net/tcp"); err != nil {
		// The guard against two KDCs sharing a port reads /proc/net; on
		// Linux, where CI runs the real KDC, it must be there.
		if runtime.GOOS == "linux" {
			t.Fatalf("no /proc/net/tcp on Linux: the port-sharing guard cannot work: %v", err)
		}
		t.Skip("no /proc/net on " + runtime.GOOS + ": the port-sharing guard is off here")
	}
	addr := testrealm.SilentAddr(t)
	var port int
	fmt.Sscanf(addr[strings.LastIndex(addr, ":")+1:], "%d", &port)
	if n := mitrealm.SocketsOnPort(port); n != 2 {
		t.Fatalf("SocketsOnPort(%d) = %d, want 2", port, n)
	}
}
