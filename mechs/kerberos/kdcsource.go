package kerberos

import (
	"encoding/binary"
	"sync"
	"time"

	"github.com/asyncsspi/asyncsspi/mechs"
	"github.com/asyncsspi/asyncsspi/mechs/kerberos/kdc"
	"github.com/asyncsspi/asyncsspi/status"
	"github.com/jcmturner/gokrb5/v8/types"
)

// kdcSource adapts a *kdc.Client to ticketSource. It remembers, per SPN,
// the conversion of the last ticket the client handed out (the DER bytes
// of the ticket and the session key with its derived key schedules), so a
// cached ticket is marshalled and its keys derived once, not per leg.
type kdcSource struct {
	c     *kdc.Client
	mu    sync.Mutex
	conv  map[*kdc.Ticket]*svcTicket
	bySPN map[string]*kdc.Ticket
}

func newKDCSource(c *kdc.Client) *kdcSource {
	return &kdcSource{c: c, conv: make(map[*kdc.Ticket]*svcTicket), bySPN: make(map[string]*kdc.Ticket)}
}

func principalName(nt int32, parts []string) types.PrincipalName {
	return types.PrincipalName{NameType: nt, NameString: parts}
}

func fromPrincipalName(p types.PrincipalName) principal {
	return principal{nameType: p.NameType, parts: p.NameString}
}

// convert returns the svcTicket for t, making it on first sight. Old
// conversions of an SPN are dropped when its ticket is replaced.
func (s *kdcSource) convert(spn string, t *kdc.Ticket) (*svcTicket, error) {
	s.mu.Lock()
	if st, ok := s.conv[t]; ok {
		s.mu.Unlock()
		return st, nil
	}
	s.mu.Unlock()
	raw, err := t.Ticket.Marshal()
	if err != nil {
		return nil, status.New(status.SEC_E_INTERNAL_ERROR, Name, err)
	}
	k, err := keyFrom(t.SessionKey)
	if err != nil {
		return nil, status.New(status.SEC_E_KDC_UNKNOWN_ETYPE, Name, err)
	}
	var fl uint32
	var fb [4]byte
	copy(fb[:], t.Flags.Bytes)
	fl = binary.BigEndian.Uint32(fb[:])
	st := &svcTicket{
		client: fromPrincipalName(t.Client), crealm: t.CRealm,
		server: fromPrincipalName(t.Server), srealm: t.SRealm,
		raw: raw, key: k, flags: fl,
		authTime: t.AuthTime, startTime: t.StartTime, endTime: t.EndTime, renewTill: t.RenewTill,
	}
	s.mu.Lock()
	if spn != "" {
		if old, ok := s.bySPN[spn]; ok && old != t {
			delete(s.conv, old)
		}
		s.bySPN[spn] = t
	}
	s.conv[t] = st
	s.mu.Unlock()
	return st, nil
}

func (s *kdcSource) cached(spn string) (*svcTicket, bool) {
	t, ok := s.c.CachedServiceTicket(spn)
	if !ok {
		return nil, false
	}
	st, err := s.convert(spn, t)
	if err != nil {
		return nil, false
	}
	return st, true
}

func (s *kdcSource) serviceTicket(spn string) (*svcTicket, ticketFetch, error) {
	t, op, err := s.c.ServiceTicketOp(spn)
	return s.result(spn, t, op, err)
}

func (s *kdcSource) forwardedTGT() (*svcTicket, ticketFetch, error) {
	t, op, err := s.c.ForwardableTGTOp()
	return s.result(forwardedKey, t, op, err)
}

// forwardedKey is the conversion cache's name for the forwarded TGT.
const forwardedKey = "\x00forwarded-tgt"

func (s *kdcSource) result(spn string, t *kdc.Ticket, op *kdc.Op, err error) (*svcTicket, ticketFetch, error) {
	switch {
	case err != nil:
		return nil, nil, err
	case op != nil:
		return nil, &kdcFetch{src: s, op: op, spn: spn}, nil
	}
	st, err := s.convert(spn, t)
	return st, nil, err
}

// kdcFetch is a leg's share of a kdc.Op: the Op is shared by every leg
// that needs the same ticket, and processes each reply once.
type kdcFetch struct {
	src *kdcSource
	op  *kdc.Op
	spn string
}

func (f *kdcFetch) step(req *mechs.IORequest, reply []byte, err error) (*mechs.IORequest, *svcTicket, error) {
	next, t, err := f.op.Step(req, reply, err)
	switch {
	case next != nil || err != nil:
		return next, nil, err
	case t == nil:
		return nil, nil, status.Errorf(status.SEC_E_INTERNAL_ERROR, Name, "kdc operation ended without a ticket")
	}
	st, err := f.src.convert(f.spn, t)
	return nil, st, err
}

func (s *kdcSource) close() error { return s.c.Close() }

// ServiceTickets is the AuthData for an outbound credential that holds
// service tickets obtained elsewhere (from another Client, a ticket cache
// read by the caller, or a test KDC) and never talks to a KDC: a target
// with no ticket among them fails with SEC_E_TARGET_UNKNOWN, and
// delegation is not offered. Tickets are matched by their server name
// ("service/host", with or without "@REALM").
type ServiceTickets struct {
	Tickets []*kdc.Ticket
}

// staticSource serves a fixed set of tickets.
type staticSource struct {
	byName map[string]*svcTicket
}

func newStaticSource(st *ServiceTickets) (*staticSource, string, error) {
	s := &staticSource{byName: make(map[string]*svcTicket)}
	conv := newKDCSource(nil)
	realm := ""
	for _, t := range st.Tickets {
		if t == nil {
			continue
		}
		c, err := conv.convert("", t)
		if err != nil {
			return nil, "", err
		}
		name := c.server.String()
		s.byName[name] = c
		s.byName[name+"@"+c.srealm] = c
		realm = c.crealm
	}
	if len(s.byName) == 0 {
		return nil, "", status.Errorf(status.SEC_E_NO_CREDENTIALS, Name, "no tickets")
	}
	return s, realm, nil
}

func (s *staticSource) cached(spn string) (*svcTicket, bool) {
	t, ok := s.byName[spn]
	return t, ok
}

func (s *staticSource) serviceTicket(spn string) (*svcTicket, ticketFetch, error) {
	if t, ok := s.byName[spn]; ok {
		return t, nil, nil
	}
	return nil, nil, status.Errorf(status.SEC_E_TARGET_UNKNOWN, Name, "no ticket for "+quote(spn)+" in the credential")
}

func (s *staticSource) forwardedTGT() (*svcTicket, ticketFetch, error) { return nil, nil, nil }
func (s *staticSource) close() error                                   { return nil }

// expiry is the latest end time among the tickets: the credential serves
// some target until then.
func (s *staticSource) expiry() time.Time {
	var end time.Time
	for _, t := range s.byName {
		if t.endTime.After(end) {
			end = t.endTime
		}
	}
	return end
}

// expiry is when the client's TGT ends (see kdc.Client.Expiry).
func (s *kdcSource) expiry() time.Time { return s.c.Expiry() }
