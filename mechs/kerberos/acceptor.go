package kerberos

import (
	"errors"
	"strings"
	"sync/atomic"
	"time"

	secctx "github.com/asyncsspi/asyncsspi/context"
	"github.com/asyncsspi/asyncsspi/mechs"
	"github.com/asyncsspi/asyncsspi/status"
)

// This file is the acceptor: the server side of one krb5 GSS context,
// which accepts in one leg. Its step verifies the AP-REQ as RFC 4120
// section 3.2.3 and RFC 4121 section 4.1 say, in protocol order:
//
//	decode               the GSS framing and the AP-REQ
//	openTicket           decrypt the ticket in the service key
//	openAuthenticator    decrypt the authenticator in the session key
//	checkTimes           clock skew, ticket start and end
//	checkChecksum        the 0x8003 checksum and the channel bindings
//	checkReplay          the replay cache, last, so that only
//	                     authenticators that verified occupy it; a cache
//	                     on another host is asked through an IORequest,
//	                     and the next Step goes on with its answer
//	reply                the context's flags and keys, and the AP-REP
//	                     when mutual authentication was asked
//
// Every refusal carries its SSPI status and the KRB-ERROR code the
// acceptor sends with ASC_REQ_EXTENDED_ERROR.

// acceptor is the server side of one krb5 GSS context.
type acceptor struct {
	session
	cred    *credential
	req     secctx.ASCReq
	done    bool
	bad     bool
	svcName string // the ticket's service, once known (for error tokens)

	deleg   *delegation               // what the client delegated, if anything (under attrMu)
	pending atomic.Pointer[accepting] // verified, waiting for a remote replay cache
}

// accepting is one AP-REQ on its way through the acceptor's steps.
type accepting struct {
	req   apReq
	etp   *encTicketPart
	sess  *key   // the ticket's session key
	name  string // the ticket's service, "svc/host@REALM"
	plain []byte // the decrypted authenticator, wiped by reply
	auth  authenticator
	ctime time.Time // the authenticator's ctime and cusec
	start time.Time // the ticket's start time
	cs    gssChecksum
}

// refusal is why the acceptor refuses an AP-REQ: the leg's status, the
// KRB-ERROR code (RFC 4120 section 7.5.9) of its error token, and the
// cause. A token cut short is a refusal too (SEC_E_INCOMPLETE_MESSAGE),
// after which the context waits for the whole token.
type refusal struct {
	status  status.Code
	krb     int32
	err     error
	missing int
}

// refuse is a refusal with status code, KRB-ERROR code krb and cause err.
func refuse(code status.Code, krb int32, err error) *refusal {
	return &refusal{status: code, krb: krb, err: err}
}

// refused ends the leg with r. Except for a token cut short, the context
// is spent; with ASC_REQ_EXTENDED_ERROR the result carries an error token
// for the initiator, as MIT sends one (RFC 4121 section 4.1: TOK_ID 03 00
// and a KRB-ERROR).
func (c *acceptor) refused(r *refusal) mechs.StepResult {
	if r.status == status.SEC_E_INCOMPLETE_MESSAGE {
		return mechs.StepResult{Status: r.status, Missing: r.missing, Err: status.New(r.status, Name, r.err)}
	}
	c.bad = true
	res := mechs.Fail(r.status, Name, r.err)
	if c.req&secctx.ASC_REQ_EXTENDED_ERROR != 0 {
		sname, realm := splitName(c.svcName)
		res.Token = frameGSS(tokKRBError, buildKRBError(r.krb, c.cred.pkg.now(), realm, sname))
		res.Flags = uint64(secctx.ASC_RET_EXTENDED_ERROR)
	}
	return res
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

// Step verifies the AP-REQ and answers with an AP-REP when the initiator
// asked for mutual authentication.
func (c *acceptor) Step(in *mechs.StepInput) mechs.StepResult {
	r, spare := c.StepWithRoom(in, 0)
	r.Token = r.Token[spare:]
	return r
}

// StepWithRoom is Step with room spare octets in front of the AP-REP
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
	if a := c.takePending(); a != nil {
		// The remote replay cache's answer (the leg's IORequest).
		if r := replayVerdict(in.IOErr); r != nil {
			clear(a.plain)
			return c.refused(r)
		}
		return c.reply(a, room)
	}
	var a accepting
	var io *mechs.IORequest
	r := c.decode(in, &a)
	if r == nil {
		r = c.openTicket(&a)
	}
	if r == nil {
		r = c.openAuthenticator(&a)
	}
	if r == nil {
		r = c.checkTimes(&a)
	}
	if r == nil {
		r = c.checkChecksum(in, &a)
	}
	if r == nil {
		io, r = c.checkReplay(&a)
	}
	if r != nil {
		clear(a.plain) // the authenticator holds the initiator's subkey
		return c.refused(r)
	}
	if io != nil {
		// The verified request waits for the cache's answer; the next
		// Step of this leg goes on from it.
		p := new(accepting)
		*p = a
		c.pending.Store(p)
		return mechs.StepResult{IO: io}
	}
	return c.reply(&a, room)
}

// takePending returns and forgets the request waiting for a remote replay
// cache's answer, if any. pending is atomic because Close, which wipes it,
// may run at any time.
func (c *acceptor) takePending() *accepting {
	if c.pending.Load() == nil {
		return nil
	}
	return c.pending.Swap(nil)
}

// decode reads the GSS framing and the AP-REQ (RFC 4120 section 5.5.1).
func (c *acceptor) decode(in *mechs.StepInput, a *accepting) *refusal {
	if len(in.Token) == 0 {
		return refuse(status.SEC_E_INVALID_TOKEN, krbErrGeneric, errors.New("kerberos: no AP-REQ token"))
	}
	tokID, inner, err := parseGSS(in.Token)
	if err != nil {
		var tr *errTruncated
		if errors.As(err, &tr) {
			return &refusal{status: status.SEC_E_INCOMPLETE_MESSAGE, err: err, missing: tr.need}
		}
		return refuse(status.SEC_E_INVALID_TOKEN, krbErrGeneric, err)
	}
	if tokID != tokAPReq {
		return refuse(status.SEC_E_INVALID_TOKEN, krbErrGeneric, errNotKerberos)
	}
	if a.req, err = parseAPReq(inner); err != nil {
		return refuse(status.SEC_E_INVALID_TOKEN, krbErrGeneric, err)
	}
	return nil
}

// openTicket finds the ticket's decrypted part and session key: from the
// credential's ticket cache when these very ticket octets verified
// before, else by decrypting it in the service key (RFC 4120 section
// 3.2.3).
func (c *acceptor) openTicket(a *accepting) *refusal {
	keys := c.cred.acc
	if ot, ok := keys.tickets.get(a.req.ticketRaw); ok {
		a.etp, a.sess, a.name = ot.etp, ot.sess, ot.name
		c.svcName = a.name
		return nil
	}
	tk, err := parseTicket(a.req.ticketRaw)
	if err != nil {
		return refuse(status.SEC_E_INVALID_TOKEN, krbErrGeneric, err)
	}
	a.name = tk.sname.String() + "@" + tk.realm
	c.svcName = a.name
	sk, r := keys.lookup(tk.sname, tk.realm, tk.enc)
	if r != nil {
		return r
	}
	tp, err := sk.decrypt(usageTicket, tk.enc.cipher)
	if err != nil {
		// Not encrypted in our key (RFC 4120 section 3.2.3, MS-KILE
		// 3.4.5): the wrong key, or a ticket for another service that
		// shares the name.
		return refuse(status.FromKerberos(krbAPErrModified), krbAPErrModified, err)
	}
	defer clear(tp) // the session key lives on in a.sess
	if a.etp, err = parseEncTicketPart(tp); err != nil {
		return refuse(status.SEC_E_INVALID_TOKEN, krbErrGeneric, err)
	}
	if a.etp.keyEtype == etypeRC4HMAC && !keys.pkg.allowRC4 {
		return refuse(status.SEC_E_KDC_UNKNOWN_ETYPE, kdcErrEtypeNoSupp, errRC4NotWanted)
	}
	if a.sess, err = newKey(a.etp.keyEtype, a.etp.keyValue); err != nil {
		return refuse(status.SEC_E_KDC_UNKNOWN_ETYPE, kdcErrEtypeNoSupp, err)
	}
	a.etp.keyValue = nil // tp is wiped
	a.etp.authzData = nil
	a.etp.client = a.etp.cname.String() + "@" + a.etp.crealm
	keys.tickets.put(a.req.ticketRaw, &openTicket{etp: a.etp, sess: a.sess, name: a.name})
	return nil
}

// openAuthenticator decrypts the authenticator in the session key and
// checks that it names the ticket's client.
func (c *acceptor) openAuthenticator(a *accepting) *refusal {
	if a.req.auth.etype != a.sess.etype {
		return refuse(status.SEC_E_INVALID_TOKEN, krbAPErrBadIntegrity, errors.New("kerberos: authenticator enctype differs from the session key's"))
	}
	var err error
	if a.plain, err = a.sess.decrypt(usageAPReqAuth, a.req.auth.cipher); err != nil {
		return refuse(status.FromKerberos(krbAPErrBadIntegrity), krbAPErrBadIntegrity, err)
	}
	if a.auth, err = parseAuthenticator(a.plain); err != nil {
		return refuse(status.SEC_E_INVALID_TOKEN, krbErrGeneric, err)
	}
	if string(a.auth.crealmRaw) != a.etp.crealm || !samePrincipal(a.etp.cname, a.auth.cnameRaw) {
		return refuse(status.FromKerberos(krbAPErrBadMatch), krbAPErrBadMatch, errors.New("kerberos: authenticator and ticket name different clients"))
	}
	a.ctime = a.auth.ctime.Add(time.Duration(a.auth.cusec) * time.Microsecond)
	return nil
}

// checkTimes checks the authenticator's time against the clock skew and
// the ticket's validity (RFC 4120 section 3.2.3).
func (c *acceptor) checkTimes(a *accepting) *refusal {
	pkg := c.cred.pkg
	now, skew := pkg.now(), pkg.maxSkew
	if d := now.Sub(a.ctime); d > skew || d < -skew {
		return refuse(status.SEC_E_TIME_SKEW, krbAPErrSkew, errors.New("kerberos: authenticator time is outside the allowed clock skew"))
	}
	a.start = a.etp.startTime
	if a.start.IsZero() {
		a.start = a.etp.authTime
	}
	if a.start.Sub(now) > skew || a.etp.flags&ticketFlagInvalid != 0 {
		return refuse(status.FromKerberos(krbAPErrTktNYV), krbAPErrTktNYV, errors.New("kerberos: ticket not yet valid"))
	}
	if now.Sub(a.etp.endTime) > skew {
		return refuse(status.FromKerberos(krbAPErrTktExpired), krbAPErrTktExpired, errors.New("kerberos: ticket expired"))
	}
	return nil
}

// checkChecksum reads the GSS checksum (RFC 4121 section 4.1.1) and checks
// the channel bindings against the caller's.
func (c *acceptor) checkChecksum(in *mechs.StepInput, a *accepting) *refusal {
	if !a.auth.hasCksum || a.auth.cksumType != cksumTypeGSS {
		return refuse(status.SEC_E_INVALID_TOKEN, krbAPErrInappCksum, errors.New("kerberos: authenticator lacks the 0x8003 checksum"))
	}
	var err error
	if a.cs, err = parseGSSChecksum(a.auth.cksum); err != nil {
		return refuse(status.SEC_E_INVALID_TOKEN, krbErrGeneric, err)
	}
	var srv [16]byte
	if in.Bindings != nil {
		srv = in.Bindings.Hash()
	}
	if !bindingsMatch(a.cs.bindings, srv, in.Bindings != nil, c.cred.pkg.requireBind) {
		// MIT sends KRB_ERR_GENERIC here (no code says "bindings").
		return refuse(status.SEC_E_BAD_BINDINGS, krbErrGeneric, errors.New("kerberos: channel bindings do not match"))
	}
	return nil
}

// reply establishes the context: its flags from the GSS checksum, the
// delegated credential, its keys and sequence numbers, and the AP-REP
// when mutual authentication was asked (RFC 4121 sections 4.1 and 2).
func (c *acceptor) reply(a *accepting, room int) mechs.StepResult {
	defer clear(a.plain) // after the last use of a.cs, which points into it
	var isub *key
	if a.auth.hasSubkey {
		var err error
		if isub, err = newKey(a.auth.subEtype, a.auth.subValue); err != nil {
			return c.refused(refuse(status.SEC_E_INVALID_TOKEN, krbErrGeneric, err))
		}
	}
	var ret secctx.ASCRet
	if a.cs.flags&gssReplayFlag != 0 {
		ret |= secctx.ASC_RET_REPLAY_DETECT
	}
	if a.cs.flags&gssSequenceFlag != 0 {
		ret |= secctx.ASC_RET_SEQUENCE_DETECT
	}
	if a.cs.flags&gssConfFlag != 0 {
		ret |= secctx.ASC_RET_CONFIDENTIALITY
	}
	if a.cs.flags&gssIntegFlag != 0 {
		ret |= secctx.ASC_RET_INTEGRITY
	}
	if a.cs.krbCred != nil {
		// Opened now (a KRB-CRED that does not open is no delegation:
		// the handshake goes on without ASC_RET_DELEGATE); its TGT is
		// decoded when asked for (delegation.go).
		d := receiveDelegation(a.cs.krbCred, a.sess, isub, a.etp)
		if d.usable() {
			ret |= secctx.ASC_RET_DELEGATE
		}
		c.attrMu.Lock()
		c.deleg = d
		c.attrMu.Unlock()
	}
	ret |= secctx.ASCRet(c.req) & (secctx.ASC_RET_CONNECTION | secctx.ASC_RET_ALLOCATED_MEMORY | secctx.ASC_RET_EXTENDED_ERROR)
	initSeq := uint64(a.auth.seq)
	client, end := a.etp.client, a.etp.endTime

	mutual := a.req.options&apOptionMutualRequired != 0 || a.cs.flags&gssMutualFlag != 0
	if !mutual {
		// Without an AP-REP, the acceptor's sequence numbers start at the
		// initiator's and the key is the initiator's subkey.
		k := isub
		if k == nil {
			k = a.sess
		}
		c.done = true
		c.own(isub, nil)
		c.establish(k, false, initSeq, initSeq, uint64(ret), client, a.name, a.start, end)
		return mechs.StepResult{Status: status.SEC_E_OK, Flags: uint64(ret), Expiry: end}
	}
	// AP-REP with an acceptor subkey, as MIT does, and our own sequence
	// number.
	subEtype := a.sess.etype
	if isub != nil {
		subEtype = isub.etype
	}
	asub, mySeq, err := randomKeyAndSeq(subEtype)
	if err != nil {
		return c.refused(refuse(status.SEC_E_INTERNAL_ERROR, krbErrGeneric, err))
	}
	tok, err := buildAPRep(a.sess, a.auth.ctime, a.auth.cusec, asub, mySeq, room)
	if err != nil {
		return c.refused(refuse(status.SEC_E_INTERNAL_ERROR, krbErrGeneric, err))
	}
	ret |= secctx.ASC_RET_MUTUAL_AUTH
	c.done = true
	c.own(isub, asub)
	c.establish(asub, true, uint64(mySeq), initSeq, uint64(ret), client, a.name, a.start, end)
	return mechs.StepResult{Status: status.SEC_E_OK, Token: tok, Flags: uint64(ret), Expiry: end}
}

// QueryAttribute answers the attributes both sides share (session.go)
// and SECPKG_ATTR_ASYNCSSPI_DELEGATED_CREDENTIAL (delegation.go).
func (c *acceptor) QueryAttribute(attr secctx.Attribute) (any, status.Code) {
	if attr == attrDelegated {
		return c.delegatedCredential()
	}
	return c.queryAttribute(attr, c.cred.pkg.Info())
}

func (c *acceptor) Close() {
	if a := c.takePending(); a != nil {
		clear(a.plain)
	}
	c.attrMu.Lock()
	if c.deleg != nil {
		c.deleg.wipe()
	}
	c.attrMu.Unlock()
	c.close()
}

var (
	_ mechs.SecurityContext = (*acceptor)(nil)
	_ mechs.SecurityContext = (*initiator)(nil)
	_ mechs.Credential      = (*credential)(nil)
	_ mechs.Package         = (*Package)(nil)
)

// incompleteResult is the leg's result for a token cut short
// (SEC_E_INCOMPLETE_MESSAGE, with the missing octet count when known), and
// false for any other error.
func incompleteResult(err error) (mechs.StepResult, bool) {
	var tr *errTruncated
	if !errors.As(err, &tr) {
		return mechs.StepResult{}, false
	}
	return mechs.StepResult{Status: status.SEC_E_INCOMPLETE_MESSAGE, Missing: tr.need,
		Err: status.New(status.SEC_E_INCOMPLETE_MESSAGE, Name, err)}, true
}
