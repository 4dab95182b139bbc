package httpauth

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/url"
	"strings"
)

// target returns the service principal name to authenticate to: the
// server's for a 401, the proxy's for a 407. The host is the request's
// Host (the name the server answers to) or the URL's, for a proxy the
// proxy URL's; lower-cased as MIT's krb5_sname_to_principal does,
// canonicalised when WithCanonicalHost asks, with the port when
// WithSPNPort asks and it is not the scheme's default.
func (t *Transport) target(ctx context.Context, req *http.Request, proxy bool) (string, error) {
	var host, port, scheme string
	if proxy {
		u := t.proxyURL(req)
		if u == nil {
			return "", &url.Error{Op: "proxy", URL: redact(req.URL), Err: errNoProxy}
		}
		host, port, scheme = u.Hostname(), u.Port(), u.Scheme
	} else {
		hp := req.Host
		if hp == "" {
			hp = req.URL.Host
		}
		host, port = splitHostPort(hp)
		scheme = req.URL.Scheme
	}
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	if t.resolver != nil && net.ParseIP(host) == nil {
		host = t.canonical(ctx, host)
	}
	if t.spnPort && port != "" && port != defaultPort(scheme) {
		host = net.JoinHostPort(host, port)
	}
	if t.spnFunc != nil {
		return t.spnFunc(host), nil
	}
	return "HTTP/" + host, nil
}

// canonical returns host's canonical name (the end of its CNAME chain),
// or host itself when the lookup fails, as MIT does.
func (t *Transport) canonical(ctx context.Context, host string) string {
	cname, err := t.resolver.LookupCNAME(ctx, host)
	if err != nil || cname == "" {
		t.log.Debug("httpauth: host name not canonicalised", "host", host, "err", err)
		return host
	}
	return strings.ToLower(strings.TrimSuffix(cname, "."))
}

// proxyURL is the proxy the base sends req through, or nil.
func (t *Transport) proxyURL(req *http.Request) *url.URL {
	if t.proxy == nil {
		return nil
	}
	u, err := t.proxy(req)
	if err != nil {
		return nil
	}
	return u
}

// splitHostPort splits "host:port", "[v6]:port", "host" and "[v6]".
func splitHostPort(hp string) (host, port string) {
	if h, p, err := net.SplitHostPort(hp); err == nil {
		return h, p
	}
	return strings.TrimSuffix(strings.TrimPrefix(hp, "["), "]"), ""
}

var errNoProxy = errors.New("httpauth: a 407 came for a request the base sends to no proxy")
