package negotiate

import (
	"errors"
	"testing"

	secctx "github.com/asyncsspi/asyncsspi/context"
	"github.com/asyncsspi/asyncsspi/mechs"
	"github.com/asyncsspi/asyncsspi/status"
)

func withOIDs(oids ...string) func(*toyPkg) { return func(p *toyPkg) { p.oids = oids } }

// toyKerberos and toyNTLM stand in for the real packages: Kerberos with
// mutual authentication (AP-REQ, AP-REP), NTLM's three messages.
func toyKerberos(opts ...func(*toyPkg)) *toyPkg {
	return newToy("Kerberos", 2, append([]func(*toyPkg){withOIDs(mechs.OIDKerberos)}, opts...)...)
}

func toyNTLM(opts ...func(*toyPkg)) *toyPkg {
	return newToy("NTLM", 3, append([]func(*toyPkg){withOIDs(mechs.OIDNTLMSSP)}, opts...)...)
}

func mustCred(t *testing.T, p *Package, use secctx.CredentialUse, authData any) *Credential {
	t.Helper()
	c, err := p.AcquireCredentials(mechs.CredentialRequest{Use: use, AuthData: authData})
	if err != nil {
		t.Fatal(err)
	}
	return c.(*Credential)
}

// leg is one Step's outcome, for the transcript.
type leg struct {
	initiator bool
	res       mechs.StepResult
}

// handshake runs initiator and acceptor against each other. tamper, when
// set, may rewrite the n-th token on the wire (n from 0). It returns the
// transcript; the last leg is the one that ended the exchange.
func handshake(t *testing.T, ic, ac mechs.SecurityContext, tamper func(n int, tok []byte) []byte) []leg {
	t.Helper()
	var legs []leg
	var tok []byte
	initTurn := true
	for n := 0; n < 20; n++ {
		var ctx mechs.SecurityContext = ac
		if initTurn {
			ctx = ic
		}
		in := &mechs.StepInput{Token: tok}
		res := ctx.Step(in)
		for res.IO != nil {
			reply, err := res.IO.Performer.Perform(t.Context(), res.IO)
			in.IOReply, in.IOErr = reply, err
			res = ctx.Step(in)
		}
		legs = append(legs, leg{initTurn, res})
		if res.Status.IsError() {
			return legs
		}
		if res.Token == nil {
			if res.Status == status.SEC_E_OK {
				return legs
			}
			t.Fatalf("leg %d: %v with no token", n, res.Status)
		}
		tok = res.Token
		if tamper != nil {
			tok = tamper(n, tok)
		}
		initTurn = !initTurn
	}
	t.Fatal("handshake does not end")
	return nil
}

// bothOK checks that both sides reached SEC_E_OK.
func bothOK(t *testing.T, legs []leg) {
	t.Helper()
	var iOK, aOK bool
	for _, l := range legs {
		if l.res.Status.IsError() {
			t.Fatalf("leg failed: %v", l.res.Err)
		}
		if l.res.Status == status.SEC_E_OK {
			if l.initiator {
				iOK = true
			} else {
				aOK = true
			}
		}
	}
	if !iOK || !aOK {
		t.Fatalf("initiator OK %v, acceptor OK %v; transcript %v", iOK, aOK, describe(legs))
	}
}

func describe(legs []leg) []string {
	var s []string
	for _, l := range legs {
		side := "A"
		if l.initiator {
			side = "I"
		}
		s = append(s, side+":"+l.res.Status.String())
	}
	return s
}

func lastErr(legs []leg) error { return legs[len(legs)-1].res.Err }

func negInfo(t *testing.T, ctx mechs.SecurityContext) secctx.NegotiationInfo {
	t.Helper()
	v, st := ctx.QueryAttribute(secctx.SECPKG_ATTR_NEGOTIATION_INFO)
	if st != status.SEC_E_OK {
		t.Fatalf("NEGOTIATION_INFO: %v", st)
	}
	return v.(secctx.NegotiationInfo)
}

// completedWith checks that ctx completed with the named sub-package.
func completedWith(t *testing.T, ctx mechs.SecurityContext, pkg string) {
	t.Helper()
	if ni := negInfo(t, ctx); ni.Package.Name != pkg || ni.State != secctx.SECPKG_NEGOTIATION_COMPLETE {
		t.Fatalf("%+v, want %s complete", ni, pkg)
	}
}

func pair(t *testing.T, ip, ap *Package, idata, adata any) (mechs.SecurityContext, mechs.SecurityContext) {
	t.Helper()
	ic, err := mustCred(t, ip, secctx.SECPKG_CRED_OUTBOUND, idata).NewInitiator(mechs.InitiatorParams{Target: "HTTP/host.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	ac, err := mustCred(t, ap, secctx.SECPKG_CRED_INBOUND, adata).NewAcceptor(mechs.AcceptorParams{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ic.Close(); ac.Close() })
	return ic, ac
}

func TestKerberosPreferredFirstChoiceNoMIC(t *testing.T) {
	k, n := toyKerberos(), toyNTLM()
	p := New(k, n)
	ic, ac := pair(t, p, p, nil, nil)
	legs := handshake(t, ic, ac, nil)
	bothOK(t, legs)
	if len(legs) != 3 {
		t.Fatalf("transcript %v, want NegTokenInit, accept-completed, OK", describe(legs))
	}
	tok, err := ParseNegTokenInit(legs[0].res.Token)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{mechs.OIDMSKerberos, mechs.OIDKerberos, mechs.OIDNTLMSSP}
	if len(tok.MechTypes) != 3 || tok.MechTypes[0] != want[0] || tok.MechTypes[1] != want[1] || tok.MechTypes[2] != want[2] || string(tok.MechToken) != "Kerberos:0" {
		t.Fatalf("NegTokenInit %+v", tok)
	}
	resp, err := ParseNegTokenResp(legs[1].res.Token)
	if err != nil || resp.NegState != AcceptCompleted || resp.SupportedMech != mechs.OIDMSKerberos || resp.MechListMIC != nil {
		t.Fatalf("reply %+v %v", resp, err)
	}
	if k.stats.signs.Load() != 0 || n.stats.inits.Load() != 0 {
		t.Fatalf("signs %d, NTLM inits %d", k.stats.signs.Load(), n.stats.inits.Load())
	}
	for _, c := range []mechs.SecurityContext{ic, ac} {
		completedWith(t, c, "Kerberos")
		if v, st := c.QueryAttribute(secctx.SECPKG_ATTR_PACKAGE_INFO); st != status.SEC_E_OK || v.(secctx.PackageInfo).Name != "Kerberos" {
			t.Fatalf("PACKAGE_INFO %v %v", v, st)
		}
		if v, st := c.QueryAttribute(secctx.SECPKG_ATTR_NAMES); st != status.SEC_E_OK || v.(secctx.Names).UserName != "alice@KERBEROS" {
			t.Fatalf("NAMES %v %v", v, st)
		}
	}
	// Per-message calls go to the chosen sub-context.
	msg := []secctx.Buffer{{Type: secctx.SECBUFFER_DATA, Data: []byte("hello")}, {Type: secctx.SECBUFFER_TOKEN, Data: make([]byte, 16)}}
	if st := ic.MakeSignature(0, msg, 0); st != status.SEC_E_OK {
		t.Fatal(st)
	}
	if _, st := ac.VerifySignature(msg, 0); st != status.SEC_E_OK {
		t.Fatal(st)
	}
}

func TestFallbackToNTLMWhenTargetUnknown(t *testing.T) {
	for _, c := range []struct {
		name string
		opt  func(*toyPkg)
	}{
		{"NewInitiator fails", func(p *toyPkg) { p.newInitErr = status.SEC_E_TARGET_UNKNOWN }},
		{"first Step fails", func(p *toyPkg) { p.firstErr = status.SEC_E_KDC_UNABLE_TO_REFER }},
		{"KDC unreachable after I/O", func(p *toyPkg) { p.firstIO = true; p.firstErr = status.SEC_E_NO_AUTHENTICATING_AUTHORITY }},
	} {
		t.Run(c.name, func(t *testing.T) {
			k, n := toyKerberos(c.opt), toyNTLM()
			ic, ac := pair(t, New(k, n), New(toyKerberos(), toyNTLM()), nil, nil)
			legs := handshake(t, ic, ac, nil)
			bothOK(t, legs)
			tok, err := ParseNegTokenInit(legs[0].res.Token)
			if err != nil {
				t.Fatal(err)
			}
			if len(tok.MechTypes) != 1 || tok.MechTypes[0] != mechs.OIDNTLMSSP || string(tok.MechToken) != "NTLM:0" {
				t.Fatalf("fallback NegTokenInit %+v", tok)
			}
			// NTLM: NegTokenInit, challenge, authenticate+MIC,
			// accept-completed+MIC, OK: no extra round trip.
			if len(legs) != 5 {
				t.Fatalf("transcript %v", describe(legs))
			}
			if ni := negInfo(t, ic); ni.Package.Name != "NTLM" {
				t.Fatalf("%+v", ni)
			}
			if n.stats.signs.Load() != 1 {
				t.Fatalf("initiator NTLM signed %d MICs", n.stats.signs.Load())
			}
		})
	}
}

func TestPackageListForbidsFallback(t *testing.T) {
	k, n := toyKerberos(func(p *toyPkg) { p.newInitErr = status.SEC_E_TARGET_UNKNOWN }), toyNTLM()
	p := New(k, n)
	cred := mustCred(t, p, secctx.SECPKG_CRED_OUTBOUND, &secctx.AuthIdentity{User: "alice", PackageList: "!ntlm"})
	if got := cred.Packages(); len(got) != 1 || got[0] != "Kerberos" {
		t.Fatalf("packages %v", got)
	}
	ic, err := cred.NewInitiator(mechs.InitiatorParams{Target: "host"})
	if err != nil {
		t.Fatal(err)
	}
	defer ic.Close()
	res := ic.Step(&mechs.StepInput{})
	if res.Status != status.SEC_E_TARGET_UNKNOWN || !errors.Is(res.Err, status.SEC_E_TARGET_UNKNOWN) {
		t.Fatalf("%v %v", res.Status, res.Err)
	}
	if n.stats.inits.Load() != 0 {
		t.Fatal("NTLM was tried although the package list forbids it")
	}
	// "!kerberos" the other way round; "NTLM" alone too.
	for _, list := range []string{"!kerberos", "NTLM"} {
		c := mustCred(t, New(toyKerberos(), toyNTLM()), secctx.SECPKG_CRED_OUTBOUND, secctx.AuthIdentity{PackageList: list})
		if got := c.Packages(); len(got) != 1 || got[0] != "NTLM" {
			t.Fatalf("%q: packages %v", list, got)
		}
	}
	_, err = p.AcquireCredentials(mechs.CredentialRequest{Use: secctx.SECPKG_CRED_OUTBOUND, AuthData: &secctx.AuthIdentity{PackageList: "!ntlm,!kerberos"}})
	if status.CodeOf(err) != status.SEC_E_NO_CREDENTIALS {
		t.Fatalf("%v", err)
	}
}

func TestNoFallbackOnLogonFailure(t *testing.T) {
	k, n := toyKerberos(func(p *toyPkg) { p.firstErr = status.SEC_E_LOGON_DENIED }), toyNTLM()
	ic, _ := pair(t, New(k, n), New(k, n), nil, nil)
	res := ic.Step(&mechs.StepInput{})
	if res.Status != status.SEC_E_LOGON_DENIED || n.stats.inits.Load() != 0 {
		t.Fatalf("%v, NTLM inits %d", res.Status, n.stats.inits.Load())
	}
}

func TestAllFailGivesFirstError(t *testing.T) {
	k := toyKerberos(func(p *toyPkg) { p.newInitErr = status.SEC_E_TARGET_UNKNOWN })
	n := toyNTLM(func(p *toyPkg) { p.newInitErr = status.SEC_E_NO_CREDENTIALS })
	ic, _ := pair(t, New(k, n), New(k, n), nil, nil)
	if res := ic.Step(&mechs.StepInput{}); res.Status != status.SEC_E_TARGET_UNKNOWN {
		t.Fatalf("%v", res.Status)
	}
}

// TestAcceptorCounterProposal: the acceptor cannot do Kerberos; it picks
// NTLM with request-mic, the initiator drops its optimistic Kerberos
// context, and the MICs are exchanged.
func TestAcceptorCounterProposal(t *testing.T) {
	ik, in := toyKerberos(), toyNTLM()
	an := toyNTLM()
	ic, ac := pair(t, New(ik, in), New(an), nil, nil)
	legs := handshake(t, ic, ac, nil)
	bothOK(t, legs)
	resp, err := ParseNegTokenResp(legs[1].res.Token)
	if err != nil || resp.NegState != RequestMIC || resp.SupportedMech != mechs.OIDNTLMSSP || resp.ResponseToken != nil {
		t.Fatalf("counter-proposal %+v %v", resp, err)
	}
	// NegTokenInit(K), request-mic(NTLM), NTLM:0, NTLM:1, NTLM:2+MIC,
	// completed+MIC, OK.
	if len(legs) != 7 {
		t.Fatalf("transcript %v", describe(legs))
	}
	last, _ := ParseNegTokenResp(legs[5].res.Token)
	if last.NegState != AcceptCompleted || last.MechListMIC == nil {
		t.Fatalf("final %+v", last)
	}
	if in.stats.signs.Load() != 1 || in.stats.verifies.Load() != 1 || an.stats.signs.Load() != 1 || an.stats.verifies.Load() != 1 {
		t.Fatal("MICs not exchanged both ways")
	}
	if ik.stats.closes.Load() != 1 {
		t.Fatal("optimistic Kerberos context not closed")
	}
	completedWith(t, ac, "NTLM")
}

// editResp is a handshake tamper that rewrites the n-th token, a
// NegTokenResp, with edit.
func editResp(t *testing.T, n int, edit func(*NegTokenResp)) func(int, []byte) []byte {
	return func(i int, tok []byte) []byte {
		if i != n {
			return tok
		}
		r, err := ParseNegTokenResp(tok)
		if err != nil {
			t.Fatalf("token %d: %v", i, err)
		}
		edit(r)
		b, err := r.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
}

// stripMIC removes a NegTokenResp's mechListMIC.
func stripMIC(r *NegTokenResp) { r.MechListMIC = nil }

// endedBy checks that the exchange ended with the given side's leg
// failing with want.
func endedBy(t *testing.T, legs []leg, initiator bool, want status.Code) {
	t.Helper()
	if l := legs[len(legs)-1]; l.initiator != initiator || l.res.Status != want || !errors.Is(l.res.Err, want) {
		t.Fatalf("transcript %v: %v", describe(legs), lastErr(legs))
	}
}

// TestDowngradeDetected: an attacker strips Kerberos (and the optimistic
// token) from the list so that NTLM looks like the initiator's first
// choice. The initiator's MIC covers the list it really sent: the
// acceptor finds SEC_E_DOWNGRADE_DETECTED. If the attacker also strips
// that MIC, the initiator finds the acceptor's MIC missing.
func TestDowngradeDetected(t *testing.T) {
	strip := func(t *testing.T, alsoMIC bool) func(n int, tok []byte) []byte {
		dropMIC := editResp(t, 4, stripMIC)
		return func(n int, tok []byte) []byte {
			switch {
			case n == 0:
				b, err := (&NegTokenInit{MechTypes: []string{mechs.OIDNTLMSSP}}).Marshal()
				if err != nil {
					t.Fatal(err)
				}
				return b
			case alsoMIC:
				return dropMIC(n, tok)
			}
			return tok
		}
	}
	ic, ac := pair(t, New(toyKerberos(), toyNTLM()), New(toyKerberos(), toyNTLM()), nil, nil)
	endedBy(t, handshake(t, ic, ac, strip(t, false)), false, status.SEC_E_DOWNGRADE_DETECTED)
	ic, ac = pair(t, New(toyKerberos(), toyNTLM()), New(toyKerberos(), toyNTLM()), nil, nil)
	endedBy(t, handshake(t, ic, ac, strip(t, true)), true, status.SEC_E_DOWNGRADE_DETECTED)
}

func TestTamperedMICDetected(t *testing.T) {
	// The initiator's AUTHENTICATE + MIC (token 2), checked by the
	// acceptor; the acceptor's accept-completed + MIC (token 3), checked
	// by the initiator.
	for target, checker := range map[int]bool{2: false, 3: true} {
		ic, ac := pair(t, New(toyNTLM()), New(toyNTLM()), nil, nil)
		legs := handshake(t, ic, ac, editResp(t, target, func(r *NegTokenResp) {
			if r.MechListMIC == nil {
				t.Fatalf("token %d has no MIC: %+v", target, r)
			}
			r.MechListMIC[0] ^= 1
		}))
		endedBy(t, legs, checker, status.SEC_E_DOWNGRADE_DETECTED)
	}
}

func TestMissingMICDetected(t *testing.T) {
	// The acceptor's final token loses its MIC: the initiator, which
	// sent one, refuses.
	ic, ac := pair(t, New(toyNTLM()), New(toyNTLM()), nil, nil)
	endedBy(t, handshake(t, ic, ac, editResp(t, 3, stripMIC)), true, status.SEC_E_DOWNGRADE_DETECTED)
	// The initiator's MIC stripped while the acceptor requires one
	// (counter-proposal): the acceptor refuses.
	ic, ac = pair(t, New(toyKerberos(), toyNTLM()), New(toyNTLM()), nil, nil)
	endedBy(t, handshake(t, ic, ac, editResp(t, 4, stripMIC)), false, status.SEC_E_DOWNGRADE_DETECTED)
}

// TestRequestMICHonoured: an acceptor's request-mic makes the MIC
// mandatory for the initiator even for its first choice.
func TestRequestMICHonoured(t *testing.T) {
	ic, ac := pair(t, New(toyKerberos()), New(toyKerberos()), nil, nil)
	legs := handshake(t, ic, ac, editResp(t, 1, func(r *NegTokenResp) { r.NegState = RequestMIC }))
	endedBy(t, legs, true, status.SEC_E_DOWNGRADE_DETECTED)
}

// TestKerberosMICExchangeFinalTokenWithOK: when the acceptor sends the
// final mechanism token with its MIC, the initiator completes with
// SEC_E_OK and a final token (its own MIC) that must still be sent.
func TestSECOKWithFinalToken(t *testing.T) {
	k := toyKerberos(func(p *toyPkg) { p.wantMIC = true })
	ic, ac := pair(t, New(k), New(k), nil, nil)
	legs := handshake(t, ic, ac, nil)
	bothOK(t, legs)
	// NegTokenInit(AP-REQ); accept-incomplete(AP-REP+MIC); OK+MIC; OK.
	if len(legs) != 4 || legs[2].res.Status != status.SEC_E_OK || len(legs[2].res.Token) == 0 || legs[3].res.Token != nil {
		t.Fatalf("transcript %v", describe(legs))
	}
	if k.stats.resets.Load() != 4 {
		t.Fatalf("%d RC4 resets, want one per MIC made or verified", k.stats.resets.Load())
	}
}

func TestIOPassedUpAndResumed(t *testing.T) {
	k := toyKerberos(func(p *toyPkg) { p.firstIO = true })
	ic, ac := pair(t, New(k, toyNTLM()), New(toyKerberos(), toyNTLM()), nil, nil)
	res := ic.Step(&mechs.StepInput{})
	if res.IO == nil || res.IO.Realm != "TOY" {
		t.Fatalf("%+v", res)
	}
	if ni := negInfo(t, ic); ni.Package.Name != "Kerberos" || ni.State != secctx.SECPKG_NEGOTIATION_OPTIMISTIC {
		t.Fatalf("mid-I/O %+v", ni)
	}
	reply, err := res.IO.Performer.Perform(t.Context(), res.IO)
	res = ic.Step(&mechs.StepInput{IOReply: reply, IOErr: err})
	if res.Status != status.SEC_I_CONTINUE_NEEDED {
		t.Fatalf("%v", res.Status)
	}
	tok, _ := ParseNegTokenInit(res.Token)
	if string(tok.MechToken) != "Kerberos:0" {
		t.Fatalf("%+v", tok)
	}
	out := ac.Step(&mechs.StepInput{Token: res.Token})
	if out.Status != status.SEC_E_OK {
		t.Fatal(out.Err)
	}
	if res := ic.Step(&mechs.StepInput{Token: out.Token}); res.Status != status.SEC_E_OK {
		t.Fatal(res.Err)
	}
}

func TestRawNTLMAccepted(t *testing.T) {
	n := toyNTLM()
	p := New(toyKerberos(), n)
	ac, err := mustCred(t, p, secctx.SECPKG_CRED_INBOUND, nil).NewAcceptor(mechs.AcceptorParams{})
	if err != nil {
		t.Fatal(err)
	}
	defer ac.Close()
	// A raw-NTLM client's first token is an NTLMSSP message (the real
	// exchange is in the NTLM tests); here it must reach NTLM directly.
	res := ac.Step(&mechs.StepInput{Token: []byte("NTLMSSP\x00garbage")})
	// The toy acceptor rejects the content, but the token went to NTLM
	// directly: the failure is NTLM's, raw.
	if res.Status != status.SEC_E_INVALID_TOKEN || n.stats.accepts.Load() != 1 || res.Token != nil {
		t.Fatalf("%v accepts=%d token=%x", res.Status, n.stats.accepts.Load(), res.Token)
	}
	// Truncated signature: incomplete.
	ac2, _ := mustCred(t, p, secctx.SECPKG_CRED_INBOUND, nil).NewAcceptor(mechs.AcceptorParams{})
	defer ac2.Close()
	if res := ac2.Step(&mechs.StepInput{Token: []byte("NTLM")}); res.Status != status.SEC_E_INCOMPLETE_MESSAGE || res.Missing != 4 {
		t.Fatalf("%v missing %d", res.Status, res.Missing)
	}
}

func TestRawKerberosAccepted(t *testing.T) {
	framed := func(p *toyPkg) { p.framed = true }
	ik := toyKerberos(framed)
	ak := toyKerberos(framed)
	// The client speaks raw Kerberos (no SPNEGO): its package is the toy
	// itself, the server is Negotiate.
	icred, _ := ik.AcquireCredentials(mechs.CredentialRequest{Use: secctx.SECPKG_CRED_OUTBOUND})
	ic, _ := icred.NewInitiator(mechs.InitiatorParams{Target: "HTTP/h"})
	ac, _ := mustCred(t, New(ak, toyNTLM()), secctx.SECPKG_CRED_INBOUND, nil).NewAcceptor(mechs.AcceptorParams{})
	defer ac.Close()
	legs := handshake(t, ic, ac, nil)
	bothOK(t, legs)
	if string(legs[1].res.Token) != string((&toyCtx{cred: &toyCred{pkg: ak}}).tok(1)) {
		t.Fatalf("acceptor answered %x, want the raw Kerberos token", legs[1].res.Token)
	}
	completedWith(t, ac, "Kerberos")
}

func TestTruncatedTokenIsIncompleteAndRecoverable(t *testing.T) {
	ic, ac := pair(t, New(toyNTLM()), New(toyNTLM()), nil, nil)
	r0 := ic.Step(&mechs.StepInput{})
	short := r0.Token[:len(r0.Token)-5]
	if r := ac.Step(&mechs.StepInput{Token: short}); r.Status != status.SEC_E_INCOMPLETE_MESSAGE || r.Missing != 5 {
		t.Fatalf("%v missing %d", r.Status, r.Missing)
	}
	r1 := ac.Step(&mechs.StepInput{Token: r0.Token})
	if r1.Status != status.SEC_I_CONTINUE_NEEDED {
		t.Fatal(r1.Err)
	}
	if r := ic.Step(&mechs.StepInput{Token: r1.Token[:3]}); r.Status != status.SEC_E_INCOMPLETE_MESSAGE || r.Missing != len(r1.Token)-3 {
		t.Fatalf("%v missing %d", r.Status, r.Missing)
	}
	r2 := ic.Step(&mechs.StepInput{Token: r1.Token})
	if r2.Status != status.SEC_I_CONTINUE_NEEDED {
		t.Fatal(r2.Err)
	}
	// Malformed: fatal.
	if r := ac.Step(&mechs.StepInput{Token: []byte{0xa1, 0x03, 0x31, 0x01, 0x00}}); r.Status != status.SEC_E_INVALID_TOKEN {
		t.Fatalf("%v", r.Status)
	}
	if r := ac.Step(&mechs.StepInput{Token: r2.Token}); r.Status != status.SEC_E_INVALID_HANDLE {
		t.Fatalf("after failure: %v", r.Status)
	}
}

func TestReauthentication(t *testing.T) {
	n := toyNTLM()
	ic, ac := pair(t, New(toyKerberos(), n), New(toyKerberos(), n), nil, nil)
	bothOK(t, handshake(t, ic, ac, nil))
	// Initialize again after success: a fresh NegTokenInit.
	ac2, _ := mustCred(t, New(toyKerberos(), n), secctx.SECPKG_CRED_INBOUND, nil).NewAcceptor(mechs.AcceptorParams{})
	defer ac2.Close()
	legs := handshake(t, ic, ac2, nil)
	bothOK(t, legs)
	if _, err := ParseNegTokenInit(legs[0].res.Token); err != nil {
		t.Fatal(err)
	}
	// And the acceptor takes a new NegTokenInit on its completed context.
	legs = handshake(t, ic, ac, nil)
	bothOK(t, legs)
}

func TestNegotiationInfoMidHandshake(t *testing.T) {
	ic, ac := pair(t, New(toyKerberos(), toyNTLM()), New(toyNTLM()), nil, nil)
	if ni := negInfo(t, ic); ni.Package.Name != "Negotiate" || ni.State != secctx.SECPKG_NEGOTIATION_IN_PROGRESS {
		t.Fatalf("before: %+v", ni)
	}
	if _, st := ic.QueryAttribute(secctx.SECPKG_ATTR_SIZES); st != status.SEC_E_UNSUPPORTED_FUNCTION {
		t.Fatalf("SIZES before a sub-context: %v", st)
	}
	r0 := ic.Step(&mechs.StepInput{})
	if ni := negInfo(t, ic); ni.Package.Name != "Kerberos" || ni.State != secctx.SECPKG_NEGOTIATION_OPTIMISTIC {
		t.Fatalf("after NegTokenInit: %+v", ni)
	}
	r1 := ac.Step(&mechs.StepInput{Token: r0.Token})
	if ni := negInfo(t, ac); ni.Package.Name != "NTLM" || ni.State != secctx.SECPKG_NEGOTIATION_IN_PROGRESS {
		t.Fatalf("acceptor: %+v", ni)
	}
	ic.Step(&mechs.StepInput{Token: r1.Token})
	if ni := negInfo(t, ic); ni.Package.Name != "NTLM" || ni.State != secctx.SECPKG_NEGOTIATION_IN_PROGRESS {
		t.Fatalf("after counter-proposal: %+v", ni)
	}
	msg := []secctx.Buffer{{Type: secctx.SECBUFFER_DATA, Data: []byte("x")}, {Type: secctx.SECBUFFER_TOKEN, Data: make([]byte, 16)}}
	if st := ic.MakeSignature(0, msg, 0); st != status.SEC_E_INVALID_HANDLE {
		t.Fatalf("MakeSignature before completion: %v", st)
	}
}

// TestAcceptorSpeaksFirst: an empty first input makes the acceptor send a
// NegTokenInit2 with negHints; the initiator takes it as its first input.
func TestAcceptorSpeaksFirst(t *testing.T) {
	ic, ac := pair(t, New(toyKerberos(), toyNTLM()), New(toyNTLM()), nil, nil)
	r := ac.Step(&mechs.StepInput{})
	if r.Status != status.SEC_I_CONTINUE_NEEDED {
		t.Fatal(r.Err)
	}
	hint, err := ParseNegTokenInit(r.Token)
	if err != nil || hint.NegHints == nil || hint.NegHints.HintName != HintName || len(hint.MechTypes) != 1 {
		t.Fatalf("%+v %v", hint, err)
	}
	r0 := ic.Step(&mechs.StepInput{Token: r.Token})
	tok, err := ParseNegTokenInit(r0.Token)
	if err != nil || len(tok.MechTypes) != 1 || tok.MechTypes[0] != mechs.OIDNTLMSSP {
		t.Fatalf("initiator kept to the acceptor's list? %+v %v", tok, err)
	}
	tokIn := r0.Token
	for i := 0; i < 4; i++ {
		r := ac.Step(&mechs.StepInput{Token: tokIn})
		if r.Status.IsError() {
			t.Fatal(r.Err)
		}
		if r.Token == nil {
			break
		}
		r2 := ic.Step(&mechs.StepInput{Token: r.Token})
		if r2.Status.IsError() {
			t.Fatal(r2.Err)
		}
		if r2.Status == status.SEC_E_OK && r2.Token == nil {
			return
		}
		tokIn = r2.Token
	}
	if ni := negInfo(t, ic); ni.State != secctx.SECPKG_NEGOTIATION_COMPLETE {
		t.Fatalf("%+v", ni)
	}
}

func TestNoCommonMechanism(t *testing.T) {
	ic, ac := pair(t, New(toyKerberos()), New(toyNTLM()), nil, nil)
	r0 := ic.Step(&mechs.StepInput{})
	r := ac.Step(&mechs.StepInput{Token: r0.Token})
	if r.Status != status.SEC_E_LOGON_DENIED {
		t.Fatalf("%v", r.Status)
	}
	resp, err := ParseNegTokenResp(r.Token)
	if err != nil || resp.NegState != Reject {
		t.Fatalf("%+v %v", resp, err)
	}
	if r := ic.Step(&mechs.StepInput{Token: r.Token}); r.Status != status.SEC_E_LOGON_DENIED {
		t.Fatalf("initiator on reject: %v", r.Status)
	}
}

func TestMechOIDsInterfaceAndOptions(t *testing.T) {
	custom := newToy("Custom", 2, withOIDs("1.2.3.4"))
	p := New(toyOIDs{custom}, newToy("Unknown", 2))
	if got := p.SubPackages(); len(got) != 1 || got[0] != "Custom" {
		t.Fatalf("%v", got)
	}
	k := newToy("Kerberos", 2)
	if p := New(k); len(p.subs) != 1 || p.subs[0].oids[0] != mechs.OIDMSKerberos || p.subs[0].oids[1] != mechs.OIDKerberos {
		t.Fatalf("Windows order: %v", p.subs[0].oids)
	}
	if p := NewWithOptions([]mechs.Package{k}, WithStandardKerberosOIDFirst()); p.subs[0].oids[0] != mechs.OIDKerberos {
		t.Fatalf("MIT order: %v", p.subs[0].oids)
	}
	if p := NewWithOptions([]mechs.Package{k}, WithMechOIDs("kerberos", "1.9.9")); p.subs[0].oids[0] != "1.9.9" {
		t.Fatalf("override: %v", p.subs[0].oids)
	}
	info := New(toyKerberos(), toyNTLM()).Info()
	if info.Name != "Negotiate" || info.RPCID != 9 || info.MaxToken != 1256 || info.Capabilities&secctx.SECPKG_FLAG_NEGOTIABLE == 0 {
		t.Fatalf("%+v", info)
	}
}

// TestWindowsOrderBothKerberosOIDs: the initiator offers both Kerberos
// OIDs; an acceptor that knows only the standard one still treats
// Kerberos as the first choice when it is listed first... and when the MS
// OID comes first, choosing it is the first choice too.
func TestWindowsOrderBothKerberosOIDs(t *testing.T) {
	ik := newToy("Kerberos", 2)
	ak := newToy("Kerberos", 2)
	ic, ac := pair(t, New(ik, toyNTLM()), New(ak, toyNTLM()), nil, nil)
	legs := handshake(t, ic, ac, nil)
	bothOK(t, legs)
	tok, _ := ParseNegTokenInit(legs[0].res.Token)
	if tok.MechTypes[0] != mechs.OIDMSKerberos || tok.MechTypes[1] != mechs.OIDKerberos || tok.MechTypes[2] != mechs.OIDNTLMSSP {
		t.Fatalf("%v", tok.MechTypes)
	}
	resp, _ := ParseNegTokenResp(legs[1].res.Token)
	if resp.SupportedMech != mechs.OIDMSKerberos || resp.NegState != AcceptCompleted {
		t.Fatalf("%+v", resp)
	}
	// An acceptor that only knows the standard OID answers with it;
	// the initiator counts that as its first choice (one mechanism).
	ic2, ac2 := pair(t, New(newToy("Kerberos", 2), toyNTLM()), NewWithOptions([]mechs.Package{newToy("Kerberos", 2)}, WithMechOIDs("Kerberos", mechs.OIDKerberos)), nil, nil)
	legs = handshake(t, ic2, ac2, nil)
	bothOK(t, legs)
}

func TestSplitAuthData(t *testing.T) {
	k, n := toyKerberos(), toyNTLM()
	p := New(k, n)
	cred := mustCred(t, p, secctx.SECPKG_CRED_INBOUND, &AuthData{ByPackage: map[string]any{"ntlm": "ntlm-secret"}, Default: "krb-secret"})
	kc, _ := cred.SubCredential("Kerberos")
	nc, _ := cred.SubCredential("NTLM")
	if kc.(*toyCred).secret != "krb-secret" || nc.(*toyCred).secret != "ntlm-secret" {
		t.Fatal("AuthData not split")
	}
	// A sub-package that fails to acquire is left out.
	p2 := New(toyKerberos(func(p *toyPkg) { p.acquireErr = status.SEC_E_NO_CREDENTIALS }), toyNTLM())
	if got := mustCred(t, p2, secctx.SECPKG_CRED_OUTBOUND, nil).Packages(); len(got) != 1 || got[0] != "NTLM" {
		t.Fatalf("%v", got)
	}
}

func TestCloseReleasesSubContexts(t *testing.T) {
	k := toyKerberos()
	ic, ac := pair(t, New(k), New(k), nil, nil)
	bothOK(t, handshake(t, ic, ac, nil))
	ic.Close()
	ac.Close()
	ic.Close()
	if k.stats.closes.Load() != 2 {
		t.Fatalf("%d closes", k.stats.closes.Load())
	}
	if r := ic.Step(&mechs.StepInput{}); r.Status != status.SEC_E_INVALID_HANDLE {
		t.Fatalf("%v", r.Status)
	}
}

// FuzzAcceptorFirstToken: whatever a client sends first, the acceptor
// answers with a status, never a panic.
func FuzzAcceptorFirstToken(f *testing.F) {
	for _, b := range realInits(f) {
		f.Add(b)
	}
	f.Add([]byte("NTLMSSP\x00\x01\x00\x00\x00"))
	p := New(toyKerberos(), toyNTLM())
	cred, err := p.AcquireCredentials(mechs.CredentialRequest{Use: secctx.SECPKG_CRED_INBOUND})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		ac, _ := cred.NewAcceptor(mechs.AcceptorParams{})
		defer ac.Close()
		r := ac.Step(&mechs.StepInput{Token: b})
		if r.Status.IsError() && r.Err == nil {
			t.Fatalf("%v without a cause", r.Status)
		}
		if r.Status == status.SEC_E_OK && r.Token == nil {
			t.Fatal("a single token completed the acceptor")
		}
	})
}

// FuzzInitiatorReply: whatever the acceptor answers, the initiator
// answers with a status, never a panic.
func FuzzInitiatorReply(f *testing.F) {
	for _, b := range realResps(f) {
		f.Add(b)
	}
	p := New(toyKerberos(), toyNTLM())
	cred, err := p.AcquireCredentials(mechs.CredentialRequest{Use: secctx.SECPKG_CRED_OUTBOUND})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		ic, _ := cred.NewInitiator(mechs.InitiatorParams{Target: "HTTP/h"})
		defer ic.Close()
		if r := ic.Step(&mechs.StepInput{}); r.Status != status.SEC_I_CONTINUE_NEEDED {
			t.Fatal(r.Status)
		}
		r := ic.Step(&mechs.StepInput{Token: b})
		if r.Status.IsError() && r.Err == nil {
			t.Fatalf("%v without a cause", r.Status)
		}
	})
}

// TestQueryDuringStep: QueryAttribute and Close may be called while a
// Step runs (the interface's rule); -race checks the locking.
func TestQueryDuringStep(t *testing.T) {
	for i := 0; i < 20; i++ {
		ic, ac := pair(t, New(toyKerberos(), toyNTLM()), New(toyNTLM()), nil, nil)
		stop := make(chan struct{})
		done := make(chan struct{})
		go func() {
			defer close(done)
			for {
				select {
				case <-stop:
					return
				default:
				}
				for _, c := range []mechs.SecurityContext{ic, ac} {
					c.QueryAttribute(secctx.SECPKG_ATTR_NEGOTIATION_INFO)
					c.QueryAttribute(secctx.SECPKG_ATTR_SIZES)
					c.QueryAttribute(secctx.SECPKG_ATTR_PACKAGE_INFO)
				}
			}
		}()
		bothOK(t, handshake(t, ic, ac, nil))
		if i%2 == 0 {
			ic.Close() // racing the reader
		}
		close(stop)
		<-done
	}
}
