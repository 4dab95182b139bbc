package httpauth_test

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/asyncsspi/asyncsspi"
	"github.com/asyncsspi/asyncsspi/httpauth"
	"github.com/asyncsspi/asyncsspi/internal/httppeer"
	"github.com/asyncsspi/asyncsspi/internal/peertest"
	"github.com/asyncsspi/asyncsspi/internal/testrealm"
	"github.com/asyncsspi/asyncsspi/status"
)

// The proof of interoperability: the Transport against an HTTP server
// that accepts with MIT GSSAPI (internal/httppeer).

// mitRealm starts a realm and returns it with the environment of an
// httppeer accepting Kerberos (the service keytab) and NTLM (a
// gss-ntlmssp users file with alice).
func mitRealm(t *testing.T) (*testrealm.Realm, []string) {
	t.Helper()
	realm := testrealm.Start(t)
	if realm == nil {
		return nil, nil
	}
	users := filepath.Join(t.TempDir(), "ntlm-users")
	if err := os.WriteFile(users, []byte(aliceDomain+":"+aliceUser+":"+alicePassword+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return realm, append(realm.Env(), "NTLM_USER_FILE="+users)
}

func mitGet(t *testing.T, client *http.Client, u string) (httppeer.Reply, *http.Response) {
	t.Helper()
	resp, err := client.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %s %s (%s)", u, resp.Status, b, resp.Header.Get("X-Auth-Error"))
	}
	r, err := httppeer.ParseReply(b)
	if err != nil {
		t.Fatalf("reply %q: %v", b, err)
	}
	return r, resp
}

func TestMITKerberos(t *testing.T) {
	realm, env := mitRealm(t)
	if realm == nil {
		return
	}
	srv := httppeer.Start(t, httppeer.Config{Env: env})
	e := testEngine(t, realm.Krb5Conf)
	ccache := realm.Kinit(t, testrealm.User, testrealm.Password)
	for name, src := range map[string]asyncsspi.Source{
		"password": asyncsspi.KerberosPassword(realm.Principal(testrealm.User), testrealm.Password),
		"kinit":    asyncsspi.KerberosCCache(ccache),
	} {
		t.Run(name, func(t *testing.T) {
			tr := httpauth.NewTransport(httpauth.WithClientEngine(e), httpauth.WithClientSource(src), httpauth.WithBase(&http.Transport{}))
			defer tr.Close()
			client := &http.Client{Transport: tr}
			for i := 0; i < 2; i++ {
				r, resp := mitGet(t, client, srv.URL+"/krb")
				if r.User != realm.Principal(testrealm.User) || r.Mech != httppeer.MechKerberos || r.Reused {
					t.Fatalf("MIT saw %+v", r)
				}
				// MIT's final token (the AP-REP in SPNEGO's
				// accept-completed) verified.
				a, _ := httpauth.AuthenticationOf(resp)
				if a == nil || !a.Verified || a.Package != "Kerberos" || a.Scheme != "Negotiate" || a.Target != "HTTP/localhost" {
					t.Fatalf("authentication %+v", a)
				}
			}
		})
	}

	// MIT without its final token: Kerberos with mutual authentication
	// asked is refused.
	quiet := httppeer.Start(t, httppeer.Config{Env: env, OmitFinalToken: true})
	tr := httpauth.NewTransport(httpauth.WithClientEngine(e), httpauth.WithBase(&http.Transport{}),
		httpauth.WithClientSource(asyncsspi.KerberosCCache(ccache)))
	defer tr.Close()
	_, err := (&http.Client{Transport: tr}).Get(quiet.URL + "/quiet")
	if !errors.Is(err, status.SEC_E_MUTUAL_AUTH_FAILED) {
		t.Fatalf("no final token from MIT: %v", err)
	}
}

// NTLM inside SPNEGO, accepted by gss-ntlmssp: every leg on one
// connection, which then stays authenticated.
func TestMITNTLM(t *testing.T) {
	peertest.NTLMSSP(t)
	realm, env := mitRealm(t)
	if realm == nil {
		return
	}
	srv := httppeer.Start(t, httppeer.Config{Env: env})
	client, _ := ntlmTransport(t, nil)
	r, resp := mitGet(t, client, srv.URL+"/ntlm")
	if !strings.EqualFold(r.User, aliceDomain+`\`+aliceUser) || r.Mech != httppeer.MechNTLM {
		t.Fatalf("MIT saw %+v", r)
	}
	if a, _ := httpauth.AuthenticationOf(resp); a == nil || a.Package != "NTLM" || a.Verified || a.Legs != 2 {
		t.Fatalf("authentication %+v", a)
	}
	r2, resp2 := mitGet(t, client, srv.URL+"/again")
	if !r2.Reused || r2.Conn != r.Conn {
		t.Fatalf("second request %+v, first on connection %d", r2, r.Conn)
	}
	if a, _ := httpauth.AuthenticationOf(resp2); a == nil || !a.Connection {
		t.Fatalf("second authentication %+v", a)
	}
	reqs := srv.Requests()
	if len(reqs) != 4 || reqs[1].Conn != reqs[2].Conn || reqs[2].Conn != reqs[3].Conn {
		t.Fatalf("server log %+v", reqs)
	}
}

// HTTPS: MIT's acceptor is given tls-server-end-point bindings computed by
// the server script from its certificate; ours must match them, for
// Kerberos and for NTLM.
func TestMITChannelBindings(t *testing.T) {
	realm, env := mitRealm(t)
	if realm == nil {
		return
	}
	cert := httppeer.NewCert(t)
	srv := httppeer.Start(t, httppeer.Config{Env: env, CertFile: cert.CertFile, KeyFile: cert.KeyFile})
	base := func() *http.Transport {
		b := &http.Transport{}
		b.TLSClientConfig = peerTLS(cert)
		return b
	}
	e := testEngine(t, realm.Krb5Conf)
	tr := httpauth.NewTransport(httpauth.WithClientEngine(e), httpauth.WithBase(base()),
		httpauth.WithClientSource(asyncsspi.KerberosPassword(realm.Principal(testrealm.User), testrealm.Password)))
	defer tr.Close()
	r, resp := mitGet(t, &http.Client{Transport: tr}, srv.URL+"/tls")
	if r.Mech != httppeer.MechKerberos {
		t.Fatalf("MIT saw %+v", r)
	}
	if a, _ := httpauth.AuthenticationOf(resp); a == nil || !a.Verified {
		t.Fatalf("authentication %+v", a)
	}

	// Wrong bindings are refused by MIT: the proof that it checks them.
	wrong := httpauth.NewTransport(httpauth.WithClientEngine(e), httpauth.WithBase(&wrongBindings{base()}),
		httpauth.WithClientSource(asyncsspi.KerberosPassword(realm.Principal(testrealm.User), testrealm.Password)))
	defer wrong.Close()
	resp, err := (&http.Client{Transport: wrong}).Get(srv.URL + "/wrong")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	a, _ := httpauth.AuthenticationOf(resp)
	if resp.StatusCode != 401 || !strings.Contains(strings.ToLower(resp.Header.Get("X-Auth-Error")), "binding") || a == nil || a.Err == nil {
		t.Fatalf("wrong bindings: %s %q, authentication %+v", resp.Status, resp.Header.Get("X-Auth-Error"), a)
	}

	t.Run("NTLM", func(t *testing.T) {
		peertest.NTLMSSP(t)
		client, _ := ntlmTransport(t, base())
		r, _ := mitGet(t, client, srv.URL+"/tls-ntlm")
		if r.Mech != httppeer.MechNTLM {
			t.Fatalf("MIT saw %+v", r)
		}
	})
}

// The environment's credentials, as a new user's one line gets them: a
// ticket cache from kinit in KRB5CCNAME, krb5.conf in KRB5_CONFIG.
func TestMITFromEnvironment(t *testing.T) {
	realm, env := mitRealm(t)
	if realm == nil {
		return
	}
	srv := httppeer.Start(t, httppeer.Config{Env: env})
	ccache := realm.Kinit(t, testrealm.User, testrealm.Password)
	t.Setenv("KRB5_CONFIG", realm.Krb5Conf)
	t.Setenv(asyncsspi.EnvCCache, "FILE:"+ccache)
	t.Setenv(asyncsspi.EnvNTLMFile, "")
	client := &http.Client{Transport: httpauth.NewTransport()}
	defer client.CloseIdleConnections()
	r, resp := mitGet(t, client, srv.URL+"/env")
	if r.User != realm.Principal(testrealm.User) {
		t.Fatalf("MIT saw %+v", r)
	}
	if a, _ := httpauth.AuthenticationOf(resp); a == nil || !a.Verified {
		t.Fatalf("authentication %+v", a)
	}
}

func peerTLS(c *httppeer.Cert) *tls.Config { return &tls.Config{RootCAs: c.Pool} }

// wrongBindings hands the Transport responses whose TLS state names
// another certificate, so that the bindings it computes are not the
// channel's.
type wrongBindings struct{ *http.Transport }

func (w *wrongBindings) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := w.Transport.RoundTrip(req)
	if err == nil && resp.TLS != nil {
		cs := *resp.TLS
		cs.PeerCertificates = []*x509.Certificate{{Raw: []byte("not the server's certificate"), SignatureAlgorithm: x509.ECDSAWithSHA256}}
		resp.TLS = &cs
	}
	return resp, err
}
