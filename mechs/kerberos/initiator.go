package kerberos

import (
	"crypto/rand"
	"encoding/binary"
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

// buildAPReq writes the initial context token: RFC 2743 framing, TOK_ID
// 01 00 and the AP-REQ (RFC 4120 section 5.5.1) whose authenticator
// carries the 0x8003 checksum, a fresh subkey and a sequence number. The
// ticket goes in as its cached DER bytes and the authenticator is
// encrypted straight into the output buffer.
func (c *initiator) buildAPReq(cb *secctx.ChannelBindings, krbCred []byte, now time.Time, room int) ([]byte, error) {
	t := c.tkt
	sub, err := randomKey(t.key.etype)
	if err != nil {
		return nil, err
	}
	var sb [4]byte
	rand.Read(sb[:])
	// MIT keeps initial sequence numbers below 2^30 for peers that
	// treat them as signed.
	c.seq = binary.BigEndian.Uint32(sb[:]) & 0x3fffffff
	c.subkey = sub
	c.ctime = now.Truncate(time.Second)
	c.cusec = int32(now.Nanosecond() / 1000)

	gssFlags := uint32(gssIntegFlag | gssConfFlag)
	if c.req&secctx.ISC_REQ_MUTUAL_AUTH != 0 {
		gssFlags |= gssMutualFlag
	}
	if c.req&secctx.ISC_REQ_REPLAY_DETECT != 0 {
		gssFlags |= gssReplayFlag
	}
	if c.req&secctx.ISC_REQ_SEQUENCE_DETECT != 0 {
		gssFlags |= gssSequenceFlag
	}
	var bnd [16]byte
	if cb != nil {
		bnd = cb.Hash()
	}

	// The authenticator plaintext.
	a := builder{b: make([]byte, 0, 160+len(t.crealm)+len(krbCred))}
	as := a.open(app(2))
	s := a.open(tagSequence)
	a.ctxInt(0, 5)
	f := a.open(ctx(1))
	a.str(tagGeneralString, t.crealm)
	a.close(f)
	a.principal(2, t.client)
	f = a.open(ctx(3))
	cs := a.open(tagSequence)
	a.ctxInt(0, cksumTypeGSS)
	f1 := a.open(ctx(1))
	o := a.open(tagOctetString)
	a.b = appendGSSChecksum(a.b, bnd, gssFlags, krbCred)
	a.close(o)
	a.close(f1)
	a.close(cs)
	a.close(f)
	a.ctxInt(4, int64(c.cusec))
	f = a.open(ctx(5))
	a.time(c.ctime)
	a.close(f)
	a.encryptionKey(6, sub)
	a.ctxInt(7, int64(c.seq))
	a.close(s)
	a.close(as)

	// The token.
	// Length bytes reserved by size, so that closing moves nothing.
	ctLen := t.key.sealedSize(len(a.b))
	lb := func(n int) int { // long-form length bytes for n content bytes
		switch {
		case n < 0x80:
			return 0
		case n < 0x100:
			return 1
		}
		return 2
	}
	octL := lb(ctLen)
	encL := lb(ctLen + 2 + octL + 4 + 8) // SEQUENCE { [0] etype, [2] OCTET STRING }
	bodyL := lb(len(t.raw) + ctLen + 64)
	w := builder{b: make([]byte, room, room+len(t.raw)+ctLen+64)} // room: spare, in front
	g := w.openLong(0x60, bodyL)
	w.raw(oidKrb5DER)
	w.raw(tokAPReq[:])
	ap := w.openLong(app(msgTypeAPReq), bodyL)
	s = w.openLong(tagSequence, bodyL)
	w.ctxInt(0, 5)
	w.ctxInt(1, msgTypeAPReq)
	var opts uint32
	if c.req&secctx.ISC_REQ_MUTUAL_AUTH != 0 {
		opts |= apOptionMutualRequired
	}
	f = w.open(ctx(2))
	w.b = append(w.b, tagBitString, 5, 0, byte(opts>>24), byte(opts>>16), byte(opts>>8), byte(opts))
	w.close(f)
	f = w.openLong(ctx(3), lb(len(t.raw)))
	w.raw(t.raw)
	w.closeLong(f, lb(len(t.raw)))
	f = w.openLong(ctx(4), encL)
	es := w.openLong(tagSequence, encL)
	w.ctxInt(0, int64(t.key.etype))
	f2 := w.openLong(ctx(2), octL)
	o = w.openLong(tagOctetString, octL)
	if w.b, err = t.key.encrypt(w.b, usageAPReqAuth, a.b); err != nil {
		return nil, err
	}
	w.closeLong(o, octL)
	w.closeLong(f2, octL)
	w.closeLong(es, encL)
	w.closeLong(f, encL)
	w.closeLong(s, bodyL)
	w.closeLong(ap, bodyL)
	w.closeLong(g, bodyL)
	clear(a.b) // the authenticator held the subkey
	return w.b, nil
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
		return c.fail(status.SEC_E_MUTUAL_AUTH_FAILED, err)
	}
	switch tokID {
	case tokKRBError:
		ke, err := parseKRBError(inner)
		if err != nil {
			return c.fail(status.SEC_E_MUTUAL_AUTH_FAILED, err)
		}
		code := status.FromKerberos(ke.code)
		if code == status.SEC_E_INTERNAL_ERROR {
			// KRB_ERR_GENERIC and codes with no better mapping: the
			// acceptor refused us.
			code = status.SEC_E_LOGON_DENIED
		}
		return c.fail(code, ke)
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
