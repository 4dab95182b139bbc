package kerberos

import (
	"bytes"
	"encoding/hex"
	"testing"

	krbcrypto "github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/crypto/rfc3961"
	"github.com/jcmturner/gokrb5/v8/types"
)

// TestCryptoAgainstGokrb5 checks the fast AES paths against gokrb5's
// independent implementation both ways, for every length around the CTS
// block boundaries.
func TestCryptoAgainstGokrb5(t *testing.T) {
	for _, et := range []int32{etypeAES128SHA1, etypeAES256SHA1, etypeAES128SHA256, etypeAES256SHA384, etypeRC4HMAC} {
		k, err := randomKey(et)
		if err != nil {
			t.Fatal(et, err)
		}
		ek := types.EncryptionKey{KeyType: et, KeyValue: k.value}
		for n := 0; n < 70; n++ {
			msg := bytes.Repeat([]byte{byte(n)}, n)
			ct, err := k.encrypt(nil, 11, msg)
			if err != nil {
				t.Fatal(err)
			}
			if len(ct) != k.sealedSize(n) {
				t.Fatalf("etype %d n %d: size %d want %d", et, n, len(ct), k.sealedSize(n))
			}
			if et == etypeAES256SHA384 {
				if pt, err := k.decrypt(11, ct); err != nil || !bytes.Equal(pt, msg) {
					t.Fatalf("etype 20 n %d: round trip: %v", n, err)
				}
				continue
			}
			pt, err := krbcrypto.DecryptMessage(ct, ek, 11)
			if err != nil || !bytes.Equal(pt, msg) {
				t.Fatalf("etype %d n %d: gokrb5 cannot decrypt ours: %v", et, n, err)
			}
			if et == etypeAES256SHA384 { // gokrb5's etype 20 uses 24-byte keys: see TestRFC8009Vectors
				if pt, err := k.decrypt(11, ct); err != nil || !bytes.Equal(pt, msg) {
					t.Fatalf("etype 20 n %d: round trip: %v", n, err)
				}
				continue
			}
			ed, err := krbcrypto.GetEncryptedData(msg, ek, 12, 0)
			if err != nil {
				t.Fatal(err)
			}
			pt, err = k.decrypt(12, ed.Cipher)
			if err != nil || !bytes.Equal(pt, msg) {
				t.Fatalf("etype %d n %d: cannot decrypt gokrb5's: %v", et, n, err)
			}
			if _, err := k.decrypt(11, ed.Cipher); err == nil {
				t.Fatalf("etype %d: wrong usage decrypted", et)
			}
			sum, err := k.checksum(nil, 25, msg, []byte("hdr"))
			if err != nil {
				t.Fatal(err)
			}
			want, _ := k.e.GetChecksumHash(k.value, append(append([]byte(nil), msg...), "hdr"...), 25)
			if !bytes.Equal(sum, want) {
				t.Fatalf("etype %d: checksum %x want %x", et, sum, want)
			}
		}
	}
}

// TestRFC8009Vectors checks key derivation against RFC 8009 appendix A
// (usage 2).
func TestRFC8009Vectors(t *testing.T) {
	for _, tc := range []struct {
		et               int32
		base, kc, ke, ki string
	}{
		{etypeAES128SHA256, "3705d96080c17728a0e800eab6e0d23c", "b31a018a48f54776f403e9a396325dc3", "9b197dd1e8c5609d6e67c3e37c62c72e", "9fda0e56ab2d85e1569a688696c26a6c"},
		{etypeAES256SHA384, "6d404d37faf79f9df0d33568d320669800eb4836472ea8a026d16b7182460c52", "ef5718be86cc84963d8bbb5031e9f5c4ba41f28faf69e73d", "56ab22bee63d82d7bc5227f6773f8ea7a5eb1c825160c38312980c442e5c7e49", "69b16514e3cd8e56b82010d5c73012b622c4d00ffc23ed1f"},
	} {
		k, err := newKey(tc.et, unhex(t, tc.base))
		if err != nil {
			t.Fatal(err)
		}
		label := []byte{0, 0, 0, 2, 0}
		for _, d := range []struct {
			c    byte
			want string
		}{{derivationChecksum, tc.kc}, {derivationEncryption, tc.ke}, {derivationIntegrity, tc.ki}} {
			label[4] = d.c
			got := kdfHMACSHA2(k.hfn, k.value, label, derivedBits(tc.et, d.c))
			if !bytes.Equal(got, unhex(t, d.want)) {
				t.Errorf("etype %d constant %#x: %x want %s", tc.et, d.c, got, d.want)
			}
		}
	}
}

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestNfoldAndDK checks n-fold and DK against gokrb5's implementations.
func TestNfoldAndDK(t *testing.T) {
	for u := uint32(0); u < 40; u++ {
		for _, c := range []byte{0xAA, 0x55, 0x99} {
			label := [5]byte{byte(u >> 24), byte(u >> 16), byte(u >> 8), byte(u), c}
			got := nfold5(label)
			if want := rfc3961.Nfold(label[:], 128); !bytes.Equal(got[:], want) {
				t.Fatalf("nfold %x: %x want %x", label, got, want)
			}
			for _, et := range []int32{etypeAES128SHA1, etypeAES256SHA1} {
				k, _ := randomKey(et)
				dk, _ := k.deriveSHA1(label)
				want, _ := k.e.DeriveKey(k.value, label[:])
				if !bytes.Equal(dk, want) {
					t.Fatalf("DK etype %d: %x want %x", et, dk, want)
				}
			}
		}
	}
}

// TestHMACOnceMatchesKeyedHMAC: the first use of a usage (hmacOnce, on the
// stack) and later uses (a keyed crypto/hmac state) give the same HMAC,
// so ciphertexts made either way decrypt either way.
func TestHMACOnceMatchesKeyedHMAC(t *testing.T) {
	value := make([]byte, 32)
	for i := range value {
		value[i] = byte(i * 7)
	}
	for _, et := range []int32{etypeAES128SHA1, etypeAES256SHA1} {
		kv := value[:16]
		if et == etypeAES256SHA1 {
			kv = value
		}
		for _, n := range []int{0, 1, 15, 16, 17, 100, oneShotMax - confounderSize, oneShotMax, 2 * oneShotMax} {
			msg := make([]byte, n)
			for i := range msg {
				msg[i] = byte(i)
			}
			k, _ := newKey(et, kv)
			uk, err := k.usage(usageAPReqAuth)
			if err != nil {
				t.Fatal(err)
			}
			var once [64]byte
			fresh, _ := newKey(et, kv)
			fuk, _ := fresh.usage(usageAPReqAuth)
			if !fuk.hmacOnce(&fuk.ki, derivationIntegrity, msg, &once) {
				if n <= oneShotMax {
					t.Fatalf("etype %d len %d: no one-shot HMAC", et, n)
				}
			} else {
				m, err := uk.mac(&uk.ki, derivationIntegrity)
				if err != nil {
					t.Fatal(err)
				}
				m.h.Write(msg)
				keyed := m.h.Sum(nil)
				uk.ki.put(m)
				if !bytes.Equal(keyed, once[:len(keyed)]) {
					t.Fatalf("etype %d len %d: one-shot HMAC %x, keyed %x", et, n, once[:len(keyed)], keyed)
				}
				if fuk.hmacOnce(&fuk.ki, derivationIntegrity, msg, &once) {
					t.Fatal("a second one-shot HMAC for the same usage")
				}
			}
			// Round trips: first and later uses on both sides.
			a, _ := newKey(et, kv)
			b, _ := newKey(et, kv)
			for i := 0; i < 3; i++ {
				ct, err := a.encrypt(nil, usageAPReqAuth, msg)
				if err != nil {
					t.Fatal(err)
				}
				pt, err := b.decrypt(usageAPReqAuth, ct)
				if err != nil || !bytes.Equal(pt, msg) {
					t.Fatalf("etype %d len %d round %d: %v", et, n, i, err)
				}
				ct[len(ct)-1] ^= 1
				if _, err := b.decrypt(usageAPReqAuth, ct); err == nil {
					t.Fatalf("etype %d len %d round %d: altered ciphertext decrypted", et, n, i)
				}
			}
		}
	}
}
