package async

import (
	"runtime"
	"time"
)

// Option configures an Engine.
type Option func(*config)

type config struct {
	workers   int
	depth     int
	ioWorkers int
	ioTimeout time.Duration
}

// Defaults.
const (
	defaultDepth     = 4096
	defaultIOWorkers = 64
	defaultIOTimeout = 30 * time.Second
)

// WithWorkers sets the number of CPU workers that run mechanism steps
// (default GOMAXPROCS).
func WithWorkers(n int) Option { return func(c *config) { c.workers = n } }

// WithQueueDepth bounds the asynchronous legs in flight (queued, running or
// waiting on I/O) at once (default 4096). A leg queued beyond it is refused
// with StatusQueueFull. The engine's queues are sized from it up front (16
// bytes per slot, two queues).
func WithQueueDepth(n int) Option { return func(c *config) { c.depth = n } }

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
	c := config{workers: runtime.GOMAXPROCS(0), depth: defaultDepth, ioWorkers: defaultIOWorkers, ioTimeout: defaultIOTimeout}
	for _, o := range opts {
		o(&c)
	}
	c.workers = max(c.workers, 1)
	c.depth = max(c.depth, 1)
	c.ioWorkers = max(c.ioWorkers, 1)
	if c.ioTimeout <= 0 {
		c.ioTimeout = defaultIOTimeout
	}
	return c
}
