package httpauth_test

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/asyncsspi/asyncsspi"
	"github.com/asyncsspi/asyncsspi/httpauth"
	"github.com/asyncsspi/asyncsspi/internal/testrealm"
	"github.com/asyncsspi/asyncsspi/status"
)

// A proxy as httpauth makes one: a front server whose handler calls an
// upstream server, both protected by httpauth, as the user who called it,
// with the credential the user delegated (Identity.DelegatedCredential).
// Each server has an engine of its own, as separate services would; the
// front service's keys are HTTP/localhost's, the upstream's
// HTTP/upstream.test's, in one MIT realm.

const upstreamSPN = "HTTP/upstream.test"

type proxyFixture struct {
	realm    *testrealm.Realm
	front    *testServer
	upstream *testServer
	client   *asyncsspi.Engine
}

// kerberosAuthenticator protects h with the keytab kt (Negotiate over
// Kerberos) on an engine of its own.
func kerberosAuthenticator(t *testing.T, realm *testrealm.Realm, kt string, h http.Handler) *testServer {
	t.Helper()
	e := testEngine(t, realm.Krb5Conf)
	cred := acceptorCred(t, e, asyncsspi.Negotiate(asyncsspi.KerberosKeytab(kt, "")))
	logs := &logBuffer{}
	auth, err := httpauth.NewAuthenticator(httpauth.WithEngine(e), httpauth.WithCredential(cred), httpauth.WithLogger(logs.logger()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { auth.Close() })
	ts := &testServer{Server: newUnstarted(h, auth), eng: e, auth: auth, logs: logs}
	ts.Start()
	t.Cleanup(ts.Close)
	return ts
}

func startProxy(t *testing.T) *proxyFixture {
	t.Helper()
	realm := testrealm.Start(t)
	if realm == nil {
		return nil
	}
	realm.AddService(t, upstreamSPN)
	f := &proxyFixture{realm: realm, client: testEngine(t, realm.Krb5Conf)}
	f.upstream = kerberosAuthenticator(t, realm, realm.Keytab(t, upstreamSPN), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, _ := httpauth.IdentityFromContext(r.Context())
		fmt.Fprintf(w, "upstream saw %s (%s)", id.Name, id.Package)
	}))
	upstreamURL := f.upstream.URL + "/data"
	f.front = kerberosAuthenticator(t, realm, realm.ServiceKeytab, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, _ := httpauth.IdentityFromContext(r.Context())
		cred, err := id.DelegatedCredential()
		if err != nil {
			w.Header().Set("X-Delegation-Status", status.CodeOf(err).String())
			http.Error(w, err.Error(), http.StatusForbidden)
			return
		}
		defer cred.Close()
		tr := httpauth.NewTransport(httpauth.WithClientCredential(cred), httpauth.WithSPN(func(string) string { return upstreamSPN }))
		defer tr.Close()
		resp, err := (&http.Client{Transport: tr}).Get(upstreamURL)
		if err != nil {
			http.Error(w, "upstream: "+err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		a, _ := httpauth.AuthenticationOf(resp)
		fmt.Fprintf(w, "front saw %s; %s; as %s (verified %v)", id.Name, b, strings.Join(cred.Packages(), ","), a != nil && a.Verified)
	}))
	return f
}

func (f *proxyFixture) get(t *testing.T, opts ...httpauth.TransportOption) (int, string, http.Header) {
	t.Helper()
	opts = append([]httpauth.TransportOption{
		httpauth.WithClientEngine(f.client),
		httpauth.WithClientSource(asyncsspi.KerberosPassword(f.realm.Principal(testrealm.User), testrealm.Password)),
		httpauth.WithSPN(func(string) string { return testrealm.Service }),
	}, opts...)
	tr := httpauth.NewTransport(opts...)
	defer tr.Close()
	resp, err := (&http.Client{Transport: tr}).Get(f.front.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(b)), resp.Header
}

// TestDelegationThroughProxy (issue 12 item 1): the client delegates
// (WithDelegation); the front server's handler takes the delegated
// credential and calls the upstream server with it; upstream sees the
// user, and verified itself to the front server.
func TestDelegationThroughProxy(t *testing.T) {
	f := startProxy(t)
	if f == nil {
		return
	}
	user := f.realm.Principal(testrealm.User)
	code, body, _ := f.get(t, httpauth.WithDelegation())
	want := fmt.Sprintf("front saw %s; upstream saw %s (Kerberos); as Kerberos (verified true)", user, user)
	if code != http.StatusOK || body != want {
		t.Fatalf("%d %q, want %q", code, body, want)
	}
	if n := f.realm.CountRequests("TGS_REQ"); n < 3 {
		// Front's ticket, the forwarded TGT, upstream's ticket.
		t.Fatalf("%d TGS_REQs: the upstream ticket did not come from the KDC", n)
	}
}

// Without delegation the handler is told SEC_E_NO_CREDENTIALS, with the
// reason.
func TestDelegationNotAsked(t *testing.T) {
	f := startProxy(t)
	if f == nil {
		return
	}
	code, body, h := f.get(t)
	if code != http.StatusForbidden || h.Get("X-Delegation-Status") != "SEC_E_NO_CREDENTIALS" || !strings.Contains(body, "delegated no credential") {
		t.Fatalf("%d %q %v", code, body, h)
	}
}

// An Identity without a security context (a handler's own, say) has no
// delegated credential.
func TestIdentityWithoutContext(t *testing.T) {
	var id *httpauth.Identity
	if _, err := id.DelegatedCredential(); !errors.Is(err, status.SEC_E_NO_CONTEXT) {
		t.Fatalf("nil identity: %v", err)
	}
	if _, err := (&httpauth.Identity{Name: "x"}).DelegatedCredential(); !errors.Is(err, status.SEC_E_NO_CONTEXT) {
		t.Fatalf("identity without context: %v", err)
	}
}

// A handler behind an Authenticator calls another service as its user,
// with the credential the user delegated (a client with WithDelegation).
func ExampleIdentity_DelegatedCredential() {
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, _ := httpauth.IdentityFromContext(r.Context())
		cred, err := id.DelegatedCredential()
		if err != nil { // SEC_E_NO_CREDENTIALS: the client delegated nothing
			http.Error(w, "delegation needed", http.StatusForbidden)
			return
		}
		defer cred.Close()
		tr := httpauth.NewTransport(httpauth.WithClientCredential(cred))
		defer tr.Close()
		resp, err := (&http.Client{Transport: tr}).Get("http://upstream.example.com/data")
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		io.Copy(w, resp.Body)
	})
	auth, err := httpauth.NewAuthenticator()
	if err != nil {
		return
	}
	defer auth.Close()
	srv := &http.Server{Addr: ":8080", Handler: auth.Wrap(handler)}
	auth.Install(srv)
	_ = srv // srv.ListenAndServe()
}
