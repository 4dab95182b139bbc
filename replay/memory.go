package replay

import (
	"context"
	"hash/maphash"
	"math/bits"
	"sync"
	"time"
)

// Memory is a Cache kept in this process's memory, bounded by a number
// of entries. It never refuses a fresh authenticator for want of room:
// when the bound is reached it forgets the oldest entries (by
// authenticator time) and from then on refuses, with ErrTooOld, only
// authenticators not newer than what it forgot. A replay is never
// accepted; under load the window of accepted authenticators narrows from
// the clock skew to what the bound holds (the default bound holds 30
// seconds of 35,000 authentications a second).
//
// Each entry costs a 64-bit hash in an open-addressed table and another in
// a per-second queue, some 24 to 40 octets; memory grows with the entries
// up to the bound and then stays flat. Insert does a bounded amount of
// work: a lookup, at most two expired entries and one live entry
// forgotten, never a sweep (until the bound is first reached a shard's
// table doubles now and then; an authenticator from a client whose clock
// is behind moves the per-second queue along by at most one element per
// second it spans). No goroutine is involved.
//
// Entries are spread over shards by a hash keyed with a random seed, each
// shard with its own lock, share of the bound and forgetting; the seed
// keeps a client who can choose its authenticators from aiming them all
// at one shard.
type Memory struct {
	seed      maphash.Seed
	shardBits int
	shards    []memShard
}

// DefaultLimit is Memory's default bound: 1,048,576 entries.
const DefaultLimit = 1 << 20

// MemoryOption configures a Memory.
type MemoryOption func(*memoryConfig)

type memoryConfig struct {
	limit, shards int
}

// WithLimit bounds the cache to about n entries (default DefaultLimit;
// at least one per shard).
func WithLimit(n int) MemoryOption { return func(c *memoryConfig) { c.limit = n } }

// WithShards sets the number of shards, rounded up to a power of two
// (default 64).
func WithShards(n int) MemoryOption { return func(c *memoryConfig) { c.shards = n } }

// NewMemory returns an empty Memory.
func NewMemory(opts ...MemoryOption) *Memory {
	cfg := memoryConfig{limit: DefaultLimit, shards: 64}
	for _, o := range opts {
		o(&cfg)
	}
	sb := 0
	if cfg.shards > 1 {
		sb = bits.Len(uint(cfg.shards - 1))
	}
	m := &Memory{seed: maphash.MakeSeed(), shardBits: sb, shards: make([]memShard, 1<<sb)}
	per := max(cfg.limit>>sb, 1)
	// Every shard starts with a small table, a chunk and room for a few
	// seconds, made here in one allocation each rather than by the first
	// inserts.
	n := len(m.shards)
	tables := make([]uint64, n*initialTable)
	chunks := make([]chunk, n)
	secs := make([]second, n*initialSeconds)
	for i := range m.shards {
		sh := &m.shards[i]
		sh.limit = per
		sh.table = tables[i*initialTable : (i+1)*initialTable : (i+1)*initialTable]
		sh.secs = secs[i*initialSeconds : i*initialSeconds : (i+1)*initialSeconds]
		sh.free, sh.nfree = &chunks[i], 1
	}
	return m
}

const (
	initialTable   = 64
	initialSeconds = 4
)

// Insert implements Cache. It does no I/O and ignores ctx.
func (m *Memory) Insert(_ context.Context, e Entry, now time.Time) error {
	h := maphash.Comparable(m.seed, e.Key)
	if h == 0 {
		h = 1 // 0 marks an empty slot
	}
	sh := &m.shards[h>>(64-m.shardBits)&(uint64(len(m.shards))-1)]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	return sh.insert(h, e.Time.UnixMicro(), e.Expiry.UnixMicro(), now.UnixMicro())
}

// Len returns the number of entries held.
func (m *Memory) Len() int {
	n := 0
	for i := range m.shards {
		sh := &m.shards[i]
		sh.mu.Lock()
		n += sh.n
		sh.mu.Unlock()
	}
	return n
}

// memShard is one shard. Everything in it is guarded by mu.
type memShard struct {
	mu    sync.Mutex
	limit int   // most entries
	n     int   // entries in table
	floor int64 // authenticators at or before this time (µs) are refused
	// table is an open-addressed set of entry hashes (linear probing,
	// deletion by backward shift, 0 for empty), at most half full; it
	// doubles until it holds limit entries, then never grows again.
	table []uint64
	// secs queues the entries by authenticator time, one second per
	// element, in ascending order from secs[head]: the oldest are
	// forgotten first.
	secs  []second
	head  int
	free  *chunk // recycled chunks, at most maxFree
	nfree int
	_     [64]byte // keep shards' locks on separate cache lines
}

// second holds the entries whose authenticator time falls in one second.
type second struct {
	sec         int64 // Unix seconds
	expiry      int64 // latest expiry of its entries, µs
	first, last *chunk
}

// chunk is a piece of a second's FIFO of entry hashes.
type chunk struct {
	keys   [chunkLen]uint64
	lo, hi int
	next   *chunk
}

const (
	chunkLen = 30
	maxFree  = 64
	// expiredPerInsert is how many expired entries an Insert forgets at
	// most: more than the one it adds, so that expired entries drain.
	expiredPerInsert = 2
)

func (s *memShard) insert(h uint64, t, exp, now int64) error {
	if s.contains(h) {
		return ErrReplay
	}
	if t <= s.floor {
		return ErrTooOld
	}
	for i := 0; i < expiredPerInsert && s.head < len(s.secs) && s.secs[s.head].expiry <= now; i++ {
		s.forgetOldest(now)
	}
	if s.n >= s.limit {
		s.forgetOldest(now)
	}
	s.add(h)
	s.enqueue(h, t, exp)
	return nil
}

// forgetOldest drops the oldest entry. Unless its second has expired
// (an authenticator of that time would fail the clock-skew check anyway),
// the floor rises to the end of that second.
func (s *memShard) forgetOldest(now int64) {
	sc := &s.secs[s.head]
	c := sc.first
	h := c.keys[c.lo]
	c.lo++
	if sc.expiry > now {
		s.floor = max(s.floor, (sc.sec+1)*1e6-1)
	}
	if c.lo == c.hi {
		sc.first = c.next
		s.recycle(c)
		if sc.first == nil {
			*sc = second{}
			s.head++
			s.compact()
		}
	}
	s.remove(h)
}

// enqueue puts h in the FIFO of the second of t.
func (s *memShard) enqueue(h uint64, t, exp int64) {
	sec := t / 1e6
	if t < 0 && t%1e6 != 0 {
		sec-- // floor division for times before 1970
	}
	var idx int
	switch n := len(s.secs) - s.head; {
	case n > 0 && s.secs[len(s.secs)-1].sec == sec:
		idx = len(s.secs) - 1
	case n == 0 || s.secs[len(s.secs)-1].sec < sec:
		s.secs = append(s.secs, second{sec: sec})
		idx = len(s.secs) - 1
	default:
		// An authenticator older than the newest second (a client whose
		// clock is behind): its place in order. The queue has one element
		// per second that holds entries, so the move is short.
		lo, hi := s.head, len(s.secs)
		for lo < hi {
			if mid := int(uint(lo+hi) >> 1); s.secs[mid].sec < sec {
				lo = mid + 1
			} else {
				hi = mid
			}
		}
		if s.secs[lo].sec != sec {
			s.secs = append(s.secs, second{})
			copy(s.secs[lo+1:], s.secs[lo:])
			s.secs[lo] = second{sec: sec}
		}
		idx = lo
	}
	sc := &s.secs[idx]
	sc.expiry = max(sc.expiry, exp)
	if sc.last == nil || sc.last.hi == chunkLen {
		c := s.newChunk()
		if sc.last == nil {
			sc.first = c
		} else {
			sc.last.next = c
		}
		sc.last = c
	}
	sc.last.keys[sc.last.hi] = h
	sc.last.hi++
}

// compact moves the live seconds to the front of secs once half of it is
// spent, so that the queue does not creep through memory.
func (s *memShard) compact() {
	if s.head == len(s.secs) {
		s.secs, s.head = s.secs[:0], 0
		return
	}
	if s.head > 16 && s.head*2 > len(s.secs) {
		n := copy(s.secs, s.secs[s.head:])
		clear(s.secs[n:])
		s.secs, s.head = s.secs[:n], 0
	}
}

func (s *memShard) newChunk() *chunk {
	if c := s.free; c != nil {
		s.free, s.nfree = c.next, s.nfree-1
		*c = chunk{}
		return c
	}
	return new(chunk)
}

func (s *memShard) recycle(c *chunk) {
	if s.nfree < maxFree {
		c.next, s.free = s.free, c
		s.nfree++
	}
}

// contains reports whether h is in the table.
func (s *memShard) contains(h uint64) bool {
	if len(s.table) == 0 {
		return false
	}
	mask := uint64(len(s.table) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		switch s.table[i] {
		case h:
			return true
		case 0:
			return false
		}
	}
}

// add puts h, known absent, in the table, doubling it first when it
// would be more than half full and may still grow.
func (s *memShard) add(h uint64) {
	if 2*(s.n+1) > len(s.table) && len(s.table) < s.maxTable() {
		s.grow()
	}
	mask := uint64(len(s.table) - 1)
	i := h & mask
	for s.table[i] != 0 {
		i = (i + 1) & mask
	}
	s.table[i] = h
	s.n++
}

// maxTable is the table size that holds limit entries at most half full.
func (s *memShard) maxTable() int {
	return 1 << bits.Len(uint(2*s.limit-1))
}

func (s *memShard) grow() {
	old := s.table
	s.table = make([]uint64, max(2*len(old), initialTable))
	mask := uint64(len(s.table) - 1)
	for _, h := range old {
		if h == 0 {
			continue
		}
		i := h & mask
		for s.table[i] != 0 {
			i = (i + 1) & mask
		}
		s.table[i] = h
	}
}

// remove deletes h from the table, shifting back the entries after it in
// its probe run so that no tombstone is needed.
func (s *memShard) remove(h uint64) {
	mask := uint64(len(s.table) - 1)
	i := h & mask
	for s.table[i] != h {
		if s.table[i] == 0 {
			return
		}
		i = (i + 1) & mask
	}
	for j := (i + 1) & mask; s.table[j] != 0; j = (j + 1) & mask {
		// The entry at j may move to the hole at i unless its home slot
		// lies cyclically in (i, j].
		if home := s.table[j] & mask; (j-home)&mask >= (j-i)&mask {
			s.table[i], i = s.table[j], j
		}
	}
	s.table[i] = 0
	s.n--
}
