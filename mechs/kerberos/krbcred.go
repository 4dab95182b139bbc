package kerberos

import (
	"time"
)

// buildKRBCred makes the KRB-CRED (RFC 4120 section 5.8) that carries a
// forwardable TGT in the delegation field of the 0x8003 checksum. Its
// EncKrbCredPart is encrypted in the service ticket's session key with
// key usage 14, as MIT and Windows do.
func buildKRBCred(sessionKey *key, tgt *svcTicket, now time.Time) ([]byte, error) {
	p := builder{b: make([]byte, 0, 256)}
	ep := p.open(app(29))
	s := p.open(tagSequence)
	f := p.open(ctx(0))
	list := p.open(tagSequence)
	info := p.open(tagSequence)
	p.encryptionKey(0, tgt.key)
	f1 := p.open(ctx(1))
	p.str(tagGeneralString, tgt.crealm)
	p.close(f1)
	p.principal(2, tgt.client)
	f1 = p.open(ctx(3))
	fl := tgt.flags
	p.b = append(p.b, tagBitString, 5, 0, byte(fl>>24), byte(fl>>16), byte(fl>>8), byte(fl))
	p.close(f1)
	for i, t := range []time.Time{tgt.authTime, tgt.startTime, tgt.endTime, tgt.renewTill} {
		if t.IsZero() {
			continue
		}
		f1 = p.open(ctx(4 + i))
		p.time(t)
		p.close(f1)
	}
	f1 = p.open(ctx(8))
	p.str(tagGeneralString, tgt.srealm)
	p.close(f1)
	p.principal(9, tgt.server)
	p.close(info)
	p.close(list)
	p.close(f)
	f = p.open(ctx(2))
	p.time(now)
	p.close(f)
	p.ctxInt(3, int64(now.Nanosecond()/1000))
	p.close(s)
	p.close(ep)

	w := builder{b: make([]byte, 0, len(tgt.raw)+len(p.b)+96)}
	a := w.open(app(msgTypeKRBCred))
	s = w.open(tagSequence)
	w.ctxInt(0, 5)
	w.ctxInt(1, msgTypeKRBCred)
	f = w.open(ctx(2))
	ts := w.open(tagSequence)
	w.raw(tgt.raw)
	w.close(ts)
	w.close(f)
	f = w.open(ctx(3))
	es := w.open(tagSequence)
	w.ctxInt(0, int64(sessionKey.etype))
	f1 = w.open(ctx(2))
	o := w.open(tagOctetString)
	var err error
	if w.b, err = sessionKey.encrypt(w.b, usageKRBCredEncPart, p.b); err != nil {
		return nil, err
	}
	w.close(o)
	w.close(f1)
	w.close(es)
	w.close(f)
	w.close(s)
	w.close(a)
	clear(p.b)
	return w.b, nil
}

// checkKRBCred reports whether a received KRB-CRED is well formed and its
// encrypted part opens under the session key (usage 14).
func checkKRBCred(b []byte, sessionKey *key) bool {
	c, rest, err := expect(b, app(msgTypeKRBCred))
	if err != nil || len(rest) != 0 {
		return false
	}
	c, rest, err = expect(c, tagSequence)
	if err != nil || len(rest) != 0 {
		return false
	}
	s := seqReader{c}
	for _, n := range []int{0, 1, 2} {
		if _, err := s.need(n); err != nil {
			return false
		}
	}
	f, err := s.need(3)
	if err != nil {
		return false
	}
	ed, err := parseEncryptedData(f)
	if err != nil {
		return false
	}
	if ed.etype == 0 { // unencrypted EncKrbCredPart (RFC 6448); accepted
		return true
	}
	if ed.etype != sessionKey.etype {
		return false
	}
	pt, err := sessionKey.decrypt(usageKRBCredEncPart, ed.cipher)
	clear(pt)
	return err == nil
}
