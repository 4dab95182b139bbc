package kerberos

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	secctx "github.com/asyncsspi/asyncsspi/context"
	"github.com/asyncsspi/asyncsspi/mechs"
	"github.com/asyncsspi/asyncsspi/replay"
	"github.com/asyncsspi/asyncsspi/status"
)

func TestHandshakeAndMessages(t *testing.T) {
	for _, mutual := range []bool{true, false} {
		e := newTestEnv(t)
		req := secctx.ISC_REQ_CONFIDENTIALITY | secctx.ISC_REQ_INTEGRITY | secctx.ISC_REQ_SEQUENCE_DETECT
		if mutual {
			req |= secctx.ISC_REQ_MUTUAL_AUTH
		}
		ic, ac := e.handshake(req, nil, nil)
		if e.src.fetches != 1 {
			t.Fatalf("fetches = %d", e.src.fetches)
		}
		names, st := ac.QueryAttribute(secctx.SECPKG_ATTR_NAMES)
		if st != status.SEC_E_OK || names.(secctx.Names).UserName != "alice@"+testRealm {
			t.Fatalf("acceptor names %v %v", names, st)
		}
		nn, _ := ic.QueryAttribute(secctx.SECPKG_ATTR_NATIVE_NAMES)
		if nn.(secctx.NativeNames).ServerName != testSPN+"@"+testRealm {
			t.Fatalf("initiator native names %+v", nn)
		}
		ik, _ := ic.QueryAttribute(secctx.SECPKG_ATTR_SESSION_KEY)
		ak, _ := ac.QueryAttribute(secctx.SECPKG_ATTR_SESSION_KEY)
		if !bytes.Equal(ik.(secctx.SessionKey).Key, ak.(secctx.SessionKey).Key) {
			t.Fatal("session keys differ")
		}
		sz, _ := ic.QueryAttribute(secctx.SECPKG_ATTR_SIZES)
		if s := sz.(secctx.Sizes); s.MaxSignature != 28 || s.SecurityTrailer != 60 {
			t.Fatalf("sizes %+v", s)
		}
		exchangeMessages(t, ic, ac)
		exchangeMessages(t, ac, ic)
	}
}

// exchangeMessages sends MIC and Wrap tokens from a to b, and checks
// tampering and sequence errors.
func exchangeMessages(t *testing.T, a, b mechs.SecurityContext) {
	t.Helper()
	for i := 0; i < 3; i++ {
		msg := []byte("hello, kerberos message " + string(rune('A'+i)))
		bufs := []secctx.Buffer{{Type: secctx.SECBUFFER_DATA, Data: msg}, {Type: secctx.SECBUFFER_TOKEN}}
		if st := a.MakeSignature(0, bufs, 0); st != status.SEC_E_OK {
			t.Fatalf("MakeSignature %v", st)
		}
		if _, st := b.VerifySignature(bufs, 0); st != status.SEC_E_OK {
			t.Fatalf("VerifySignature %v", st)
		}
		for _, qop := range []uint32{0, secctx.SECQOP_WRAP_NO_ENCRYPT} {
			data := append([]byte(nil), msg...)
			bufs := []secctx.Buffer{{Type: secctx.SECBUFFER_TOKEN}, {Type: secctx.SECBUFFER_DATA, Data: data}}
			if st := a.EncryptMessage(qop, bufs, 0); st != status.SEC_E_OK {
				t.Fatalf("EncryptMessage %v", st)
			}
			if qop == 0 && bytes.Equal(bufs[1].Data, msg) {
				t.Fatal("not encrypted")
			}
			// The Windows layout is one valid token: token || data.
			whole := append(append([]byte(nil), bufs[0].Data...), bufs[1].Data...)
			gotQop, st := b.DecryptMessage(bufs, 0)
			if st != status.SEC_E_OK || gotQop != qop || !bytes.Equal(bufs[1].Data, msg) {
				t.Fatalf("DecryptMessage %v qop %x data %q", st, gotQop, bufs[1].Data)
			}
			// The same token again is out of sequence.
			sb := []secctx.Buffer{{Type: secctx.SECBUFFER_STREAM, Data: append([]byte(nil), whole...)}, {Type: secctx.SECBUFFER_DATA}}
			if _, st := b.DecryptMessage(sb, 0); st != status.SEC_E_OUT_OF_SEQUENCE {
				t.Fatalf("replayed wrap: %v", st)
			}
		}
	}
	// Tampered MIC and Wrap.
	msg := []byte("tamper")
	bufs := []secctx.Buffer{{Type: secctx.SECBUFFER_DATA, Data: msg}, {Type: secctx.SECBUFFER_TOKEN}}
	a.MakeSignature(0, bufs, 0)
	bufs[0].Data = []byte("Tamper")
	if _, st := b.VerifySignature(bufs, 0); st != status.SEC_E_MESSAGE_ALTERED {
		t.Fatalf("tampered MIC: %v", st)
	}
	// The receiver did not advance: a good token with the next
	// number would now be out of sequence (one was lost).
	bufs = []secctx.Buffer{{Type: secctx.SECBUFFER_DATA, Data: msg}, {Type: secctx.SECBUFFER_TOKEN}}
	a.MakeSignature(0, bufs, 0)
	if _, st := b.VerifySignature(bufs, 0); st != status.SEC_E_OUT_OF_SEQUENCE {
		t.Fatalf("gap: %v", st)
	}
	wb := []secctx.Buffer{{Type: secctx.SECBUFFER_TOKEN}, {Type: secctx.SECBUFFER_DATA, Data: []byte("abcdefghijklmnopqrstuvwxyz")}}
	a.EncryptMessage(0, wb, 0)
	wb[1].Data[3] ^= 1
	if _, st := b.DecryptMessage(wb, 0); st != status.SEC_E_MESSAGE_ALTERED {
		t.Fatalf("tampered wrap: %v", st)
	}
	// A token reflected back to its sender is refused.
	rb := []secctx.Buffer{{Type: secctx.SECBUFFER_DATA, Data: msg}, {Type: secctx.SECBUFFER_TOKEN}}
	a.MakeSignature(0, rb, 0)
	if _, st := a.VerifySignature(rb, 0); st != status.SEC_E_MESSAGE_ALTERED {
		t.Fatalf("reflected MIC: %v", st)
	}
}

func TestReplayRefused(t *testing.T) {
	e := newTestEnv(t)
	cred := e.acceptCred("")
	ic, _ := e.initCred().NewInitiator(mechs.InitiatorParams{Target: testSPN, Req: secctx.ISC_REQ_MUTUAL_AUTH})
	r := step(t, ic, &mechs.StepInput{})
	a1, _ := cred.NewAcceptor(mechs.AcceptorParams{})
	wantStatus(t, a1.Step(&mechs.StepInput{Token: r.Token}), status.SEC_E_OK)
	a2, _ := cred.NewAcceptor(mechs.AcceptorParams{})
	r2 := a2.Step(&mechs.StepInput{Token: r.Token})
	wantStatus(t, r2, status.SEC_E_LOGON_DENIED)
	if !errors.Is(r2.Err, replay.ErrReplay) {
		t.Fatalf("cause %v", r2.Err)
	}
}

func TestAcceptorFailures(t *testing.T) {
	sname := principal{nameType: nameTypeSrvInst, parts: []string{"HTTP", "host.example.org"}}
	for _, tc := range []struct {
		name  string
		setup func(e *testEnv) *svcTicket
		skew  time.Duration // acceptor clock offset
		want  status.Code
	}{
		{"skew", func(e *testEnv) *svcTicket { return e.ticket() }, 6 * time.Minute, status.SEC_E_TIME_SKEW},
		{"expired", func(e *testEnv) *svcTicket {
			return e.makeTicket(e.svcKey, 3, sname, etypeAES256SHA1, e.now.Add(-10*time.Hour), e.now.Add(-time.Hour), 0)
		}, 0, status.SEC_E_CONTEXT_EXPIRED},
		{"not yet valid", func(e *testEnv) *svcTicket {
			return e.makeTicket(e.svcKey, 3, sname, etypeAES256SHA1, e.now.Add(time.Hour), e.now.Add(10*time.Hour), 0)
		}, 0, status.SEC_E_TIME_SKEW},
		{"other service", func(e *testEnv) *svcTicket {
			k, _ := randomKey(etypeAES256SHA1)
			return e.makeTicket(k, 1, principal{nameType: 2, parts: []string{"HTTP", "other.example.org"}}, etypeAES256SHA1, e.now, e.now.Add(time.Hour), 0)
		}, 0, status.SEC_E_WRONG_PRINCIPAL},
		{"wrong key", func(e *testEnv) *svcTicket {
			k, _ := randomKey(etypeAES256SHA1)
			return e.makeTicket(k, 3, sname, etypeAES256SHA1, e.now, e.now.Add(time.Hour), 0)
		}, 0, status.SEC_E_WRONG_PRINCIPAL},
		{"unknown kvno", func(e *testEnv) *svcTicket {
			return e.makeTicket(e.svcKey, 9, sname, etypeAES256SHA1, e.now, e.now.Add(time.Hour), 0)
		}, 0, status.SEC_E_NO_KERB_KEY},
		{"rc4 session key", func(e *testEnv) *svcTicket {
			return e.makeTicket(e.svcKey, 3, sname, etypeRC4HMAC, e.now, e.now.Add(time.Hour), 0)
		}, 0, status.SEC_E_KDC_UNKNOWN_ETYPE},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newTestEnv(t)
			e.src.tickets[testSPN] = tc.setup(e)
			ic, _ := e.initCred().NewInitiator(mechs.InitiatorParams{Target: testSPN, Req: secctx.ISC_REQ_MUTUAL_AUTH})
			r := step(t, ic, &mechs.StepInput{})
			if r.Status == status.SEC_E_CONTEXT_EXPIRED && tc.want == status.SEC_E_CONTEXT_EXPIRED {
				return // the initiator refuses an expired ticket itself
			}
			wantStatus(t, r, status.SEC_I_CONTINUE_NEEDED)
			e.now = e.now.Add(tc.skew)
			ac, _ := e.acceptCred("").NewAcceptor(mechs.AcceptorParams{})
			ar := ac.Step(&mechs.StepInput{Token: r.Token})
			wantStatus(t, ar, tc.want)
			if status.CodeOf(ar.Err) != tc.want {
				t.Fatalf("Err %v", ar.Err)
			}
		})
	}
}

func TestExpiredAtAcceptor(t *testing.T) {
	e := newTestEnv(t)
	sname := principal{nameType: nameTypeSrvInst, parts: []string{"HTTP", "host.example.org"}}
	e.src.tickets[testSPN] = e.makeTicket(e.svcKey, 3, sname, etypeAES256SHA1, e.now.Add(-2*time.Hour), e.now.Add(time.Second), 0)
	ic, _ := e.initCred().NewInitiator(mechs.InitiatorParams{Target: testSPN})
	r := step(t, ic, &mechs.StepInput{})
	wantStatus(t, r, status.SEC_E_OK)
	e.now = e.now.Add(5*time.Minute + 2*time.Second)
	e.clock = func() time.Time { return e.now }
	// The authenticator is now too old as well; make the acceptor allow
	// a larger skew for the authenticator but not for the ticket.
	ac, _ := e.acceptCred("").NewAcceptor(mechs.AcceptorParams{})
	wantStatus(t, ac.Step(&mechs.StepInput{Token: r.Token}), status.SEC_E_TIME_SKEW)
}

func TestBindings(t *testing.T) {
	cbA := &secctx.ChannelBindings{ApplicationData: []byte("tls-server-end-point:A")}
	cbB := &secctx.ChannelBindings{ApplicationData: []byte("tls-server-end-point:B")}
	e := newTestEnv(t)
	e.handshake(secctx.ISC_REQ_MUTUAL_AUTH, cbA, cbA)
	e.handshake(secctx.ISC_REQ_MUTUAL_AUTH, nil, cbA) // absent from the client: accepted by default
	e.handshake(secctx.ISC_REQ_MUTUAL_AUTH, cbA, nil) // the server does not check
	for _, tc := range []struct {
		env      *testEnv
		ini, acc *secctx.ChannelBindings
	}{
		{newTestEnv(t), cbA, cbB},
		{newTestEnv(t, WithRequireBindings(true)), nil, cbA},
	} {
		ic, _ := tc.env.initCred().NewInitiator(mechs.InitiatorParams{Target: testSPN, Req: secctx.ISC_REQ_MUTUAL_AUTH})
		r := step(t, ic, &mechs.StepInput{Bindings: tc.ini})
		ac, _ := tc.env.acceptCred("").NewAcceptor(mechs.AcceptorParams{})
		wantStatus(t, ac.Step(&mechs.StepInput{Token: r.Token, Bindings: tc.acc}), status.SEC_E_BAD_BINDINGS)
	}
}

func TestTruncatedAndMalformed(t *testing.T) {
	e := newTestEnv(t)
	ic, _ := e.initCred().NewInitiator(mechs.InitiatorParams{Target: testSPN, Req: secctx.ISC_REQ_MUTUAL_AUTH})
	r := step(t, ic, &mechs.StepInput{})
	tok := r.Token
	cred := e.acceptCred("")
	for n := 1; n < len(tok); n++ {
		ac, _ := cred.NewAcceptor(mechs.AcceptorParams{})
		ar := ac.Step(&mechs.StepInput{Token: tok[:n]})
		if ar.Status != status.SEC_E_INCOMPLETE_MESSAGE {
			t.Fatalf("prefix %d: %v", n, ar.Status)
		}
		if n >= 4 && ar.Missing != len(tok)-n {
			t.Fatalf("prefix %d: missing %d, want %d", n, ar.Missing, len(tok)-n)
		}
	}
	bad := append([]byte(nil), tok...)
	bad[len(bad)/2] ^= 0xff
	ac, _ := cred.NewAcceptor(mechs.AcceptorParams{})
	if ar := ac.Step(&mechs.StepInput{Token: bad}); ar.Status == status.SEC_E_OK || !ar.Status.IsError() {
		t.Fatalf("corrupted token accepted: %v", ar.Status)
	}
	ac, _ = cred.NewAcceptor(mechs.AcceptorParams{})
	wantStatus(t, ac.Step(&mechs.StepInput{Token: []byte("NTLMSSP\x00")}), status.SEC_E_INVALID_TOKEN)
	ac, _ = cred.NewAcceptor(mechs.AcceptorParams{})
	wantStatus(t, ac.Step(&mechs.StepInput{}), status.SEC_E_INVALID_TOKEN)

	// The initiator: a truncated AP-REP, a forged one, a KRB-ERROR.
	ac, _ = cred.NewAcceptor(mechs.AcceptorParams{})
	ar := ac.Step(&mechs.StepInput{Token: tok})
	wantStatus(t, ar, status.SEC_E_OK)
	rep := ar.Token
	if r := ic.Step(&mechs.StepInput{Token: rep[:len(rep)-1]}); r.Status != status.SEC_E_INCOMPLETE_MESSAGE || r.Missing != 1 {
		t.Fatalf("truncated AP-REP: %v missing %d", r.Status, r.Missing)
	}
	forged := append([]byte(nil), rep...)
	forged[len(forged)-3] ^= 1
	wantStatus(t, ic.Step(&mechs.StepInput{Token: forged}), status.SEC_E_MUTUAL_AUTH_FAILED)

	ic2, _ := e.initCred().NewInitiator(mechs.InitiatorParams{Target: testSPN, Req: secctx.ISC_REQ_MUTUAL_AUTH})
	step(t, ic2, &mechs.StepInput{})
	kerr := buildKRBError(37, e.now, testRealm, principal{nameType: 2, parts: []string{"HTTP", "host.example.org"}})
	wantStatus(t, ic2.Step(&mechs.StepInput{Token: frameGSS(tokKRBError, kerr)}), status.SEC_E_TIME_SKEW)
}

func TestTargets(t *testing.T) {
	for _, tc := range []struct{ in, spn string }{
		{"HTTP/host.example.org", "HTTP/host.example.org"},
		{"HTTP/host.example.org@EXAMPLE.ORG", "HTTP/host.example.org@EXAMPLE.ORG"},
		{"HTTP@host.example.org", "HTTP/host.example.org"},
		{"", ""}, {"host.example.org", ""}, {"HTTP/", ""}, {"@host", ""}, {`CORP\alice`, ""},
	} {
		spn, _, ok := normalizeTarget(tc.in)
		if ok != (tc.spn != "") || spn != tc.spn {
			t.Errorf("normalizeTarget(%q) = %q %v", tc.in, spn, ok)
		}
	}
	e := newTestEnv(t)
	_, err := e.initCred().NewInitiator(mechs.InitiatorParams{Target: "not-an-spn"})
	if status.CodeOf(err) != status.SEC_E_TARGET_UNKNOWN {
		t.Fatalf("err %v", err)
	}
	_, err = e.initCred().NewInitiator(mechs.InitiatorParams{Target: testSPN, Req: secctx.ISC_REQ_USE_DCE_STYLE})
	if status.CodeOf(err) != status.SEC_E_UNSUPPORTED_FUNCTION {
		t.Fatalf("DCE style: %v", err)
	}
}

func TestIORequestAndErrors(t *testing.T) {
	e := newTestEnv(t)
	ic, _ := e.initCred().NewInitiator(mechs.InitiatorParams{Target: "HTTP@host.example.org"})
	r := ic.Step(&mechs.StepInput{})
	if r.IO == nil || r.IO.Realm != testRealm {
		t.Fatalf("no IORequest on a cache miss: %+v", r)
	}
	// A KDC error comes back as the leg's status.
	kerr := status.Errorf(status.SEC_E_TARGET_UNKNOWN, "kdc", "unknown SPN")
	r = ic.Step(&mechs.StepInput{IOErr: kerr})
	wantStatus(t, r, status.SEC_E_TARGET_UNKNOWN)

	ic, _ = e.initCred().NewInitiator(mechs.InitiatorParams{Target: testSPN})
	r = ic.Step(&mechs.StepInput{})
	reply, err := r.IO.Performer.Perform(context.Background(), r.IO)
	if err != nil {
		t.Fatal(err)
	}
	r = ic.Step(&mechs.StepInput{IOReply: reply})
	wantStatus(t, r, status.SEC_E_OK)
	// Cached now: no I/O.
	ic, _ = e.initCred().NewInitiator(mechs.InitiatorParams{Target: testSPN})
	if r = ic.Step(&mechs.StepInput{}); r.IO != nil || r.Status != status.SEC_E_OK {
		t.Fatalf("cached ticket still asked for I/O: %+v", r)
	}
	// Calling again after success re-authenticates.
	r = ic.Step(&mechs.StepInput{})
	if r.Status != status.SEC_E_OK || !secctx.ISCRet(r.Flags).Has(secctx.ISC_RET_REAUTHENTICATION) || len(r.Token) == 0 {
		t.Fatalf("re-authentication: %+v", r)
	}
}

func TestDelegation(t *testing.T) {
	e := newTestEnv(t)
	tgtKey, _ := randomKey(etypeAES256SHA1)
	e.src.tgt = e.makeTicket(tgtKey, 1, principal{nameType: 2, parts: []string{"krbtgt", testRealm}}, etypeAES256SHA1, e.now, e.now.Add(time.Hour), ticketFlagForwardable)
	ic, _ := e.initCred().NewInitiator(mechs.InitiatorParams{Target: testSPN, Req: secctx.ISC_REQ_DELEGATE | secctx.ISC_REQ_MUTUAL_AUTH})
	r := step(t, ic, &mechs.StepInput{})
	wantStatus(t, r, status.SEC_I_CONTINUE_NEEDED)
	if !secctx.ISCRet(r.Flags).Has(secctx.ISC_RET_DELEGATE) {
		t.Fatal("no ISC_RET_DELEGATE")
	}
	ac, _ := e.acceptCred("").NewAcceptor(mechs.AcceptorParams{})
	ar := ac.Step(&mechs.StepInput{Token: r.Token})
	wantStatus(t, ar, status.SEC_E_OK)
	if !secctx.ASCRet(ar.Flags).Has(secctx.ASC_RET_DELEGATE) || len(ac.(*acceptor).DelegatedCredential()) == 0 {
		t.Fatalf("delegation not received: %v", secctx.ASCRet(ar.Flags))
	}
}

func TestAcceptorPrincipalRestriction(t *testing.T) {
	e := newTestEnv(t)
	if _, err := newAcceptorKeys(e.kt, "HTTP/other.example.org", e.pkg); status.CodeOf(err) != status.SEC_E_NO_CREDENTIALS {
		t.Fatalf("err %v", err)
	}
	for _, only := range []string{testSPN, testSPN + "@" + testRealm, "HTTP@host.example.org"} {
		if _, err := newAcceptorKeys(e.kt, only, e.pkg); err != nil {
			t.Fatalf("%s: %v", only, err)
		}
	}
}

func TestStatusErrors(t *testing.T) {
	e := newTestEnv(t)
	ic, _ := e.initCred().NewInitiator(mechs.InitiatorParams{Target: testSPN})
	if st := ic.MakeSignature(0, []secctx.Buffer{{Type: secctx.SECBUFFER_TOKEN}}, 0); st != status.SEC_E_NO_CONTEXT {
		t.Fatalf("MakeSignature before the handshake: %v", st)
	}
	var se *status.Error
	r := ic.Step(&mechs.StepInput{IOErr: errors.New("boom")})
	if !errors.As(r.Err, &se) {
		t.Fatalf("Err is not a *status.Error: %v", r.Err)
	}
	ic.Close()
	ic.Close()
}

func TestAcceptorErrorToken(t *testing.T) {
	e := newTestEnv(t)
	ic, _ := e.initCred().NewInitiator(mechs.InitiatorParams{Target: testSPN, Req: secctx.ISC_REQ_MUTUAL_AUTH})
	r := step(t, ic, &mechs.StepInput{})
	e.now = e.now.Add(time.Hour)
	ac, _ := e.acceptCred("").NewAcceptor(mechs.AcceptorParams{Req: secctx.ASC_REQ_EXTENDED_ERROR})
	ar := ac.Step(&mechs.StepInput{Token: r.Token})
	wantStatus(t, ar, status.SEC_E_TIME_SKEW)
	if len(ar.Token) == 0 || !secctx.ASCRet(ar.Flags).Has(secctx.ASC_RET_EXTENDED_ERROR) {
		t.Fatal("no error token")
	}
	// The initiator reads it as the acceptor's verdict.
	wantStatus(t, ic.Step(&mechs.StepInput{Token: ar.Token}), status.SEC_E_TIME_SKEW)
	// Without ASC_REQ_EXTENDED_ERROR there is none.
	ac, _ = e.acceptCred("").NewAcceptor(mechs.AcceptorParams{})
	if ar := ac.Step(&mechs.StepInput{Token: r.Token}); len(ar.Token) != 0 {
		t.Fatal("error token without ASC_REQ_EXTENDED_ERROR")
	}
}

func TestCloseWipesSubkeys(t *testing.T) {
	e := newTestEnv(t)
	ic, ac := e.handshake(secctx.ISC_REQ_MUTUAL_AUTH, nil, nil)
	ik, _ := ic.current()
	ic.Close()
	ac.Close()
	if !bytes.Equal(ik.value, make([]byte, len(ik.value))) {
		t.Fatal("the acceptor subkey survived Close")
	}
	if bytes.Equal(e.src.tickets[testSPN].key.value, make([]byte, 32)) {
		t.Fatal("Close wiped the shared ticket session key")
	}
	if st := ic.MakeSignature(0, []secctx.Buffer{{Type: secctx.SECBUFFER_TOKEN}}, 0); st != status.SEC_E_NO_CONTEXT {
		t.Fatalf("MakeSignature after Close: %v", st)
	}
	// Without mutual authentication and without subkeys' sharing, the
	// acceptor's context still works after the initiator closes.
	ic2, ac2 := e.handshake(0, nil, nil)
	ic2.Close()
	bufs := []secctx.Buffer{{Type: secctx.SECBUFFER_DATA, Data: []byte("x")}, {Type: secctx.SECBUFFER_TOKEN}}
	if st := ac2.MakeSignature(0, bufs, 0); st != status.SEC_E_OK {
		t.Fatalf("acceptor after the initiator closed: %v", st)
	}
}

// TestConcurrentHandshakes shares one initiator and one acceptor
// credential (ticket, derived keys, ticket cache, replay cache) among
// goroutines, under -race.
func TestConcurrentHandshakes(t *testing.T) {
	e := newTestEnv(t)
	e.clock = time.Now
	e.src.tickets[testSPN] = e.makeTicket(e.svcKey, 3, principal{nameType: nameTypeSrvInst, parts: []string{"HTTP", "host.example.org"}},
		etypeAES256SHA1, time.Now().Add(-time.Minute), time.Now().Add(time.Hour), 0)
	icred, acred := e.initCred(), e.acceptCred("")
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 100; i++ {
				ic, _ := icred.NewInitiator(mechs.InitiatorParams{Target: testSPN, Req: secctx.ISC_REQ_MUTUAL_AUTH})
				r := ic.Step(&mechs.StepInput{})
				ac, _ := acred.NewAcceptor(mechs.AcceptorParams{})
				ar := ac.Step(&mechs.StepInput{Token: r.Token})
				if ar.Status != status.SEC_E_OK {
					t.Errorf("accept: %v", ar.Err)
					return
				}
				if r := ic.Step(&mechs.StepInput{Token: ar.Token}); r.Status != status.SEC_E_OK {
					t.Errorf("AP-REP: %v", r.Err)
					return
				}
				// Send and receive sides concurrently, as Windows allows.
				var w2 sync.WaitGroup
				w2.Add(2)
				go func() {
					defer w2.Done()
					b := []secctx.Buffer{{Type: secctx.SECBUFFER_DATA, Data: []byte("a")}, {Type: secctx.SECBUFFER_TOKEN}}
					ic.MakeSignature(0, b, 0)
					ic.QueryAttribute(secctx.SECPKG_ATTR_SIZES)
				}()
				go func() {
					defer w2.Done()
					b := []secctx.Buffer{{Type: secctx.SECBUFFER_DATA, Data: []byte("b")}, {Type: secctx.SECBUFFER_TOKEN}}
					ac.MakeSignature(0, b, 0)
					if _, st := ic.VerifySignature(b, 0); st != status.SEC_E_OK {
						t.Errorf("verify: %v", st)
					}
				}()
				w2.Wait()
				ic.Close()
				ac.Close()
			}
		}()
	}
	wg.Wait()
	if n := e.rc.Len(); n != 800 {
		t.Fatalf("replay cache holds %d entries, want 800", n)
	}
}
