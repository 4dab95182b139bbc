package kdc

import (
	"errors"
	"io"
	"net"
	"time"

	"github.com/jcmturner/gokrb5/v8/iana/errorcode"
)

// runTCP is a TCP route's goroutine: it waits for one of the KDC's
// connection slots, sends the request with RFC 4120 section 7.2.2 framing
// (a 4-byte big-endian length, high bit zero) and reads one framed reply.
// It reuses a pooled connection when one is open; if a reused connection
// fails before any reply byte (the KDC closed it), it retries once on a
// new connection. A KDC seen closing connections after a reply (MIT's
// krb5kdc does) is not pooled for again (see Hints).
func (x *exchange) runTCP(r *route) {
	t := x.t
	slots := t.slot(r.addr)
	select {
	case slots <- struct{}{}:
	case <-x.ctx.Done():
		x.report(event{r: r, kind: evFailed, err: errCancelled})
		return
	}
	defer func() { <-slots }()
	x.report(event{r: r, kind: evOpening})

	for try := 0; ; try++ {
		var conn net.Conn
		if try == 0 && !r.noReuse {
			conn = t.getIdle(r.addr) // the retry always dials afresh
		}
		reused := conn != nil
		if conn == nil {
			var err error
			if conn, err = t.dial(x.ctx, "tcp", r.addr); err != nil {
				x.report(event{r: r, kind: evFailed, err: err})
				return
			}
		}
		b, gotBytes, err := x.roundTripTCP(r, conn)
		if err == nil {
			if code, isErr := krbErrorCode(b); isErr && code == errorcode.KDC_ERR_SVC_UNAVAILABLE {
				conn.Close()
				x.report(event{r: r, kind: evFailed, err: svcUnavailable(b)})
				return
			}
			t.putIdle(r.addr, conn)
			x.report(event{r: r, kind: evReply, reply: b})
			return
		}
		conn.Close()
		if x.ctx.Err() != nil {
			x.report(event{r: r, kind: evFailed, err: errCancelled})
			return
		}
		if reused && !gotBytes && try == 0 {
			t.hints.closesConns(r.addr, time.Now())
			t.dropIdle(r.addr)
			continue
		}
		x.report(event{r: r, kind: evFailed, err: err})
		return
	}
}

// roundTripTCP writes one framed request on conn and reads one framed
// reply. It reports whether any reply byte arrived. On success conn's
// deadline is cleared so that it can be pooled.
func (x *exchange) roundTripTCP(r *route, conn net.Conn) (reply []byte, gotBytes bool, err error) {
	if d, ok := x.ctx.Deadline(); ok {
		conn.SetDeadline(d)
	}
	if !r.guard.set(conn) {
		return nil, false, errCancelled
	}
	defer func() {
		r.guard.mu.Lock()
		cut := r.guard.done
		r.guard.conn = nil
		r.guard.mu.Unlock()
		if cut && err == nil {
			// The exchange ended meanwhile and may have cut conn's
			// deadline: do not hand it back for reuse.
			reply, err = nil, errCancelled
		}
		if err == nil {
			conn.SetDeadline(time.Time{})
		}
	}()
	if err := r.guard.write(x.ctx, AppendFrame(make([]byte, 0, 4+len(x.req)), x.req)); err != nil {
		return nil, false, err
	}
	x.report(event{r: r, kind: evSent})
	cr := &countingReader{r: conn}
	reply, err = ReadFrame(cr, x.t.maxReply)
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

// The TCP connection pool.

type idleConn struct {
	conn  net.Conn
	since time.Time
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
			t.hints.closesConns(addr, time.Now())
			t.dropIdleLocked(addr)
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

// dropIdle closes the pooled connections to addr.
func (t *Transport) dropIdle(addr string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.dropIdleLocked(addr)
}

func (t *Transport) dropIdleLocked(addr string) {
	for _, ic := range t.idle[addr] {
		ic.conn.Close()
	}
	delete(t.idle, addr)
}

func (t *Transport) putIdle(addr string, c net.Conn) {
	reusable := t.hints.reusable(addr, time.Now())
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed || !reusable || len(t.idle[addr]) >= t.maxConns {
		c.Close()
		return
	}
	t.idle[addr] = append(t.idle[addr], idleConn{conn: c, since: time.Now()})
}
