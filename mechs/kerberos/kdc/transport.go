package kdc

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/asyncsspi/asyncsspi/status"
	"github.com/jcmturner/gokrb5/v8/config"
	"github.com/jcmturner/gokrb5/v8/iana/errorcode"
	"github.com/jcmturner/gokrb5/v8/messages"
)

// Defaults of a Transport.
const (
	// DefaultTimeout bounds one whole Exchange: every KDC, every retry.
	DefaultTimeout = 30 * time.Second
	// DefaultStagger is how long an Exchange waits for a KDC before it also
	// sends to the next one (MIT's sendto_kdc waits one second per server).
	DefaultStagger = time.Second
	// DefaultUDPPreferenceLimit is MIT's udp_preference_limit default: a
	// request larger than this goes over TCP at once.
	DefaultUDPPreferenceLimit = 1465
	// DefaultMaxConnsPerKDC bounds the TCP connections open to one KDC.
	// An MIT KDC closes connections beyond its own limit, so a burst of
	// requests must queue here rather than open one connection each.
	DefaultMaxConnsPerKDC = 8
	// maxReply bounds a reply read over TCP (RFC 4120 section 7.2.2 lets
	// the length reach 2^31-1; no genuine KDC reply comes near 1 MiB).
	maxReply = 1 << 20
	// maxUDPReply is the largest datagram read.
	maxUDPReply = 65535
	// idleTimeout is how long a pooled TCP connection may sit unused.
	idleTimeout = 30 * time.Second
	// udpSendsBeforeTCP is how many datagrams an attempt sends to a silent
	// KDC before it tries the same KDC over TCP (a firewall may drop UDP).
	udpSendsBeforeTCP = 3
)

// TransportOption configures a Transport.
type TransportOption func(*Transport)

// WithConfig takes KDC addresses (the [realms] kdc entries) and
// udp_preference_limit from a krb5.conf. Addresses given with WithKDCs for a
// realm take precedence over the configuration's.
func WithConfig(c *config.Config) TransportOption {
	return func(t *Transport) {
		t.cfg = c
		if c != nil && c.LibDefaults.UDPPreferenceLimit > 0 && !t.udpLimitSet {
			t.udpLimit = c.LibDefaults.UDPPreferenceLimit
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

// WithTimeout bounds each whole Exchange (all KDCs, all retries). A
// non-positive d keeps the default.
func WithTimeout(d time.Duration) TransportOption {
	return func(t *Transport) {
		if d > 0 {
			t.timeout = d
		}
	}
}

// WithStagger sets how long an Exchange waits for an answer from one KDC
// before it also sends to the next (it keeps listening to both). It is also
// the first UDP retransmission interval. A non-positive d keeps the default.
func WithStagger(d time.Duration) TransportOption {
	return func(t *Transport) {
		if d > 0 {
			t.stagger = d
		}
	}
}

// WithUDPPreferenceLimit sets the largest request sent over UDP; 1 means
// always TCP (as udp_preference_limit = 1 does for MIT). n <= 0 keeps the
// default.
func WithUDPPreferenceLimit(n int) TransportOption {
	return func(t *Transport) {
		if n > 0 {
			t.udpLimit = n
			t.udpLimitSet = true
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

// Transport sends KDC requests and returns the replies (RFC 4120 section
// 7.2): UDP first unless the request exceeds the UDP preference limit, TCP
// with 4-byte length framing when the KDC answers KRB_ERR_RESPONSE_TOO_BIG
// or UDP fails, staggered failover across a realm's KDCs, a timeout and the
// caller's context on every exchange, and reuse of TCP connections under a
// per-KDC connection limit.
//
// Goroutines: each Exchange starts one goroutine per KDC it tries and
// waits for all of them before it returns. Nothing else runs in the
// background. Close cancels every Exchange in flight, waits for them and
// closes pooled connections. A Transport is safe for concurrent use.
type Transport struct {
	cfg         *config.Config
	kdcs        map[string][]string
	timeout     time.Duration
	stagger     time.Duration
	udpLimit    int
	udpLimitSet bool
	maxConns    int
	dial        func(ctx context.Context, network, addr string) (net.Conn, error)
	observe     func(realm string, req, reply []byte, err error)
	udpBufs     sync.Pool // *[maxUDPReply]byte read buffers

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
	noReuse  map[string]bool   // KDCs seen closing a connection after a reply
	lastGood map[string]string // realm -> the KDC that answered last
	inflight sync.WaitGroup
}

type idleConn struct {
	conn  net.Conn
	since time.Time
}

// NewTransport returns a Transport. It does no I/O.
func NewTransport(opts ...TransportOption) *Transport {
	t := &Transport{
		kdcs:     make(map[string][]string),
		timeout:  DefaultTimeout,
		stagger:  DefaultStagger,
		udpLimit: DefaultUDPPreferenceLimit,
		maxConns: DefaultMaxConnsPerKDC,
		idle:     make(map[string][]idleConn),
		slots:    make(map[string]chan struct{}),
		noReuse:  make(map[string]bool),
		lastGood: make(map[string]string),
	}
	for _, o := range opts {
		o(t)
	}
	if t.dial == nil {
		var d net.Dialer
		t.dial = d.DialContext
	}
	t.closeCtx, t.cancel = context.WithCancel(context.Background())
	return t
}

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

// KDCs returns the addresses an Exchange for realm tries, in order.
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

func withDefaultPort(a string) string {
	if _, _, err := net.SplitHostPort(a); err == nil {
		return a
	}
	return net.JoinHostPort(a, "88")
}

type attemptResult struct {
	addr  string
	reply []byte
	err   error
}

// order returns the KDCs of realm in the order an Exchange tries them: the
// one that answered last first (so that a dead KDC listed first costs a
// stagger once, not on every exchange), then the rest in configured order.
func (t *Transport) order(realm string) []string {
	addrs := t.KDCs(realm)
	t.mu.Lock()
	good := t.lastGood[realm]
	t.mu.Unlock()
	for i, a := range addrs {
		if a == good && i > 0 {
			copy(addrs[1:i+1], addrs[:i])
			addrs[0] = good
			break
		}
	}
	return addrs
}

// Exchange sends req (a DER-encoded AS-REQ or TGS-REQ) to the KDCs of realm
// and returns the first complete reply: an AS-REP, a TGS-REP or a KRB-ERROR
// (the caller interprets it; only KRB_ERR_RESPONSE_TOO_BIG, handled by
// retrying over TCP, and KDC_ERR_SVC_UNAVAILABLE, handled by trying the next
// KDC, are consumed here).
//
// Failover (as MIT's sendto_kdc): the request goes to the first KDC (the
// one that answered the previous exchange for the realm, else the first
// configured); if no answer comes within the stagger delay it also goes to
// the next, while the earlier attempts keep listening; a KDC that fails
// outright (refused, unreachable) hands over at once. The first reply wins
// and the other attempts are cancelled. The whole exchange is bounded by ctx and the
// Transport's timeout. Failures are *status.Error with
// SEC_E_NO_AUTHENTICATING_AUTHORITY.
func (t *Transport) Exchange(ctx context.Context, realm string, req []byte) ([]byte, error) {
	reply, err := t.exchange(ctx, realm, req)
	if t.observe != nil {
		t.observe(realm, req, reply, err)
	}
	return reply, err
}

func (t *Transport) exchange(ctx context.Context, realm string, req []byte) ([]byte, error) {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return nil, status.New(status.SEC_E_NO_AUTHENTICATING_AUTHORITY, mech, ErrClosed)
	}
	t.inflight.Add(1)
	t.mu.Unlock()
	defer t.inflight.Done()

	addrs := t.order(realm)
	if len(addrs) == 0 {
		return nil, status.New(status.SEC_E_NO_AUTHENTICATING_AUTHORITY, mech, fmt.Errorf("%w %q", ErrNoKDC, realm))
	}
	ctx, cancel := context.WithTimeoutCause(ctx, t.timeout, fmt.Errorf("kdc: no reply from realm %q within %v", realm, t.timeout))
	defer cancel()
	stop := context.AfterFunc(t.closeCtx, cancel)
	defer stop()

	useTCP := len(req) > t.udpLimit || t.udpLimit <= 1
	results := make(chan attemptResult, len(addrs))
	var attempts sync.WaitGroup
	// Cancel and wait for every attempt before returning: no attempt
	// goroutine outlives the Exchange. (Deferred after cancel and stop, so
	// it runs before them.)
	defer func() {
		cancel()
		attempts.Wait()
	}()

	next, pending := 0, 0
	start := func() {
		addr := addrs[next]
		next++
		pending++
		attempts.Add(1)
		go func() {
			defer attempts.Done()
			b, err := t.attempt(ctx, addr, req, useTCP)
			results <- attemptResult{addr, b, err}
		}()
	}
	start()
	stagger := time.NewTimer(t.stagger)
	defer stagger.Stop()
	var lastErr error
	for {
		var staggerC <-chan time.Time
		if next < len(addrs) {
			staggerC = stagger.C
		}
		select {
		case r := <-results:
			pending--
			if r.err == nil {
				t.mu.Lock()
				t.lastGood[realm] = r.addr
				t.mu.Unlock()
				return r.reply, nil
			}
			lastErr = r.err
			if next < len(addrs) {
				start()
				stagger.Reset(t.stagger)
			} else if pending == 0 {
				return nil, noAuthority(fmt.Errorf("kdc: every KDC of realm %q failed, last: %w", realm, lastErr))
			}
		case <-staggerC:
			start()
			stagger.Reset(t.stagger)
		case <-ctx.Done():
			cause := ctxCause(ctx)
			if lastErr != nil {
				cause = fmt.Errorf("%w (earlier failure: %v)", cause, lastErr)
			}
			return nil, noAuthority(cause)
		}
	}
}

// attempt runs the exchange with one KDC: UDP (retransmitted on silence)
// unless useTCP, then TCP when UDP fails, stays silent, or the KDC answers
// KRB_ERR_RESPONSE_TOO_BIG (RFC 4120 section 7.2.1).
func (t *Transport) attempt(ctx context.Context, addr string, req []byte, useTCP bool) ([]byte, error) {
	if !useTCP {
		b, err := t.udpExchange(ctx, addr, req)
		if err == nil {
			if code, isErr := krbErrorCode(b); !isErr || code != errorcode.KRB_ERR_RESPONSE_TOO_BIG {
				return checkUnavailable(b)
			}
		}
		if ctx.Err() != nil {
			return nil, ctxCause(ctx)
		}
	}
	b, err := t.tcpExchange(ctx, addr, req)
	if err != nil {
		return nil, err
	}
	return checkUnavailable(b)
}

// checkUnavailable turns KDC_ERR_SVC_UNAVAILABLE into an attempt failure so
// that the next KDC is tried.
func checkUnavailable(b []byte) ([]byte, error) {
	if code, isErr := krbErrorCode(b); isErr && code == errorcode.KDC_ERR_SVC_UNAVAILABLE {
		var k messages.KRBError
		_ = k.Unmarshal(b)
		return nil, statusOfKRBError(k)
	}
	return b, nil
}

// krbErrorCode returns the error-code of b when b is a KRB-ERROR.
func krbErrorCode(b []byte) (int32, bool) {
	if len(b) == 0 || b[0] != tagKRBError {
		return 0, false
	}
	var k messages.KRBError
	if err := k.Unmarshal(b); err != nil {
		return 0, false
	}
	return k.ErrorCode, true
}

// deadlineGuard lets a context's cancellation cut a blocked read short
// while the reading loop moves the deadline forward: both sides take mu, and
// once done is set the loop never extends the deadline again.
type deadlineGuard struct {
	mu   sync.Mutex
	done bool
	conn net.Conn
}

func (g *deadlineGuard) cancel() {
	g.mu.Lock()
	g.done = true
	g.conn.SetDeadline(time.Unix(1, 0))
	g.mu.Unlock()
}

// setReadDeadline sets d unless the context has ended; it reports whether
// the context is still live.
func (g *deadlineGuard) setReadDeadline(d time.Time) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.done {
		return false
	}
	g.conn.SetReadDeadline(d)
	return true
}

// udpExchange sends req in one datagram and waits for a reply, resending
// after stagger, 2*stagger, ... (RFC 4120 section 7.2.1 leaves the retry
// policy to the client). Datagrams that are not a complete KDC reply are
// ignored. After udpSendsBeforeTCP unanswered sends it gives up so that the
// caller tries TCP.
func (t *Transport) udpExchange(ctx context.Context, addr string, req []byte) ([]byte, error) {
	conn, err := t.dial(ctx, "udp", addr)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	g := &deadlineGuard{conn: conn}
	stop := context.AfterFunc(ctx, g.cancel)
	defer stop()

	bp, _ := t.udpBufs.Get().(*[maxUDPReply]byte)
	if bp == nil {
		bp = new([maxUDPReply]byte)
	}
	defer t.udpBufs.Put(bp)
	buf := bp[:]
	wait := t.stagger
	for sends := 0; sends < udpSendsBeforeTCP; sends++ {
		if _, err := conn.Write(req); err != nil {
			return nil, err
		}
		deadline := time.Now().Add(wait)
		wait *= 2
		for {
			if !g.setReadDeadline(deadline) {
				return nil, ctxCause(ctx)
			}
			n, err := conn.Read(buf)
			if err != nil {
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					if ctx.Err() != nil {
						return nil, ctxCause(ctx)
					}
					break // resend
				}
				return nil, err // e.g. ICMP port unreachable: refused
			}
			if isReply(buf[:n]) {
				return append([]byte(nil), buf[:n]...), nil
			}
		}
	}
	return nil, fmt.Errorf("kdc: no UDP reply from %s after %d sends", addr, udpSendsBeforeTCP)
}

// slot returns the semaphore bounding TCP connections to addr.
func (t *Transport) slot(addr string) chan struct{} {
	t.mu.Lock()
	defer t.mu.Unlock()
	s, ok := t.slots[addr]
	if !ok {
		s = make(chan struct{}, t.maxConns)
		t.slots[addr] = s
	}
	return s
}

// getIdle takes a pooled connection to addr, discarding stale ones.
func (t *Transport) getIdle(addr string) net.Conn {
	t.mu.Lock()
	defer t.mu.Unlock()
	list := t.idle[addr]
	for len(list) > 0 {
		ic := list[len(list)-1]
		list = list[:len(list)-1]
		t.idle[addr] = list
		if time.Since(ic.since) > idleTimeout {
			ic.conn.Close()
			continue
		}
		if !stillOpen(ic.conn) {
			// MIT's krb5kdc closes a TCP connection after each reply:
			// stop pooling for a KDC that does.
			ic.conn.Close()
			t.stopReuseLocked(addr)
			return nil
		}
		return ic.conn
	}
	return nil
}

// stillOpen reports whether the peer has not closed c: a read with an
// immediate deadline must time out (EOF or data means the connection is
// finished or out of step).
func stillOpen(c net.Conn) bool {
	c.SetReadDeadline(time.Now().Add(-time.Second))
	var one [1]byte
	_, err := c.Read(one[:])
	c.SetReadDeadline(time.Time{})
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// stopReuse marks addr as a KDC that closes connections after a reply and
// closes its pooled connections.
func (t *Transport) stopReuse(addr string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.stopReuseLocked(addr)
}

func (t *Transport) stopReuseLocked(addr string) {
	t.noReuse[addr] = true
	for _, ic := range t.idle[addr] {
		ic.conn.Close()
	}
	delete(t.idle, addr)
}

func (t *Transport) putIdle(addr string, c net.Conn) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed || t.noReuse[addr] || len(t.idle[addr]) >= t.maxConns {
		c.Close()
		return
	}
	t.idle[addr] = append(t.idle[addr], idleConn{conn: c, since: time.Now()})
}

// tcpExchange sends req with RFC 4120 section 7.2.2 framing (a 4-byte
// big-endian length, high bit zero) and reads one framed reply. It reuses a
// pooled connection when one is open; if a reused connection fails before
// any reply byte (the KDC closed it), it retries once on a new connection.
// A KDC seen closing connections after a reply (MIT's krb5kdc does) is not
// pooled for again.
func (t *Transport) tcpExchange(ctx context.Context, addr string, req []byte) ([]byte, error) {
	slots := t.slot(addr)
	select {
	case slots <- struct{}{}:
	case <-ctx.Done():
		return nil, ctxCause(ctx)
	}
	defer func() { <-slots }()

	for try := 0; ; try++ {
		var conn net.Conn
		if try == 0 {
			conn = t.getIdle(addr) // the retry always dials afresh
		}
		reused := conn != nil
		if conn == nil {
			var err error
			conn, err = t.dial(ctx, "tcp", addr)
			if err != nil {
				return nil, err
			}
		}
		b, gotBytes, err := roundTripTCP(ctx, conn, req)
		if err == nil {
			t.putIdle(addr, conn)
			return b, nil
		}
		conn.Close()
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			// The only deadlines on conn come from ctx: its deadline, or
			// the AfterFunc on cancellation (ctx is then done already).
			// When the deadline has passed, ctx's own timer fires at
			// once, perhaps a moment after the socket's: wait for it.
			if d, ok := ctx.Deadline(); ok && !time.Now().Before(d) {
				<-ctx.Done()
			}
		}
		if reused && !gotBytes && ctx.Err() == nil && try == 0 {
			t.stopReuse(addr)
			continue
		}
		if ctx.Err() != nil {
			return nil, ctxCause(ctx)
		}
		return nil, err
	}
}

// roundTripTCP writes one framed request and reads one framed reply. It
// reports whether any reply byte arrived. On success conn's deadline is
// cleared so that it can be pooled.
func roundTripTCP(ctx context.Context, conn net.Conn, req []byte) (reply []byte, gotBytes bool, err error) {
	if d, ok := ctx.Deadline(); ok {
		conn.SetDeadline(d)
	}
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer func() {
		if !stop() && err == nil {
			// The AfterFunc ran or is running: its deadline may land on
			// conn at any moment, so do not hand conn back for reuse.
			reply, err = nil, ctxCause(ctx)
		}
		if err == nil {
			conn.SetDeadline(time.Time{})
		}
	}()

	msg := make([]byte, 4+len(req))
	binary.BigEndian.PutUint32(msg, uint32(len(req)))
	copy(msg[4:], req)
	if _, err := conn.Write(msg); err != nil {
		return nil, false, err
	}
	cr := &countingReader{r: conn}
	reply, err = ReadFrame(cr, maxReply)
	if err != nil {
		return nil, cr.n > 0, err
	}
	if !isReply(reply) {
		return nil, true, errors.New("kdc: TCP reply is not an AS-REP, TGS-REP or KRB-ERROR")
	}
	return reply, true, nil
}

type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

// ErrFrame is the cause of a malformed TCP record (RFC 4120 section 7.2.2).
var ErrFrame = errors.New("kdc: malformed TCP record")

// ReadFrame reads one RFC 4120 section 7.2.2 record from r: a 4-byte
// big-endian length whose high bit is reserved (zero), then that many bytes.
// A length above max, or with the high bit set, is ErrFrame.
func ReadFrame(r io.Reader, max int) ([]byte, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n&0x80000000 != 0 {
		return nil, fmt.Errorf("%w: reserved high bit of the length is set", ErrFrame)
	}
	if int64(n) > int64(max) {
		return nil, fmt.Errorf("%w: length %d exceeds %d", ErrFrame, n, max)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return b, nil
}

// AppendFrame appends the RFC 4120 section 7.2.2 record of msg to dst.
func AppendFrame(dst, msg []byte) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(msg)))
	return append(dst, msg...)
}

// DER identifier octets of the KDC replies: [APPLICATION n] constructed
// (RFC 4120 section 5.4.2 AS-REP 11, TGS-REP 13; section 5.9.1 KRB-ERROR 30).
const (
	tagASRep    = 0x60 | 11
	tagTGSRep   = 0x60 | 13
	tagKRBError = 0x60 | 30
)

// isReply reports whether b is exactly one DER element tagged as an
// AS-REP, TGS-REP or KRB-ERROR (its outer length covering all of b). It
// does not parse the content.
func isReply(b []byte) bool {
	if len(b) < 2 {
		return false
	}
	switch b[0] {
	case tagASRep, tagTGSRep, tagKRBError:
	default:
		return false
	}
	n, hdr, ok := derLength(b[1:])
	return ok && 1+hdr+n == len(b)
}

// derLength decodes a DER definite length (X.690 section 8.1.3): the
// length, the octets it took, and whether it was well formed.
func derLength(b []byte) (n, size int, ok bool) {
	if len(b) == 0 {
		return 0, 0, false
	}
	if b[0] < 0x80 {
		return int(b[0]), 1, true
	}
	k := int(b[0] & 0x7f)
	if k == 0 || k > 4 || len(b) < 1+k {
		return 0, 0, false
	}
	for _, c := range b[1 : 1+k] {
		n = n<<8 | int(c)
	}
	if n < 0 {
		return 0, 0, false
	}
	return n, 1 + k, true
}
