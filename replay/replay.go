// Package replay remembers the authenticators a service has accepted, so
// that one presented again is refused (RFC 4120 section 3.2.3: the replay
// cache of a Kerberos acceptor).
//
// Replay protection belongs to the service key, not to a credential
// handle: an AP-REQ accepted once must be refused by every acceptor that
// holds the same key, whichever credential, mechanism (Kerberos or
// Negotiate) or process accepts it. A Cache is therefore shared: package
// kerberos keeps one per process unless given another, and a fleet of
// processes shares one kept on another host.
//
// A Cache is keyed by a Key, a hash of the service principal and of the
// authenticator's integrity tag (the last checksum-length octets of its
// ciphertext, as MIT's replay cache takes them): never the authenticator
// itself nor anything secret, so that a cache kept on another host learns
// nothing it could use.
//
// # Caches on another host
//
// Insert may be called on a CPU worker, inside an acceptor's Step, only
// when it does no network I/O, as Memory's does. A cache kept on another
// host (Redis, say) must instead be performed on the engine's I/O side.
// Package kerberos recognises such a cache by the method it implements
// besides Insert,
//
//	Perform(ctx context.Context, req *mechs.IORequest) ([]byte, error)
//
// (mechs.IOPerformer; this package imports nothing but the standard
// library, so it does not name the type). For such a cache the acceptor
// does not call Insert: its Step returns an IORequest of kind
// mechs.IOReplayCache whose Message is AppendRequest's encoding of the
// entry and the acceptor's time, with no sharing Key (two legs presenting
// the same authenticator must not share one answer). The engine calls
// Perform on its I/O side; Perform decodes the message with ParseRequest,
// calls its own Insert and returns the error Insert returned (nil for a
// new authenticator, reply bytes ignored). The next Step of the same leg
// receives that error and decides: nil accepts, ErrReplay and ErrTooOld
// refuse, any other error refuses too (a cache that cannot answer fails
// closed).
package replay

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"time"
)

// Key identifies one authenticator presented to one service: 16 octets of
// SHA-256 over the service principal name and the authenticator's
// integrity tag. Make it with MakeKey.
type Key [16]byte

// MakeKey returns the Key of an authenticator whose integrity tag (the
// last checksum-length octets of its ciphertext) is tag, presented to
// service ("HTTP/host@REALM").
func MakeKey(service string, tag []byte) Key {
	// SHA-256(len(service) | service | tag), the length first so that no
	// service and tag run into each other. A stack buffer serves the
	// usual sizes without an allocation.
	var buf [256]byte
	var in []byte
	if n := 4 + len(service) + len(tag); n <= len(buf) {
		in = buf[:0]
	} else {
		in = make([]byte, 0, n)
	}
	in = binary.BigEndian.AppendUint32(in, uint32(len(service)))
	in = append(in, service...)
	in = append(in, tag...)
	sum := sha256.Sum256(in)
	var k Key
	copy(k[:], sum[:])
	return k
}

// Entry is one authenticator as a Cache keeps it.
type Entry struct {
	// Key identifies the authenticator and its service.
	Key Key
	// Time is the authenticator's time: its ctime and cusec (RFC 4120
	// section 5.5.1).
	Time time.Time
	// Expiry is when the authenticator stops passing the acceptor's
	// clock-skew check (Time plus the allowed skew): a cache need not
	// remember it after that.
	Expiry time.Time
}

// ErrReplay is the cause of a refusal because the authenticator was
// accepted before (KRB_AP_ERR_REPEAT). Match it with errors.Is.
var ErrReplay = errors.New("replay: authenticator already accepted (KRB_AP_ERR_REPEAT)")

// ErrTooOld is the cause of a refusal because the authenticator is not
// newer than authenticators the cache had to forget to stay within its
// bound: the cache cannot tell whether it saw this one, and a replay must
// never be accepted. Under load the window of accepted authenticators so
// narrows from the clock skew to what the bound holds; a client whose
// clock is right is not affected, and one refused this way succeeds with
// a fresh authenticator. Match it with errors.Is.
var ErrTooOld = errors.New("replay: authenticator older than the replay cache can vouch for")

// Cache records authenticators. Its methods are safe for concurrent use.
type Cache interface {
	// Insert records e, seen at now (the acceptor's clock). It returns
	// nil when e is new, an error wrapping ErrReplay when e.Key was
	// recorded before, an error wrapping ErrTooOld when the cache can no
	// longer tell, and any other error when it could not decide (the
	// acceptor then refuses). ctx bounds the call for a cache that
	// waits; see the package comment for caches on another host.
	Insert(ctx context.Context, e Entry, now time.Time) error
}

// requestLen is the size of AppendRequest's encoding.
const requestLen = 16 + 3*8

// AppendRequest appends the encoding of an Insert(e, now) for a cache on
// another host: the Key, then e.Time, e.Expiry and now as big-endian
// Unix microseconds (40 octets).
func AppendRequest(dst []byte, e Entry, now time.Time) []byte {
	dst = append(dst, e.Key[:]...)
	dst = binary.BigEndian.AppendUint64(dst, uint64(e.Time.UnixMicro()))
	dst = binary.BigEndian.AppendUint64(dst, uint64(e.Expiry.UnixMicro()))
	return binary.BigEndian.AppendUint64(dst, uint64(now.UnixMicro()))
}

var errRequest = errors.New("replay: malformed request")

// ParseRequest reads what AppendRequest wrote.
func ParseRequest(b []byte) (Entry, time.Time, error) {
	if len(b) != requestLen {
		return Entry{}, time.Time{}, errRequest
	}
	var e Entry
	copy(e.Key[:], b)
	e.Time = time.UnixMicro(int64(binary.BigEndian.Uint64(b[16:])))
	e.Expiry = time.UnixMicro(int64(binary.BigEndian.Uint64(b[24:])))
	return e, time.UnixMicro(int64(binary.BigEndian.Uint64(b[32:]))), nil
}
