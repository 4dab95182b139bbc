package negotiate

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/cryptobyte"
	"golang.org/x/crypto/cryptobyte/asn1"

	secctx "github.com/asyncsspi/asyncsspi/context"
	"github.com/asyncsspi/asyncsspi/mechs"
	"github.com/asyncsspi/asyncsspi/status"
)

// toyPkg is a scripted sub-mechanism for the state-machine tests: its
// tokens are "<name>:<n>", the initiator sends the even ones and the
// acceptor the odd ones, legs tokens in all; its signatures are
// HMAC-SHA256 under a key both sides derive from the package name and
// the credential's secret.
type toyPkg struct {
	name string
	oids []string
	legs int

	noIntegrity bool
	wantMIC     bool // contexts implement mechs.MechListMICRequirer (true)
	acquireErr  status.Code
	newInitErr  status.Code // NewInitiator fails
	firstErr    status.Code // the initiator's first Step fails
	firstIO     bool        // the initiator's first Step asks for I/O first
	framed      bool        // tokens carry the GSS framing with oids[0] (raw krb5)
	// acceptErr fails the acceptor's first Step; asked for
	// ASC_REQ_EXTENDED_ERROR, it then returns an error token, which
	// makes the toy initiator fail with the same status.
	acceptErr status.Code

	stats *toyStats
}

type toyStats struct {
	inits, accepts, signs, verifies, resets, closes atomic.Int32
	acceptReq                                       atomic.Uint64 // the last acceptor's ASC_REQ_* flags
}

func newToy(name string, legs int, opts ...func(*toyPkg)) *toyPkg {
	p := &toyPkg{name: name, legs: legs, stats: &toyStats{}}
	for _, o := range opts {
		o(p)
	}
	return p
}

func (p *toyPkg) Name() string { return p.name }
func (p *toyPkg) Info() secctx.PackageInfo {
	return secctx.PackageInfo{Name: p.name, MaxToken: 1000, Capabilities: secctx.SECPKG_FLAG_INTEGRITY}
}

func (p *toyPkg) AcquireCredentials(req mechs.CredentialRequest) (mechs.Credential, error) {
	if p.acquireErr != 0 {
		return nil, status.Errorf(p.acquireErr, p.name, "scripted")
	}
	secret := "secret"
	if s, ok := req.AuthData.(string); ok {
		secret = s
	}
	return &toyCred{pkg: p, use: req.Use, secret: secret}, nil
}

// toyOIDs wraps a toyPkg to declare its OIDs through mechs.OIDNamer.
type toyOIDs struct{ *toyPkg }

func (p toyOIDs) OIDs() []string { return p.oids }

type toyCred struct {
	pkg    *toyPkg
	use    secctx.CredentialUse
	secret string
}

func (c *toyCred) Package() string           { return c.pkg.name }
func (c *toyCred) Use() secctx.CredentialUse { return c.use }
func (c *toyCred) Principal() string         { return "alice" }
func (c *toyCred) Expiry() time.Time         { return time.Time{} }
func (c *toyCred) Close() error              { return nil }
func (c *toyCred) key() []byte               { return []byte(c.pkg.name + "/" + c.secret) }
func (c *toyCred) NewAcceptor(p mechs.AcceptorParams) (mechs.SecurityContext, error) {
	c.pkg.stats.accepts.Add(1)
	c.pkg.stats.acceptReq.Store(uint64(p.Req))
	return c.wrap(&toyCtx{cred: c, initiator: false, req: p.Req}), nil
}

func (c *toyCred) NewInitiator(p mechs.InitiatorParams) (mechs.SecurityContext, error) {
	if c.pkg.newInitErr != 0 {
		return nil, status.Errorf(c.pkg.newInitErr, c.pkg.name, "scripted NewInitiator failure")
	}
	c.pkg.stats.inits.Add(1)
	return c.wrap(&toyCtx{cred: c, initiator: true}), nil
}

func (c *toyCred) wrap(ctx *toyCtx) mechs.SecurityContext {
	if c.pkg.wantMIC {
		return toyMICCtx{ctx}
	}
	return ctx
}

type toyCtx struct {
	cred      *toyCred
	initiator bool
	req       secctx.ASCReq // an acceptor's
	next      int           // index of the next token in the exchange
	done      bool
	ioAsked   bool
	mu        sync.Mutex
	closed    bool
}

func (c *toyCtx) tok(n int) []byte {
	t := c.cred.pkg.name + ":" + strconv.Itoa(n)
	if c.cred.pkg.framed {
		oid, _ := oidContent(c.cred.pkg.oids[0])
		var b cryptobyte.Builder
		b.AddASN1(tagGSSToken, func(b *cryptobyte.Builder) {
			b.AddASN1(asn1.OBJECT_IDENTIFIER, func(b *cryptobyte.Builder) { b.AddBytes(oid) })
			b.AddBytes([]byte(t))
		})
		return b.BytesOrPanic()
	}
	return []byte(t)
}

// errTok is the acceptor's error token for a failure status.
func (c *toyCtx) errTok(code status.Code) []byte {
	return []byte(c.cred.pkg.name + ":error:" + strconv.FormatUint(uint64(code), 10))
}

func (c *toyCtx) flags() uint64 {
	if c.cred.pkg.noIntegrity {
		return 0
	}
	if c.initiator {
		return uint64(secctx.ISC_RET_INTEGRITY)
	}
	// As the Kerberos acceptor does, it says it would give an error token.
	return uint64(secctx.ASC_RET_INTEGRITY) | uint64(secctx.ASCRet(c.req)&secctx.ASC_RET_EXTENDED_ERROR)
}

func (c *toyCtx) Step(in *mechs.StepInput) mechs.StepResult {
	p := c.cred.pkg
	if c.done {
		return mechs.Fail(status.SEC_E_OUT_OF_SEQUENCE, p.name, nil)
	}
	if c.initiator && c.next == 0 {
		if p.firstIO && !c.ioAsked {
			c.ioAsked = true
			return mechs.StepResult{IO: &mechs.IORequest{Kind: mechs.IOKDC, Realm: "TOY", Performer: toyPerformer{}}}
		}
		if p.firstIO && in.IOErr != nil {
			return mechs.Fail(status.SEC_E_NO_AUTHENTICATING_AUTHORITY, p.name, in.IOErr)
		}
		if p.firstErr != 0 {
			return mechs.Fail(p.firstErr, p.name, nil)
		}
	}
	mine := 0 // parity of the tokens this side sends
	if !c.initiator {
		mine = 1
	}
	if !c.initiator && c.next == 0 && p.acceptErr != 0 {
		r := mechs.Fail(p.acceptErr, p.name, nil)
		if c.req&secctx.ASC_REQ_EXTENDED_ERROR != 0 {
			r.Token, r.Flags = c.errTok(p.acceptErr), uint64(secctx.ASC_RET_EXTENDED_ERROR)
		}
		return r
	}
	if c.next%2 != mine {
		// Expect the peer's token; one cut short changes nothing, as
		// with NTLM and Kerberos.
		want := c.tok(c.next)
		if n := len(in.Token); n < len(want) && string(in.Token) == string(want[:n]) {
			return mechs.StepResult{Status: status.SEC_E_INCOMPLETE_MESSAGE, Missing: len(want) - n,
				Err: status.Errorf(status.SEC_E_INCOMPLETE_MESSAGE, p.name, "truncated")}
		}
		if code, ok := strings.CutPrefix(string(in.Token), p.name+":error:"); ok && c.initiator {
			if n, err := strconv.ParseUint(code, 10, 32); err == nil && status.Code(n).IsError() {
				return mechs.Fail(status.Code(n), p.name, nil)
			}
		}
		if string(in.Token) != string(want) {
			return mechs.Fail(status.SEC_E_INVALID_TOKEN, p.name, nil)
		}
		c.next++
		if c.next == p.legs {
			c.done = true
			return mechs.StepResult{Status: status.SEC_E_OK, Flags: c.flags()}
		}
	} else if len(in.Token) != 0 {
		return mechs.Fail(status.SEC_E_INVALID_TOKEN, p.name, nil)
	}
	out := c.tok(c.next)
	c.next++
	if c.next == p.legs {
		c.done = true
		return mechs.StepResult{Status: status.SEC_E_OK, Token: out, Flags: c.flags()}
	}
	return mechs.StepResult{Status: status.SEC_I_CONTINUE_NEEDED, Token: out, Flags: c.flags()}
}

func (c *toyCtx) sig(data []byte) []byte {
	m := hmac.New(sha256.New, c.cred.key())
	m.Write(data)
	return m.Sum(nil)[:16]
}

func (c *toyCtx) MakeSignature(qop uint32, msg []secctx.Buffer, seq uint32) status.Code {
	c.cred.pkg.stats.signs.Add(1)
	d, t := secctx.Find(msg, secctx.SECBUFFER_DATA), secctx.Find(msg, secctx.SECBUFFER_TOKEN)
	if d < 0 || t < 0 {
		return status.SEC_E_INVALID_TOKEN
	}
	if cap(msg[t].Data) < 16 {
		return status.SEC_E_BUFFER_TOO_SMALL
	}
	msg[t].Data = append(msg[t].Data[:0], c.sig(msg[d].Data)...)
	return status.SEC_E_OK
}

func (c *toyCtx) VerifySignature(msg []secctx.Buffer, seq uint32) (uint32, status.Code) {
	c.cred.pkg.stats.verifies.Add(1)
	d, t := secctx.Find(msg, secctx.SECBUFFER_DATA), secctx.Find(msg, secctx.SECBUFFER_TOKEN)
	if d < 0 || t < 0 || !hmac.Equal(msg[t].Data, c.sig(msg[d].Data)) {
		return 0, status.SEC_E_MESSAGE_ALTERED
	}
	return 0, status.SEC_E_OK
}

func (c *toyCtx) EncryptMessage(qop uint32, msg []secctx.Buffer, seq uint32) status.Code {
	return c.MakeSignature(qop, msg, seq)
}

func (c *toyCtx) DecryptMessage(msg []secctx.Buffer, seq uint32) (uint32, status.Code) {
	return c.VerifySignature(msg, seq)
}

func (c *toyCtx) QueryAttribute(attr secctx.Attribute) (any, status.Code) {
	switch attr {
	case secctx.SECPKG_ATTR_SIZES:
		return secctx.Sizes{MaxToken: 1000, MaxSignature: 16}, status.SEC_E_OK
	case secctx.SECPKG_ATTR_NAMES:
		return secctx.Names{UserName: "alice@" + strings.ToUpper(c.cred.pkg.name)}, status.SEC_E_OK
	}
	return nil, status.SEC_E_UNSUPPORTED_FUNCTION
}

func (c *toyCtx) Close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.closed {
		c.closed = true
		c.cred.pkg.stats.closes.Add(1)
	}
}

// toyMICCtx is a toyCtx that asks for the MIC exchange and counts RC4
// resets, as an NTLM context does.
type toyMICCtx struct{ *toyCtx }

func (c toyMICCtx) RequiresMechListMIC() bool { return true }
func (c toyMICCtx) ResetSealingState(outbound bool) {
	c.cred.pkg.stats.resets.Add(1)
}

// toyPerformer answers every I/O request with "reply".
type toyPerformer struct{}

func (toyPerformer) Perform(context.Context, *mechs.IORequest) ([]byte, error) {
	return []byte("reply"), nil
}
