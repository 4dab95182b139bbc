package kdc

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// Passes over the connections, as MIT's MAX_PASS.
const maxPasses = 3

// tcpPatience is how many staggers a TCP connection that carries the
// request is waited for before the schedule moves on (MIT: ten seconds
// once connected).
const tcpPatience = 10

// routeState is where one connection of an exchange is.
type routeState uint8

const (
	routeIdle    routeState = iota // not opened yet
	routeWaiting                   // TCP: waiting for a connection slot
	routeOpening                   // opening the connection
	routeSent                      // the request went out; listening
	routeDone                      // failed, or answered
)

// route is one connection an exchange may open: a KDC address over one
// transport. The fields above guard belong to the exchange's goroutine
// (its main loop); guard is shared with the connection's goroutine.
type route struct {
	addr    string
	tcp     bool
	noReuse bool
	state   routeState
	since   time.Time // when the state was entered
	err     error
	guard   connGuard
}

type eventKind uint8

const (
	evOpening eventKind = iota // TCP: a connection slot was free, dialing
	evSent                     // the request was written
	evReply                    // a reply arrived
	evFailed                   // the connection failed
)

type event struct {
	r      *route
	kind   eventKind
	reply  []byte
	err    error
	tooBig bool // UDP answered KRB_ERR_RESPONSE_TOO_BIG
}

// exchange is one Exchange in progress. Its main loop (run, on the
// caller's goroutine) owns the schedule and the routes' states; each
// opened route runs on a goroutine of its own that reports on events.
type exchange struct {
	t      *Transport
	ctx    context.Context
	realm  string
	req    []byte
	routes []*route
	events chan event // buffered so that a route never blocks on it
	wg     sync.WaitGroup
	timer  *time.Timer

	closed <-chan struct{} // the Transport's Close
	stop   <-chan struct{} // the caller's other end, or nil
	ended  bool            // closed or stop fired

	winner  *route
	reply   []byte
	lastErr error
}

// newExchange lays out the routes: every KDC over its first transport,
// then every KDC over the other (MIT's deferred connections).
func newExchange(t *Transport, ctx context.Context, realm string, req []byte, plan []planEntry) *exchange {
	x := &exchange{t: t, ctx: ctx, realm: realm, req: req}
	big := len(req) > t.udpLimit
	x.routes = make([]*route, 0, 2*len(plan))
	for pass := 0; pass < 2; pass++ {
		for _, p := range plan {
			tcpFirst := big || p.tcp
			x.routes = append(x.routes, &route{addr: p.addr, tcp: tcpFirst == (pass == 0), noReuse: p.noReuse})
		}
	}
	// Each route reports at most four events (opening, sent twice when a
	// pooled connection is retried, and its outcome).
	x.events = make(chan event, 4*len(x.routes))
	return x
}

func (x *exchange) report(ev event) { x.events <- ev }

// closeAll cuts every opened connection short (after the exchange's
// context is cancelled): nothing more is written, blocked reads return,
// and each connection's goroutine closes its socket as it returns.
func (x *exchange) closeAll() {
	for _, r := range x.routes {
		r.guard.cancel()
	}
}

// run carries out the schedule described at Exchange.
func (x *exchange) run() ([]byte, error) {
	x.timer = time.NewTimer(time.Hour)
	defer x.timer.Stop()
	s := x.t.stagger
	for _, r := range x.routes {
		if r.state != routeIdle {
			continue // opened out of turn (after KRB_ERR_RESPONSE_TOO_BIG)
		}
		x.open(r)
		if x.wait(s, r) {
			return x.result()
		}
	}
	if x.wait(2*s, nil) {
		return x.result()
	}
	delay := 4 * s
	for pass := 1; pass < maxPasses; pass++ {
		for _, r := range x.routes {
			if r.tcp || r.state != routeSent {
				continue
			}
			r.since = time.Now()
			r.guard.write(x.ctx, x.req) // a failure shows on the read side
			if x.wait(s, r) {
				return x.result()
			}
		}
		if x.wait(delay, nil) {
			return x.result()
		}
		delay *= 2
	}
	x.lastErr = fmt.Errorf("kdc: no KDC of realm %q answered (last: %v)", x.realm, x.lastErr)
	return x.result()
}

func (x *exchange) result() ([]byte, error) {
	switch {
	case x.reply != nil:
		x.learn()
		return x.reply, nil
	case x.ctx.Err() != nil:
		return nil, ctxErr(x.ctx, x.lastErr)
	case x.ended:
		return nil, noAuthority(fmt.Errorf("%w (last failure: %v)", ErrClosed, x.lastErr))
	}
	return nil, noAuthority(fmt.Errorf("kdc: every KDC of realm %q failed, last: %w", x.realm, x.lastErr))
}

// open starts r's goroutine.
func (x *exchange) open(r *route) {
	r.since = time.Now()
	r.state = routeOpening
	if r.tcp {
		r.state = routeWaiting
	}
	x.wg.Add(1)
	go func() {
		defer x.wg.Done()
		if r.tcp {
			x.runTCP(r)
		} else {
			x.runUDP(r)
		}
	}()
}

// wait lets the connections work for d after focus (the connection just
// opened, or resent on) sent the request, or for d from now when focus is
// nil (the pause at the end of a pass). A TCP focus still waiting for a
// connection slot has not started its clock; a TCP connection that carries
// the request stretches any wait to the end of its patience. wait reports
// whether the exchange is over: a reply came, the context ended, or every
// connection has failed and none is left to open. It returns early,
// without ending the exchange, when focus fails, so that the next
// connection is opened at once.
func (x *exchange) wait(d time.Duration, focus *route) bool {
	var base time.Time
	if focus == nil {
		base = time.Now().Add(d)
	}
	for {
		if x.reply != nil || x.ctx.Err() != nil || x.ended {
			return true
		}
		live, idle := x.anyLive(), x.anyIdle()
		if !live && !idle {
			return true
		}
		if !live || (focus != nil && focus.state == routeDone) {
			return false
		}
		until := base
		if focus != nil {
			until = focus.since.Add(d)
			if focus.state == routeWaiting {
				until = time.Now().Add(time.Hour) // re-evaluated on every event
			}
		}
		for _, r := range x.routes {
			if r.tcp && r.state == routeSent {
				if p := r.since.Add(tcpPatience * x.t.stagger); p.After(until) {
					until = p
				}
			}
		}
		now := time.Now()
		if !until.After(now) {
			return false
		}
		x.timer.Reset(until.Sub(now))
		select {
		case ev := <-x.events:
			x.handle(ev)
		case <-x.timer.C:
		case <-x.ctx.Done():
			return true
		case <-x.closed:
			x.ended = true
			return true
		case <-x.stop:
			x.ended = true
			return true
		}
	}
}

func (x *exchange) anyLive() bool {
	for _, r := range x.routes {
		if r.state != routeIdle && r.state != routeDone {
			return true
		}
	}
	return false
}

func (x *exchange) anyIdle() bool {
	for _, r := range x.routes {
		if r.state == routeIdle {
			return true
		}
	}
	return false
}

// handle applies a route's event.
func (x *exchange) handle(ev event) {
	r := ev.r
	if r.state == routeDone {
		return
	}
	switch ev.kind {
	case evOpening:
		r.state, r.since = routeOpening, time.Now()
	case evSent:
		r.state, r.since = routeSent, time.Now()
	case evReply:
		r.state = routeDone
		if x.reply == nil {
			x.reply, x.winner = ev.reply, r
		}
	case evFailed:
		r.state, r.err = routeDone, ev.err
		x.lastErr = fmt.Errorf("%s over %s: %w", r.addr, transportName(r.tcp), ev.err)
		if ev.tooBig {
			// RFC 4120 section 7.2.1: ask the same KDC over TCP now.
			x.t.hints.preferTCP(r.addr, time.Now())
			for _, o := range x.routes {
				if o.addr == r.addr && o.tcp && o.state == routeIdle {
					x.open(o)
				}
			}
		}
	}
}

// learn tells the Hints what a successful exchange found: which KDC
// answered and over what, and which KDCs asked before it stayed silent.
func (x *exchange) learn() {
	w := x.winner
	udpFailed := false
	var silent []string
	for _, r := range x.routes {
		if r.state == routeIdle {
			continue
		}
		if r.addr == w.addr {
			if w.tcp && !r.tcp {
				udpFailed = true
			}
			continue
		}
		if !containsString(silent, r.addr) {
			silent = append(silent, r.addr)
		}
	}
	x.t.hints.answered(x.realm, w.addr, w.tcp, udpFailed, silent, time.Now())
}

func containsString(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

func transportName(tcp bool) string {
	if tcp {
		return "TCP"
	}
	return "UDP"
}
