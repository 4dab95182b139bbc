package kerberos

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	secctx "github.com/asyncsspi/asyncsspi/context"
	"github.com/asyncsspi/asyncsspi/mechs"
	"github.com/asyncsspi/asyncsspi/mechs/kerberos/kdc"
	"github.com/asyncsspi/asyncsspi/status"
	"github.com/jcmturner/gokrb5/v8/config"
	"golang.org/x/crypto/cryptobyte"
	"golang.org/x/crypto/cryptobyte/asn1"
)

// Tests of the delegated credential (delegation.go, krb_cred.go): what an
// acceptor decodes from the KRB-CRED a client delegates, and the
// credential made from it. The real peers' side is TestInteropDelegation.

// mitKRBCred opens MIT's saved delegating AP-REQ (testdata, saved by
// TestInteropDelegation with ASYNCSSPI_SAVE_TOKENS=1, with that throwaway
// realm's service keytab) and returns MIT's KRB-CRED, the session key it
// is encrypted in, and the client the AP-REQ authenticated.
func mitKRBCred(t testing.TB) (raw []byte, sess *key, client principal, crealm string) {
	t.Helper()
	et, auth := openSavedAPReq(t, "mit_ap_req_deleg.hex", "mit_deleg_service.keytab")
	etp, err := parseEncTicketPart(et)
	if err != nil {
		t.Fatal(err)
	}
	if sess, err = newKey(etp.keyEtype, etp.keyValue); err != nil {
		t.Fatal(err)
	}
	a, err := parseAuthenticator(auth)
	if err != nil {
		t.Fatal(err)
	}
	cs, err := parseGSSChecksum(a.cksum)
	if err != nil || cs.krbCred == nil {
		t.Fatalf("MIT's checksum carries no KRB-CRED: %v", err)
	}
	return append([]byte(nil), cs.krbCred...), sess, etp.cname, etp.crealm
}

// krbCredClear is a KRB-CRED carrying tickets and, unencrypted (etype
// 0, RFC 6448), the EncKrbCredPart plain.
func krbCredClear(t testing.TB, tickets [][]byte, plain []byte) []byte {
	t.Helper()
	b := cryptobyte.NewBuilder(nil)
	b.AddASN1(appTag(msgTypeKRBCred), func(b *cryptobyte.Builder) {
		b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1(ctxTag(0), func(b *cryptobyte.Builder) { b.AddASN1Int64(5) })
			b.AddASN1(ctxTag(1), func(b *cryptobyte.Builder) { b.AddASN1Int64(msgTypeKRBCred) })
			b.AddASN1(ctxTag(2), func(b *cryptobyte.Builder) {
				b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
					for _, tk := range tickets {
						b.AddBytes(tk)
					}
				})
			})
			b.AddASN1(ctxTag(3), func(b *cryptobyte.Builder) {
				b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
					b.AddASN1(ctxTag(0), func(b *cryptobyte.Builder) { b.AddASN1Int64(0) })
					b.AddASN1(ctxTag(2), func(b *cryptobyte.Builder) { b.AddASN1OctetString(plain) })
				})
			})
		})
	})
	out, err := b.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// encKrbCredPart is an EncKrbCredPart with one KrbCredInfo per ticket.
func encKrbCredPart(t testing.TB, infos ...*svcTicket) []byte {
	t.Helper()
	b := cryptobyte.NewBuilder(nil)
	b.AddASN1(appTag(29), func(b *cryptobyte.Builder) {
		b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1(ctxTag(0), func(b *cryptobyte.Builder) {
				b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
					for _, tk := range infos {
						addKrbCredInfo(b, tk)
					}
				})
			})
			b.AddASN1(ctxTag(1), func(b *cryptobyte.Builder) { b.AddASN1Int64(12345) })
		})
	})
	out, err := b.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// tgtOf makes a forwardable TGT for alice in e's realm.
func (e *testEnv) tgtOf() *svcTicket {
	tgtKey, _ := randomKey(etypeAES256SHA1)
	return e.makeTicket(tgtKey, 1, principal{nameType: nameTypeSrvInst, parts: []string{"krbtgt", testRealm}}, etypeAES256SHA1,
		e.now.Add(-time.Minute), e.now.Add(time.Hour), ticketFlagForwardable)
}

// apReqWith is an AP-REQ for e's service whose checksum delegates krbCred
// as it is.
func (e *testEnv) apReqWith(krbCred []byte) []byte {
	e.t.Helper()
	sub, _ := randomKey(etypeAES256SHA1)
	return e.apReqWithSubkey(krbCred, e.ticket(), sub)
}

// apReqWithSubkey is apReqWith with tkt and the authenticator subkey sub.
func (e *testEnv) apReqWithSubkey(krbCred []byte, tkt *svcTicket, sub *key) []byte {
	e.t.Helper()
	ic := &initiator{cred: e.initCred(), spn: testSPN, req: secctx.ISC_REQ_DELEGATE}
	ic.tkt = tkt
	tok, err := ic.buildAPReqWith(nil, krbCred, sub, e.now, 0)
	if err != nil {
		e.t.Fatal(err)
	}
	return tok
}

func delegated(t testing.TB, sc mechs.SecurityContext) (*TGT, status.Code, error) {
	t.Helper()
	v, st := sc.QueryAttribute(secctx.SECPKG_ATTR_ASYNCSSPI_DELEGATED_CREDENTIAL)
	if st != status.SEC_E_OK {
		err, _ := v.(error)
		if v != nil && err == nil {
			t.Fatalf("%v comes with a %T, not an error", st, v)
		}
		return nil, st, err
	}
	return v.(*TGT), st, nil
}

// TestMITKRBCred decodes the KRB-CRED MIT's initiator delegates (kinit -f,
// GSS_C_DELEG_FLAG): a forwarded TGT for alice, whose ticket re-encodes
// to the very octets MIT sent; no proper prefix of it, or of its
// EncKrbCredPart, parses.
func TestMITKRBCred(t *testing.T) {
	raw, sess, client, crealm := mitKRBCred(t)
	plain, err := openKRBCred(raw, sess, nil)
	if err != nil {
		t.Fatal(err)
	}
	tgt, err := decodeKRBCred(raw, plain, client, crealm, false)
	if err != nil {
		t.Fatal(err)
	}
	if tgt.Client.PrincipalNameString() != "alice" || tgt.CRealm != crealm || tgt.Server.PrincipalNameString() != "krbtgt/"+crealm ||
		tgt.SRealm != crealm || len(tgt.SessionKey.KeyValue) == 0 || tgt.EndTime.IsZero() || !tgt.EndTime.After(tgt.StartTime) {
		t.Fatalf("MIT's delegated TGT: %+v", tgt)
	}
	if !tgt.HasFlag(2) { // FORWARDED (RFC 4120 section 5.3)
		t.Fatalf("MIT's delegated TGT is not marked FORWARDED: %x", tgt.Flags.Bytes)
	}
	t.Logf("MIT delegated %s@%s for %s, flags %x, %v to %v", tgt.Client.PrincipalNameString(), tgt.CRealm,
		tgt.Server.PrincipalNameString(), tgt.Flags.Bytes, tgt.StartTime, tgt.EndTime)
	der, err := tgt.Ticket.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(raw, der) {
		t.Fatal("the decoded ticket does not re-encode to the octets MIT sent")
	}
	for n := 0; n < len(raw); n++ {
		if _, err := openKRBCred(raw[:n], sess, nil); err == nil {
			t.Fatalf("a prefix of %d of %d bytes of the KRB-CRED opened", n, len(raw))
		}
	}
	for n := 0; n < len(plain); n++ {
		if _, err := parseEncKrbCredPart(plain[:n]); err == nil {
			t.Fatalf("a prefix of %d of %d bytes of the EncKrbCredPart parsed", n, len(plain))
		}
	}
	// The same, sent in the clear (RFC 6448).
	clearCred := krbCredClear(t, [][]byte{der}, plain)
	p2, err := openKRBCred(clearCred, sess, nil)
	if err != nil {
		t.Fatal(err)
	}
	if t2, err := decodeKRBCred(clearCred, p2, client, crealm, false); err != nil || !bytes.Equal(t2.SessionKey.KeyValue, tgt.SessionKey.KeyValue) {
		t.Fatalf("unencrypted KRB-CRED: %v", err)
	}
}

// TestDelegatedCredential: our initiator delegates its TGT; the acceptor's
// attribute gives it back whole (decoded on the first query, not in the
// handshake), each query a copy of the caller's own; Close wipes it.
func TestDelegatedCredential(t *testing.T) {
	e := newTestEnv(t)
	e.src.tgt = e.tgtOf()
	_, ac := e.handshake(secctx.ISC_REQ_DELEGATE|secctx.ISC_REQ_MUTUAL_AUTH, nil, nil)
	if !secctx.ASCRet(ac.flags).Has(secctx.ASC_RET_DELEGATE) {
		t.Fatalf("flags %v", secctx.ASCRet(ac.flags))
	}
	if ac.deleg == nil || ac.deleg.plain == nil || ac.deleg.tgt != nil {
		t.Fatal("the TGT was decoded in the handshake, or nothing was kept to decode it from")
	}
	tgt, st, err := delegated(t, ac)
	if st != status.SEC_E_OK {
		t.Fatal(st, err)
	}
	if ac.deleg.plain != nil {
		t.Fatal("the opened EncKrbCredPart was kept after decoding")
	}
	want := e.src.tgt
	got := tgt.Ticket
	der, _ := got.Ticket.Marshal()
	if got.Client.PrincipalNameString() != "alice" || got.CRealm != testRealm || got.Server.PrincipalNameString() != "krbtgt/"+testRealm ||
		got.SRealm != testRealm || !bytes.Equal(got.SessionKey.KeyValue, want.key.value) || got.SessionKey.KeyType != want.key.etype ||
		!got.EndTime.Equal(want.endTime.Truncate(time.Second)) || !got.StartTime.Equal(want.startTime.Truncate(time.Second)) ||
		!got.AuthTime.Equal(want.authTime.Truncate(time.Second)) ||
		!got.HasFlag(1) || !bytes.Equal(der, want.raw) {
		t.Fatalf("decoded %+v", got)
	}
	again, _, _ := delegated(t, ac)
	clear(tgt.Ticket.SessionKey.KeyValue)
	if !bytes.Equal(again.Ticket.SessionKey.KeyValue, want.key.value) {
		t.Fatal("two queries share the session key's storage")
	}
	ac.Close()
	if _, st, _ := delegated(t, ac); st != status.SEC_E_NO_CONTEXT {
		t.Fatalf("after Close: %v", st)
	}
	if ac.deleg.tgt != nil || ac.deleg.raw != nil {
		t.Fatal("Close kept the delegated TGT")
	}
	if !bytes.Equal(again.Ticket.SessionKey.KeyValue, want.key.value) {
		t.Fatal("Close wiped the caller's copy")
	}
}

// TestDelegatedCredentialNone: nothing delegated, a handshake not
// complete, an initiator.
func TestDelegatedCredentialNone(t *testing.T) {
	e := newTestEnv(t)
	ic, ac := e.handshake(secctx.ISC_REQ_MUTUAL_AUTH, nil, nil)
	_, st, err := delegated(t, ac)
	if st != status.SEC_E_NO_CREDENTIALS || !errors.Is(err, errNothingDelegated) || !errors.Is(err, status.SEC_E_NO_CREDENTIALS) {
		t.Fatalf("nothing delegated: %v %v", st, err)
	}
	if _, st, _ := delegated(t, ic); st != status.SEC_E_UNSUPPORTED_FUNCTION {
		t.Fatalf("initiator: %v", st)
	}
	fresh, _ := e.acceptCred("").NewAcceptor(mechs.AcceptorParams{})
	if _, st, _ := delegated(t, fresh); st != status.SEC_E_NO_CONTEXT {
		t.Fatalf("before the handshake: %v", st)
	}
	// Delegation asked, but the TGT is not forwardable: no KRB-CRED.
	e.src.tgt = e.tgtOf()
	e.src.tgt.flags = 0
	_, ac = e.handshake(secctx.ISC_REQ_DELEGATE, nil, nil)
	if _, st, err := delegated(t, ac); st != status.SEC_E_NO_CREDENTIALS || !errors.Is(err, errNothingDelegated) {
		t.Fatalf("not forwardable: %v %v", st, err)
	}
}

// TestDelegationDoesNotDecrypt: a KRB-CRED encrypted in another key than
// the ticket's session key is no delegation: the handshake succeeds
// without ASC_RET_DELEGATE, and the attribute says why.
func TestDelegationDoesNotDecrypt(t *testing.T) {
	e := newTestEnv(t)
	other, _ := randomKey(etypeAES256SHA1)
	cred, err := buildKRBCred(other, e.tgtOf(), e.now)
	if err != nil {
		t.Fatal(err)
	}
	ac, _ := e.acceptCred("").NewAcceptor(mechs.AcceptorParams{})
	r := ac.Step(&mechs.StepInput{Token: e.apReqWith(cred)})
	wantStatus(t, r, status.SEC_E_OK)
	if secctx.ASCRet(r.Flags).Has(secctx.ASC_RET_DELEGATE) || len(ac.(*acceptor).DelegatedCredential()) != 0 {
		t.Fatalf("flags %v", secctx.ASCRet(r.Flags))
	}
	_, st, err := delegated(t, ac)
	if st != status.SEC_E_NO_CREDENTIALS || err == nil || !strings.Contains(err.Error(), "does not decrypt with the ticket's session key or the authenticator's subkey") {
		t.Fatalf("%v %v", st, err)
	}
}

// TestDelegationInSubkey: a KRB-CRED encrypted in the authenticator's
// subkey rather than the ticket's session key, which MIT's krb5_rd_cred
// accepts too, is a delegation.
func TestDelegationInSubkey(t *testing.T) {
	e := newTestEnv(t)
	sub, _ := randomKey(etypeAES256SHA1)
	tgt := e.tgtOf()
	cred, err := buildKRBCred(sub, tgt, e.now)
	if err != nil {
		t.Fatal(err)
	}
	ac, _ := e.acceptCred("").NewAcceptor(mechs.AcceptorParams{})
	r := ac.Step(&mechs.StepInput{Token: e.apReqWithSubkey(cred, e.ticket(), sub)})
	wantStatus(t, r, status.SEC_E_OK)
	if !secctx.ASCRet(r.Flags).Has(secctx.ASC_RET_DELEGATE) {
		t.Fatalf("flags %v", secctx.ASCRet(r.Flags))
	}
	got, st, err := delegated(t, ac)
	if st != status.SEC_E_OK || !bytes.Equal(got.Ticket.SessionKey.KeyValue, tgt.key.value) {
		t.Fatalf("%v %v", st, err)
	}
}

// TestDelegationUnencrypted: RFC 6448's KRB-CRED with its EncKrbCredPart
// in the clear (etype 0), inside the authenticator that protects it.
func TestDelegationUnencrypted(t *testing.T) {
	e := newTestEnv(t)
	tgt := e.tgtOf()
	cred := krbCredClear(t, [][]byte{tgt.raw}, encKrbCredPart(t, tgt))
	ac, _ := e.acceptCred("").NewAcceptor(mechs.AcceptorParams{})
	r := ac.Step(&mechs.StepInput{Token: e.apReqWith(cred)})
	wantStatus(t, r, status.SEC_E_OK)
	if !secctx.ASCRet(r.Flags).Has(secctx.ASC_RET_DELEGATE) {
		t.Fatalf("flags %v", secctx.ASCRet(r.Flags))
	}
	got, st, err := delegated(t, ac)
	if st != status.SEC_E_OK || !bytes.Equal(got.Ticket.SessionKey.KeyValue, tgt.key.value) {
		t.Fatalf("%v %v", st, err)
	}
}

// TestDecodeKRBCredRefuses: every way a KRB-CRED may fail to hold a TGT
// for the authenticated client.
func TestDecodeKRBCredRefuses(t *testing.T) {
	e := newTestEnv(t)
	alice := principal{nameType: nameTypePrincipal, parts: []string{"alice"}}
	base := e.tgtOf()
	variant := func(f func(*svcTicket)) *svcTicket {
		c := *base
		f(&c)
		return &c
	}
	rc4, _ := randomKey(etypeRC4HMAC)
	svc := e.ticket()
	for _, tc := range []struct {
		name    string
		tickets [][]byte
		infos   []*svcTicket
		client  principal
		want    string
	}{
		{"another client", nil, []*svcTicket{base}, principal{parts: []string{"mallory"}}, "authenticated client"},
		{"another realm", nil, []*svcTicket{variant(func(s *svcTicket) { s.crealm = "OTHER.ORG" })}, alice, "realm"},
		{"a service ticket", [][]byte{svc.raw}, []*svcTicket{svc}, alice, "not krbtgt"},
		{"server names disagree", nil, []*svcTicket{variant(func(s *svcTicket) { s.server = principal{parts: []string{"krbtgt", "OTHER.ORG"}} })}, alice, "names server"},
		{"no end time", nil, []*svcTicket{variant(func(s *svcTicket) { s.endTime = time.Time{} })}, alice, "no end time"},
		{"ends before it starts", nil, []*svcTicket{variant(func(s *svcTicket) { s.endTime = s.startTime.Add(-time.Second) })}, alice, "ends before"},
		{"RC4 disabled", nil, []*svcTicket{variant(func(s *svcTicket) { s.key = rc4 })}, alice, "RC4"},
		{"two credentials", nil, []*svcTicket{base, base}, alice, "exactly 1"},
		{"two tickets", [][]byte{base.raw, base.raw}, []*svcTicket{base}, alice, "exactly 1"},
		{"no ticket", [][]byte{}, []*svcTicket{base}, alice, "exactly 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tickets := tc.tickets
			if tickets == nil {
				tickets = [][]byte{base.raw}
			}
			plain := encKrbCredPart(t, tc.infos...)
			raw := krbCredClear(t, tickets, plain)
			if _, err := openKRBCred(raw, base.key, nil); err != nil {
				t.Fatalf("open: %v", err)
			}
			_, err := decodeKRBCred(raw, plain, tc.client, testRealm, false)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want %q", err, tc.want)
			}
		})
	}
	// The base itself decodes (the table's failures are its variants').
	plain := encKrbCredPart(t, base)
	raw := krbCredClear(t, [][]byte{base.raw}, plain)
	if _, err := decodeKRBCred(raw, plain, alice, testRealm, false); err != nil {
		t.Fatal(err)
	}
}

// tgtTestConfig is a krb5.conf for the realm of the unit tests, whose KDC
// nobody answers (the tests only look at the requests).
func tgtTestConfig(t testing.TB) *config.Config {
	t.Helper()
	cfg, err := config.NewFromString("[libdefaults]\n default_realm = " + testRealm + "\n[realms]\n " + testRealm + " = {\n  kdc = 127.0.0.1:9\n }\n")
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TestTGTCredential: the outbound credential made from a delegated TGT
// asks the KDC for service tickets with a TGS-REQ (through the engine's
// I/O, as every credential does), and fails with SEC_E_NO_CREDENTIALS,
// without asking anyone, once its TGT has ended.
func TestTGTCredential(t *testing.T) {
	e := newTestEnv(t)
	e.src.tgt = e.tgtOf()
	_, ac := e.handshake(secctx.ISC_REQ_DELEGATE, nil, nil)
	tgt, st, err := delegated(t, ac)
	if st != status.SEC_E_OK {
		t.Fatal(err)
	}
	pkg := New(WithConfig(tgtTestConfig(t)), WithClock(e.clock))
	cred, err := pkg.AcquireCredentials(mechs.CredentialRequest{Use: secctx.SECPKG_CRED_OUTBOUND, AuthData: tgt})
	if err != nil {
		t.Fatal(err)
	}
	defer cred.Close()
	if cred.Principal() != "alice@"+testRealm || !cred.Expiry().Equal(e.src.tgt.endTime.Truncate(time.Second)) {
		t.Fatalf("credential for %q until %v", cred.Principal(), cred.Expiry())
	}
	ic, err := cred.NewInitiator(mechs.InitiatorParams{Target: "HTTP/upstream.example.org"})
	if err != nil {
		t.Fatal(err)
	}
	r := ic.Step(&mechs.StepInput{})
	if r.IO == nil || r.IO.Kind != mechs.IOKDC || r.IO.Realm != testRealm || len(r.IO.Message) == 0 || r.IO.Message[0] != 0x6c {
		t.Fatalf("first leg: %+v, want the TGS-REQ ([APPLICATION 12]) as an IORequest", r)
	}
	if !bytes.Contains(r.IO.Message, e.src.tgt.raw) {
		t.Fatal("the TGS-REQ does not carry the delegated TGT")
	}
	ic.Close()

	// Ended: no login, no I/O, a clear cause. (The same target: the
	// operation the first leg left behind, whose TGS-REQ nobody sent, is
	// not sent now with the ended TGT.)
	e.now = e.src.tgt.endTime.Add(time.Second)
	ic, _ = cred.NewInitiator(mechs.InitiatorParams{Target: "HTTP/upstream.example.org"})
	r = ic.Step(&mechs.StepInput{})
	if r.IO != nil {
		t.Fatalf("an ended TGT asked for I/O (%v to %s)", r.IO.Kind, r.IO.Realm)
	}
	wantStatus(t, r, status.SEC_E_NO_CREDENTIALS)
	if !errors.Is(r.Err, kdc.ErrTGTEnded) {
		t.Fatalf("cause %v", r.Err)
	}
}

// TestTGTCredentialRefused: AuthData that cannot make a TGT credential.
func TestTGTCredentialRefused(t *testing.T) {
	e := newTestEnv(t)
	e.src.tgt = e.tgtOf()
	_, ac := e.handshake(secctx.ISC_REQ_DELEGATE, nil, nil)
	tgt, _, _ := delegated(t, ac)
	pkg := New(WithConfig(tgtTestConfig(t)), WithClock(e.clock))
	acquire := func(principal string, use secctx.CredentialUse, ad any) (mechs.Credential, error) {
		c, err := pkg.AcquireCredentials(mechs.CredentialRequest{Principal: principal, Use: use, AuthData: ad})
		if err == nil {
			t.Cleanup(func() { c.Close() })
		}
		return c, err
	}
	if _, err := acquire("", secctx.SECPKG_CRED_OUTBOUND, &TGT{}); status.CodeOf(err) != status.SEC_E_NO_CREDENTIALS {
		t.Fatalf("no ticket: %v", err)
	}
	if _, err := acquire("bob@"+testRealm, secctx.SECPKG_CRED_OUTBOUND, tgt); status.CodeOf(err) != status.SEC_E_UNKNOWN_CREDENTIALS {
		t.Fatalf("another principal: %v", err)
	}
	if _, err := acquire("alice@"+testRealm, secctx.SECPKG_CRED_OUTBOUND, tgt); err != nil {
		t.Fatalf("its own principal: %v", err)
	}
	svc := tgt.Ticket.Clone()
	svc.Server.NameString = []string{"HTTP", "host.example.org"}
	if _, err := acquire("", secctx.SECPKG_CRED_OUTBOUND, &TGT{Ticket: svc}); status.CodeOf(err) != status.SEC_E_NO_CREDENTIALS || !strings.Contains(err.Error(), "not a TGT") {
		t.Fatalf("a service ticket: %v", err)
	}
	// Both uses: the outbound half serves, an acceptor has no keys.
	c, err := acquire("", secctx.SECPKG_CRED_BOTH, tgt)
	if err != nil {
		t.Fatalf("both uses: %v", err)
	}
	if _, err := c.NewAcceptor(mechs.AcceptorParams{}); status.CodeOf(err) != status.SEC_E_NO_CREDENTIALS {
		t.Fatalf("acceptor of a TGT credential: %v", err)
	}
}

// FuzzKRBCred feeds the acceptor's KRB-CRED reading: opening under a
// session key, then decoding the TGT. Seeds: MIT's delegated KRB-CRED
// (encrypted) and the same in the clear, and ours.
func FuzzKRBCred(f *testing.F) {
	raw, sess, client, crealm := mitKRBCred(f)
	f.Add(raw)
	plain, err := openKRBCred(raw, sess, nil)
	if err != nil {
		f.Fatal(err)
	}
	tgt, err := decodeKRBCred(raw, plain, client, crealm, false)
	if err != nil {
		f.Fatal(err)
	}
	der, _ := tgt.Ticket.Marshal()
	f.Add(krbCredClear(f, [][]byte{der}, plain))
	e := newTestEnv(f)
	ours, err := buildKRBCred(sess, e.tgtOf(), e.now)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(ours)
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := openKRBCred(b, sess, nil)
		if err != nil {
			return
		}
		for _, c := range []principal{client, {parts: []string{"alice"}}} {
			for _, realm := range []string{crealm, testRealm} {
				tk, err := decodeKRBCred(b, p, c, realm, true)
				if err != nil {
					continue
				}
				if !sameParts(fromPrincipalName(tk.Client), c) || tk.CRealm != realm || !isKrbtgt(fromPrincipalName(tk.Server), realm) ||
					tk.EndTime.IsZero() || len(tk.SessionKey.KeyValue) == 0 {
					t.Fatalf("decoded a TGT that is not the client's: %+v", tk)
				}
				if _, err := tk.Ticket.Marshal(); err != nil {
					t.Fatalf("the decoded ticket does not encode: %v", err)
				}
			}
		}
	})
}

// FuzzEncKrbCredPart feeds the decoding of the EncKrbCredPart (as the
// KRB-CRED's plaintext) against MIT's KRB-CRED. Seed: MIT's, decrypted.
func FuzzEncKrbCredPart(f *testing.F) {
	raw, sess, client, crealm := mitKRBCred(f)
	plain, err := openKRBCred(raw, sess, nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(plain)
	f.Fuzz(func(t *testing.T, p []byte) {
		info, err := parseEncKrbCredPart(p)
		tk, derr := decodeKRBCred(raw, p, client, crealm, true)
		if err != nil && derr == nil {
			t.Fatal("decoded an EncKrbCredPart that does not parse")
		}
		if derr == nil && (!bytes.Equal(tk.SessionKey.KeyValue, info.keyValue) || tk.EndTime.IsZero()) {
			t.Fatalf("decoded %+v from %+v", tk, info)
		}
	})
}
