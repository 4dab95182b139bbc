package async

import (
	"testing"

	"github.com/asyncsspi/asyncsspi/status"
)

func TestHandleTableGenerations(t *testing.T) {
	tb := newTable[int](7)
	a, b := 1, 2
	ha := tb.add(&a)
	if ha == 0 || ha>>56 != 7 {
		t.Fatalf("handle %#x", ha)
	}
	if v, st := tb.get(ha); st != status.SEC_E_OK || v != &a {
		t.Fatal("get live handle")
	}
	if _, st := tb.remove(ha); st != status.SEC_E_OK {
		t.Fatal("remove live handle")
	}
	hb := tb.add(&b) // reuses a's slot with the next generation
	if uint32(hb) != uint32(ha) || hb == ha {
		t.Fatalf("slot not reused with a new generation: %#x %#x", ha, hb)
	}
	if _, st := tb.get(ha); st != status.SEC_E_INVALID_HANDLE {
		t.Fatal("stale handle resolves")
	}
	if v, st := tb.remove(ha); st != status.SEC_E_OK || v != nil {
		t.Fatal("deleting a stale handle must be a harmless SEC_E_OK")
	}
	if v, _ := tb.get(hb); v != &b {
		t.Fatal("deleting a stale handle removed its slot's new occupant")
	}
	future := hb + 1<<32 // same slot, a generation never issued
	for _, h := range []uint64{0, future, 7<<56 | 99, 6<<56 | uint64(uint32(hb))} {
		if _, st := tb.get(h); st != status.SEC_E_INVALID_HANDLE {
			t.Errorf("get %#x: %v", h, st)
		}
		if _, st := tb.remove(h); st != status.SEC_E_INVALID_HANDLE {
			t.Errorf("remove %#x: %v", h, st)
		}
	}
	if tb.len() != 1 {
		t.Fatalf("len %d", tb.len())
	}
	if all := tb.removeAll(); len(all) != 1 || all[0] != &b || tb.len() != 0 {
		t.Fatal("removeAll")
	}
	if _, st := tb.remove(hb); st != status.SEC_E_OK {
		t.Fatal("delete after removeAll")
	}
}
