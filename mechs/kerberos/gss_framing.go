package kerberos

import (
	"bytes"
	"errors"

	"golang.org/x/crypto/cryptobyte"
	"golang.org/x/crypto/cryptobyte/asn1"
)

// This file is the GSS framing of the krb5 mechanism's context tokens
// (RFC 2743 section 3.1, RFC 4121 section 4.1): an [APPLICATION 0]
// element holding the mechanism OID, a two-octet TOK_ID and one Kerberos
// message. It is where a token cut short is told apart from a malformed
// one. The per-message tokens' identifiers (RFC 4121 section 4.2.6) are
// in session.go.

// GSS token identifiers (RFC 4121 section 4.1).
var (
	tokAPReq    = [2]byte{0x01, 0x00}
	tokAPRep    = [2]byte{0x02, 0x00}
	tokKRBError = [2]byte{0x03, 0x00}
)

// DER of the krb5 mechanism OID 1.2.840.113554.1.2.2 and of Microsoft's
// 1.2.840.48018.1.2.2, which some initiators put in the framing too.
var (
	oidKrb5DER   = []byte{0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x12, 0x01, 0x02, 0x02}
	oidMSKrb5DER = []byte{0x06, 0x09, 0x2a, 0x86, 0x48, 0x82, 0xf7, 0x12, 0x01, 0x02, 0x02}
)

// maxToken is cbMaxToken, as Windows reports it for Kerberos.
const maxToken = 48000

// gssTag is the framing's tag, [APPLICATION 0] constructed.
const gssTag = asn1.Tag(0x60)

var errNotKerberos = errors.New("kerberos: not a Kerberos GSS token")

// errTruncated reports a token that ends before its outer length says it
// does: the peer has more of this same token to send. need is how many
// more octets are due at least (exactly, once the length is known).
type errTruncated struct{ need int }

func (e *errTruncated) Error() string { return "kerberos: truncated token" }

// gssSize is the size of a framed token whose Kerberos message is n
// octets.
func gssSize(n int) int { return tlvSize(len(oidKrb5DER) + 2 + n) }

// appendGSSHeader appends the framing that goes in front of an n-octet
// Kerberos message (the hot path's tokens, see der_sized.go): at most 25
// octets.
func appendGSSHeader(dst []byte, tokID [2]byte, n int) []byte {
	dst = appendHeader(dst, gssTag, len(oidKrb5DER)+2+n)
	return append(append(dst, oidKrb5DER...), tokID[:]...)
}

// frameGSS wraps a Kerberos message in the framing with the krb5 OID and
// a TOK_ID, for the tokens built once in a while (error tokens).
func frameGSS(tokID [2]byte, inner []byte) []byte {
	b := cryptobyte.NewBuilder(make([]byte, 0, gssSize(len(inner))))
	b.AddASN1(gssTag, func(b *cryptobyte.Builder) {
		b.AddBytes(oidKrb5DER)
		b.AddBytes(tokID[:])
		b.AddBytes(inner)
	})
	out, err := b.Bytes()
	if err != nil {
		return nil
	}
	return out
}

// errTokenTooLarge: the token, or the length its DER header gives it, is
// more than cbMaxToken.
var errTokenTooLarge = errors.New("kerberos: token larger than the package's maximum (cbMaxToken, 48000 octets)")

// frameLength reads the framing's tag and length octets: the size the
// whole token has by its length. It is the one reader here that must know
// how far a short input is from complete, which cryptobyte cannot say (its
// reads succeed or fail). Lengths are checked against maxToken before
// anything is read further: a token or a length above it is
// errTokenTooLarge, however short the input, so that incomplete always
// means "more octets of a token that can exist are due" and the missing
// count is one a peer could send.
func frameLength(b []byte) (int, error) {
	if len(b) > maxToken {
		return 0, errTokenTooLarge
	}
	if len(b) == 0 {
		return 0, &errTruncated{need: 2}
	}
	if b[0] != byte(gssTag) {
		return 0, errMalformed
	}
	if len(b) == 1 {
		return 0, &errTruncated{need: 1}
	}
	if b[1] < 0x80 {
		return 2 + int(b[1]), nil
	}
	nb := int(b[1] & 0x7f)
	if nb == 0 || nb > 4 {
		return 0, errMalformed // indefinite length, or more than 2^32
	}
	// The least the content length can be with the octets that are here:
	// the missing ones zero, except that DER's first length octet is
	// not (and a single one is at least 0x80).
	var l uint64
	for i := 0; i < nb; i++ {
		l <<= 8
		switch {
		case 2+i < len(b):
			l |= uint64(b[2+i])
		case i == 0 && nb == 1:
			l = 0x80
		case i == 0:
			l = 1
		}
	}
	if uint64(2+nb)+l > maxToken {
		return 0, errTokenTooLarge
	}
	if len(b) > 2 && b[2] == 0 || nb == 1 && len(b) > 2 && l < 0x80 {
		return 0, errMalformed // DER wants the fewest length octets
	}
	if len(b) < 2+nb {
		return 0, &errTruncated{need: 2 + nb - len(b)}
	}
	return 2 + nb + int(l), nil
}

// parseGSS undoes the framing: it returns the TOK_ID and the Kerberos
// message. A token shorter than its outer length says is *errTruncated
// with the missing octet count. The message's own parser checks that it
// is exactly one element (each reads it with sequenceIn).
func parseGSS(b []byte) (tokID [2]byte, inner []byte, err error) {
	total, err := frameLength(b)
	if err != nil {
		return tokID, nil, err
	}
	if len(b) < total {
		return tokID, nil, &errTruncated{need: total - len(b)}
	}
	s := cryptobyte.String(b)
	var c cryptobyte.String
	if !s.ReadASN1(&c, gssTag) || !s.Empty() {
		return tokID, nil, errMalformed
	}
	if !bytes.HasPrefix(c, oidKrb5DER) && !bytes.HasPrefix(c, oidMSKrb5DER) {
		return tokID, nil, errMalformed
	}
	c = c[len(oidKrb5DER):]
	if !c.CopyBytes(tokID[:]) || len(c) == 0 {
		return tokID, nil, errMalformed
	}
	return tokID, c, nil
}
