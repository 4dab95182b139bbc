package httpauth_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/asyncsspi/asyncsspi"
	secctx "github.com/asyncsspi/asyncsspi/context"
	"github.com/asyncsspi/asyncsspi/httpauth"
	"github.com/asyncsspi/asyncsspi/internal/testrealm"
	"github.com/asyncsspi/asyncsspi/mechs/kerberos"
	"github.com/asyncsspi/asyncsspi/status"
)

// krbFixture is a test realm (MIT KDC), a server engine with the service
// keytab and a client engine, both reading the realm's krb5.conf.
type krbFixture struct {
	realm  *testrealm.Realm
	server *asyncsspi.Engine
	client *asyncsspi.Engine
}

func startKerberos(t testing.TB, serverOpts ...kerberos.Option) *krbFixture {
	t.Helper()
	realm := testrealm.Start(t)
	if realm == nil {
		return nil
	}
	return &krbFixture{
		realm:  realm,
		server: testEngine(t, realm.Krb5Conf, serverOpts...),
		client: testEngine(t, realm.Krb5Conf),
	}
}

// serverLayer authenticates with the service keytab under scheme
// (Negotiate over Kerberos and NTLM, or raw Kerberos).
func (f *krbFixture) serverLayer(t testing.TB, scheme string) *authLayer {
	kt := asyncsspi.KerberosKeytab(f.realm.ServiceKeytab, testrealm.Service)
	src := asyncsspi.Negotiate(kt, asyncsspi.NTLMUsers(aliceStore()))
	if scheme == "Kerberos" {
		src = kt
	}
	return &authLayer{cred: acceptorCred(t, f.server, src), scheme: scheme}
}

func (f *krbFixture) transport(t testing.TB, base http.RoundTripper, opts ...httpauth.TransportOption) *http.Client {
	t.Helper()
	if base == nil {
		base = &http.Transport{}
	}
	opts = append([]httpauth.TransportOption{
		httpauth.WithBase(base),
		httpauth.WithClientEngine(f.client),
		httpauth.WithClientSource(asyncsspi.KerberosPassword(f.realm.Principal(testrealm.User), testrealm.Password)),
	}, opts...)
	tr := httpauth.NewTransport(opts...)
	t.Cleanup(func() { tr.Close() })
	return &http.Client{Transport: tr}
}

func TestKerberosMutualAuthentication(t *testing.T) {
	f := startKerberos(t)
	if f == nil {
		return
	}
	for _, scheme := range []string{"Negotiate", "Kerberos"} {
		t.Run(scheme+"/verified", func(t *testing.T) {
			l := f.serverLayer(t, scheme)
			srv := startAuthServer(t, false, l, l)
			client := f.transport(t, nil)
			for i := 0; i < 2; i++ {
				r, resp := getReply(t, client, srv.localURL("/k"))
				if r.User != f.realm.Principal(testrealm.User) || r.Pkg != "Kerberos" {
					t.Fatalf("server saw %+v", r)
				}
				a, _ := httpauth.AuthenticationOf(resp)
				if a == nil || !a.Verified || a.Package != "Kerberos" || a.Scheme != scheme || a.Legs != 1 || a.Target != "HTTP/localhost" || a.Connection {
					t.Fatalf("request %d: authentication %+v", i, a)
				}
			}
		})
	}

	forge := func(tok []byte) []byte {
		b := append([]byte(nil), tok...)
		b[len(b)-3] ^= 0x55
		return b
	}
	omit := func([]byte) []byte { return nil }
	for _, c := range []struct {
		name  string
		final func([]byte) []byte
	}{{"forged", forge}, {"absent", omit}} {
		t.Run(c.name+" final token", func(t *testing.T) {
			l := f.serverLayer(t, "Negotiate")
			l.final = c.final
			srv := startAuthServer(t, false, l, l)
			client := f.transport(t, nil)
			resp, err := client.Get(srv.localURL("/m"))
			if err == nil {
				resp.Body.Close()
				t.Fatalf("%s final token: %s accepted", c.name, resp.Status)
			}
			if !errors.Is(err, status.SEC_E_MUTUAL_AUTH_FAILED) || !strings.Contains(err.Error(), "not verified") {
				t.Fatalf("%s final token: %v", c.name, err)
			}
			// The connection that carried the refused response is
			// closed, not kept for another request.
			log := l.requests()
			last := log[len(log)-1]
			if last.Status != 200 {
				t.Fatalf("server log %+v", log)
			}
			waitConnClosed(t, srv, last.Conn)

			// Without mutual authentication asked for, an absent
			// token is accepted (and reported unverified); a forged
			// one is still refused.
			lax := f.transport(t, nil, httpauth.WithMutualAuth(false))
			resp, err = lax.Get(srv.localURL("/lax"))
			if c.name == "absent" {
				if err != nil {
					t.Fatalf("without mutual authentication: %v", err)
				}
				resp.Body.Close()
				if a, _ := httpauth.AuthenticationOf(resp); a == nil || a.Verified {
					t.Fatalf("authentication %+v", a)
				}
			} else if !errors.Is(err, status.SEC_E_MUTUAL_AUTH_FAILED) {
				t.Fatalf("forged final token without mutual authentication asked: %v", err)
			}
		})
	}
}

// waitClosed waits (bounded) for the server to see connection id close.
func waitConnClosed(t testing.TB, srv *authServer, id int64) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case c := <-srv.closed:
			if c == id {
				return
			}
		case <-deadline:
			t.Fatalf("connection %d was not closed", id)
		}
	}
}

// Kerberos over HTTPS with an acceptor that requires channel bindings:
// the Transport's tls-server-end-point bindings pass; without them the
// acceptor refuses (SEC_E_BAD_BINDINGS).
func TestChannelBindingsKerberos(t *testing.T) {
	f := startKerberos(t, kerberos.WithRequireBindings(true))
	if f == nil {
		return
	}
	l := f.serverLayer(t, "Negotiate")
	srv := startAuthServer(t, true, l, l)
	cb, err := secctx.EndpointBindingsForCert(srv.cert(t))
	if err != nil {
		t.Fatal(err)
	}
	l.bindings = cb
	// httptest's certificate names example.com; the SPN is
	// HTTP/localhost.
	base := srv.Client().Transport.(*http.Transport).Clone()
	base.TLSClientConfig.ServerName = "example.com"
	client := f.transport(t, base)
	_, resp := getReply(t, client, srv.localURL("/tls"))
	if a, _ := httpauth.AuthenticationOf(resp); a == nil || !a.Verified {
		t.Fatalf("authentication %+v", a)
	}
	unbound := f.transport(t, base.Clone(), httpauth.WithChannelBindings(false))
	resp, err = unbound.Get(srv.localURL("/unbound"))
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 401 || !strings.Contains(resp.Header.Get("X-Auth-Error"), "SEC_E_BAD_BINDINGS") {
		t.Fatalf("without bindings: %s %q", resp.Status, resp.Header.Get("X-Auth-Error"))
	}
}

// BenchmarkTransportNegotiateKerberos measures requests through the
// Transport to an in-process server that asks for Negotiate, each
// request a fresh security context on both sides (an AP-REQ from the
// cached service ticket, the AP-REP verified): two HTTP round trips (the
// 401, then the authenticated request) on loopback.
func BenchmarkTransportNegotiateKerberos(b *testing.B) {
	f := startKerberos(b)
	if f == nil {
		return
	}
	l := f.serverLayer(b, "Negotiate")
	srv := startAuthServer(b, false, l, l)
	client := f.transport(b, nil)
	u := srv.localURL("/bench")
	getReply(b, client, u) // the TGT and service ticket, once
	b.ReportAllocs()
	start := time.Now()
	for b.Loop() {
		resp, err := client.Get(u)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			b.Fatal(resp.Status)
		}
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "req/s")
}

// Cancelling while a leg waits on the KDC (one that never answers) ends
// RoundTrip with the context's error at once; nothing is sent, and
// nothing is left running (goleak checks at exit).
func TestCancelWhileKDCHangs(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "krb5.conf")
	text := "[libdefaults]\n default_realm = SILENT.TEST\n dns_lookup_kdc = false\n dns_lookup_realm = false\n rdns = false\n" +
		"[realms]\n SILENT.TEST = {\n  kdc = " + testrealm.SilentAddr(t) + "\n }\n[domain_realm]\n localhost = SILENT.TEST\n"
	if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	requests := 0
	srv := startAuthServer(t, false, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests++
		w.Header().Set("WWW-Authenticate", "Negotiate")
		w.WriteHeader(401)
	}))
	tr := httpauth.NewTransport(httpauth.WithClientEngine(testEngine(t, conf)), httpauth.WithBase(&http.Transport{}),
		httpauth.WithClientSource(asyncsspi.KerberosPassword("alice@SILENT.TEST", "pw")))
	defer tr.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.localURL("/hang"), nil)
	start := time.Now()
	_, err := (&http.Client{Transport: tr}).Do(req)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("leg cancelled while the KDC hangs: %v", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("cancellation took %v", d)
	}
	if requests != 1 {
		t.Fatalf("%d requests reached the server, want the first only", requests)
	}
}
