package kerberos

import (
	"errors"
	"strings"
	"sync"
	"time"

	secctx "github.com/asyncsspi/asyncsspi/context"
	"github.com/asyncsspi/asyncsspi/mechs"
	"github.com/asyncsspi/asyncsspi/status"
	"github.com/jcmturner/gokrb5/v8/keytab"
)

// acceptorKeys is the inbound half of a credential: the keytab, the
// service principal it is restricted to (if any), the long-term keys with
// their derived ticket-decryption schedules, and the replay cache. All of
// it is owned by the credential and shared by its acceptor contexts.
type acceptorKeys struct {
	pkg        *Package
	kt         *keytab.Keytab
	only       string          // "svc/host@REALM" or "svc/host", or "" for any
	principals map[string]bool // "svc/host@REALM" in the keytab
	keys       sync.Map        // keyID -> *key
	rc         *replayCache
	tickets    *ticketCache
}

type keyID struct {
	name  string
	kvno  int32
	etype int32
}

func newAcceptorKeys(kt *keytab.Keytab, only string, p *Package) (*acceptorKeys, error) {
	a := &acceptorKeys{pkg: p, kt: kt, principals: make(map[string]bool), rc: newReplayCache(p.rcShards, p.rcPerShard),
		tickets: newTicketCache()}
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
func (a *acceptorKeys) lookup(sname principal, realm string, ed encryptedData) (*key, status.Code, error) {
	name := sname.String() + "@" + realm
	if !a.principals[name] || !a.allowed(name) {
		return nil, status.SEC_E_WRONG_PRINCIPAL, errors.New("kerberos: ticket is for " + quote(name) + ", not for this service")
	}
	if ed.etype == etypeRC4HMAC && !a.pkg.allowRC4 {
		return nil, status.SEC_E_KDC_UNKNOWN_ETYPE, errRC4NotWanted
	}
	id := keyID{name: name, kvno: ed.kvno, etype: ed.etype}
	if k, ok := a.keys.Load(id); ok {
		return k.(*key), status.SEC_E_OK, nil
	}
	ek, _, err := a.kt.GetEncryptionKey(principalName(sname.nameType, sname.parts), realm, int(ed.kvno), ed.etype)
	if err != nil {
		return nil, status.SEC_E_NO_KERB_KEY, err
	}
	k, err := keyFrom(ek)
	if err != nil {
		return nil, status.SEC_E_KDC_UNKNOWN_ETYPE, err
	}
	// Derive the ticket usage now, once per key.
	if _, err := k.usage(usageTicket); err != nil {
		return nil, status.SEC_E_INTERNAL_ERROR, err
	}
	a.keys.Store(id, k)
	return k, status.SEC_E_OK, nil
}

// acceptor is the server side of one krb5 GSS context. Kerberos accepts
// in one leg: the AP-REQ in, the AP-REP (when mutual authentication was
// asked) out.
type acceptor struct {
	session
	cred    *credential
	req     secctx.ASCReq
	done    bool
	bad     bool
	svcName string // the ticket's service, once known (for error tokens)

	delegated []byte
}

func (c *acceptor) fail(code status.Code, err error) mechs.StepResult {
	c.bad = true
	r := mechs.Fail(code, Name, err)
	if c.req&secctx.ASC_REQ_EXTENDED_ERROR != 0 {
		// An error token for the initiator, as MIT sends one (RFC 4121
		// section 4.1: TOK_ID 03 00 and a KRB-ERROR).
		var w builder
		sname, realm := splitName(c.svcName)
		appendKRBError(&w, krbErrorFor(code), c.cred.pkg.now(), realm, sname)
		r.Token = frameGSS(tokKRBError, w.b)
		r.Flags = uint64(secctx.ASC_RET_EXTENDED_ERROR)
	}
	return r
}

// splitName splits "svc/host@REALM" for a KRB-ERROR; an unknown service
// is named by an empty principal.
func splitName(name string) (principal, string) {
	if name == "" {
		return principal{nameType: nameTypeSrvInst}, ""
	}
	realm := ""
	if i := strings.LastIndexByte(name, '@'); i >= 0 {
		name, realm = name[:i], name[i+1:]
	}
	return principal{nameType: nameTypeSrvInst, parts: strings.Split(name, "/")}, realm
}

// krbErrorFor picks the KRB-ERROR code (RFC 4120 section 7.5.9) for a
// failure status.
func krbErrorFor(code status.Code) int32 {
	switch code {
	case status.SEC_E_TIME_SKEW:
		return 37 // KRB_AP_ERR_SKEW
	case status.SEC_E_CONTEXT_EXPIRED:
		return 32 // KRB_AP_ERR_TKT_EXPIRED
	case status.SEC_E_WRONG_PRINCIPAL:
		return 35 // KRB_AP_ERR_NOT_US
	case status.SEC_E_LOGON_DENIED:
		return 34 // KRB_AP_ERR_REPEAT (the acceptor's only LOGON_DENIED)
	case status.SEC_E_MESSAGE_ALTERED:
		return 31 // KRB_AP_ERR_BAD_INTEGRITY
	case status.SEC_E_NO_KERB_KEY:
		return 45 // KRB_AP_ERR_NOKEY
	case status.SEC_E_KDC_UNKNOWN_ETYPE:
		return 14 // KDC_ERR_ETYPE_NOSUPP
	}
	return 60 // KRB_ERR_GENERIC
}

// Step verifies the AP-REQ (RFC 4120 section 3.2.3, RFC 4121 section 4.1)
// and answers with an AP-REP when the initiator asked for mutual
// authentication.
func (c *acceptor) Step(in *mechs.StepInput) mechs.StepResult {
	r, spare := c.StepWithRoom(in, 0)
	r.Token = r.Token[spare:]
	return r
}

// StepWithRoom is Step with room spare bytes in front of the AP-REP
// (mechs.RoomStepper).
func (c *acceptor) StepWithRoom(in *mechs.StepInput, room int) (mechs.StepResult, int) {
	room = min(max(room, 0), mechs.MaxRoom)
	r := c.step(in, room)
	if len(r.Token) == 0 || r.Status.IsError() {
		return r, 0
	}
	return r, room
}

func (c *acceptor) step(in *mechs.StepInput, room int) mechs.StepResult {
	if c.done || c.bad {
		return mechs.Fail(status.SEC_E_INVALID_HANDLE, Name, errors.New("kerberos: the acceptor context is already complete"))
	}
	a := c.cred.acc
	if len(in.Token) == 0 {
		return c.fail(status.SEC_E_INVALID_TOKEN, errors.New("kerberos: no AP-REQ token"))
	}
	tokID, inner, err := parseGSS(in.Token)
	if err != nil {
		if r, ok := incompleteResult(err); ok {
			return r
		}
		return c.fail(status.SEC_E_INVALID_TOKEN, err)
	}
	if tokID != tokAPReq {
		return c.fail(status.SEC_E_INVALID_TOKEN, errNotKerberos)
	}
	r, err := parseAPReq(inner)
	if err != nil {
		return c.fail(status.SEC_E_INVALID_TOKEN, err)
	}
	var etp *encTicketPart
	var sess *key
	var name string
	if ot, ok := a.tickets.get(r.ticketRaw); ok {
		etp, sess, name = ot.etp, ot.sess, ot.name
		c.svcName = name
	} else {
		tk, err := parseTicket(r.ticketRaw)
		if err != nil {
			return c.fail(status.SEC_E_INVALID_TOKEN, err)
		}
		name = tk.sname.String() + "@" + tk.realm
		c.svcName = name
		sk, code, err := a.lookup(tk.sname, tk.realm, tk.enc)
		if err != nil {
			return c.fail(code, err)
		}
		tp, err := sk.decrypt(usageTicket, tk.enc.cipher)
		if err != nil {
			// KRB_AP_ERR_MODIFIED (RFC 4120 3.2.3): not encrypted in our key.
			return c.fail(status.FromKerberos(41), err)
		}
		if etp, err = parseEncTicketPart(tp); err != nil {
			return c.fail(status.SEC_E_INVALID_TOKEN, err)
		}
		if etp.keyEtype == etypeRC4HMAC && !a.pkg.allowRC4 {
			return c.fail(status.SEC_E_KDC_UNKNOWN_ETYPE, errRC4NotWanted)
		}
		sess, err = newKey(etp.keyEtype, etp.keyValue)
		if err != nil {
			return c.fail(status.SEC_E_KDC_UNKNOWN_ETYPE, err)
		}
		etp.keyValue = nil // tp is wiped: the key lives on in sess
		etp.authzData = nil
		etp.client = etp.cname.String() + "@" + etp.crealm
		clear(tp)
		a.tickets.put(r.ticketRaw, &openTicket{etp: etp, sess: sess, name: name})
	}
	if r.auth.etype != sess.etype {
		return c.fail(status.SEC_E_INVALID_TOKEN, errors.New("kerberos: authenticator enctype differs from the session key's"))
	}
	ap, err := sess.decrypt(usageAPReqAuth, r.auth.cipher)
	if err != nil {
		return c.fail(status.FromKerberos(31), err) // KRB_AP_ERR_BAD_INTEGRITY
	}
	auth, err := parseAuthenticator(ap)
	if err != nil {
		return c.fail(status.SEC_E_INVALID_TOKEN, err)
	}
	if string(auth.crealmRaw) != etp.crealm || !samePrincipal(etp.cname, auth.cnameRaw) {
		return c.fail(status.FromKerberos(36), errors.New("kerberos: authenticator and ticket name different clients"))
	}

	// Times (RFC 4120 section 3.2.3).
	now := a.pkg.now()
	skew := a.pkg.maxSkew
	ctime := auth.ctime.Add(time.Duration(auth.cusec) * time.Microsecond)
	if d := now.Sub(ctime); d > skew || d < -skew {
		return c.fail(status.SEC_E_TIME_SKEW, errors.New("kerberos: authenticator time is outside the allowed clock skew"))
	}
	start := etp.startTime
	if start.IsZero() {
		start = etp.authTime
	}
	if start.Sub(now) > skew || etp.flags&ticketFlagInvalid != 0 {
		return c.fail(status.SEC_E_TIME_SKEW, errors.New("kerberos: ticket not yet valid"))
	}
	if now.Sub(etp.endTime) > skew {
		return c.fail(status.SEC_E_CONTEXT_EXPIRED, errors.New("kerberos: ticket expired"))
	}

	// The GSS checksum (RFC 4121 section 4.1.1).
	if !auth.hasCksum || auth.cksumType != cksumTypeGSS {
		return c.fail(status.SEC_E_INVALID_TOKEN, errors.New("kerberos: authenticator lacks the 0x8003 checksum"))
	}
	cs, err := parseGSSChecksum(auth.cksum)
	if err != nil {
		return c.fail(status.SEC_E_INVALID_TOKEN, err)
	}
	var srv [16]byte
	if in.Bindings != nil {
		srv = in.Bindings.Hash()
	}
	if !bindingsMatch(cs.bindings, srv, in.Bindings != nil, a.pkg.requireBind) {
		return c.fail(status.SEC_E_BAD_BINDINGS, errors.New("kerberos: channel bindings do not match"))
	}

	// Replay detection (RFC 4120 section 3.2.3), last, so that only
	// authenticators that verified occupy the cache.
	var rk replayKey
	copy(rk.tag[:], r.auth.cipher[len(r.auth.cipher)-16:])
	rk.time = ctime.UnixMicro()
	switch a.rc.checkAndInsert(rk, now, ctime.Add(skew)) {
	case replayed:
		return c.fail(status.FromKerberos(34), errors.New("kerberos: replayed authenticator (KRB_AP_ERR_REPEAT)"))
	case cacheFull:
		return c.fail(status.SEC_E_INSUFFICIENT_MEMORY, errors.New("kerberos: replay cache full"))
	}

	var isub *key
	if auth.hasSubkey {
		if isub, err = newKey(auth.subEtype, auth.subValue); err != nil {
			return c.fail(status.SEC_E_INVALID_TOKEN, err)
		}
	}
	var ret secctx.ASCRet
	if cs.flags&gssReplayFlag != 0 {
		ret |= secctx.ASC_RET_REPLAY_DETECT
	}
	if cs.flags&gssSequenceFlag != 0 {
		ret |= secctx.ASC_RET_SEQUENCE_DETECT
	}
	if cs.flags&gssConfFlag != 0 {
		ret |= secctx.ASC_RET_CONFIDENTIALITY
	}
	if cs.flags&gssIntegFlag != 0 {
		ret |= secctx.ASC_RET_INTEGRITY
	}
	if cs.krbCred != nil && checkKRBCred(cs.krbCred, sess) {
		c.attrMu.Lock()
		c.delegated = append([]byte(nil), cs.krbCred...)
		c.attrMu.Unlock()
		ret |= secctx.ASC_RET_DELEGATE
	}
	clear(ap) // after the last use of cs, which points into it
	ret |= secctx.ASCRet(c.req) & (secctx.ASC_RET_CONNECTION | secctx.ASC_RET_ALLOCATED_MEMORY | secctx.ASC_RET_EXTENDED_ERROR)
	initSeq := uint64(auth.seq)
	client := etp.client
	server := name

	mutual := r.options&apOptionMutualRequired != 0 || cs.flags&gssMutualFlag != 0
	if !mutual {
		// RFC 4121: without an AP-REP, the acceptor's sequence numbers
		// start at the initiator's and the key is the initiator's subkey.
		k := isub
		if k == nil {
			k = sess
		}
		c.done = true
		c.own(isub, nil)
		c.establish(k, false, initSeq, initSeq, uint64(ret), client, server, start, etp.endTime)
		return mechs.StepResult{Status: status.SEC_E_OK, Flags: uint64(ret), Expiry: etp.endTime}
	}
	// AP-REP with an acceptor subkey, as MIT does, and our own sequence
	// number.
	subEtype := sess.etype
	if isub != nil {
		subEtype = isub.etype
	}
	asub, mySeq, err := randomKeyAndSeq(subEtype)
	if err != nil {
		return c.fail(status.SEC_E_INTERNAL_ERROR, err)
	}
	tok, err := buildAPRep(sess, auth.ctime, auth.cusec, asub, mySeq, room)
	if err != nil {
		return c.fail(status.SEC_E_INTERNAL_ERROR, err)
	}
	ret |= secctx.ASC_RET_MUTUAL_AUTH
	c.done = true
	c.own(isub, asub)
	c.establish(asub, true, uint64(mySeq), initSeq, uint64(ret), client, server, start, etp.endTime)
	return mechs.StepResult{Status: status.SEC_E_OK, Token: tok, Flags: uint64(ret), Expiry: etp.endTime}
}

// buildAPRep makes the framed AP-REP (TOK_ID 02 00): EncAPRepPart echoing
// the authenticator's ctime and cusec with our subkey and sequence
// number, encrypted in the ticket session key with usage 12.
func buildAPRep(sess *key, ctime time.Time, cusec int32, sub *key, seq uint32, room int) ([]byte, error) {
	var pb [128]byte
	p := builder{b: pb[:0]}
	e := p.open(app(27))
	s := p.open(tagSequence)
	f := p.open(ctx(0))
	p.time(ctime)
	p.close(f)
	p.ctxInt(1, int64(cusec))
	p.encryptionKey(2, sub)
	p.ctxInt(3, int64(seq))
	p.close(s)
	p.close(e)

	w := builder{b: make([]byte, room, room+sess.sealedSize(len(p.b))+48)} // room: spare, in front
	g := w.open(0x60)
	w.raw(oidKrb5DER)
	w.raw(tokAPRep[:])
	a := w.open(app(msgTypeAPRep))
	s = w.open(tagSequence)
	w.ctxInt(0, 5)
	w.ctxInt(1, msgTypeAPRep)
	f = w.open(ctx(2))
	es := w.open(tagSequence)
	w.ctxInt(0, int64(sess.etype))
	f2 := w.open(ctx(2))
	o := w.open(tagOctetString)
	var err error
	if w.b, err = sess.encrypt(w.b, usageAPRepEncPart, p.b); err != nil {
		return nil, err
	}
	w.close(o)
	w.close(f2)
	w.close(es)
	w.close(f)
	w.close(s)
	w.close(a)
	w.close(g)
	clear(p.b)
	return w.b, nil
}

func (c *acceptor) QueryAttribute(attr secctx.Attribute) (any, status.Code) {
	return c.queryAttribute(attr, c.cred.pkg.Info())
}

// DelegatedCredential returns the KRB-CRED (RFC 4120 section 5.8) the
// initiator delegated, or nil. It is set when the context's flags carry
// ASC_RET_DELEGATE.
func (c *acceptor) DelegatedCredential() []byte {
	c.attrMu.Lock()
	defer c.attrMu.Unlock()
	return c.delegated
}

func (c *acceptor) Close() { c.close() }

var (
	_ mechs.SecurityContext = (*acceptor)(nil)
	_ mechs.SecurityContext = (*initiator)(nil)
	_ mechs.Credential      = (*credential)(nil)
	_ mechs.Package         = (*Package)(nil)
)

// ticketCache remembers recently verified tickets (their decrypted part
// and session key with its derived key schedules), keyed by the ticket's
// whole DER encoding, so that a client presenting the same ticket on many
// connections costs one ticket decryption and one key derivation, not one
// per AP-REQ. The authenticator is still decrypted and checked on every
// AP-REQ. Only the very bytes that verified can hit. Bounded: a full shard
// is emptied.
type ticketCache struct {
	shards [16]ticketShard
}

type ticketShard struct {
	mu sync.Mutex
	m  map[string]*openTicket
}

type openTicket struct {
	etp  *encTicketPart
	sess *key
	name string // "svc/host@REALM"
}

const ticketCachePerShard = 256

func newTicketCache() *ticketCache {
	c := &ticketCache{}
	for i := range c.shards {
		c.shards[i].m = make(map[string]*openTicket)
	}
	return c
}

func (c *ticketCache) shard(raw []byte) *ticketShard {
	return &c.shards[int(raw[len(raw)-1])%len(c.shards)]
}

func (c *ticketCache) get(raw []byte) (*openTicket, bool) {
	if len(raw) == 0 {
		return nil, false
	}
	sh := c.shard(raw)
	sh.mu.Lock()
	ot, ok := sh.m[string(raw)] // no allocation for the lookup
	sh.mu.Unlock()
	return ot, ok
}

func (c *ticketCache) put(raw []byte, ot *openTicket) {
	if len(raw) == 0 {
		return
	}
	sh := c.shard(raw)
	sh.mu.Lock()
	if len(sh.m) >= ticketCachePerShard {
		clear(sh.m)
	}
	sh.m[string(raw)] = ot
	sh.mu.Unlock()
}

// incompleteResult is the leg's result for a token cut short
// (SEC_E_INCOMPLETE_MESSAGE, with the missing byte count when known), and
// false for any other error.
func incompleteResult(err error) (mechs.StepResult, bool) {
	var tr *errTruncated
	if !errors.As(err, &tr) {
		return mechs.StepResult{}, false
	}
	return mechs.StepResult{Status: status.SEC_E_INCOMPLETE_MESSAGE, Missing: tr.need,
		Err: status.New(status.SEC_E_INCOMPLETE_MESSAGE, Name, err)}, true
}
