package kdc

import (
	"fmt"
	"time"

	"github.com/asyncsspi/asyncsspi/status"
	"github.com/jcmturner/gokrb5/v8/iana/errorcode"
)

// The operations' state machines. Each method runs with o.mu held and
// moves o on by one decision: it builds the next request, starts waiting
// on a sub-operation, or finishes.

// maxASRounds bounds the AS-REQs of one login: without pre-authentication,
// with it, and once more when a hint remembered from an earlier login was
// stale (RFC 4120 section 3.1.1 leaves the loop to the client).
const maxASRounds = 3

// startLocked makes o's first decision: a ticket already at hand finishes
// it; otherwise it builds its first request or waits on the TGT.
func (o *Op) startLocked() {
	c := o.c
	switch o.kind {
	case opLogin:
		if !c.hasSecret() {
			// A ticket cache or a TGT alone: its TGT is the login.
			tgt := c.currentTGT()
			if tgt != nil && tgt.Valid(c.now(), c.skew) {
				o.finishLocked(tgt, nil)
				return
			}
			o.finishLocked(nil, c.noLoginErr(tgt))
			return
		}
		o.beginASLocked()
	case opTGT:
		// RFC 4120 section 3.3.3: a due TGT that is still renewable is
		// renewed (a TGS exchange with the RENEW option); otherwise a
		// new one is obtained with the password or keytab.
		tgt := c.currentTGT()
		if tgt != nil && c.fresh(tgt) {
			o.finishLocked(tgt, nil)
			return
		}
		now := c.now()
		if tgt != nil && tgt.Valid(now, c.skew) && tgt.HasFlag(flagRenewable) && now.Before(tgt.RenewTill) {
			o.tgt, o.phase = tgt, phRenew
			o.buildLocked()
			return
		}
		o.tgt = tgt
		o.renewFailedLocked(nil)
	case opService:
		cur := c.ticketByKey(o.key)
		if cur != nil && c.fresh(cur) {
			o.finishLocked(cur, nil)
			return
		}
		o.fallbk = cur // served if it cannot be replaced while still valid
		o.needTGTLocked()
	case opForward:
		if cur := c.forwardedTGT(); cur != nil && c.fresh(cur) {
			o.finishLocked(cur, nil)
			return
		}
		o.needTGTLocked()
	}
}

// needTGTLocked goes on with a fresh TGT, waiting for the Client's TGT
// operation when there is none.
func (o *Op) needTGTLocked() {
	if tgt := o.c.currentTGT(); tgt != nil && o.c.fresh(tgt) {
		o.haveTGTLocked(tgt)
		return
	}
	o.sub, o.phase = o.c.joinOp(opTGT, keyTGT, o.sname, ""), phWaitSub
}

// haveTGTLocked builds the TGS-REQ with tgt (RFC 4120 section 3.3).
func (o *Op) haveTGTLocked(tgt *Ticket) {
	o.tgt, o.phase = tgt, phTGS
	if o.kind == opForward {
		// A forwarded TGT (RFC 4120 section 2.6) needs a forwardable one.
		if !tgt.HasFlag(flagForwardable) {
			o.finishLocked(nil, status.New(status.SEC_E_DELEGATION_POLICY, mech, ErrNotForwardable))
			return
		}
		o.phase = phForwardTGS
	}
	o.buildLocked()
}

// subDoneLocked goes on once the TGT (or login) o waited on is there.
func (o *Op) subDoneLocked(tgt *Ticket, err error) {
	if err != nil {
		o.failLocked(err)
		return
	}
	o.haveTGTLocked(tgt)
}

// beginASLocked starts an AS exchange (RFC 4120 section 3.1). The first
// AS-REQ carries PA-ENC-TIMESTAMP when an earlier login told us the etype
// and salt; otherwise it carries none, and a KDC_ERR_PREAUTH_REQUIRED
// answer's ETYPE-INFO2 (section 5.2.7.5) gives them for a second AS-REQ
// with PA-ENC-TIMESTAMP (section 5.2.7.2).
func (o *Op) beginASLocked() {
	o.hint = o.c.learntHint()
	o.usedOld, o.rounds, o.phase = o.hint != nil, 0, phAS
	o.buildLocked()
}

// renewFailedLocked goes on when the TGT could not be renewed (err, or
// nil when it was not renewable): a new login with the password or
// keytab; failing that, the current TGT while it is still valid.
func (o *Op) renewFailedLocked(err error) {
	c := o.c
	if c.hasSecret() {
		o.beginASLocked()
		return
	}
	if o.tgt != nil && o.tgt.Valid(c.now(), c.skew) {
		o.finishLocked(o.tgt, nil)
		return
	}
	if err == nil || c.fromTGT {
		// A credential started from a TGT says so whatever the renewal
		// met: what ends it is the TGT's end.
		err = c.noLoginErr(o.tgt)
	}
	o.finishLocked(nil, err)
}

// noLoginErr is why a Client without a password or keytab has no TGT to
// offer: tgt (its ticket cache's, or the TGT it was started from) is
// missing, has ended or has not started.
func (c *Client) noLoginErr(tgt *Ticket) error {
	switch {
	case c.fromTGT && tgt != nil:
		return status.New(status.SEC_E_NO_CREDENTIALS, mech, fmt.Errorf("%w (it was valid from %s to %s, the time is now %s)",
			ErrTGTEnded, tgtStart(tgt).UTC().Format(time.RFC3339), tgt.EndTime.UTC().Format(time.RFC3339), c.now().UTC().Format(time.RFC3339)))
	case c.fromTGT:
		return status.New(status.SEC_E_NO_CREDENTIALS, mech, ErrTGTEnded)
	case tgt != nil:
		return status.Errorf(status.SEC_E_NO_CREDENTIALS, mech, "kdc: the TGT has expired and there is no password or keytab to obtain another")
	}
	return status.Errorf(status.SEC_E_NO_CREDENTIALS, mech, "kdc: the ticket cache holds no valid TGT and there is no password or keytab")
}

func tgtStart(t *Ticket) time.Time {
	if t.StartTime.IsZero() {
		return t.AuthTime
	}
	return t.StartTime
}

// replyLocked processes the reply to the current request.
func (o *Op) replyLocked(reply []byte) {
	c := o.c
	o.retireLocked()
	switch o.phase {
	case phAS:
		o.rounds++
		t, retry, err := c.asReply(reply, o.asReq, o.sentPA, o.usedOld, o.hint)
		switch {
		case err != nil:
			o.failLocked(err)
		case retry != nil && o.rounds >= maxASRounds:
			o.failLocked(status.Errorf(status.SEC_E_LOGON_DENIED, mech, "kdc: pre-authentication did not converge"))
		case retry != nil:
			if o.sentPA {
				o.usedOld = false // a stale hint is retried once only
			}
			o.hint = retry
			o.buildLocked()
		default:
			c.setTGT(t, o.hint)
			o.finishLocked(t, nil)
		}
	case phRenew:
		t, err := c.tgsReply(reply, o.tgsReq, o.tgt, o.tgt.Server, o.tgt.SRealm)
		if err != nil {
			o.renewFailedLocked(err)
			return
		}
		c.setTGT(t, nil)
		o.finishLocked(t, nil)
	case phTGS:
		t, err := c.tgsReply(reply, o.tgsReq, o.tgt, o.sname, o.realm)
		if isKDCError(err, errorcode.KRB_AP_ERR_TKT_EXPIRED) && c.hasSecret() && !o.retried {
			// The KDC holds the TGT expired (clocks differ): log in
			// again once and retry.
			o.retried = true
			o.sub, o.phase = c.joinOp(opLogin, keyLogin, o.sname, ""), phWaitSub
			return
		}
		if isKDCError(err, errorcode.KRB_AP_ERR_TKT_EXPIRED) && c.fromTGT {
			// The KDC holds the TGT the credential started from ended,
			// and there is no logging in again.
			o.failLocked(status.New(status.SEC_E_NO_CREDENTIALS, mech, fmt.Errorf("%w: %w", ErrTGTEnded, err)))
			return
		}
		if err != nil {
			o.failLocked(err)
			return
		}
		c.storeTicket(o.key, t)
		o.finishLocked(t, nil)
	case phForwardTGS:
		t, err := c.tgsReply(reply, o.tgsReq, o.tgt, o.tgt.Server, o.tgt.SRealm)
		if err != nil {
			o.failLocked(err)
			return
		}
		c.setForwardedTGT(t)
		o.finishLocked(t, nil)
	default:
		o.finishLocked(nil, status.Errorf(status.SEC_E_INTERNAL_ERROR, mech, "kdc: a reply with no request"))
	}
}

// ioFailedLocked handles an exchange that brought no reply. A renewal
// that cannot reach the KDC keeps the TGT while it is valid (a login
// would reach no KDC either).
func (o *Op) ioFailedLocked(err error) {
	o.retireLocked()
	if o.phase == phRenew && o.tgt != nil && o.tgt.Valid(o.c.now(), o.c.skew) {
		o.finishLocked(o.tgt, nil)
		return
	}
	o.failLocked(err)
}

// failLocked ends o with err; a service ticket that is due but still
// valid is served instead (unless the credential itself failed).
func (o *Op) failLocked(err error) {
	if o.kind == opService && o.fallbk != nil && o.fallbk.Valid(o.c.now(), o.c.skew) && status.CodeOf(err) != status.SEC_E_NO_CREDENTIALS {
		o.finishLocked(o.fallbk, nil)
		return
	}
	o.finishLocked(nil, err)
}
