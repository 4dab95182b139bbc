package ntlm

import (
	"sync"
	"time"

	secctx "github.com/asyncsspi/asyncsspi/context"
	"github.com/asyncsspi/asyncsspi/mechs"
	"github.com/asyncsspi/asyncsspi/status"
)

// Credential is an acquired NTLM credential. An outbound one holds the
// user's keys, derived once here (MS-NLMP 3.3.2: the NT hash and
// NTOWFv2 with its HMAC states) and shared read-only by every context made
// from it; an inbound one holds the user store and the replay cache its
// acceptors share. Its methods are safe for concurrent use.
type Credential struct {
	pkg       *Package
	use       secctx.CredentialUse
	principal string

	// Outbound; immutable after AcquireCredentials.
	user, domain string
	anonymous    bool
	hasKey       bool
	ntHash       [16]byte
	lmHash       [16]byte // only with WithNTLMv1 and a password
	hasLM        bool
	respKeyNT    [16]byte // NTOWFv2(user, domain)
	respKey      hmacKey  // HMAC-MD5 states of respKeyNT

	// Inbound.
	store    UserStore
	replay   *replayCache
	respKeys respKeyCache

	mu     sync.Mutex
	closed bool
}

var _ mechs.Credential = (*Credential)(nil)

// setUser splits "user@domain" and "DOMAIN\user" when no domain is given.
func (c *Credential) setUser(user, domain string) {
	if domain == "" {
		user, domain = secctx.SplitUser(user)
	}
	c.user, c.domain = user, domain
}

func (c *Credential) setHash(h [16]byte, password string) {
	c.ntHash = h
	c.hasKey = true
	x := newHasher()
	c.respKeyNT = ntowfv2(x, h[:], c.user, c.domain)
	x.setKey(&c.respKey, c.respKeyNT[:])
	if password != "" && c.pkg.allowV1 {
		c.lmHash = lmowfv1(password)
		c.hasLM = true
	}
}

// Package returns "NTLM".
func (c *Credential) Package() string { return PackageName }

// Use returns the use the credential was acquired for.
func (c *Credential) Use() secctx.CredentialUse { return c.use }

// Principal is "DOMAIN\user" for an outbound credential, else the
// principal it was acquired with.
func (c *Credential) Principal() string {
	if c.user != "" {
		if c.domain != "" {
			return c.domain + `\` + c.user
		}
		return c.user
	}
	return c.principal
}

// Expiry is secctx.NeverExpires(): NTLM credentials do not expire, and
// Windows reports their expiry as never (secctx.Never).
func (c *Credential) Expiry() time.Time { return secctx.NeverExpires() }

// Close releases the credential. Contexts made from it keep working.
func (c *Credential) Close() error {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	return nil
}

// usable checks that the credential is open and was acquired for use.
func (c *Credential) usable(use secctx.CredentialUse, what string) error {
	if c.use&use == 0 {
		return status.Errorf(status.SEC_E_WRONG_CREDENTIAL_HANDLE, PackageName, "credential is not "+what)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return status.Errorf(status.SEC_E_INVALID_HANDLE, PackageName, "credential closed")
	}
	return nil
}

// NewInitiator starts a client context.
func (c *Credential) NewInitiator(p mechs.InitiatorParams) (mechs.SecurityContext, error) {
	if err := c.usable(secctx.SECPKG_CRED_OUTBOUND, "outbound"); err != nil {
		return nil, err
	}
	return &Context{cred: c, client: true, target: p.Target, iscReq: p.Req}, nil
}

// NewAcceptor starts a server context.
func (c *Credential) NewAcceptor(p mechs.AcceptorParams) (mechs.SecurityContext, error) {
	if err := c.usable(secctx.SECPKG_CRED_INBOUND, "inbound"); err != nil {
		return nil, err
	}
	return &Context{cred: c, ascReq: p.Req}, nil
}

// replayCache remembers, for a while, the server challenges an acceptor
// issued and the NTLMv2 proofs it accepted, so that a server challenge is
// never issued twice and an AUTHENTICATE message is never accepted twice.
//
// Entries live in two generations of maps: a lookup checks both, an
// insert goes into the current one, and every ttl (twice the clock-skew
// window: a proof older than that fails the timestamp check anyway) the
// current generation becomes the previous one and the oldest is dropped,
// so every entry is remembered for at least ttl at O(1) cost. A generation
// holding maxGeneration entries is rotated early, which bounds memory at
// the price of a shorter memory under a flood of handshakes. Safe for
// concurrent use.
type replayCache struct {
	mu      sync.Mutex
	ttl     time.Duration
	rotated time.Time
	cur     replayGeneration
	prev    replayGeneration
}

type replayGeneration struct {
	challenges map[[8]byte]struct{}
	proofs     map[[16]byte]struct{}
}

// maxGeneration bounds one generation (about 40 MB for both maps full).
const maxGeneration = 1 << 19

func newGeneration() replayGeneration {
	return replayGeneration{challenges: make(map[[8]byte]struct{}), proofs: make(map[[16]byte]struct{})}
}

func newReplayCache(ttl time.Duration) *replayCache {
	return &replayCache{ttl: ttl, cur: newGeneration(), prev: newGeneration()}
}

// rotate moves to a new generation when the current one is old or full;
// mu is held.
func (r *replayCache) rotate(now time.Time) {
	if r.rotated.IsZero() {
		r.rotated = now
	}
	if now.Sub(r.rotated) < r.ttl && len(r.cur.challenges) < maxGeneration && len(r.cur.proofs) < maxGeneration {
		return
	}
	r.prev, r.cur, r.rotated = r.cur, newGeneration(), now
}

// addChallenge records a new server challenge; false if it was issued
// before.
func (r *replayCache) addChallenge(c [8]byte, now time.Time) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.rotate(now)
	return addOnce(r.cur.challenges, r.prev.challenges, c)
}

// addProof records an accepted NTProofStr; false if it was seen before.
func (r *replayCache) addProof(p []byte, now time.Time) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.rotate(now)
	return addOnce(r.cur.proofs, r.prev.proofs, [16]byte(p))
}

// addOnce adds k to cur unless cur or prev has it; false if one has.
func addOnce[K comparable](cur, prev map[K]struct{}, k K) bool {
	if _, seen := cur[k]; seen {
		return false
	}
	if _, seen := prev[k]; seen {
		return false
	}
	cur[k] = struct{}{}
	return true
}

// respKeyCache keeps an acceptor's NTOWFv2 keys (with their HMAC states)
// per user, domain as the client spelled it, and NT hash, so that a user's
// second logon skips NTOWFv2. Keyed by the hash too, a password change in
// the store is never masked. Bounded: when full it starts over. Safe for
// concurrent use.
type respKeyCache struct {
	mu   sync.Mutex
	keys map[respKeyID]*hmacKey
}

type respKeyID struct {
	user, domain string
	ntHash       [16]byte
}

const maxRespKeys = 4096

// get returns the NTOWFv2 key of (user, domain) under ntHash, computing it
// with x on a miss.
func (r *respKeyCache) get(x *hasher, u *User, user, domain string) *hmacKey {
	id := respKeyID{user: user, domain: domain, ntHash: u.NTHash}
	r.mu.Lock()
	k, ok := r.keys[id]
	r.mu.Unlock()
	if ok {
		return k
	}
	k = new(hmacKey)
	rk := ntowfv2(x, u.NTHash[:], user, domain)
	x.setKey(k, rk[:])
	clear(rk[:])
	r.mu.Lock()
	if r.keys == nil || len(r.keys) >= maxRespKeys {
		r.keys = make(map[respKeyID]*hmacKey)
	}
	r.keys[id] = k
	r.mu.Unlock()
	return k
}
