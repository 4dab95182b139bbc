package kerberos

import (
	"bytes"
	"encoding/asn1"
	"math"
	"testing"
	"time"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// TestSizedHeaders checks der_sized.go's headers and sizes against
// encoding/asn1 for content sizes around each length form, and its
// INTEGERs and times.
func TestSizedHeaders(t *testing.T) {
	for _, n := range []int{0, 1, 127, 128, 255, 256, 300, 65535, 65536, 70000} {
		content := bytes.Repeat([]byte{0xab}, n)
		want, err := asn1.Marshal(content)
		if err != nil {
			t.Fatal(err)
		}
		if tlvSize(n) != len(want) {
			t.Fatalf("tlvSize(%d) = %d, want %d", n, tlvSize(n), len(want))
		}
		b := cryptobyte.NewFixedBuilder(make([]byte, 1, 1+len(want)))
		addOctetString(b, content)
		got, err := finish(b, 1+len(want))
		if err != nil || !bytes.Equal(got[1:], want) {
			t.Fatalf("n=%d: %x... want %x... (%v)", n, got[:min(8, len(got))], want[:min(7, len(want))], err)
		}
	}
	for _, v := range []int64{0, 1, -1, 127, 128, -128, -129, 255, 256, 999999, 0x3fffffff, math.MaxUint32, math.MaxInt64, math.MinInt64} {
		want, _ := asn1.Marshal(v)
		b := cryptobyte.NewFixedBuilder(make([]byte, 0, intSize(v)))
		addInt(b, v)
		if got, err := finish(b, len(want)); err != nil || !bytes.Equal(got, want) {
			t.Fatalf("INTEGER %d: %x, want %x (%v)", v, got, want, err)
		}
	}
	tm := time.Date(2026, 11, 22, 10, 0, 59, 123, time.FixedZone("x", 3600))
	want, _ := asn1.MarshalWithParams(tm.UTC().Truncate(time.Second), "generalized")
	b := cryptobyte.NewFixedBuilder(make([]byte, 0, timeSize))
	addTime(b, tm)
	if got, err := finish(b, timeSize); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("time %x, want %x (%v)", got, want, err)
	}
	// A miscounted size is an error, not an overrun.
	b = cryptobyte.NewFixedBuilder(make([]byte, 0, 3))
	addString(b, cbasn1.GeneralString, "realm")
	if _, err := b.Bytes(); err == nil {
		t.Fatal("a fixed builder wrote past its size")
	}
}
