package kdc

import (
	"context"
	"net"
	"time"

	"github.com/jcmturner/gokrb5/v8/config"
)

// Defaults of a Transport.
const (
	// DefaultTimeout bounds one whole Exchange: every KDC, every retry.
	// MIT krb5 1.20 has no such setting (request_timeout came in 1.22);
	// its schedule gives up after 3U+T+14 s for U UDP and T TCP
	// addresses, which this bound exceeds for a realm of up to four
	// KDCs.
	DefaultTimeout = 30 * time.Second
	// DefaultStagger is how long an Exchange waits for an answer after
	// each send before it sends on the next connection (MIT's sendto_kdc
	// waits one second per connection).
	DefaultStagger = time.Second
	// DefaultUDPPreferenceLimit is MIT's udp_preference_limit default: a
	// request larger than this goes over TCP first (and over UDP only if
	// TCP fails).
	DefaultUDPPreferenceLimit = 1465
	// maxUDPPreferenceLimit is MIT's HARD_UDP_LIMIT: larger settings are
	// read as this.
	maxUDPPreferenceLimit = 32700
	// DefaultMaxConnsPerKDC bounds the TCP connections open to one KDC.
	// An MIT KDC closes connections beyond its own limit, so a burst of
	// requests must queue here rather than open one connection each.
	DefaultMaxConnsPerKDC = 8
	// DefaultMaxReplySize bounds a reply read over TCP. RFC 4120 section
	// 7.2.2 lets the length reach 2^31-1; MIT's sendto_kdc refuses more
	// than 1 MiB, and so does this.
	DefaultMaxReplySize = 1 << 20
	// maxUDPReply is the largest datagram read.
	maxUDPReply = 65535
	// idleTimeout is how long a pooled TCP connection may sit unused.
	idleTimeout = 30 * time.Second
)

// TransportOption configures a Transport. Options apply in order; a later
// one overrides what an earlier one set.
type TransportOption func(*Transport)

// WithConfig takes KDC addresses (the [realms] kdc entries) and
// udp_preference_limit from a krb5.conf. Addresses given with WithKDCs for a
// realm take precedence over the configuration's. WithProfile also honours
// the relations gokrb5's Config does not carry.
func WithConfig(c *config.Config) TransportOption {
	return func(t *Transport) {
		t.cfg = c
		if c != nil && c.LibDefaults.UDPPreferenceLimit > 0 {
			t.udpLimit = min(c.LibDefaults.UDPPreferenceLimit, maxUDPPreferenceLimit)
		}
	}
}

// WithProfile takes the KDC addresses of p.Config, and udp_preference_limit
// and request_timeout as MIT reads them (see Profile).
func WithProfile(p *Profile) TransportOption {
	return func(t *Transport) {
		if p == nil {
			return
		}
		t.cfg = p.Config
		t.udpLimit = p.UDPPreferenceLimit
		if p.RequestTimeout > 0 {
			t.timeout = p.RequestTimeout
		}
	}
}

// WithKDCs sets the KDC addresses ("host:port", port 88 when omitted) of a
// realm, in the order they are tried.
func WithKDCs(realm string, addrs ...string) TransportOption {
	return func(t *Transport) {
		list := make([]string, 0, len(addrs))
		for _, a := range addrs {
			list = append(list, withDefaultPort(a))
		}
		t.kdcs[realm] = list
	}
}

// WithTimeout bounds each whole Exchange (all KDCs, all retries), as
// krb5.conf's request_timeout does for MIT 1.22. A non-positive d keeps
// the default.
func WithTimeout(d time.Duration) TransportOption {
	return func(t *Transport) {
		if d > 0 {
			t.timeout = d
		}
	}
}

// WithStagger sets how long an Exchange waits for an answer after each
// send before it sends on the next connection (MIT: one second). The
// pauses at the end of each pass over the connections are 2, 4 and 8
// staggers, and a TCP connection, once it carries the request, is given 10
// staggers, as MIT gives 2, 4, 8 and 10 seconds. A non-positive d keeps the
// default.
func WithStagger(d time.Duration) TransportOption {
	return func(t *Transport) {
		if d > 0 {
			t.stagger = d
		}
	}
}

// WithUDPPreferenceLimit sets the largest request sent over UDP first, as
// krb5.conf's udp_preference_limit does: a larger request goes over TCP
// first and over UDP only if TCP fails; 0 or 1 mean TCP first for every
// request; a limit above 32700 is read as 32700. n < 0 keeps the default.
func WithUDPPreferenceLimit(n int) TransportOption {
	return func(t *Transport) {
		if n >= 0 {
			t.udpLimit = min(n, maxUDPPreferenceLimit)
		}
	}
}

// WithMaxConnsPerKDC bounds the TCP connections open at once to one KDC
// address; callers beyond it wait for a connection (honouring their
// context). n <= 0 keeps the default.
func WithMaxConnsPerKDC(n int) TransportOption {
	return func(t *Transport) {
		if n > 0 {
			t.maxConns = n
		}
	}
}

// WithMaxReplySize bounds a reply read over TCP: a record whose length
// prefix claims more fails at once (n <= 0 keeps DefaultMaxReplySize).
func WithMaxReplySize(n int) TransportOption {
	return func(t *Transport) {
		if n > 0 {
			t.maxReply = n
		}
	}
}

// WithHints shares what the Transport learns about KDCs (see Hints) with
// every other Transport given the same h. By default each Transport has
// its own.
func WithHints(h *Hints) TransportOption {
	return func(t *Transport) {
		if h != nil {
			t.hints = h
		}
	}
}

// WithDialer replaces how connections to a KDC are opened (network is
// "udp" or "tcp"). The default is a net.Dialer. A dialed "udp" connection
// must keep datagram boundaries: one Write is one request, one Read one
// reply.
func WithDialer(dial func(ctx context.Context, network, addr string) (net.Conn, error)) TransportOption {
	return func(t *Transport) { t.dial = dial }
}

// WithObserver registers f to be called after every Exchange with the
// realm, the request, and the reply or error (diagnostics, request counting
// in tests). f runs on the caller's goroutine and must not block.
func WithObserver(f func(realm string, req, reply []byte, err error)) TransportOption {
	return func(t *Transport) { t.observe = f }
}

func withDefaultPort(a string) string {
	if _, _, err := net.SplitHostPort(a); err == nil {
		return a
	}
	return net.JoinHostPort(a, "88")
}
