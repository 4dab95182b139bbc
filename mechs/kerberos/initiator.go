package kerberos

import (
	"errors"
	"time"

	secctx "github.com/asyncsspi/asyncsspi/context"
	"github.com/asyncsspi/asyncsspi/mechs"
	"github.com/asyncsspi/asyncsspi/status"
)

// svcTicket is a service ticket as the initiator uses it: the ticket's
// DER bytes (marshalled once, when the ticket enters the cache) and its
// session key with the key schedules derived once per ticket.
type svcTicket struct {
	client                                  principal
	crealm                                  string
	server                                  principal
	srealm                                  string
	raw                                     []byte // DER of the Ticket
	key                                     *key
	flags                                   uint32
	authTime, startTime, endTime, renewTill time.Time
}

// ticketSource gives an initiator credential its tickets. None of its
// methods does I/O: a ticket that is not at hand comes with the
// ticketFetch that obtains it, whose KDC exchanges the initiator returns
// to the engine as IORequests.
type ticketSource interface {
	// cached returns spn's ticket when it is at hand and fresh; it is the
	// fast path of every leg and allocates nothing.
	cached(spn string) (*svcTicket, bool)
	// serviceTicket returns spn's ticket, or the fetch that obtains it.
	serviceTicket(spn string) (*svcTicket, ticketFetch, error)
	// forwardedTGT returns a forwardable TGT for delegation, or the fetch
	// that obtains it, or neither when the client has none.
	forwardedTGT() (*svcTicket, ticketFetch, error)
	close() error
}

// ticketFetch is an operation that obtains a ticket through KDC exchanges
// (a kdc.Op, shared by every leg that needs the same ticket). step feeds
// it the outcome of req, the request it returned last (nil, with no
// outcome, on the first call), and returns the next request to perform,
// or the ticket. It runs on the CPU worker: building requests, decrypting
// and checking replies.
type ticketFetch interface {
	step(req *mechs.IORequest, reply []byte, err error) (*mechs.IORequest, *svcTicket, error)
}

type initState int

const (
	initStart initState = iota
	initWaitAPRep
	initDone
	initFailed
)

// initiator is the client side of one krb5 GSS context (RFC 4121). It is
// a state machine: initStart builds the AP-REQ (after an IORequest for the
// ticket when it is not cached), initWaitAPRep verifies the AP-REP when
// mutual authentication was asked.
type initiator struct {
	session
	cred   *credential
	spn    string
	target principal
	req    secctx.ISCReq

	state    initState
	reauth   bool
	fetching *fetchState // the tickets this leg waits on, between its Steps
	tkt      *svcTicket
	subkey   *key
	seq      uint32
	ctime    time.Time
	cusec    int32
	retFlag  uint64
}

// fetchState is what an initiator that waits on KDC exchanges keeps
// between its Steps: the fetch under way, the request it returned for it,
// and the service ticket once it has it (delegation then fetches the
// forwarded TGT).
type fetchState struct {
	op  ticketFetch
	req *mechs.IORequest
	fwd bool // op obtains the forwarded TGT
	tkt *svcTicket
	tgt *svcTicket
}

func (c *initiator) Step(in *mechs.StepInput) mechs.StepResult {
	r, spare := c.StepWithRoom(in, 0)
	r.Token = r.Token[spare:]
	return r
}

// StepWithRoom is Step with room spare bytes in front of the AP-REQ
// (mechs.RoomStepper).
func (c *initiator) StepWithRoom(in *mechs.StepInput, room int) (mechs.StepResult, int) {
	room = min(max(room, 0), mechs.MaxRoom)
	r := c.step(in, room)
	if len(r.Token) == 0 || r.Status.IsError() || r.IO != nil {
		return r, 0
	}
	return r, room
}

func (c *initiator) step(in *mechs.StepInput, room int) mechs.StepResult {
	switch c.state {
	case initStart:
		return c.stepStart(in, room)
	case initWaitAPRep:
		return c.stepAPRep(in)
	case initDone:
		if len(in.Token) != 0 {
			// Without mutual authentication the context completes with
			// the AP-REQ; the acceptor's refusal of it may still come
			// back (a KRB-ERROR in a SPNEGO reject, say).
			if tokID, inner, err := parseGSS(in.Token); err == nil && tokID == tokKRBError {
				if ke, err := parseKRBError(inner); err == nil {
					return c.fail(status.FromKerberosAP(ke.Code), ke)
				}
			}
			return c.fail(status.SEC_E_INVALID_TOKEN, errors.New("kerberos: token after the context was complete"))
		}
		// Another InitializeSecurityContext after success starts a
		// re-authentication with a fresh AP-REQ.
		c.state, c.reauth = initStart, true
		return c.stepStart(in, room)
	}
	return mechs.Fail(status.SEC_E_INVALID_HANDLE, Name, errors.New("kerberos: context failed earlier"))
}

func (c *initiator) fail(code status.Code, err error) mechs.StepResult {
	c.state = initFailed
	return mechs.Fail(code, Name, err)
}

func (c *initiator) delegate() bool { return c.req&secctx.ISC_REQ_DELEGATE != 0 }

func (c *initiator) stepStart(in *mechs.StepInput, room int) mechs.StepResult {
	tgt, r, wait := c.obtainTickets(in)
	if wait {
		return r
	}
	now := c.cred.pkg.now()
	if !c.tkt.endTime.IsZero() && !now.Before(c.tkt.endTime) {
		return c.fail(status.SEC_E_CONTEXT_EXPIRED, errors.New("kerberos: service ticket expired"))
	}
	var krbCred []byte
	if tgt != nil && tgt.flags&ticketFlagForwardable != 0 {
		var err error
		if krbCred, err = buildKRBCred(c.tkt.key, tgt, now); err != nil {
			return c.fail(status.SEC_E_INTERNAL_ERROR, err)
		}
	}
	tok, err := c.buildAPReq(in.Bindings, krbCred, now, room)
	if err != nil {
		return c.fail(status.SEC_E_INTERNAL_ERROR, err)
	}
	ret := uint64(c.req) & (uint64(secctx.ISC_REQ_REPLAY_DETECT | secctx.ISC_REQ_SEQUENCE_DETECT | secctx.ISC_REQ_CONFIDENTIALITY |
		secctx.ISC_REQ_INTEGRITY | secctx.ISC_REQ_CONNECTION | secctx.ISC_REQ_ALLOCATE_MEMORY | secctx.ISC_REQ_EXTENDED_ERROR))
	if krbCred != nil {
		ret |= uint64(secctx.ISC_RET_DELEGATE)
	}
	if c.reauth {
		ret |= uint64(secctx.ISC_RET_REAUTHENTICATION)
	}
	c.retFlag = ret
	if c.req&secctx.ISC_REQ_MUTUAL_AUTH != 0 {
		c.state = initWaitAPRep
		return mechs.StepResult{Status: status.SEC_I_CONTINUE_NEEDED, Token: tok, Flags: ret, Expiry: c.tkt.endTime}
	}
	// Without mutual authentication the acceptor takes our sequence
	// number as its own and the per-message key is our subkey (RFC 4121
	// sections 4.1 and 2).
	c.own(c.subkey, nil)
	c.finish(c.subkey, false, uint64(c.seq), ret)
	return mechs.StepResult{Status: status.SEC_E_OK, Token: tok, Flags: ret, Expiry: c.tkt.endTime}
}

// obtainTickets sets c.tkt, the service ticket, and returns the
// forwardable TGT to delegate, if asked and available. When they are not
// at hand, it returns wait with the IORequest of the next KDC exchange (or
// a failure) for the leg to return; the next Step, with the exchange's
// reply, comes back here and goes on. A ticket at hand costs one cache
// lookup and no allocation.
func (c *initiator) obtainTickets(in *mechs.StepInput) (tgt *svcTicket, r mechs.StepResult, wait bool) {
	f := c.fetching
	reply, ioErr := in.IOReply, in.IOErr
	if f == nil {
		if reply != nil || ioErr != nil {
			return nil, c.fail(status.SEC_E_INTERNAL_ERROR, errors.New("kerberos: unexpected I/O reply")), true
		}
		if t, ok := c.cred.src.cached(c.spn); ok && !c.delegate() {
			c.tkt = t
			return nil, r, false
		}
		t, op, err := c.cred.src.serviceTicket(c.spn)
		if err != nil {
			return nil, c.fail(status.CodeOf(err), err), true
		}
		f = &fetchState{op: op, tkt: t}
		c.fetching = f
	}
	for {
		if f.op != nil {
			next, t, err := f.op.step(f.req, reply, ioErr)
			reply, ioErr = nil, nil
			switch {
			case next != nil:
				f.req = next
				return nil, mechs.StepResult{IO: next}, true
			case err != nil && !f.fwd:
				c.fetching = nil
				return nil, c.fail(status.CodeOf(err), err), true
			case err == nil && f.fwd:
				f.tgt = t
			case err == nil:
				f.tkt = t
			}
			// No forwardable TGT is not a failure: the context is made
			// without delegation.
			f.op, f.req = nil, nil
		}
		if f.fwd || !c.delegate() {
			break
		}
		f.fwd = true
		t, op, err := c.cred.src.forwardedTGT()
		if err == nil {
			f.tgt, f.op = t, op
		}
	}
	c.fetching = nil
	c.tkt = f.tkt
	return f.tgt, r, false
}

func (c *initiator) finish(k *key, asub bool, recvSeq uint64, ret uint64) {
	c.state = initDone
	start := c.tkt.startTime
	if start.IsZero() {
		start = c.tkt.authTime
	}
	c.establish(k, asub, uint64(c.seq), recvSeq, ret,
		c.tkt.client.String()+"@"+c.tkt.crealm, c.tkt.server.String()+"@"+c.tkt.srealm, start, c.tkt.endTime)
}

// stepAPRep verifies the acceptor's AP-REP (RFC 4120 section 3.2.5): it
// must decrypt under the ticket's session key and echo our ctime and
// cusec. Its subkey, when present, becomes the per-message key (flag
// AcceptorSubkey), and its sequence number the receive counter.
func (c *initiator) stepAPRep(in *mechs.StepInput) mechs.StepResult {
	if len(in.Token) == 0 {
		return c.fail(status.SEC_E_INVALID_TOKEN, errors.New("kerberos: no AP-REP token"))
	}
	tokID, inner, err := parseGSS(in.Token)
	if err != nil {
		if r, ok := incompleteResult(err); ok {
			// The context stays in this state: the caller supplies more.
			return r
		}
		if errors.Is(err, errTokenTooLarge) {
			return c.fail(status.SEC_E_INVALID_TOKEN, err)
		}
		return c.fail(status.SEC_E_MUTUAL_AUTH_FAILED, err)
	}
	switch tokID {
	case tokKRBError:
		// The acceptor refused our AP-REQ: its reason is the leg's status
		// (SEC_E_TIME_SKEW for KRB_AP_ERR_SKEW, ...) and the KRB-ERROR the
		// cause.
		ke, err := parseKRBError(inner)
		if err != nil {
			return c.fail(status.SEC_E_MUTUAL_AUTH_FAILED, err)
		}
		return c.fail(status.FromKerberosAP(ke.Code), ke)
	case tokAPRep:
	default:
		return c.fail(status.SEC_E_MUTUAL_AUTH_FAILED, errNotKerberos)
	}
	ed, err := parseAPRep(inner)
	if err != nil {
		return c.fail(status.SEC_E_MUTUAL_AUTH_FAILED, err)
	}
	if ed.etype != c.tkt.key.etype {
		return c.fail(status.SEC_E_MUTUAL_AUTH_FAILED, errors.New("kerberos: AP-REP enctype differs from the session key's"))
	}
	pt, err := c.tkt.key.decrypt(usageAPRepEncPart, ed.cipher)
	if err != nil {
		return c.fail(status.SEC_E_MUTUAL_AUTH_FAILED, err)
	}
	rep, err := parseEncAPRepPart(pt)
	if err != nil {
		return c.fail(status.SEC_E_MUTUAL_AUTH_FAILED, err)
	}
	if !rep.ctime.Equal(c.ctime) || rep.cusec != c.cusec {
		return c.fail(status.SEC_E_MUTUAL_AUTH_FAILED, errors.New("kerberos: AP-REP does not echo our authenticator time"))
	}
	k, asub := c.subkey, false
	if rep.hasSubkey {
		if k, err = newKey(rep.subEtype, rep.subValue); err != nil {
			return c.fail(status.SEC_E_MUTUAL_AUTH_FAILED, err)
		}
		asub = true
	}
	clear(pt)
	recv := uint64(0)
	if rep.hasSeq {
		recv = uint64(rep.seq)
	}
	ret := c.retFlag | uint64(secctx.ISC_RET_MUTUAL_AUTH)
	if asub {
		c.own(c.subkey, k)
	} else {
		c.own(c.subkey, nil)
	}
	c.finish(k, asub, recv, ret)
	return mechs.StepResult{Status: status.SEC_E_OK, Flags: ret, Expiry: c.tkt.endTime, Extra: 0}
}

func (c *initiator) QueryAttribute(attr secctx.Attribute) (any, status.Code) {
	return c.queryAttribute(attr, c.cred.pkg.Info())
}

func (c *initiator) Close() { c.close() }
