package httpauth

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// The HTTP authentication schemes of RFC 4559 (Negotiate) and MS-NTHT
// (NTLM), as the server offers them and as ParseAuthorization names them.
const (
	SchemeNegotiate = "Negotiate"
	SchemeNTLM      = "NTLM"
)

// Why ParseAuthorization refused a request's credentials. The errors it
// returns wrap one of these with the detail, so errors.Is tells the kind.
var (
	// ErrNoAuthorization: the request has no Authorization header.
	ErrNoAuthorization = errors.New("no Authorization header")
	// ErrRepeatedAuthorization: more than one Authorization header, or
	// several credentials joined into one header with commas (as a
	// proxy merges repeated headers). RFC 9110 section 11.6.2 allows
	// one set of credentials a request.
	ErrRepeatedAuthorization = errors.New("repeated Authorization header")
	// ErrMalformedAuthorization: not "scheme token68", or the token is
	// not base64, or it is empty.
	ErrMalformedAuthorization = errors.New("malformed Authorization header")
	// ErrTokenTooLarge: the token is longer than the security package's
	// maximum token size (cbMaxToken); it is refused before it is decoded.
	ErrTokenTooLarge = errors.New("token larger than the package's maximum")
)

// Authorization is a request's parsed Authorization header: RFC 9110's
// credentials, "scheme token68".
type Authorization struct {
	// Scheme is the authentication scheme: SchemeNegotiate or SchemeNTLM
	// for those (matched without regard to case), else as the client
	// spelt it.
	Scheme string
	// Token is the decoded token68: a SPNEGO, Kerberos or NTLMSSP token
	// for the schemes this package serves.
	Token []byte
}

// ParseAuthorization reads the one Authorization header of h and decodes
// its base64 token, refusing a token longer than maxToken bytes (encoded
// length checked first, so nothing larger is allocated). On an error the
// returned Authorization still carries the scheme when one could be read,
// so that a caller can tell an unknown scheme from a bad token of a known
// one.
func ParseAuthorization(h http.Header, maxToken int) (Authorization, error) {
	vals := h.Values("Authorization")
	switch {
	case len(vals) == 0:
		return Authorization{}, ErrNoAuthorization
	case len(vals) > 1:
		scheme, _, _ := splitCredentials(vals[0])
		return Authorization{Scheme: canonicalScheme(scheme)}, fmt.Errorf("%w: %d headers", ErrRepeatedAuthorization, len(vals))
	}
	scheme, token68, ok := splitCredentials(vals[0])
	a := Authorization{Scheme: canonicalScheme(scheme)}
	if !validToken(scheme) {
		return Authorization{}, fmt.Errorf("%w: no scheme", ErrMalformedAuthorization)
	}
	if !ok || token68 == "" {
		return a, fmt.Errorf("%w: %s without a token", ErrMalformedAuthorization, a.Scheme)
	}
	if strings.IndexByte(token68, ',') >= 0 {
		return a, fmt.Errorf("%w: several credentials in one header", ErrRepeatedAuthorization)
	}
	if maxToken < 0 {
		maxToken = 0
	}
	if len(token68) > base64.StdEncoding.EncodedLen(maxToken) {
		return a, fmt.Errorf("%w: %d base64 characters, at most %d (a %d-byte token)",
			ErrTokenTooLarge, len(token68), base64.StdEncoding.EncodedLen(maxToken), maxToken)
	}
	tok, err := decodeToken68(token68)
	if err != nil {
		return a, fmt.Errorf("%w: %s token: %v", ErrMalformedAuthorization, a.Scheme, err)
	}
	if len(tok) > maxToken {
		return a, fmt.Errorf("%w: %d bytes, at most %d", ErrTokenTooLarge, len(tok), maxToken)
	}
	a.Token = tok
	return a, nil
}

// splitCredentials splits "scheme 1*SP token68" (RFC 9110 section 11.4);
// ok is false when there is nothing after the scheme.
func splitCredentials(v string) (scheme, rest string, ok bool) {
	v = strings.Trim(v, " \t")
	i := strings.IndexAny(v, " \t")
	if i < 0 {
		return v, "", false
	}
	return v[:i], strings.TrimLeft(v[i:], " \t"), true
}

// canonicalScheme spells the schemes this package serves as it offers
// them; scheme names are case-insensitive (RFC 9110 section 11.1).
func canonicalScheme(s string) string {
	for _, known := range []string{SchemeNegotiate, SchemeNTLM} {
		if strings.EqualFold(s, known) {
			return known
		}
	}
	return s
}

// validToken reports whether s is an RFC 9110 token (a scheme name).
func validToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return true
}

// decodeToken68 decodes standard, padded base64 (RFC 4648 section 4, as
// RFC 4559 and every client encode tokens). Only the base64 alphabet is
// accepted: the decoder's own tolerance of CR and LF is not extended to a
// header.
func decodeToken68(s string) ([]byte, error) {
	padded := false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '+', c == '/':
			if padded {
				return nil, errors.New("characters after the padding")
			}
		case c == '=':
			padded = true
		default:
			return nil, fmt.Errorf("byte %#02x at %d is not base64", c, i)
		}
	}
	tok, err := base64.StdEncoding.Strict().DecodeString(s)
	if err != nil {
		return nil, err
	}
	return tok, nil
}
