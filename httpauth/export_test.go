package httpauth

// Stats reports the connections with state and the unfinished handshakes
// the Authenticator holds.
func (a *Authenticator) Stats() (conns, handshakes int) { return a.conns.stats() }
