package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jcmturner/gokrb5/v8/iana/errorcode"

	"github.com/asyncsspi/asyncsspi"
	"github.com/asyncsspi/asyncsspi/mechs/kerberos/kdc"
	"github.com/asyncsspi/asyncsspi/status"
)

// maxIOEvents bounds the I/O reports kept between two reads by the event
// loop; a handshake makes a handful (one or two per KDC exchange).
const maxIOEvents = 256

// ioWatch lets the demo's event loop see the I/O of a pending leg: the
// engine runs a Kerberos leg's KDC exchanges on its I/O side while the leg
// reads SEC_I_ASYNC_CALL_PENDING, through the KDC transport the demo gives
// the Kerberos package. The watch is that transport's dialer (dial: every
// request written to a KDC is reported as it goes out) and its observer
// (observe: every exchange's outcome is reported as it ends).
//
// Each report is stamped, when it happens, with the status of the leg
// then pending, which the event loop names with setPending before it
// starts each leg. The demo's handshakes run one leg at a time (client,
// then server, then client ...), and only a client's leg talks to the
// KDC, so the pending leg is the one whose I/O it is.
//
// Nothing here blocks the I/O side: reports are appended under mu and
// ready is signalled without waiting; the event loop takes them (take).
// A report is made before the exchange returns to the engine, so before
// the leg it belongs to completes: the loop prints reports before the
// completions it drains after them.
type ioWatch struct {
	pending atomic.Pointer[pendingLeg]
	ready   chan struct{} // capacity 1: one value may stand for many reports

	mu       sync.Mutex
	events   []ioEvent
	dropped  int       // reports not kept, beyond maxIOEvents
	sentAt   time.Time // when the exchange under way sent its first request
	tickets  []string  // service principals a TGS-REP carried a ticket for
	refusals []string  // KRB-ERRORs, by name
}

// pendingLeg is the leg the event loop started last; immutable.
type pendingLeg struct {
	side string
	n    int
	sc   *asyncsspi.SecurityContext
}

type ioEvent struct {
	side    string
	n       int
	st      status.Code // the leg's status when the I/O happened
	start   bool        // a request sent; else an exchange ended
	what    string
	elapsed time.Duration // with !start: since the exchange's first request
}

func newIOWatch() *ioWatch {
	return &ioWatch{ready: make(chan struct{}, 1)}
}

// setPending names the leg about to start. Called by the event loop only.
func (w *ioWatch) setPending(side string, n int, sc *asyncsspi.SecurityContext) {
	w.pending.Store(&pendingLeg{side: side, n: n, sc: sc})
}

// report stamps ev with the pending leg and its status (one atomic load),
// keeps it for the event loop and wakes the loop. It never blocks.
func (w *ioWatch) report(ev ioEvent) {
	if p := w.pending.Load(); p != nil {
		ev.side, ev.n, ev.st = p.side, p.n, p.sc.Status()
	}
	w.mu.Lock()
	if len(w.events) < maxIOEvents {
		w.events = append(w.events, ev)
	} else {
		w.dropped++
	}
	w.mu.Unlock()
	select {
	case w.ready <- struct{}{}:
	default:
	}
}

// take returns, and forgets, the reports made since the last call.
func (w *ioWatch) take() []ioEvent {
	w.mu.Lock()
	defer w.mu.Unlock()
	evs := w.events
	w.events = nil
	if w.dropped > 0 {
		evs = append(evs, ioEvent{what: fmt.Sprintf("(%d I/O reports not kept)", w.dropped)})
		w.dropped = 0
	}
	return evs
}

func (ev ioEvent) print(w io.Writer) {
	if ev.start {
		fmt.Fprintf(w, "  %-8s %-6s %-5d %-24v %6s %10s  %s\n", "io-start", ev.side, ev.n, ev.st, "", "", ev.what)
		return
	}
	fmt.Fprintf(w, "  %-8s %-6s %-5d %-24v %6s %10v  %s\n", "io-done", ev.side, ev.n, ev.st, "", ev.elapsed.Round(time.Microsecond), ev.what)
}

// dial is the KDC transport's dialer (kdc.WithDialer): a net.Dialer's,
// with the connection's writes reported.
func (w *ioWatch) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	return &watchConn{Conn: c, w: w, network: network, addr: addr}, nil
}

// watchConn reports each request written to a KDC. The transport writes a
// request in one Write: a datagram over UDP, a length-prefixed record over
// TCP (RFC 4120 section 7.2.2).
type watchConn struct {
	net.Conn
	w       *ioWatch
	network string
	addr    string
}

func (c *watchConn) Write(b []byte) (int, error) {
	msg := b
	if c.network == "tcp" && len(msg) >= 4 {
		msg = msg[4:]
	}
	c.w.mu.Lock()
	if c.w.sentAt.IsZero() {
		c.w.sentAt = time.Now()
	}
	c.w.mu.Unlock()
	c.w.report(ioEvent{start: true, what: fmt.Sprintf("%s (%d bytes) to the KDC over %s %s, from the engine's I/O side; no CPU worker waits",
		requestKind(msg), len(msg), c.network, c.addr)})
	return c.Conn.Write(b)
}

// requestKind names a KDC request by its DER tag (RFC 4120 section 5.4.1).
func requestKind(req []byte) string {
	if len(req) > 0 {
		switch req[0] {
		case 0x6a: // [APPLICATION 10]
			return "AS-REQ"
		case 0x6c: // [APPLICATION 12]
			return "TGS-REQ"
		}
	}
	return "KDC request"
}

// observe is the KDC transport's observer (kdc.WithObserver): it runs on
// the goroutine doing the exchange, after it, and must not block.
func (w *ioWatch) observe(realm string, req, reply []byte, err error) {
	kind := requestKind(req)
	var desc, ticket, refusal string
	if err != nil {
		desc = fmt.Sprintf("%s -> no answer from %s (the I/O returns %v to the leg)", kind, realm, status.CodeOf(err))
	} else if r, perr := kdc.ParseReply(reply); perr != nil {
		desc = fmt.Sprintf("%s -> unreadable reply (%v)", kind, perr)
	} else {
		switch {
		case r.AS != nil:
			desc = fmt.Sprintf("%s -> AS-REP (TGT for %s@%s)", kind, r.AS.CName.PrincipalNameString(), r.AS.CRealm)
		case r.TGS != nil:
			ticket = r.TGS.Ticket.SName.PrincipalNameString()
			desc = fmt.Sprintf("%s -> TGS-REP (ticket for %s)", kind, ticket)
		case r.Error != nil:
			refusal = errorName(r.Error.ErrorCode)
			desc = fmt.Sprintf("%s -> KRB-ERROR %s", kind, refusal)
		}
	}
	w.mu.Lock()
	var elapsed time.Duration
	if !w.sentAt.IsZero() {
		elapsed = time.Since(w.sentAt)
	}
	w.sentAt = time.Time{}
	if ticket != "" {
		w.tickets = append(w.tickets, ticket)
	}
	if refusal != "" {
		w.refusals = append(w.refusals, refusal)
	}
	w.mu.Unlock()
	w.report(ioEvent{what: desc, elapsed: elapsed})
}

// errorName is the RFC 4120 section 7.5.9 name of a KRB-ERROR code.
func errorName(code int32) string {
	s := errorcode.Lookup(code) // "(7) KDC_ERR_S_PRINCIPAL_UNKNOWN Server not found ..."
	if i := strings.Index(s, ") "); i >= 0 {
		s = s[i+2:]
	}
	if i := strings.IndexByte(s, ' '); i > 0 {
		s = s[:i]
	}
	return s
}

// outcome returns, and forgets, the tickets obtained and the KDC's
// refusals seen since the last call.
func (w *ioWatch) outcome() (tickets, refusals []string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	tickets, refusals = w.tickets, w.refusals
	w.tickets, w.refusals = nil, nil
	return tickets, refusals
}
