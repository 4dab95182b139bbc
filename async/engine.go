package async

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	secctx "github.com/asyncsspi/asyncsspi/context"
	"github.com/asyncsspi/asyncsspi/mechs"
	"github.com/asyncsspi/asyncsspi/queue"
	"github.com/asyncsspi/asyncsspi/status"
)

// Causes carried by the *status.Error of the legs the engine ends itself.
var (
	// ErrCancelled is the cause of StatusCancelled; it wraps
	// context.Canceled.
	ErrCancelled = fmt.Errorf("async: leg cancelled: %w", context.Canceled)
	// ErrClosed is the cause of StatusClosed.
	ErrClosed = errors.New("async: engine closed")
	// ErrContextDeleted is the cause of StatusContextDeleted.
	ErrContextDeleted = errors.New("async: security context deleted while a leg was pending")
	// ErrMechanismPanic is wrapped by the cause of a SEC_E_INTERNAL_ERROR
	// that a panic in a mechanism became.
	ErrMechanismPanic = errors.New("async: panic in security package")
)

// Option configures an Engine.
type Option func(*config)

type config struct {
	workers   int
	depth     int
	ioWorkers int
	ioTimeout time.Duration
}

// WithWorkers sets the number of CPU workers that run mechanism steps
// (default GOMAXPROCS).
func WithWorkers(n int) Option { return func(c *config) { c.workers = n } }

// WithQueueDepth bounds the asynchronous legs in flight (queued, running or
// waiting on I/O) at once (default 4096). A leg queued beyond it is refused
// with StatusQueueFull. The engine's queues are sized from it up front (16
// bytes per slot, two queues).
func WithQueueDepth(n int) Option { return func(c *config) { c.depth = n } }

// WithIOConcurrency sets how many I/O requests (KDC exchanges) run at once
// (default 64). Each runs on its own goroutine of a fixed set, never on a
// CPU worker.
func WithIOConcurrency(n int) Option { return func(c *config) { c.ioWorkers = n } }

// WithIOTimeout sets the deadline of each I/O request (default 30s).
func WithIOTimeout(d time.Duration) Option { return func(c *config) { c.ioTimeout = d } }

// closedBit marks Engine.state once Close has begun; the bits below count
// the legs in flight, asynchronous and synchronous.
const closedBit = int64(1) << 62

// Engine runs the security packages of a mechs.Set on a bounded pool of CPU
// workers and a bounded I/O side. Its methods are safe for concurrent use.
type Engine struct {
	set *mechs.Set
	cfg config

	cpu *queue.Pool // runs legTask: mechanism steps
	io  *queue.Pool // runs ioTask: mechs.IORequest.Do

	creds *table[credEntry]
	ctxs  *table[ctxEntry]

	// base is cancelled when Close begins; every I/O context derives
	// from it.
	base       context.Context
	cancelBase context.CancelFunc

	state    atomic.Int64 // closedBit | legs in flight
	inflight atomic.Int64 // asynchronous legs in flight, at most cfg.depth
	idle     chan struct{}
	idleOnce sync.Once

	closeOnce sync.Once
	closed    chan struct{} // closed when Close has finished
}

// credEntry is what a CredHandle names.
type credEntry struct {
	pkg  mechs.Package
	cred mechs.Credential
}

// ctxEntry is what a CtxtHandle names.
type ctxEntry struct {
	h         secctx.CtxtHandle
	pkg       string
	initiator bool
	sc        mechs.SecurityContext

	// mu guards the rest. Lock order: never hold mu while taking an
	// AsyncContext's mu.
	mu         sync.Mutex
	busy       bool               // a leg, async or sync, is pending
	leg        *AsyncContext      // the pending async leg
	legSeq     uint64             // its number, so an abort cannot hit a later leg
	syncCancel context.CancelFunc // cancels a synchronous leg's I/O
	msgs       int                // per-message calls in progress
	deleted    bool
	closed     bool
}

// closeIfIdleLocked reports whether the caller must now Close the
// mechanism's context: it is deleted and nobody is using it. The caller
// holds mu. The goroutine that last stops using a deleted context closes
// it, so Close never runs concurrently with Step or a per-message call.
func (c *ctxEntry) closeIfIdleLocked() bool {
	if c.deleted && !c.busy && c.msgs == 0 && !c.closed {
		c.closed = true
		return true
	}
	return false
}

// New returns an engine over the packages in set and starts its workers.
// Close it to stop them.
func New(set *mechs.Set, opts ...Option) *Engine {
	c := config{workers: runtime.GOMAXPROCS(0), depth: 4096, ioWorkers: 64, ioTimeout: 30 * time.Second}
	for _, o := range opts {
		o(&c)
	}
	c.workers = max(c.workers, 1)
	c.depth = max(c.depth, 1)
	c.ioWorkers = max(c.ioWorkers, 1)
	if c.ioTimeout <= 0 {
		c.ioTimeout = 30 * time.Second
	}
	tag := uint8(rand.N(255) + 1)
	e := &Engine{
		set: set,
		cfg: c,
		// Every admitted leg sits in at most one of the two queues at a
		// time, and at most depth legs are admitted, so neither queue can
		// refuse a leg that was admitted.
		cpu:    queue.New(queue.WithWorkers(c.workers), queue.WithDepth(c.depth)),
		io:     queue.New(queue.WithWorkers(c.ioWorkers), queue.WithDepth(c.depth)),
		creds:  newTable[credEntry](tag),
		ctxs:   newTable[ctxEntry](tag),
		idle:   make(chan struct{}),
		closed: make(chan struct{}),
	}
	e.base, e.cancelBase = context.WithCancel(context.Background())
	return e
}

// enter admits a leg unless Close has begun.
func (e *Engine) enter() bool {
	if e.state.Add(1)&closedBit != 0 {
		e.leave()
		return false
	}
	return true
}

// leave ends a leg admitted by enter.
func (e *Engine) leave() {
	if e.state.Add(-1) == closedBit {
		e.idleOnce.Do(func() { close(e.idle) })
	}
}

func (e *Engine) closing() bool { return e.state.Load()&closedBit != 0 }

// Close ends the engine. New calls are refused with StatusClosed; every
// pending leg gets a final status (StatusClosed for those queued or waiting
// on I/O, whose I/O contexts are cancelled; a step already running finishes
// first); synchronous calls in progress have their I/O cancelled; then every
// security context and credential still open is closed. Close returns when
// all of that is done and every goroutine the engine started has exited. It
// is safe to call more than once; it must not be called from a notify
// callback or a mechanism.
func (e *Engine) Close() error {
	e.closeOnce.Do(func() {
		defer close(e.closed)
		if e.state.Or(closedBit) == 0 {
			e.idleOnce.Do(func() { close(e.idle) })
		}
		e.cancelBase()
		// Queued legs are completed by their Cancel hooks; running steps
		// that ask for I/O reach the I/O queue, whose context is already
		// cancelled; I/O that returns finds the CPU queue closed and
		// completes its leg.
		e.cpu.Close()
		e.io.Close()
		<-e.idle
		for _, ent := range e.ctxs.removeAll() {
			ent.mu.Lock()
			ent.deleted = true
			closeNow := ent.closeIfIdleLocked()
			ent.mu.Unlock()
			if closeNow {
				safeClose(ent.sc)
			}
		}
		for _, ce := range e.creds.removeAll() {
			safeCredClose(ce.cred)
		}
	})
	<-e.closed
	return nil
}

// CreateAsyncContext returns a new async context (SspiCreateAsyncContext).
// It reads StatusIdle until a call is queued on it.
func (e *Engine) CreateAsyncContext() *AsyncContext {
	return &AsyncContext{e: e}
}

// FreeAsyncContext releases ac (SspiFreeAsyncContext); nil is allowed. It may
// be called from ac's own notify callback. Windows forbids freeing a context
// whose call is pending; here that cancels the call, which still completes
// (and calls its callback) once. A freed context refuses new calls.
func (e *Engine) FreeAsyncContext(ac *AsyncContext) {
	if ac == nil {
		return
	}
	ac.mu.Lock()
	ac.freed = true
	ac.mu.Unlock()
	ac.Cancel()
}

// engineResult is a failed leg the engine ends itself.
func engineResult(code status.Code, cause error) mechs.StepResult {
	return mechs.StepResult{Status: code, Err: status.New(code, "", cause)}
}

func abortResult(reason uint32) mechs.StepResult {
	if reason == abortDelete {
		return engineResult(StatusContextDeleted, ErrContextDeleted)
	}
	return engineResult(StatusCancelled, ErrCancelled)
}

// begin admits an asynchronous leg and claims ac for it. On success the
// caller owns ac's leg fields until it calls submit or abandon.
func (e *Engine) begin(ac *AsyncContext) (uint64, status.Code) {
	if ac == nil || ac.e != e {
		return 0, StatusBadArgument
	}
	if !e.enter() {
		return 0, StatusClosed
	}
	if e.inflight.Add(1) > int64(e.cfg.depth) {
		e.inflight.Add(-1)
		e.leave()
		return 0, StatusQueueFull
	}
	ac.mu.Lock()
	defer ac.mu.Unlock()
	switch {
	case ac.freed:
		e.inflight.Add(-1)
		e.leave()
		return 0, StatusBadArgument
	case ac.active:
		e.inflight.Add(-1)
		e.leave()
		return 0, StatusBusy
	}
	// The previous call's outputs and status stay readable until submit;
	// a call refused before then leaves them as they were.
	ac.active = true
	ac.seq++
	ac.abort.Store(abortNone)
	ac.done = nil
	return ac.seq, status.SEC_E_OK
}

// abandon undoes begin for a call refused before it was queued. With
// wiped, submit had already cleared the previous outputs, and ac reads
// StatusIdle; otherwise it reads what it read before the call.
func (e *Engine) abandon(ac *AsyncContext, wiped bool) {
	ac.mu.Lock()
	ac.active = false
	if ac.done == nil {
		// Done always returns a closed channel when no call is pending.
		ac.done = make(chan struct{})
		close(ac.done)
	} else {
		close(ac.done) // made by Done during the refused call
	}
	if wiped {
		ac.resetOutputsLocked()
		ac.st.Store(encode(StatusIdle))
	}
	ac.mu.Unlock()
	e.inflight.Add(-1)
	e.leave()
}

// submit clears the previous call's outputs, publishes
// SEC_I_ASYNC_CALL_PENDING, and queues the leg whose fields the caller has
// set.
func (e *Engine) submit(ac *AsyncContext) status.Code {
	ac.mu.Lock()
	ac.res = mechs.StepResult{}
	ac.outCtx, ac.outCred = 0, 0
	ac.st.Store(encode(status.SEC_I_ASYNC_CALL_PENDING))
	ac.mu.Unlock()
	// The channel send inside TrySubmit orders every leg field written
	// above before the worker's reads.
	err := e.cpu.TrySubmit((*legTask)(ac))
	if err == nil {
		return status.SEC_E_OK
	}
	// Only a Close racing with this call gets here (admission keeps the
	// queue from filling). Nothing ran: undo.
	if ent := ac.ent; ent != nil {
		e.releaseEntry(ent)
	}
	e.abandon(ac, true)
	if errors.Is(err, queue.ErrFull) {
		return StatusQueueFull
	}
	return StatusClosed
}

// claimEntry marks ent busy with a leg (ac, seq), or with a synchronous leg
// when ac is nil.
func (ent *ctxEntry) claim(ac *AsyncContext, seq uint64) status.Code {
	ent.mu.Lock()
	defer ent.mu.Unlock()
	switch {
	case ent.deleted:
		return status.SEC_E_INVALID_HANDLE
	case ent.busy || ent.msgs > 0:
		return StatusBusy
	}
	ent.busy, ent.leg, ent.legSeq = true, ac, seq
	return status.SEC_E_OK
}

// releaseEntry ends a leg's hold on ent and reports whether ent was deleted
// meanwhile. It closes the mechanism's context if it was.
func (e *Engine) releaseEntry(ent *ctxEntry) (deleted bool) {
	ent.mu.Lock()
	ent.busy, ent.leg, ent.syncCancel = false, nil, nil
	deleted = ent.deleted
	closeNow := ent.closeIfIdleLocked()
	ent.mu.Unlock()
	if closeNow {
		safeClose(ent.sc)
	}
	return deleted
}

// lookupHandshake resolves the handles of an Initialize or Accept call: the
// security context of a later leg, or the credential of a first leg.
func (e *Engine) lookupHandshake(initiator bool, cred secctx.CredHandle, h secctx.CtxtHandle) (*ctxEntry, *credEntry, status.Code) {
	if h != 0 {
		ent, st := e.ctxs.get(uint64(h))
		if st != status.SEC_E_OK {
			return nil, nil, st
		}
		if ent.initiator != initiator {
			return nil, nil, status.SEC_E_INVALID_HANDLE
		}
		return ent, nil, status.SEC_E_OK
	}
	ce, st := e.creds.get(uint64(cred))
	if st != status.SEC_E_OK {
		return nil, nil, st
	}
	return nil, ce, status.SEC_E_OK
}

// buildInput turns pInput into a step's input. It keeps input, which the
// caller must leave unchanged until the leg completes, as on Windows.
func buildInput(input []secctx.Buffer) (mechs.StepInput, status.Code) {
	in := mechs.StepInput{Token: secctx.Token(input), Buffers: input}
	if i := secctx.Find(input, secctx.SECBUFFER_CHANNEL_BINDINGS); i >= 0 {
		b, err := secctx.ParseChannelBindings(input[i].Data)
		if err != nil {
			return in, StatusBadArgument
		}
		in.Bindings = b
	}
	return in, status.SEC_E_OK
}

// queueHandshake is the common part of the asynchronous Initialize and
// Accept calls.
func (e *Engine) queueHandshake(ac *AsyncContext, kind legKind, cred secctx.CredHandle, h secctx.CtxtHandle,
	input []secctx.Buffer, target string, isc secctx.ISCReq, asc secctx.ASCReq) status.Code {
	if e.closing() {
		return StatusClosed // before the handle lookups: Close empties the tables
	}
	in, st := buildInput(input)
	if st != status.SEC_E_OK {
		return st
	}
	ent, ce, st := e.lookupHandshake(kind == legInit, cred, h)
	if st != status.SEC_E_OK {
		return st
	}
	seq, st := e.begin(ac)
	if st != status.SEC_E_OK {
		return st
	}
	if ent != nil {
		if st := ent.claim(ac, seq); st != status.SEC_E_OK {
			e.abandon(ac, false)
			return st
		}
		ac.pkgName = ent.pkg
	} else {
		ac.pkgName = ce.pkg.Name()
	}
	ac.kind, ac.ent, ac.cred, ac.in = kind, ent, ce, in
	ac.target, ac.iscReq, ac.ascReq = target, isc, asc
	return e.submit(ac)
}

// AcquireCredentialsHandleAsync queues AcquireCredentialsHandle
// (SspiAcquireCredentialsHandleAsync). The result is ac.CredHandle and
// ac.Expiry; a package not in the engine's Set completes with
// SEC_E_SECPKG_NOT_FOUND. The return value is the queuing status only.
func (e *Engine) AcquireCredentialsHandleAsync(ac *AsyncContext, principal, pkg string, use secctx.CredentialUse, authData any) status.Code {
	if _, st := e.begin(ac); st != status.SEC_E_OK {
		return st
	}
	ac.kind, ac.target, ac.pkgName, ac.use, ac.authData = legAcquire, principal, pkg, use, authData
	return e.submit(ac)
}

// InitializeSecurityContextAsync queues one client leg
// (SspiInitializeSecurityContextAsync). On the first leg pass h = 0 and a
// credential; later legs pass the handle from ac.ContextHandle (cred is then
// ignored) and the server's token in input. The result is in ac (Status,
// Token, ContextHandle, Flags, Expiry, Missing, Extra, Err). input must stay
// unchanged until the leg completes. The return value is the queuing status
// only: SEC_E_OK, StatusBusy, StatusQueueFull, StatusClosed,
// StatusBadArgument or SEC_E_INVALID_HANDLE.
func (e *Engine) InitializeSecurityContextAsync(ac *AsyncContext, cred secctx.CredHandle, h secctx.CtxtHandle, target string, req secctx.ISCReq, input []secctx.Buffer) status.Code {
	return e.queueHandshake(ac, legInit, cred, h, input, target, req, 0)
}

// AcceptSecurityContextAsync queues one server leg
// (SspiAcceptSecurityContextAsync); otherwise as
// InitializeSecurityContextAsync.
func (e *Engine) AcceptSecurityContextAsync(ac *AsyncContext, cred secctx.CredHandle, h secctx.CtxtHandle, input []secctx.Buffer, req secctx.ASCReq) status.Code {
	return e.queueHandshake(ac, legAccept, cred, h, input, "", 0, req)
}

// DeleteSecurityContextAsync queues DeleteSecurityContext
// (SspiDeleteSecurityContextAsync). It completes with SEC_E_OK (also for a
// handle already deleted) or SEC_E_INVALID_HANDLE. A notify callback is
// optional, as on Windows for this call only.
func (e *Engine) DeleteSecurityContextAsync(ac *AsyncContext, h secctx.CtxtHandle) status.Code {
	if _, st := e.begin(ac); st != status.SEC_E_OK {
		return st
	}
	ac.kind, ac.delH = legDelete, h
	return e.submit(ac)
}

// FreeCredentialsHandleAsync queues FreeCredentialsHandle
// (SspiFreeCredentialsHandleAsync). It completes with SEC_E_OK (also for a
// handle already freed) or SEC_E_INVALID_HANDLE.
func (e *Engine) FreeCredentialsHandleAsync(ac *AsyncContext, cred secctx.CredHandle) status.Code {
	if _, st := e.begin(ac); st != status.SEC_E_OK {
		return st
	}
	ac.kind, ac.freeH = legFree, cred
	return e.submit(ac)
}

// legTask and ioTask are AsyncContext under other method sets, so a leg is
// queued as a pointer in an interface: no allocation.
type (
	legTask AsyncContext
	ioTask  AsyncContext
)

// Run runs the leg's next step on a CPU worker.
func (t *legTask) Run() {
	ac := (*AsyncContext)(t)
	ac.e.runLeg(ac)
}

// Cancel completes a leg the closing CPU queue will never run.
func (t *legTask) Cancel() {
	ac := (*AsyncContext)(t)
	ac.e.complete(ac, engineResult(StatusClosed, ErrClosed))
}

// Run performs the leg's I/O on an I/O goroutine.
func (t *ioTask) Run() {
	ac := (*AsyncContext)(t)
	ac.e.runIO(ac)
}

// Cancel completes a leg whose I/O the closing I/O queue will never run.
func (t *ioTask) Cancel() {
	ac := (*AsyncContext)(t)
	ac.e.complete(ac, engineResult(StatusClosed, ErrClosed))
}

// runLeg runs on a CPU worker, which owns the leg until it completes it or
// hands it to the I/O queue.
func (e *Engine) runLeg(ac *AsyncContext) {
	if reason := ac.abort.Load(); reason != abortNone {
		e.complete(ac, abortResult(reason))
		return
	}
	switch ac.kind {
	case legAcquire:
		h, r := e.acquire(ac.target, ac.pkgName, ac.use, ac.authData)
		ac.outCred = h
		e.complete(ac, r)
		return
	case legDelete:
		st := e.DeleteSecurityContext(ac.delH)
		e.complete(ac, codeResult(st))
		return
	case legFree:
		st := e.FreeCredentialsHandle(ac.freeH)
		e.complete(ac, codeResult(st))
		return
	}
	sc := ac.sc
	if ac.ent != nil {
		sc = ac.ent.sc
	} else if sc == nil {
		var r mechs.StepResult
		sc, r = newSecurityContext(ac.kind == legInit, ac.cred, ac.target, ac.iscReq, ac.ascReq)
		if sc == nil {
			e.complete(ac, r)
			return
		}
		ac.sc = sc
	}
	r := safeStep(sc, &ac.in, ac.pkgName)
	if r.IO == nil {
		e.complete(ac, r)
		return
	}
	if r.IO.Performer == nil {
		e.complete(ac, engineResult(status.SEC_E_INTERNAL_ERROR, errors.New("async: I/O request without a performer")))
		return
	}
	if reason := ac.abort.Load(); reason != abortNone {
		e.complete(ac, abortResult(reason))
		return
	}
	ac.io = r.IO
	if err := e.io.TrySubmit((*ioTask)(ac)); err != nil {
		// Closed (or, impossibly, full): the leg cannot go on.
		e.complete(ac, engineResult(StatusClosed, ErrClosed))
	}
}

// runIO runs on an I/O goroutine, which owns the leg until it requeues or
// completes it. It never holds a CPU worker.
func (e *Engine) runIO(ac *AsyncContext) {
	ctx, cancel := context.WithTimeout(e.base, e.cfg.ioTimeout)
	ac.mu.Lock()
	ac.ioCancel = cancel
	ac.mu.Unlock()
	// An abort set before ioCancel was visible did not cancel ctx.
	if ac.abort.Load() != abortNone {
		cancel()
	}
	reply, panicked, err := safeDo(ctx, ac.io)
	ac.mu.Lock()
	ac.ioCancel = nil
	ac.mu.Unlock()
	cancel()
	ac.io = nil
	switch {
	case panicked:
		e.complete(ac, engineResult(status.SEC_E_INTERNAL_ERROR, err))
		return
	case ac.abort.Load() != abortNone:
		e.complete(ac, abortResult(ac.abort.Load()))
		return
	case e.closing():
		e.complete(ac, engineResult(StatusClosed, ErrClosed))
		return
	}
	ac.in.IOReply, ac.in.IOErr = reply, err
	if err := e.cpu.TrySubmit((*legTask)(ac)); err != nil {
		e.complete(ac, engineResult(StatusClosed, ErrClosed))
	}
}

func codeResult(st status.Code) mechs.StepResult {
	if st.IsError() {
		return mechs.StepResult{Status: st, Err: st}
	}
	return mechs.StepResult{Status: st}
}

// newSecurityContext starts a first leg's context from its credential.
func newSecurityContext(initiator bool, ce *credEntry, target string, isc secctx.ISCReq, asc secctx.ASCReq) (sc mechs.SecurityContext, r mechs.StepResult) {
	name := ce.pkg.Name()
	defer func() {
		if p := recover(); p != nil {
			sc = nil
			r = engineResult(status.SEC_E_INTERNAL_ERROR, fmt.Errorf("%w %s: %v", ErrMechanismPanic, name, p))
		}
	}()
	var err error
	if initiator {
		sc, err = ce.cred.NewInitiator(mechs.InitiatorParams{Target: target, Req: isc})
	} else {
		sc, err = ce.cred.NewAcceptor(mechs.AcceptorParams{Req: asc})
	}
	if err != nil || sc == nil {
		if err == nil {
			err = errors.New("security package returned no context")
		}
		return nil, mechs.StepResult{Status: status.CodeOf(err), Err: err}
	}
	return sc, mechs.StepResult{}
}

// safeStep calls Step, turning a panic into SEC_E_INTERNAL_ERROR.
func safeStep(sc mechs.SecurityContext, in *mechs.StepInput, pkg string) (r mechs.StepResult) {
	defer func() {
		if p := recover(); p != nil {
			r = mechs.StepResult{Status: status.SEC_E_INTERNAL_ERROR,
				Err: status.New(status.SEC_E_INTERNAL_ERROR, pkg, fmt.Errorf("%w: %v", ErrMechanismPanic, p))}
		}
	}()
	return sc.Step(in)
}

// safeDo performs an I/O request, turning a panic into an error.
func safeDo(ctx context.Context, io *mechs.IORequest) (reply []byte, panicked bool, err error) {
	defer func() {
		if p := recover(); p != nil {
			reply, panicked, err = nil, true, fmt.Errorf("%w: I/O for %q: %v", ErrMechanismPanic, io.Realm, p)
		}
	}()
	if !io.Deadline.IsZero() {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, io.Deadline)
		defer cancel()
	}
	reply, err = io.Performer.Perform(ctx, io)
	return reply, false, err
}

func safeClose(sc mechs.SecurityContext) {
	defer func() { _ = recover() }()
	sc.Close()
}

func safeCredClose(c mechs.Credential) {
	defer func() { _ = recover() }()
	_ = c.Close()
}

// settle decides what a finished Initialize or Accept leg leaves behind: for
// a later leg it releases the security context (and reports the leg as
// StatusContextDeleted if the context was deleted meanwhile); for a first
// leg that succeeded it issues the new handle, and for one that failed it
// closes the mechanism's context. It returns the handle to report.
func (e *Engine) settle(initiator bool, ent *ctxEntry, sc mechs.SecurityContext, pkg string, r *mechs.StepResult) secctx.CtxtHandle {
	if ent != nil {
		if e.releaseEntry(ent) {
			*r = engineResult(StatusContextDeleted, ErrContextDeleted)
			return 0
		}
		return ent.h
	}
	if sc == nil {
		return 0
	}
	if r.Status.IsError() {
		safeClose(sc)
		return 0
	}
	ne := &ctxEntry{pkg: pkg, initiator: initiator, sc: sc}
	ne.h = secctx.CtxtHandle(e.ctxs.add(ne))
	return ne.h
}

// normalize makes a mechanism's result fit to publish: a pending status is
// not a final one, and a failure carries a *status.Error.
func normalize(r *mechs.StepResult, pkg string) {
	if r.Status == status.SEC_I_ASYNC_CALL_PENDING {
		*r = mechs.StepResult{Status: status.SEC_E_INTERNAL_ERROR,
			Err: status.Errorf(status.SEC_E_INTERNAL_ERROR, pkg, "security package returned SEC_I_ASYNC_CALL_PENDING as a result")}
	}
	if !r.Status.IsError() {
		r.Err = nil
		return
	}
	if se, ok := r.Err.(*status.Error); ok && se.Code == r.Status {
		return
	}
	cause := r.Err
	if c, ok := cause.(status.Code); ok && c == r.Status {
		cause = nil
	}
	r.Err = status.New(r.Status, pkg, cause)
}

// complete finishes an asynchronous leg, exactly once: the goroutine that
// owns the leg calls it and then lets go of the leg.
func (e *Engine) complete(ac *AsyncContext, r mechs.StepResult) {
	if ac.kind == legInit || ac.kind == legAccept {
		ac.outCtx = e.settle(ac.kind == legInit, ac.ent, ac.sc, ac.pkgName, &r)
	}
	normalize(&r, ac.pkgName)
	r.IO = nil
	ac.mu.Lock()
	ac.res = r
	ac.in = mechs.StepInput{}
	ac.ent, ac.cred, ac.sc, ac.authData = nil, nil, nil, nil
	ac.active = false
	d, cq, cb, data := ac.done, ac.cq, ac.cb, ac.cbData
	// Publication: every output above is written before this store, and a
	// reader that loads the final status synchronizes with it.
	ac.st.Store(encode(r.Status))
	ac.mu.Unlock()
	if d != nil {
		close(d)
	}
	if cq != nil {
		cq.push(ac)
	}
	if cb != nil {
		cb(ac, data)
	}
	e.inflight.Add(-1)
	e.leave()
}
