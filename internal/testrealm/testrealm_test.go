package testrealm

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jcmturner/gokrb5/v8/config"
	"github.com/jcmturner/gokrb5/v8/credentials"
	"github.com/jcmturner/gokrb5/v8/keytab"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestStartKinitKvno(t *testing.T) {
	t.Parallel()
	start := time.Now()
	r := Start(t)
	t.Logf("realm %s on %s up in %v", r.Name, r.KDCAddr, time.Since(start))
	if r.Name != DefaultRealm || !strings.HasPrefix(r.KDCAddr, "127.0.0.1:") {
		t.Fatalf("realm %q at %q", r.Name, r.KDCAddr)
	}
	if got := r.CountRequests("AS_REQ"); got != 0 {
		t.Fatalf("AS_REQ count before kinit = %d", got)
	}
	cc := r.Kinit(t, User, Password)
	if got := r.CountRequests("AS_REQ"); got < 1 {
		t.Fatalf("AS_REQ count after kinit = %d", got)
	}
	cmd := r.Command("klist", "-c", "FILE:"+cc)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "krbtgt/"+r.Name+"@"+r.Name) {
		t.Fatalf("klist: %v\n%s", err, out)
	}
	tgs := r.CountRequests("TGS_REQ")
	cmd = r.Command("kvno", Service)
	cmd.Env = append(cmd.Env, "KRB5CCNAME=FILE:"+cc)
	if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "kvno =") {
		t.Fatalf("kvno: %v\n%s", err, out)
	}
	if got := r.CountRequests("TGS_REQ"); got != tgs+1 {
		t.Fatalf("TGS_REQ count %d -> %d, want one more", tgs, got)
	}

	// gokrb5 reads the same files.
	cfg, err := config.NewFromString(r.Krb5ConfText)
	if err != nil {
		t.Fatalf("gokrb5 config: %v", err)
	}
	if cfg.LibDefaults.DefaultRealm != r.Name || len(cfg.Realms) != 1 || cfg.Realms[0].KDC[0] != r.KDCAddr {
		t.Fatalf("gokrb5 config: realm %q, realms %+v", cfg.LibDefaults.DefaultRealm, cfg.Realms)
	}
	ccache, err := credentials.LoadCCache(cc)
	if err != nil {
		t.Fatalf("gokrb5 ccache: %v", err)
	}
	if ccache.DefaultPrincipal.Realm != r.Name {
		t.Fatalf("ccache principal realm %q", ccache.DefaultPrincipal.Realm)
	}
	kt, err := keytab.Load(r.ServiceKeytab)
	if err != nil || len(kt.Entries) == 0 {
		t.Fatalf("gokrb5 keytab: %v (%d entries)", err, len(kt.Entries))
	}
}

func TestWrongPasswordRefused(t *testing.T) {
	t.Parallel()
	r := Start(t)
	cmd := r.Command("kinit", r.Principal(User))
	cmd.Env = append(cmd.Env, "KRB5CCNAME=FILE:"+r.Dir+"/wrong")
	cmd.Stdin = strings.NewReader("not-the-password\n")
	if out, err := cmd.CombinedOutput(); err == nil {
		t.Fatalf("kinit with a wrong password succeeded:\n%s", out)
	}
}

func TestAddUserServiceKeytab(t *testing.T) {
	t.Parallel()
	r := Start(t, WithRealm("OTHER.TEST"), WithoutDefaultPrincipals())
	r.AddUser(t, "bob", "bob-pw-1")
	r.AddService(t, "HTTP/svc.other.test")
	r.AddService(t, "host/svc.other.test")
	kt := r.Keytab(t, "HTTP/svc.other.test", "host/svc.other.test")
	k, err := keytab.Load(kt)
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, e := range k.Entries {
		names[e.Principal.String()] = true
	}
	if !names["HTTP/svc.other.test@OTHER.TEST"] || !names["host/svc.other.test@OTHER.TEST"] {
		t.Fatalf("keytab principals %v", names)
	}
	// A second keytab keeps the keys (-norandkey): the first one stays valid.
	kt2 := r.Keytab(t, "HTTP/svc.other.test")
	k2, err := keytab.Load(kt2)
	if err != nil {
		t.Fatal(err)
	}
	if k2.Entries[0].KVNO != k.Entries[0].KVNO {
		t.Fatalf("kvno changed %d -> %d", k.Entries[0].KVNO, k2.Entries[0].KVNO)
	}
	cc := r.Kinit(t, "bob", "bob-pw-1")
	cmd := r.Command("kvno", "HTTP/svc.other.test")
	cmd.Env = append(cmd.Env, "KRB5CCNAME=FILE:"+cc)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("kvno: %v\n%s", err, out)
	}
}

func TestOptionsTCPLifetimesFailover(t *testing.T) {
	t.Parallel()
	closed := ClosedAddr(t)
	silent := SilentAddr(t)
	r := Start(t,
		WithTCP(),
		WithTicketLifetime(10*time.Minute),
		WithRenewableLifetime(time.Hour),
		WithClockSkew(60*time.Second),
		WithKDCsBefore(closed),
	)
	if len(r.KDCAddrs) != 2 || r.KDCAddrs[0] != closed || r.KDCAddrs[1] != r.KDCAddr {
		t.Fatalf("KDCAddrs %v", r.KDCAddrs)
	}
	for _, want := range []string{"udp_preference_limit = 1", "ticket_lifetime = 600", "renew_lifetime = 3600", "clockskew = 60", "kdc = " + closed} {
		if !strings.Contains(r.Krb5ConfText, want) {
			t.Fatalf("krb5.conf lacks %q:\n%s", want, r.Krb5ConfText)
		}
	}
	cfg, err := config.NewFromString(r.Krb5ConfText)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.LibDefaults.UDPPreferenceLimit != 1 || cfg.LibDefaults.TicketLifetime != 10*time.Minute || cfg.LibDefaults.Clockskew != time.Minute {
		t.Fatalf("gokrb5 libdefaults %+v", cfg.LibDefaults)
	}
	// kinit fails over from the refused KDC to the live one, over TCP.
	cc := r.Kinit(t, User, Password)
	out, err := r.Command("klist", "-c", "FILE:"+cc).CombinedOutput()
	if err != nil {
		t.Fatalf("klist: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "renew until") {
		t.Fatalf("ticket not renewable:\n%s", out)
	}
	if !strings.Contains(r.Log(), "AS_REQ") {
		t.Fatalf("no AS_REQ in the log")
	}
	if silent == "" || silent == closed {
		t.Fatalf("silent address %q", silent)
	}
}

func TestStopKDC(t *testing.T) {
	t.Parallel()
	r := Start(t)
	r.StopKDC()
	cmd := r.Command("kinit", r.Principal(User))
	cmd.Env = append(cmd.Env, "KRB5CCNAME=FILE:"+r.Dir+"/none")
	cmd.Stdin = strings.NewReader(Password + "\n")
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("kinit succeeded with the KDC stopped:\n%s", out)
	}
	if !strings.Contains(string(out), "Cannot contact any KDC") {
		t.Logf("kinit output: %s", out)
	}
}

// Many realms at once, as under go test ./... with parallel packages: each
// gets its own port and answers only for its own database.
func TestParallelRealms(t *testing.T) {
	t.Parallel()
	for i := 0; i < 6; i++ {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			t.Parallel()
			name := fmt.Sprintf("P%d.TEST", i)
			r := Start(t, WithRealm(name))
			user := fmt.Sprintf("user%d", i)
			r.AddUser(t, user, "pw-"+user)
			r.Kinit(t, user, "pw-"+user)
			if n := r.CountRequests("AS_REQ"); n != 1 {
				t.Fatalf("AS_REQ count %d in %s", n, name)
			}
		})
	}
}
