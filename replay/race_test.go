//go:build race

package replay

// raceEnabled: the race detector slows every memory access of the cache
// ten-fold or more.
const raceEnabled = true
