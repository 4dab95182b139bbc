package mechs

import (
	"context"
	"time"
)

// IOKind says what an IORequest is, so that the engine can bound and count
// each kind of wait apart from CPU work.
type IOKind uint8

// The kinds of I/O a mechanism may ask for.
const (
	// IOKDC is an exchange with a realm's KDCs (RFC 4120 section 7.2):
	// Message is a DER KDC-REQ (AS-REQ or TGS-REQ), the reply a KDC-REP
	// or KRB-ERROR.
	IOKDC IOKind = iota + 1
	// IOReplayCache is a lookup in a replay cache kept on another host
	// (a fleet's shared cache).
	IOReplayCache
	// IOVerifier is a check of a client's response by an authority that
	// holds the client's keys (a domain controller).
	IOVerifier
)

func (k IOKind) String() string {
	switch k {
	case IOKDC:
		return "kdc"
	case IOReplayCache:
		return "replay-cache"
	case IOVerifier:
		return "verifier"
	}
	return "io"
}

// IORequest is network I/O a step needs before it can go on. It is data,
// not a closure, so that the engine can see what each leg waits on:
//
//   - legs whose requests have the same Performer, Kind and a non-empty Key
//     wait on one exchange, which is performed once and whose reply each of
//     them receives;
//   - an exchange ends (its context cancelled, its socket closed) when the
//     last leg waiting on it is cancelled, deleted or timed out;
//   - legs waiting on I/O are bounded and counted apart from the legs
//     queued for CPU work.
//
// A mechanism that returns one gives up no state to it: the next Step of
// the same leg receives the reply (or the error) in StepInput.IOReply and
// IOErr and goes on from there.
type IORequest struct {
	// Kind is what the I/O is.
	Kind IOKind
	// Realm names the authority the I/O goes to (a Kerberos realm, a
	// cache's address, a domain), for limits and diagnostics.
	Realm string
	// Key, when non-empty, makes legs share one exchange: every leg that
	// asks for the same Performer, Kind and Key while an exchange for them
	// is in flight waits on that exchange and gets its reply instead of
	// sending Message again. A mechanism sets it only where one reply
	// serves every such leg (the same request, built once).
	Key string
	// Message is what to send, in the Performer's protocol.
	Message []byte
	// Deadline, when set, ends the exchange at that time; the engine's own
	// I/O timeout applies too, whichever is sooner.
	Deadline time.Time
	// Performer carries the exchange out.
	Performer IOPerformer
}

// IOPerformer carries out IORequests: a KDC transport, a replay cache on
// another host. The engine calls Perform on its I/O side, never on a CPU
// worker.
type IOPerformer interface {
	// Perform sends req.Message to req.Realm's authority and returns the
	// reply. ctx carries the request's deadline and is cancelled when no
	// leg waits on the reply any more or the engine closes; Perform must
	// then return promptly, leaving no goroutine or socket behind. The
	// returned slice is handed, unchanged, to every leg that waited on
	// the exchange.
	Perform(ctx context.Context, req *IORequest) ([]byte, error)
}
