package kdc

import (
	"strconv"
	"sync"
	"time"

	"github.com/asyncsspi/asyncsspi/mechs"
	"github.com/asyncsspi/asyncsspi/status"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/types"
)

// RequestFreshness is how long an operation re-sends the same request bytes
// when the exchange that carried them was abandoned (every caller waiting on
// it cancelled, so that no reply was fed back): after it, the next caller
// gets a new request (new nonce, new timestamps). One minute is well inside
// the five minutes of clock skew a KDC allows a pre-authentication timestamp
// or a TGS authenticator, and inside MIT's two-minute lookaside cache, which
// answers a repeated request with the reply it already gave.
const RequestFreshness = time.Minute

// maxOps bounds the operations a Client shares at once; past it, those
// with no exchange in flight are dropped from the table (their callers keep
// them) before a new one is added.
const maxOps = 4096

// Op is one operation of a Client that needs KDC exchanges: a service
// ticket, a TGT (a login, a renewal) or a forwarded TGT. It is a sans-I/O
// state machine in the manner of MIT's krb5_init_creds_step and
// krb5_tkt_creds_step: Next returns the request to send (a DER AS-REQ or
// TGS-REQ as a mechs.IORequest whose Performer is the Client's Transport)
// or the outcome; the caller performs the request wherever it does I/O and
// feeds the reply, or the failure, to Step, which decodes and checks it and
// returns the next request (the pre-authenticated AS-REQ after
// KDC_ERR_PREAUTH_REQUIRED, the TGS-REQ after the AS-REP, a retry after
// KRB_AP_ERR_TKT_EXPIRED) or the outcome.
//
// Sharing: concurrent callers that need the same ticket from the same
// Client get the same Op, and Next gives each the same *mechs.IORequest
// (same Key, same Message), so an engine that joins equal requests performs
// one exchange. Each caller then feeds the reply: the first to do so has it
// processed (decrypted, its nonce checked, the ticket cached), under the
// Op's lock; the others find the Op moved on and get its new state. When
// the Client's Transport performs a request it also hands the reply to the
// Op, so that a caller that joins after the exchange ended gets the outcome
// without another exchange. A request whose exchange was abandoned is sent
// again by the next caller, the same bytes for RequestFreshness and then a
// new request. A failed Op leaves the Client's table at once: the next
// caller starts afresh.
//
// All methods are safe for concurrent use. An Op starts no goroutine and
// holds no socket.
type Op struct {
	c     *Client
	kind  opKind
	key   string // in the Client's table
	sname types.PrincipalName
	realm string

	// mu guards everything below; it is held while a reply is processed
	// and the next request built. Lock order: an Op before its sub.
	mu      sync.Mutex
	phase   phase
	cur     *round // the request this Op waits on, if any
	sub     *Op    // the TGT or login operation this Op waits on, if any
	tgt     *Ticket
	asReq   messages.ASReq
	tgsReq  messages.TGSReq
	hint    etypeInfo // what the KDC told us about the client's key
	sentPA  bool
	usedOld bool // the AS-REQ's PA-ENC-TIMESTAMP came from a hint of an earlier login
	rounds  int  // AS-REQs sent, bounded
	retried bool // a TGS-REQ was retried after KRB_AP_ERR_TKT_EXPIRED
	fallbk  *Ticket
	done    bool
	tkt     *Ticket
	err     error
}

type opKind uint8

const (
	opLogin   opKind = iota // an AS exchange (or, with a ticket cache only, its TGT)
	opTGT                   // a fresh TGT: renewed, or logged in again
	opService               // a service ticket
	opForward               // a forwarded TGT for delegation
)

type phase uint8

const (
	phStart      phase = iota
	phWaitSub          // sub runs (the TGT, or a login after KRB_AP_ERR_TKT_EXPIRED)
	phAS               // cur is an AS-REQ
	phRenew            // cur is a TGS-REQ renewing the TGT
	phTGS              // cur is a TGS-REQ for the ticket
	phForwardTGS       // cur is a TGS-REQ for a forwarded TGT
)

// round is one request an Op has built: the IORequest every caller of the
// Op returns, and what the Transport saw of its exchanges. Its mu is taken
// by the Transport's I/O side and never held while anything else is.
type round struct {
	io    *mechs.IORequest
	built time.Time

	mu       sync.Mutex
	inflight int    // exchanges of this request under way (Perform, or a synchronous caller's claim)
	reply    []byte // the first reply an exchange brought back
	err      error  // or the first failure (not a cancellation)
	changed  chan struct{}
	retired  time.Time // when the Op moved past the request (real time)
}

// kept, begin, end: exchangeTap, called by Transport.Perform.
func (r *round) kept() ([]byte, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.reply, r.reply != nil
}

func (r *round) retire(now time.Time) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.retired = now
	return r.reply != nil
}

func (r *round) expired(now time.Time) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return !r.retired.IsZero() && now.Sub(r.retired) > RequestFreshness
}

func (r *round) begin() {
	r.mu.Lock()
	r.inflight++
	r.mu.Unlock()
}

func (r *round) end(reply []byte, err error, cancelled bool) {
	r.mu.Lock()
	r.inflight--
	if r.reply == nil && r.err == nil {
		// A reply is kept however the exchange ended; a failure only
		// when it was not the caller giving up (the request is then
		// abandoned, and the next caller sends it again).
		switch {
		case err == nil:
			r.reply = reply
		case !cancelled:
			r.err = err
		}
	}
	r.notifyLocked()
	r.mu.Unlock()
}

func (r *round) notifyLocked() {
	if r.changed != nil {
		close(r.changed)
		r.changed = nil
	}
}

// outcome returns what an exchange of the request brought back, if any,
// and whether one is under way.
func (r *round) outcome() (reply []byte, err error, inflight bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.reply, r.err, r.inflight > 0
}

// claim is how a synchronous caller takes a request to perform: mine when
// no exchange of it is under way and none has ended with an outcome (the
// caller must then perform it and call release); otherwise a channel that
// is closed when that changes (nil when an outcome is there already).
func (r *round) claim() (wait <-chan struct{}, mine bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case r.reply != nil || r.err != nil:
		return nil, false
	case r.inflight > 0:
		if r.changed == nil {
			r.changed = make(chan struct{})
		}
		return r.changed, false
	}
	r.inflight++
	return nil, true
}

func (r *round) release() {
	r.mu.Lock()
	r.inflight--
	r.notifyLocked()
	r.mu.Unlock()
}

// Next returns what the Op needs now: a request to perform (shared with
// every caller of the Op: read it, never write to it), or, when it is
// over, its ticket or error. It may do CPU work: build a request, or
// process a reply the Transport kept for it.
func (o *Op) Next() (*mechs.IORequest, *Ticket, error) {
	return o.Step(nil, nil, nil)
}

// Step gives the Op the outcome of req, a request Next or Step returned:
// the reply Perform returned, or its error. It returns what the Op needs
// next, as Next does. A reply to a request the Op has moved past (another
// caller fed it first, or it was replaced) is ignored. An error fails the
// Op, unless the Op has moved past req.
func (o *Op) Step(req *mechs.IORequest, reply []byte, ioErr error) (*mechs.IORequest, *Ticket, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if req != nil {
		o.feedLocked(req, reply, ioErr)
	}
	return o.advanceLocked()
}

// feedLocked applies the outcome of req, if req is what o (or its sub)
// waits on.
func (o *Op) feedLocked(req *mechs.IORequest, reply []byte, ioErr error) {
	switch {
	case o.done:
	case o.sub != nil:
		o.sub.mu.Lock()
		o.sub.feedLocked(req, reply, ioErr)
		o.sub.mu.Unlock()
	case o.cur != nil && o.cur.io == req:
		if ioErr != nil {
			o.ioFailedLocked(noAuthority(ioErr))
		} else {
			o.replyLocked(reply)
		}
	}
}

// advanceLocked moves o on as far as it goes without I/O.
func (o *Op) advanceLocked() (*mechs.IORequest, *Ticket, error) {
	for {
		if o.done {
			return nil, o.tkt, o.err
		}
		if err := o.c.closedErr(); err != nil {
			o.finishLocked(nil, err)
			continue
		}
		switch {
		case o.sub != nil:
			o.sub.mu.Lock()
			req, t, err := o.sub.advanceLocked()
			o.sub.mu.Unlock()
			if req != nil {
				return req, nil, nil
			}
			o.sub = nil
			o.subDoneLocked(t, err)
		case o.cur != nil:
			r := o.cur
			reply, err, inflight := r.outcome()
			switch {
			case reply != nil:
				o.replyLocked(reply)
			case err != nil:
				o.ioFailedLocked(noAuthority(err))
			case !inflight && o.c.now().Sub(r.built) > RequestFreshness:
				// Abandoned long ago: build the request anew, unless the
				// TGT it was built with has ended since (a TGS-REQ with
				// it would only be refused): then start over, with a
				// fresh TGT or the reason there is none.
				o.retireLocked()
				if o.tgt != nil && !o.tgt.Valid(o.c.now(), o.c.skew) {
					o.tgt, o.phase = nil, phStart
					continue
				}
				o.buildLocked()
			default:
				return r.io, nil, nil
			}
		case o.phase == phStart:
			o.startLocked()
		default:
			o.finishLocked(nil, status.Errorf(status.SEC_E_INTERNAL_ERROR, mech, "kdc: operation stalled"))
		}
	}
}

// finishLocked ends o with t or err and takes it out of the Client's
// table, so that the next caller starts afresh (or finds t in the cache).
func (o *Op) finishLocked(t *Ticket, err error) {
	o.retireLocked()
	o.done, o.tkt, o.err = true, t, err
	o.c.dropOp(o)
}

// retireLocked forgets the current request.
func (o *Op) retireLocked() {
	if o.cur != nil {
		o.c.transport.retireTap(o.cur.io.Key)
		o.cur = nil
	}
}

// buildLocked builds the request of o's phase and makes it current.
func (o *Op) buildLocked() {
	var (
		realm string
		b     []byte
		err   error
	)
	switch o.phase {
	case phAS:
		realm = o.c.realm
		b, err = o.buildASLocked()
	case phRenew:
		realm = o.tgt.SRealm
		b, err = o.buildTGSLocked(o.tgt.Server, o.tgt.SRealm, optRenew)
	case phTGS:
		realm = o.tgt.SRealm
		b, err = o.buildTGSLocked(o.sname, o.realm, 0)
	case phForwardTGS:
		realm = o.tgt.SRealm
		b, err = o.buildTGSLocked(o.tgt.Server, o.tgt.SRealm, optForwarded)
	default:
		err = status.Errorf(status.SEC_E_INTERNAL_ERROR, mech, "kdc: no request to build in this phase")
	}
	if err != nil {
		o.finishLocked(nil, err)
		return
	}
	key := o.c.keyPrefix + strconv.FormatUint(o.c.nextRound(), 10)
	r := &round{built: o.c.now(), io: &mechs.IORequest{Kind: mechs.IOKDC, Realm: realm, Key: key, Message: b, Performer: o.c.transport}}
	o.cur = r
	o.c.transport.addTap(key, r)
}

func (o *Op) buildASLocked() ([]byte, error) {
	var pa []types.PAData
	if o.hint != nil {
		ts, err := o.c.encTimestamp(o.hint)
		if err != nil {
			return nil, err
		}
		pa = append(pa, ts)
	}
	req, err := o.c.newASReq(pa)
	if err != nil {
		return nil, status.New(status.SEC_E_INTERNAL_ERROR, mech, err)
	}
	b, err := req.Marshal()
	if err != nil {
		return nil, status.New(status.SEC_E_INTERNAL_ERROR, mech, err)
	}
	o.asReq, o.sentPA = req, pa != nil
	return b, nil
}

func (o *Op) buildTGSLocked(sname types.PrincipalName, realm string, opts int) ([]byte, error) {
	req, err := o.c.newTGSReq(o.tgt, sname, realm, opts)
	if err != nil {
		return nil, err
	}
	b, err := req.Marshal()
	if err != nil {
		return nil, status.New(status.SEC_E_INTERNAL_ERROR, mech, err)
	}
	o.tgsReq = req
	return b, nil
}
