// Package fakemech is a scripted security package for the engine's tests and
// benchmarks. It implements mechs.Package, mechs.Credential and
// mechs.SecurityContext with no cryptography worth the name: each leg's
// outcome (status, token, flags, expiry, a delay, a panic, a request for
// network I/O) comes from a Script the test supplies.
//
// It is internal to the module and is never part of a mechs.Set that the
// library hands to users.
package fakemech

import (
	"bytes"
	"context"
	"errors"
	"hash/crc32"
	"sync"
	"sync/atomic"
	"time"

	secctx "github.com/asyncsspi/asyncsspi/context"
	"github.com/asyncsspi/asyncsspi/mechs"
	"github.com/asyncsspi/asyncsspi/status"
)

// Name is the default package name.
const Name = "Fake"

// Info tells a Script which context and leg it is scripting.
type Info struct {
	// ID numbers contexts in creation order within a Package, from 1.
	ID        uint64
	Initiator bool
	Target    string
	Principal string
}

// IO scripts the network I/O a leg asks for before it completes. It is the
// request's mechs.IOPerformer, so legs scripted with the same *IO ask the
// same performer.
type IO struct {
	// Kind is the request's kind (default mechs.IOKDC).
	Kind mechs.IOKind
	// Block makes Perform wait until its context is done and return
	// ctx.Err().
	Block bool
	// Uncomparable makes the request's Performer a struct value holding a
	// slice, which cannot be a map key (it performs as the IO itself).
	Uncomparable bool
	// Stubborn makes Perform sit out its Delay even when its context
	// ends: a performer that breaks mechs.IOPerformer's contract.
	Stubborn bool
	// Performs counts the calls of Perform, Returns those that have
	// returned, and Cancelled those that returned because their context
	// was cancelled (not because it timed out). (32-bit, and beside the
	// flags above, so that an IO stays small: the engine's benchmarks
	// count the fake's memory per pending leg with the engine's.)
	Performs, Returns, Cancelled atomic.Int32
	// Realm and Key are passed through to mechs.IORequest.
	Realm string
	Key   string
	// Delay is how long Perform takes (it returns ctx.Err() if ctx ends
	// first).
	Delay time.Duration
	// Reply and Err are what Perform returns.
	Reply []byte
	Err   error
	// Panic, when non-nil, makes Perform panic with it.
	Panic any
}

// request is the IORequest a leg scripted with io asks for; with a
// positive timeout, its Deadline is that long from now.
func (io *IO) request(timeout time.Duration) *mechs.IORequest {
	req := &mechs.IORequest{Kind: io.Kind, Realm: io.Realm, Key: io.Key, Performer: io}
	if req.Kind == 0 {
		req.Kind = mechs.IOKDC
	}
	if timeout > 0 {
		req.Deadline = time.Now().Add(timeout)
	}
	if io.Uncomparable {
		req.Performer = uncomparable{io: io, pad: []byte{0}}
	}
	return req
}

// uncomparable is a performer that == would panic on.
type uncomparable struct {
	io  *IO
	pad []byte
}

func (u uncomparable) Perform(ctx context.Context, req *mechs.IORequest) ([]byte, error) {
	return u.io.Perform(ctx, req)
}

// Leg is the scripted outcome of one leg.
type Leg struct {
	// Delay is spent inside Step (time.Sleep), standing in for CPU work.
	Delay time.Duration
	// Panic, when non-nil, makes Step panic with it.
	Panic any
	// IO, when non-nil, makes the leg's first Step ask for I/O; the second
	// Step fails with SEC_E_NO_AUTHENTICATING_AUTHORITY if the I/O failed,
	// and otherwise completes the leg as scripted.
	IO *IO
	// IOTimeout, when positive, sets the Deadline of the leg's I/O
	// request to this long after the Step that asks for it; legs sharing
	// one IO may ask with different deadlines.
	IOTimeout time.Duration
	// Status is the leg's status. With an error status the leg fails with
	// a *status.Error whose Mech is the package name.
	Status status.Code
	Token  []byte
	Flags  uint64
	Expiry time.Time
	// Missing and Extra are passed through to mechs.StepResult.
	Missing, Extra int
}

// Script decides leg number leg (from 0) of the context info describes;
// input is the leg's input token. It is called on the goroutine running
// Step, possibly concurrently for different contexts.
type Script func(info Info, leg int, input []byte) Leg

// Package is the fake security package.
type Package struct {
	name       string
	script     Script
	acquireErr error
	ids        atomic.Uint64

	// Counters for tests.
	Steps       atomic.Int64 // Step calls
	Closed      atomic.Int64 // contexts closed (first Close only)
	CredsClosed atomic.Int64 // credentials closed (first Close only)
}

// Option configures a Package.
type Option func(*Package)

// WithName sets the package name (default "Fake").
func WithName(name string) Option { return func(p *Package) { p.name = name } }

// WithScript sets the script (default: every leg completes at once with
// SEC_E_OK and the token "ok").
func WithScript(s Script) Option { return func(p *Package) { p.script = s } }

// WithAcquireError makes AcquireCredentials fail with err.
func WithAcquireError(err error) Option { return func(p *Package) { p.acquireErr = err } }

// New returns a fake package.
func New(opts ...Option) *Package {
	p := &Package{name: Name}
	for _, o := range opts {
		o(p)
	}
	if p.script == nil {
		tok := []byte("ok")
		p.script = func(Info, int, []byte) Leg { return Leg{Status: status.SEC_E_OK, Token: tok} }
	}
	return p
}

// Contexts returns how many security contexts the package has made.
func (p *Package) Contexts() int64 { return int64(p.ids.Load()) }

// Name implements mechs.Package.
func (p *Package) Name() string { return p.name }

// Info implements mechs.Package.
func (p *Package) Info() secctx.PackageInfo {
	return secctx.PackageInfo{Name: p.name, Comment: "scripted fake for tests", MaxToken: 1 << 16}
}

// AcquireCredentials implements mechs.Package.
func (p *Package) AcquireCredentials(req mechs.CredentialRequest) (mechs.Credential, error) {
	if p.acquireErr != nil {
		return nil, p.acquireErr
	}
	if req.Use&secctx.SECPKG_CRED_BOTH == 0 {
		return nil, status.Errorf(status.SEC_E_INVALID_PARAMETER, p.name, "credential use is neither inbound nor outbound")
	}
	return &Credential{pkg: p, use: req.Use, principal: req.Principal}, nil
}

// Credential is the fake credential.
type Credential struct {
	pkg       *Package
	use       secctx.CredentialUse
	principal string
	closed    atomic.Bool
}

// Package implements mechs.Credential.
func (c *Credential) Package() string { return c.pkg.name }

// Use implements mechs.Credential.
func (c *Credential) Use() secctx.CredentialUse { return c.use }

// Principal implements mechs.Credential.
func (c *Credential) Principal() string { return c.principal }

// Expiry implements mechs.Credential.
func (c *Credential) Expiry() time.Time { return time.Time{} }

// NewInitiator implements mechs.Credential.
func (c *Credential) NewInitiator(p mechs.InitiatorParams) (mechs.SecurityContext, error) {
	if !c.use.Outbound() {
		return nil, status.Errorf(status.SEC_E_NO_CREDENTIALS, c.pkg.name, "credential is not outbound")
	}
	return c.newContext(Info{Initiator: true, Target: p.Target}), nil
}

// NewAcceptor implements mechs.Credential.
func (c *Credential) NewAcceptor(mechs.AcceptorParams) (mechs.SecurityContext, error) {
	if !c.use.Inbound() {
		return nil, status.Errorf(status.SEC_E_NO_CREDENTIALS, c.pkg.name, "credential is not inbound")
	}
	return c.newContext(Info{}), nil
}

func (c *Credential) newContext(info Info) *Context {
	info.ID = c.pkg.ids.Add(1)
	info.Principal = c.principal
	return &Context{pkg: c.pkg, info: info}
}

// Close implements mechs.Credential.
func (c *Credential) Close() error {
	if !c.closed.Swap(true) {
		c.pkg.CredsClosed.Add(1)
	}
	return nil
}

// Context is the fake security context. Step is called by one goroutine at a
// time (the engine's rule); mu guards what QueryAttribute and Close read.
type Context struct {
	pkg  *Package
	info Info

	// Owned by Step's caller.
	leg       int
	waitingIO bool
	pendLeg   Leg

	mu       sync.Mutex
	complete bool
	flags    uint64
	closed   bool
}

// ErrIOReply is the cause of a failed leg whose I/O reply was not the one
// scripted.
var ErrIOReply = errors.New("fakemech: unexpected I/O reply")

// Step implements mechs.SecurityContext.
func (c *Context) Step(in *mechs.StepInput) mechs.StepResult {
	c.pkg.Steps.Add(1)
	if c.waitingIO {
		// Second Step of a leg that asked for I/O.
		c.waitingIO = false
		l := c.pendLeg
		c.pendLeg = Leg{}
		if in.IOErr != nil {
			c.leg++
			return mechs.Fail(status.SEC_E_NO_AUTHENTICATING_AUTHORITY, c.pkg.name, in.IOErr)
		}
		if !bytes.Equal(in.IOReply, l.IO.Reply) {
			c.leg++
			return mechs.Fail(status.SEC_E_INTERNAL_ERROR, c.pkg.name, ErrIOReply)
		}
		return c.finish(&l)
	}
	l := c.pkg.script(c.info, c.leg, in.Token)
	if l.Delay > 0 {
		time.Sleep(l.Delay)
	}
	if l.Panic != nil {
		c.leg++
		panic(l.Panic)
	}
	if l.IO != nil {
		c.waitingIO = true
		c.pendLeg = l
		return mechs.StepResult{IO: l.IO.request(l.IOTimeout)}
	}
	return c.finish(&l)
}

// Perform implements mechs.IOPerformer.
func (io *IO) Perform(ctx context.Context, _ *mechs.IORequest) ([]byte, error) {
	io.Performs.Add(1)
	defer func() {
		if errors.Is(ctx.Err(), context.Canceled) {
			io.Cancelled.Add(1)
		}
		io.Returns.Add(1)
	}()
	if io.Panic != nil {
		panic(io.Panic)
	}
	if io.Block {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	if io.Delay > 0 && io.Stubborn {
		time.Sleep(io.Delay)
	} else if io.Delay > 0 {
		t := time.NewTimer(io.Delay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return io.Reply, io.Err
}

func (c *Context) finish(l *Leg) mechs.StepResult {
	c.leg++
	if l.Status.IsError() {
		r := mechs.Fail(l.Status, c.pkg.name, errors.New("scripted failure"))
		r.Missing, r.Extra = l.Missing, l.Extra
		return r
	}
	if l.Status == status.SEC_E_OK {
		c.mu.Lock()
		c.complete, c.flags = true, l.Flags
		c.mu.Unlock()
	}
	return mechs.StepResult{Status: l.Status, Token: l.Token, Flags: l.Flags, Expiry: l.Expiry, Missing: l.Missing, Extra: l.Extra}
}

// Legs returns how many legs have completed on this context.
func (c *Context) Legs() int { return c.leg }

// ID returns the context's number.
func (c *Context) ID() uint64 { return c.info.ID }

// sigLen is the fake signature and trailer size.
const sigLen = 4

func (c *Context) usable() status.Code {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.closed:
		return status.SEC_E_INVALID_HANDLE
	case !c.complete:
		return status.SEC_E_OUT_OF_SEQUENCE
	}
	return status.SEC_E_OK
}

// checksum is a CRC-32 over the DATA buffers and the sequence number: not
// security, only enough to detect a changed message in tests.
// It allocates nothing, so that tests can tell the engine's allocations.
func checksum(msg []secctx.Buffer, seq uint32) uint32 {
	var sum uint32
	for _, b := range msg {
		if b.Type.Base() == secctx.SECBUFFER_DATA {
			sum = crc32.Update(sum, crc32.IEEETable, b.Data)
		}
	}
	// The sequence number, big-endian, byte by byte as crc32.Update
	// would (a slice of a local array would escape into it).
	sum = ^sum
	for _, b := range [4]byte{byte(seq >> 24), byte(seq >> 16), byte(seq >> 8), byte(seq)} {
		sum = crc32.IEEETable[byte(sum)^b] ^ sum>>8
	}
	return ^sum
}

func putSig(msg []secctx.Buffer, sum uint32) status.Code {
	i := secctx.Find(msg, secctx.SECBUFFER_TOKEN)
	if i < 0 {
		return status.SEC_E_INVALID_TOKEN
	}
	if cap(msg[i].Data) < sigLen {
		return status.SEC_E_BUFFER_TOO_SMALL
	}
	d := msg[i].Data[:sigLen]
	d[0], d[1], d[2], d[3] = byte(sum>>24), byte(sum>>16), byte(sum>>8), byte(sum)
	msg[i].Data = d
	return status.SEC_E_OK
}

func checkSig(msg []secctx.Buffer, sum uint32) status.Code {
	i := secctx.Find(msg, secctx.SECBUFFER_TOKEN)
	if i < 0 || len(msg[i].Data) < sigLen {
		return status.SEC_E_INVALID_TOKEN
	}
	d := msg[i].Data
	if uint32(d[0])<<24|uint32(d[1])<<16|uint32(d[2])<<8|uint32(d[3]) != sum {
		return status.SEC_E_MESSAGE_ALTERED
	}
	return status.SEC_E_OK
}

// MakeSignature implements mechs.SecurityContext.
func (c *Context) MakeSignature(_ uint32, msg []secctx.Buffer, seq uint32) status.Code {
	if st := c.usable(); st != status.SEC_E_OK {
		return st
	}
	return putSig(msg, checksum(msg, seq))
}

// VerifySignature implements mechs.SecurityContext.
func (c *Context) VerifySignature(msg []secctx.Buffer, seq uint32) (uint32, status.Code) {
	if st := c.usable(); st != status.SEC_E_OK {
		return 0, st
	}
	return 0, checkSig(msg, checksum(msg, seq))
}

func xorData(msg []secctx.Buffer) {
	for _, b := range msg {
		if b.Type.Base() == secctx.SECBUFFER_DATA && !b.Type.ReadOnly() {
			for i := range b.Data {
				b.Data[i] ^= 0x5A
			}
		}
	}
}

// EncryptMessage implements mechs.SecurityContext: the checksum of the
// plaintext goes into the TOKEN buffer, the DATA buffers are XORed.
func (c *Context) EncryptMessage(qop uint32, msg []secctx.Buffer, seq uint32) status.Code {
	if st := c.usable(); st != status.SEC_E_OK {
		return st
	}
	if st := putSig(msg, checksum(msg, seq)); st != status.SEC_E_OK {
		return st
	}
	if qop != secctx.SECQOP_WRAP_NO_ENCRYPT {
		xorData(msg)
	}
	return status.SEC_E_OK
}

// DecryptMessage implements mechs.SecurityContext (always as sealed).
func (c *Context) DecryptMessage(msg []secctx.Buffer, seq uint32) (uint32, status.Code) {
	if st := c.usable(); st != status.SEC_E_OK {
		return 0, st
	}
	xorData(msg)
	return 0, checkSig(msg, checksum(msg, seq))
}

// QueryAttribute implements mechs.SecurityContext for SECPKG_ATTR_SIZES,
// SECPKG_ATTR_FLAGS and SECPKG_ATTR_PACKAGE_INFO.
func (c *Context) QueryAttribute(attr secctx.Attribute) (any, status.Code) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, status.SEC_E_INVALID_HANDLE
	}
	switch attr {
	case secctx.SECPKG_ATTR_SIZES:
		return secctx.Sizes{MaxToken: 1 << 16, MaxSignature: sigLen, SecurityTrailer: sigLen}, status.SEC_E_OK
	case secctx.SECPKG_ATTR_FLAGS:
		return secctx.Flags{Flags: c.flags}, status.SEC_E_OK
	case secctx.SECPKG_ATTR_PACKAGE_INFO:
		return c.pkg.Info(), status.SEC_E_OK
	}
	return nil, status.SEC_E_UNSUPPORTED_FUNCTION
}

// Close implements mechs.SecurityContext.
func (c *Context) Close() {
	c.mu.Lock()
	first := !c.closed
	c.closed = true
	c.mu.Unlock()
	if first {
		c.pkg.Closed.Add(1)
	}
}
