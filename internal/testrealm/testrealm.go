// Package testrealm starts a throwaway MIT Kerberos KDC for a test: the
// realm of internal/mitrealm, in t.TempDir(), closed by t.Cleanup (which
// kills the KDC and waits for it), with the setup helpers failing the test
// on error.
//
// Every realm is independent, so tests may call Start in parallel, and
// packages may run at the same time under "go test ./...". When the MIT
// programs are missing, Start skips the test, or fails it when
// ASYNCSSPI_REQUIRE_PEERS=1 (see internal/peertest). Programs that are not
// tests use internal/mitrealm itself.
//
// Usage:
//
//	realm := testrealm.Start(t)
//	cfg, _ := config.NewFromString(realm.Krb5ConfText) // gokrb5
//	ccache := realm.Kinit(t, testrealm.User, testrealm.Password)
//	cmd := realm.Command("kvno", "HTTP/localhost")
package testrealm

import (
	"net"
	"strconv"
	"testing"

	"github.com/asyncsspi/asyncsspi/internal/mitrealm"
	"github.com/asyncsspi/asyncsspi/internal/peertest"
)

// Defaults created by Start unless WithoutDefaultPrincipals is given (see
// internal/mitrealm).
const (
	DefaultRealm   = mitrealm.DefaultRealm
	User           = mitrealm.User
	Password       = mitrealm.Password
	Service        = mitrealm.Service
	ServiceGSSName = mitrealm.ServiceGSSName
)

// Realm is a running MIT KDC (a *mitrealm.Realm, whose fields and methods
// it has) with helpers that fail a test instead of returning errors.
type Realm struct {
	*mitrealm.Realm
}

// Start creates and starts a realm for t in t.TempDir(), and registers a
// Cleanup that closes it (and logs the end of the KDC's log if t failed).
// See the package comment.
func Start(t testing.TB, opts ...Option) *Realm {
	t.Helper()
	if _, err := mitrealm.Programs(); err != nil {
		peertest.Missing(t, err.Error())
		return nil
	}
	r, err := mitrealm.Launch(t.TempDir(), opts...)
	if err != nil {
		t.Fatalf("%v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("testrealm %s: KDC log %s:\n%s", r.Name, r.LogPath, r.LogTail(40))
		}
		r.Close()
	})
	return &Realm{r}
}

// Programs returns the MIT programs a realm needs (mitrealm.Programs).
func Programs() (map[string]string, error) { return mitrealm.Programs() }

// Launch is mitrealm.Launch, for callers that hold a *testrealm.Realm.
func Launch(dir string, opts ...Option) (*Realm, error) {
	r, err := mitrealm.Launch(dir, opts...)
	if err != nil {
		return nil, err
	}
	return &Realm{r}, nil
}

// AddUser creates the principal name (qualified with the realm unless it
// has one) with password, and fails t on error (see CreateUser).
func (r *Realm) AddUser(t testing.TB, name, password string) {
	t.Helper()
	check(t, r.CreateUser(name, password))
}

// AddService creates the principal spn (e.g. "HTTP/host.test") with a random
// key, and fails t on error. Use Keytab to get its keys.
func (r *Realm) AddService(t testing.TB, spn string) {
	t.Helper()
	check(t, r.CreateService(spn))
}

// Keytab writes the current keys of the given principals to a new keytab
// file and returns its path; it fails t on error (see WriteKeytab).
func (r *Realm) Keytab(t testing.TB, principals ...string) string {
	t.Helper()
	path, err := r.WriteKeytab(principals...)
	check(t, err)
	return path
}

// Kadmin runs kadmin.local queries (e.g. "modprinc -maxlife 1min alice")
// against the realm's database and fails t on any error output.
func (r *Realm) Kadmin(t testing.TB, queries ...string) {
	t.Helper()
	check(t, r.RunKadmin(queries...))
}

// Kinit gets a TGT for user with password into a new FILE ccache and
// returns its path, failing t on error (see mitrealm.Realm.Kinit).
func (r *Realm) Kinit(t testing.TB, user, password string, args ...string) string {
	t.Helper()
	path, err := r.Realm.Kinit(user, password, args...)
	check(t, err)
	return path
}

func check(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%v", err)
	}
}

// ClosedAddr returns "127.0.0.1:port" where nothing listens on UDP or TCP:
// a KDC there is refused at once (ICMP port unreachable, TCP RST). The
// port stays claimed (see mitrealm.ReservePort) until t ends.
func ClosedAddr(t testing.TB) string {
	t.Helper()
	port, claim, err := mitrealm.ReservePort()
	check(t, err)
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
	tl, ul, err := mitrealm.ListenTCPAndUDP()
	check(t, err)
	t.Cleanup(func() {
		tl.Close()
		ul.Close()
	})
	return tl.Addr().String()
}
