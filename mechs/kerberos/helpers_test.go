package kerberos

import (
	"context"
	"sync"
	"testing"
	"time"

	secctx "github.com/asyncsspi/asyncsspi/context"
	"github.com/asyncsspi/asyncsspi/mechs"
	"github.com/asyncsspi/asyncsspi/replay"
	"github.com/asyncsspi/asyncsspi/status"
	"github.com/jcmturner/gokrb5/v8/keytab"
	"golang.org/x/crypto/cryptobyte"
	"golang.org/x/crypto/cryptobyte/asn1"
)

// Unit tests use tickets made locally: an EncTicketPart encrypted in a
// keytab key, as a KDC would. The tests against a real MIT KDC are in
// interop_test.go.

const (
	testRealm = "EXAMPLE.ORG"
	testSPN   = "HTTP/host.example.org"
)

type testEnv struct {
	t      testing.TB
	now    time.Time
	clock  func() time.Time
	pkg    *Package
	kt     *keytab.Keytab
	svcKey *key
	src    *fakeSource
	rc     *replay.Memory
}

func newTestEnv(t testing.TB, opts ...Option) *testEnv {
	t.Helper()
	e := &testEnv{t: t, now: time.Date(2026, 11, 22, 10, 0, 0, 123456000, time.UTC)}
	e.clock = func() time.Time { return e.now }
	// Each test environment has a replay cache of its own, as a process
	// would: the process's default is shared by every test of the
	// package, whose clocks differ.
	e.rc = replay.NewMemory()
	e.pkg = New(append([]Option{WithClock(func() time.Time { return e.clock() }), WithReplayCache(e.rc)}, opts...)...)
	e.kt = keytab.New()
	if err := e.kt.AddEntry(testSPN, testRealm, "service password", e.now, 3, etypeAES256SHA1); err != nil {
		t.Fatal(err)
	}
	ek, _, err := e.kt.GetEncryptionKey(principalName(nameTypeSrvInst, []string{"HTTP", "host.example.org"}), testRealm, 3, etypeAES256SHA1)
	if err != nil {
		t.Fatal(err)
	}
	e.svcKey, _ = keyFrom(ek)
	e.src = &fakeSource{env: e, tickets: map[string]*svcTicket{}}
	return e
}

// makeTicket encrypts an EncTicketPart (RFC 4120 5.3) for sname in k.
func (e *testEnv) makeTicket(k *key, kvno int32, sname principal, sessEtype int32, start, end time.Time, flags uint32) *svcTicket {
	e.t.Helper()
	sess, err := randomKey(sessEtype)
	if err != nil {
		e.t.Fatal(err)
	}
	client := principal{nameType: nameTypePrincipal, parts: []string{"alice"}}
	type cont = func(*cryptobyte.Builder)
	explicit := func(b *cryptobyte.Builder, n int, f cont) { b.AddASN1(ctxTag(n), f) }
	p := cryptobyte.NewBuilder(nil)
	p.AddASN1(appTag(3), func(b *cryptobyte.Builder) {
		b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
			explicit(b, 0, func(b *cryptobyte.Builder) {
				b.AddASN1BitString([]byte{byte(flags >> 24), byte(flags >> 16), byte(flags >> 8), byte(flags)})
			})
			explicit(b, 1, func(b *cryptobyte.Builder) { addEncryptionKey(b, sess) })
			explicit(b, 2, func(b *cryptobyte.Builder) { addString(b, asn1.GeneralString, testRealm) })
			explicit(b, 3, func(b *cryptobyte.Builder) { addPrincipal(b, client) })
			explicit(b, 4, func(b *cryptobyte.Builder) { // TransitedEncoding, empty
				b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
					explicit(b, 0, func(b *cryptobyte.Builder) { b.AddASN1Int64(1) })
					explicit(b, 1, func(b *cryptobyte.Builder) { b.AddASN1OctetString(nil) })
				})
			})
			for i, tm := range []time.Time{start, start, end} {
				explicit(b, 5+i, func(b *cryptobyte.Builder) { addTime(b, tm) })
			}
		})
	})
	part, err := p.Bytes()
	if err != nil {
		e.t.Fatal(err)
	}
	ct, err := k.encrypt(nil, usageTicket, part)
	if err != nil {
		e.t.Fatal(err)
	}
	w := cryptobyte.NewBuilder(nil)
	w.AddASN1(appTag(1), func(b *cryptobyte.Builder) {
		b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
			explicit(b, 0, func(b *cryptobyte.Builder) { b.AddASN1Int64(5) })
			explicit(b, 1, func(b *cryptobyte.Builder) { addString(b, asn1.GeneralString, testRealm) })
			explicit(b, 2, func(b *cryptobyte.Builder) { addPrincipal(b, sname) })
			explicit(b, 3, func(b *cryptobyte.Builder) {
				b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
					explicit(b, 0, func(b *cryptobyte.Builder) { b.AddASN1Int64(int64(k.etype)) })
					explicit(b, 1, func(b *cryptobyte.Builder) { b.AddASN1Int64(int64(kvno)) })
					explicit(b, 2, func(b *cryptobyte.Builder) { b.AddASN1OctetString(ct) })
				})
			})
		})
	})
	raw, err := w.Bytes()
	if err != nil {
		e.t.Fatal(err)
	}
	return &svcTicket{client: client, crealm: testRealm, server: sname, srealm: testRealm, raw: raw, key: sess,
		flags: flags, authTime: start, startTime: start, endTime: end}
}

func (e *testEnv) ticket() *svcTicket {
	return e.makeTicket(e.svcKey, 3, principal{nameType: nameTypeSrvInst, parts: []string{"HTTP", "host.example.org"}},
		etypeAES256SHA1, e.now.Add(-time.Minute), e.now.Add(10*time.Hour), ticketFlagForwardable)
}

// fakeSource hands out locally made tickets; a miss costs one (empty)
// exchange through nopPerformer, and fetches counts them.
type fakeSource struct {
	env     *testEnv
	mu      sync.Mutex
	tickets map[string]*svcTicket
	fetches int
	err     error
	tgt     *svcTicket
}

func (s *fakeSource) cached(spn string) (*svcTicket, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.tickets[spn]
	return t, ok
}

func (s *fakeSource) serviceTicket(spn string) (*svcTicket, ticketFetch, error) {
	return nil, &fakeFetch{src: s, spn: spn}, nil
}

func (s *fakeSource) forwardedTGT() (*svcTicket, ticketFetch, error) { return s.tgt, nil, nil }
func (s *fakeSource) close() error                                   { return nil }

// fakeFetch asks for one exchange, then makes the ticket.
type fakeFetch struct {
	src *fakeSource
	spn string
}

func (f *fakeFetch) step(req *mechs.IORequest, _ []byte, err error) (*mechs.IORequest, *svcTicket, error) {
	if req == nil {
		return &mechs.IORequest{Kind: mechs.IOKDC, Realm: testRealm, Performer: nopPerformer{}}, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	s := f.src
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fetches++
	if s.err != nil {
		return nil, nil, s.err
	}
	t := s.env.ticket()
	s.tickets[f.spn] = t
	return nil, t, nil
}

// nopPerformer answers every request with an empty reply.
type nopPerformer struct{}

func (nopPerformer) Perform(context.Context, *mechs.IORequest) ([]byte, error) { return []byte{}, nil }

func (e *testEnv) initCred() *credential {
	return &credential{pkg: e.pkg, use: secctx.SECPKG_CRED_OUTBOUND, src: e.src, realm: testRealm, principal: "alice@" + testRealm}
}

func (e *testEnv) acceptCred(only string) *credential {
	e.t.Helper()
	acc, err := newAcceptorKeys(e.kt, only, e.pkg)
	if err != nil {
		e.t.Fatal(err)
	}
	return &credential{pkg: e.pkg, use: secctx.SECPKG_CRED_INBOUND, acc: acc}
}

// step runs a Step, performing any IORequest inline as the engine would.
func step(t testing.TB, sc mechs.SecurityContext, in *mechs.StepInput) mechs.StepResult {
	t.Helper()
	r := sc.Step(in)
	for r.IO != nil {
		reply, err := r.IO.Performer.Perform(context.Background(), r.IO)
		in2 := *in
		in2.IOReply, in2.IOErr = reply, err
		r = sc.Step(&in2)
	}
	return r
}

func wantStatus(t testing.TB, r mechs.StepResult, want status.Code) {
	t.Helper()
	if r.Status != want {
		t.Fatalf("status %v (%v), want %v", r.Status, r.Err, want)
	}
}

// handshake runs a full handshake and returns both contexts.
func (e *testEnv) handshake(req secctx.ISCReq, icb, acb *secctx.ChannelBindings) (*initiator, *acceptor) {
	t := e.t
	t.Helper()
	ic, err := e.initCred().NewInitiator(mechs.InitiatorParams{Target: testSPN, Req: req})
	if err != nil {
		t.Fatal(err)
	}
	ac, err := e.acceptCred("").NewAcceptor(mechs.AcceptorParams{})
	if err != nil {
		t.Fatal(err)
	}
	r := step(t, ic, &mechs.StepInput{Bindings: icb})
	mutual := req&secctx.ISC_REQ_MUTUAL_AUTH != 0
	if mutual {
		wantStatus(t, r, status.SEC_I_CONTINUE_NEEDED)
	} else {
		wantStatus(t, r, status.SEC_E_OK)
	}
	ar := ac.Step(&mechs.StepInput{Token: r.Token, Bindings: acb})
	wantStatus(t, ar, status.SEC_E_OK)
	if mutual {
		if len(ar.Token) == 0 {
			t.Fatal("no AP-REP")
		}
		r = ic.Step(&mechs.StepInput{Token: ar.Token})
		wantStatus(t, r, status.SEC_E_OK)
		if !secctx.ISCRet(r.Flags).Has(secctx.ISC_RET_MUTUAL_AUTH) {
			t.Fatalf("flags %v lack ISC_RET_MUTUAL_AUTH", secctx.ISCRet(r.Flags))
		}
	} else if len(ar.Token) != 0 {
		t.Fatal("AP-REP without mutual authentication")
	}
	return ic.(*initiator), ac.(*acceptor)
}
