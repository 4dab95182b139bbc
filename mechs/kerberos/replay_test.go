package kerberos

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asyncsspi/asyncsspi/async"
	secctx "github.com/asyncsspi/asyncsspi/context"
	"github.com/asyncsspi/asyncsspi/mechs"
	"github.com/asyncsspi/asyncsspi/replay"
	"github.com/asyncsspi/asyncsspi/status"
)

// Replay protection belongs to the service, not to a credential handle
// (issue 11): an AP-REQ accepted once is refused by every other acceptor
// credential for the same keys, by the package's default cache across
// packages, and after the credential is freed and acquired again.

// apReq makes one initial context token for testSPN.
func (e *testEnv) apReq(t *testing.T) []byte {
	t.Helper()
	ic, err := e.initCred().NewInitiator(mechs.InitiatorParams{Target: testSPN, Req: secctx.ISC_REQ_MUTUAL_AUTH})
	if err != nil {
		t.Fatal(err)
	}
	r := step(t, ic, &mechs.StepInput{})
	wantStatus(t, r, status.SEC_I_CONTINUE_NEEDED)
	return r.Token
}

// acquireKeytab acquires an inbound credential from pkg over the env's
// keytab, as a caller does.
func (e *testEnv) acquireKeytab(t *testing.T, pkg *Package) mechs.Credential {
	t.Helper()
	cred, err := pkg.AcquireCredentials(mechs.CredentialRequest{Use: secctx.SECPKG_CRED_INBOUND, AuthData: &Keytab{Keytab: e.kt}})
	if err != nil {
		t.Fatal(err)
	}
	return cred
}

// wantReplayRefused accepts tok on cred with ASC_REQ_EXTENDED_ERROR and
// wants it refused as a replay: SEC_E_LOGON_DENIED whose cause is
// replay.ErrReplay, and a KRB-ERROR token with KRB_AP_ERR_REPEAT.
func wantReplayRefused(t *testing.T, cred mechs.Credential, tok []byte) {
	t.Helper()
	ac, err := cred.NewAcceptor(mechs.AcceptorParams{Req: secctx.ASC_REQ_EXTENDED_ERROR})
	if err != nil {
		t.Fatal(err)
	}
	r := ac.Step(&mechs.StepInput{Token: tok})
	wantStatus(t, r, status.SEC_E_LOGON_DENIED)
	if !errors.Is(r.Err, replay.ErrReplay) {
		t.Fatalf("cause %v does not match replay.ErrReplay", r.Err)
	}
	if code := krbErrorCode(t, r.Token); code != krbAPErrRepeat {
		t.Fatalf("KRB-ERROR %d, want KRB_AP_ERR_REPEAT (34)", code)
	}
}

// krbErrorCode reads the error-code of a framed KRB-ERROR token.
func krbErrorCode(t *testing.T, tok []byte) int32 {
	t.Helper()
	tokID, inner, err := parseGSS(tok)
	if err != nil || tokID != tokKRBError {
		t.Fatalf("not a KRB-ERROR token: %x %v", tokID, err)
	}
	ke, err := parseKRBError(inner)
	if err != nil {
		t.Fatal(err)
	}
	return ke.Code
}

func TestReplayToAnotherCredential(t *testing.T) {
	e := newTestEnv(t)
	tok := e.apReq(t)
	first := e.acquireKeytab(t, e.pkg)
	ac, _ := first.NewAcceptor(mechs.AcceptorParams{})
	wantStatus(t, ac.Step(&mechs.StepInput{Token: tok}), status.SEC_E_OK)
	wantReplayRefused(t, e.acquireKeytab(t, e.pkg), tok)
	// A credential restricted to the service principal shares it too.
	only, err := e.pkg.AcquireCredentials(mechs.CredentialRequest{Principal: testSPN, Use: secctx.SECPKG_CRED_INBOUND, AuthData: &Keytab{Keytab: e.kt}})
	if err != nil {
		t.Fatal(err)
	}
	wantReplayRefused(t, only, tok)
}

func TestReplayAfterFreeAndReacquire(t *testing.T) {
	e := newTestEnv(t)
	tok := e.apReq(t)
	cred := e.acquireKeytab(t, e.pkg)
	ac, _ := cred.NewAcceptor(mechs.AcceptorParams{})
	wantStatus(t, ac.Step(&mechs.StepInput{Token: tok}), status.SEC_E_OK)
	if err := cred.Close(); err != nil {
		t.Fatal(err)
	}
	wantReplayRefused(t, e.acquireKeytab(t, e.pkg), tok)
}

// TestReplayAcrossPackagesByDefault: two Packages made without
// WithReplayCache share the process's cache.
func TestReplayAcrossPackagesByDefault(t *testing.T) {
	e := newTestEnv(t)
	e.now = time.Now() // the packages below use the real clock
	e.src.tickets[testSPN] = e.ticket()
	tok := e.apReq(t)
	ac, _ := e.acquireKeytab(t, New()).NewAcceptor(mechs.AcceptorParams{})
	wantStatus(t, ac.Step(&mechs.StepInput{Token: tok}), status.SEC_E_OK)
	wantReplayRefused(t, e.acquireKeytab(t, New()), tok)
	if DefaultReplayCache() != DefaultReplayCache() {
		t.Fatal("two default caches")
	}
}

// remoteMemory is a replay cache "on another host": a Memory behind
// Perform, which the engine calls on its I/O side.
type remoteMemory struct {
	*replay.Memory
	calls atomic.Int32
	fail  error
}

func (r *remoteMemory) Perform(ctx context.Context, req *mechs.IORequest) ([]byte, error) {
	r.calls.Add(1)
	if r.fail != nil {
		return nil, r.fail
	}
	e, now, err := replay.ParseRequest(req.Message)
	if err != nil {
		return nil, err
	}
	return nil, r.Insert(ctx, e, now)
}

// TestRemoteReplayCache: an acceptor facing a cache that is an
// IOPerformer asks it through an IORequest of kind IOReplayCache (never
// shared, never from Step) and decides on the answer in its next Step.
func TestRemoteReplayCache(t *testing.T) {
	remote := &remoteMemory{Memory: replay.NewMemory()}
	e := newTestEnv(t, WithReplayCache(remote))
	tok := e.apReq(t)
	cred := e.acceptCred("")
	ac, _ := cred.NewAcceptor(mechs.AcceptorParams{})
	r := ac.Step(&mechs.StepInput{Token: tok})
	if r.IO == nil || r.IO.Kind != mechs.IOReplayCache || r.IO.Key != "" || r.IO.Performer != remote || r.IO.Realm != testRealm {
		t.Fatalf("no replay-cache IORequest: %+v", r)
	}
	if remote.calls.Load() != 0 || remote.Len() != 0 {
		t.Fatal("the remote cache was called from Step")
	}
	reply, err := r.IO.Performer.Perform(context.Background(), r.IO)
	r = ac.Step(&mechs.StepInput{Token: tok, IOReply: reply, IOErr: err})
	wantStatus(t, r, status.SEC_E_OK)
	if len(r.Token) == 0 || remote.Len() != 1 {
		t.Fatalf("no AP-REP after the cache's answer, or nothing recorded (%d)", remote.Len())
	}

	// The same AP-REQ again: the cache's ErrReplay comes back as the
	// leg's IOErr and is a replay.
	ac, _ = cred.NewAcceptor(mechs.AcceptorParams{Req: secctx.ASC_REQ_EXTENDED_ERROR})
	r = step(t, ac, &mechs.StepInput{Token: tok})
	wantStatus(t, r, status.SEC_E_LOGON_DENIED)
	if !errors.Is(r.Err, replay.ErrReplay) || krbErrorCode(t, r.Token) != krbAPErrRepeat {
		t.Fatalf("replay through the remote cache: %v", r.Err)
	}

	// A cache that cannot answer: refused, not accepted.
	remote.fail = errors.New("connection refused")
	ac, _ = cred.NewAcceptor(mechs.AcceptorParams{})
	r = step(t, ac, &mechs.StepInput{Token: e.apReq(t)})
	if r.Status == status.SEC_E_OK || !r.Status.IsError() || !errors.Is(r.Err, remote.fail) {
		t.Fatalf("unanswered replay check: %v %v", r.Status, r.Err)
	}

	// Close while the cache is asked wipes the waiting authenticator.
	remote.fail = nil
	ac, _ = cred.NewAcceptor(mechs.AcceptorParams{})
	if r = ac.Step(&mechs.StepInput{Token: e.apReq(t)}); r.IO == nil {
		t.Fatal("no IORequest")
	}
	pending := ac.(*acceptor).pending.Load()
	ac.Close()
	if pending == nil || !isZero(pending.plain) || ac.(*acceptor).pending.Load() != nil {
		t.Fatal("Close left the waiting authenticator")
	}
}

func isZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// TestRemoteReplayCacheThroughEngine: the engine performs the acceptor's
// replay-cache request on its I/O side and steps the leg on with the
// answer.
func TestRemoteReplayCacheThroughEngine(t *testing.T) {
	remote := &remoteMemory{Memory: replay.NewMemory()}
	e := newTestEnv(t, WithReplayCache(remote))
	eng := async.New(mechs.NewSet(e.pkg))
	defer eng.Close()
	acred, _, err := eng.AcquireCredentialsHandle("", Name, secctx.SECPKG_CRED_INBOUND, &Keytab{Keytab: e.kt})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.FreeCredentialsHandle(acred)
	tok := e.apReq(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	accept := func() (async.Result, error) {
		return eng.AcceptSecurityContext(ctx, acred, 0, []secctx.Buffer{{Type: secctx.SECBUFFER_TOKEN, Data: tok}}, secctx.ASC_REQ_EXTENDED_ERROR)
	}
	r, err := accept()
	if err != nil || r.Status != status.SEC_E_OK || len(r.Token) == 0 {
		t.Fatalf("first accept: %v %v", r.Status, err)
	}
	defer eng.DeleteSecurityContext(r.Context)
	r, err = accept()
	if r.Status != status.SEC_E_LOGON_DENIED || !errors.Is(err, replay.ErrReplay) || krbErrorCode(t, r.Token) != krbAPErrRepeat {
		t.Fatalf("replay through the engine: %v %v", r.Status, err)
	}
	if n := remote.calls.Load(); n != 2 {
		t.Fatalf("the remote cache was asked %d times, want 2", n)
	}
}
