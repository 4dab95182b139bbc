package main

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/jcmturner/gokrb5/v8/iana/errorcode"

	"github.com/asyncsspi/asyncsspi/mechs"
	"github.com/asyncsspi/asyncsspi/mechs/kerberos/kdc"
)

// ioWatch lets the demo's event loop see the I/O legs: the engine runs a
// mechanism's IORequest on its I/O side while the leg reads pending, and
// nothing in the async API reports that moment, so the demo wraps the
// package it gives the engine (watchPackage) and the KDC transport's
// observer (observe) to learn of it.
//
// Ownership: events is read by the event loop only. Each event carries an
// ack channel that the loop closes once it has printed the event; the I/O
// goroutine that sent it waits for that (or for its I/O context to end), so
// the printed status is the one the leg had while its I/O was under way.
// mu guards the fields below it, written by the transport's observer on
// the I/O goroutine and read by the event loop.
type ioWatch struct {
	events chan ioEvent

	mu        sync.Mutex
	exchanges []string // KDC exchanges since the last takeExchanges
	tickets   []string // service principals a TGS-REP carried a ticket for
	refusals  []string // KRB-ERRORs, by name
}

type ioEvent struct {
	side      string // "client" or "server"
	start     bool   // true before the I/O, false after
	realm     string
	exchanges []string // with !start: the KDC exchanges the I/O made
	err       error    // with !start: the I/O's error
	elapsed   time.Duration
	ack       chan struct{}
}

func newIOWatch() *ioWatch {
	return &ioWatch{events: make(chan ioEvent)}
}

// send hands ev to the event loop and waits until it has been printed, or
// until ctx (the I/O's context, cancelled when the engine closes) ends.
func (w *ioWatch) send(ctx context.Context, ev ioEvent) {
	ev.ack = make(chan struct{})
	select {
	case w.events <- ev:
	case <-ctx.Done():
		return
	}
	select {
	case <-ev.ack:
	case <-ctx.Done():
	}
}

// observe is the KDC transport's observer (kdc.WithObserver): it runs on the
// goroutine doing the exchange, after it, and must not block.
func (w *ioWatch) observe(realm string, req, reply []byte, err error) {
	kind := "KDC request"
	if len(req) > 0 {
		switch req[0] {
		case 0x6a: // [APPLICATION 10] AS-REQ, RFC 4120 section 5.4.1
			kind = "AS-REQ"
		case 0x6c: // [APPLICATION 12] TGS-REQ
			kind = "TGS-REQ"
		}
	}
	var desc, ticket, refusal string
	if err != nil {
		desc = fmt.Sprintf("%s -> no answer (%v)", kind, err)
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
	defer w.mu.Unlock()
	w.exchanges = append(w.exchanges, desc)
	if ticket != "" {
		w.tickets = append(w.tickets, ticket)
	}
	if refusal != "" {
		w.refusals = append(w.refusals, refusal)
	}
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

func (w *ioWatch) takeExchanges() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	x := w.exchanges
	w.exchanges = nil
	return x
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

// watchPackage wraps the package the engine sees so that every IORequest a
// step returns reports its start and end to w. Everything else passes
// through unchanged.
type watchPackage struct {
	mechs.Package
	w *ioWatch
}

func (p watchPackage) AcquireCredentials(req mechs.CredentialRequest) (mechs.Credential, error) {
	c, err := p.Package.AcquireCredentials(req)
	if err != nil {
		return nil, err
	}
	return watchCredential{Credential: c, w: p.w}, nil
}

type watchCredential struct {
	mechs.Credential
	w *ioWatch
}

func (c watchCredential) NewInitiator(p mechs.InitiatorParams) (mechs.SecurityContext, error) {
	sc, err := c.Credential.NewInitiator(p)
	if err != nil {
		return nil, err
	}
	return watchContext{SecurityContext: sc, side: "client", w: c.w}, nil
}

func (c watchCredential) NewAcceptor(p mechs.AcceptorParams) (mechs.SecurityContext, error) {
	sc, err := c.Credential.NewAcceptor(p)
	if err != nil {
		return nil, err
	}
	return watchContext{SecurityContext: sc, side: "server", w: c.w}, nil
}

type watchContext struct {
	mechs.SecurityContext
	side string
	w    *ioWatch
}

func (c watchContext) Step(in *mechs.StepInput) mechs.StepResult {
	r := c.SecurityContext.Step(in)
	if r.IO == nil {
		return r
	}
	io := *r.IO
	io.Performer = watchPerformer{inner: io.Performer, side: c.side, w: c.w}
	r.IO = &io
	return r
}

// watchPerformer performs an IORequest through the mechanism's own
// performer, reporting its start and end to w.
type watchPerformer struct {
	inner mechs.IOPerformer
	side  string
	w     *ioWatch
}

func (p watchPerformer) Perform(ctx context.Context, req *mechs.IORequest) ([]byte, error) {
	p.w.send(ctx, ioEvent{side: p.side, start: true, realm: req.Realm})
	start := time.Now()
	reply, err := p.inner.Perform(ctx, req)
	p.w.send(ctx, ioEvent{side: p.side, realm: req.Realm, exchanges: p.w.takeExchanges(), err: err, elapsed: time.Since(start)})
	return reply, err
}
