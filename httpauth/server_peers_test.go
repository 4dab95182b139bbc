package httpauth_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/asyncsspi/asyncsspi"
	"github.com/asyncsspi/asyncsspi/httpauth"
	"github.com/asyncsspi/asyncsspi/internal/peertest"
	"github.com/asyncsspi/asyncsspi/internal/testrealm"
	"github.com/asyncsspi/asyncsspi/mechs/negotiate"
)

// krbServer starts a realm and a server accepting Kerberos from its
// keytab and NTLM from ntlmStore, under Negotiate and NTLM. The test's
// environment points at the realm (so not parallel).
func krbServer(t *testing.T, opts ...httpauth.ServerOption) (*testrealm.Realm, *testServer) {
	t.Helper()
	realm := testrealm.Start(t)
	if realm == nil {
		return nil, nil
	}
	for _, kv := range realm.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	logs := &logBuffer{}
	src := asyncsspi.Negotiate(asyncsspi.KerberosKeytab(realm.ServiceKeytab, ""), asyncsspi.NTLMUsers(ntlmStore()))
	auth, err := httpauth.NewAuthenticator(append([]httpauth.ServerOption{httpauth.WithSource(src), httpauth.WithLogger(logs.logger())}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { auth.Close() })
	ts := &testServer{Server: newUnstarted(whoami, auth), auth: auth, logs: logs}
	ts.Start()
	t.Cleanup(ts.Close)
	return realm, ts
}

// kerberosClient is a Negotiate client credential over alice's password.
func kerberosClient(t testing.TB, realm *testrealm.Realm) *asyncsspi.Credential {
	t.Helper()
	c, err := clientEngine(t).ClientCredential(asyncsspi.Negotiate(asyncsspi.KerberosPassword(realm.Principal(testrealm.User), testrealm.Password)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// Kerberos through the middleware: one leg, the AP-REP on the 200 for
// mutual authentication; Kerberos is not bound to the connection by
// default, and is with BindAll. A replayed AP-REQ is refused with the
// KRB-ERROR inside SPNEGO's reject, in the 401's WWW-Authenticate.
func TestKerberos(t *testing.T) {
	realm, ts := krbServer(t)
	if realm == nil {
		return
	}
	cred := kerberosClient(t, realm)
	rc := dial(t, ts.addr())
	resp := login(t, rc, "Negotiate", cred, asyncsspi.MutualAuth())
	want := fmt.Sprintf("name=%s package=Kerberos scheme=Negotiate bound=false", realm.Principal(testrealm.User))
	if resp.code != http.StatusOK || resp.body != want {
		t.Fatalf("%d %q, want %q", resp.code, resp.body, want)
	}
	if resp.token(t, "Negotiate") == nil {
		t.Fatal("no AP-REP on the response")
	}
	if r := rc.mustGet(); r.code != http.StatusUnauthorized {
		t.Fatalf("Kerberos bound the connection by default: %d", r.code)
	}

	// A replay: the same AP-REQ twice.
	sc, _ := cred.NewClientContext(testrealm.Service, asyncsspi.MutualAuth())
	defer sc.Close()
	apreq, _, err := sc.Step(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if r := rc.mustGet(authz("Negotiate", apreq)); r.code != http.StatusOK {
		t.Fatalf("first use: %d", r.code)
	}
	r := rc.mustGet(authz("Negotiate", apreq))
	if r.code != http.StatusUnauthorized {
		t.Fatalf("replayed AP-REQ: %d", r.code)
	}
	errTok := r.token(t, "Negotiate")
	resp2, err := negotiate.ParseNegTokenResp(errTok)
	if err != nil || resp2.NegState != negotiate.Reject || len(resp2.ResponseToken) == 0 {
		t.Fatalf("401's token is not a SPNEGO reject with an error token: %v %+v", err, resp2)
	}
	// RFC 4121 section 4.1: the krb5 OID framing, TOK_ID 03 00, a
	// KRB-ERROR ([APPLICATION 30]).
	inner := resp2.ResponseToken
	if i := bytes.Index(inner, []byte{0x03, 0x00, 0x7e}); i < 0 {
		t.Fatalf("no KRB-ERROR in %x", inner)
	}
	refused := ts.logs.refusals()
	if len(refused) != 1 || refused[0]["package"] != "Kerberos" || !strings.Contains(fmt.Sprint(refused[0]["cause"]), "repl") {
		t.Fatalf("log: %v", refused)
	}
}

func TestKerberosBindAll(t *testing.T) {
	realm, ts := krbServer(t, httpauth.WithConnectionBinding(httpauth.BindAll))
	if realm == nil {
		return
	}
	rc := dial(t, ts.addr())
	if r := login(t, rc, "Negotiate", kerberosClient(t, realm)); r.code != http.StatusOK || !strings.Contains(r.body, "bound=true") {
		t.Fatalf("%d %q", r.code, r.body)
	}
	if r := rc.mustGet(); r.code != http.StatusOK || !strings.Contains(r.body, "package=Kerberos") {
		t.Fatalf("bound Kerberos connection: %d %q", r.code, r.body)
	}
}

// curlBinary returns curl's path, or skips (fails under
// ASYNCSSPI_REQUIRE_PEERS=1).
func curlBinary(t *testing.T) string {
	t.Helper()
	return peertest.Binaries(t, "curl")["curl"]
}

// curlResult is what curl did: each URL's status and body, and its
// verbose trace.
type curlResult struct {
	codes  []int
	bodies []string
	trace  string
}

// runCurl runs curl with args against the URLs (every URL on the test
// server's port, which curl resolves to 127.0.0.1 as "localhost", the
// service's host name), printing each status after its body.
func runCurl(t *testing.T, env []string, addr string, args []string, paths ...string) curlResult {
	t.Helper()
	curl := curlBinary(t)
	if curl == "" {
		return curlResult{}
	}
	_, port, _ := strings.Cut(addr, ":")
	argv := []string{"-sS", "-v", "--resolve", "localhost:" + port + ":127.0.0.1", "-w", "\n@@%{http_code}@@\n"}
	argv = append(argv, args...)
	for i, p := range paths {
		if i > 0 {
			argv = append(argv, "--next")
			argv = append(argv, args...)
			argv = append(argv, "-sS", "-v", "-w", "\n@@%{http_code}@@\n")
		}
		argv = append(argv, "http://localhost:"+port+p)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, curl, argv...)
	cmd.Env = env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("curl %q: %v\n%s\n%s", argv, err, stdout.String(), stderr.String())
	}
	var res curlResult
	res.trace = stderr.String()
	rest := stdout.String()
	for {
		body, after, ok := strings.Cut(rest, "\n@@")
		if !ok {
			break
		}
		code, tail, _ := strings.Cut(after, "@@\n")
		var c int
		fmt.Sscan(code, &c)
		res.codes = append(res.codes, c)
		res.bodies = append(res.bodies, body)
		rest = tail
	}
	return res
}

// curl --negotiate with a ticket from MIT kinit: Kerberos; two URLs on
// one connection.
func TestCurlNegotiateKerberos(t *testing.T) {
	realm, ts := krbServer(t)
	if realm == nil || curlBinary(t) == "" {
		return
	}
	ccache := realm.Kinit(t, testrealm.User, testrealm.Password)
	env := realm.Environ("KRB5CCNAME=FILE:"+ccache, "NTLM_USER_FILE=")
	res := runCurl(t, env, ts.addr(), []string{"--negotiate", "-u", ":"}, "/a", "/b")
	want := fmt.Sprintf("name=%s package=Kerberos scheme=Negotiate bound=false", realm.Principal(testrealm.User))
	if len(res.codes) != 2 || res.codes[0] != 200 || res.codes[1] != 200 || res.bodies[0] != want || res.bodies[1] != want {
		t.Fatalf("curl: %v %q\n%s", res.codes, res.bodies, res.trace)
	}
	if !strings.Contains(strings.ToLower(res.trace), "< www-authenticate: negotiate ") {
		t.Errorf("no final token (AP-REP) in the 200 response:\n%s", res.trace)
	}
	if !strings.Contains(res.trace, "Re-using existing connection") {
		t.Errorf("curl did not reuse its connection:\n%s", res.trace)
	}
}

// curl --negotiate without a ticket: MIT's SPNEGO falls back to NTLM
// through gss-ntlmssp, which takes its account from NTLM_USER_FILE; the
// connection stays authenticated for the second URL.
func TestCurlNegotiateNTLM(t *testing.T) {
	realm, ts := krbServer(t)
	if realm == nil || curlBinary(t) == "" {
		return
	}
	peertest.NTLMSSP(t)
	users := filepath.Join(t.TempDir(), "users")
	writeFile(t, users, ntlmDomain+":"+ntlmUser+":"+ntlmPassword+"\n")
	env := realm.Environ("KRB5CCNAME=FILE:"+filepath.Join(t.TempDir(), "empty"), "NTLM_USER_FILE="+users, "USER="+ntlmUser)
	res := runCurl(t, env, ts.addr(), []string{"--negotiate", "-u", ":"}, "/a", "/b")
	if len(res.codes) != 2 || res.codes[0] != 200 || res.codes[1] != 200 ||
		!strings.Contains(res.bodies[0], "package=NTLM scheme=Negotiate") || !strings.Contains(res.bodies[1], "package=NTLM") {
		t.Fatalf("curl: %v %q\n%s", res.codes, res.bodies, res.trace)
	}
	if !strings.Contains(res.trace, "Re-using existing connection") {
		t.Errorf("curl did not reuse its connection:\n%s", res.trace)
	}
}

// curl --ntlm (curl's own NTLM, not gss-ntlmssp): the handshake, then a
// second request on the authenticated connection without a token; a
// wrong password is refused.
func TestCurlNTLM(t *testing.T) {
	if curlBinary(t) == "" {
		return
	}
	ts := startServer(t, serverSetup{install: true})
	env := []string{"PATH=/usr/bin:/bin", "HOME=" + t.TempDir()}
	user := ntlmDomain + `\` + ntlmUser + ":" + ntlmPassword
	res := runCurl(t, env, ts.addr(), []string{"--ntlm", "-u", user}, "/a", "/b")
	want := `name=EXAMPLE\alice package=NTLM scheme=NTLM bound=true`
	if len(res.codes) != 2 || res.codes[0] != 200 || res.codes[1] != 200 || res.bodies[0] != want || res.bodies[1] != want {
		t.Fatalf("curl: %v %q\n%s\nlog: %v", res.codes, res.bodies, res.trace, ts.logs.lines())
	}
	if !strings.Contains(res.trace, "Re-using existing connection") {
		t.Errorf("curl did not reuse its connection:\n%s", res.trace)
	}
	if n := strings.Count(res.trace, "> Authorization: NTLM "); n != 2 {
		t.Errorf("curl sent %d NTLM tokens, want 2 (the second request rides on the authenticated connection):\n%s", n, res.trace)
	}
	bad := runCurl(t, env, ts.addr(), []string{"--ntlm", "-u", ntlmDomain + `\` + ntlmUser + ":wrong"}, "/")
	if len(bad.codes) != 1 || bad.codes[0] != 401 {
		t.Fatalf("wrong password: %v\n%s", bad.codes, bad.trace)
	}
}
