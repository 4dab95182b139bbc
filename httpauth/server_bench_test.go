package httpauth_test

import (
	"context"
	"encoding/base64"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/asyncsspi/asyncsspi"
	"github.com/asyncsspi/asyncsspi/httpauth"
	"github.com/asyncsspi/asyncsspi/internal/testrealm"
)

// BenchmarkServerKerberos measures requests per second through the
// middleware, each with a fresh AP-REQ (a new client context; the service
// ticket is cached by the client credential, so the KDC is asked once),
// mutual authentication (the client checks the AP-REP), over kept-alive
// loopback connections, from parallel in-process clients.
func BenchmarkServerKerberos(b *testing.B) {
	realm := testrealm.Start(b)
	if realm == nil {
		return
	}
	for _, kv := range realm.Env() {
		k, v, _ := strings.Cut(kv, "=")
		b.Setenv(k, v)
	}
	auth, err := httpauth.NewAuthenticator(
		httpauth.WithSource(asyncsspi.KerberosKeytab(realm.ServiceKeytab, "")),
		httpauth.WithLogger(discard()))
	if err != nil {
		b.Fatal(err)
	}
	defer auth.Close()
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	ts := newUnstarted(ok, auth)
	ts.Start()
	defer ts.Close()
	cred := kerberosClient(b, realm)
	tr := &http.Transport{MaxIdleConnsPerHost: 64}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr}

	one := func() error {
		sc, err := cred.NewClientContext(testrealm.Service, asyncsspi.MutualAuth())
		if err != nil {
			return err
		}
		defer sc.Close()
		ctx := context.Background()
		apreq, _, err := sc.Step(ctx, nil)
		if err != nil {
			return err
		}
		req, _ := http.NewRequest("GET", ts.URL, nil)
		req.Header.Set("Authorization", "Negotiate "+base64.StdEncoding.EncodeToString(apreq))
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Errorf("status %d", resp.StatusCode)
			return nil
		}
		aprep, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(resp.Header.Get("WWW-Authenticate"), "Negotiate "))
		if _, done, err := sc.Step(ctx, aprep); err != nil || !done {
			b.Errorf("AP-REP: done %v, %v", done, err)
		}
		return nil
	}
	if err := one(); err != nil { // the TGS exchange, outside the timing
		b.Fatal(err)
	}
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := one(); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
}
