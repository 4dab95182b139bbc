// Package httpauth is net/http glue for HTTP Negotiate (RFC 4559: Kerberos,
// or NTLM inside SPNEGO) and NTLM (MS-NTHT) authentication, each handshake
// leg run on an asyncsspi engine.
//
// # Client
//
// Transport is an http.RoundTripper that answers a server's 401 (and an
// HTTP proxy's 407) Negotiate, Kerberos or NTLM challenges, as curl
// --negotiate does, by default with the environment's client credential
// (asyncsspi.FromEnvironment: the ticket cache in $KRB5CCNAME, the NTLM
// account in $NTLM_USER_FILE):
//
//	client := &http.Client{Transport: httpauth.NewTransport()}
//
// Its comment says what a request goes through; AuthenticationOf tells
// what authenticated a response. Its options are named WithClient... where
// the server's have the same purpose.
//
// # Server
//
// Authenticator is server middleware. A server protects a handler in a few
// lines, with the environment's server credential (the keytab in
// $KRB5_KTNAME, the NTLM accounts in $NTLM_USER_FILE):
//
//	auth, err := httpauth.NewAuthenticator()
//	if err != nil { ... }
//	defer auth.Close()
//	srv := &http.Server{Addr: ":8080", Handler: auth.Wrap(h)}
//	auth.Install(srv) // per-connection state: NTLM's legs, bound connections
//
// and the handler finds the client with IdentityFromContext. What it does:
//
//   - A request without credentials gets 401 with "WWW-Authenticate:
//     Negotiate" and "WWW-Authenticate: NTLM" (the schemes the credential
//     serves). A handshake that needs another leg gets 401 with the
//     server's token; the connection keeps the handshake for its next
//     request (NTLM's challenge), for a bounded time, under a cap across
//     connections.
//   - A successful handshake reaches the handler with an Identity (client
//     name, package, scheme, and the security context for per-message
//     protection) in the request's context; the server's final token
//     (Kerberos' AP-REP for mutual authentication) is on the handler's
//     response as "WWW-Authenticate: Negotiate <token>". An NTLM connection
//     stays authenticated for its later requests, as IIS does; a new
//     handshake on it starts afresh (see ConnectionBinding).
//   - Anything bad — malformed base64, a truncated or oversized token
//     (above the packages' maximum token size, refused before decoding), a
//     repeated Authorization header, an unknown scheme, a token for a
//     finished handshake, a refused logon — gets 401 and one log line
//     (package, remote address, status, cause); a Kerberos refusal carries
//     the KRB-ERROR token (ASC_REQ_EXTENDED_ERROR) in its WWW-Authenticate.
//     Never a 500.
//   - Legs are queued on the engine and never wait for room: when the
//     engine is at its queue depth, or a leg takes longer than the leg
//     timeout, the request gets 503 with Retry-After at once.
//
// Connection state needs the http.Server's ConnContext and ConnState
// hooks, which Install sets; see Install for what happens without them.
package httpauth
