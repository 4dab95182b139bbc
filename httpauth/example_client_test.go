package httpauth_test

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"

	"github.com/asyncsspi/asyncsspi"
	"github.com/asyncsspi/asyncsspi/httpauth"
)

// A client authenticates with the credentials of its environment (here
// alice's NTLM account in NTLM_USER_FILE; with a Kerberos ticket cache
// from kinit it would be Kerberos, verified by the server's final token).
func ExampleNewTransport() {
	url, cleanup := exampleSetup() // a server asking for Negotiate; NTLM_USER_FILE
	defer cleanup()

	client := &http.Client{Transport: httpauth.NewTransport()}
	defer client.CloseIdleConnections()

	resp, err := client.Get(url)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	auth, _ := httpauth.AuthenticationOf(resp)
	fmt.Println(resp.Status, auth.Scheme, auth.Package, "server verified:", auth.Verified)
	// Output: 200 OK Negotiate NTLM server verified: false
}

// exampleCleanup stands in for a testing.TB's Cleanup.
type exampleCleanup []func()

func (c *exampleCleanup) Helper()          {}
func (c *exampleCleanup) Cleanup(f func()) { *c = append(*c, f) }
func (c *exampleCleanup) run() {
	for i := len(*c) - 1; i >= 0; i-- {
		(*c)[i]()
	}
}

// exampleSetup starts a server that asks for Negotiate and accepts alice
// (NTLM, our own acceptor), and points the environment at a users file
// with her account and at no Kerberos ticket cache.
func exampleSetup() (url string, cleanup func()) {
	var c exampleCleanup
	dir, _ := os.MkdirTemp("", "httpauth-example")
	c.Cleanup(func() { os.RemoveAll(dir) })
	users := filepath.Join(dir, "users")
	os.WriteFile(users, []byte(aliceDomain+":"+aliceUser+":"+alicePassword+"\n"), 0o600)
	for k, v := range map[string]string{
		asyncsspi.EnvNTLMFile: users,
		asyncsspi.EnvCCache:   "FILE:" + filepath.Join(dir, "no-ticket-cache"),
	} {
		old, had := os.LookupEnv(k)
		os.Setenv(k, v)
		c.Cleanup(func() {
			if had {
				os.Setenv(k, old)
			} else {
				os.Unsetenv(k)
			}
		})
	}
	e := asyncsspi.New()
	c.Cleanup(func() { e.Close() })
	cred, err := e.ServerCredential(asyncsspi.Negotiate(asyncsspi.NTLMUsers(aliceStore())))
	if err != nil {
		panic(err)
	}
	c.Cleanup(func() { cred.Close() })
	l := &authLayer{cred: cred, scheme: "Negotiate", persist: true}
	srv := startAuthServerMode(&c, "http", l, l)
	return srv.URL + "/", c.run
}
