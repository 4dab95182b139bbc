package kdc

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/asyncsspi/asyncsspi/mechs"
	"github.com/asyncsspi/asyncsspi/status"
	"github.com/jcmturner/gokrb5/v8/config"
)

// Transport sends KDC requests and returns the replies (RFC 4120 section
// 7.2), on the schedule of MIT krb5 1.20's sendto_kdc (see Exchange): UDP
// first unless the request exceeds the UDP preference limit, TCP with
// 4-byte length framing, staggered failover across a realm's KDCs, a
// timeout and the caller's context on every exchange, and reuse of TCP
// connections under a per-KDC connection limit. What it learns about the
// KDCs (which answered, over which transport) it keeps in its Hints.
//
// A Transport is a mechs.IOPerformer: Perform carries out the IORequests
// that Client operations return.
//
// Goroutines: each Exchange starts one goroutine per connection it opens
// and waits for all of them before it returns; when its context is
// cancelled it closes every socket it opened and returns. Nothing else
// runs in the background. Close cancels every Exchange in flight, waits
// for them and closes pooled connections. A Transport is safe for
// concurrent use.
type Transport struct {
	cfg      *config.Config
	kdcs     map[string][]string
	timeout  time.Duration
	stagger  time.Duration
	udpLimit int
	maxConns int
	maxReply int
	hints    *Hints
	dial     func(ctx context.Context, network, addr string) (net.Conn, error)
	observe  func(realm string, req, reply []byte, err error)
	udpBufs  sync.Pool // *[maxUDPReply]byte read buffers

	// closeCtx is cancelled by Close; every Exchange derives from it.
	closeCtx context.Context
	cancel   context.CancelFunc

	// mu guards closed, idle and slots. inflight counts Exchanges; its Add
	// happens under mu while !closed, so Close's Wait (after it sets closed
	// under mu) sees every Add.
	mu       sync.Mutex
	closed   bool
	idle     map[string][]idleConn
	slots    map[string]chan struct{}
	inflight sync.WaitGroup

	// tapMu guards taps: the rounds of Client operations whose requests
	// this Transport performs, by IORequest.Key (see Perform).
	tapMu   sync.Mutex
	taps    map[string]exchangeTap
	tapAdds int
	// ids numbers the Clients that use the Transport, so that their
	// request keys never collide.
	idMu sync.Mutex
	ids  uint64
}

// exchangeTap is told when a Perform of its request starts and ends, so
// that an operation shared by many legs knows whether its request is in
// flight and can keep its reply for the legs that did not wait on it.
type exchangeTap interface {
	// kept returns the reply an earlier exchange of the request brought
	// back, if any.
	kept() ([]byte, bool)
	begin()
	end(reply []byte, err error, cancelled bool)
	// retire marks the tap's operation as past the request; it reports
	// whether the tap is worth keeping (it holds a reply).
	retire(now time.Time) bool
	// expired reports whether a retired tap may be forgotten.
	expired(now time.Time) bool
}

// NewTransport returns a Transport. It does no I/O.
func NewTransport(opts ...TransportOption) *Transport {
	t := &Transport{
		kdcs:     make(map[string][]string),
		timeout:  DefaultTimeout,
		stagger:  DefaultStagger,
		udpLimit: DefaultUDPPreferenceLimit,
		maxConns: DefaultMaxConnsPerKDC,
		maxReply: DefaultMaxReplySize,
		idle:     make(map[string][]idleConn),
		slots:    make(map[string]chan struct{}),
		taps:     make(map[string]exchangeTap),
	}
	for _, o := range opts {
		o(t)
	}
	if t.hints == nil {
		t.hints = NewHints(0)
	}
	if t.dial == nil {
		var d net.Dialer
		t.dial = d.DialContext
	}
	t.closeCtx, t.cancel = context.WithCancel(context.Background())
	return t
}

// Hints returns what the Transport has learnt about KDCs (shared with
// other Transports when given with WithHints).
func (t *Transport) Hints() *Hints { return t.hints }

// Close cancels every Exchange in flight, waits for them to return and
// closes pooled TCP connections. Later Exchanges fail with ErrClosed.
func (t *Transport) Close() error {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return nil
	}
	t.closed = true
	t.mu.Unlock()
	t.cancel()
	t.inflight.Wait()
	t.mu.Lock()
	idle := t.idle
	t.idle = make(map[string][]idleConn)
	t.mu.Unlock()
	for _, list := range idle {
		for _, ic := range list {
			ic.conn.Close()
		}
	}
	return nil
}

// KDCs returns the addresses an Exchange for realm tries, in configured
// order.
func (t *Transport) KDCs(realm string) []string {
	if l, ok := t.kdcs[realm]; ok {
		return append([]string(nil), l...)
	}
	if t.cfg == nil {
		return nil
	}
	for _, r := range t.cfg.Realms {
		if r.Realm == realm {
			out := make([]string, 0, len(r.KDC))
			for _, k := range r.KDC {
				out = append(out, withDefaultPort(k))
			}
			return out
		}
	}
	return nil
}

// Perform implements mechs.IOPerformer: it sends req.Message (a DER
// AS-REQ or TGS-REQ) to the KDCs of req.Realm with Exchange and returns the
// reply. When ctx is cancelled (the engine does so once no leg waits on the
// reply) the exchange ends at once: every socket it opened is closed
// before Perform returns, and nothing more is sent. A request of a Client
// operation whose reply has already arrived is answered with that reply,
// without an exchange.
func (t *Transport) Perform(ctx context.Context, req *mechs.IORequest) ([]byte, error) {
	if req == nil || req.Kind != mechs.IOKDC {
		return nil, status.Errorf(status.SEC_E_INTERNAL_ERROR, mech, "kdc: a Transport performs only KDC exchanges")
	}
	tap := t.tap(req.Key)
	if tap != nil {
		// A leg may be handed a request just as its exchange ends, and
		// ask for it once the engine has forgotten that exchange: the
		// reply is the one already received (as a KDC's lookaside cache
		// would answer the repeated request).
		if b, ok := tap.kept(); ok {
			return b, nil
		}
		tap.begin()
	}
	reply, err := t.Exchange(ctx, req.Realm, req.Message)
	if tap != nil {
		tap.end(reply, err, ctx.Err() != nil)
	}
	return reply, err
}

// performUntil is Perform, also ended when stop is closed (a Client's
// Close, for its synchronous callers): without a goroutine to join the
// two.
func (t *Transport) performUntil(ctx context.Context, req *mechs.IORequest, stop <-chan struct{}) ([]byte, error) {
	tap := t.tap(req.Key)
	if tap != nil {
		if b, ok := tap.kept(); ok {
			return b, nil
		}
		tap.begin()
	}
	reply, err := t.exchange(ctx, req.Realm, req.Message, stop)
	if t.observe != nil {
		t.observe(req.Realm, req.Message, reply, err)
	}
	if tap != nil {
		tap.end(reply, err, ctx.Err() != nil || isClosed(stop))
	}
	return reply, err
}

func isClosed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// newClientID returns a number no other Client of this Transport has.
func (t *Transport) newClientID() uint64 {
	t.idMu.Lock()
	defer t.idMu.Unlock()
	t.ids++
	return t.ids
}

func (t *Transport) tap(key string) exchangeTap {
	if key == "" {
		return nil
	}
	t.tapMu.Lock()
	defer t.tapMu.Unlock()
	return t.taps[key]
}

func (t *Transport) addTap(key string, x exchangeTap) {
	t.tapMu.Lock()
	defer t.tapMu.Unlock()
	t.taps[key] = x
	if t.tapAdds++; t.tapAdds%64 == 0 {
		now := time.Now()
		for k, x := range t.taps {
			if x.expired(now) {
				delete(t.taps, k)
			}
		}
	}
}

// retireTap forgets the tap of key, or, when its request brought back a
// reply, keeps it for RequestFreshness: a leg handed the request just
// before the operation moved on may still ask for it, and gets that reply
// instead of another exchange.
func (t *Transport) retireTap(key string) {
	t.tapMu.Lock()
	defer t.tapMu.Unlock()
	if x, ok := t.taps[key]; ok && !x.retire(time.Now()) {
		delete(t.taps, key)
	}
}

// removeTaps forgets every tap whose key starts with prefix (a closed
// Client's).
func (t *Transport) removeTaps(prefix string) {
	t.tapMu.Lock()
	defer t.tapMu.Unlock()
	for k := range t.taps {
		if strings.HasPrefix(k, prefix) {
			delete(t.taps, k)
		}
	}
}

// roundOf returns the operation round that registered key, if any.
func (t *Transport) roundOf(key string) *round {
	r, _ := t.tap(key).(*round)
	return r
}

// Exchange sends req (a DER-encoded AS-REQ or TGS-REQ) to the KDCs of realm
// and returns the first complete reply: an AS-REP, a TGS-REP or a KRB-ERROR
// (the caller interprets it; only KRB_ERR_RESPONSE_TOO_BIG, answered by
// asking the same KDC over TCP at once, and KDC_ERR_SVC_UNAVAILABLE,
// answered by moving on to the next connection, are consumed here).
//
// Schedule (MIT krb5 1.20's k5_sendto, one stagger standing for its
// second): the connections are the realm's KDCs over their first
// transport (UDP, or TCP for a request larger than the UDP preference
// limit or a KDC known to need TCP), then over the other. The first pass
// opens them in that order, sending the request on each and waiting one
// stagger for an answer before opening the next; a connection that fails
// outright (refused, unreachable) hands over at once, and a TCP connection
// that carries the request is given ten staggers. The pass ends with a
// wait of two staggers; two more passes resend on each UDP connection
// still open (one stagger after each) and end with waits of four and eight
// staggers. Every connection keeps listening until the end; the first
// reply wins and the others are closed. The KDC that answered is asked
// first next time (see Hints). The whole exchange is bounded by ctx and
// the Transport's timeout. Failures are *status.Error with
// SEC_E_NO_AUTHENTICATING_AUTHORITY.
func (t *Transport) Exchange(ctx context.Context, realm string, req []byte) ([]byte, error) {
	reply, err := t.exchange(ctx, realm, req, nil)
	if t.observe != nil {
		t.observe(realm, req, reply, err)
	}
	return reply, err
}

// exchange is Exchange, also ended when stop (if not nil) is closed.
func (t *Transport) exchange(ctx context.Context, realm string, req []byte, stop <-chan struct{}) ([]byte, error) {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return nil, status.New(status.SEC_E_NO_AUTHENTICATING_AUTHORITY, mech, ErrClosed)
	}
	t.inflight.Add(1)
	t.mu.Unlock()
	defer t.inflight.Done()

	addrs := t.KDCs(realm)
	if len(addrs) == 0 {
		return nil, status.New(status.SEC_E_NO_AUTHENTICATING_AUTHORITY, mech, fmt.Errorf("%w %q", ErrNoKDC, realm))
	}
	if err := ctx.Err(); err != nil {
		return nil, noAuthority(ctxCause(ctx))
	}
	if isClosed(stop) {
		return nil, status.New(status.SEC_E_NO_AUTHENTICATING_AUTHORITY, mech, ErrClosed)
	}
	ctx, cancel := context.WithTimeoutCause(ctx, t.timeout, fmt.Errorf("kdc: no reply from realm %q within %v", realm, t.timeout))
	defer cancel()

	x := newExchange(t, ctx, realm, req, t.hints.order(realm, addrs, time.Now()))
	// The main loop also ends when the Transport closes, or stop does;
	// its deferred cancel then ends the connections.
	x.closed, x.stop = t.closeCtx.Done(), stop
	// Cancel and wait for every connection before returning: no goroutine
	// or socket of the exchange outlives it.
	defer func() {
		cancel()
		x.closeAll()
		x.wg.Wait()
	}()
	return x.run()
}

// ctxErr is the error an exchange whose ctx ended returns.
func ctxErr(ctx context.Context, lastErr error) error {
	cause := ctxCause(ctx)
	if lastErr != nil && !errors.Is(lastErr, cause) {
		cause = fmt.Errorf("%w (earlier failure: %v)", cause, lastErr)
	}
	return noAuthority(cause)
}
