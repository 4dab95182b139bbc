package kerberos

import (
	"encoding/binary"
	"hash/maphash"
	"sync"
	"time"
)

// replayCache remembers the authenticators an acceptor credential has
// accepted until they would fail the clock-skew check anyway (RFC 4120
// section 3.2.3), so that a replayed AP-REQ is refused.
//
// It belongs to one acceptor credential (no process-global state), is
// sharded by a hash of the entry to keep lock contention low, and is
// bounded: each shard holds at most perShard entries. Expired entries are
// dropped lazily, by the insert that finds the shard due for a sweep; no
// goroutine is involved. When a shard is full of live entries, inserts
// fail (the acceptor refuses the AP-REQ) rather than forget a live entry,
// which would open a replay window.
type replayCache struct {
	seed     maphash.Seed
	perShard int
	shards   []replayShard
}

type replayShard struct {
	mu        sync.Mutex
	entries   map[replayKey]int64 // expiry, Unix nanoseconds
	nextSweep int64
	_         [40]byte // keep shards on separate cache lines
}

// replayKey identifies one authenticator: its integrity tag and its
// ctime/cusec. The tag is an HMAC over a random confounder and the
// authenticator, so two distinct authenticators do not share it.
type replayKey struct {
	tag  [16]byte
	time int64
}

func newReplayCache(shards, perShard int) *replayCache {
	if shards <= 0 {
		shards = 64
	}
	if perShard <= 0 {
		perShard = 16384
	}
	c := &replayCache{seed: maphash.MakeSeed(), perShard: perShard, shards: make([]replayShard, shards)}
	for i := range c.shards {
		c.shards[i].entries = make(map[replayKey]int64)
	}
	return c
}

// insertResult says what check-and-insert found.
type insertResult int

const (
	inserted insertResult = iota
	replayed
	cacheFull
)

// checkAndInsert records k until expiry, reporting a replay if k is
// already present and unexpired.
func (c *replayCache) checkAndInsert(k replayKey, now, expiry time.Time) insertResult {
	var b [24]byte
	copy(b[:16], k.tag[:])
	binary.LittleEndian.PutUint64(b[16:], uint64(k.time))
	sh := &c.shards[maphash.Bytes(c.seed, b[:])%uint64(len(c.shards))]
	n := now.UnixNano()
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if exp, ok := sh.entries[k]; ok && exp > n {
		return replayed
	}
	if len(sh.entries) >= c.perShard || n >= sh.nextSweep && len(sh.entries) > 0 {
		sh.sweep(n)
	}
	if len(sh.entries) >= c.perShard {
		return cacheFull
	}
	sh.entries[k] = expiry.UnixNano()
	return inserted
}

// sweep drops expired entries and schedules the next sweep at the
// earliest remaining expiry.
func (sh *replayShard) sweep(now int64) {
	next := int64(1<<63 - 1)
	for k, exp := range sh.entries {
		if exp <= now {
			delete(sh.entries, k)
		} else if exp < next {
			next = exp
		}
	}
	// Sweep at most once a second per shard: an entry may outlive its
	// expiry by that much, which is harmless (it would fail the skew
	// check anyway) and keeps sweeping from becoming per-insert work.
	if min := now + int64(time.Second); next < min {
		next = min
	}
	sh.nextSweep = next
}

// len reports the number of entries (tests).
func (c *replayCache) len() int {
	n := 0
	for i := range c.shards {
		c.shards[i].mu.Lock()
		n += len(c.shards[i].entries)
		c.shards[i].mu.Unlock()
	}
	return n
}
