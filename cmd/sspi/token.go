package main

import (
	"bytes"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/asyncsspi/asyncsspi/mechs"
	"github.com/asyncsspi/asyncsspi/mechs/negotiate"
)

const tokenUsage = `usage: sspi token [BASE64|-]

Decodes a handshake token and prints its fields: SPNEGO NegTokenInit and
NegTokenResp (mechanism OIDs, negState, the inner token), Kerberos AP-REQ,
AP-REP and KRB-ERROR (ticket realm and sname, etypes, kvno, options, error
code, times; encrypted parts are never decrypted, only sized), NTLM
NEGOTIATE, CHALLENGE and AUTHENTICATE (flags by name, names, AV pairs,
NTLMv2 response, MIC, version).

The token is the argument, or standard input when it is "-" or absent:
bare base64, "Negotiate <base64>", or a whole header line such as
"Authorization: Negotiate <base64>" or "WWW-Authenticate: NTLM <base64>".

Exit status: 0 when the token decodes, 1 when it is malformed (the fields
read before the fault are printed), 2 for bad arguments.
`

// maxTokenInput bounds what sspi token reads: far above any package's
// cbMaxToken (Negotiate's is 48,256 bytes), low enough to refuse a
// mistaken file at once.
const maxTokenInput = 1 << 20

// maxNesting bounds tokens within tokens (a NegTokenInit's mechToken, a
// NegTokenResp's responseToken).
const maxNesting = 4

func runToken(w io.Writer, args []string) error {
	fs := flag.NewFlagSet("token", flag.ContinueOnError)
	fs.SetOutput(w)
	fs.Usage = func() { fmt.Fprint(fs.Output(), tokenUsage) }
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return exitError{2, err}
	}
	var in []byte
	switch {
	case fs.NArg() > 1:
		return exitError{2, fmt.Errorf("token: one token at a time (sspi token -help)")}
	case fs.NArg() == 1 && fs.Arg(0) != "-":
		in = []byte(fs.Arg(0))
	default:
		b, err := io.ReadAll(io.LimitReader(os.Stdin, maxTokenInput+1))
		if err != nil {
			return exitError{1, fmt.Errorf("token: reading standard input: %w", err)}
		}
		in = b
	}
	if err := decodeTokenInput(w, in); err != nil {
		return exitError{1, fmt.Errorf("token: %w", err)}
	}
	return nil
}

// errMalformed is wrapped by every decoding failure.
var errMalformed = errors.New("malformed token")

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errMalformed, fmt.Sprintf(format, args...))
}

// decodeTokenInput is sspi token's entry: text as given on the command
// line or standard input, decoded and printed to w. Every failure is an
// error; it never panics.
func decodeTokenInput(w io.Writer, text []byte) error {
	if len(text) > maxTokenInput {
		return fmt.Errorf("%w: input longer than %d bytes", errMalformed, maxTokenInput)
	}
	scheme, b64, err := splitTokenText(string(text))
	if err != nil {
		return err
	}
	tok, err := decodeBase64Token(b64)
	if err != nil {
		return err
	}
	if scheme != "" {
		fmt.Fprintf(w, "HTTP scheme %s\n", scheme)
	}
	return decodeToken(w, tok)
}

// decodeToken prints a decoded token's fields to w.
func decodeToken(w io.Writer, tok []byte) error {
	p := &printer{w: w}
	return p.token(tok, 0)
}

// splitTokenText finds the base64 in a header line, "Scheme base64", or
// bare base64.
func splitTokenText(s string) (scheme, b64 string, err error) {
	s = strings.TrimSpace(s)
	if name, rest, ok := strings.Cut(s, ":"); ok && !strings.ContainsAny(name, " \t") {
		switch strings.ToLower(name) {
		case "authorization", "www-authenticate", "proxy-authorization", "proxy-authenticate":
			s = strings.TrimSpace(rest)
		default:
			return "", "", fmt.Errorf("%w: header %q does not carry a token (Authorization, WWW-Authenticate, Proxy-Authorization or Proxy-Authenticate)", errMalformed, name)
		}
	}
	if first, rest, ok := strings.Cut(s, " "); ok {
		switch strings.ToLower(first) {
		case "negotiate", "ntlm", "kerberos":
			scheme, s = first, strings.TrimSpace(rest)
		default:
			// A short word of letters is a scheme name; anything else
			// is base64 wrapped over lines.
			if !isBase64Text(first) || (len(first) <= 16 && strings.Trim(first, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz") == "") {
				return "", "", fmt.Errorf("%w: unknown scheme %q", errMalformed, first)
			}
		}
	} else if strings.EqualFold(s, "negotiate") || strings.EqualFold(s, "ntlm") {
		return "", "", fmt.Errorf("%w: %s without a token (a server's bare challenge)", errMalformed, s)
	}
	if s == "" {
		return "", "", fmt.Errorf("%w: no token", errMalformed)
	}
	return scheme, s, nil
}

func isBase64Text(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '+' || c == '/' || c == '=') {
			return false
		}
	}
	return true
}

// decodeBase64Token decodes standard base64, padded or not, allowing
// whitespace between lines (a token pasted from a wrapped log).
func decodeBase64Token(s string) ([]byte, error) {
	clean := strings.Map(func(r rune) rune {
		if r == ' ' || r == '\t' || r == '\r' || r == '\n' {
			return -1
		}
		return r
	}, s)
	if !isBase64Text(clean) {
		for i := 0; i < len(clean); i++ {
			if !isBase64Text(clean[i : i+1]) {
				return nil, fmt.Errorf("%w: byte %#02x at %d is not base64", errMalformed, clean[i], i)
			}
		}
	}
	enc := base64.StdEncoding
	if !strings.Contains(clean, "=") && len(clean)%4 != 0 {
		enc = base64.RawStdEncoding
	}
	tok, err := enc.DecodeString(clean)
	if err != nil {
		return nil, fmt.Errorf("%w: base64: %v", errMalformed, err)
	}
	if len(tok) == 0 {
		return nil, fmt.Errorf("%w: empty token", errMalformed)
	}
	return tok, nil
}

// printer writes an indented listing.
type printer struct {
	w      io.Writer
	indent int
}

func (p *printer) line(format string, args ...any) {
	fmt.Fprintf(p.w, "%s%s\n", strings.Repeat("  ", p.indent), fmt.Sprintf(format, args...))
}

// nested prints f's lines one level deeper.
func (p *printer) nested(f func() error) error {
	p.indent++
	defer func() { p.indent-- }()
	return f()
}

// token recognizes a token by its first bytes and prints it.
func (p *printer) token(b []byte, depth int) error {
	if depth > maxNesting {
		return malformed("tokens nested more than %d deep", maxNesting)
	}
	switch {
	case len(b) == 0:
		return malformed("empty token")
	case bytes.HasPrefix(b, []byte("NTLMSSP\x00")):
		return p.ntlm(b)
	case len(b) < 8 && bytes.HasPrefix([]byte("NTLMSSP\x00"), b):
		return malformed("NTLMSSP signature truncated")
	case b[0] == 0x60: // [APPLICATION 0]: RFC 2743 section 3.1 framing
		return p.framed(b, depth)
	case b[0] == 0xa0: // NegotiationToken's negTokenInit without framing
		return malformed("an unframed NegTokenInit (the first SPNEGO token travels in GSS framing)")
	case b[0] == 0xa1:
		return p.negTokenResp(b, depth)
	case b[0] == tagAPReq:
		return p.apReq(b)
	case b[0] == tagAPRep:
		return p.apRep(b)
	case b[0] == tagKRBError:
		return p.krbError(b)
	case len(b) >= 2 && (b[0] == 0x04 || b[0] == 0x05) && b[1] == 0x04:
		return malformed("a Kerberos per-message token (RFC 4121 section 4.2, %s), not a handshake token", map[byte]string{4: "MIC", 5: "Wrap"}[b[0]])
	}
	return malformed("unrecognized token: first byte %#02x is not SPNEGO, Kerberos or NTLMSSP", b[0])
}

// framed prints a token in GSS framing: SPNEGO's NegTokenInit, or a krb5
// token with its TOK_ID (RFC 4121 section 4.1).
func (p *printer) framed(b []byte, depth int) error {
	d := derReader{b}
	inner, err := d.expect(0x60, "GSS framing")
	if err != nil {
		return err
	}
	if !d.empty() {
		return malformed("%d bytes after the GSS token", len(d.b))
	}
	r := derReader{inner}
	oid, err := r.expect(0x06, "GSS framing's mechanism OID")
	if err != nil {
		return err
	}
	name, err := oidString(oid)
	if err != nil {
		return err
	}
	switch name {
	case mechs.OIDSPNEGO:
		t, err := negotiate.ParseNegTokenInit(b)
		if err != nil {
			return malformed("SPNEGO NegTokenInit: %v", err)
		}
		return p.negTokenInit(t, depth)
	case mechs.OIDKerberos, mechs.OIDMSKerberos:
		if len(r.b) < 2 {
			return malformed("krb5 token without its TOK_ID")
		}
		tokID, body := r.b[:2], r.b[2:]
		p.line("GSS-API krb5 token, mechanism %s, TOK_ID %02x %02x", oidName(name), tokID[0], tokID[1])
		want := map[[2]byte]byte{{1, 0}: tagAPReq, {2, 0}: tagAPRep, {3, 0}: tagKRBError}[[2]byte{tokID[0], tokID[1]}]
		if want == 0 {
			return malformed("TOK_ID %02x %02x is not AP-REQ (01 00), AP-REP (02 00) or KRB-ERROR (03 00)", tokID[0], tokID[1])
		}
		if len(body) == 0 || body[0] != want {
			return malformed("TOK_ID %02x %02x does not match the message that follows", tokID[0], tokID[1])
		}
		return p.nested(func() error { return p.token(body, depth+1) })
	}
	return malformed("GSS framing names mechanism %s, which sspi token does not decode", name)
}

func (p *printer) negTokenInit(t *negotiate.NegTokenInit, depth int) error {
	kind := "NegTokenInit"
	if t.NegHints != nil {
		kind = "NegTokenInit2 (MS-SPNG 2.2.1)"
	}
	p.line("SPNEGO %s, GSS framing %s", kind, mechs.OIDSPNEGO)
	return p.nested(func() error {
		p.line("mechTypes:")
		p.nested(func() error {
			for _, m := range t.MechTypes {
				p.line("%s", oidName(m))
			}
			return nil
		})
		if t.ReqFlags != nil {
			p.line("reqFlags: %x", t.ReqFlags)
		}
		if t.NegHints != nil {
			p.line("negHints: hintName %q, hintAddress %x", t.NegHints.HintName, t.NegHints.HintAddress)
		}
		if t.MechListMIC != nil {
			p.line("mechListMIC: %d bytes %x", len(t.MechListMIC), t.MechListMIC)
		}
		if t.MechToken == nil {
			p.line("mechToken: absent")
			return nil
		}
		p.line("mechToken: %d bytes (optimistic token of %s)", len(t.MechToken), firstOr(t.MechTypes, "?"))
		return p.nested(func() error { return p.token(t.MechToken, depth+1) })
	})
}

func (p *printer) negTokenResp(b []byte, depth int) error {
	t, err := negotiate.ParseNegTokenResp(b)
	if err != nil {
		return malformed("SPNEGO NegTokenResp: %v", err)
	}
	p.line("SPNEGO NegTokenResp")
	return p.nested(func() error {
		p.line("negState: %s", t.NegState)
		if t.SupportedMech != "" {
			p.line("supportedMech: %s", oidName(t.SupportedMech))
		}
		if t.MechListMIC != nil {
			p.line("mechListMIC: %d bytes %x", len(t.MechListMIC), t.MechListMIC)
		}
		switch {
		case t.ResponseToken == nil:
			p.line("responseToken: absent")
		case len(t.ResponseToken) == 0:
			p.line("responseToken: empty")
		default:
			p.line("responseToken: %d bytes", len(t.ResponseToken))
			return p.nested(func() error { return p.token(t.ResponseToken, depth+1) })
		}
		return nil
	})
}

var oidNames = map[string]string{
	mechs.OIDSPNEGO:      "SPNEGO",
	mechs.OIDKerberos:    "Kerberos",
	mechs.OIDMSKerberos:  "MS Kerberos",
	mechs.OIDNTLMSSP:     "NTLMSSP",
	mechs.OIDNegoEx:      "NegoEx",
	mechs.OIDKerberosU2U: "Kerberos user-to-user",
}

func oidName(oid string) string {
	if n, ok := oidNames[oid]; ok {
		return oid + " (" + n + ")"
	}
	return oid
}

func firstOr(l []string, def string) string {
	if len(l) == 0 {
		return def
	}
	return oidName(l[0])
}
