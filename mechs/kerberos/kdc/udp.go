package kdc

import (
	"context"
	"errors"
	"net"
	"sync"
	"time"

	"github.com/jcmturner/gokrb5/v8/iana/errorcode"
	"github.com/jcmturner/gokrb5/v8/messages"
)

// errCancelled marks a connection ended because its exchange ended.
var errCancelled = errors.New("kdc: exchange over")

// connGuard is a route's connection as its exchange's main loop and its
// own goroutine share it: the main loop resends on it (UDP) and the
// exchange's end cuts it short. Both sides take mu; once done is set,
// nothing more is written, and a blocked read returns at once.
type connGuard struct {
	mu   sync.Mutex
	done bool
	conn net.Conn
}

// set installs c, or reports false (and leaves c alone) when the exchange
// has already ended.
func (g *connGuard) set(c net.Conn) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.done {
		return false
	}
	g.conn = c
	return true
}

// cancel ends the connection's use: no more writes, and any blocked read
// or write returns at once (the owning goroutine closes the socket).
func (g *connGuard) cancel() {
	g.mu.Lock()
	g.done = true
	if g.conn != nil {
		g.conn.SetDeadline(time.Unix(1, 0))
	}
	g.mu.Unlock()
}

// write sends b unless the exchange has ended (ctx done or cancel
// called): after the exchange's context is cancelled, nothing more goes
// out.
func (g *connGuard) write(ctx context.Context, b []byte) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.done || g.conn == nil || ctx.Err() != nil {
		return errCancelled
	}
	_, err := g.conn.Write(b)
	return err
}

// runUDP is a UDP route's goroutine: it sends the request in one datagram
// (the main loop resends on the same socket, RFC 4120 section 7.2.1
// leaving the retry policy to the client) and reads until a datagram that
// is one complete KDC reply arrives; others are ignored. The socket is
// closed when it returns.
func (x *exchange) runUDP(r *route) {
	conn, err := x.t.dial(x.ctx, "udp", r.addr)
	if err != nil {
		x.report(event{r: r, kind: evFailed, err: err})
		return
	}
	defer conn.Close()
	if !r.guard.set(conn) {
		x.report(event{r: r, kind: evFailed, err: errCancelled})
		return
	}
	if err := r.guard.write(x.ctx, x.req); err != nil {
		x.report(event{r: r, kind: evFailed, err: err})
		return
	}
	x.report(event{r: r, kind: evSent})

	bp, _ := x.t.udpBufs.Get().(*[maxUDPReply]byte)
	if bp == nil {
		bp = new([maxUDPReply]byte)
	}
	defer x.t.udpBufs.Put(bp)
	for {
		n, err := conn.Read(bp[:])
		if err != nil {
			if x.ctx.Err() != nil {
				err = errCancelled
			}
			x.report(event{r: r, kind: evFailed, err: err}) // e.g. ICMP port unreachable: refused
			return
		}
		if !isReply(bp[:n]) {
			continue
		}
		b := append([]byte(nil), bp[:n]...)
		switch code, isErr := krbErrorCode(b); {
		case isErr && code == errorcode.KRB_ERR_RESPONSE_TOO_BIG:
			x.report(event{r: r, kind: evFailed, err: errors.New("KRB_ERR_RESPONSE_TOO_BIG"), tooBig: true})
		case isErr && code == errorcode.KDC_ERR_SVC_UNAVAILABLE:
			x.report(event{r: r, kind: evFailed, err: svcUnavailable(b)})
		default:
			x.report(event{r: r, kind: evReply, reply: b})
		}
		return
	}
}

// svcUnavailable is the failure of a connection whose KDC answered
// KDC_ERR_SVC_UNAVAILABLE: the next connection is tried.
func svcUnavailable(b []byte) error {
	var k messages.KRBError
	_ = k.Unmarshal(b)
	return statusOfKRBError(k)
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
