package kdc

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asyncsspi/asyncsspi/internal/testrealm"
	"github.com/asyncsspi/asyncsspi/mechs"
	"github.com/asyncsspi/asyncsspi/status"
	"github.com/jcmturner/gofork/encoding/asn1"
	"github.com/jcmturner/gokrb5/v8/config"
	"github.com/jcmturner/gokrb5/v8/iana/errorcode"
	"github.com/jcmturner/gokrb5/v8/iana/patype"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/types"
	"go.uber.org/goleak"
)

// countingPerformer performs requests with a Transport and counts them.
type countingPerformer struct {
	t *Transport
	n atomic.Int64
}

func (p *countingPerformer) perform(ctx context.Context, req *mechs.IORequest) ([]byte, error) {
	p.n.Add(1)
	return p.t.Perform(ctx, req)
}

// runLeg drives an operation as one engine leg would: it performs each
// request itself (no sharing by the engine) and feeds the reply back.
func runLeg(ctx context.Context, o *Op, perform func(context.Context, *mechs.IORequest) ([]byte, error)) (*Ticket, error) {
	req, t, err := o.Next()
	for req != nil {
		reply, perr := perform(ctx, req)
		req, t, err = o.Step(req, reply, perr)
	}
	return t, err
}

// Concurrent legs that need the same ticket join one Op and are handed the
// same request; the engine performs it once (here: the first leg), every
// leg feeds the same reply, and it is processed once: one TGS-REQ, one
// ticket for all.
func TestMITOpSharedByLegs(t *testing.T) {
	t.Parallel()
	s := setupMIT(t)
	c := s.client(t, ClientConfig{Principal: alice(), Password: testrealm.Password})
	must(t, c.Login(context.Background()))
	const n = 200
	ops := make([]*Op, n)
	for i := range ops {
		tkt, o, err := c.ServiceTicketOp(spnHTTP)
		if err != nil || tkt != nil || o == nil {
			t.Fatalf("leg %d: %v %v %v", i, tkt, o, err)
		}
		ops[i] = o
	}
	req, _, err := ops[0].Next()
	must(t, err)
	for i, o := range ops {
		if o != ops[0] {
			t.Fatalf("leg %d got another Op", i)
		}
		r, _, err := o.Next()
		if err != nil || r != req || !bytes.Equal(r.Message, req.Message) || r.Key != req.Key || r.Performer != c.Transport() {
			t.Fatalf("leg %d got another request", i)
		}
	}
	reply, err := c.Transport().Perform(context.Background(), req)
	must(t, err)
	var wg sync.WaitGroup
	tickets := make([]*Ticket, n)
	for i := range ops {
		wg.Add(1)
		go func() {
			defer wg.Done()
			next, tkt, err := ops[i].Step(req, reply, nil)
			if next != nil || err != nil {
				t.Errorf("leg %d: %v %v", i, next, err)
			}
			tickets[i] = tkt
		}()
	}
	wg.Wait()
	for _, tkt := range tickets {
		if tkt == nil || tkt != tickets[0] {
			t.Fatal("legs got different tickets")
		}
	}
	s.checkServiceTicket(t, tickets[0], "alice")
	if got := s.count("TGS_REQ", "for HTTP/localhost@"); got != 1 {
		t.Fatalf("%d TGS_REQs, want 1", got)
	}
	if got, ok := c.CachedServiceTicket(spnHTTP); !ok || got != tickets[0] {
		t.Fatal("ticket not cached")
	}
	// Done: the next leg starts afresh, and finds the cache.
	if tkt, o, err := c.ServiceTicketOp(spnHTTP); tkt != tickets[0] || o != nil || err != nil {
		t.Fatalf("after: %v %v %v", tkt, o, err)
	}
}

// A leg that joins after the exchange ended, before any leg fed the reply
// back, gets the outcome from the reply the Transport kept: no exchange of
// its own. (With many legs queued, the first leg's reply waits behind
// them on the CPU queue; without this each would send the request again.)
func TestMITOpJoinAfterExchange(t *testing.T) {
	t.Parallel()
	s := setupMIT(t)
	c := s.client(t, ClientConfig{Principal: alice(), Password: testrealm.Password})
	p := &countingPerformer{t: c.Transport()}
	_, o, err := c.ServiceTicketOp(spnHTTP)
	must(t, err)
	// The first leg runs the AS rounds and the TGS-REQ, each exchange
	// performed but its reply not yet fed back for the last one.
	req, _, err := o.Next()
	for err == nil && req != nil {
		var reply []byte
		if reply, err = p.perform(context.Background(), req); err != nil {
			break
		}
		var next *mechs.IORequest
		if next, _, err = o.Step(req, reply, nil); next == nil {
			t.Fatal("the operation ended without a TGS-REQ")
		}
		if bytes.Contains(next.Message, []byte("HTTP")) {
			req = next
			break
		}
		req = next
	}
	must(t, err)
	if _, err := p.perform(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	performed := p.n.Load()
	_, o2, err := c.ServiceTicketOp(spnHTTP)
	must(t, err)
	if o2 != o {
		t.Fatal("the late leg got another Op")
	}
	tkt, err := runLeg(context.Background(), o2, p.perform)
	must(t, err)
	s.checkServiceTicket(t, tkt, "alice")
	if p.n.Load() != performed {
		t.Fatal("the late leg performed an exchange")
	}
	// The first leg feeds its reply late: the Op has moved on and gives
	// it the same ticket.
	if next, t2, err := o.Step(req, []byte("stale"), nil); next != nil || err != nil || t2 != tkt {
		t.Fatalf("late feed: %v %v %v", next, t2, err)
	}
	// A leg handed the request just before the Op moved on, and asking
	// for it only now, gets the reply already received: no exchange.
	exchanges := s.realm.CountRequests("TGS_REQ") + strings.Count(s.realm.Log(), "repeated")
	if b, err := c.Transport().Perform(context.Background(), req); err != nil || len(b) == 0 {
		t.Fatalf("late Perform: %v", err)
	}
	if n := s.realm.CountRequests("TGS_REQ") + strings.Count(s.realm.Log(), "repeated"); n != exchanges {
		t.Fatal("a late Perform of a request already answered went to the KDC")
	}
	if got := s.count("TGS_REQ", "for HTTP/localhost@"); got != 1 {
		t.Fatalf("%d TGS_REQs, want 1", got)
	}
}

// A request whose exchange was abandoned (its context cancelled before a
// reply) does not wedge the Op: the next leg gets the same request again
// while it is fresh, a new one after RequestFreshness, and either way
// obtains the ticket.
func TestMITOpAbandonedRequest(t *testing.T) {
	t.Parallel()
	s := setupMIT(t)
	var offset atomic.Int64
	now := func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
	for _, stale := range []bool{false, true} {
		c := s.client(t, ClientConfig{Principal: alice(), Password: testrealm.Password, Now: now})
		must(t, c.Login(context.Background()))
		_, o, err := c.ServiceTicketOp(spnHTTP)
		must(t, err)
		req, _, err := o.Next()
		must(t, err)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := c.Transport().Perform(ctx, req); !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled exchange: %v", err)
		}
		if stale {
			offset.Add(int64(RequestFreshness + time.Second))
		}
		_, o2, err := c.ServiceTicketOp(spnHTTP)
		must(t, err)
		req2, _, err := o2.Next()
		must(t, err)
		if o2 != o || (req2 == req) == stale || (bytes.Equal(req2.Message, req.Message)) == stale {
			t.Fatalf("stale %v: same Op %v, same request %v", stale, o2 == o, req2 == req)
		}
		tkt, err := runLeg(context.Background(), o2, c.Transport().Perform)
		must(t, err)
		s.checkServiceTicket(t, tkt, "alice")
		offset.Store(0)
	}
}

// A failed Op leaves the Client's table: the next leg starts afresh.
func TestMITOpFailureDropped(t *testing.T) {
	t.Parallel()
	s := setupMIT(t)
	c := s.client(t, ClientConfig{Principal: alice(), Password: testrealm.Password})
	_, o, err := c.ServiceTicketOp("HTTP/no-such-host")
	must(t, err)
	if _, err := runLeg(context.Background(), o, c.Transport().Perform); status.CodeOf(err) != status.SEC_E_TARGET_UNKNOWN {
		t.Fatalf("%v, want SEC_E_TARGET_UNKNOWN", err)
	}
	// Every later step of the failed Op gives the same failure.
	if _, _, err := o.Next(); status.CodeOf(err) != status.SEC_E_TARGET_UNKNOWN {
		t.Fatalf("again: %v", err)
	}
	_, o2, err := c.ServiceTicketOp("HTTP/no-such-host")
	must(t, err)
	if o2 == o {
		t.Fatal("a failed Op was joined")
	}
}

// Two Clients of one principal on one Transport never share a request
// key, so an engine never joins their exchanges.
func TestOpKeysUniquePerClient(t *testing.T) {
	k := newFakeKDC(t, nil, nil)
	tr := NewTransport(WithKDCs("R", k.addr))
	defer tr.Close()
	var keys []string
	for i := 0; i < 2; i++ {
		c, err := NewClient(ClientConfig{Principal: types.NewPrincipalName(1, "alice"), Realm: "R", Password: "x", Config: config.New(), Transport: tr})
		must(t, err)
		defer c.Close()
		_, o, err := c.ServiceTicketOp("HTTP/h")
		must(t, err)
		req, _, err := o.Next()
		must(t, err)
		if req.Key == "" || req.Kind != mechs.IOKDC || req.Realm != "R" {
			t.Fatalf("request %+v", req)
		}
		keys = append(keys, req.Key)
	}
	if keys[0] == keys[1] {
		t.Fatalf("two Clients share the key %q", keys[0])
	}
}

// A synchronous caller whose context ends stops its exchange: nothing more
// reaches the KDC (before, the exchange went on under the Client's
// lifetime until Close, sending for the whole schedule).
func TestServiceTicketCancelStopsExchange(t *testing.T) {
	k := newFakeKDC(t, nil, nil)
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	const stagger = 30 * time.Millisecond
	tr := NewTransport(WithKDCs("R", k.addr), WithStagger(stagger), WithTimeout(time.Hour))
	defer tr.Close()
	c, err := NewClient(ClientConfig{Principal: types.NewPrincipalName(1, "alice"), Realm: "R", Password: "x", Config: config.New(), Transport: tr})
	must(t, err)
	defer c.Close()
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		eventually(t, func() bool { return k.udpReqs.Load() > 0 }, "the AS-REQ sent")
		cancel()
	}()
	if _, err := c.ServiceTicket(ctx, "HTTP/h"); !errors.Is(err, context.Canceled) {
		t.Fatalf("%v, want context.Canceled", err)
	}
	time.Sleep(5 * time.Millisecond)
	before := k.udpReqs.Load() + k.tcpConns.Load()
	time.Sleep(20 * stagger)
	if after := k.udpReqs.Load() + k.tcpConns.Load(); after != before {
		t.Fatalf("%d more datagrams or connections after the caller gave up", after-before)
	}
}

// Another synchronous caller waiting on the same Op takes the exchange
// over when the one performing it gives up.
func TestMITServiceTicketTakeOver(t *testing.T) {
	t.Parallel()
	s := setupMIT(t)
	c := s.client(t, ClientConfig{Principal: alice(), Password: testrealm.Password})
	must(t, c.Login(context.Background()))
	_, o, err := c.ServiceTicketOp(spnHTTP)
	must(t, err)
	req, _, err := o.Next()
	must(t, err)
	r := c.Transport().roundOf(req.Key)
	if _, mine := r.claim(); !mine {
		t.Fatal("claim")
	}
	done := make(chan error, 1)
	go func() {
		_, err := c.ServiceTicket(context.Background(), spnHTTP)
		done <- err
	}()
	// The waiting caller waits while the request is claimed...
	select {
	case err := <-done:
		t.Fatalf("returned while another caller performed the request: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	r.release() // ...and performs it once the claimant gives up.
	select {
	case err := <-done:
		must(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("the waiting caller did not take over")
	}
}

// FuzzOpStep feeds arbitrary bytes to an operation as the reply to its
// AS-REQ and to its TGS-REQ: it never panics, and always either ends (a
// ticket or a *status.Error) or asks for its next request.
func FuzzOpStep(f *testing.F) {
	for _, b := range replySeeds(f) {
		f.Add(b)
	}
	c := seedClient(f, "bob", "bobpw")
	now := time.Now()
	tgt := &Ticket{
		Client: types.NewPrincipalName(1, "bob"), CRealm: seedRealm,
		Server: types.NewPrincipalName(2, "krbtgt/"+seedRealm), SRealm: seedRealm,
		SessionKey: types.EncryptionKey{KeyType: etypeAES256SHA1, KeyValue: make([]byte, 32)},
		AuthTime:   now, StartTime: now, EndTime: now.Add(10 * time.Hour),
	}
	tgt.Ticket.SName = tgt.Server
	c.setTGT(tgt, nil)
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, kind := range []opKind{opLogin, opService} {
			o := &Op{c: c, kind: kind, key: "fuzz", sname: types.NewPrincipalName(2, "HTTP/localhost"), realm: seedRealm}
			req, _, err := o.Next()
			if req == nil || err != nil {
				t.Fatalf("kind %d: no first request: %v", kind, err)
			}
			next, tkt, err := o.Step(req, data, nil)
			switch {
			case next != nil:
				if next == req || tkt != nil || err != nil {
					t.Fatalf("kind %d: next request %v with %v %v", kind, next == req, tkt, err)
				}
			case err != nil:
				var se *status.Error
				if !errors.As(err, &se) {
					t.Fatalf("kind %d: error %v is not a *status.Error", kind, err)
				}
			case tkt == nil:
				t.Fatalf("kind %d: the operation neither ended nor went on", kind)
			}
		}
	})
}

// A KDC_ERR_PREAUTH_REQUIRED (unauthenticated: anyone on the path can
// forge one) whose ETYPE-INFO2 asks for 2^32 PBKDF2 iterations fails the
// login at once with SEC_E_INVALID_TOKEN, as MIT refuses it, instead of
// holding a CPU worker for hours; so do counts below the default or of
// the wrong size.
func TestPreauthS2KParamsBounded(t *testing.T) {
	for _, params := range [][]byte{{0, 0, 0, 0}, {0, 0, 0x0f, 0xff}, {0x01, 0, 0, 0}, {0, 0x10, 0}} {
		info, err := asn1.Marshal(types.ETypeInfo2{{EType: etypeAES256SHA1, Salt: "Ralice", S2KParams: params}})
		must(t, err)
		md, err := asn1.Marshal(types.PADataSequence{{PADataType: patype.PA_ETYPE_INFO2, PADataValue: info}})
		must(t, err)
		k := messages.NewKRBError(types.NewPrincipalName(2, "krbtgt/R"), "R", errorcode.KDC_ERR_PREAUTH_REQUIRED, "")
		k.EData = md
		rep, err := k.Marshal()
		must(t, err)
		kdc := newFakeKDC(t, replyWith(rep), nil)
		tr := NewTransport(WithKDCs("R", kdc.addr))
		c, err := NewClient(ClientConfig{Principal: types.NewPrincipalName(1, "alice"), Realm: "R", Password: "x", Config: config.New(), Transport: tr})
		must(t, err)
		start := time.Now()
		err = c.Login(context.Background())
		if status.CodeOf(err) != status.SEC_E_INVALID_TOKEN {
			t.Fatalf("s2kparams %x: %v, want SEC_E_INVALID_TOKEN", params, err)
		}
		if el := time.Since(start); el > 5*time.Second {
			t.Fatalf("s2kparams %x: refused after %v", params, el)
		}
		c.Close()
		tr.Close()
	}
}

// BenchmarkOpJoin measures what a cache miss adds to each leg that shares
// an operation, beyond the one leg that processes the reply: "request", a
// first Step's join (ServiceTicketOp on the miss, Next handing out the
// shared request); "result", the resumed Step's feed of a reply the Op has
// already processed (it gives the ticket).
func BenchmarkOpJoin(b *testing.B) {
	c := seedClient(b, "bob", "bobpw")
	now := time.Now()
	tgt := &Ticket{
		Client: types.NewPrincipalName(1, "bob"), CRealm: seedRealm,
		Server: types.NewPrincipalName(2, "krbtgt/"+seedRealm), SRealm: seedRealm,
		SessionKey: types.EncryptionKey{KeyType: etypeAES256SHA1, KeyValue: make([]byte, 32)},
		AuthTime:   now, StartTime: now, EndTime: now.Add(10 * time.Hour),
	}
	tgt.Ticket.SName = tgt.Server
	c.setTGT(tgt, nil)
	b.Run("request", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, o, err := c.ServiceTicketOp("HTTP/localhost")
			if err != nil {
				b.Fatal(err)
			}
			if req, _, err := o.Next(); req == nil || err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("result", func(b *testing.B) {
		_, o, _ := c.ServiceTicketOp("HTTP/other")
		req, _, _ := o.Next()
		o.mu.Lock()
		o.finishLocked(tgt, nil)
		o.mu.Unlock()
		b.ReportAllocs()
		for b.Loop() {
			if next, t, err := o.Step(req, []byte{0}, nil); next != nil || t == nil || err != nil {
				b.Fatal(err)
			}
		}
	})
}

// Close ends the exchanges of the Client's synchronous callers, also on a
// Transport the Client does not own, and waits for them; the Client starts
// no goroutine to do so.
func TestCloseEndsSyncCallers(t *testing.T) {
	k := newFakeKDC(t, nil, nil)
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	tr := NewTransport(WithKDCs("R", k.addr), WithStagger(time.Hour), WithTimeout(time.Hour))
	defer tr.Close()
	c, err := NewClient(ClientConfig{Principal: types.NewPrincipalName(1, "alice"), Realm: "R", Password: "x", Config: config.New(), Transport: tr})
	must(t, err)
	done := make(chan error, 2)
	for i := 0; i < 2; i++ { // one performs, one waits on it
		go func() {
			_, err := c.ServiceTicket(context.Background(), "HTTP/h")
			done <- err
		}()
	}
	eventually(t, func() bool { return k.udpReqs.Load() > 0 }, "the AS-REQ sent")
	closed := make(chan struct{})
	go func() { c.Close(); close(closed) }()
	for i := 0; i < 2; i++ {
		select {
		case err := <-done:
			if !errors.Is(err, ErrClosed) {
				t.Fatalf("%v, want ErrClosed", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("Close did not end the synchronous callers")
		}
	}
	<-closed
	if n := k.udpReqs.Load(); n != 1 {
		t.Fatalf("%d datagrams, want the one AS-REQ", n)
	}
}
