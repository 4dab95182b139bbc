package httpauth

import (
	"errors"
	"net/http"
)

// Authentication says how a response was authenticated by a Transport.
type Authentication struct {
	// Proxy is true for the proxy's authentication (407,
	// Proxy-Authenticate), false for the server's (401).
	Proxy bool
	// Scheme is the HTTP scheme used: "Negotiate", "NTLM" or "Kerberos".
	Scheme string
	// Package is the package that authenticated: "Kerberos" or "NTLM"
	// (under Negotiate, the one chosen).
	Package string
	// Target is the service principal name authenticated to.
	Target string
	// Client is the name the client authenticated as, as its package
	// knows it ("alice@REALM", "DOMAIN\alice"); "" when unknown.
	Client string
	// Legs is the number of tokens sent for this response; 0 when the
	// request went on a connection authenticated earlier.
	Legs int
	// Verified is true when the server (or proxy) proved itself: the
	// client checked its final token (mutual authentication, Kerberos'
	// AP-REP). NTLM never verifies the server.
	Verified bool
	// Connection is true when the request carried no token because its
	// connection was authenticated by an earlier handshake (NTLM).
	Connection bool
	// Err is set when the response is the challenger's refusal,
	// returned as it came (a 401 or 407 after the Transport's tokens):
	// why the handshake failed, wrapping ErrRefused when the server
	// just asked again, or the security status of the server's
	// rejection token (errors.Is(a.Err, status.SEC_E_LOGON_DENIED)).
	Err error
}

// ErrRefused is wrapped by Authentication.Err when the server (or proxy)
// answered the Transport's last token with the bare challenge again, or
// challenged a handshake that had completed.
var ErrRefused = errors.New("the credentials were refused")

type resultKey struct{}

type results struct{ server, proxy *Authentication }

// AuthenticationOf returns how resp, a response from a Transport, was
// authenticated to the server and to the proxy: nil for a side that did
// not challenge it (or whose challenge the Transport could not answer),
// and an Authentication with Err set for a side whose challenge is
// returned as it came because it refused the handshake.
func AuthenticationOf(resp *http.Response) (server, proxy *Authentication) {
	if resp == nil || resp.Request == nil {
		return nil, nil
	}
	r, _ := resp.Request.Context().Value(resultKey{}).(*results)
	if r == nil {
		return nil, nil
	}
	return r.server, r.proxy
}
