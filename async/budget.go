package async

// The engine's two budgets.
//
// Rule: legs on the CPU side (queued for a CPU worker, or running on one)
// and legs waiting on I/O are bounded apart and never mixed. WithQueueDepth
// bounds the first: a new leg beyond it is refused with StatusQueueFull.
// WithIOWaitLimit bounds the second: a Step that asks for I/O beyond it
// gets StatusIOWaitFull as its IOErr at once, without waiting. A leg moves
// from one budget to the other when it starts or stops waiting on I/O, so
// legs stuck on a KDC that never answers hold no CPU slot, and NTLM legs
// keep flowing. A leg coming back from I/O is always taken by the CPU
// side, even beyond the queue depth: the CPU pool's queue holds depth +
// I/O wait limit legs, and at most that many are ever on the CPU side
// (a new leg is admitted only below depth, and only legs that left the CPU
// side for I/O come back). A leg's CPU slot is given back before its
// completion is published, so whoever sees it complete (its notify
// callback included) may queue the next leg even at full depth.

// cpuQueueSize is the size of the CPU pool's queue: room for every leg
// that can be on the CPU side at once.
func cpuQueueSize(c config) int { return c.depth + c.ioLimit }

// admit takes a CPU slot for a new leg, if one is free.
func (e *Engine) admit() bool {
	if e.cpuLegs.Add(1) > int64(e.cfg.depth) {
		e.cpuLegs.Add(-1)
		return false
	}
	return true
}

// release gives back the CPU slot of a leg that completes or was refused.
func (e *Engine) release() { e.cpuLegs.Add(-1) }

// startWaitLocked moves a leg from the CPU side to the I/O side, if the
// I/O wait limit allows. io.mu is held.
func (io *ioSide) startWaitLocked() bool {
	if io.legs >= io.e.cfg.ioLimit {
		return false
	}
	io.legs++
	io.e.cpuLegs.Add(-1)
	return true
}

// endWaitLocked moves n legs from the I/O side back to the CPU side, which
// always has room for them. io.mu is held.
func (io *ioSide) endWaitLocked(n int) {
	io.legs -= n
	io.e.cpuLegs.Add(int64(n))
}
