package httpauth

import (
	"container/list"
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"
)

// Timeouts Install gives an http.Server that has none, so that a client
// that opens connections and goes silent cannot hold their goroutines.
const (
	DefaultReadHeaderTimeout = 30 * time.Second
	DefaultIdleTimeout       = 2 * time.Minute
)

// Install gives srv the connection hooks the Authenticator needs, chaining
// any ConnContext and ConnState srv already has (theirs run first for
// ConnContext, after for ConnState). Call it before srv serves.
//
// With them, each HTTP/1.x connection has a state of its own, made when
// it is accepted and dropped when it closes or is hijacked: an NTLM
// handshake's legs meet on it, and an authenticated connection stays
// authenticated as WithConnectionBinding says. Without them (or over
// HTTP/2, whose streams share a connection) every request stands alone:
// a handshake that needs a second leg (NTLM) is refused with a log line
// saying why, NTLM is not offered, and Kerberos works request by request.
// State is never looked up by RemoteAddr, so a new connection from a
// reused address starts unauthenticated.
//
// Install also sets ReadHeaderTimeout (DefaultReadHeaderTimeout) and
// IdleTimeout (DefaultIdleTimeout) when srv has neither those nor a
// ReadTimeout, so that silent connections are closed.
func (a *Authenticator) Install(srv *http.Server) {
	prevCtx, prevState := srv.ConnContext, srv.ConnState
	srv.ConnContext = func(ctx context.Context, c net.Conn) context.Context {
		if prevCtx != nil {
			ctx = prevCtx(ctx, c)
		}
		return a.ConnContext(ctx, c)
	}
	srv.ConnState = func(c net.Conn, st http.ConnState) {
		a.ConnState(c, st)
		if prevState != nil {
			prevState(c, st)
		}
	}
	if srv.ReadTimeout == 0 {
		if srv.ReadHeaderTimeout == 0 {
			srv.ReadHeaderTimeout = DefaultReadHeaderTimeout
		}
		if srv.IdleTimeout == 0 {
			srv.IdleTimeout = DefaultIdleTimeout
		}
	}
}

// ConnContext is the http.Server ConnContext hook Install sets, for
// servers that compose their hooks themselves; ConnState must be set too.
func (a *Authenticator) ConnContext(ctx context.Context, c net.Conn) context.Context {
	cs := a.conns.open(c)
	if cs == nil {
		return ctx
	}
	return context.WithValue(ctx, connKey{&a.conns}, cs)
}

// ConnState is the http.Server ConnState hook Install sets: a connection
// that closes or is hijacked loses its state, and its security contexts
// are closed.
func (a *Authenticator) ConnState(c net.Conn, st http.ConnState) {
	if st == http.StateClosed || st == http.StateHijacked {
		a.conns.drop(c)
	}
}

// connKey finds a connection's state in a request's context; it names the
// conns it belongs to, so two Authenticators on one server keep apart.
type connKey struct{ c *conns }

// conns is an Authenticator's connection state: one connState per open
// connection of the servers it is installed on, and the unfinished
// handshakes they keep, oldest first.
//
// One mutex guards everything; nothing slow runs under it. A handshake is
// taken out of its connection while a request runs its leg (so nothing
// else can close it meanwhile) and put back if it needs another; security
// contexts are closed after the mutex is released, by whoever removed
// them.
type conns struct {
	timeout time.Duration // an unfinished handshake's life
	max     int           // unfinished handshakes kept at once

	mu      sync.Mutex
	byConn  map[net.Conn]*connState
	pending list.List // *connState whose hs is set, in deadline order
	closed  bool
}

// connState is one connection's: guarded by conns.mu.
type connState struct {
	hs     *handshake    // unfinished handshake, kept for the next request
	elem   *list.Element // hs's place in conns.pending
	id     *Identity     // the connection's authentication (Bound)
	closed bool
}

func (a *Authenticator) initConns() {
	a.conns.timeout = a.handshakeTimeout
	a.conns.max = a.maxHandshakes
	a.conns.byConn = make(map[net.Conn]*connState)
}

// keyOf is the connection as both hooks see it: ConnContext gets the
// accepted connection, ConnState the *tls.Conn over it once TLS began.
func keyOf(c net.Conn) net.Conn {
	if tc, ok := c.(*tls.Conn); ok {
		return tc.NetConn()
	}
	return c
}

func (s *conns) open(c net.Conn) *connState {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	cs := &connState{}
	s.byConn[keyOf(c)] = cs
	return cs
}

func (s *conns) drop(c net.Conn) {
	s.mu.Lock()
	cs := s.byConn[keyOf(c)]
	delete(s.byConn, keyOf(c))
	var hs *handshake
	var id *Identity
	if cs != nil {
		cs.closed = true
		hs, id = s.detachLocked(cs)
	}
	s.mu.Unlock()
	closeBoth(hs, id)
}

// closeAll drops every connection's state; connections accepted later
// get none.
func (s *conns) closeAll() {
	s.mu.Lock()
	s.closed = true
	var hss []*handshake
	var ids []*Identity
	for c, cs := range s.byConn {
		cs.closed = true
		hs, id := s.detachLocked(cs)
		hss, ids = append(hss, hs), append(ids, id)
		delete(s.byConn, c)
	}
	s.mu.Unlock()
	for i := range hss {
		closeBoth(hss[i], ids[i])
	}
}

// detachLocked takes cs's handshake and authentication away from it; the
// caller closes them after unlocking.
func (s *conns) detachLocked(cs *connState) (*handshake, *Identity) {
	hs, id := cs.hs, cs.id
	if cs.elem != nil {
		s.pending.Remove(cs.elem)
		cs.elem = nil
	}
	cs.hs, cs.id = nil, nil
	return hs, id
}

func closeBoth(hs *handshake, id *Identity) {
	if hs != nil {
		hs.close()
	}
	if id != nil {
		id.Context.Close()
	}
}

// lookup returns the state of r's connection, or nil when it has none
// (no Install, HTTP/2, or the Authenticator closed).
func (s *conns) lookup(r *http.Request) *connState {
	if r.ProtoMajor != 1 {
		return nil
	}
	cs, _ := r.Context().Value(connKey{s}).(*connState)
	if cs == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if cs.closed {
		return nil
	}
	return cs
}

// sweepLocked drops the unfinished handshakes whose time is up; the caller
// closes them after unlocking.
func (s *conns) sweepLocked(now time.Time, drop []*handshake) []*handshake {
	for e := s.pending.Front(); e != nil; e = s.pending.Front() {
		cs := e.Value.(*connState)
		if now.Before(cs.hs.deadline) {
			break
		}
		s.pending.Remove(e)
		drop = append(drop, cs.hs)
		cs.hs, cs.elem = nil, nil
	}
	return drop
}

// bound returns the connection's authentication, if it has one still
// valid.
func (s *conns) bound(cs *connState) *Identity {
	if cs == nil {
		return nil
	}
	s.mu.Lock()
	now := time.Now()
	drop := s.sweepLocked(now, nil)
	id := cs.id
	var expired *Identity
	if id != nil && !id.Expiry.IsZero() && !now.Before(id.Expiry) {
		expired, id, cs.id = id, nil, nil
	}
	s.mu.Unlock()
	closeHandshakes(drop)
	closeBoth(nil, expired)
	return id
}

// take takes the connection's unfinished handshake (nil if none, or if
// its time is up) for a request that carries a token, and ends the
// connection's authentication.
func (s *conns) take(cs *connState) *handshake {
	if cs == nil {
		return nil
	}
	s.mu.Lock()
	now := time.Now()
	drop := s.sweepLocked(now, nil)
	hs, id := s.detachLocked(cs)
	s.mu.Unlock()
	closeHandshakes(drop)
	closeBoth(nil, id)
	return hs
}

// put keeps hs for the connection's next request, unless the cap of
// unfinished handshakes is reached (after dropping those whose time is
// up) or the connection has closed.
func (s *conns) put(cs *connState, hs *handshake) error {
	s.mu.Lock()
	// now is read under the mutex, so that pending stays in deadline order.
	now := time.Now()
	drop := s.sweepLocked(now, nil)
	var err error
	switch {
	case cs.closed:
		err = fmt.Errorf("the connection closed")
	case s.pending.Len() >= s.max:
		err = fmt.Errorf("%d unfinished handshakes already (WithMaxHandshakes)", s.pending.Len())
	default:
		hs.deadline = now.Add(s.timeout)
		cs.hs = hs
		cs.elem = s.pending.PushBack(cs)
	}
	s.mu.Unlock()
	closeHandshakes(drop)
	return err
}

// bind makes id the connection's authentication; false if the connection
// closed meanwhile.
func (s *conns) bind(cs *connState, id *Identity) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if cs.closed {
		return false
	}
	cs.id = id
	return true
}

func closeHandshakes(hss []*handshake) {
	for _, hs := range hss {
		hs.close()
	}
}

// stats reports the connections and unfinished handshakes held, for tests.
func (s *conns) stats() (conns, pending int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.byConn), s.pending.Len()
}
