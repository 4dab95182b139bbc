package kdc

import (
	"context"

	"github.com/jcmturner/gokrb5/v8/types"
)

// The Client's operations: how callers start or join them (the *Op
// methods, for an engine that performs the requests itself) and the
// synchronous methods that drive them with the Transport inline.

// ServiceTicketOp returns spn's ticket from the cache when one is valid and
// not due for renewal, or else the operation that obtains it (joined if
// one is under way): a TGS exchange, after an AS exchange or a renewal when
// the TGT is missing or due. spn is read as ParseSPN reads it. The
// returned Ticket is shared: treat it as read-only.
func (c *Client) ServiceTicketOp(spn string) (*Ticket, *Op, error) {
	t, sname, realm, err := c.lookup(spn)
	switch {
	case t != nil:
		return t, nil, nil
	case err != nil:
		return nil, nil, err
	}
	if err := c.closedErr(); err != nil {
		return nil, nil, err
	}
	return nil, c.joinOp(opService, spnKey(sname, realm), sname, realm), nil
}

// ForwardableTGTOp returns a TGT for delegation (a KRB-CRED, RFC 4120
// section 3.6) from the cache, or the operation that obtains it: a ticket
// for krbtgt/REALM marked FORWARDED, from the TGT with the FORWARDED option
// (RFC 4120 section 2.6). The operation fails with SEC_E_DELEGATION_POLICY
// when the TGT is not forwardable.
func (c *Client) ForwardableTGTOp() (*Ticket, *Op, error) {
	if t := c.forwardedTGT(); t != nil && c.fresh(t) {
		return t, nil, nil
	}
	if err := c.closedErr(); err != nil {
		return nil, nil, err
	}
	return nil, c.joinOp(opForward, keyForward, types.PrincipalName{}, ""), nil
}

// TGTOp returns a valid TGT not yet due for renewal, or the operation that
// renews it (a TGS exchange with the RENEW option, RFC 4120 section 3.3.3)
// or logs in again.
func (c *Client) TGTOp() (*Ticket, *Op, error) {
	if t := c.currentTGT(); t != nil && c.fresh(t) {
		return t, nil, nil
	}
	if err := c.closedErr(); err != nil {
		return nil, nil, err
	}
	return nil, c.joinOp(opTGT, keyTGT, types.PrincipalName{}, ""), nil
}

// LoginOp returns the operation that obtains a new TGT: an AS exchange
// when the Client has a password or keytab; with a ticket cache only, it
// ends at once with the cache's TGT, or SEC_E_NO_CREDENTIALS when that is
// not valid.
func (c *Client) LoginOp() (*Op, error) {
	if err := c.closedErr(); err != nil {
		return nil, err
	}
	return c.joinOp(opLogin, keyLogin, types.PrincipalName{}, ""), nil
}

// Login obtains a new TGT, as LoginOp, performing the exchanges under ctx.
func (c *Client) Login(ctx context.Context) error {
	o, err := c.LoginOp()
	if err != nil {
		return err
	}
	_, err = c.drive(ctx, o)
	return err
}

// TGT returns a valid TGT, as TGTOp, performing the exchanges under ctx.
func (c *Client) TGT(ctx context.Context) (*Ticket, error) {
	t, o, err := c.TGTOp()
	if o == nil {
		return t, err
	}
	return c.drive(ctx, o)
}

// ServiceTicket returns a ticket for spn, as ServiceTicketOp, performing
// the exchanges under ctx. Concurrent callers for one SPN share one TGS
// exchange. If a due ticket cannot be replaced but is still valid, it is
// returned.
func (c *Client) ServiceTicket(ctx context.Context, spn string) (*Ticket, error) {
	t, o, err := c.ServiceTicketOp(spn)
	if o == nil {
		return t, err
	}
	return c.drive(ctx, o)
}

// ForwardableTGT returns a TGT for delegation, as ForwardableTGTOp,
// performing the exchanges under ctx.
func (c *Client) ForwardableTGT(ctx context.Context) (*Ticket, error) {
	t, o, err := c.ForwardableTGTOp()
	if o == nil {
		return t, err
	}
	return c.drive(ctx, o)
}

// drive runs o to its end on the caller's goroutine: it performs o's
// requests with the Transport under ctx and the Client's lifetime, or,
// when another caller is already performing the same request, waits for
// that exchange's outcome. When ctx ends the caller returns at once and
// leaves o to the others (its exchange, if it was performing one, ends).
func (c *Client) drive(ctx context.Context, o *Op) (*Ticket, error) {
	c.mu.Lock()
	if c.closed.Load() {
		c.mu.Unlock()
		return nil, c.closedErr()
	}
	c.drivers.Add(1)
	c.mu.Unlock()
	defer c.drivers.Done()
	closed := c.closeCtx.Done()

	req, t, err := o.Next()
	for req != nil {
		r := c.transport.roundOf(req.Key)
		if r == nil {
			// Retired since: o has moved on.
			req, t, err = o.Next()
			continue
		}
		wait, mine := r.claim()
		switch {
		case mine:
			reply, perr := c.transport.performUntil(ctx, req, closed)
			r.release()
			switch {
			case perr != nil && c.closed.Load():
				return nil, c.closedErr()
			case perr != nil && ctx.Err() != nil:
				return nil, noAuthority(ctxCause(ctx))
			}
			req, t, err = o.Step(req, reply, perr)
		case wait != nil:
			select {
			case <-wait:
			case <-closed:
				return nil, c.closedErr()
			case <-ctx.Done():
				return nil, noAuthority(ctxCause(ctx))
			}
			req, t, err = o.Next()
		default:
			req, t, err = o.Next()
		}
	}
	return t, err
}

// joinOp returns the operation under way for key, or starts one.
func (c *Client) joinOp(kind opKind, key string, sname types.PrincipalName, realm string) *Op {
	c.mu.Lock()
	defer c.mu.Unlock()
	if o := c.ops[key]; o != nil {
		return o
	}
	o := &Op{c: c, kind: kind, key: key, sname: sname, realm: realm}
	if c.closed.Load() {
		return o // fails with ErrClosed at its first step
	}
	if len(c.ops) >= maxOps {
		// Too many at once (callers that gave up leave theirs behind):
		// stop sharing them. Their callers keep them.
		clear(c.ops)
	}
	c.ops[key] = o
	return o
}

// dropOp takes a finished operation out of the table.
func (c *Client) dropOp(o *Op) {
	c.mu.Lock()
	if c.ops[o.key] == o {
		delete(c.ops, o.key)
	}
	c.mu.Unlock()
}

func (c *Client) nextRound() uint64 { return c.rounds.Add(1) }

func (c *Client) currentTGT() *Ticket {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.tgt
}

// setTGT keeps a new TGT and, from an AS exchange, the ETYPE-INFO2 that
// served it, for the next login's first AS-REQ.
func (c *Client) setTGT(t *Ticket, hint etypeInfo) {
	c.mu.Lock()
	c.tgt = t
	if hint != nil {
		c.hint = hint
	}
	c.mu.Unlock()
}

func (c *Client) learntHint() etypeInfo {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.hint
}

func (c *Client) ticketByKey(key string) *Ticket {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.tickets[key]
}

func (c *Client) storeTicket(key string, t *Ticket) {
	c.mu.Lock()
	c.tickets[key] = t
	c.mu.Unlock()
}

func (c *Client) forwardedTGT() *Ticket {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.fwdTGT
}

func (c *Client) setForwardedTGT(t *Ticket) {
	c.mu.Lock()
	c.fwdTGT = t
	c.mu.Unlock()
}
