package ntlm

import (
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	secctx "github.com/asyncsspi/asyncsspi/context"
	"github.com/asyncsspi/asyncsspi/mechs"
	"github.com/asyncsspi/asyncsspi/status"
)

// Context is one side of one NTLM handshake, and after it the message
// protection state (what a CtxtHandle names). It implements
// mechs.SecurityContext.
//
// Locking: mu is held for the whole of Step, and by QueryAttribute and
// Close, so that those see a finished leg's results. The per-message
// methods do not take mu: they use the two direction locks of sec, and
// read established, which Step sets (atomically, after the keys) only when
// the handshake completes. The engine never runs Step concurrently with
// them.
//
// Layout: every field holding a pointer comes first, so that the garbage
// collector's view of this large object (its pointer prefix) stays small;
// the key material and RC4 states after it are plain bytes.
type Context struct {
	mu          sync.Mutex
	cred        *Credential
	target      string
	negotiate   []byte // the NEGOTIATE message (for the MIC)
	challenge   []byte // the CHALLENGE message (acceptor: for the MIC)
	user        string // results, guarded by mu
	domain      string
	workstation string
	start       time.Time
	failure     mechs.StepResult // a dead acceptor's status, repeated
	sendX       *hasher          // the send direction's MD5, owned under sec.send.mu
	recvX       *hasher          // the receive direction's MD5, owned under sec.recv.mu

	client bool
	iscReq secctx.ISCReq
	ascReq secctx.ASCReq
	state  legState
	closed bool

	// Handshake scratch, owned by Step.
	negBuf     [negotiateFixedVersion]byte
	serverChal [8]byte
	clientChal [8]byte
	random     [8 + 16]byte // the initiator's client challenge and session key, as read
	baseKey    [16]byte     // SessionBaseKey / KeyExchangeKey
	chalFlags  uint32       // what the acceptor offered

	// Results, guarded by mu.
	flags      uint32 // negotiated NTLMSSP flags
	retFlags   uint64
	sessionKey [16]byte // ExportedSessionKey
	hasKey     bool
	micSent    bool

	// zeroBindings makes an initiator send an all-zero
	// MsvAvChannelBindings when it has no bindings, as Windows clients do;
	// tests use it to check how the acceptor treats such a client.
	zeroBindings bool
	// noMIC makes an initiator send no MIC although the CHALLENGE has a
	// timestamp, as legacy clients (curl) do; for tests of WithRequireMIC.
	noMIC bool

	// Message protection. sec is made on the first per-message call (or
	// after a re-authentication, anew) from secKey and secFlags, which
	// finish sets; making it takes mu, using it does not.
	established atomic.Bool
	sec         atomic.Pointer[sessionSecurity]
	secKey      [16]byte
	secFlags    uint32
}

type legState uint8

const (
	stateStart legState = iota
	stateSentNegotiate
	stateSentChallenge
	stateDone
	stateFailed
)

var _ mechs.SecurityContext = (*Context)(nil)

// Step runs one leg (InitializeSecurityContext or AcceptSecurityContext).
// An initiator returns SEC_I_CONTINUE_NEEDED with the NEGOTIATE message,
// then SEC_E_OK with the AUTHENTICATE message; called again after that it
// starts a re-authentication. An acceptor returns SEC_I_CONTINUE_NEEDED
// with the CHALLENGE message, then SEC_E_OK with no token. NTLM never
// returns an IORequest.
func (c *Context) Step(in *mechs.StepInput) mechs.StepResult {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return fail(status.SEC_E_INVALID_HANDLE, "context deleted")
	}
	if in == nil {
		in = &mechs.StepInput{}
	}
	switch {
	case len(in.Token) > maxToken:
		// Before anything is parsed or copied (the context is unchanged).
		return fail(status.SEC_E_INVALID_TOKEN, "input token longer than NTLM's maximum token size of "+strconv.Itoa(maxToken)+" bytes")
	case len(in.Token) == 0 && c.expects() != "":
		// An empty token is no message, not a truncated one.
		return fail(status.SEC_E_INVALID_TOKEN, "no "+c.expects()+" message")
	}
	if c.client {
		return c.initiatorStep(in)
	}
	return c.acceptorStep(in)
}

// expects names the message the next leg reads ("" when it reads none).
func (c *Context) expects() string {
	switch {
	case c.client && c.state == stateSentNegotiate:
		return "CHALLENGE"
	case !c.client && c.state == stateStart:
		return "NEGOTIATE"
	case !c.client && c.state == stateSentChallenge:
		return "AUTHENTICATE"
	}
	return ""
}

// finish records a completed handshake and returns the last leg's result:
// SEC_E_OK with tok (the initiator's AUTHENTICATE message; an acceptor has
// none) and the ISC_RET_* or ASC_RET_* flags.
func (c *Context) finish(tok []byte) mechs.StepResult {
	c.state = stateDone
	c.secKey, c.secFlags = c.sessionKey, c.flags
	if old := c.sec.Swap(nil); old != nil {
		old.wipe()
	}
	c.established.Store(c.hasKey)
	return legResult(status.SEC_E_OK, tok, c.retFlags)
}

// legResult is a successful leg's result. An NTLM context does not expire:
// its expiry reads never, as Windows reports it (secctx.Never).
func legResult(st status.Code, tok []byte, flags uint64) mechs.StepResult {
	return mechs.StepResult{Status: st, Token: tok, Flags: flags, Expiry: secctx.NeverExpires()}
}

// session returns the message protection state, making it on first use.
func (c *Context) session() *sessionSecurity {
	if s := c.sec.Load(); s != nil {
		return s
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if s := c.sec.Load(); s != nil {
		return s
	}
	s := new(sessionSecurity)
	s.init(c.secKey[:], c.secFlags, c.client)
	c.sec.Store(s)
	return s
}

// send is MakeSignature (seal false) and EncryptMessage (seal true), recv
// VerifySignature and DecryptMessage. Before the handshake completes they
// give SEC_E_NO_CONTEXT; a QOP other than 0 gives SEC_E_QOP_NOT_SUPPORTED;
// sealing without NTLMSSP_NEGOTIATE_SEAL gives SEC_E_UNSUPPORTED_FUNCTION.
// secFlags is written by Step, which never runs concurrently with them.
func (c *Context) send(qop uint32, msg []secctx.Buffer, seal bool) status.Code {
	if st := c.ready(qop, seal); st != status.SEC_E_OK {
		return st
	}
	return c.session().protect(&c.sendX, msg, seal)
}

func (c *Context) recv(msg []secctx.Buffer, seal bool) (uint32, status.Code) {
	if st := c.ready(0, seal); st != status.SEC_E_OK {
		return 0, st
	}
	return 0, c.session().check(&c.recvX, msg, seal)
}

func (c *Context) ready(qop uint32, seal bool) status.Code {
	switch {
	case !c.established.Load():
		return status.SEC_E_NO_CONTEXT
	case qop != 0:
		return status.SEC_E_QOP_NOT_SUPPORTED
	case seal && c.secFlags&negotiateSeal == 0:
		return status.SEC_E_UNSUPPORTED_FUNCTION
	}
	return status.SEC_E_OK
}

// MakeSignature writes the 16-byte NTLMSSP_MESSAGE_SIGNATURE (MS-NLMP
// 3.4.4) of the DATA buffers into the TOKEN buffer. seq is ignored: the
// context's own send sequence number is used and advanced.
func (c *Context) MakeSignature(qop uint32, msg []secctx.Buffer, seq uint32) status.Code {
	return c.send(qop, msg, false)
}

// VerifySignature checks a signature made by the peer's MakeSignature.
func (c *Context) VerifySignature(msg []secctx.Buffer, seq uint32) (uint32, status.Code) {
	return c.recv(msg, false)
}

// EncryptMessage seals the (writable) DATA buffers in place (MS-NLMP
// 3.4.3) and writes the signature into the TOKEN buffer. NTLM has no
// integrity-only wrap (gss-ntlmssp seals whatever gss_wrap is asked), so
// SECQOP_WRAP_NO_ENCRYPT gives SEC_E_QOP_NOT_SUPPORTED: use MakeSignature.
func (c *Context) EncryptMessage(qop uint32, msg []secctx.Buffer, seq uint32) status.Code {
	return c.send(qop, msg, true)
}

// DecryptMessage unseals the DATA buffers in place and checks the
// signature in the TOKEN buffer.
func (c *Context) DecryptMessage(msg []secctx.Buffer, seq uint32) (uint32, status.Code) {
	return c.recv(msg, true)
}

// MICPresent reports whether the AUTHENTICATE message carried a MIC: sent
// by this initiator, or verified by this acceptor. SPNEGO (MS-SPNG)
// needs it: with an NTLM MIC, mechListMIC is required.
func (c *Context) MICPresent() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.micSent
}

// RequiresMechListMIC reports MICPresent (mechs.MechListMICRequirer):
// with an NTLM MIC, SPNEGO's mechListMIC is required (MS-SPNG 3.2.5.1).
func (c *Context) RequiresMechListMIC() bool { return c.MICPresent() }

// ResetSealingState re-keys the RC4 sealing handle of the send direction
// (outbound true) or of the receive direction from its sealing key,
// leaving the sequence numbers alone (mechs.SealingStateResetter). SPNEGO
// needs it (MS-SPNG 3.3.5.1, on mechListMIC with NTLM): after an NTLM
// context has signed (send) or verified (receive) the mechListMIC, the RC4
// state must be what it was before, for the first application message;
// MIT's SPNEGO does the same with gss-ntlmssp's reset-crypto context
// option. It does nothing before the handshake completes.
func (c *Context) ResetSealingState(outbound bool) {
	if !c.established.Load() {
		return
	}
	s := c.session()
	if outbound {
		s.send.resetSeal()
	} else {
		s.recv.resetSeal()
	}
}

// NegotiateFlags returns the NTLMSSP_NEGOTIATE flags (MS-NLMP 2.2.2.5) the
// handshake settled on.
func (c *Context) NegotiateFlags() uint32 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.flags
}

// Complete reports whether the handshake has finished.
func (c *Context) Complete() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state == stateDone
}

// QueryAttribute returns SECPKG_ATTR_SIZES, _NAMES, _NATIVE_NAMES,
// _LIFESPAN, _SESSION_KEY, _FLAGS, _PACKAGE_INFO and _NEGOTIATION_INFO.
func (c *Context) QueryAttribute(attr secctx.Attribute) (any, status.Code) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, status.SEC_E_INVALID_HANDLE
	}
	done := c.state == stateDone
	switch attr {
	case secctx.SECPKG_ATTR_SIZES:
		return secctx.Sizes{MaxToken: maxToken, MaxSignature: signatureSize, BlockSize: 0, SecurityTrailer: signatureSize}, status.SEC_E_OK
	case secctx.SECPKG_ATTR_NAMES:
		if !done && !c.client {
			return nil, status.SEC_E_NO_CONTEXT
		}
		return secctx.Names{UserName: c.clientName()}, status.SEC_E_OK
	case secctx.SECPKG_ATTR_NATIVE_NAMES:
		if !done && !c.client {
			return nil, status.SEC_E_NO_CONTEXT
		}
		return secctx.NativeNames{ClientName: c.clientName(), ServerName: c.target}, status.SEC_E_OK
	case secctx.SECPKG_ATTR_LIFESPAN:
		return secctx.Lifespan{Start: c.start, Expiry: secctx.NeverExpires()}, status.SEC_E_OK
	case secctx.SECPKG_ATTR_SESSION_KEY:
		if !done || !c.hasKey {
			return nil, status.SEC_E_NO_CONTEXT
		}
		return secctx.SessionKey{Key: append([]byte(nil), c.sessionKey[:]...)}, status.SEC_E_OK
	case secctx.SECPKG_ATTR_FLAGS:
		return secctx.Flags{Flags: c.retFlags}, status.SEC_E_OK
	case secctx.SECPKG_ATTR_PACKAGE_INFO:
		return c.cred.pkg.Info(), status.SEC_E_OK
	case secctx.SECPKG_ATTR_NEGOTIATION_INFO:
		st := secctx.SECPKG_NEGOTIATION_IN_PROGRESS
		if done {
			st = secctx.SECPKG_NEGOTIATION_COMPLETE
		}
		return secctx.NegotiationInfo{Package: c.cred.pkg.Info(), State: st}, status.SEC_E_OK
	}
	return nil, status.SEC_E_UNSUPPORTED_FUNCTION
}

// clientName is "DOMAIN\user" (SECPKG_ATTR_NAMES for NTLM).
func (c *Context) clientName() string {
	if c.user == "" && c.domain == "" {
		if c.flags&negotiateAnonymous != 0 || (c.client && c.cred.anonymous) {
			return `NT AUTHORITY\ANONYMOUS LOGON`
		}
		return ""
	}
	if c.domain == "" {
		return c.user
	}
	return c.domain + `\` + c.user
}

// Close deletes the context and wipes its keys.
func (c *Context) Close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	c.closed = true
	c.established.Store(false)
	if s := c.sec.Load(); s != nil {
		s.wipe()
	}
	clear(c.sessionKey[:])
	clear(c.secKey[:])
	clear(c.baseKey[:])
	clear(c.random[:])
}

// filetime converts t to a FILETIME (100 ns ticks since 1601).
// It works for any time from 1601 on (time.UnixNano does not).
func filetime(t time.Time) uint64 {
	const epochDelta = 116444736000000000 // 1601-01-01 to 1970-01-01 in 100 ns ticks
	return uint64(t.Unix()*1e7 + int64(t.Nanosecond()/100) + epochDelta)
}

func fromFiletime(ft uint64) time.Time {
	if ft >= uint64(secctx.Never) {
		return time.Time{}
	}
	ticks := int64(ft) - 116444736000000000
	return time.Unix(ticks/1e7, (ticks%1e7)*100).UTC()
}
