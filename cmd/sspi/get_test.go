package main

import (
	"bytes"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/asyncsspi/asyncsspi"
	"github.com/asyncsspi/asyncsspi/internal/httppeer"
	"github.com/asyncsspi/asyncsspi/internal/peertest"
	"github.com/asyncsspi/asyncsspi/internal/testrealm"
	"github.com/asyncsspi/asyncsspi/mechs/kerberos"
)

// runGetTest runs sspi get with args in the process's environment (the
// caller sets KRB5_CONFIG and the others with t.Setenv: the Kerberos
// package reads them), with password, when not "", as what the terminal
// would give.
func runGetTest(t *testing.T, password string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	o := getOptions{stdout: &out, stderr: &errb, getenv: os.Getenv}
	if password != "" {
		o.readPassword = func(prompt string) (string, error) {
			errb.WriteString(prompt)
			return password, nil
		}
	}
	err := get(t.Context(), o, args)
	var ee exitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		code = ee.code
		if ee.err != nil {
			errb.WriteString("sspi: " + ee.err.Error() + "\n")
		}
	default:
		t.Fatalf("get returned %T %v, not an exitError", err, err)
	}
	return out.String(), errb.String(), code
}

// setRealmEnv points the process at realm (KRB5_CONFIG ...) and
// removes NTLM_USER_FILE.
func setRealmEnv(t *testing.T, realm *testrealm.Realm, extra ...string) {
	t.Helper()
	for _, kv := range append(realm.Env(), extra...) {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	if !hasPrefix(extra, "NTLM_USER_FILE=") {
		t.Setenv("NTLM_USER_FILE", "")
	}
}

func hasPrefix(l []string, p string) bool {
	for _, s := range l {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// sspi get against MIT (internal/httppeer): Kerberos from kinit's ticket
// cache and from a password, NTLM through gss-ntlmssp.
func TestGetMIT(t *testing.T) {
	realm := testrealm.Start(t)
	if realm == nil {
		return
	}
	users := filepath.Join(t.TempDir(), "users")
	os.WriteFile(users, []byte("EXAMPLE:alice:Pa55word!\n"), 0o600)
	peer := httppeer.Start(t, httppeer.Config{Env: append(realm.Env(), "NTLM_USER_FILE="+users)})
	ccache := realm.Kinit(t, testrealm.User, testrealm.Password)
	alice := realm.Principal(testrealm.User)

	t.Run("ccache", func(t *testing.T) {
		setRealmEnv(t, realm, "KRB5CCNAME=FILE:"+ccache)
		out, errs, code := runGetTest(t, "", peer.URL+"/ccache")
		if code != 0 || !strings.Contains(out, `"user": "`+alice+`"`) {
			t.Fatalf("exit %d\nstdout %s\nstderr %s", code, out, errs)
		}
		for _, want := range []string{"200 OK", "authenticated to the server HTTP/localhost with Kerberos (Negotiate) as " + alice, "server verified (mutual authentication)"} {
			if !strings.Contains(errs, want) {
				t.Errorf("stderr lacks %q:\n%s", want, errs)
			}
		}
	})
	t.Run("password prompted", func(t *testing.T) {
		setRealmEnv(t, realm, "KRB5CCNAME=FILE:"+filepath.Join(t.TempDir(), "none"))
		out, errs, code := runGetTest(t, testrealm.Password, "-kerberos", "-u", alice, peer.URL+"/pw")
		if code != 0 || !strings.Contains(out, alice) || !strings.Contains(errs, "Password for "+alice+": ") {
			t.Fatalf("exit %d\nstdout %s\nstderr %s", code, out, errs)
		}
	})
	t.Run("password from SSPI_PASSWORD", func(t *testing.T) {
		setRealmEnv(t, realm, "KRB5CCNAME=FILE:"+filepath.Join(t.TempDir(), "none"), "SSPI_PASSWORD="+testrealm.Password)
		out, errs, code := runGetTest(t, "", "-u", alice, peer.URL+"/env")
		if code != 0 || !strings.Contains(out, alice) {
			t.Fatalf("exit %d\nstdout %s\nstderr %s", code, out, errs)
		}
	})
	t.Run("wrong password", func(t *testing.T) {
		setRealmEnv(t, realm)
		_, errs, code := runGetTest(t, "", "-kerberos", "-u", alice+":wrong", peer.URL+"/wrong")
		if code != getExitFailure || !strings.Contains(errs, "SEC_E_LOGON_DENIED") {
			t.Fatalf("exit %d\nstderr %s", code, errs)
		}
	})
	t.Run("ntlm", func(t *testing.T) {
		peertest.NTLMSSP(t)
		setRealmEnv(t, realm)
		out, errs, code := runGetTest(t, "", "-ntlm", "-u", `EXAMPLE\alice:Pa55word!`, peer.URL+"/ntlm")
		if code != 0 || !strings.Contains(strings.ToLower(out), `example\\alice`) {
			t.Fatalf("exit %d\nstdout %s\nstderr %s", code, out, errs)
		}
		if !strings.Contains(errs, "with NTLM (Negotiate)") || !strings.Contains(errs, "server not verified (NTLM does not authenticate the server)") {
			t.Fatalf("stderr:\n%s", errs)
		}
	})
	t.Run("no final token", func(t *testing.T) {
		quiet := httppeer.Start(t, httppeer.Config{Env: realm.Env(), OmitFinalToken: true})
		setRealmEnv(t, realm, "KRB5CCNAME=FILE:"+ccache)
		out, errs, code := runGetTest(t, "", quiet.URL+"/quiet")
		if code != getExitNotProved || out != "" || !strings.Contains(errs, "not verified") {
			t.Fatalf("exit %d\nstdout %s\nstderr %s", code, out, errs)
		}
		// -no-mutual takes it.
		out, _, code = runGetTest(t, "", "-no-mutual", quiet.URL+"/quiet")
		if code != 0 || !strings.Contains(out, alice) {
			t.Fatalf("-no-mutual: exit %d %s", code, out)
		}
	})
}

// krbHandler authenticates each request with Kerberos under Negotiate
// (one leg, our acceptor) and answers with status; omitFinal leaves the
// final token out.
func krbHandler(t *testing.T, realm *testrealm.Realm, status int, omitFinal bool) http.Handler {
	e := asyncsspi.New(asyncsspi.WithKerberosOptions(kerberos.WithConfigFile(realm.Krb5Conf)))
	t.Cleanup(func() { e.Close() })
	cred, err := e.ServerCredential(asyncsspi.Negotiate(asyncsspi.KerberosKeytab(realm.ServiceKeytab, testrealm.Service)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cred.Close() })
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Negotiate ")
		in, err := base64.StdEncoding.DecodeString(tok)
		if !ok || err != nil {
			w.Header().Set("WWW-Authenticate", "Negotiate")
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		sc, err := cred.NewServerContext()
		if err != nil {
			t.Error(err)
			return
		}
		defer sc.Close()
		out, done, err := sc.Step(r.Context(), in)
		if err != nil || !done {
			w.Header().Set("WWW-Authenticate", "Negotiate")
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		if !omitFinal && len(out) > 0 {
			w.Header().Set("WWW-Authenticate", "Negotiate "+base64.StdEncoding.EncodeToString(out))
		}
		w.WriteHeader(status)
		io.WriteString(w, "hello "+sc.ClientName()+"\n")
	})
}

// Exit statuses by outcome, against in-test servers.
func TestGetExitStatus(t *testing.T) {
	realm := testrealm.Start(t)
	if realm == nil {
		return
	}
	ccache := realm.Kinit(t, testrealm.User, testrealm.Password)
	serve := func(h http.Handler) string {
		s := httptest.NewServer(h)
		t.Cleanup(s.Close)
		u, _ := url.Parse(s.URL)
		return "http://localhost:" + u.Port()
	}
	ok := serve(krbHandler(t, realm, 200, false))
	forbidden := serve(krbHandler(t, realm, 403, false))
	open := serve(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "open\n") }))
	basic := serve(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("WWW-Authenticate", `Basic realm="x"`)
		w.WriteHeader(401)
	}))
	setRealmEnv(t, realm, "KRB5CCNAME=FILE:"+ccache)

	for _, c := range []struct {
		args    []string
		code    int
		stdout  string
		stderrs []string
	}{
		{[]string{ok + "/"}, 0, "hello alice@ASYNCSSPI.TEST\n", []string{"200 OK", "server verified"}},
		{[]string{forbidden + "/"}, getExitHTTP, "hello", []string{"403 Forbidden", "server verified"}},
		{[]string{open + "/"}, 0, "open\n", []string{"200 OK", "no authentication was asked for"}},
		{[]string{basic + "/"}, getExitHTTP, "", []string{"401 Unauthorized", "none that sspi get answers"}},
		{[]string{testrealm.ClosedAddr(t)}, getExitUsage, "", []string{"not an http or https URL"}},
		{[]string{"http://" + testrealm.ClosedAddr(t) + "/"}, getExitFailure, "", []string{"connection refused"}},
		{[]string{"-ntlm", "-kerberos", ok}, getExitUsage, "", []string{"exclude each other"}},
		{[]string{ok, ok}, getExitUsage, "", []string{"want one URL"}},
		{[]string{"-bogus", ok}, getExitUsage, "", []string{"flag provided but not defined"}},
		{[]string{"-u", "alice", ok}, getExitFailure, "", []string{"SSPI_PASSWORD is not set"}},
		{[]string{"-help"}, 0, "", []string{"usage: sspi get", "Exit status:", "22  the final response is not 2xx"}},
	} {
		out, errs, code := runGetTest(t, "", c.args...)
		if code != c.code || !strings.HasPrefix(out, c.stdout) {
			t.Errorf("%q: exit %d (want %d)\nstdout %q\nstderr %s", c.args, code, c.code, out, errs)
			continue
		}
		for _, want := range c.stderrs {
			if !strings.Contains(errs, want) {
				t.Errorf("%q: stderr lacks %q:\n%s", c.args, want, errs)
			}
		}
	}

	// No credentials at all: a clear failure before any response.
	t.Setenv("KRB5CCNAME", "FILE:"+filepath.Join(t.TempDir(), "none"))
	_, errs, code := runGetTest(t, "", ok+"/")
	if code != getExitFailure || !strings.Contains(errs, "SEC_E_NO_CREDENTIALS") || !strings.Contains(errs, "run kinit") {
		t.Fatalf("no credentials: exit %d\n%s", code, errs)
	}
}

// The command table reaches runGet; its exit status goes through
// exitError (main's).
func TestGetThroughRun(t *testing.T) {
	var buf bytes.Buffer
	err := run(&buf, []string{"get", "-ntlm", "-kerberos", "http://x/"})
	var ee exitError
	if !errors.As(err, &ee) || ee.code != getExitUsage {
		t.Fatalf("run get: %v", err)
	}
}
