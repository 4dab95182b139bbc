package kerberos

import (
	"bytes"
	"encoding/asn1"
	"testing"
)

// TestBuilderLengths checks open/close and every openLong guess, right or
// wrong, against encoding/asn1 for content sizes around each length form.
func TestBuilderLengths(t *testing.T) {
	for _, n := range []int{0, 1, 127, 128, 255, 256, 300, 65535, 65536, 70000} {
		content := bytes.Repeat([]byte{0xab}, n)
		want, err := asn1.Marshal(content)
		if err != nil {
			t.Fatal(err)
		}
		var w builder
		w.prim(tagOctetString, content)
		if !bytes.Equal(w.b, want) {
			t.Fatalf("open/close n=%d", n)
		}
		for k := 1; k <= 3; k++ {
			w := builder{b: []byte{0xff}}
			s := w.openLong(tagOctetString, k)
			w.raw(content)
			w.closeLong(s, k)
			if !bytes.Equal(w.b[1:], want) || w.b[0] != 0xff {
				t.Fatalf("openLong(%d) n=%d: %x... want %x...", k, n, w.b[:min(8, len(w.b))], want[:min(7, len(want))])
			}
		}
	}
}
