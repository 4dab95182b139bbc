package ntlm

import (
	"crypto/md5"
	"crypto/subtle"
	"encoding/binary"
	"io"

	secctx "github.com/asyncsspi/asyncsspi/context"
	"github.com/asyncsspi/asyncsspi/mechs"
	"github.com/asyncsspi/asyncsspi/status"
)

// serverFlags are the flags an acceptor can grant (MS-NLMP 3.2.5.1.1).
// LM_KEY and DATAGRAM are never granted.
const serverFlags = negotiateUnicode | negotiateOEM | requestTarget | negotiateSign |
	negotiateSeal | negotiateNTLM | negotiateAlwaysSign | negotiateExtendedSessionSecurity |
	negotiateIdentify | negotiateVersion | negotiate128 | negotiate56 | negotiateKeyExch |
	negotiateAnonymous

func (c *Context) acceptorStep(in *mechs.StepInput) mechs.StepResult {
	switch c.state {
	case stateStart:
		return c.challengeLeg(in)
	case stateSentChallenge:
		r := c.verify(in)
		if r.Status.IsError() && r.Status != status.SEC_E_INCOMPLETE_MESSAGE && r.Status != status.SEC_E_INVALID_TOKEN {
			// The server challenge is spent: a failed AUTHENTICATE ends
			// the context, so that no second guess runs against it.
			c.state = stateFailed
			c.failure = r
		}
		return r
	case stateFailed:
		return c.failure
	}
	return fail(status.SEC_E_OUT_OF_SEQUENCE, "handshake already complete")
}

// challengeLeg answers a NEGOTIATE with a CHALLENGE (MS-NLMP 3.2.5.1.1).
func (c *Context) challengeLeg(in *mechs.StepInput) mechs.StepResult {
	neg, err := parseNegotiate(in.Token)
	if err != nil {
		return failToken(err)
	}
	p := c.cred.pkg
	now := p.now()
	// OEM unless the client can take Unicode.
	flags, _ := settleCharset(neg.flags&serverFlags | negotiateOEM | negotiateNTLM | negotiateTargetInfo | negotiateVersion)
	if flags&requestTarget != 0 {
		flags |= targetTypeServer
	}
	// A fresh server challenge, never one issued before (the replay cache
	// remembers them for the skew window).
	fresh := false
	for range 4 {
		if _, err := io.ReadFull(p.rand, c.serverChal[:]); err != nil {
			return fail(status.SEC_E_INTERNAL_ERROR, "no randomness: "+err.Error())
		}
		if c.cred.replay.addChallenge(c.serverChal, now) {
			fresh = true
			break
		}
	}
	if !fresh {
		return fail(status.SEC_E_INTERNAL_ERROR, "random source repeats server challenges")
	}

	unicode := flags&negotiateUnicode != 0
	tnLen := encodedLen(p.domain, unicode)
	tiLen := 4 + utf16Len(p.domain) + 4 + utf16Len(p.computer) + 12 + 4
	if p.dnsComputer != "" {
		tiLen += 4 + utf16Len(p.dnsComputer)
	}
	if p.dnsDomain != "" {
		tiLen += 4 + utf16Len(p.dnsDomain)
	}
	b := make([]byte, challengeFixedVersion+tnLen+tiLen)
	ti := b[challengeFixedVersion+tnLen : challengeFixedVersion+tnLen]
	ti = appendAVString(ti, avNbDomainName, p.domain)
	ti = appendAVString(ti, avNbComputerName, p.computer)
	if p.dnsDomain != "" {
		ti = appendAVString(ti, avDNSDomainName, p.dnsDomain)
	}
	if p.dnsComputer != "" {
		ti = appendAVString(ti, avDNSComputerName, p.dnsComputer)
	}
	var tsb [8]byte
	binary.LittleEndian.PutUint64(tsb[:], filetime(now))
	ti = appendAVPair(ti, avTimestamp, tsb[:])
	ti = appendAVEOL(ti)
	tn := b[challengeFixedVersion : challengeFixedVersion+tnLen]
	putString(tn, p.domain, unicode)
	m := challengeMessage{flags: flags, targetName: tn, serverChallenge: c.serverChal, targetInfo: avPairs(ti), version: p.version}
	// encode copies the payload onto itself: the fields already sit where
	// encode puts them.
	m.encode(b)
	c.negotiate = append([]byte(nil), in.Token...)
	c.challenge = b
	c.chalFlags = flags
	c.start = now
	c.state = stateSentChallenge
	return legResult(status.SEC_I_CONTINUE_NEEDED, append([]byte(nil), b...), 0)
}

// verify checks an AUTHENTICATE message (MS-NLMP 3.2.5.1.2).
func (c *Context) verify(in *mechs.StepInput) mechs.StepResult {
	auth, err := parseAuthenticate(in.Token)
	if err != nil {
		return failToken(err)
	}
	p := c.cred.pkg
	now := p.now()
	// What the client may claim is bounded by what we offered.
	flags := auth.flags & (c.chalFlags | negotiateAnonymous)
	if auth.flags&negotiateKeyExch != 0 && c.chalFlags&negotiateKeyExch == 0 {
		return fail(status.SEC_E_INVALID_TOKEN, "KEY_EXCH not offered")
	}
	unicode := c.chalFlags&negotiateUnicode != 0
	user := decodeString(auth.user, unicode)
	domain := decodeString(auth.domain, unicode)
	ws := decodeString(auth.workstation, unicode)

	// Anonymous: no user, no NT response, LM response empty or Z(1)
	// (MS-NLMP 3.2.5.1.2).
	if user == "" && len(auth.ntResponse) == 0 && (len(auth.lmResponse) == 0 || (len(auth.lmResponse) == 1 && auth.lmResponse[0] == 0)) {
		if c.ascReq&secctx.ASC_REQ_ALLOW_NULL_SESSION == 0 {
			return fail(status.SEC_E_LOGON_DENIED, "anonymous logon not allowed (ASC_REQ_ALLOW_NULL_SESSION not set)")
		}
		c.flags = flags | negotiateAnonymous
		c.hasKey = false
		c.user, c.domain, c.workstation = "", "", ws
		c.retFlags = uint64(secctx.ASC_RET_NULL_SESSION | secctx.ASC_RET_CONNECTION)
		return c.finish(nil)
	}
	if p.requireMIC && !auth.hasMIC {
		return fail(status.SEC_E_LOGON_DENIED, "AUTHENTICATE without a MIC refused (WithRequireMIC)")
	}
	if !auth.isV2 {
		if !p.allowV1 {
			return fail(status.SEC_E_LOGON_DENIED, "NTLMv1/LM response refused: only NTLMv2 is allowed (see ntlm.WithNTLMv1)")
		}
		return c.verifyV1(in, &auth, flags, user, domain, ws)
	}
	v2 := &auth.v2

	// The timestamp window.
	if t := fromFiletime(v2.timestamp); t.IsZero() || now.Sub(t).Abs() > p.skew {
		return fail(status.SEC_E_TIME_SKEW, "NTLMv2 timestamp outside the allowed clock skew")
	}
	u, ok := c.cred.store.LookupUser(domain, user)
	if !ok {
		return fail(status.SEC_E_LOGON_DENIED, "unknown user or wrong password")
	}
	// NTProofStr = HMAC_MD5(NTOWFv2(user, domain), ServerChallenge || temp).
	x := p.hasher()
	defer p.release(x)
	respKey := c.cred.respKeys.get(x, &u, user, domain)
	x.begin(respKey)
	x.write(c.serverChal[:])
	x.write(v2.temp)
	if subtle.ConstantTimeCompare(x.end(respKey)[:], v2.proof) != 1 {
		return fail(status.SEC_E_LOGON_DENIED, "unknown user or wrong password")
	}
	// The client proved it knows the key; it must also have answered our
	// CHALLENGE, the target info of which it echoes under that proof
	// (MS-NLMP 3.1.5.1.2). A CHALLENGE edited on its way (its timestamp
	// removed or renamed, so that the client sends no MIC) shows here.
	if !v2.avPairs.echoes(c.sentInfo()) {
		return fail(status.SEC_E_MESSAGE_ALTERED, "the target info the client echoes is not the one sent: the CHALLENGE was altered in transit")
	}
	x.begin(respKey)
	x.write(v2.proof)
	c.baseKey = *x.end(respKey)
	if r, ok := c.sessionKeyFromAuth(&auth, flags); !ok {
		return r
	}
	// The MIC, whenever MsvAvFlags announce one.
	if auth.hasMIC {
		x.beginRaw(c.sessionKey[:])
		x.write(c.negotiate)
		x.write(c.challenge)
		x.write(in.Token[:micOffset])
		x.write(zero16[:])
		x.write(in.Token[micOffset+16:])
		if subtle.ConstantTimeCompare(x.endRaw()[:], auth.mic[:]) != 1 {
			return fail(status.SEC_E_MESSAGE_ALTERED, "AUTHENTICATE message MIC does not verify")
		}
	}
	// Channel bindings (MS-NLMP 3.2.5.1.2; absent or all-zero client
	// bindings pass only with ASC_REQ_ALLOW_MISSING_BINDINGS).
	if in.Bindings != nil {
		cb, present := v2.avPairs.get(avChannelBindings)
		if !present || subtle.ConstantTimeCompare(cb, zero16[:]) == 1 {
			if c.ascReq&secctx.ASC_REQ_ALLOW_MISSING_BINDINGS == 0 {
				return fail(status.SEC_E_BAD_BINDINGS, "client sent no channel bindings")
			}
		} else if want := in.Bindings.Hash(); subtle.ConstantTimeCompare(cb, want[:]) != 1 {
			return fail(status.SEC_E_BAD_BINDINGS, "channel bindings do not match")
		}
	}
	// Replay: the same proof accepted before (on any context of this
	// credential).
	if !c.cred.replay.addProof(v2.proof, now) {
		return fail(status.SEC_E_LOGON_DENIED, "replayed AUTHENTICATE message")
	}
	c.micSent = auth.hasMIC
	return c.accepted(flags, user, domain, ws, u)
}

var zero16 [16]byte

// sentInfo is the TargetInfo of the CHALLENGE this acceptor sent, read
// back from the message it keeps for the MIC (no copy of its own, so that
// the context stays small).
func (c *Context) sentInfo() avPairs {
	return avPairs(readField(c.challenge, 40).bytes(c.challenge))
}

// sessionKeyFromAuth derives ExportedSessionKey from KeyExchangeKey
// (c.baseKey), decrypting EncryptedRandomSessionKey under KEY_EXCH.
func (c *Context) sessionKeyFromAuth(auth *authenticateMessage, flags uint32) (mechs.StepResult, bool) {
	if flags&negotiateKeyExch != 0 && flags&(negotiateSign|negotiateSeal) != 0 {
		if len(auth.encKey) != 16 {
			return fail(status.SEC_E_INVALID_TOKEN, "KEY_EXCH without a 16-byte EncryptedRandomSessionKey"), false
		}
		var kx rc4
		kx.reset(c.baseKey[:])
		kx.xor(c.sessionKey[:], auth.encKey)
		kx.wipe()
	} else {
		c.sessionKey = c.baseKey
	}
	c.hasKey = true
	return mechs.StepResult{}, true
}

func (c *Context) accepted(flags uint32, user, domain, ws string, u User) mechs.StepResult {
	c.flags = flags
	if domain == "" {
		domain = u.Domain
	}
	c.user, c.domain, c.workstation = user, domain, ws
	r := secctx.ASC_RET_CONNECTION
	if flags&negotiateSign != 0 {
		r |= secctx.ASC_RET_INTEGRITY | c.ascRetFromReq(secctx.ASC_REQ_REPLAY_DETECT, secctx.ASC_RET_REPLAY_DETECT) |
			c.ascRetFromReq(secctx.ASC_REQ_SEQUENCE_DETECT, secctx.ASC_RET_SEQUENCE_DETECT)
	}
	if flags&negotiateSeal != 0 {
		r |= secctx.ASC_RET_CONFIDENTIALITY
	}
	if flags&negotiateIdentify != 0 {
		r |= secctx.ASC_RET_IDENTIFY
	}
	if c.ascReq&secctx.ASC_REQ_ALLOCATE_MEMORY != 0 {
		r |= secctx.ASC_RET_ALLOCATED_MEMORY
	}
	c.retFlags = uint64(r)
	return c.finish(nil)
}

func (c *Context) ascRetFromReq(req secctx.ASCReq, ret secctx.ASCRet) secctx.ASCRet {
	if c.ascReq&req != 0 {
		return ret
	}
	return 0
}

// verifyV1 checks an NTLMv1 or NTLM2-session response (MS-NLMP 3.3.1),
// reached only with WithNTLMv1.
func (c *Context) verifyV1(in *mechs.StepInput, auth *authenticateMessage, flags uint32, user, domain, ws string) mechs.StepResult {
	if len(auth.ntResponse) != ntlmv1ResponseSize {
		return fail(status.SEC_E_LOGON_DENIED, "LM-only response refused")
	}
	u, ok := c.cred.store.LookupUser(domain, user)
	if !ok {
		return fail(status.SEC_E_LOGON_DENIED, "unknown user or wrong password")
	}
	var want [24]byte
	ess := flags&negotiateExtendedSessionSecurity != 0
	if ess {
		if len(auth.lmResponse) < 8 {
			return fail(status.SEC_E_INVALID_TOKEN, "NTLM2 session response without a client challenge")
		}
		var buf [16]byte
		copy(buf[:8], c.serverChal[:])
		copy(buf[8:], auth.lmResponse[:8])
		h := md5.Sum(buf[:])
		want = desl(u.NTHash[:], h[:8])
	} else {
		want = desl(u.NTHash[:], c.serverChal[:])
	}
	if subtle.ConstantTimeCompare(want[:], auth.ntResponse) != 1 {
		return fail(status.SEC_E_LOGON_DENIED, "unknown user or wrong password")
	}
	base := md4(u.NTHash[:])
	if ess {
		x := c.cred.pkg.hasher()
		c.baseKey = x.hmacOnce(base[:], c.serverChal[:], auth.lmResponse[:8])
		c.cred.pkg.release(x)
	} else {
		c.baseKey = base
	}
	if r, ok := c.sessionKeyFromAuth(auth, flags); !ok {
		return r
	}
	if !c.cred.replay.addProof(auth.ntResponse[:16], c.cred.pkg.now()) {
		return fail(status.SEC_E_LOGON_DENIED, "replayed AUTHENTICATE message")
	}
	return c.accepted(flags, user, domain, ws, u)
}
