package kerberos

import (
	"context"
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

// ticketSource gives an initiator credential its tickets. cached does no
// I/O; fetch and forwardedTGT do (they run inside an IORequest).
type ticketSource interface {
	cached(spn string) (*svcTicket, bool)
	fetch(ctx context.Context, spn string) (*svcTicket, error)
	// forwardedTGT returns a forwardable TGT for delegation, or nil when
	// the client has none.
	forwardedTGT(ctx context.Context) (*svcTicket, error)
	close() error
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
	fetching *ticketFetch // the ticket fetch this leg waits on
	tkt      *svcTicket
	subkey   *key
	seq      uint32
	ctime    time.Time
	cusec    int32
	retFlag  uint64
}

// ioReply is what an initiator's ticket fetch found.
type ioReply struct {
	tkt *svcTicket
	tgt *svcTicket
}

// ticketFetch obtains a service ticket (and, for delegation, a forwarded
// TGT) through the credential's ticket source. It is the IOPerformer of the
// initiator's one IORequest; the reply's bytes are empty and the tickets
// stay in reply, which the initiator reads on its next Step.
type ticketFetch struct {
	src   ticketSource
	spn   string
	deleg bool
	reply ioReply
}

// Perform implements mechs.IOPerformer.
func (f *ticketFetch) Perform(ctx context.Context, _ *mechs.IORequest) ([]byte, error) {
	t, err := f.src.fetch(ctx, f.spn)
	if err != nil {
		return nil, err
	}
	f.reply = ioReply{tkt: t}
	if f.deleg {
		// No forwardable TGT is not an error: the context is made
		// without delegation.
		f.reply.tgt, _ = f.src.forwardedTGT(ctx)
	}
	return nil, nil
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
	var tgt *svcTicket
	switch f := c.fetching; {
	case in.IOErr != nil:
		c.fetching = nil
		return c.fail(status.CodeOf(in.IOErr), in.IOErr)
	case f != nil:
		c.fetching = nil
		if f.reply.tkt == nil {
			return c.fail(status.SEC_E_INTERNAL_ERROR, errors.New("kerberos: unexpected I/O reply"))
		}
		c.tkt, tgt = f.reply.tkt, f.reply.tgt
	default:
		t, ok := c.cred.src.cached(c.spn)
		if !ok || c.delegate() {
			c.fetching = &ticketFetch{src: c.cred.src, spn: c.spn, deleg: c.delegate()}
			return mechs.StepResult{IO: &mechs.IORequest{Kind: mechs.IOKDC, Realm: c.cred.realm, Performer: c.fetching}}
		}
		c.tkt = t
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
