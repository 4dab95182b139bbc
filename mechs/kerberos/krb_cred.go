package kerberos

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/asyncsspi/asyncsspi/mechs/kerberos/kdc"
	gofork "github.com/jcmturner/gofork/encoding/asn1"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/types"
	"golang.org/x/crypto/cryptobyte"
	"golang.org/x/crypto/cryptobyte/asn1"
)

// This file is the KRB-CRED message (RFC 4120 section 5.8) that carries a
// forwardable TGT in the delegation field of the 0x8003 checksum (RFC 4121
// section 4.1.1): built by the initiator, and opened by the acceptor,
// which decodes the TGT from it when the delegated credential is asked
// for. Its EncKrbCredPart is encrypted in the service ticket's session
// key with key usage 14, as MIT and Windows do (RFC 6448 also allows it
// unencrypted, etype 0, inside the authenticator that protects it):
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

// openKRBCred checks that a received KRB-CRED is well formed (pvno 5,
// msg-type 22, a SEQUENCE OF Ticket, an EncryptedData) and returns its
// EncKrbCredPart in the clear: decrypted (key usage 14) with the session
// key of the ticket that carried it, as MIT and Windows encrypt it, or
// with the authenticator's subkey (isub, nil when there is none), which
// MIT's krb5_rd_cred also tries; or, when its etype is 0, RFC 6448's
// unencrypted form, as it is. The result is the caller's and holds the
// delegated ticket's session key: wipe it. The EncKrbCredPart itself is
// read later, by decodeKRBCred, when the credential is asked for.
func openKRBCred(b []byte, sess, isub *key) ([]byte, error) {
	s, ok := sequenceIn(b, msgTypeKRBCred)
	var tickets, list cryptobyte.String
	var ed encryptedData
	if !ok || !readIntIs(&s, 0, 5) || !readIntIs(&s, 1, msgTypeKRBCred) || !s.ReadASN1(&tickets, ctxTag(2)) ||
		!tickets.ReadASN1(&list, asn1.SEQUENCE) || !tickets.Empty() ||
		!readEncryptedData(&s, 3, &ed) || !onlyExtensions(s, 3) {
		return nil, errors.New("kerberos: malformed KRB-CRED")
	}
	if ed.etype == 0 { // unencrypted EncKrbCredPart (RFC 6448)
		return append([]byte(nil), ed.cipher...), nil
	}
	tried := "the ticket's session key"
	var err error = errors.New("no key of that enctype")
	if ed.etype == sess.etype {
		var pt []byte
		if pt, err = sess.decrypt(usageKRBCredEncPart, ed.cipher); err == nil {
			return pt, nil
		}
	}
	if isub != nil {
		tried += " or the authenticator's subkey"
		if ed.etype == isub.etype {
			pt, serr := isub.decrypt(usageKRBCredEncPart, ed.cipher)
			if serr == nil {
				return pt, nil
			}
			err = serr
		}
	}
	return nil, fmt.Errorf("kerberos: the KRB-CRED (enctype %d) does not decrypt with %s: %w", ed.etype, tried, err)
}

// maxCredInfos bounds the KrbCredInfos (and Tickets) of a delegated
// KRB-CRED: the krb5 GSS mechanism forwards one TGT (RFC 4121 section
// 4.1.1), as MIT and Windows do.
const maxCredInfos = 1

// decodeKRBCred reads the TGT that a KRB-CRED delegates (RFC 4120 section
// 5.8): raw is the KRB-CRED, as openKRBCred checked it, and plain its
// EncKrbCredPart in the clear. The credential must be exactly one ticket
// with its KrbCredInfo, a TGT of the client's realm (krbtgt/REALM@REALM)
// for the client the AP-REQ authenticated (client@crealm), whose session
// key is of an enabled enctype and which has an end time. Optional fields
// of the KrbCredInfo that are missing are taken from the ticket and the
// client; those present must agree with them. Nothing of raw or plain is
// kept: the Ticket's slices are its own.
func decodeKRBCred(raw, plain []byte, client principal, crealm string, allowRC4 bool) (*kdc.Ticket, error) {
	s, ok := sequenceIn(raw, msgTypeKRBCred)
	var f, list, tb cryptobyte.String
	if !ok || !s.SkipASN1(ctxTag(0)) || !s.SkipASN1(ctxTag(1)) || !s.ReadASN1(&f, ctxTag(2)) ||
		!f.ReadASN1(&list, asn1.SEQUENCE) {
		return nil, errMalformed
	}
	n := 0
	for !list.Empty() {
		if n++; n > maxCredInfos || !list.ReadASN1Element(&tb, appTag(1)) {
			return nil, fmt.Errorf("kerberos: the KRB-CRED must carry exactly %d ticket", maxCredInfos)
		}
	}
	if n != maxCredInfos {
		return nil, fmt.Errorf("kerberos: the KRB-CRED must carry exactly %d ticket", maxCredInfos)
	}
	tk, err := parseTicket(tb)
	if err != nil {
		return nil, err
	}
	info, err := parseEncKrbCredPart(plain)
	if err != nil {
		return nil, err
	}
	defer clear(info.keyValue)

	// The ticket must be a TGT of the client's realm for the client.
	if !isKrbtgt(tk.sname, crealm) || tk.realm != crealm {
		return nil, fmt.Errorf("kerberos: the delegated ticket is for %s@%s, not krbtgt/%s@%s", tk.sname, tk.realm, crealm, crealm)
	}
	if info.hasSName && !sameParts(info.sname, tk.sname) {
		return nil, fmt.Errorf("kerberos: the KRB-CRED's KrbCredInfo names server %s, its ticket %s", info.sname, tk.sname)
	}
	if info.hasSRealm && info.srealm != tk.realm {
		return nil, fmt.Errorf("kerberos: the KRB-CRED's KrbCredInfo names realm %s, its ticket %s", info.srealm, tk.realm)
	}
	cname := client
	if info.hasPName {
		if !sameParts(info.pname, client) {
			return nil, fmt.Errorf("kerberos: the delegated TGT is for %s, the authenticated client is %s", info.pname, client)
		}
		cname = info.pname
	}
	if info.hasPRealm && info.prealm != crealm {
		return nil, fmt.Errorf("kerberos: the delegated TGT is for realm %s, the authenticated client's is %s", info.prealm, crealm)
	}

	// Its session key and times.
	k, err := newKey(info.keyEtype, info.keyValue)
	if err != nil {
		return nil, fmt.Errorf("kerberos: the delegated TGT's session key (enctype %d): %w", info.keyEtype, err)
	}
	k.wipe()
	if info.keyEtype == etypeRC4HMAC && !allowRC4 {
		return nil, errRC4NotWanted
	}
	if info.endTime.IsZero() {
		return nil, errors.New("kerberos: the delegated TGT has no end time")
	}
	if start := firstNonZero(info.startTime, info.authTime); !start.IsZero() && !info.endTime.After(start) {
		return nil, errors.New("kerberos: the delegated TGT ends before it starts")
	}
	var fb [4]byte
	binary.BigEndian.PutUint32(fb[:], info.flags)
	sname := types.PrincipalName{NameType: tk.sname.nameType, NameString: append([]string(nil), tk.sname.parts...)}
	return &kdc.Ticket{
		Client: types.PrincipalName{NameType: cname.nameType, NameString: append([]string(nil), cname.parts...)},
		CRealm: crealm,
		Server: sname,
		SRealm: tk.realm,
		Ticket: messages.Ticket{TktVNO: 5, Realm: tk.realm, SName: types.PrincipalName{NameType: sname.NameType, NameString: append([]string(nil), sname.NameString...)},
			EncPart: types.EncryptedData{EType: tk.enc.etype, KVNO: int(tk.enc.kvno), Cipher: append([]byte(nil), tk.enc.cipher...)}},
		SessionKey: types.EncryptionKey{KeyType: info.keyEtype, KeyValue: append([]byte(nil), info.keyValue...)},
		Flags:      gofork.BitString{Bytes: fb[:], BitLength: 32},
		AuthTime:   info.authTime,
		StartTime:  info.startTime,
		EndTime:    info.endTime,
		RenewTill:  info.renewTill,
	}, nil
}

// krbCredInfo is the KrbCredInfo of a delegated TGT (RFC 4120 section
// 5.8.1). keyValue is a copy (wipe it).
type krbCredInfo struct {
	keyEtype                                int32
	keyValue                                []byte
	prealm, srealm                          string
	hasPRealm, hasSRealm                    bool
	pname, sname                            principal
	hasPName, hasSName                      bool
	flags                                   uint32
	authTime, startTime, endTime, renewTill time.Time
}

// parseEncKrbCredPart reads
//
//	EncKrbCredPart ::= [APPLICATION 29] SEQUENCE {
//	        ticket-info     [0] SEQUENCE OF KrbCredInfo,
//	        nonce           [1] UInt32 OPTIONAL,
//	        timestamp       [2] KerberosTime OPTIONAL,
//	        usec            [3] Microseconds OPTIONAL,
//	        s-address       [4] HostAddress OPTIONAL,
//	        r-address       [5] HostAddresses OPTIONAL
//	}
//
// with exactly one KrbCredInfo, and nothing after it. Nonce, timestamp and
// addresses must be well formed but are not checked: the KRB-CRED came
// inside an authenticator that was checked for freshness and replay.
func parseEncKrbCredPart(b []byte) (krbCredInfo, error) {
	s := cryptobyte.String(b)
	var a, seq, f, list, one cryptobyte.String
	if !s.ReadASN1(&a, appTag(29)) || !s.Empty() || !a.ReadASN1(&seq, asn1.SEQUENCE) || !a.Empty() ||
		!seq.ReadASN1(&f, ctxTag(0)) || !f.ReadASN1(&list, asn1.SEQUENCE) || !f.Empty() {
		return krbCredInfo{}, errMalformed
	}
	var nonce int32
	var hasNonce bool
	var ts time.Time
	var usec int32
	var hasUsec bool
	if !readOptInt32(&seq, 1, &nonce, &hasNonce) || !readOptTime(&seq, 2, &ts) || !readOptInt32(&seq, 3, &usec, &hasUsec) ||
		!seq.SkipOptionalASN1(ctxTag(4)) || !seq.SkipOptionalASN1(ctxTag(5)) || !onlyExtensions(seq, 5) {
		return krbCredInfo{}, errMalformed
	}
	n := 0
	for !list.Empty() {
		if n++; n > maxCredInfos || !list.ReadASN1(&one, asn1.SEQUENCE) {
			return krbCredInfo{}, fmt.Errorf("kerberos: the KRB-CRED must carry exactly %d KrbCredInfo", maxCredInfos)
		}
	}
	if n != maxCredInfos {
		return krbCredInfo{}, fmt.Errorf("kerberos: the KRB-CRED must carry exactly %d KrbCredInfo", maxCredInfos)
	}
	return parseKrbCredInfo(one)
}

// parseKrbCredInfo reads the content of
//
//	KrbCredInfo ::= SEQUENCE {
//	        key             [0] EncryptionKey,
//	        prealm          [1] Realm OPTIONAL,
//	        pname           [2] PrincipalName OPTIONAL,
//	        flags           [3] TicketFlags OPTIONAL,
//	        authtime        [4] KerberosTime OPTIONAL,
//	        starttime       [5] KerberosTime OPTIONAL,
//	        endtime         [6] KerberosTime OPTIONAL,
//	        renew-till      [7] KerberosTime OPTIONAL,
//	        srealm          [8] Realm OPTIONAL,
//	        sname           [9] PrincipalName OPTIONAL,
//	        caddr           [10] HostAddresses OPTIONAL
//	}
func parseKrbCredInfo(s cryptobyte.String) (krbCredInfo, error) {
	var c krbCredInfo
	var key []byte
	if !readEncryptionKey(&s, 0, &c.keyEtype, &key) ||
		!readOptString(&s, 1, &c.prealm, &c.hasPRealm) || !readOptPrincipal(&s, 2, &c.pname, &c.hasPName) ||
		!(!s.PeekASN1Tag(ctxTag(3)) || readFlags(&s, 3, &c.flags)) ||
		!readOptTime(&s, 4, &c.authTime) || !readOptTime(&s, 5, &c.startTime) || !readOptTime(&s, 6, &c.endTime) ||
		!readOptTime(&s, 7, &c.renewTill) || !readOptString(&s, 8, &c.srealm, &c.hasSRealm) ||
		!readOptPrincipal(&s, 9, &c.sname, &c.hasSName) || !s.SkipOptionalASN1(ctxTag(10)) || !onlyExtensions(s, 10) {
		return krbCredInfo{}, errMalformed
	}
	c.keyValue = append([]byte(nil), key...)
	return c, nil
}

// readOptString is readString for an OPTIONAL field.
func readOptString(s *cryptobyte.String, n int, out *string, present *bool) bool {
	*present = s.PeekASN1Tag(ctxTag(n))
	return !*present || readString(s, n, out)
}

// readOptPrincipal is readPrincipal for an OPTIONAL field.
func readOptPrincipal(s *cryptobyte.String, n int, out *principal, present *bool) bool {
	*present = s.PeekASN1Tag(ctxTag(n))
	return !*present || readPrincipal(s, n, out)
}

// isKrbtgt reports whether p is krbtgt/realm.
func isKrbtgt(p principal, realm string) bool {
	return len(p.parts) == 2 && p.parts[0] == "krbtgt" && p.parts[1] == realm
}

// sameParts compares two names by their components (name types differ
// between implementations).
func sameParts(a, b principal) bool { return slices.Equal(a.parts, b.parts) }

func firstNonZero(ts ...time.Time) time.Time {
	for _, t := range ts {
		if !t.IsZero() {
			return t
		}
	}
	return time.Time{}
}
