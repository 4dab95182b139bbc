package kerberos

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	secctx "github.com/asyncsspi/asyncsspi/context"
	"github.com/asyncsspi/asyncsspi/mechs"
	"github.com/asyncsspi/asyncsspi/replay"
	"github.com/asyncsspi/asyncsspi/status"
	"github.com/jcmturner/gokrb5/v8/config"
)

// Refusals said on the wire (issue 11 item 11): with ASC_REQ_EXTENDED_ERROR
// every refusal of the acceptor carries its KRB-ERROR code (RFC 4120
// section 7.5.9), and our initiator, given that token in its AP-REP leg
// (or after completing without one), ends with the matching status and
// the KRB-ERROR as the cause.

func TestRefusalsSaidOnTheWire(t *testing.T) {
	sname := principal{nameType: nameTypeSrvInst, parts: []string{"HTTP", "host.example.org"}}
	cbA := &secctx.ChannelBindings{ApplicationData: []byte("tls-server-end-point:A")}
	cbB := &secctx.ChannelBindings{ApplicationData: []byte("tls-server-end-point:B")}
	type setup struct {
		ticket  *svcTicket // the initiator's ticket (default e.ticket())
		expired bool       // build the AP-REQ past the initiator's own expiry check
		later   time.Duration
		ini     *secctx.ChannelBindings
		acc     *secctx.ChannelBindings
		before  int // AP-REQs the acceptor accepts first
		replay  bool
	}
	for _, tc := range []struct {
		name      string
		opts      func() []Option
		setup     func(e *testEnv) setup
		acceptor  status.Code
		krb       int32
		initiator status.Code
	}{
		{"skew", nil, func(e *testEnv) setup { return setup{later: 6 * time.Minute} },
			status.SEC_E_TIME_SKEW, krbAPErrSkew, status.SEC_E_TIME_SKEW},
		{"replay", nil, func(e *testEnv) setup { return setup{replay: true} },
			status.SEC_E_LOGON_DENIED, krbAPErrRepeat, status.SEC_E_LOGON_DENIED},
		{"older than the replay cache remembers", func() []Option {
			return []Option{WithReplayCache(replay.NewMemory(replay.WithLimit(1), replay.WithShards(1)))}
		},
			func(e *testEnv) setup { return setup{before: 2} },
			status.SEC_E_TIME_SKEW, krbAPErrSkew, status.SEC_E_TIME_SKEW},
		{"wrong key", nil, func(e *testEnv) setup {
			k, _ := randomKey(etypeAES256SHA1)
			return setup{ticket: e.makeTicket(k, 3, sname, etypeAES256SHA1, e.now, e.now.Add(time.Hour), 0)}
		}, status.SEC_E_WRONG_PRINCIPAL, krbAPErrModified, status.SEC_E_WRONG_PRINCIPAL},
		{"another service", nil, func(e *testEnv) setup {
			k, _ := randomKey(etypeAES256SHA1)
			other := principal{nameType: nameTypeSrvInst, parts: []string{"HTTP", "other.example.org"}}
			return setup{ticket: e.makeTicket(k, 1, other, etypeAES256SHA1, e.now, e.now.Add(time.Hour), 0)}
		}, status.SEC_E_WRONG_PRINCIPAL, krbAPErrNotUs, status.SEC_E_WRONG_PRINCIPAL},
		{"authenticator for another client", nil, func(e *testEnv) setup {
			tk := e.ticket()
			tk.client = principal{nameType: nameTypePrincipal, parts: []string{"mallory"}}
			return setup{ticket: tk}
		}, status.SEC_E_WRONG_PRINCIPAL, krbAPErrBadMatch, status.SEC_E_WRONG_PRINCIPAL},
		{"unknown key version", nil, func(e *testEnv) setup {
			return setup{ticket: e.makeTicket(e.svcKey, 9, sname, etypeAES256SHA1, e.now, e.now.Add(time.Hour), 0)}
		}, status.SEC_E_NO_KERB_KEY, krbAPErrBadKeyVer, status.SEC_E_NO_KERB_KEY},
		{"no key of the enctype", nil, func(e *testEnv) setup {
			k, _ := randomKey(etypeAES128SHA1)
			return setup{ticket: e.makeTicket(k, 3, sname, etypeAES128SHA1, e.now, e.now.Add(time.Hour), 0)}
		}, status.SEC_E_NO_KERB_KEY, krbAPErrNoKey, status.SEC_E_NO_KERB_KEY},
		{"enctype not supported", nil, func(e *testEnv) setup {
			return setup{ticket: e.makeTicket(e.svcKey, 3, sname, etypeRC4HMAC, e.now, e.now.Add(time.Hour), 0)}
		}, status.SEC_E_KDC_UNKNOWN_ETYPE, kdcErrEtypeNoSupp, status.SEC_E_KDC_UNKNOWN_ETYPE},
		{"ticket expired", nil, func(e *testEnv) setup {
			return setup{ticket: e.makeTicket(e.svcKey, 3, sname, etypeAES256SHA1, e.now.Add(-10*time.Hour), e.now.Add(-time.Hour), 0), expired: true}
		}, status.SEC_E_CONTEXT_EXPIRED, krbAPErrTktExpired, status.SEC_E_CONTEXT_EXPIRED},
		{"ticket not yet valid", nil, func(e *testEnv) setup {
			return setup{ticket: e.makeTicket(e.svcKey, 3, sname, etypeAES256SHA1, e.now.Add(time.Hour), e.now.Add(10*time.Hour), 0)}
		}, status.SEC_E_TIME_SKEW, krbAPErrTktNYV, status.SEC_E_TIME_SKEW},
		// MIT sends KRB_ERR_GENERIC for bindings that do not match (see
		// testdata/mit_krb_error.hex); the initiator reads a refused logon.
		{"channel bindings", nil, func(e *testEnv) setup { return setup{ini: cbA, acc: cbB} },
			status.SEC_E_BAD_BINDINGS, krbErrGeneric, status.SEC_E_LOGON_DENIED},
	} {
		for _, mutual := range []bool{true, false} {
			t.Run(tc.name+map[bool]string{true: "", false: " (no mutual authentication)"}[mutual], func(t *testing.T) {
				var opts []Option
				if tc.opts != nil {
					opts = tc.opts()
				}
				e := newTestEnv(t, opts...)
				s := tc.setup(e)
				if s.ticket == nil {
					s.ticket = e.ticket()
				}
				e.src.tickets[testSPN] = s.ticket
				req := secctx.ISCReq(0)
				if mutual {
					req = secctx.ISC_REQ_MUTUAL_AUTH
				}
				cred := e.acceptCred("")
				for i := 0; i < s.before; i++ {
					// Later authenticators fill the one-entry cache.
					e.now = e.now.Add(time.Second)
					ac, _ := cred.NewAcceptor(mechs.AcceptorParams{})
					wantStatus(t, ac.Step(&mechs.StepInput{Token: e.apReqFor(t, req, nil)}), status.SEC_E_OK)
					e.now = e.now.Add(-time.Second)
				}
				ic, tok := e.initiatorAt(t, req, s.ini, s.expired)
				if s.replay {
					ac, _ := cred.NewAcceptor(mechs.AcceptorParams{})
					wantStatus(t, ac.Step(&mechs.StepInput{Token: tok}), status.SEC_E_OK)
				}
				e.now = e.now.Add(s.later)
				ac, _ := cred.NewAcceptor(mechs.AcceptorParams{Req: secctx.ASC_REQ_EXTENDED_ERROR})
				ar := ac.Step(&mechs.StepInput{Token: tok, Bindings: s.acc})
				wantStatus(t, ar, tc.acceptor)
				if got := krbErrorCode(t, ar.Token); got != tc.krb {
					t.Fatalf("KRB-ERROR %d, want %d", got, tc.krb)
				}
				r := ic.Step(&mechs.StepInput{Token: ar.Token})
				wantStatus(t, r, tc.initiator)
				var ke *KRBError
				if !errors.As(r.Err, &ke) || ke.Code != tc.krb || ke.Service != s.ticket.server.String()+"@"+testRealm {
					t.Fatalf("the KRB-ERROR is not the cause: %v", r.Err)
				}
				if n := strings.Count(r.Err.Error(), tc.initiator.String()); n != 1 {
					t.Fatalf("the error names its status %d times: %v", n, r.Err)
				}
			})
		}
	}
}

// apReqFor makes an initial context token with the given flags.
func (e *testEnv) apReqFor(t *testing.T, req secctx.ISCReq, cb *secctx.ChannelBindings) []byte {
	t.Helper()
	_, tok := e.initiatorAt(t, req, cb, false)
	return tok
}

// initiatorAt starts an initiator and makes its AP-REQ. With pastExpiry
// the AP-REQ is built on the ticket even though it has expired (our
// initiator refuses to, a peer's may not).
func (e *testEnv) initiatorAt(t *testing.T, req secctx.ISCReq, cb *secctx.ChannelBindings, pastExpiry bool) (*initiator, []byte) {
	t.Helper()
	sc, err := e.initCred().NewInitiator(mechs.InitiatorParams{Target: testSPN, Req: req})
	if err != nil {
		t.Fatal(err)
	}
	ic := sc.(*initiator)
	if pastExpiry {
		ic.tkt = e.src.tickets[testSPN]
		tok, err := ic.buildAPReq(cb, nil, e.now, 0)
		if err != nil {
			t.Fatal(err)
		}
		ic.state = initWaitAPRep
		if req&secctx.ISC_REQ_MUTUAL_AUTH == 0 {
			ic.finish(ic.subkey, false, uint64(ic.seq), 0)
		}
		return ic, tok
	}
	r := step(t, ic, &mechs.StepInput{Bindings: cb})
	if r.Status.IsError() {
		t.Fatalf("initiator: %v", r.Err)
	}
	return ic, r.Token
}

// TestMalformedRefusedWithGeneric: an AP-REQ that does not parse is
// refused with KRB_ERR_GENERIC, which the initiator reads as a refused
// logon.
func TestMalformedRefusedWithGeneric(t *testing.T) {
	e := newTestEnv(t)
	ic, tok := e.initiatorAt(t, secctx.ISC_REQ_MUTUAL_AUTH, nil, false)
	bad := append([]byte(nil), tok...)
	bad[len(bad)-40] ^= 0xff // inside the authenticator's ciphertext
	ac, _ := e.acceptCred("").NewAcceptor(mechs.AcceptorParams{Req: secctx.ASC_REQ_EXTENDED_ERROR})
	ar := ac.Step(&mechs.StepInput{Token: bad})
	wantStatus(t, ar, status.SEC_E_MESSAGE_ALTERED)
	if got := krbErrorCode(t, ar.Token); got != krbAPErrBadIntegrity {
		t.Fatalf("KRB-ERROR %d", got)
	}
	wantStatus(t, ic.Step(&mechs.StepInput{Token: ar.Token}), status.SEC_E_MESSAGE_ALTERED)

	ac, _ = e.acceptCred("").NewAcceptor(mechs.AcceptorParams{Req: secctx.ASC_REQ_EXTENDED_ERROR})
	ar = ac.Step(&mechs.StepInput{Token: frameGSS(tokAPReq, []byte{0x30, 0x00})})
	wantStatus(t, ar, status.SEC_E_INVALID_TOKEN)
	if got := krbErrorCode(t, ar.Token); got != krbErrGeneric {
		t.Fatalf("KRB-ERROR %d", got)
	}
}

// TestTokenLimits (issue 11 item 3): a token longer than cbMaxToken, or
// whose DER length would make it so, is SEC_E_INVALID_TOKEN however much
// of it has come, on both legs; incomplete is only said of a token that
// can exist, with a missing count a peer could send.
func TestTokenLimits(t *testing.T) {
	e := newTestEnv(t)
	ic, tok := e.initiatorAt(t, secctx.ISC_REQ_MUTUAL_AUTH, nil, false)
	cred := e.acceptCred("")
	accept := func(in []byte) mechs.StepResult {
		ac, _ := cred.NewAcceptor(mechs.AcceptorParams{})
		return ac.Step(&mechs.StepInput{Token: in})
	}
	big := append([]byte{0x60, 0x83, 0x0f, 0x42, 0x40}, bytes.Repeat([]byte{0}, 100)...) // says 1,000,000 octets
	for _, tc := range []struct {
		name string
		in   []byte
	}{
		{"over cbMaxToken", append(append([]byte(nil), tok...), make([]byte, maxToken)...)},
		{"a length of a million", big},
		{"three length octets", []byte{0x60, 0x83}},
		{"four length octets", []byte{0x60, 0x84, 0x00}},
		{"first of two length octets too high", []byte{0x60, 0x82, 0xbc}},
		{"two length octets too high", []byte{0x60, 0x82, 0xbb, 0x80}},
	} {
		if r := accept(tc.in); r.Status != status.SEC_E_INVALID_TOKEN {
			t.Errorf("acceptor, %s: %v missing %d", tc.name, r.Status, r.Missing)
		}
	}
	// Incomplete, with a count that completes a token within the limit.
	for _, tc := range []struct {
		in      []byte
		missing int
	}{
		{[]byte{0x60}, 1},
		{[]byte{0x60, 0x82}, 2},
		{[]byte{0x60, 0x82, 0xbb}, 1},
		{[]byte{0x60, 0x82, 0xbb, 0x7c}, maxToken - 4},
		{tok[:len(tok)-5], 5},
	} {
		r := accept(tc.in)
		if r.Status != status.SEC_E_INCOMPLETE_MESSAGE || r.Missing != tc.missing || len(tc.in)+r.Missing > maxToken {
			t.Errorf("acceptor, %x: %v missing %d, want incomplete missing %d", tc.in[:min(len(tc.in), 4)], r.Status, r.Missing, tc.missing)
		}
	}
	// The initiator's AP-REP leg.
	if r := ic.Step(&mechs.StepInput{Token: big}); r.Status != status.SEC_E_INVALID_TOKEN {
		t.Fatalf("initiator, a length of a million: %v missing %d", r.Status, r.Missing)
	}
}

// TestInitiatorErrorReadsOnce: an error from the KDC exchange, itself a
// *status.Error of the package, reads its status once (issue 11 item 12).
func TestInitiatorErrorReadsOnce(t *testing.T) {
	e := newTestEnv(t)
	ic, _ := e.initCred().NewInitiator(mechs.InitiatorParams{Target: testSPN})
	if r := ic.Step(&mechs.StepInput{}); r.IO == nil {
		t.Fatalf("a ticket-cache miss asked for no exchange: %+v", r)
	}
	r := ic.Step(&mechs.StepInput{IOErr: status.Errorf(status.SEC_E_LOGON_DENIED, Name, "KDC_ERR_PREAUTH_FAILED")})
	wantStatus(t, r, status.SEC_E_LOGON_DENIED)
	if got, want := r.Err.Error(), "Kerberos: SEC_E_LOGON_DENIED (0x8009030C): KDC_ERR_PREAUTH_FAILED"; got != want {
		t.Fatalf("%q, want %q", got, want)
	}
}

// TestCanonicalRealm (issue 11 item 14): a realm krb5.conf knows in
// another case is given its spelling; one it does not know is kept.
func TestCanonicalRealm(t *testing.T) {
	cfg, err := config.NewFromString("[libdefaults]\n default_realm = EXAMPLE.TEST\n[realms]\n OTHER.TEST = {\n  kdc = 127.0.0.1:88\n }\n[domain_realm]\n .third.test = THIRD.TEST\n")
	if err != nil {
		t.Fatal(err)
	}
	for in, want := range map[string]string{
		"example.test": "EXAMPLE.TEST", "Other.Test": "OTHER.TEST", "third.test": "THIRD.TEST",
		"EXAMPLE.TEST": "EXAMPLE.TEST", "unknown.test": "unknown.test", "": "",
	} {
		if got := canonicalRealm(cfg, in); got != want {
			t.Errorf("canonicalRealm(%q) = %q, want %q", in, got, want)
		}
	}
}
