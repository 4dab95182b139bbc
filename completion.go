package asyncsspi

import "github.com/asyncsspi/asyncsspi/async"

// CompletionQueue collects the security contexts whose legs completed, for
// an event loop that holds many at once: wait on Ready, then Drain. Both
// cost in proportion to what completed, not to what is pending.
type CompletionQueue struct {
	q       *async.CompletionQueue
	scratch []*async.AsyncContext // Drain's own, reused; Drain is called from one goroutine
}

// NewCompletionQueue returns an empty queue for SecurityContext.SetCompletionQueue.
func (e *Engine) NewCompletionQueue() *CompletionQueue {
	return &CompletionQueue{q: e.async.NewCompletionQueue()}
}

// SetCompletionQueue makes every completed leg of s append s to q (nil
// stops it).
func (s *SecurityContext) SetCompletionQueue(q *CompletionQueue) {
	if q == nil {
		s.ac.SetCompletionQueue(nil)
		return
	}
	s.ac.SetCompletionQueue(q.q)
}

// Ready receives a value after contexts were added; one receive may stand
// for many additions.
func (q *CompletionQueue) Ready() <-chan struct{} { return q.q.Ready() }

// Drain appends to dst every context whose leg completed since the last
// Drain, in completion order, once per completed leg. Call it from one
// goroutine at a time.
func (q *CompletionQueue) Drain(dst []*SecurityContext) []*SecurityContext {
	q.scratch = q.q.Drain(q.scratch[:0])
	for i, ac := range q.scratch {
		if s, ok := ac.Value().(*SecurityContext); ok {
			dst = append(dst, s)
		}
		q.scratch[i] = nil
	}
	return dst
}

// Len is how many completed legs wait to be drained.
func (q *CompletionQueue) Len() int { return q.q.Len() }
