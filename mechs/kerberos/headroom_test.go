package kerberos

import (
	"bytes"
	"testing"

	secctx "github.com/asyncsspi/asyncsspi/context"
	"github.com/asyncsspi/asyncsspi/mechs"
	"github.com/asyncsspi/asyncsspi/status"
)

// StepWithRoom leaves that much spare room in front of the AP-REQ and the
// AP-REP, and says so; the tokens behind the room are complete, and the
// handshake works on them.
func TestStepWithRoom(t *testing.T) {
	for _, room := range []int{1, 37, mechs.MaxRoom, mechs.MaxRoom + 100} {
		e := newTestEnv(t)
		ic, err := e.initCred().NewInitiator(mechs.InitiatorParams{Target: testSPN, Req: secctx.ISC_REQ_MUTUAL_AUTH})
		if err != nil {
			t.Fatal(err)
		}
		ac, err := e.acceptCred("").NewAcceptor(mechs.AcceptorParams{})
		if err != nil {
			t.Fatal(err)
		}
		want := min(room, mechs.MaxRoom)
		r, spare := ic.(mechs.RoomStepper).StepWithRoom(&mechs.StepInput{}, room)
		if r.IO != nil {
			reply, err := r.IO.Performer.Perform(t.Context(), r.IO)
			r, spare = ic.(mechs.RoomStepper).StepWithRoom(&mechs.StepInput{IOReply: reply, IOErr: err}, room)
		}
		wantStatus(t, r, status.SEC_I_CONTINUE_NEEDED)
		if spare != want || len(r.Token) <= want || r.Token[want] != 0x60 {
			t.Fatalf("room %d: AP-REQ spare %d, token starts %x", room, spare, r.Token[:min(len(r.Token), want+1)])
		}
		if !bytes.Equal(r.Token[:want], make([]byte, want)) {
			t.Fatal("the room is not spare")
		}
		ar, aspare := ac.(mechs.RoomStepper).StepWithRoom(&mechs.StepInput{Token: r.Token[spare:]}, room)
		wantStatus(t, ar, status.SEC_E_OK)
		if aspare != want || ar.Token[want] != 0x60 {
			t.Fatalf("room %d: AP-REP spare %d", room, aspare)
		}
		wantStatus(t, ic.Step(&mechs.StepInput{Token: ar.Token[aspare:]}), status.SEC_E_OK)
	}
}

// Step leaves no room: the tokens start at once.
func TestStepHasNoRoom(t *testing.T) {
	e := newTestEnv(t)
	ic, _ := e.initCred().NewInitiator(mechs.InitiatorParams{Target: testSPN, Req: secctx.ISC_REQ_MUTUAL_AUTH})
	r := step(t, ic, &mechs.StepInput{})
	if r.Token[0] != 0x60 {
		t.Fatalf("first byte %#x", r.Token[0])
	}
}
