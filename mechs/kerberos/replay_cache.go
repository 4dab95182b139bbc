package kerberos

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/asyncsspi/asyncsspi/mechs"
	"github.com/asyncsspi/asyncsspi/replay"
	"github.com/asyncsspi/asyncsspi/status"
)

// This file is the acceptor's replay check (RFC 4120 section 3.2.3): the
// authenticator, identified by a hash of the service principal and of its
// integrity tag, is recorded in the service's replay cache, and refused if
// it was recorded before.

// DefaultReplayCache returns the process's replay cache, made on first
// use: a replay.Memory with its default bound, shared by every Package of
// the process that was not given another with WithReplayCache, so by
// every credential, Kerberos or Negotiate, that accepts for a service, and
// across credentials freed and acquired again. It is this package's one
// piece of package-level state, on purpose: replay protection belongs to
// the service key, not to a credential handle, as MIT keeps one replay
// cache per host.
func DefaultReplayCache() replay.Cache { return defaultReplayCache() }

var defaultReplayCache = sync.OnceValue(func() replay.Cache { return replay.NewMemory() })

// replayCache is the cache the package's acceptors record in.
func (p *Package) replayCache() replay.Cache {
	if p.rcache != nil {
		return p.rcache
	}
	return DefaultReplayCache()
}

// remoteCache is a replay cache kept on another host: it is asked through
// an IORequest the engine performs on its I/O side, never from Step.
type remoteCache interface {
	replay.Cache
	mechs.IOPerformer
}

// checkReplay records the authenticator. A cache in memory answers at
// once; for a remote one it returns the IORequest whose outcome the next
// Step reads (replayVerdict).
func (c *acceptor) checkReplay(a *accepting) (*mechs.IORequest, *refusal) {
	ct := a.req.auth.cipher
	// The integrity tag, as MIT's replay cache takes it
	// (k5_rc_tag_from_ciphertext): the ciphertext's last checksum-length
	// octets.
	tag := ct[len(ct)-min(a.sess.hlen, len(ct)):]
	pkg := c.cred.pkg
	now := pkg.now()
	e := replay.Entry{Key: replay.MakeKey(a.name, tag), Time: a.ctime, Expiry: a.ctime.Add(pkg.maxSkew)}
	if rc := c.cred.acc.remote; rc != nil {
		realm := a.name[strings.LastIndexByte(a.name, '@')+1:]
		// No sharing Key: two legs presenting the same authenticator
		// must each get their own answer, one of them a refusal.
		return &mechs.IORequest{Kind: mechs.IOReplayCache, Realm: realm,
			Message: replay.AppendRequest(make([]byte, 0, 40), e, now), Performer: rc}, nil
	}
	return nil, replayVerdict(c.cred.acc.rc.Insert(context.Background(), e, now))
}

// replayVerdict turns a replay cache's answer into the acceptor's: nil
// accepts; a replay is KRB_AP_ERR_REPEAT; an authenticator older than the
// cache can vouch for is refused as out of the clock skew window (the
// window narrowed under load), which a client remedies with a fresh
// authenticator; a cache that could not answer refuses too (fail closed).
func replayVerdict(err error) *refusal {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, replay.ErrReplay):
		return &refusal{status: status.FromKerberos(krbAPErrRepeat), krb: krbAPErrRepeat,
			err: fmt.Errorf("kerberos: replayed authenticator: %w", err)}
	case errors.Is(err, replay.ErrTooOld):
		return &refusal{status: status.SEC_E_TIME_SKEW, krb: krbAPErrSkew,
			err: fmt.Errorf("kerberos: authenticator outside the replay cache's window: %w", err)}
	}
	code := status.CodeOf(err)
	if !code.IsError() {
		code = status.SEC_E_INTERNAL_ERROR
	}
	return &refusal{status: code, krb: krbErrGeneric, err: fmt.Errorf("kerberos: replay cache: %w", err)}
}
