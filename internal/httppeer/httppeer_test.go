package httppeer_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/asyncsspi/asyncsspi/internal/httppeer"
	"github.com/asyncsspi/asyncsspi/internal/peertest"
	"github.com/asyncsspi/asyncsspi/internal/testrealm"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// curl --negotiate (MIT GSSAPI on the client side too) against the peer:
// the peer itself works with a client that is not ours.
func curl(t *testing.T, env []string, args ...string) (string, string) {
	t.Helper()
	path := peertest.Binaries(t, "curl")["curl"]
	cmd := exec.Command(path, append([]string{"-sS", "--negotiate", "-u", ":", "-D", "-"}, args...)...)
	cmd.Env = env
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("curl %v: %v\n%s", args, err, stderr.String())
	}
	return string(out), stderr.String()
}

func TestKerberosWithCurl(t *testing.T) {
	realm := testrealm.Start(t)
	if realm == nil {
		return
	}
	srv := httppeer.Start(t, httppeer.Config{Env: realm.Env()})
	ccache := realm.Kinit(t, testrealm.User, testrealm.Password)
	out, _ := curl(t, realm.Environ("KRB5CCNAME=FILE:"+ccache), srv.URL+"/hello")
	if !strings.Contains(out, "HTTP/1.1 200") || !strings.Contains(out, `"user": "`+realm.Principal(testrealm.User)+`"`) {
		t.Fatalf("curl got:\n%s", out)
	}
	// The 200 carries the acceptor's final token (mutual authentication).
	if !strings.Contains(out, "WWW-Authenticate: Negotiate ") {
		t.Fatalf("no final token in:\n%s", out)
	}
	// curl -u : sends its token with the first request.
	reqs := srv.Requests()
	if len(reqs) != 1 || reqs[0].Status != 200 || reqs[0].Mech != httppeer.MechKerberos || !reqs[0].Token {
		t.Fatalf("server log %+v", reqs)
	}

	// Without the final token, and over HTTPS.
	cert := httppeer.NewCert(t)
	tlsSrv := httppeer.Start(t, httppeer.Config{Env: realm.Env(), OmitFinalToken: true, CertFile: cert.CertFile, KeyFile: cert.KeyFile})
	if !strings.HasPrefix(tlsSrv.URL, "https://localhost:") {
		t.Fatalf("URL %s", tlsSrv.URL)
	}
	out, _ = curl(t, realm.Environ("KRB5CCNAME=FILE:"+ccache), "--cacert", cert.CertFile, tlsSrv.URL+"/tls")
	if !strings.Contains(out, "HTTP/1.1 200") || strings.Contains(out, "WWW-Authenticate: Negotiate ") {
		t.Fatalf("curl over HTTPS got:\n%s", out)
	}
}

// NTLM inside SPNEGO: curl with no Kerberos ticket and gss-ntlmssp's users
// file on both sides.
func TestNTLMWithCurl(t *testing.T) {
	peertest.NTLMSSP(t)
	dir := t.TempDir()
	conf := filepath.Join(dir, "krb5.conf")
	users := filepath.Join(dir, "users")
	os.WriteFile(conf, []byte("[libdefaults]\n default_realm = NOWHERE.INVALID\n dns_lookup_kdc = false\n dns_lookup_realm = false\n rdns = false\n"), 0o600)
	os.WriteFile(users, []byte("EXAMPLE:alice:Passw0rd!\n"), 0o600)
	env := []string{"KRB5_CONFIG=" + conf, "NTLM_USER_FILE=" + users, "KRB5CCNAME=FILE:" + filepath.Join(dir, "cc"),
		"KRB5_KTNAME=FILE:" + filepath.Join(dir, "kt"), "KRB5RCACHEDIR=" + dir}
	srv := httppeer.Start(t, httppeer.Config{Env: env})
	var cenv []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "KRB5") && !strings.HasPrefix(kv, "NTLM_USER_FILE=") {
			cenv = append(cenv, kv)
		}
	}
	out, _ := curl(t, append(cenv, env...), srv.URL+"/ntlm")
	if !strings.Contains(out, "HTTP/1.1 200") || !strings.Contains(strings.ToLower(out), `"user": "example\\alice"`) {
		t.Fatalf("curl got:\n%s", out)
	}
	// NEGOTIATE (sent with the first request) and AUTHENTICATE, on one
	// connection.
	if reqs := srv.Requests(); len(reqs) != 2 || reqs[1].Mech != httppeer.MechNTLM || reqs[0].Conn != reqs[1].Conn {
		t.Fatalf("server log %+v", reqs)
	}
}
