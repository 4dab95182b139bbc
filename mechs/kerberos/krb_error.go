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

var krbErrorNames = map[int32]string{
	kdcErrEtypeNoSupp:    "KDC_ERR_ETYPE_NOSUPP",
	krbAPErrBadIntegrity: "KRB_AP_ERR_BAD_INTEGRITY",
	krbAPErrTktExpired:   "KRB_AP_ERR_TKT_EXPIRED",
	krbAPErrTktNYV:       "KRB_AP_ERR_TKT_NYV",
	krbAPErrRepeat:       "KRB_AP_ERR_REPEAT",
	krbAPErrNotUs:        "KRB_AP_ERR_NOT_US",
	krbAPErrBadMatch:     "KRB_AP_ERR_BADMATCH",
	krbAPErrSkew:         "KRB_AP_ERR_SKEW",
	krbAPErrModified:     "KRB_AP_ERR_MODIFIED",
	krbAPErrBadKeyVer:    "KRB_AP_ERR_BADKEYVER",
	krbAPErrNoKey:        "KRB_AP_ERR_NOKEY",
	krbAPErrInappCksum:   "KRB_AP_ERR_INAPP_CKSUM",
	krbErrGeneric:        "KRB_ERR_GENERIC",
}

// KRBError is a KRB-ERROR (RFC 4120 section 5.9.1) that an acceptor sent
// in place of an AP-REP: why it refused the initiator's AP-REQ. It is the
// cause of the initiator's failed leg, for errors.As; the leg's status is
// status.FromKerberosAP(Code).
type KRBError struct {
	// Code is the error-code (RFC 4120 section 7.5.9; gokrb5's
	// iana/errorcode names them).
	Code int32
	// Text is the e-text, if the acceptor sent one.
	Text string
	// Time is the acceptor's time (stime and susec).
	Time time.Time
	// Service names the service that refused: "svc/host@REALM".
	Service string
}

func (e *KRBError) Error() string {
	s := "kerberos: the acceptor refused with KRB-ERROR " + strconv.Itoa(int(e.Code))
	if n, ok := krbErrorNames[e.Code]; ok {
		s += " (" + n + ")"
	}
	if e.Text != "" {
		s += ": " + e.Text
	}
	return s
}

func parseKRBError(b []byte) (*KRBError, error) {
	s, ok := sequenceIn(b, msgTypeKRBError)
	e := &KRBError{}
	var susec int32
	var realm []byte
	var sname principal
	var hasText bool
	var f cryptobyte.String
	if !ok || !readIntIs(&s, 0, 5) || !readIntIs(&s, 1, msgTypeKRBError) ||
		!s.SkipOptionalASN1(ctxTag(2)) || !s.SkipOptionalASN1(ctxTag(3)) ||
		!readTime(&s, 4, &e.Time) || !readInt32(&s, 5, &susec) || !readInt32(&s, 6, &e.Code) ||
		!s.SkipOptionalASN1(ctxTag(7)) || !s.SkipOptionalASN1(ctxTag(8)) ||
		!readGeneralString(&s, 9, &realm) || !readPrincipal(&s, 10, &sname) ||
		!s.ReadOptionalASN1(&f, &hasText, ctxTag(11)) || !onlyExtensions(s, 11) {
		return nil, errMalformed
	}
	if susec > 0 && susec < 1000000 {
		e.Time = e.Time.Add(time.Duration(susec) * time.Microsecond)
	}
	e.Service = sname.String() + "@" + string(realm)
	var text []byte
	if hasText && f.ReadASN1Bytes(&text, asn1.GeneralString) {
		e.Text = string(text)
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
