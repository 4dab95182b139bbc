package httpauth

import (
	"context"
	"crypto/tls"
	"net/http"
	"slices"
	"sync"
)

// A connection-bound handshake (NTLM, and Negotiate when it settles on
// NTLM) authenticates the TCP connection, not the request: the server
// keeps the NTLM challenge with the connection, refuses an AUTHENTICATE
// that arrives on another one, and treats later requests on the
// authenticated connection as the authenticated user (MS-NLMP section
// 3.1.5; RFC 4559 section 4 leaves it to the mechanism). A pooled
// *http.Transport may send each leg on whichever idle connection it has,
// so every handshake runs on a pinned connection instead: a clone of the
// base transport allowed one connection (MaxConnsPerHost 1) and HTTP/1.1
// only (HTTP/2 multiplexes requests of any kind on one connection, where
// connection-bound authentication cannot be used). While a pinned
// connection is leased, only the request that leased it uses it; it goes
// back to its host's set when the response body is read to the end or
// closed, and a connection the handshake authenticated is offered first
// to that host's later requests, which then need no handshake.
//
// Bounds: at most perHost pinned connections per host (a handshake waits,
// under its request's context, for one to come back), at most maxHosts
// hosts (the least recently used host with nothing leased is dropped, and
// a host beyond the bound gets a connection that is closed after its one
// request). CloseIdleConnections closes every idle pinned connection and
// forgets what was authenticated; leased ones are closed when they come
// back.

// pinPool is the set of pinned connections, by host. Its methods are safe
// for concurrent use; mu guards every field below it and those of the
// pinHosts and pinConns it holds (pinConn.t is read without it: it never
// changes).
type pinPool struct {
	base     *http.Transport
	maxHosts int
	perHost  int

	mu    sync.Mutex
	hosts map[string]*pinHost
	tick  uint64 // bumped on every lease, for least-recently-used eviction
	gen   uint64 // bumped by closeIdle: a connection of an older generation is closed when it comes back
}

type pinHost struct {
	key      string
	idle     []*pinConn
	total    int           // idle and leased
	released chan struct{} // closed (and replaced) when a connection comes back or is dropped
	used     uint64
}

// pinConn is one pinned connection: a single-connection transport and
// what its connection is authenticated as. The transport redials when the
// server closes the connection; the next request then meets a 401 (or
// 407) and the handshake runs again on the new connection.
type pinConn struct {
	t    *http.Transport
	host *pinHost // nil for a connection beyond maxHosts (closed after use)
	gen  uint64

	// origin and proxy say what the connection is authenticated as for
	// the server and for the proxy ("" scheme: not authenticated).
	// Written only by the request that holds the lease.
	origin, proxy connAuth
}

// connAuth is what a connection-bound handshake left on a connection.
type connAuth struct {
	scheme, pkg, target, client string
}

func (a connAuth) ok() bool { return a.scheme != "" }

func newPinPool(base *http.Transport, maxHosts, perHost int) *pinPool {
	return &pinPool{base: base, maxHosts: maxHosts, perHost: perHost, hosts: map[string]*pinHost{}}
}

// newTransport is a clone of the base allowed one HTTP/1.1 connection.
func (p *pinPool) newTransport() *http.Transport {
	t := p.base.Clone()
	t.MaxConnsPerHost = 1
	t.MaxIdleConnsPerHost = 1
	t.MaxIdleConns = 1
	t.DisableKeepAlives = false
	t.ForceAttemptHTTP2 = false
	var protos http.Protocols
	protos.SetHTTP1(true)
	t.Protocols = &protos
	// A base that has spoken HTTP/2 has "h2" in its TLS config's ALPN
	// list; a server would then choose it for this connection too.
	t.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
	if t.TLSClientConfig != nil {
		c := t.TLSClientConfig.Clone()
		c.NextProtos = slices.DeleteFunc(slices.Clone(c.NextProtos), func(p string) bool { return p != "http/1.1" })
		t.TLSClientConfig = c
	}
	return t
}

// takeAuthenticated returns, without waiting, an idle connection to key
// that an earlier handshake authenticated, or nil.
func (p *pinPool) takeAuthenticated(key string) *pinConn {
	p.mu.Lock()
	defer p.mu.Unlock()
	h := p.hosts[key]
	if h == nil {
		return nil
	}
	best := -1
	for i, c := range h.idle {
		if c.origin.ok() {
			best = i
			break
		}
		if best < 0 && c.proxy.ok() {
			best = i
		}
	}
	if best < 0 {
		return nil
	}
	c := h.idle[best]
	h.idle = append(h.idle[:best], h.idle[best+1:]...)
	p.tick++
	h.used = p.tick
	return c
}

// lease returns a pinned connection to key for a handshake: an idle one
// (an authenticated one first), a new one, or, when the host has perHost
// already, the first to come back; it waits under ctx.
func (p *pinPool) lease(ctx context.Context, key string) (*pinConn, error) {
	p.mu.Lock()
	for {
		h := p.hosts[key]
		if h == nil {
			h = p.addHost(key)
			if h == nil {
				// Every host has a lease out: a connection of no
				// host, closed after this request.
				gen := p.gen
				p.mu.Unlock()
				return &pinConn{t: p.newTransport(), gen: gen}, nil
			}
		}
		p.tick++
		h.used = p.tick
		if n := len(h.idle); n > 0 {
			best := n - 1
			for i, c := range h.idle {
				if c.origin.ok() {
					best = i
					break
				}
			}
			c := h.idle[best]
			h.idle = append(h.idle[:best], h.idle[best+1:]...)
			p.mu.Unlock()
			return c, nil
		}
		if h.total < p.perHost {
			h.total++
			c := &pinConn{host: h, gen: p.gen}
			p.mu.Unlock()
			c.t = p.newTransport()
			return c, nil
		}
		wait := h.released
		p.mu.Unlock()
		select {
		case <-wait:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		p.mu.Lock()
	}
}

// addHost adds key's set, dropping the least recently used host that has
// nothing leased when the pool is full; nil when every host has a lease
// out. p.mu is held.
func (p *pinPool) addHost(key string) *pinHost {
	if len(p.hosts) >= p.maxHosts {
		var victim *pinHost
		for _, h := range p.hosts {
			if h.total == len(h.idle) && (victim == nil || h.used < victim.used) {
				victim = h
			}
		}
		if victim == nil {
			return nil
		}
		for _, c := range victim.idle {
			c.t.CloseIdleConnections()
		}
		delete(p.hosts, victim.key)
		close(victim.released)
	}
	h := &pinHost{key: key, released: make(chan struct{})}
	p.hosts[key] = h
	return h
}

// release gives a leased connection back: kept for its host's next
// requests when keep is true and nothing has closed the pool's idle
// connections since it was leased, otherwise closed.
func (p *pinPool) release(c *pinConn, keep bool) {
	p.mu.Lock()
	h := c.host
	live := h != nil && p.hosts[h.key] == h && c.gen == p.gen
	if keep && live {
		h.idle = append(h.idle, c)
	} else {
		c.origin, c.proxy = connAuth{}, connAuth{}
		if live {
			h.total--
		}
	}
	if live {
		close(h.released)
		h.released = make(chan struct{})
	}
	p.mu.Unlock()
	if !keep || !live {
		c.t.CloseIdleConnections()
	}
}

// closeIdle closes every idle pinned connection and forgets every host;
// leased connections are closed when they come back.
func (p *pinPool) closeIdle() {
	p.mu.Lock()
	var idle []*pinConn
	for k, h := range p.hosts {
		idle = append(idle, h.idle...)
		h.idle = nil
		delete(p.hosts, k)
		close(h.released)
	}
	p.gen++
	p.mu.Unlock()
	for _, c := range idle {
		c.t.CloseIdleConnections()
	}
}
