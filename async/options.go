package async

import (
	"runtime"
	"time"
)

// Option configures an Engine.
type Option func(*config)

type config struct {
	workers   int
	depth     int // legs on the CPU side
	ioLimit   int // legs waiting on I/O
	ioWorkers int
	ioTimeout time.Duration
}

// Defaults.
const (
	// depthPerCPU is the default queue depth per CPU. A leg costs some
	// microseconds of CPU (an NTLM or Kerberos leg 3 to 15 µs here), so
	// a full queue is in the order of a second's work, and an engine on
	// a 2-CPU machine takes 131,072 legs at once before it refuses one.
	depthPerCPU      = 1 << 16
	maxDefaultDepth  = 1 << 20
	defaultIOWorkers = 64
	defaultIOTimeout = 30 * time.Second
)

// defaultDepth is the default of WithQueueDepth: depthPerCPU for each CPU
// Go may use (GOMAXPROCS), at most maxDefaultDepth.
func defaultDepth() int {
	return min(depthPerCPU*runtime.GOMAXPROCS(0), maxDefaultDepth)
}

// WithWorkers sets the number of CPU workers that run mechanism steps
// (default GOMAXPROCS).
func WithWorkers(n int) Option { return func(c *config) { c.workers = n } }

// WithQueueDepth bounds the asynchronous legs on the CPU side at once:
// queued for a CPU worker or running on one (default 65,536 per CPU, at
// most 1,048,576; see New). A leg queued beyond it is refused with
// StatusQueueFull. Legs waiting on I/O do not count: WithIOWaitLimit bounds
// them.
func WithQueueDepth(n int) Option { return func(c *config) { c.depth = n } }

// WithIOWaitLimit bounds the asynchronous legs waiting on I/O at once
// (default: the queue depth). A waiting leg holds no goroutine and no CPU
// slot, only its own memory. A leg whose Step asks for I/O beyond the limit
// does not wait: its Step is called again at once with IOErr a
// *status.Error of StatusIOWaitFull whose cause is ErrIOWaitFull, so the
// mechanism fails the leg (or, under Negotiate, falls back to another
// package) as it would for a KDC it cannot reach.
func WithIOWaitLimit(n int) Option { return func(c *config) { c.ioLimit = n } }

// WithIOConcurrency sets how many I/O exchanges (KDC exchanges) are
// performed at once (default 64); the others wait their turn. Each is
// performed on an I/O goroutine, never on a CPU worker; I/O goroutines
// start when there is an exchange to perform and park for reuse after, so
// there are never more than n, and none before the first I/O.
func WithIOConcurrency(n int) Option { return func(c *config) { c.ioWorkers = n } }

// WithIOTimeout sets the deadline of each I/O exchange, counted from when
// the first leg asked for it (default 30s). An IORequest's own Deadline
// applies too, whichever is sooner.
func WithIOTimeout(d time.Duration) Option { return func(c *config) { c.ioTimeout = d } }

// newConfig applies opts over the defaults and clamps what is out of range.
func newConfig(opts []Option) config {
	c := config{workers: runtime.GOMAXPROCS(0), depth: defaultDepth(), ioWorkers: defaultIOWorkers, ioTimeout: defaultIOTimeout}
	for _, o := range opts {
		o(&c)
	}
	c.workers = max(c.workers, 1)
	c.depth = max(c.depth, 1)
	if c.ioLimit <= 0 {
		c.ioLimit = c.depth
	}
	c.ioWorkers = max(c.ioWorkers, 1)
	if c.ioTimeout <= 0 {
		c.ioTimeout = defaultIOTimeout
	}
	return c
}
