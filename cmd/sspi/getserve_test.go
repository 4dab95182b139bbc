package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/asyncsspi/asyncsspi"
	"github.com/asyncsspi/asyncsspi/httpauth"
	"github.com/asyncsspi/asyncsspi/internal/testrealm"
)

// The command-line pair: sspi get against sspi serve, with a real MIT
// realm behind Kerberos and the users file behind NTLM. The upstream (a
// recorder) answers with the user header it received, so the body sspi
// get prints says who the upstream thinks the client is.

// spoofed are the user headers a client sends of its own accord: the proxy
// must drop every one of them.
var spoofed = []string{"X-Remote-User: mallory", "x-remote-user: eve", "X_Remote_User: oscar"}

// sawUser is the recorder's body for a request carrying user.
func sawUser(user string) string {
	return fmt.Sprintf(`upstream saw X-Remote-User=[%q]`, user)
}

// checkUpstream: every request that reached the upstream carried exactly
// one user header, the authenticated user's, and neither a spoofed one
// nor the client's Authorization; want is how many reached it.
func checkUpstream(t *testing.T, rec *recorder, want int, users ...string) {
	t.Helper()
	seen := rec.headers()
	if len(seen) != want {
		t.Errorf("upstream got %d requests, want %d", len(seen), want)
	}
	for i, h := range seen {
		for k, v := range h {
			if headerFold(k) != "x-remote-user" {
				continue
			}
			if k != "X-Remote-User" || len(v) != 1 || !containsFold(users, v[0]) {
				t.Errorf("request %d: upstream got %s: %q, want one of %q", i, k, v, users)
			}
		}
		if h.Get("X-Remote-User") == "" {
			t.Errorf("request %d: no X-Remote-User", i)
		}
		if h.Get("Authorization") != "" {
			t.Errorf("request %d: the client's Authorization reached the upstream", i)
		}
	}
}

func containsFold(l []string, s string) bool {
	for _, x := range l {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}

// TestGetServe runs sspi get against sspi serve in this process:
// Kerberos from kinit's ticket cache and from a password, NTLM with
// -u DOMAIN\user:password against -ntlm-users, a wrong NTLM password (exit
// status 22: the proxy's 401) after which the proxy serves on, a wrong
// Kerberos password (refused by the KDC before the proxy sees a token).
func TestGetServe(t *testing.T) {
	realm := testrealm.Start(t)
	if realm == nil {
		return
	}
	ccache := realm.Kinit(t, testrealm.User, testrealm.Password)
	alice := realm.Principal(testrealm.User)
	ntlmAlice := serveDomain + `\` + serveUser
	setRealmEnv(t, realm, "KRB5CCNAME=FILE:"+ccache)
	rec := newRecorder(t, "X-Remote-User")
	p := startServe(t, "-upstream", rec.URL, "-keytab", realm.ServiceKeytab, "-ntlm-users", usersFile(t))
	_, port, _ := strings.Cut(p.addr, ":")
	url := "http://localhost:" + port + "/"

	reached := 0
	for _, c := range []struct {
		name    string
		args    []string
		code    int
		stdout  string
		stderrs []string
	}{
		{"kerberos ccache", []string{url + "ccache"}, 0, sawUser(alice),
			[]string{"200 OK", "authenticated to the server HTTP/localhost with Kerberos (Negotiate) as " + alice, "server verified (mutual authentication)"}},
		{"ntlm", []string{"-ntlm", "-u", ntlmAlice + ":" + servePassword, url + "ntlm"}, 0, sawUser(ntlmAlice),
			[]string{"200 OK", "with NTLM", "server not verified (NTLM does not authenticate the server)"}},
		{"ntlm wrong password", []string{"-ntlm", "-u", ntlmAlice + ":wrong", url + "wrong"}, getExitHTTP, "401 Unauthorized\n",
			[]string{"HTTP/1.1 401 Unauthorized", "server refused NTLM (NTLM) for HTTP/localhost", "the credentials were refused"}},
		{"kerberos ccache after the refusal", []string{url + "again"}, 0, sawUser(alice), []string{"200 OK"}},
		{"ntlm after the refusal", []string{"-ntlm", "-u", ntlmAlice + ":" + servePassword, url + "ntlm-again"}, 0, sawUser(ntlmAlice), []string{"200 OK"}},
		{"kerberos password", []string{"-kerberos", "-u", alice + ":" + testrealm.Password, url + "pw"}, 0, sawUser(alice),
			[]string{"with Kerberos (Negotiate) as " + alice, "server verified"}},
		{"kerberos wrong password", []string{"-kerberos", "-u", alice + ":wrong", url + "krb-wrong"}, getExitFailure, "",
			[]string{"SEC_E_LOGON_DENIED"}},
	} {
		out, errs, code := runGetTest(t, "", c.args...)
		if code != c.code || out != c.stdout {
			t.Errorf("%s: exit %d (want %d)\nstdout %q (want %q)\nstderr %s\nproxy log:\n%s", c.name, code, c.code, out, c.stdout, errs, p.logs.String())
			continue
		}
		if strings.HasPrefix(c.stdout, "upstream saw") {
			reached++
		}
		for _, want := range c.stderrs {
			if !strings.Contains(errs, want) {
				t.Errorf("%s: stderr lacks %q:\n%s", c.name, want, errs)
			}
		}
	}
	checkUpstream(t, rec, reached, alice, ntlmAlice)

	// A client that sends a user header of its own, through the same
	// transport sspi get uses: the upstream sees the authenticated user
	// only.
	for _, src := range []asyncsspi.Source{asyncsspi.KerberosCCache("FILE:" + ccache), asyncsspi.NTLMPassword(serveDomain, serveUser, servePassword)} {
		tr := httpauth.NewTransport(httpauth.WithClientSource(src), httpauth.WithClientSchemes(src.Package(), "Negotiate"))
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, url+"spoof", nil)
		for _, h := range spoofed {
			k, v, _ := strings.Cut(h, ": ")
			req.Header[k] = append(req.Header[k], v) // as sent, not canonicalised
		}
		resp, err := (&http.Client{Transport: tr}).Do(req)
		if err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		tr.Close()
		want := sawUser(alice)
		if src.Package() == "NTLM" {
			want = sawUser(ntlmAlice)
		}
		if resp.StatusCode != http.StatusOK || string(body) != want {
			t.Errorf("%s with spoofed user headers: %d %q, want %q", src, resp.StatusCode, body, want)
		}
		reached++
	}
	checkUpstream(t, rec, reached, alice, ntlmAlice)

	// One log line per authentication, and one for the refusal.
	logs := p.logs.String()
	if n := strings.Count(logs, `msg="httpauth: authenticated"`); n != reached {
		t.Errorf("%d authentication log lines, want %d:\n%s", n, reached, logs)
	}
	if !strings.Contains(logs, `msg="httpauth: authentication refused" package=NTLM`) || !strings.Contains(logs, "SEC_E_LOGON_DENIED") {
		t.Errorf("no log line for the wrong NTLM password:\n%s", logs)
	}
}

// buildSSPI builds the sspi command into a temporary folder.
func buildSSPI(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the sspi binary")
	}
	bin := filepath.Join(t.TempDir(), "sspi")
	build := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// runBinary runs the built sspi with args in env and returns its output
// and exit status.
func runBinary(t *testing.T, bin string, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		code = ee.ExitCode()
	default:
		t.Fatalf("sspi %q: %v", args, err)
	}
	return out.String(), errb.String(), code
}

// TestGetServeBinaries runs the built sspi: `sspi serve` as a process,
// and `sspi get` against it as processes, so that flags, output and exit
// statuses are the real ones; then SIGTERM stops the proxy with status 0.
func TestGetServeBinaries(t *testing.T) {
	realm := testrealm.Start(t)
	if realm == nil {
		return
	}
	bin := buildSSPI(t)
	ccache := realm.Kinit(t, testrealm.User, testrealm.Password)
	alice := realm.Principal(testrealm.User)
	ntlmAlice := serveDomain + `\` + serveUser
	rec := newRecorder(t, "X-Remote-User")
	// Nothing of the test process's environment: the realm's KRB5_*
	// variables, and no NTLM_USER_FILE.
	base := append([]string{"PATH=/usr/bin:/bin", "HOME=" + t.TempDir()}, realm.Env()...)

	serve := exec.Command(bin, "serve", "-listen", "127.0.0.1:0", "-upstream", rec.URL,
		"-keytab", realm.ServiceKeytab, "-ntlm-users", usersFile(t))
	serve.Env = base
	stderr, err := serve.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := serve.Start(); err != nil {
		t.Fatal(err)
	}
	defer serve.Process.Kill() // on a failure below; after Wait it does nothing
	lines := make(chan string, 64)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	var addr string
	var logs strings.Builder
	timeout := time.After(30 * time.Second)
	for addr == "" {
		select {
		case l, ok := <-lines:
			if !ok {
				serve.Wait()
				t.Fatalf("sspi serve exited before listening:\n%s", logs.String())
			}
			logs.WriteString(l + "\n")
			if strings.Contains(l, `msg="sspi serve: listening"`) {
				_, a, _ := strings.Cut(l, " addr=")
				addr, _, _ = strings.Cut(a, " ")
			}
		case <-timeout:
			t.Fatal("sspi serve did not say it was listening")
		}
	}
	rest := make(chan string, 1)
	go func() {
		var b strings.Builder
		for l := range lines {
			b.WriteString(l + "\n")
		}
		rest <- b.String()
	}()
	_, port, _ := strings.Cut(addr, ":")
	url := "http://localhost:" + port + "/"
	withCCache := append(base[:len(base):len(base)], "KRB5CCNAME=FILE:"+ccache)

	reached := 0
	for _, c := range []struct {
		name   string
		env    []string
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{"kerberos ccache", withCCache, []string{"get", url}, 0, sawUser(alice), "with Kerberos (Negotiate) as " + alice + "; server verified (mutual authentication)"},
		{"ntlm", base, []string{"get", "-ntlm", "-u", ntlmAlice + ":" + servePassword, url}, 0, sawUser(ntlmAlice), "with NTLM"},
		{"ntlm wrong password", base, []string{"get", "-ntlm", "-u", ntlmAlice + ":wrong", url}, getExitHTTP, "401 Unauthorized\n", "server refused NTLM (NTLM) for HTTP/localhost"},
		{"kerberos after the refusal", withCCache, []string{"get", "-kerberos", url}, 0, sawUser(alice), "server verified"},
		{"ntlm after the refusal", base, []string{"get", "-ntlm", "-u", ntlmAlice + ":" + servePassword, url}, 0, sawUser(ntlmAlice), "200 OK"},
		{"password from SSPI_PASSWORD", append(base[:len(base):len(base)], "SSPI_PASSWORD="+testrealm.Password), []string{"get", "-kerberos", "-u", alice, url}, 0, sawUser(alice), "server verified"},
		{"no credentials", base, []string{"get", "-kerberos", url}, getExitFailure, "", "SEC_E_NO_CREDENTIALS"},
		{"bad flag", base, []string{"get", "-bogus", url}, getExitUsage, "", "flag provided but not defined"},
		{"two packages", base, []string{"get", "-ntlm", "-kerberos", url}, getExitUsage, "", "exclude each other"},
		{"get -help", base, []string{"get", "-help"}, 0, "", "22  the final response is not 2xx"},
		{"serve without flags", base, []string{"serve"}, serveExitUsage, "", "-listen is required"},
		{"no command", base, nil, exitUsage, "", "no command"},
		{"sspi -help", base, []string{"-help"}, 0, usage, ""},
	} {
		out, errs, code := runBinary(t, bin, c.env, c.args...)
		if code != c.code || out != c.stdout || !strings.Contains(errs, c.stderr) {
			t.Errorf("%s: sspi %q: exit %d (want %d)\nstdout %q (want %q)\nstderr (want %q) %s", c.name, c.args, code, c.code, out, c.stdout, c.stderr, errs)
		}
		if strings.HasPrefix(c.stdout, "upstream saw") {
			reached++
		}
	}
	checkUpstream(t, rec, reached, alice, ntlmAlice)

	if err := serve.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// The log to its end (EOF when the process exits) before Wait, which
	// closes the pipe.
	logs.WriteString(<-rest)
	if err := serve.Wait(); err != nil {
		t.Fatalf("sspi serve after SIGTERM: %v\n%s", err, logs.String())
	}
	l := logs.String()
	if n := strings.Count(l, `msg="httpauth: authenticated"`); n != reached {
		t.Errorf("%d authentication log lines, want %d:\n%s", n, reached, l)
	}
	for _, want := range []string{`user=` + alice + ` package=Kerberos`, `user=EXAMPLE\alice package=NTLM`, `msg="httpauth: authentication refused" package=NTLM`, "sspi serve: stopped"} {
		if !strings.Contains(l, want) {
			t.Errorf("proxy log lacks %q:\n%s", want, l)
		}
	}
}

// The upstream's own view: a request that comes to sspi serve with a user
// header and no authentication never reaches it.
func TestServeUnauthenticatedNeverReachesUpstream(t *testing.T) {
	rec := newRecorder(t, "X-Remote-User")
	t.Setenv(asyncsspi.EnvKeytab, "")
	p := startServe(t, "-upstream", rec.URL, "-ntlm-users", usersFile(t))
	c := dialProxy(t, p.addr)
	resp, _ := c.mustGet(spoofed...)
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("unauthenticated request with user headers: %d", resp.StatusCode)
	}
	if n := len(rec.headers()); n != 0 {
		t.Fatalf("%d requests reached the upstream", n)
	}
	if got := resp.Header.Values("WWW-Authenticate"); !containsFold(got, "NTLM") {
		t.Errorf("offers %q", got)
	}
}

// A standard input that is a character device but not a terminal
// (/dev/null, as cron and CI give) has no one to ask: the password comes
// from $SSPI_PASSWORD, as when standard input is a pipe. (The built
// binary, run with /dev/null as its standard input, read EOF as the
// password instead; TestGetServeBinaries runs it so.)
func TestGetPasswordWithoutTerminal(t *testing.T) {
	noTerminal := func(string) (string, error) { return "", errNoTerminal }
	env := map[string]string{"SSPI_PASSWORD": "from-env"}
	o := getOptions{getenv: func(k string) string { return env[k] }, readPassword: noTerminal}
	if p, err := getPassword(o, "alice"); err != nil || p != "from-env" {
		t.Fatalf("no terminal, SSPI_PASSWORD set: %q %v", p, err)
	}
	delete(env, "SSPI_PASSWORD")
	if _, err := getPassword(o, "alice"); err == nil || !strings.Contains(err.Error(), "SSPI_PASSWORD is not set") {
		t.Fatalf("no terminal, no SSPI_PASSWORD: %v", err)
	}
	// A terminal's own failure is not hidden behind the variable.
	env["SSPI_PASSWORD"] = "from-env"
	o.readPassword = func(string) (string, error) { return "", io.ErrUnexpectedEOF }
	if _, err := getPassword(o, "alice"); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("terminal failure: %v", err)
	}
}
