package kerberos

import "sync"

// This file is the acceptor credential's cache of opened tickets (RFC
// 4120 section 5.3), which spares a returning client's AP-REQs the ticket
// decryption and the session key's derivations.

// ticketCache remembers recently verified tickets (their decrypted part
// and session key with its derived key schedules), keyed by the ticket's
// whole DER encoding, so that a client presenting the same ticket on many
// connections costs one ticket decryption and one key derivation, not one
// per AP-REQ. The authenticator is still decrypted and checked on every
// AP-REQ. Only the very bytes that verified can hit. Bounded: a full shard
// is emptied.
type ticketCache struct {
	shards [16]ticketShard
}

type ticketShard struct {
	mu sync.Mutex
	m  map[string]*openTicket
}

type openTicket struct {
	etp  *encTicketPart
	sess *key
	name string // "svc/host@REALM"
}

const ticketCachePerShard = 256

func newTicketCache() *ticketCache {
	c := &ticketCache{}
	for i := range c.shards {
		c.shards[i].m = make(map[string]*openTicket)
	}
	return c
}

func (c *ticketCache) shard(raw []byte) *ticketShard {
	return &c.shards[int(raw[len(raw)-1])%len(c.shards)]
}

func (c *ticketCache) get(raw []byte) (*openTicket, bool) {
	if len(raw) == 0 {
		return nil, false
	}
	sh := c.shard(raw)
	sh.mu.Lock()
	ot, ok := sh.m[string(raw)] // no allocation for the lookup
	sh.mu.Unlock()
	return ot, ok
}

func (c *ticketCache) put(raw []byte, ot *openTicket) {
	if len(raw) == 0 {
		return
	}
	sh := c.shard(raw)
	sh.mu.Lock()
	if len(sh.m) >= ticketCachePerShard {
		clear(sh.m)
	}
	sh.m[string(raw)] = ot
	sh.mu.Unlock()
}
