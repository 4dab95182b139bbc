package httpauth

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"

	"github.com/asyncsspi/asyncsspi"
	"github.com/asyncsspi/asyncsspi/status"
)

// maxLegs bounds the tokens one handshake sends: SPNEGO over NTLM needs
// two, Kerberos one; a server that keeps asking is refused rather than
// followed.
const maxLegs = 6

// maxTokenBytes bounds a token read from a header before it is decoded:
// 65535 bytes, the largest cbMaxToken Windows allows (MaxTokenSize); the
// engine checks each package's own maximum after that.
const maxTokenBytes = 65535

// clientHandshake is one side's authentication of a request: the server's
// (401, WWW-Authenticate, Authorization) or the proxy's (407,
// Proxy-Authenticate, Proxy-Authorization). It is used by one exchange
// only, never concurrently.
type clientHandshake struct {
	proxy  bool
	scheme string // the scheme in use ("" before the first challenge)
	target string // the service principal name
	sc     *asyncsspi.SecurityContext
	header string // the header value to send with the next request; "" none
	sent   int    // tokens sent
	done   bool   // our side is established
	// result is what the handshake ended as, set by finish.
	result *Authentication
	// failure is why the challenger refused the handshake, set by
	// respond when it returns a challenge as it is.
	failure error
}

func (h *clientHandshake) challengeHeader() string {
	if h.proxy {
		return "Proxy-Authenticate"
	}
	return "WWW-Authenticate"
}

func (h *clientHandshake) authorizationHeader() string {
	if h.proxy {
		return "Proxy-Authorization"
	}
	return "Authorization"
}

func (h *clientHandshake) challengeStatus() int {
	if h.proxy {
		return http.StatusProxyAuthRequired
	}
	return http.StatusUnauthorized
}

func (h *clientHandshake) who() string {
	if h.proxy {
		return "proxy"
	}
	return "server"
}

// reset ends the security context (the handshake can start again on a
// later challenge).
func (h *clientHandshake) reset() {
	if h.sc != nil {
		h.sc.Close()
		h.sc = nil
	}
	h.header, h.done = "", false
}

// step runs a leg with the challenger's token (a token68).
func (h *clientHandshake) step(ctx context.Context, token68 string) (out []byte, done bool, err error) {
	in, err := decodeToken(token68)
	if err != nil {
		return nil, false, err
	}
	out, done, err = h.sc.Step(ctx, in)
	if err != nil {
		return nil, false, err
	}
	h.done = done
	return out, done, nil
}

func (h *clientHandshake) setToken(tok []byte) {
	h.header = h.scheme + " " + base64.StdEncoding.EncodeToString(tok)
	h.sent++
}

// exchange authenticates req. first is the response that challenged it
// (from the base transport), or nil when pc is a connection authenticated
// earlier, on which req is first sent without a token. bodySent says
// whether req's body has been sent already (later sends take a new one
// from GetBody). pc is nil when the base is not an *http.Transport.
// exchange releases pc: on error at once, else when the returned
// response's body is read to the end or closed.
func (t *Transport) exchange(req *http.Request, pc *pinConn, first *http.Response, bodySent bool) (resp *http.Response, err error) {
	t.begin()
	defer t.end()
	ctx := req.Context()
	origin, proxy := &clientHandshake{}, &clientHandshake{proxy: true}
	defer origin.reset()
	defer proxy.reset()
	defer func() {
		if err != nil && pc != nil {
			t.pool.release(pc, false)
		}
	}()

	resp = first
	if resp == nil {
		if resp, err = t.send(req, pc, origin, proxy, !bodySent); err != nil {
			return nil, err
		}
	}
	for round := 0; ; round++ {
		// The proxy passed a request on: its handshake (if any) is over.
		if proxy.header != "" && resp.StatusCode != http.StatusProxyAuthRequired {
			if err := t.finish(ctx, proxy, resp); err != nil {
				drain(resp)
				return nil, err
			}
			if pc != nil && connBound(proxy) {
				pc.proxy = connAuth{scheme: proxy.scheme, pkg: proxy.result.Package, target: proxy.target, client: proxy.result.Client}
			}
			// Over: a later 407 (a proxy that wants a token per
			// request) starts a new handshake.
			proxy.reset()
		}
		var h *clientHandshake
		switch resp.StatusCode {
		case http.StatusUnauthorized:
			h = origin
		case http.StatusProxyAuthRequired:
			if req.Header.Get("Proxy-Authorization") == "" {
				h = proxy
			}
		}
		if h == nil {
			break
		}
		if pc != nil {
			// Whatever the connection was authenticated as, the
			// challenger no longer takes it.
			if h.proxy {
				pc.proxy = connAuth{}
			} else {
				pc.origin = connAuth{}
			}
		}
		if round >= 2*maxLegs+2 {
			break
		}
		cont, err := t.respond(ctx, h, req, resp)
		if err != nil {
			drain(resp)
			return nil, err
		}
		if !cont {
			break // returned as it is
		}
		drain(resp)
		if resp, err = t.send(req, pc, origin, proxy, false); err != nil {
			return nil, err
		}
	}

	// resp ends the exchange. The server's handshake ends with it unless
	// it is a challenge (a refusal, returned as it is).
	var serverAuth, proxyAuth *Authentication
	if origin.header != "" && resp.StatusCode != http.StatusUnauthorized && resp.StatusCode != http.StatusProxyAuthRequired {
		if err := t.finish(ctx, origin, resp); err != nil {
			drain(resp)
			return nil, err
		}
		serverAuth = origin.result
		if pc != nil && connBound(origin) {
			pc.origin = connAuth{scheme: origin.scheme, pkg: origin.result.Package, target: origin.target, client: origin.result.Client}
		}
	} else if origin.sent == 0 && pc != nil && pc.origin.ok() && resp.StatusCode != http.StatusUnauthorized {
		serverAuth = &Authentication{Scheme: pc.origin.scheme, Package: pc.origin.pkg, Target: pc.origin.target, Client: pc.origin.client, Connection: true}
	}
	if origin.sc != nil && resp.StatusCode == http.StatusUnauthorized {
		serverAuth = origin.refusal()
	}
	if proxy.sc != nil && resp.StatusCode == http.StatusProxyAuthRequired {
		proxyAuth = proxy.refusal()
	} else if proxy.result != nil {
		proxyAuth = proxy.result
	} else if proxy.sent == 0 && pc != nil && pc.proxy.ok() && resp.StatusCode != http.StatusProxyAuthRequired {
		proxyAuth = &Authentication{Proxy: true, Scheme: pc.proxy.scheme, Package: pc.proxy.pkg, Target: pc.proxy.target, Client: pc.proxy.client, Connection: true}
	}
	if serverAuth != nil || proxyAuth != nil {
		resp.Request = resp.Request.WithContext(context.WithValue(resp.Request.Context(), resultKey{}, &results{server: serverAuth, proxy: proxyAuth}))
	}
	if pc != nil {
		if resp.Close {
			// The server closes this connection after the response:
			// the transport's next one is not authenticated.
			pc.origin, pc.proxy = connAuth{}, connAuth{}
		}
		t.releaseWith(resp, pc)
	}
	return resp, nil
}

// refusal is the Authentication of a challenge returned as it is.
func (h *clientHandshake) refusal() *Authentication {
	why := h.failure
	if why == nil {
		why = ErrRefused
	}
	return &Authentication{Proxy: h.proxy, Scheme: h.scheme, Package: h.sc.Package(), Target: h.target, Legs: h.sent,
		Err: fmt.Errorf("httpauth: the %s refused %s for %s: %w", h.who(), h.scheme, h.target, why)}
}

// connBound reports whether h authenticated the connection rather than
// the request: NTLM, whether raw or under Negotiate.
func connBound(h *clientHandshake) bool {
	return h.result != nil && strings.EqualFold(h.result.Package, "NTLM")
}

// respond answers a challenge for h in resp: it starts h's security
// context on a first challenge, or steps it with the challenge's token.
// cont false means resp is to be returned as it is (no scheme the
// Transport answers, or the server refused the handshake).
func (t *Transport) respond(ctx context.Context, h *clientHandshake, req *http.Request, resp *http.Response) (cont bool, err error) {
	cs, perr := ParseChallenges(resp.Header, h.challengeHeader())
	if perr != nil {
		t.log.Debug("httpauth: malformed challenge", "url", redact(req.URL), "err", perr)
	}
	if h.sc == nil {
		scheme := t.choose(cs)
		if scheme == "" {
			return false, nil
		}
		return true, t.start(ctx, h, scheme, req, resp)
	}
	c, ok := findChallenge(cs, h.scheme)
	refused := func(why error) (bool, error) {
		h.failure = why
		t.log.Debug("httpauth: "+h.who()+" refused the handshake", "scheme", h.scheme, "target", h.target, "tokens", h.sent, "err", why)
		return false, nil
	}
	switch {
	case !ok || c.Token68 == "":
		// The challenge again, without a token: the server refused
		// the last one.
		return refused(ErrRefused)
	case h.done:
		// Our side is established and the server still challenges:
		// refused, and another round would loop.
		return refused(fmt.Errorf("%w: it challenged again after the handshake completed", ErrRefused))
	case h.sent >= maxLegs:
		return refused(fmt.Errorf("%w: the handshake did not end in %d legs", ErrRefused, maxLegs))
	}
	// A token that does not step is the server's refusal too (SPNEGO's
	// reject, a KRB-ERROR) or garbage: the challenge is returned as it
	// is, and the step's error says why.
	out, done, err := h.step(ctx, c.Token68)
	if err != nil {
		return refused(err)
	}
	if len(out) == 0 {
		if done {
			return refused(fmt.Errorf("%w: it challenged the handshake's last token", ErrRefused))
		}
		return refused(status.Errorf(status.SEC_E_INTERNAL_ERROR, h.scheme, "the handshake needs another leg but gave no token to send"))
	}
	h.setToken(out)
	return true, nil
}

// start begins h with scheme: a credential, a security context for the
// target, and its first token.
func (t *Transport) start(ctx context.Context, h *clientHandshake, scheme string, req *http.Request, resp *http.Response) error {
	cred, err := t.credential(scheme)
	if err != nil {
		return err
	}
	target, err := t.target(ctx, req, h.proxy)
	if err != nil {
		return err
	}
	var opts []asyncsspi.ContextOption
	if t.mutual {
		opts = append(opts, asyncsspi.MutualAuth())
	}
	if t.delegate {
		opts = append(opts, asyncsspi.Delegate())
	}
	if t.bindings && resp.TLS != nil && t.tlsIsTarget(req, h.proxy) {
		// tls-server-end-point of the certificate that served the
		// challenge (RFC 5929 section 4).
		opts = append(opts, asyncsspi.TLSChannelBindings(resp.TLS))
	}
	sc, err := cred.NewClientContext(target, opts...)
	if err != nil {
		return fmt.Errorf("httpauth: %s for %s: %w", scheme, target, err)
	}
	h.sc, h.scheme, h.target, h.sent, h.done = sc, scheme, target, 0, false
	out, done, err := sc.Step(ctx, nil)
	if err != nil {
		return fmt.Errorf("httpauth: %s for %s: %w", scheme, target, err)
	}
	if len(out) == 0 {
		return fmt.Errorf("httpauth: %s for %s: %w", scheme, target,
			status.Errorf(status.SEC_E_INTERNAL_ERROR, scheme, "the first leg gave no token"))
	}
	h.done = done
	h.setToken(out)
	t.log.Debug("httpauth: answering "+h.who()+" challenge", "scheme", scheme, "target", target, "url", redact(req.URL))
	return nil
}

// tlsIsTarget reports whether the TLS connection of a response is the
// challenger's: for the server, an https URL; for a proxy, an https proxy
// (a plain-HTTP request through it).
func (t *Transport) tlsIsTarget(req *http.Request, proxy bool) bool {
	if !proxy {
		return strings.EqualFold(req.URL.Scheme, "https")
	}
	u := t.proxyURL(req)
	return u != nil && strings.EqualFold(u.Scheme, "https")
}

// finish ends h on resp, the response that is not its challenge: it
// steps the final token when there is one and checks mutual
// authentication. An error means resp must be refused.
func (t *Transport) finish(ctx context.Context, h *clientHandshake, resp *http.Response) error {
	cs, _ := ParseChallenges(resp.Header, h.challengeHeader())
	c, _ := findChallenge(cs, h.scheme)
	refuse := func(cause error) error {
		t.log.Warn("httpauth: response refused: the "+h.who()+" was not verified", "scheme", h.scheme, "target", h.target, "status", resp.StatusCode, "err", cause)
		if !errors.Is(cause, status.SEC_E_MUTUAL_AUTH_FAILED) {
			cause = status.New(status.SEC_E_MUTUAL_AUTH_FAILED, h.sc.Package(), cause)
		}
		return fmt.Errorf("httpauth: %s response refused: the %s %s was not verified: %w", resp.Status, h.who(), h.target, cause)
	}
	if c.Token68 != "" && !h.done {
		out, done, err := h.step(ctx, c.Token68)
		if err != nil {
			return refuse(err)
		}
		if !done {
			return refuse(errors.New("its final token did not complete the handshake"))
		}
		if len(out) > 0 {
			t.log.Debug("httpauth: a token left to send after the final response is dropped", "scheme", h.scheme, "bytes", len(out))
		}
	}
	pkg := h.sc.Package()
	verified := h.done && h.sc.MutuallyAuthenticated()
	if t.mutual && !verified && !h.proxy && strings.EqualFold(pkg, "Kerberos") {
		if c.Token68 == "" {
			return refuse(errors.New("it sent no final token"))
		}
		return refuse(errors.New("its final token did not prove it"))
	}
	h.result = &Authentication{Proxy: h.proxy, Scheme: h.scheme, Package: pkg, Target: h.target, Client: h.sc.ClientName(), Legs: h.sent, Verified: verified}
	return nil
}

// send sends req with the handshakes' headers, on pc (or the base). first
// sends req's body as it is; later sends take a new one from GetBody.
func (t *Transport) send(req *http.Request, pc *pinConn, origin, proxy *clientHandshake, first bool) (*http.Response, error) {
	r := req.Clone(req.Context())
	if !first && req.Body != nil && req.Body != http.NoBody {
		if req.GetBody == nil {
			return nil, fmt.Errorf("%w: %s %s", ErrBodyNotReplayable, req.Method, redact(req.URL))
		}
		body, err := req.GetBody()
		if err != nil {
			return nil, fmt.Errorf("httpauth: %s %s: GetBody: %w", req.Method, redact(req.URL), err)
		}
		r.Body = body
	}
	for _, h := range []*clientHandshake{origin, proxy} {
		if h.header != "" {
			r.Header.Set(h.authorizationHeader(), h.header)
		}
	}
	if pc != nil {
		return pc.t.RoundTrip(r)
	}
	return t.base.RoundTrip(r)
}

// releaseWith gives pc back when resp's body is read to the end or
// closed (at once when there is no body).
func (t *Transport) releaseWith(resp *http.Response, pc *pinConn) {
	if resp.Body == nil || resp.Body == http.NoBody {
		t.pool.release(pc, true)
		return
	}
	if _, rw := resp.Body.(io.ReadWriteCloser); rw && resp.StatusCode == http.StatusSwitchingProtocols {
		// The connection now belongs to the caller's protocol.
		t.pool.release(pc, false)
		return
	}
	resp.Body = &leasedBody{rc: resp.Body, release: func() { t.pool.release(pc, true) }}
}

// leasedBody gives the pinned connection back once, at EOF or Close.
type leasedBody struct {
	rc      io.ReadCloser
	once    sync.Once
	release func()
}

func (b *leasedBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if err == io.EOF {
		b.once.Do(b.release)
	}
	return n, err
}

func (b *leasedBody) Close() error {
	err := b.rc.Close()
	b.once.Do(b.release)
	return err
}

func findChallenge(cs []Challenge, scheme string) (Challenge, bool) {
	for _, c := range cs {
		if strings.EqualFold(c.Scheme, scheme) {
			return c, true
		}
	}
	return Challenge{}, false
}

// decodeToken decodes a challenge's token68 (base64, RFC 4559 section 4;
// unpadded base64 is accepted too), refusing one longer than
// maxTokenBytes before decoding it.
func decodeToken(s string) ([]byte, error) {
	if base64.RawStdEncoding.DecodedLen(len(s)) > maxTokenBytes+2 {
		return nil, status.Errorf(status.SEC_E_INVALID_TOKEN, "", fmt.Sprintf("a token of %d base64 characters (at most %d bytes are read)", len(s), maxTokenBytes))
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		if b, err = base64.RawStdEncoding.DecodeString(strings.TrimRight(s, "=")); err != nil {
			return nil, status.New(status.SEC_E_INVALID_TOKEN, "", fmt.Errorf("token is not base64: %w", err))
		}
	}
	if len(b) > maxTokenBytes {
		return nil, status.Errorf(status.SEC_E_INVALID_TOKEN, "", fmt.Sprintf("a token of %d bytes (at most %d)", len(b), maxTokenBytes))
	}
	return b, nil
}
