package negotiate

import (
	"bytes"
	"errors"
	"strconv"
	"testing"

	"golang.org/x/crypto/cryptobyte/asn1"

	secctx "github.com/asyncsspi/asyncsspi/context"
	"github.com/asyncsspi/asyncsspi/mechs"
	"github.com/asyncsspi/asyncsspi/mechs/kerberos"
	"github.com/asyncsspi/asyncsspi/mechs/ntlm"
	"github.com/asyncsspi/asyncsspi/status"
)

// TestMaxTokenSize: the package's maximum token size comes from its
// sub-packages (48,256 over Kerberos, as Windows reports it), and no
// context believes a token, or a DER length, beyond it: such a token is
// SEC_E_INVALID_TOKEN, not SEC_E_INCOMPLETE_MESSAGE asking for bytes no
// peer could send.
func TestMaxTokenSize(t *testing.T) {
	if got := New(kerberos.New(), ntlm.New()).Info().MaxToken; got != 48256 {
		t.Fatalf("Negotiate over Kerberos and NTLM: MaxToken %d, want 48256", got)
	}
	if got := New(ntlm.New()).Info().MaxToken; got != 2888+256 {
		t.Fatalf("Negotiate over NTLM: MaxToken %d", got)
	}
	if got := New(nullPkg{}).Info().MaxToken; got != 65535 {
		t.Fatalf("a sub-package that reports no MaxToken: %d, want 65535", got)
	}
	p := New(toyKerberos(), toyNTLM()) // MaxToken 1000 + 256
	limit := int(p.Info().MaxToken)
	header := func(tag byte, n int) []byte { return appendHeader(nil, asn1.Tag(tag), n) }
	acceptorGets := func(tok []byte) mechs.StepResult {
		ac, _ := mustCred(t, p, secctx.SECPKG_CRED_INBOUND, nil).NewAcceptor(mechs.AcceptorParams{})
		t.Cleanup(ac.Close)
		return ac.Step(&mechs.StepInput{Token: tok})
	}
	initiatorGets := func(tok []byte) mechs.StepResult {
		ic, _ := mustCred(t, p, secctx.SECPKG_CRED_OUTBOUND, nil).NewInitiator(mechs.InitiatorParams{Target: "HTTP/h"})
		t.Cleanup(ic.Close)
		ic.Step(&mechs.StepInput{})
		return ic.Step(&mechs.StepInput{Token: tok})
	}
	for _, c := range []struct {
		name    string
		r       mechs.StepResult
		want    status.Code
		missing int
	}{
		{"NegTokenInit whose length needs more", acceptorGets(header(0x60, limit)), status.SEC_E_INVALID_TOKEN, 0},
		{"NegTokenInit cut short", acceptorGets(header(0x60, limit-4)), status.SEC_E_INCOMPLETE_MESSAGE, limit - 4},
		{"NegTokenInit too long", acceptorGets(append(header(0x60, limit), make([]byte, limit)...)), status.SEC_E_INVALID_TOKEN, 0},
		{"16 MiB DER length", acceptorGets([]byte{0x60, 0x83, 0xff, 0xff, 0xff}), status.SEC_E_INVALID_TOKEN, 0},
		{"raw NTLMSSP too long", acceptorGets(append([]byte("NTLMSSP\x00"), make([]byte, limit)...)), status.SEC_E_INVALID_TOKEN, 0},
		{"NegTokenResp whose length needs more", initiatorGets(header(0xa1, limit)), status.SEC_E_INVALID_TOKEN, 0},
		{"NegTokenResp cut short", initiatorGets(header(0xa1, limit-4)), status.SEC_E_INCOMPLETE_MESSAGE, limit - 4},
		{"NegTokenResp too long", initiatorGets(make([]byte, limit+1)), status.SEC_E_INVALID_TOKEN, 0},
	} {
		if c.r.Status != c.want || c.r.Missing != c.missing || !errors.Is(c.r.Err, c.want) {
			t.Errorf("%s: %v, missing %d (%v); want %v, missing %d", c.name, c.r.Status, c.r.Missing, c.r.Err, c.want, c.missing)
		}
	}

	// An unwrapped exchange (a raw GSS-framed mechanism token) is held
	// to the same bound on its later legs.
	framed := func(p *toyPkg) { p.framed = true }
	ac, _ := mustCred(t, New(toyKerberos(), toyNTLM(framed)), secctx.SECPKG_CRED_INBOUND, nil).NewAcceptor(mechs.AcceptorParams{})
	defer ac.Close()
	first := (&toyCtx{cred: &toyCred{pkg: toyNTLM(framed)}}).tok(0)
	if r := ac.Step(&mechs.StepInput{Token: first}); r.Status != status.SEC_I_CONTINUE_NEEDED {
		t.Fatalf("raw first token: %v", r.Err)
	}
	if r := ac.Step(&mechs.StepInput{Token: make([]byte, limit+1)}); r.Status != status.SEC_E_INVALID_TOKEN {
		t.Fatalf("oversized unwrapped token: %v", r.Status)
	}

	// The package-independent parsers believe 65535 bytes at most.
	if _, err := ParseNegTokenResp(header(0xa1, 65536)); status.CodeOf(err) != status.SEC_E_INVALID_TOKEN {
		t.Fatalf("ParseNegTokenResp of a 64 KiB length: %v", err)
	}
	if _, err := ParseNegTokenInit(header(0x60, 60000)); status.CodeOf(err) != status.SEC_E_INCOMPLETE_MESSAGE || Missing(err) != 60000 {
		t.Fatalf("ParseNegTokenInit cut short: %v, missing %d", err, Missing(err))
	}
}

// snapshot is what a caller can see of a context between legs.
type snapshot struct {
	info                    secctx.NegotiationInfo
	inits, accepts, closes  int32
	msgStatus               status.Code
	sizesStatus, nameStatus status.Code
}

func snap(t *testing.T, ctx mechs.SecurityContext, pkgs ...*toyPkg) snapshot {
	t.Helper()
	s := snapshot{info: negInfo(t, ctx)}
	for _, p := range pkgs {
		s.inits += p.stats.inits.Load()
		s.accepts += p.stats.accepts.Load()
		s.closes += p.stats.closes.Load()
	}
	msg := []secctx.Buffer{{Type: secctx.SECBUFFER_DATA, Data: []byte("x")}, {Type: secctx.SECBUFFER_TOKEN, Data: make([]byte, 16)}}
	s.msgStatus = ctx.MakeSignature(0, msg, 0)
	_, s.sizesStatus = ctx.QueryAttribute(secctx.SECPKG_ATTR_SIZES)
	_, s.nameStatus = ctx.QueryAttribute(secctx.SECPKG_ATTR_NAMES)
	return s
}

// handshakeTruncating runs a handshake in which every token first reaches
// its receiver, when that is a Negotiate context, cut short at every
// length: each such leg must be SEC_E_INCOMPLETE_MESSAGE (with the exact
// missing count once a SPNEGO token's outer length is readable, when
// exact) and must leave the receiver exactly as it was, so that the
// whole token, given next, goes on as if nothing had happened.
func handshakeTruncating(t *testing.T, ic, ac mechs.SecurityContext, exact bool, pkgs ...*toyPkg) []leg {
	t.Helper()
	var legs []leg
	var tok []byte
	ctxs := [2]mechs.SecurityContext{ic, ac}
	for n := 0; n < 20; n++ {
		ctx := ctxs[n%2]
		if tok != nil && isNegotiate(ctx) {
			before := snap(t, ctx, pkgs...)
			for cut := 0; cut < len(tok); cut++ {
				if cut == 0 && n%2 == 1 {
					continue // an acceptor's empty input asks it to speak first, or is its mechanism's to judge
				}
				r := ctx.Step(&mechs.StepInput{Token: tok[:cut]})
				if r.Status != status.SEC_E_INCOMPLETE_MESSAGE || r.Token != nil || r.Missing <= 0 || (exact && cut >= 4 && r.Missing != len(tok)-cut) {
					t.Fatalf("leg %d, %d of %d bytes: %v, missing %d", n, cut, len(tok), r.Status, r.Missing)
				}
				if after := snap(t, ctx, pkgs...); after != before {
					t.Fatalf("leg %d, %d of %d bytes: context changed\n%+v\n%+v", n, cut, len(tok), before, after)
				}
			}
		}
		res := ctx.Step(&mechs.StepInput{Token: tok})
		legs = append(legs, leg{n%2 == 0, res})
		if res.Status.IsError() {
			t.Fatalf("leg %d: %v", n, res.Err)
		}
		if tok = res.Token; tok == nil {
			return legs
		}
	}
	t.Fatal("handshake does not end")
	return nil
}

func isNegotiate(ctx mechs.SecurityContext) bool {
	switch ctx.(type) {
	case *initiator, *acceptor:
		return true
	}
	return false
}

func TestIncompleteLeavesContextAsItWas(t *testing.T) {
	for _, c := range []struct {
		name string
		i, a func() []*toyPkg
	}{
		{"Kerberos", func() []*toyPkg { return []*toyPkg{toyKerberos(), toyNTLM()} }, func() []*toyPkg { return []*toyPkg{toyKerberos(), toyNTLM()} }},
		{"NTLM", func() []*toyPkg { return []*toyPkg{toyNTLM()} }, func() []*toyPkg { return []*toyPkg{toyNTLM()} }},
		{"counter-proposal", func() []*toyPkg { return []*toyPkg{toyKerberos(), toyNTLM()} }, func() []*toyPkg { return []*toyPkg{toyNTLM()} }},
	} {
		t.Run(c.name, func(t *testing.T) {
			ip, ap := c.i(), c.a()
			ic, ac := pair(t, New(asPackages(ip)...), New(asPackages(ap)...), nil, nil)
			bothOK(t, handshakeTruncating(t, ic, ac, true, append(ip, ap...)...))
		})
	}
	// A raw NTLMSSP client, answered in raw NTLM by the real package:
	// its truncated messages are NTLM's SEC_E_INCOMPLETE_MESSAGE, and the
	// Negotiate acceptor is left as it was for them too.
	icred, _ := ntlmForMIT().AcquireCredentials(mechs.CredentialRequest{Use: secctx.SECPKG_CRED_OUTBOUND,
		AuthData: &secctx.AuthIdentity{User: "alice", Domain: "EXAMPLE", Password: "Passw0rd!"}})
	ic, _ := icred.NewInitiator(mechs.InitiatorParams{Target: "HTTP/localhost"})
	ac, _ := mustCred(t, New(toyKerberos(), ntlmForMIT()), secctx.SECPKG_CRED_INBOUND, nil).NewAcceptor(mechs.AcceptorParams{})
	defer ic.Close()
	defer ac.Close()
	handshakeTruncating(t, ic, ac, false)
	completedWith(t, ac, "NTLM")
}

func asPackages(ps []*toyPkg) []mechs.Package {
	out := make([]mechs.Package, len(ps))
	for i, p := range ps {
		out[i] = p
	}
	return out
}

// TestTruncatedInnerTokenIsInvalid: a whole SPNEGO token whose NTLM or
// Kerberos token is cut short is malformed. More bytes of the same token
// cannot help (its own length is satisfied), so it is SEC_E_INVALID_TOKEN
// with no missing count, and the exchange fails, on either side.
func TestTruncatedInnerTokenIsInvalid(t *testing.T) {
	for _, c := range []struct {
		name      string
		p         func() *Package
		initiator bool // the initiator receives the token
		msg       interface{ Marshal() ([]byte, error) }
	}{
		{"acceptor, Kerberos", func() *Package { return New(toyKerberos(), toyNTLM()) }, false,
			&NegTokenInit{MechTypes: []string{mechs.OIDKerberos, mechs.OIDNTLMSSP}, MechToken: []byte("Kerberos:")}},
		{"acceptor, NTLM", func() *Package { return New(toyNTLM()) }, false,
			&NegTokenInit{MechTypes: []string{mechs.OIDNTLMSSP}, MechToken: []byte("NTLM:")}},
		{"initiator, Kerberos", func() *Package { return New(toyKerberos(), toyNTLM()) }, true,
			&NegTokenResp{NegState: AcceptCompleted, SupportedMech: mechs.OIDKerberos, ResponseToken: []byte("Kerberos:")}},
		{"initiator, NTLM", func() *Package { return New(toyNTLM()) }, true,
			&NegTokenResp{NegState: AcceptIncomplete, SupportedMech: mechs.OIDNTLMSSP, ResponseToken: []byte("NTLM:")}},
	} {
		t.Run(c.name, func(t *testing.T) {
			ic, ac := pair(t, c.p(), c.p(), nil, nil)
			ctx := ac
			if c.initiator {
				ctx = ic
				ic.Step(&mechs.StepInput{})
			}
			innerCutShort(t, ctx, marshal(t, c.msg), !c.initiator)
		})
	}
	// The real NTLM package: an initiator given a NegTokenResp whose
	// CHALLENGE is cut short.
	ic, ac := realNTLMPairInternal(t)
	r0 := ic.Step(&mechs.StepInput{})
	r1 := ac.Step(&mechs.StepInput{Token: r0.Token})
	resp, err := ParseNegTokenResp(r1.Token)
	if err != nil || !bytes.HasPrefix(resp.ResponseToken, []byte("NTLMSSP\x00\x02")) {
		t.Fatalf("%+v %v", resp, err)
	}
	resp.ResponseToken = resp.ResponseToken[:40]
	innerCutShort(t, ic, marshal(t, resp), false)
}

// innerCutShort gives ctx a whole SPNEGO token with a truncated inner
// token: SEC_E_INVALID_TOKEN, no missing count, a reject from an
// acceptor, and a failed context.
func innerCutShort(t *testing.T, ctx mechs.SecurityContext, tok []byte, reject bool) {
	t.Helper()
	r := ctx.Step(&mechs.StepInput{Token: tok})
	if r.Status != status.SEC_E_INVALID_TOKEN || r.Missing != 0 || !errors.Is(r.Err, status.SEC_E_INVALID_TOKEN) || errors.Is(r.Err, status.SEC_E_INCOMPLETE_MESSAGE) {
		t.Fatalf("%v, missing %d (%v)", r.Status, r.Missing, r.Err)
	}
	if reject {
		if resp, err := ParseNegTokenResp(r.Token); err != nil || resp.NegState != Reject {
			t.Fatalf("no reject: %+v %v", resp, err)
		}
	}
	if r := ctx.Step(&mechs.StepInput{Token: tok}); r.Status != status.SEC_E_INVALID_HANDLE {
		t.Fatalf("after the failure: %v", r.Status)
	}
}

func marshal(t *testing.T, m interface{ Marshal() ([]byte, error) }) []byte {
	t.Helper()
	b, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// realNTLMPairInternal is a Negotiate initiator and acceptor over the real
// NTLM package (alice's password, the acceptor's user store).
func realNTLMPairInternal(t *testing.T) (ic, ac mechs.SecurityContext) {
	p := New(ntlmForMIT())
	return pair(t, p, p, &secctx.AuthIdentity{User: "alice", Domain: "EXAMPLE", Password: "Passw0rd!"}, nil)
}

// TestRejectCarriesMechanismError: a sub-package's refusal travels in the
// acceptor's reject NegTokenResp as the mechanism's error token, whatever
// ASC_REQ_EXTENDED_ERROR the caller gave, and the initiator's sub-context
// turns it into its own status, in the first reply and later.
func TestRejectCarriesMechanismError(t *testing.T) {
	skew := func(p *toyPkg) { p.acceptErr = status.SEC_E_TIME_SKEW }
	for _, c := range []struct {
		name string
		a    *Package
	}{
		// The optimistic Kerberos token refused: the reject is the
		// first reply.
		{"first reply", New(toyKerberos(skew), toyNTLM())},
		// NTLM chosen by a counter-proposal, its first token refused.
		{"after a counter-proposal", New(toyNTLM(skew))},
	} {
		t.Run(c.name, func(t *testing.T) {
			ic, ac := pair(t, New(toyKerberos(), toyNTLM()), c.a, nil, nil)
			legs := handshake(t, ic, ac, nil)
			endedBy(t, legs, false, status.SEC_E_TIME_SKEW)
			refusal := legs[len(legs)-1].res
			if refusal.Flags&uint64(secctx.ASC_RET_EXTENDED_ERROR) != 0 {
				t.Fatalf("ASC_RET_EXTENDED_ERROR reported to a caller that did not ask: %#x", refusal.Flags)
			}
			resp, err := ParseNegTokenResp(refusal.Token)
			if err != nil || resp.NegState != Reject || !bytes.HasSuffix(resp.ResponseToken, []byte(":error:"+strconv.FormatUint(uint64(status.SEC_E_TIME_SKEW), 10))) {
				t.Fatalf("reject %+v %v", resp, err)
			}
			r := ic.Step(&mechs.StepInput{Token: refusal.Token})
			if r.Status != status.SEC_E_TIME_SKEW || !errors.Is(r.Err, status.SEC_E_TIME_SKEW) {
				t.Fatalf("initiator on the reject: %v (%v)", r.Status, r.Err)
			}
		})
	}
	// The sub-packages are asked for their error token; the caller sees
	// ASC_RET_EXTENDED_ERROR only when it asked.
	for _, req := range []secctx.ASCReq{0, secctx.ASC_REQ_EXTENDED_ERROR} {
		k := toyKerberos()
		p := New(k)
		ic, _ := mustCred(t, p, secctx.SECPKG_CRED_OUTBOUND, nil).NewInitiator(mechs.InitiatorParams{Target: "HTTP/h"})
		ac, _ := mustCred(t, p, secctx.SECPKG_CRED_INBOUND, nil).NewAcceptor(mechs.AcceptorParams{Req: req})
		r := ac.Step(&mechs.StepInput{Token: ic.Step(&mechs.StepInput{}).Token})
		if secctx.ASCReq(k.stats.acceptReq.Load())&secctx.ASC_REQ_EXTENDED_ERROR == 0 {
			t.Fatal("the sub-package was not asked for its error token")
		}
		if got, want := r.Flags&uint64(secctx.ASC_RET_EXTENDED_ERROR) != 0, req != 0; r.Status != status.SEC_E_OK || got != want {
			t.Fatalf("req %#x: %v, ASC_RET_EXTENDED_ERROR %v", req, r.Status, got)
		}
		ic.Close()
		ac.Close()
	}
}

// TestRejectForAnotherMechanism: a reject in the first reply that names a
// mechanism other than the optimistic one does not go to the optimistic
// sub-context.
func TestRejectForAnotherMechanism(t *testing.T) {
	ic, _ := pair(t, New(toyKerberos(), toyNTLM()), New(toyNTLM()), nil, nil)
	ic.Step(&mechs.StepInput{})
	reject := marshal(t, &NegTokenResp{NegState: Reject, SupportedMech: mechs.OIDNTLMSSP,
		ResponseToken: []byte("Kerberos:error:" + strconv.FormatUint(uint64(status.SEC_E_TIME_SKEW), 10))})
	if r := ic.Step(&mechs.StepInput{Token: reject}); r.Status != status.SEC_E_LOGON_DENIED {
		t.Fatalf("%v", r.Status)
	}
}
