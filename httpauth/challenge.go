package httpauth

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// Challenge is one challenge of a WWW-Authenticate or Proxy-Authenticate
// header (RFC 7235 section 2.1, 4.1 and 4.3): a scheme with either a
// token68 (a Negotiate or NTLM token, base64) or auth-params.
type Challenge struct {
	// Scheme is the auth-scheme as the server spelt it; compare it with
	// strings.EqualFold (schemes are case-insensitive).
	Scheme string
	// Token68 is the challenge's token68, "" when it has none.
	Token68 string
	// Params are the auth-params in order (names as sent; values
	// unquoted).
	Params []Param
}

// Param is one auth-param of a challenge.
type Param struct{ Name, Value string }

// Param returns the value of the auth-param name (case-insensitive).
func (c Challenge) Param(name string) (string, bool) {
	for _, p := range c.Params {
		if strings.EqualFold(p.Name, name) {
			return p.Value, true
		}
	}
	return "", false
}

// String formats the challenge as it would appear in a header.
func (c Challenge) String() string {
	var b strings.Builder
	b.WriteString(c.Scheme)
	if c.Token68 != "" {
		b.WriteByte(' ')
		b.WriteString(c.Token68)
	}
	for i, p := range c.Params {
		if i == 0 {
			b.WriteByte(' ')
		} else {
			b.WriteString(", ")
		}
		b.WriteString(p.Name)
		b.WriteByte('=')
		b.WriteString(quoteIfNeeded(p.Value))
	}
	return b.String()
}

// maxChallengeHeader bounds the text ParseChallenges reads from one
// header field: far above any real challenge (a Negotiate token is at
// most Kerberos' 48000-byte cbMaxToken, 64000 base64 characters), so that
// a hostile server cannot make the client parse megabytes.
const maxChallengeHeader = 128 << 10

// maxChallenges bounds the challenges (and auth-params) kept from one
// response.
const maxChallenges = 64

// ErrMalformedChallenge is wrapped by ParseChallenges' error for a header
// field that is not a challenge list.
var ErrMalformedChallenge = errors.New("httpauth: malformed challenge")

// ParseChallenges parses every field of header name (WWW-Authenticate or
// Proxy-Authenticate) in h: each field is a comma-separated list of
// challenges (RFC 7235 section 4.1), and a response may send several
// fields. The challenges come back in order. A field that does not parse
// contributes the challenges before the fault, and the first fault is
// returned (wrapping ErrMalformedChallenge) beside everything that did
// parse, so that a client can still answer a scheme it supports.
func ParseChallenges(h http.Header, name string) ([]Challenge, error) {
	var all []Challenge
	var firstErr error
	for _, v := range h.Values(name) {
		cs, err := parseChallengeList(v)
		all = append(all, cs...)
		if err != nil && firstErr == nil {
			firstErr = fmt.Errorf("%s: %w", name, err)
		}
		if len(all) >= maxChallenges {
			return all[:maxChallenges], firstErr
		}
	}
	return all, firstErr
}

// parseChallengeList parses one header field:
//
//	challenge   = auth-scheme [ 1*SP ( token68 / #auth-param ) ]
//	auth-param  = token BWS "=" BWS ( token / quoted-string )
//	token68     = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
//
// with the list rule's empty elements allowed (RFC 7230 section 7). A
// token after a comma starts a new challenge unless "=" follows it (then
// it is an auth-param of the current one).
func parseChallengeList(s string) ([]Challenge, error) {
	if len(s) > maxChallengeHeader {
		return nil, fmt.Errorf("%w: header field of %d bytes (at most %d read)", ErrMalformedChallenge, len(s), maxChallengeHeader)
	}
	p := &challengeParser{s: s}
	var out []Challenge
	var cur *Challenge
	for {
		p.skipOWS()
		if p.eof() {
			break
		}
		if p.peek() == ',' { // an empty list element
			p.i++
			continue
		}
		start := p.i
		tok := p.token()
		if tok == "" {
			return out, p.fail("a scheme or auth-param name")
		}
		afterTok := p.i
		p.skipOWS()
		if cur != nil && !p.eof() && p.peek() == '=' && !p.token68Ahead(start) {
			// An auth-param of the current challenge.
			if cur.Token68 != "" {
				p.i = start
				return out, p.fail("a new challenge (a challenge with a token68 has no auth-params)")
			}
			p.i++
			p.skipOWS()
			val, err := p.value()
			if err != nil {
				return out, err
			}
			if len(cur.Params) < maxChallenges {
				cur.Params = append(cur.Params, Param{Name: tok, Value: val})
			}
			if err := p.endElement(); err != nil {
				return out, err
			}
			continue
		}
		// A new challenge: the scheme, then 1*SP and a token68 or the
		// first auth-param, or nothing.
		if cur != nil {
			out = append(out, *cur)
			if len(out) >= maxChallenges {
				return out, nil
			}
		}
		cur = &Challenge{Scheme: tok}
		p.i = afterTok
		if p.eof() || p.peek() == ',' {
			if !p.eof() {
				p.i++
			}
			continue
		}
		if p.peek() != ' ' && p.peek() != '\t' {
			return out, p.fail("a space after the scheme")
		}
		p.skipOWS()
		if p.eof() || p.peek() == ',' {
			continue
		}
		if t68, ok := p.token68(); ok {
			cur.Token68 = t68
			if err := p.endElement(); err != nil {
				return out, err
			}
			continue
		}
		name := p.token()
		if name == "" {
			return out, p.fail("a token68 or an auth-param")
		}
		p.skipOWS()
		if p.eof() || p.peek() != '=' {
			return out, p.fail(`"=" after auth-param name`)
		}
		p.i++
		p.skipOWS()
		val, err := p.value()
		if err != nil {
			return out, err
		}
		cur.Params = append(cur.Params, Param{Name: name, Value: val})
		if err := p.endElement(); err != nil {
			return out, err
		}
	}
	if cur != nil {
		out = append(out, *cur)
	}
	return out, nil
}

type challengeParser struct {
	s string
	i int
}

func (p *challengeParser) eof() bool  { return p.i >= len(p.s) }
func (p *challengeParser) peek() byte { return p.s[p.i] }

func (p *challengeParser) fail(want string) error {
	if p.eof() {
		return fmt.Errorf("%w: want %s at the end of %q", ErrMalformedChallenge, want, clip(p.s))
	}
	return fmt.Errorf("%w: want %s at offset %d of %q", ErrMalformedChallenge, want, p.i, clip(p.s))
}

func (p *challengeParser) skipOWS() {
	for !p.eof() && (p.peek() == ' ' || p.peek() == '\t') {
		p.i++
	}
}

// endElement ends a list element: optional white space, then a comma or
// the end.
func (p *challengeParser) endElement() error {
	p.skipOWS()
	if p.eof() {
		return nil
	}
	if p.peek() != ',' {
		return p.fail(`"," or the end`)
	}
	p.i++
	return nil
}

// token reads a token (RFC 7230 section 3.2.6), "" when none is there.
func (p *challengeParser) token() string {
	start := p.i
	for !p.eof() && isTchar(p.peek()) {
		p.i++
	}
	return p.s[start:p.i]
}

// token68 reads a token68 when one stands here and is the whole element
// (followed by white space and a comma, or the end); otherwise it reads
// nothing.
func (p *challengeParser) token68() (string, bool) {
	j := p.i
	for j < len(p.s) && isToken68Char(p.s[j]) {
		j++
	}
	if j == p.i {
		return "", false
	}
	for j < len(p.s) && p.s[j] == '=' {
		j++
	}
	k := j
	for k < len(p.s) && (p.s[k] == ' ' || p.s[k] == '\t') {
		k++
	}
	if k < len(p.s) && p.s[k] != ',' {
		return "", false
	}
	t := p.s[p.i:j]
	p.i = j
	return t, true
}

// token68Ahead reports whether the text at start, read as a token68, is a
// whole element: "abc==" (or "abc=" then a comma) is a token68, not an
// auth-param with an empty value. Only a challenge's first element can be
// a token68; this keeps "name=" with nothing after it from parsing as a
// param of the previous challenge.
func (p *challengeParser) token68Ahead(start int) bool {
	q := &challengeParser{s: p.s, i: start}
	_, ok := q.token68()
	return ok
}

// value reads an auth-param value: a token or a quoted-string.
func (p *challengeParser) value() (string, error) {
	if p.eof() {
		return "", p.fail("an auth-param value")
	}
	if p.peek() != '"' {
		v := p.token()
		if v == "" {
			return "", p.fail("an auth-param value")
		}
		return v, nil
	}
	p.i++
	var b strings.Builder
	for !p.eof() {
		c := p.peek()
		switch {
		case c == '"':
			p.i++
			return b.String(), nil
		case c == '\\':
			p.i++
			if p.eof() {
				return "", p.fail("a character after a backslash")
			}
			if !isQuotedPairChar(p.peek()) {
				return "", p.fail("a quotable character")
			}
			b.WriteByte(p.peek())
		case isQdtext(c):
			b.WriteByte(c)
		default:
			return "", p.fail("quoted text")
		}
		p.i++
	}
	return "", p.fail(`a closing '"'`)
}

func isTchar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

func isToken68Char(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("-._~+/", c) >= 0
}

// isQdtext: HTAB / SP / %x21 / %x23-5B / %x5D-7E / obs-text.
func isQdtext(c byte) bool {
	return c == '\t' || c == ' ' || c == 0x21 || (c >= 0x23 && c <= 0x5B) || (c >= 0x5D && c <= 0x7E) || c >= 0x80
}

// isQuotedPairChar: HTAB / SP / VCHAR / obs-text.
func isQuotedPairChar(c byte) bool {
	return c == '\t' || c == ' ' || (c >= 0x21 && c <= 0x7E) || c >= 0x80
}

func quoteIfNeeded(v string) string {
	if v != "" {
		plain := true
		for i := 0; i < len(v); i++ {
			if !isTchar(v[i]) {
				plain = false
				break
			}
		}
		if plain {
			return v
		}
	}
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(v); i++ {
		if v[i] == '"' || v[i] == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(v[i])
	}
	b.WriteByte('"')
	return b.String()
}

func clip(s string) string {
	if len(s) > 80 {
		return s[:77] + "..."
	}
	return s
}
