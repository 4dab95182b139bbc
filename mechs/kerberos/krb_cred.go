package kerberos

import (
	"time"

	"golang.org/x/crypto/cryptobyte"
	"golang.org/x/crypto/cryptobyte/asn1"
)

// This file is the KRB-CRED message (RFC 4120 section 5.8) that carries a
// forwardable TGT in the delegation field of the 0x8003 checksum (RFC 4121
// section 4.1.1). Its EncKrbCredPart is encrypted in the service ticket's
// session key with key usage 14, as MIT and Windows do:
//
//	KRB-CRED ::= [APPLICATION 22] SEQUENCE {
//	        pvno            [0] INTEGER (5),
//	        msg-type        [1] INTEGER (22),
//	        tickets         [2] SEQUENCE OF Ticket,
//	        enc-part        [3] EncryptedData -- EncKrbCredPart
//	}
//
//	EncKrbCredPart ::= [APPLICATION 29] SEQUENCE {
//	        ticket-info     [0] SEQUENCE OF KrbCredInfo,
//	        nonce           [1] UInt32 OPTIONAL,
//	        timestamp       [2] KerberosTime OPTIONAL,
//	        usec            [3] Microseconds OPTIONAL,
//	        s-address       [4] HostAddress OPTIONAL,
//	        r-address       [5] HostAddresses OPTIONAL
//	}

// buildKRBCred makes the KRB-CRED for tgt. It is built once per delegating
// handshake, so it uses Builder continuations (see der_sized.go).
func buildKRBCred(sessionKey *key, tgt *svcTicket, now time.Time) ([]byte, error) {
	p := cryptobyte.NewBuilder(make([]byte, 0, 256))
	p.AddASN1(appTag(29), func(b *cryptobyte.Builder) {
		b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1(ctxTag(0), func(b *cryptobyte.Builder) {
				b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) { addKrbCredInfo(b, tgt) })
			})
			b.AddASN1(ctxTag(2), func(b *cryptobyte.Builder) { addTime(b, now) })
			b.AddASN1(ctxTag(3), func(b *cryptobyte.Builder) { b.AddASN1Int64(int64(now.Nanosecond() / 1000)) })
		})
	})
	part, err := p.Bytes()
	if err != nil {
		return nil, err
	}
	defer clear(part) // it holds the TGT's session key
	ct, err := sessionKey.encrypt(make([]byte, 0, sessionKey.sealedSize(len(part))), usageKRBCredEncPart, part)
	if err != nil {
		return nil, err
	}

	w := cryptobyte.NewBuilder(make([]byte, 0, len(tgt.raw)+len(ct)+32))
	w.AddASN1(appTag(msgTypeKRBCred), func(b *cryptobyte.Builder) {
		b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1(ctxTag(0), func(b *cryptobyte.Builder) { b.AddASN1Int64(5) })
			b.AddASN1(ctxTag(1), func(b *cryptobyte.Builder) { b.AddASN1Int64(msgTypeKRBCred) })
			b.AddASN1(ctxTag(2), func(b *cryptobyte.Builder) {
				b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) { b.AddBytes(tgt.raw) })
			})
			b.AddASN1(ctxTag(3), func(b *cryptobyte.Builder) {
				addHeader(b, asn1.SEQUENCE, ctxIntSize(int64(sessionKey.etype))+tlvSize(tlvSize(len(ct))))
				addCtxInt(b, 0, int64(sessionKey.etype))
				addHeader(b, ctxTag(2), tlvSize(len(ct)))
				addOctetString(b, ct)
			})
		})
	})
	return w.Bytes()
}

// addKrbCredInfo writes the KrbCredInfo (RFC 4120 section 5.8.1) of tgt:
// its session key, client, flags, times and server.
func addKrbCredInfo(b *cryptobyte.Builder, tgt *svcTicket) {
	b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1(ctxTag(0), func(b *cryptobyte.Builder) { addEncryptionKey(b, tgt.key) })
		b.AddASN1(ctxTag(1), func(b *cryptobyte.Builder) { addString(b, asn1.GeneralString, tgt.crealm) })
		b.AddASN1(ctxTag(2), func(b *cryptobyte.Builder) { addPrincipal(b, tgt.client) })
		b.AddASN1(ctxTag(3), func(b *cryptobyte.Builder) {
			addHeader(b, asn1.BIT_STRING, 5)
			b.AddUint8(0)
			b.AddUint32(tgt.flags)
		})
		for i, t := range []time.Time{tgt.authTime, tgt.startTime, tgt.endTime, tgt.renewTill} {
			if !t.IsZero() {
				b.AddASN1(ctxTag(4+i), func(b *cryptobyte.Builder) { addTime(b, t) })
			}
		}
		b.AddASN1(ctxTag(8), func(b *cryptobyte.Builder) { addString(b, asn1.GeneralString, tgt.srealm) })
		b.AddASN1(ctxTag(9), func(b *cryptobyte.Builder) { addPrincipal(b, tgt.server) })
	})
}

// checkKRBCred reports whether a received KRB-CRED is well formed and its
// encrypted part opens under the session key (usage 14).
func checkKRBCred(b []byte, sessionKey *key) bool {
	s, ok := sequenceIn(b, msgTypeKRBCred)
	var ed encryptedData
	if !ok || !s.SkipASN1(ctxTag(0)) || !s.SkipASN1(ctxTag(1)) || !s.SkipASN1(ctxTag(2)) ||
		!readEncryptedData(&s, 3, &ed) || !onlyExtensions(s, 3) {
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
