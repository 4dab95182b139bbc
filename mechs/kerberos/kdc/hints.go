package kdc

import (
	"sync"
	"time"
)

// DefaultHintTTL is how long a Hints remembers what it learnt about a
// KDC after it last learnt it: ten minutes, the default of Windows'
// FarKdcTimeout (how long its Kerberos client keeps a KDC it failed to
// reach out of its cache; KB 837361).
const DefaultHintTTL = 10 * time.Minute

// maxHintEntries bounds what a Hints remembers; past it, expired entries
// are dropped, then everything (it is only a hint).
const maxHintEntries = 4096

// Hints is what Transports learn about a realm's KDCs from their
// exchanges, kept so that the next exchange (from the same Transport or
// from another that shares the Hints) does not pay for it again:
//
//   - which KDC of the realm answered last: it is asked first, so a dead
//     KDC listed first costs one stagger once, not on every exchange;
//   - which KDCs failed to answer while another did: they are asked after
//     the others;
//   - which KDCs answered over TCP after their UDP stayed silent (a
//     firewall dropping UDP) or answered KRB_ERR_RESPONSE_TOO_BIG: they are
//     asked over TCP first, so UDP's silence costs one stagger once;
//   - which KDCs close a TCP connection after each reply (MIT's krb5kdc
//     does): their connections are not pooled.
//
// Each fact is forgotten DefaultHintTTL (or the TTL given to NewHints)
// after it was last learnt, and a fact the next exchange contradicts is
// replaced at once; so a KDC that comes back is used again within the
// TTL at worst. A Hints holds no sockets and starts no goroutines; it is
// safe for concurrent use. kerberos.Package shares one among the
// Transports of all its credentials.
type Hints struct {
	ttl time.Duration

	mu       sync.Mutex
	lastGood map[string]hint // realm -> address that answered last
	addrs    map[string]addrHints
}

type hint struct {
	addr string
	at   time.Time
}

// addrHints are the facts about one KDC address; a zero time is "not
// known".
type addrHints struct {
	failed  time.Time // no answer on any transport while another KDC answered
	tcp     time.Time // answered over TCP when UDP did not serve
	noReuse time.Time // closed a TCP connection after its reply
}

// NewHints returns an empty Hints whose facts last ttl (DefaultHintTTL
// when ttl <= 0).
func NewHints(ttl time.Duration) *Hints {
	if ttl <= 0 {
		ttl = DefaultHintTTL
	}
	return &Hints{ttl: ttl, lastGood: make(map[string]hint), addrs: make(map[string]addrHints)}
}

// TTL returns how long a fact is remembered.
func (h *Hints) TTL() time.Duration { return h.ttl }

func (h *Hints) live(t, now time.Time) bool { return !t.IsZero() && now.Sub(t) < h.ttl }

// plan is what an exchange needs to know before it starts, read under one
// lock: the KDCs in the order to try them, and for each whether TCP goes
// first and whether its connections may be pooled.
type planEntry struct {
	addr    string
	tcp     bool // TCP first (UDP deferred)
	noReuse bool
}

// order returns addrs (the realm's KDCs in configured order) as an
// exchange tries them: the one that answered last first, then the others
// in configured order, those that recently failed last.
func (h *Hints) order(realm string, addrs []string, now time.Time) []planEntry {
	out := make([]planEntry, 0, len(addrs))
	h.mu.Lock()
	defer h.mu.Unlock()
	good := ""
	if g, ok := h.lastGood[realm]; ok && h.live(g.at, now) {
		good = g.addr
	}
	entry := func(a string) planEntry {
		ah := h.addrs[a]
		return planEntry{addr: a, tcp: h.live(ah.tcp, now), noReuse: h.live(ah.noReuse, now)}
	}
	for _, a := range addrs {
		if a == good {
			out = append(out, entry(a))
			break
		}
	}
	for pass := 0; pass < 2; pass++ {
		for _, a := range addrs {
			if a == good {
				continue
			}
			if failed := h.live(h.addrs[a].failed, now); failed == (pass == 1) {
				out = append(out, entry(a))
			}
		}
	}
	return out
}

// update changes the facts about addr under the lock.
func (h *Hints) update(addr string, now time.Time, f func(*addrHints)) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.addrs[addr]; !ok && len(h.addrs) >= maxHintEntries {
		h.pruneLocked(now)
	}
	ah := h.addrs[addr]
	f(&ah)
	if ah == (addrHints{}) {
		delete(h.addrs, addr)
		return
	}
	h.addrs[addr] = ah
}

func (h *Hints) pruneLocked(now time.Time) {
	for a, ah := range h.addrs {
		if !h.live(ah.failed, now) && !h.live(ah.tcp, now) && !h.live(ah.noReuse, now) {
			delete(h.addrs, a)
		}
	}
	if len(h.addrs) >= maxHintEntries {
		clear(h.addrs)
	}
	for r, g := range h.lastGood {
		if !h.live(g.at, now) {
			delete(h.lastGood, r)
		}
	}
	if len(h.lastGood) >= maxHintEntries {
		clear(h.lastGood)
	}
}

// answered records that addr answered an exchange for realm over tcp (or
// UDP), and that the other KDCs in silent did not.
func (h *Hints) answered(realm, addr string, tcp, udpFailed bool, silent []string, now time.Time) {
	h.mu.Lock()
	if _, ok := h.lastGood[realm]; !ok && len(h.lastGood) >= maxHintEntries {
		h.pruneLocked(now)
	}
	h.lastGood[realm] = hint{addr: addr, at: now}
	h.mu.Unlock()
	h.update(addr, now, func(ah *addrHints) {
		ah.failed = time.Time{}
		switch {
		case tcp && udpFailed:
			ah.tcp = now
		case !tcp:
			ah.tcp = time.Time{}
		}
	})
	for _, a := range silent {
		h.update(a, now, func(ah *addrHints) { ah.failed = now })
	}
}

// preferTCP records that addr is to be asked over TCP first (it answered
// KRB_ERR_RESPONSE_TOO_BIG over UDP).
func (h *Hints) preferTCP(addr string, now time.Time) {
	h.update(addr, now, func(ah *addrHints) { ah.tcp = now })
}

// closesConns records that addr closes a TCP connection after its reply.
func (h *Hints) closesConns(addr string, now time.Time) {
	h.update(addr, now, func(ah *addrHints) { ah.noReuse = now })
}

// reusable reports whether connections to addr may be pooled.
func (h *Hints) reusable(addr string, now time.Time) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return !h.live(h.addrs[addr].noReuse, now)
}
