package ntlm

import (
	"bytes"
	"crypto/hmac"
	"crypto/md5"
	stdrc4 "crypto/rc4"
	"encoding/binary"
	"testing"

	secctx "github.com/asyncsspi/asyncsspi/context"
	"github.com/asyncsspi/asyncsspi/status"
)

// TestSignatureStages checks every signature a direction makes against one
// computed independently with crypto/hmac and crypto/rc4 (MS-NLMP 3.4.4.2
// with key exchange), across the stages a direction goes through: the
// one-shot HMAC of a first small message (or not, when the first message is
// large), the precomputed HMAC states after it, and resetSeal (MS-SPNG
// 3.3.5.1) after the first message, as SPNEGO's mechListMIC does. The peer
// direction verifies each one.
func TestSignatureStages(t *testing.T) {
	const flags = negotiate128 | negotiate56 | negotiateSign | negotiateSeal | negotiateKeyExch | negotiateExtendedSessionSecurity
	key := bytes.Repeat([]byte{0x55}, 16)
	var ks keyScratch
	gk, _ := signKey(&ks, key, flags, true)
	sk, n := sealKey(&ks, key, flags, true)
	for _, tc := range []struct {
		name  string
		sizes []int
		reset bool // resetSeal after the first message, on both sides
	}{
		{"small first, reset", []int{14, 14, 300, 0, 1000, 5}, true},
		{"small first", []int{14, 14, 300, 0, 1000, 5}, false},
		{"large first", []int{oneShotMax + 1, 14, 20}, false},
		{"largest one-shot", []int{oneShotMax, oneShotMax}, true},
		{"empty first", []int{0, 64, 65}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var client, server sessionSecurity
			client.init(key, flags, true)
			server.init(key, flags, false)
			sendX, recvX := new(*hasher), new(*hasher)
			ref, _ := stdrc4.NewCipher(sk[:n])
			for i, size := range tc.sizes {
				data := make([]byte, size)
				for j := range data {
					data[j] = byte(i + j*7)
				}
				msg := []secctx.Buffer{{Type: secctx.SECBUFFER_TOKEN, Data: make([]byte, 0, 16)}, {Type: secctx.SECBUFFER_DATA | secctx.SECBUFFER_READONLY, Data: data}}
				if st := client.protect(sendX, msg, false); st != status.SEC_E_OK {
					t.Fatal(st)
				}
				m := hmac.New(md5.New, gk[:])
				var seq [4]byte
				binary.LittleEndian.PutUint32(seq[:], uint32(i))
				m.Write(seq[:])
				m.Write(data)
				want := make([]byte, 16)
				binary.LittleEndian.PutUint32(want, 1)
				ref.XORKeyStream(want[4:12], m.Sum(nil)[:8])
				copy(want[12:], seq[:])
				if !bytes.Equal(msg[0].Data, want) {
					t.Fatalf("message %d (%d bytes): signature %x, want %x", i, size, msg[0].Data, want)
				}
				if st := server.check(recvX, msg, false); st != status.SEC_E_OK {
					t.Fatal(st)
				}
				if i == 0 && tc.reset {
					client.send.resetSeal()
					server.recv.resetSeal()
					ref, _ = stdrc4.NewCipher(sk[:n])
				}
			}
		})
	}
}
