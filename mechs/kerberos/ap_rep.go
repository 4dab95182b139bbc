package kerberos

import (
	"time"

	"golang.org/x/crypto/cryptobyte"
	"golang.org/x/crypto/cryptobyte/asn1"
)

// This file is the AP-REP (RFC 4120 section 5.5.2) in its GSS framing
// (RFC 4121 section 4.1, TOK_ID 02 00), the acceptor's answer when mutual
// authentication is asked:
//
//	AP-REP ::= [APPLICATION 15] SEQUENCE {
//	        pvno            [0] INTEGER (5),
//	        msg-type        [1] INTEGER (15),
//	        enc-part        [2] EncryptedData -- EncAPRepPart
//	}
//
//	EncAPRepPart ::= [APPLICATION 27] SEQUENCE {
//	        ctime           [0] KerberosTime,
//	        cusec           [1] Microseconds,
//	        subkey          [2] EncryptionKey OPTIONAL,
//	        seq-number      [3] UInt32 OPTIONAL
//	}

// parseAPRep reads an AP-REP and returns its enc-part.
func parseAPRep(b []byte) (encryptedData, error) {
	s, ok := sequenceIn(b, msgTypeAPRep)
	var ed encryptedData
	if !ok || !readIntIs(&s, 0, 5) || !readIntIs(&s, 1, msgTypeAPRep) || !readEncryptedData(&s, 2, &ed) || !onlyExtensions(s, 2) {
		return encryptedData{}, errMalformed
	}
	return ed, nil
}

// encAPRepPart is a decrypted EncAPRepPart.
type encAPRepPart struct {
	ctime     time.Time
	cusec     int32
	subEtype  int32
	subValue  []byte
	hasSubkey bool
	seq       uint32
	hasSeq    bool
}

// parseEncAPRepPart reads the decrypted part; the plaintext may carry
// padding after the element, as decryption leaves it.
func parseEncAPRepPart(b []byte) (*encAPRepPart, error) {
	s := cryptobyte.String(b)
	var a, seq cryptobyte.String
	if !s.ReadASN1(&a, appTag(27)) || !a.ReadASN1(&seq, asn1.SEQUENCE) {
		return nil, errMalformed
	}
	e := &encAPRepPart{}
	var seqNo int32
	if !readTime(&seq, 0, &e.ctime) || !readInt32(&seq, 1, &e.cusec) {
		return nil, errMalformed
	}
	if e.hasSubkey = seq.PeekASN1Tag(ctxTag(2)); e.hasSubkey && !readEncryptionKey(&seq, 2, &e.subEtype, &e.subValue) {
		return nil, errMalformed
	}
	if !readOptInt32(&seq, 3, &seqNo, &e.hasSeq) || !onlyExtensions(seq, 3) {
		return nil, errMalformed
	}
	e.seq = uint32(seqNo)
	return e, nil
}

// buildAPRep makes the framed AP-REP: an EncAPRepPart echoing the
// authenticator's ctime and cusec with our subkey and sequence number,
// encrypted in the ticket session key with usage 12 straight into the
// output buffer, room octets into it (spare room for a framing package).
func buildAPRep(sess *key, ctime time.Time, cusec int32, sub *key, seq uint32, room int) ([]byte, error) {
	partBody := tlvSize(timeSize) + ctxIntSize(int64(cusec)) + tlvSize(encryptionKeySize(sub)) + ctxIntSize(int64(seq))
	partLen := tlvSize(tlvSize(partBody))
	var pb, r [128]byte
	p := cryptobyte.NewFixedBuilder(pb[:0])
	x := appendHeader(r[:0], appTag(27), tlvSize(partBody))
	x = appendHeader(x, asn1.SEQUENCE, partBody)
	x = appendTime(appendHeader(x, ctxTag(0), timeSize), ctime)
	x = appendCtxInt(x, 1, int64(cusec))
	x = appendEncryptionKey(appendHeader(x, ctxTag(2), encryptionKeySize(sub)), sub)
	p.AddBytes(appendCtxInt(x, 3, int64(seq)))
	clear(r[:]) // it held the subkey
	part, err := finish(p, partLen)
	if err != nil {
		return nil, err
	}
	defer clear(part) // so does this

	ctLen := sess.sealedSize(len(part))
	body := ctxIntSize(5) + ctxIntSize(msgTypeAPRep) + tlvSize(encryptedDataSize(sess.etype, ctLen))
	msg := tlvSize(tlvSize(body))
	total := room + gssSize(msg)
	b := cryptobyte.NewFixedBuilder(make([]byte, room, total)) // room: spare, in front
	x = appendGSSHeader(r[:0], tokAPRep, msg)
	x = appendHeader(x, appTag(msgTypeAPRep), tlvSize(body))
	x = appendHeader(x, asn1.SEQUENCE, body)
	x = appendCtxInt(appendCtxInt(x, 0, 5), 1, msgTypeAPRep)
	x = appendHeader(x, ctxTag(2), encryptedDataSize(sess.etype, ctLen))
	b.AddBytes(appendEncryptedDataHeader(x, sess.etype, ctLen))
	head, err := b.Bytes()
	if err != nil {
		return nil, err
	}
	// The ciphertext is the token's last octets: it is appended in place,
	// into the room left for it.
	tok, err := sess.encrypt(head, usageAPRepEncPart, part)
	if err != nil {
		return nil, err
	}
	if len(tok) != total {
		return nil, errSizing
	}
	return tok, nil
}
