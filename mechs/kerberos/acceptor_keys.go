package kerberos

import (
	"errors"
	"slices"
	"strings"
	"sync"

	"github.com/asyncsspi/asyncsspi/replay"
	"github.com/asyncsspi/asyncsspi/status"
	"github.com/jcmturner/gokrb5/v8/keytab"
)

// This file is the inbound half of a credential: the service keys of a
// keytab, found by the ticket's sname, realm, kvno and etype (RFC 4120
// section 3.2.3), with their derived schedules kept for the credential's
// life.

// acceptorKeys is the inbound half of a credential: the keytab, the
// service principal it is restricted to (if any), the long-term keys with
// their derived ticket-decryption schedules, and the ticket cache. All of
// it is owned by the credential and shared by its acceptor contexts. The
// replay cache is not the credential's but the service's (the package's,
// by default the process's): rc only refers to it.
type acceptorKeys struct {
	pkg        *Package
	kt         *keytab.Keytab
	only       string          // "svc/host@REALM" or "svc/host", or "" for any
	principals map[string]bool // "svc/host@REALM" in the keytab
	keys       sync.Map        // keyID -> *key
	rc         replay.Cache
	remote     remoteCache // rc, when it is kept on another host
	tickets    *ticketCache
}

type keyID struct {
	name  string
	kvno  int32
	etype int32
}

func newAcceptorKeys(kt *keytab.Keytab, only string, p *Package) (*acceptorKeys, error) {
	a := &acceptorKeys{pkg: p, kt: kt, principals: make(map[string]bool), rc: p.replayCache(),
		tickets: newTicketCache()}
	a.remote, _ = a.rc.(remoteCache)
	for _, e := range kt.Entries {
		a.principals[strings.Join(e.Principal.Components, "/")+"@"+e.Principal.Realm] = true
	}
	if len(a.principals) == 0 {
		return nil, status.Errorf(status.SEC_E_NO_CREDENTIALS, Name, "the keytab holds no keys")
	}
	if only != "" {
		spn, _, ok := normalizeTarget(only)
		if !ok {
			spn = only
		}
		a.only = spn
		found := false
		for name := range a.principals {
			if a.allowed(name) {
				found = true
			}
		}
		if !found {
			return nil, status.Errorf(status.SEC_E_NO_CREDENTIALS, Name, "no key for "+quote(only)+" in the keytab")
		}
	}
	return a, nil
}

// allowed reports whether the credential may accept tickets for name
// ("svc/host@REALM").
func (a *acceptorKeys) allowed(name string) bool {
	if a.only == "" {
		return true
	}
	if strings.Contains(a.only, "@") {
		return name == a.only
	}
	i := strings.LastIndexByte(name, '@')
	return name[:i] == a.only
}

// lookup returns the service key a ticket is encrypted in.
func (a *acceptorKeys) lookup(sname principal, realm string, ed encryptedData) (*key, *refusal) {
	name := sname.String() + "@" + realm
	if !a.principals[name] || !a.allowed(name) {
		return nil, refuse(status.SEC_E_WRONG_PRINCIPAL, krbAPErrNotUs, errors.New("kerberos: ticket is for "+quote(name)+", not for this service"))
	}
	if ed.etype == etypeRC4HMAC && !a.pkg.allowRC4 {
		return nil, refuse(status.SEC_E_KDC_UNKNOWN_ETYPE, kdcErrEtypeNoSupp, errRC4NotWanted)
	}
	id := keyID{name: name, kvno: ed.kvno, etype: ed.etype}
	if k, ok := a.keys.Load(id); ok {
		return k.(*key), nil
	}
	ek, _, err := a.kt.GetEncryptionKey(principalName(sname.nameType, sname.parts), realm, int(ed.kvno), ed.etype)
	if err != nil {
		return nil, refuse(status.SEC_E_NO_KERB_KEY, a.missingKey(sname, realm, ed), err)
	}
	k, err := keyFrom(ek)
	if err != nil {
		return nil, refuse(status.SEC_E_KDC_UNKNOWN_ETYPE, kdcErrEtypeNoSupp, err)
	}
	// Derive the ticket usage now, once per key.
	if _, err := k.usage(usageTicket); err != nil {
		return nil, refuse(status.SEC_E_INTERNAL_ERROR, krbErrGeneric, err)
	}
	a.keys.Store(id, k)
	return k, nil
}

// missingKey names what the keytab lacks for a ticket it has no key for:
// KRB_AP_ERR_BADKEYVER when the service has keys, but none of the ticket's
// key version, KRB_AP_ERR_NOKEY when none of them is of its enctype (RFC
// 4120 section 3.2.3).
func (a *acceptorKeys) missingKey(sname principal, realm string, ed encryptedData) int32 {
	for _, e := range a.kt.Entries {
		if e.Principal.Realm == realm && slices.Equal(e.Principal.Components, sname.parts) &&
			(!ed.hasKV || ed.kvno == 0 || uint32(ed.kvno) == e.KVNO) {
			return krbAPErrNoKey
		}
	}
	return krbAPErrBadKeyVer
}
