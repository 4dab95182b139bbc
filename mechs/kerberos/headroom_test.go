package kerberos

import (
	"bytes"
	"testing"

	secctx "github.com/asyncsspi/asyncsspi/context"
	"github.com/asyncsspi/asyncsspi/mechs"
	"github.com/asyncsspi/asyncsspi/status"
)

// A wrapping package's StepInput.Headroom gets that much spare room in
// front of the AP-REQ and the AP-REP, reported in StepResult.Headroom; the
// tokens behind the room are complete, and the handshake works on them.
func TestHeadroom(t *testing.T) {
	for _, room := range []int{1, 37, mechs.MaxHeadroom, mechs.MaxHeadroom + 100} {
		e := newTestEnv(t)
		ic, err := e.initCred().NewInitiator(mechs.InitiatorParams{Target: testSPN, Req: secctx.ISC_REQ_MUTUAL_AUTH})
		if err != nil {
			t.Fatal(err)
		}
		ac, err := e.acceptCred("").NewAcceptor(mechs.AcceptorParams{})
		if err != nil {
			t.Fatal(err)
		}
		want := min(room, mechs.MaxHeadroom)
		r := step(t, ic, &mechs.StepInput{Headroom: room})
		wantStatus(t, r, status.SEC_I_CONTINUE_NEEDED)
		if r.Headroom != want || len(r.Token) <= want || r.Token[want] != 0x60 {
			t.Fatalf("room %d: AP-REQ headroom %d, token starts %x", room, r.Headroom, r.Token[:min(len(r.Token), want+1)])
		}
		if !bytes.Equal(r.Token[:want], make([]byte, want)) {
			t.Fatal("the room is not spare")
		}
		ar := ac.Step(&mechs.StepInput{Token: r.Token[r.Headroom:], Headroom: room})
		wantStatus(t, ar, status.SEC_E_OK)
		if ar.Headroom != want || ar.Token[want] != 0x60 {
			t.Fatalf("room %d: AP-REP headroom %d", room, ar.Headroom)
		}
		wantStatus(t, ic.Step(&mechs.StepInput{Token: ar.Token[ar.Headroom:]}), status.SEC_E_OK)
	}
}

// Without a Headroom request the tokens start at once.
func TestNoHeadroomByDefault(t *testing.T) {
	e := newTestEnv(t)
	ic, _ := e.initCred().NewInitiator(mechs.InitiatorParams{Target: testSPN, Req: secctx.ISC_REQ_MUTUAL_AUTH})
	r := step(t, ic, &mechs.StepInput{})
	if r.Headroom != 0 || r.Token[0] != 0x60 {
		t.Fatalf("headroom %d, first byte %#x", r.Headroom, r.Token[0])
	}
}
