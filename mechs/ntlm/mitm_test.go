package ntlm

import (
	"encoding/binary"
	"testing"

	secctx "github.com/asyncsspi/asyncsspi/context"
	"github.com/asyncsspi/asyncsspi/mechs"
	"github.com/asyncsspi/asyncsspi/status"
)

// A man in the middle between our initiator and our acceptor, over bare
// NTLM (no SPNEGO mechListMIC to catch it). Each case alters the CHALLENGE
// on its way to the client and/or the AUTHENTICATE on its way back; the
// acceptor must refuse every one.

// protections are the flags a downgrade clears.
const protections = negotiateSign | negotiateSeal | negotiateKeyExch

// rewriteChallenge re-encodes a CHALLENGE after edit has changed it.
func rewriteChallenge(t *testing.T, tok []byte, edit func(m *challengeMessage)) []byte {
	t.Helper()
	m, err := parseChallenge(tok)
	if err != nil {
		t.Fatal(err)
	}
	edit(&m)
	out := make([]byte, m.size())
	m.encode(out)
	return out
}

// editChallenge is a man in the middle's step that edits the CHALLENGE.
func editChallenge(edit func(m *challengeMessage)) func(t *testing.T, tok []byte) []byte {
	return func(t *testing.T, tok []byte) []byte { return rewriteChallenge(t, tok, edit) }
}

// dropPair returns l without the pairs of id.
func dropPair(l avPairs, id uint16) avPairs {
	out := avPairs(l.appendWithout(nil, id))
	return avPairs(appendAVEOL(out))
}

// renamePair returns l with the AvId of every pair of id set to to.
func renamePair(l avPairs, id, to uint16) avPairs {
	out := append(avPairs(nil), l...)
	for off := 0; off+4 <= len(out); {
		pid := binary.LittleEndian.Uint16(out[off:])
		n := int(binary.LittleEndian.Uint16(out[off+2:]))
		if pid == avEOL {
			break
		}
		if pid == id {
			binary.LittleEndian.PutUint16(out[off:], to)
		}
		off += 4 + n
	}
	return out
}

// clearAuthFlags clears bits of an AUTHENTICATE message's NegotiateFlags.
func clearAuthFlags(tok []byte, bits uint32) []byte {
	out := append([]byte(nil), tok...)
	binary.LittleEndian.PutUint32(out[60:], binary.LittleEndian.Uint32(out[60:])&^bits)
	return out
}

// mitmRun drives one handshake through the man in the middle and returns
// the client's and the acceptor's final results.
func mitmRun(t *testing.T, o *pairOpts, onChallenge, onAuthenticate func([]byte) []byte) (client, server mechs.StepResult) {
	t.Helper()
	c, s := newPair(t, o)
	r1 := c.Step(stepIn(nil))
	r2 := s.Step(stepIn(r1.Token))
	if r2.Status != status.SEC_I_CONTINUE_NEEDED {
		t.Fatalf("CHALLENGE: %v %v", r2.Status, r2.Err)
	}
	chal := r2.Token
	if onChallenge != nil {
		chal = onChallenge(chal)
	}
	client = c.Step(stepIn(chal))
	if client.Status != status.SEC_E_OK {
		return client, mechs.StepResult{}
	}
	auth := client.Token
	if onAuthenticate != nil {
		auth = onAuthenticate(auth)
	}
	return client, s.Step(stepIn(auth))
}

// TestManInTheMiddle: every downgrade is refused. The statuses:
//
//   - SEC_E_MESSAGE_ALTERED where the NTLMv2 proof verifies (so a genuine
//     client with the right key answered) but what it signed differs from
//     what the acceptor sent: the target info echoed in its
//     NTLMv2_CLIENT_CHALLENGE lacks, or changed, a pair of our CHALLENGE
//     (the timestamp), or the MIC, which covers all three messages, does
//     not verify. Either way a message was altered in transit.
//   - SEC_E_LOGON_DENIED where the NTLMv2 proof itself fails: the MITM
//     edited what the proof covers (the client's MsvAvFlags).
func TestManInTheMiddle(t *testing.T) {
	cases := []struct {
		name           string
		onChallenge    func(t *testing.T, tok []byte) []byte
		onAuthenticate func(t *testing.T, tok []byte) []byte
		want           status.Code
	}{
		{
			name: "timestamp removed, protections cleared in the CHALLENGE",
			onChallenge: editChallenge(func(m *challengeMessage) {
				m.targetInfo = dropPair(m.targetInfo, avTimestamp)
				m.flags &^= protections
			}),
			want: status.SEC_E_MESSAGE_ALTERED,
		},
		{
			name: "timestamp AvId changed, protections cleared in the CHALLENGE",
			onChallenge: editChallenge(func(m *challengeMessage) {
				m.targetInfo = renamePair(m.targetInfo, avTimestamp, 0x000B)
				m.flags &^= protections
			}),
			want: status.SEC_E_MESSAGE_ALTERED,
		},
		{
			name: "timestamp AvId changed to MsvAvTargetName, protections cleared in the AUTHENTICATE",
			onChallenge: editChallenge(func(m *challengeMessage) {
				m.targetInfo = renamePair(m.targetInfo, avTimestamp, avTargetName)
			}),
			onAuthenticate: func(t *testing.T, tok []byte) []byte { return clearAuthFlags(tok, protections) },
			want:           status.SEC_E_MESSAGE_ALTERED,
		},
		{
			name: "timestamp removed, protections cleared in the AUTHENTICATE",
			onChallenge: editChallenge(func(m *challengeMessage) {
				m.targetInfo = dropPair(m.targetInfo, avTimestamp)
			}),
			onAuthenticate: func(t *testing.T, tok []byte) []byte { return clearAuthFlags(tok, protections) },
			want:           status.SEC_E_MESSAGE_ALTERED,
		},
		{
			name:        "protections cleared in the CHALLENGE, timestamp kept",
			onChallenge: editChallenge(func(m *challengeMessage) { m.flags &^= protections }),
			want:        status.SEC_E_MESSAGE_ALTERED,
		},
		{
			name:           "protections cleared in the AUTHENTICATE, timestamp kept",
			onAuthenticate: func(t *testing.T, tok []byte) []byte { return clearAuthFlags(tok, protections) },
			want:           status.SEC_E_MESSAGE_ALTERED,
		},
		{
			name: "MIC bit cleared in the client's MsvAvFlags",
			onAuthenticate: func(t *testing.T, tok []byte) []byte {
				out := append([]byte(nil), tok...)
				auth, err := parseAuthenticate(out)
				if err != nil {
					t.Fatal(err)
				}
				v, _ := auth.v2.avPairs.get(avFlags)
				v[0] &^= byte(avFlagMIC)
				return out
			},
			want: status.SEC_E_LOGON_DENIED,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var onC, onA func([]byte) []byte
			if tc.onChallenge != nil {
				onC = func(b []byte) []byte { return tc.onChallenge(t, b) }
			}
			if tc.onAuthenticate != nil {
				onA = func(b []byte) []byte { return tc.onAuthenticate(t, b) }
			}
			client, server := mitmRun(t, &pairOpts{target: "HTTP/server.example.com"}, onC, onA)
			if client.Status != status.SEC_E_OK {
				t.Fatalf("the client refused the altered CHALLENGE itself: %v %v", client.Status, client.Err)
			}
			if server.Status != tc.want {
				t.Fatalf("acceptor: %v (flags %v) %v, want %v", server.Status, secctx.ASCRet(server.Flags), server.Err, tc.want)
			}
		})
	}
}

// TestRequireMIC: a client that echoes the target info but sends no MIC (as
// curl does) is accepted by default, and refused with SEC_E_LOGON_DENIED
// under WithRequireMIC.
func TestRequireMIC(t *testing.T) {
	for _, require := range []bool{false, true} {
		var opts []Option
		want := status.SEC_E_OK
		if require {
			opts = append(opts, WithRequireMIC())
			want = status.SEC_E_LOGON_DENIED
		}
		c, s := newPair(t, &pairOpts{pkg: opts})
		c.noMIC = true
		r, auth := run(t, c, s, nil, nil)
		if am, err := parseAuthenticate(auth); err != nil || am.hasMIC {
			t.Fatalf("the legacy client sent a MIC (%v)", err)
		}
		if r.Status != want {
			t.Fatalf("require=%v: %v %v, want %v", require, r.Status, r.Err, want)
		}
		// A client that does send a MIC is accepted either way.
		c, s = newPair(t, &pairOpts{pkg: opts})
		if r, _ := run(t, c, s, nil, nil); r.Status != status.SEC_E_OK {
			t.Fatalf("require=%v, with a MIC: %v %v", require, r.Status, r.Err)
		}
	}
}
