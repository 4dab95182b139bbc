package context

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

func channelBindingSeeds(tb testing.TB) [][]byte {
	files, err := filepath.Glob(filepath.Join("testdata", "*.bin"))
	if err != nil || len(files) == 0 {
		tb.Fatalf("no seeds in testdata: %v", err)
	}
	var seeds [][]byte
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			tb.Fatal(err)
		}
		seeds = append(seeds, b)
	}
	return seeds
}

// FuzzParseChannelBindings: any blob either parses into bindings whose
// slices lie inside it and that survive a Marshal round trip, or is
// refused with ErrBadChannelBindings; never a panic.
func FuzzParseChannelBindings(f *testing.F) {
	for _, s := range channelBindingSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, blob []byte) {
		b, err := ParseChannelBindings(blob)
		if err != nil {
			if err != ErrBadChannelBindings {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		again, err := ParseChannelBindings(b.Marshal())
		if err != nil {
			t.Fatalf("re-parse of Marshal: %v", err)
		}
		if again.InitiatorAddrType != b.InitiatorAddrType || again.AcceptorAddrType != b.AcceptorAddrType ||
			!bytes.Equal(again.InitiatorAddress, b.InitiatorAddress) || !bytes.Equal(again.AcceptorAddress, b.AcceptorAddress) ||
			!bytes.Equal(again.ApplicationData, b.ApplicationData) || again.Hash() != b.Hash() {
			t.Fatal("round trip changed the bindings")
		}
	})
}

// No proper prefix of a valid blob parses: a truncated buffer is refused,
// not read past its end.
func TestChannelBindingsSeedPrefixes(t *testing.T) {
	for _, s := range channelBindingSeeds(t) {
		if _, err := ParseChannelBindings(s); err != nil {
			t.Fatalf("seed does not parse: %v", err)
		}
		for i := 0; i < len(s); i++ {
			if _, err := ParseChannelBindings(s[:i]); err == nil {
				t.Fatalf("prefix of %d of %d bytes parsed", i, len(s))
			}
		}
	}
}
