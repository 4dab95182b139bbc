package async

import (
	"sync"

	"github.com/asyncsspi/asyncsspi/status"
)

// The handle tables: what CredHandle and CtxtHandle values name.
//
// Rule: handles are generation-checked. A deleted, stale, foreign or made-up
// handle resolves to SEC_E_INVALID_HANDLE, never to another entry and never
// to a panic, and deleting a handle already deleted returns SEC_E_OK, as
// DeleteSecurityContext does on Windows.
//
// A handle is tag<<56 | generation<<32 | (slot index + 1).
//
// The tag is the engine's, so a handle from another engine is unknown here
// (with probability 255/256). The generation is the slot's at the time the
// handle was issued; deleting bumps it, so a stale handle never names the
// slot's next occupant (until 2^24 reuses of one slot). The index is never 0,
// so no handle is the zero (NULL) handle.
const (
	handleGenBits = 24
	handleGenMask = 1<<handleGenBits - 1
)

type slot[T any] struct {
	gen uint32 // current generation: the live handle's, or the next one's
	val *T     // nil when free
}

// table maps handles to entries. Its lock guards only the slot array: an
// entry's own state has its own lock.
type table[T any] struct {
	tag   uint64
	mu    sync.RWMutex
	slots []slot[T]
	free  []uint32 // free slot indexes, reused last-in first-out
	live  int
}

func newTable[T any](tag uint8) *table[T] {
	return &table[T]{tag: uint64(tag)}
}

func (t *table[T]) decode(h uint64) (idx uint32, gen uint32, ok bool) {
	if h>>56 != t.tag {
		return 0, 0, false
	}
	low := uint32(h)
	if low == 0 {
		return 0, 0, false
	}
	return low - 1, uint32(h>>32) & handleGenMask, true
}

// add stores v and returns its new handle.
func (t *table[T]) add(v *T) uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	var idx uint32
	if n := len(t.free); n > 0 {
		idx = t.free[n-1]
		t.free = t.free[:n-1]
	} else {
		idx = uint32(len(t.slots))
		t.slots = append(t.slots, slot[T]{gen: 1})
	}
	s := &t.slots[idx]
	s.val = v
	t.live++
	return t.tag<<56 | uint64(s.gen)<<32 | uint64(idx+1)
}

// get returns the entry h names, or SEC_E_INVALID_HANDLE.
func (t *table[T]) get(h uint64) (*T, status.Code) {
	idx, gen, ok := t.decode(h)
	if !ok {
		return nil, status.SEC_E_INVALID_HANDLE
	}
	t.mu.RLock()
	defer t.mu.RUnlock()
	if int(idx) >= len(t.slots) {
		return nil, status.SEC_E_INVALID_HANDLE
	}
	s := t.slots[idx]
	if s.val == nil || s.gen != gen {
		return nil, status.SEC_E_INVALID_HANDLE
	}
	return s.val, status.SEC_E_OK
}

// remove deletes h. It returns the entry and SEC_E_OK when h was live; nil
// and SEC_E_OK when h was issued and already deleted (Windows' rule for
// DeleteSecurityContext); nil and SEC_E_INVALID_HANDLE when h was never
// issued by this table.
func (t *table[T]) remove(h uint64) (*T, status.Code) {
	idx, gen, ok := t.decode(h)
	if !ok || gen == 0 {
		return nil, status.SEC_E_INVALID_HANDLE
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if int(idx) >= len(t.slots) {
		return nil, status.SEC_E_INVALID_HANDLE
	}
	s := &t.slots[idx]
	if s.gen != gen {
		if gen < s.gen {
			return nil, status.SEC_E_OK // an earlier occupant, deleted
		}
		return nil, status.SEC_E_INVALID_HANDLE
	}
	if s.val == nil {
		return nil, status.SEC_E_INVALID_HANDLE // this generation was never issued
	}
	v := s.val
	s.val = nil
	s.gen = (s.gen + 1) & handleGenMask
	if s.gen == 0 {
		s.gen = 1
	}
	t.free = append(t.free, idx)
	t.live--
	return v, status.SEC_E_OK
}

// removeAll empties the table and returns what it held.
func (t *table[T]) removeAll() []*T {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []*T
	for i := range t.slots {
		s := &t.slots[i]
		if s.val != nil {
			out = append(out, s.val)
			s.val = nil
			s.gen = (s.gen + 1) & handleGenMask
			if s.gen == 0 {
				s.gen = 1
			}
			t.free = append(t.free, uint32(i))
		}
	}
	t.live = 0
	return out
}

// len returns the number of live handles.
func (t *table[T]) len() int {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.live
}
