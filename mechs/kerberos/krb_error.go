package kerberos

import (
	"strconv"
	"time"

	"golang.org/x/crypto/cryptobyte"
	"golang.org/x/crypto/cryptobyte/asn1"
)

// This file is the KRB-ERROR message (RFC 4120 section 5.9.1), which an
// acceptor sends in the GSS framing (RFC 4121 section 4.1, TOK_ID 03 00)
// when it refuses an AP-REQ, and its error codes (section 7.5.9):
//
//	KRB-ERROR ::= [APPLICATION 30] SEQUENCE {
//	        pvno            [0] INTEGER (5),
//	        msg-type        [1] INTEGER (30),
//	        ctime           [2] KerberosTime OPTIONAL,
//	        cusec           [3] Microseconds OPTIONAL,
//	        stime           [4] KerberosTime,
//	        susec           [5] Microseconds,
//	        error-code      [6] Int32,
//	        crealm          [7] Realm OPTIONAL,
//	        cname           [8] PrincipalName OPTIONAL,
//	        realm           [9] Realm -- service realm,
//	        sname           [10] PrincipalName -- service name,
//	        e-text          [11] KerberosString OPTIONAL,
//	        e-data          [12] OCTET STRING OPTIONAL
//	}

// KRB-ERROR codes of the AP exchange (RFC 4120 section 7.5.9; the numbers
// are also gokrb5's iana/errorcode).
const (
	kdcErrEtypeNoSupp    = 14 // KDC_ERR_ETYPE_NOSUPP
	krbAPErrBadIntegrity = 31 // KRB_AP_ERR_BAD_INTEGRITY
	krbAPErrTktExpired   = 32 // KRB_AP_ERR_TKT_EXPIRED
	krbAPErrTktNYV       = 33 // KRB_AP_ERR_TKT_NYV
	krbAPErrRepeat       = 34 // KRB_AP_ERR_REPEAT
	krbAPErrNotUs        = 35 // KRB_AP_ERR_NOT_US
	krbAPErrBadMatch     = 36 // KRB_AP_ERR_BADMATCH
	krbAPErrSkew         = 37 // KRB_AP_ERR_SKEW
	krbAPErrModified     = 41 // KRB_AP_ERR_MODIFIED
	krbAPErrBadKeyVer    = 44 // KRB_AP_ERR_BADKEYVER
	krbAPErrNoKey        = 45 // KRB_AP_ERR_NOKEY
	krbAPErrInappCksum   = 50 // KRB_AP_ERR_INAPP_CKSUM
	krbErrGeneric        = 60 // KRB_ERR_GENERIC
)

// krbError is the part of a KRB-ERROR a client acts on.
type krbError struct {
	code  int32
	etext string
}

func (e *krbError) Error() string {
	s := "kerberos: KRB-ERROR " + strconv.Itoa(int(e.code))
	if e.etext != "" {
		s += ": " + e.etext
	}
	return s
}

func parseKRBError(b []byte) (*krbError, error) {
	s, ok := sequenceIn(b, msgTypeKRBError)
	e := &krbError{}
	var etext []byte
	var hasText bool
	var f cryptobyte.String
	if !ok || !readIntIs(&s, 0, 5) || !readIntIs(&s, 1, msgTypeKRBError) ||
		!s.SkipOptionalASN1(ctxTag(2)) || !s.SkipOptionalASN1(ctxTag(3)) ||
		!s.SkipASN1(ctxTag(4)) || !s.SkipASN1(ctxTag(5)) || !readInt32(&s, 6, &e.code) ||
		!s.SkipOptionalASN1(ctxTag(7)) || !s.SkipOptionalASN1(ctxTag(8)) ||
		!s.SkipASN1(ctxTag(9)) || !s.SkipASN1(ctxTag(10)) ||
		!s.ReadOptionalASN1(&f, &hasText, ctxTag(11)) || !onlyExtensions(s, 11) {
		return nil, errMalformed
	}
	if hasText && f.ReadASN1Bytes(&etext, asn1.GeneralString) {
		e.etext = string(etext)
	}
	return e, nil
}

// buildKRBError makes a KRB-ERROR for an acceptor's error token.
func buildKRBError(code int32, now time.Time, realm string, sname principal) []byte {
	b := cryptobyte.NewBuilder(make([]byte, 0, 128))
	b.AddASN1(appTag(msgTypeKRBError), func(b *cryptobyte.Builder) {
		b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1(ctxTag(0), func(b *cryptobyte.Builder) { b.AddASN1Int64(5) })
			b.AddASN1(ctxTag(1), func(b *cryptobyte.Builder) { b.AddASN1Int64(msgTypeKRBError) })
			b.AddASN1(ctxTag(4), func(b *cryptobyte.Builder) { addTime(b, now) })
			b.AddASN1(ctxTag(5), func(b *cryptobyte.Builder) { b.AddASN1Int64(int64(now.Nanosecond() / 1000)) })
			b.AddASN1(ctxTag(6), func(b *cryptobyte.Builder) { b.AddASN1Int64(int64(code)) })
			b.AddASN1(ctxTag(9), func(b *cryptobyte.Builder) { addString(b, asn1.GeneralString, realm) })
			b.AddASN1(ctxTag(10), func(b *cryptobyte.Builder) { addPrincipal(b, sname) })
		})
	})
	out, err := b.Bytes()
	if err != nil {
		return nil
	}
	return out
}
