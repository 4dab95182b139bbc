package httpauth_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/asyncsspi/asyncsspi"
	"github.com/asyncsspi/asyncsspi/httpauth"
	"github.com/asyncsspi/asyncsspi/mechs/ntlm"
)

// A protected handler. A real server takes its credential from the
// environment with httpauth.NewAuthenticator() (the keytab in
// $KRB5_KTNAME, the NTLM accounts in $NTLM_USER_FILE); this one is given
// one NTLM account, and a hand-driven client logs in over one kept-alive
// connection.
func ExampleAuthenticator() {
	users := ntlm.NewMemoryStore()
	users.AddPassword("EXAMPLE", "alice", "Pa55word!")

	auth, err := httpauth.NewAuthenticator(
		httpauth.WithSource(asyncsspi.NTLMUsers(users)),
		httpauth.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer auth.Close()
	hello := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, _ := httpauth.IdentityFromContext(r.Context())
		fmt.Fprintf(w, "hello %s (%s)", id.Name, id.Package)
	})
	srv := httptest.NewUnstartedServer(auth.Wrap(hello))
	auth.Install(srv.Config) // connection state: NTLM's legs meet on one connection
	srv.Start()
	defer srv.Close()

	// Without credentials: 401 and the schemes offered.
	resp, err := http.Get(srv.URL)
	if err != nil {
		fmt.Println(err)
		return
	}
	resp.Body.Close()
	fmt.Println(resp.StatusCode, resp.Header.Values("WWW-Authenticate"))

	// An NTLM client, by hand (package httpauth's client side does this
	// for a program).
	client := asyncsspi.New()
	defer client.Close()
	cred, _ := client.ClientCredential(asyncsspi.NTLMPassword("EXAMPLE", "alice", "Pa55word!"))
	defer cred.Close()
	sc, _ := cred.NewClientContext("HTTP/localhost")
	defer sc.Close()
	hc := &http.Client{Transport: &http.Transport{MaxConnsPerHost: 1}}
	defer hc.CloseIdleConnections()
	var in []byte
	for {
		out, _, err := sc.Step(context.Background(), in)
		if err != nil {
			fmt.Println(err)
			return
		}
		req, _ := http.NewRequest("GET", srv.URL, nil)
		req.Header.Set("Authorization", "NTLM "+base64.StdEncoding.EncodeToString(out))
		resp, err := hc.Do(req)
		if err != nil {
			fmt.Println(err)
			return
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		challenge, more := strings.CutPrefix(resp.Header.Get("WWW-Authenticate"), "NTLM ")
		if resp.StatusCode != http.StatusUnauthorized || !more {
			fmt.Println(resp.StatusCode, string(body))
			break
		}
		in, _ = base64.StdEncoding.DecodeString(challenge)
	}
	// Output:
	// 401 [Negotiate NTLM]
	// 200 hello EXAMPLE\alice (NTLM)
}
