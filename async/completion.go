package async

// The completion queue: a batch drain of completed async contexts for event
// loops that hold many at once. Its cost grows with what completed, never
// with what is pending.

import "sync"

// CompletionQueue collects completed async contexts for an event loop that
// holds many at once. Waiting on Ready and calling Drain costs in proportion
// to the number of contexts that completed, not to the number pending.
type CompletionQueue struct {
	mu    sync.Mutex
	items []*AsyncContext // guarded by mu
	ready chan struct{}   // capacity 1: "something was added since the last receive"
}

// NewCompletionQueue returns an empty completion queue for use with
// AsyncContext.SetCompletionQueue.
func (e *Engine) NewCompletionQueue() *CompletionQueue {
	return &CompletionQueue{ready: make(chan struct{}, 1)}
}

func (q *CompletionQueue) push(ac *AsyncContext) {
	q.mu.Lock()
	q.items = append(q.items, ac)
	q.mu.Unlock()
	select {
	case q.ready <- struct{}{}:
	default:
	}
}

// Ready returns a channel that receives a value after contexts have been
// added. One receive may stand for many additions; after receiving, Drain
// returns all of them (possibly none, if an earlier Drain took them).
func (q *CompletionQueue) Ready() <-chan struct{} { return q.ready }

// Drain appends every context that has completed since the last Drain to
// dst, in completion order, and returns it. A context appears once per
// completed call.
func (q *CompletionQueue) Drain(dst []*AsyncContext) []*AsyncContext {
	q.mu.Lock()
	dst = append(dst, q.items...)
	clear(q.items)
	q.items = q.items[:0]
	q.mu.Unlock()
	return dst
}

// Len returns how many completed contexts wait to be drained.
func (q *CompletionQueue) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.items)
}
