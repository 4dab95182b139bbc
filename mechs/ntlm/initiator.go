package ntlm

import (
	"crypto/md5"
	"encoding/binary"
	"io"
	"strconv"

	secctx "github.com/asyncsspi/asyncsspi/context"
	"github.com/asyncsspi/asyncsspi/mechs"
	"github.com/asyncsspi/asyncsspi/status"
)

// clientFlags are the flags an initiator asks for (MS-NLMP 3.1.5.1.1):
// Unicode, NTLM with extended session security, 128- and 56-bit keys, key
// exchange and signing always (SPNEGO's mechListMIC and the MIC need a
// session key), sealing when confidentiality is asked for.
func (c *Context) clientFlags() uint32 {
	f := negotiateUnicode | negotiateOEM | requestTarget | negotiateNTLM |
		negotiateAlwaysSign | negotiateExtendedSessionSecurity | negotiateVersion |
		negotiate128 | negotiate56 | negotiateKeyExch | negotiateSign
	if c.iscReq&secctx.ISC_REQ_CONFIDENTIALITY != 0 {
		f |= negotiateSeal
	}
	if c.iscReq&secctx.ISC_REQ_IDENTIFY != 0 {
		f |= negotiateIdentify
	}
	if c.cred.anonymous || c.iscReq&secctx.ISC_REQ_NULL_SESSION != 0 {
		f |= negotiateAnonymous
	}
	return f
}

func (c *Context) initiatorStep(in *mechs.StepInput) mechs.StepResult {
	switch c.state {
	case stateStart, stateDone:
		// First leg, or a re-authentication after success.
		m := negotiateMessage{flags: c.clientFlags(), version: c.cred.pkg.version}
		m.encode(c.negBuf[:])
		c.negotiate = c.negBuf[:]
		c.state = stateSentNegotiate
		if c.start.IsZero() {
			c.start = c.cred.pkg.now()
		}
		return legResult(status.SEC_I_CONTINUE_NEEDED, append([]byte(nil), c.negBuf[:]...), 0)
	case stateSentNegotiate:
		return c.authenticate(in)
	}
	return fail(status.SEC_E_INVALID_HANDLE, "context failed")
}

// authenticate answers a CHALLENGE (MS-NLMP 3.1.5.1.2) with an
// AUTHENTICATE message encoded straight into one buffer.
func (c *Context) authenticate(in *mechs.StepInput) mechs.StepResult {
	chal, err := parseChallenge(in.Token)
	if err != nil {
		return failToken(err)
	}
	p := c.cred.pkg
	cf := c.clientFlags()
	flags, ok := settleCharset(chal.flags&(cf|negotiateTargetInfo) | cf&requestTarget | negotiateVersion)
	if !ok {
		return fail(status.SEC_E_INVALID_TOKEN, "CHALLENGE offers neither Unicode nor OEM")
	}
	unicode := flags&negotiateUnicode != 0
	c.serverChal = chal.serverChallenge
	c.chalFlags = chal.flags
	anonymous := cf&negotiateAnonymous != 0
	v1 := !anonymous && p.allowV1 && chal.targetInfo == nil
	if !anonymous && !c.cred.hasKey {
		return fail(status.SEC_E_NO_CREDENTIALS, "credential has no key")
	}

	user, domain, ws := c.cred.user, c.cred.domain, p.computer
	if anonymous {
		user, domain = "", ""
	}
	strLen := func(s string) int { return encodedLen(s, unicode) }

	// The NTLMv2 client challenge's AV pairs (MS-NLMP 3.1.5.1.2): the
	// server's, then MsvAvFlags when a MIC follows, the channel bindings
	// hash when the caller gave bindings, and the target name.
	ts, hasTS := chal.targetInfo.timestamp()
	keyExch := flags&negotiateKeyExch != 0 && flags&(negotiateSign|negotiateSeal) != 0
	mic := !anonymous && !v1 && hasTS && !c.noMIC
	var avLen int
	if !v1 && !anonymous {
		avLen = chal.targetInfo.lenWithout(avFlags, avChannelBindings, avTargetName) + 4
		if mic {
			avLen += 8
		}
		if in.Bindings != nil || c.zeroBindings {
			avLen += 20
		}
		if c.target != "" {
			avLen += 4 + utf16Len(c.target)
		}
	}
	lmLen, ntLen := ntlmv1ResponseSize, 16+ntlmv2ClientFixed+avLen+4
	switch {
	case anonymous:
		lmLen, ntLen = 1, 0
		keyExch = false
	case v1:
		ntLen = ntlmv1ResponseSize
	}
	keyLen := 0
	if keyExch {
		keyLen = 16
	}
	if max(strLen(domain), strLen(user), strLen(ws)) > 0xFFFF {
		return fail(status.SEC_E_INVALID_PARAMETER, "name too long for an AUTHENTICATE message")
	}
	lay := layoutAuthenticate(lmLen, ntLen, strLen(domain), strLen(user), strLen(ws), keyLen, mic)
	if lay.total > maxToken {
		// No peer takes it (nor would this package's acceptor).
		return fail(status.SEC_E_INVALID_TOKEN, "the AUTHENTICATE answering this CHALLENGE would be "+strconv.Itoa(lay.total)+
			" bytes, over NTLM's maximum token size (target information, target name or user names too long)")
	}
	// The client challenge and, with key exchange, the exported session
	// key, in one read: the same bytes, in the same order, as two reads.
	random := c.random[:8+keyLen]
	if _, err := io.ReadFull(p.rand, random); err != nil {
		return fail(status.SEC_E_INTERNAL_ERROR, "no randomness: "+err.Error())
	}
	c.clientChal = [8]byte(random[:8])
	b := make([]byte, lay.total)
	lay.putHeader(b, flags, p.version)
	putString(lay.domain.bytes(b), domain, unicode)
	putString(lay.user.bytes(b), user, unicode)
	putString(lay.workstation.bytes(b), ws, unicode)

	switch {
	case anonymous:
		// MS-NLMP 3.1.5.1.2: LmChallengeResponse Z(1), no NT response, no
		// session key.
		c.hasKey = false
	case v1:
		c.ntlmv1Responses(lay.lm.bytes(b), lay.nt.bytes(b), flags)
	default:
		nt := lay.nt.bytes(b)
		temp := nt[16:]
		temp[0], temp[1] = 1, 1
		if !hasTS {
			ts = filetime(p.now())
		}
		binary.LittleEndian.PutUint64(temp[8:], ts)
		copy(temp[16:24], c.clientChal[:])
		av := chal.targetInfo.appendWithout(temp[ntlmv2ClientFixed:ntlmv2ClientFixed], avFlags, avChannelBindings, avTargetName)
		if mic {
			var fl [4]byte
			binary.LittleEndian.PutUint32(fl[:], avFlagMIC)
			av = appendAVPair(av, avFlags, fl[:])
		}
		if in.Bindings != nil || c.zeroBindings {
			h := in.Bindings.Hash() // all zeros for nil bindings
			av = appendAVPair(av, avChannelBindings, h[:])
		}
		if c.target != "" {
			av = appendAVString(av, avTargetName, c.target)
		}
		appendAVEOL(av)
		// NTProofStr = HMAC_MD5(ResponseKeyNT, ServerChallenge || temp),
		// under the credential's precomputed NTOWFv2 states.
		x := p.hasher()
		defer p.release(x)
		x.begin(&c.cred.respKey)
		x.write(c.serverChal[:])
		x.write(temp)
		copy(nt[:16], x.end(&c.cred.respKey)[:])
		// LmChallengeResponse: Z(24) when the server sent a timestamp,
		// else HMAC_MD5(ResponseKeyLM, ServerChallenge || ClientChallenge)
		// || ClientChallenge.
		lm := lay.lm.bytes(b)
		if !hasTS {
			x.begin(&c.cred.respKey)
			x.write(c.serverChal[:])
			x.write(c.clientChal[:])
			copy(lm[:16], x.end(&c.cred.respKey)[:])
			copy(lm[16:], c.clientChal[:])
		}
		// SessionBaseKey = HMAC_MD5(ResponseKeyNT, NTProofStr); for
		// NTLMv2 it is also the KeyExchangeKey.
		x.begin(&c.cred.respKey)
		x.write(nt[:16])
		c.baseKey = *x.end(&c.cred.respKey)
		c.hasKey = true
	}
	if c.hasKey {
		if keyExch {
			c.sessionKey = [16]byte(random[8:])
			clear(random)
			var kx rc4
			kx.reset(c.baseKey[:])
			kx.xor(lay.encKey.bytes(b), c.sessionKey[:])
			kx.wipe()
		} else {
			c.sessionKey = c.baseKey
		}
	}
	if mic {
		// MIC = HMAC_MD5(ExportedSessionKey, NEGOTIATE || CHALLENGE ||
		// AUTHENTICATE with the MIC zeroed), MS-NLMP 3.1.5.1.2.
		x := p.hasher()
		defer p.release(x)
		x.beginRaw(c.sessionKey[:])
		x.write(c.negotiate)
		x.write(in.Token)
		x.write(b)
		copy(b[micOffset:micOffset+16], x.endRaw()[:])
	}
	c.flags = flags
	c.micSent = mic
	c.user, c.domain, c.workstation = user, domain, ws
	c.retFlags = uint64(c.iscRet(flags, anonymous))
	return c.finish(b)
}

// iscRet maps the negotiated flags to ISC_RET_* bits.
func (c *Context) iscRet(flags uint32, anonymous bool) secctx.ISCRet {
	r := secctx.ISC_RET_CONNECTION
	req := c.iscReq
	if flags&negotiateSign != 0 {
		if req&secctx.ISC_REQ_INTEGRITY != 0 {
			r |= secctx.ISC_RET_INTEGRITY
		}
		if req&secctx.ISC_REQ_REPLAY_DETECT != 0 {
			r |= secctx.ISC_RET_REPLAY_DETECT
		}
		if req&secctx.ISC_REQ_SEQUENCE_DETECT != 0 {
			r |= secctx.ISC_RET_SEQUENCE_DETECT
		}
	}
	if flags&negotiateSeal != 0 && req&secctx.ISC_REQ_CONFIDENTIALITY != 0 {
		r |= secctx.ISC_RET_CONFIDENTIALITY
	}
	if flags&negotiateIdentify != 0 {
		r |= secctx.ISC_RET_IDENTIFY
	}
	if anonymous {
		r |= secctx.ISC_RET_NULL_SESSION
	}
	if req&secctx.ISC_REQ_ALLOCATE_MEMORY != 0 {
		r |= secctx.ISC_RET_ALLOCATED_MEMORY
	}
	return r
}

// ntlmv1Responses computes NTLMv1 responses (MS-NLMP 3.3.1), only ever
// with WithNTLMv1: DESL of the server challenge, or with extended session
// security of MD5(ServerChallenge || ClientChallenge)[0..7], and the
// session keys (KXKEY, 3.4.5.1).
func (c *Context) ntlmv1Responses(lm, nt []byte, flags uint32) {
	cr := c.cred
	baseKey := md4(cr.ntHash[:]) // SessionBaseKey = MD4(NTOWFv1)
	if flags&negotiateExtendedSessionSecurity != 0 {
		var buf [16]byte
		copy(buf[:8], c.serverChal[:])
		copy(buf[8:], c.clientChal[:])
		h := md5.Sum(buf[:])
		r := desl(cr.ntHash[:], h[:8])
		copy(nt, r[:])
		clear(lm)
		copy(lm, c.clientChal[:])
		x := cr.pkg.hasher()
		c.baseKey = x.hmacOnce(baseKey[:], c.serverChal[:], lm[:8])
		cr.pkg.release(x)
	} else {
		r := desl(cr.ntHash[:], c.serverChal[:])
		copy(nt, r[:])
		if cr.hasLM {
			r = desl(cr.lmHash[:], c.serverChal[:])
		}
		copy(lm, r[:])
		c.baseKey = baseKey
	}
	c.hasKey = true
}
