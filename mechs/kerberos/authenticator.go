package kerberos

import (
	"crypto/subtle"
	"encoding/binary"
	"time"

	"golang.org/x/crypto/cryptobyte"
	"golang.org/x/crypto/cryptobyte/asn1"
)

// This file is the Authenticator of an AP-REQ (RFC 4120 section 5.5.1)
// and the checksum the krb5 GSS mechanism puts in it (RFC 4121 section
// 4.1.1, checksum type 0x8003):
//
//	Lgth    4 octets little-endian, 16
//	Bnd     16 octets, MD5 of the channel bindings (zero when none)
//	Flags   4 octets little-endian, the GSS context flags
//	DlgOpt  2 octets little-endian, 1  } only when GSS_C_DELEG_FLAG is set
//	Dlgth   2 octets little-endian     }
//	Deleg   Dlgth octets: a KRB-CRED   }
//	Exts    the rest (RFC 4121 section 4.1.1.2), ignored here

// Checksum type of the GSS authenticator checksum.
const cksumTypeGSS = 0x8003

// GSS context flags (RFC 2744 section 3.9.1).
const (
	gssDelegFlag    = 1
	gssMutualFlag   = 2
	gssReplayFlag   = 4
	gssSequenceFlag = 8
	gssConfFlag     = 16
	gssIntegFlag    = 32
)

// authenticator is a decrypted Authenticator.
type authenticator struct {
	crealmRaw  []byte // GeneralString content
	cnameRaw   []byte // PrincipalName DER
	cksumType  int32
	cksum      []byte
	hasCksum   bool
	cusec      int32
	ctime      time.Time
	subEtype   int32
	subValue   []byte
	seq        uint32
	hasSeq     bool
	hasSubkey  bool
	authzData  []byte
	hasAuthzAD bool
}

// parseAuthenticator reads Authenticator ::= [APPLICATION 2] SEQUENCE {
// authenticator-vno [0], crealm [1], cname [2], cksum [3] OPTIONAL, cusec
// [4], ctime [5], subkey [6] OPTIONAL, seq-number [7] OPTIONAL,
// authorization-data [8] OPTIONAL }. The plaintext may carry padding after
// the element, as decryption leaves it.
func parseAuthenticator(b []byte) (authenticator, error) {
	s := cryptobyte.String(b)
	var app, seq, f cryptobyte.String
	var a authenticator
	var seqNo int32
	if !s.ReadASN1(&app, appTag(2)) || !app.ReadASN1(&seq, asn1.SEQUENCE) ||
		!readIntIs(&seq, 0, 5) || !readGeneralString(&seq, 1, &a.crealmRaw) || !seq.ReadASN1(&f, ctxTag(2)) || !validPrincipal(f) {
		return authenticator{}, errMalformed
	}
	a.cnameRaw = f
	if !seq.ReadOptionalASN1(&f, &a.hasCksum, ctxTag(3)) {
		return authenticator{}, errMalformed
	}
	if a.hasCksum {
		// Checksum ::= SEQUENCE { cksumtype [0] Int32, checksum [1] OCTET STRING }
		c, ok := sequenceIn(f, -1)
		if !ok || !readInt32(&c, 0, &a.cksumType) || !readOctets(&c, 1, &a.cksum) || !onlyExtensions(c, 1) {
			return authenticator{}, errMalformed
		}
	}
	if !readInt32(&seq, 4, &a.cusec) || a.cusec < 0 || a.cusec > 999999 || !readTime(&seq, 5, &a.ctime) {
		return authenticator{}, errMalformed
	}
	if a.hasSubkey = seq.PeekASN1Tag(ctxTag(6)); a.hasSubkey && !readEncryptionKey(&seq, 6, &a.subEtype, &a.subValue) {
		return authenticator{}, errMalformed
	}
	if !readOptInt32(&seq, 7, &seqNo, &a.hasSeq) || !seq.ReadOptionalASN1(&f, &a.hasAuthzAD, ctxTag(8)) || !onlyExtensions(seq, 8) {
		return authenticator{}, errMalformed
	}
	a.seq = uint32(seqNo)
	if a.hasAuthzAD {
		a.authzData = f
	}
	return a, nil
}

// authenticatorFields is what an initiator puts in its authenticator.
type authenticatorFields struct {
	crealm   string
	cname    principal
	bindings [16]byte // channel bindings hash
	gssFlags uint32
	krbCred  []byte // delegated credential, or nil
	ctime    time.Time
	cusec    int32
	subkey   *key
	seq      uint32
}

// buildAuthenticator writes the authenticator plaintext into a buffer of
// its exact size (see der_sized.go).
func buildAuthenticator(f *authenticatorFields) ([]byte, error) {
	cks := gssChecksumLen(f.krbCred)
	cksumSeq := ctxIntSize(cksumTypeGSS) + tlvSize(tlvSize(cks))
	body := ctxIntSize(5) + tlvSize(tlvSize(len(f.crealm))) + tlvSize(principalSize(f.cname)) +
		tlvSize(tlvSize(cksumSeq)) + ctxIntSize(int64(f.cusec)) + tlvSize(timeSize) +
		tlvSize(encryptionKeySize(f.subkey)) + ctxIntSize(int64(f.seq))
	total := tlvSize(tlvSize(body))

	b := cryptobyte.NewFixedBuilder(make([]byte, 0, total))
	var r [128]byte
	x := appendHeader(r[:0], appTag(2), tlvSize(body))
	x = appendHeader(x, asn1.SEQUENCE, body)
	x = appendCtxInt(x, 0, 5)
	b.AddBytes(appendHeader(x, ctxTag(1), tlvSize(len(f.crealm))))
	addString(b, asn1.GeneralString, f.crealm)
	addHeader(b, ctxTag(2), principalSize(f.cname))
	addPrincipal(b, f.cname)
	x = appendHeader(r[:0], ctxTag(3), tlvSize(cksumSeq))
	x = appendHeader(x, asn1.SEQUENCE, cksumSeq)
	x = appendCtxInt(x, 0, cksumTypeGSS)
	x = appendHeader(x, ctxTag(1), tlvSize(cks))
	x = appendHeader(x, asn1.OCTET_STRING, cks)
	b.AddBytes(appendGSSChecksum(x, f.bindings, f.gssFlags, f.krbCred))
	if f.krbCred != nil {
		b.AddBytes(f.krbCred)
	}
	x = appendCtxInt(r[:0], 4, int64(f.cusec))
	x = appendTime(appendHeader(x, ctxTag(5), timeSize), f.ctime)
	x = appendEncryptionKey(appendHeader(x, ctxTag(6), encryptionKeySize(f.subkey)), f.subkey)
	b.AddBytes(appendCtxInt(x, 7, int64(f.seq)))
	clear(r[:]) // it held the subkey
	return finish(b, total)
}

// gssChecksum is a parsed 0x8003 checksum.
type gssChecksum struct {
	bindings [16]byte
	flags    uint32
	krbCred  []byte // the Deleg field when the delegation flag is set
}

// gssChecksumLen is the length of the checksum value carrying krbCred.
func gssChecksumLen(krbCred []byte) int {
	if krbCred != nil {
		return 28 + len(krbCred)
	}
	return 24
}

// appendGSSChecksum appends the checksum value for the given bindings
// hash and flags, up to the delegated KRB-CRED, which the caller appends
// after it when there is one (and whose length it announces).
func appendGSSChecksum(dst []byte, bnd [16]byte, flags uint32, krbCred []byte) []byte {
	dst = binary.LittleEndian.AppendUint32(dst, 16)
	dst = append(dst, bnd[:]...)
	if krbCred == nil {
		return binary.LittleEndian.AppendUint32(dst, flags)
	}
	dst = binary.LittleEndian.AppendUint32(dst, flags|gssDelegFlag)
	dst = binary.LittleEndian.AppendUint16(dst, 1)
	return binary.LittleEndian.AppendUint16(dst, uint16(len(krbCred)))
}

func parseGSSChecksum(b []byte) (gssChecksum, error) {
	var c gssChecksum
	if len(b) < 24 || binary.LittleEndian.Uint32(b) != 16 {
		return c, errMalformed
	}
	copy(c.bindings[:], b[4:20])
	c.flags = binary.LittleEndian.Uint32(b[20:])
	if c.flags&gssDelegFlag != 0 {
		// RFC 4121 section 4.1.1: DlgOpt and Dlgth follow when the flag
		// is set.
		if len(b) < 28 || binary.LittleEndian.Uint16(b[24:]) != 1 {
			return c, errMalformed
		}
		n := int(binary.LittleEndian.Uint16(b[26:]))
		if len(b) < 28+n {
			return c, errMalformed
		}
		c.krbCred = b[28 : 28+n]
	}
	return c, nil
}

// bindingsMatch applies the acceptor's channel-binding policy. A zero
// hash from the initiator means it supplied no bindings: it is accepted
// when the acceptor has none, and, as Windows does when Extended
// Protection is not required and as MIT does, also when the acceptor has
// some unless requireBindings is set. When both sides supplied bindings
// they must match.
func bindingsMatch(client, server [16]byte, serverHas, requireBindings bool) bool {
	var zero [16]byte
	clientHas := client != zero
	switch {
	case !serverHas:
		return true
	case !clientHas:
		return !requireBindings
	}
	return subtle.ConstantTimeCompare(client[:], server[:]) == 1
}
