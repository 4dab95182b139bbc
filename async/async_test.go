package async_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/asyncsspi/asyncsspi/async"
	secctx "github.com/asyncsspi/asyncsspi/context"
	"github.com/asyncsspi/asyncsspi/internal/fakemech"
	"github.com/asyncsspi/asyncsspi/mechs"
	"github.com/asyncsspi/asyncsspi/status"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fixture is an engine over one fake package and a credential for both
// directions.
type fixture struct {
	e    *async.Engine
	pkg  *fakemech.Package
	cred secctx.CredHandle
}

func newFixture(t testing.TB, script fakemech.Script, opts ...async.Option) *fixture {
	t.Helper()
	return newFixtureFromPackage(t, fakemech.New(fakemech.WithScript(script)), opts...)
}

func newFixtureFromPackage(t testing.TB, pkg *fakemech.Package, opts ...async.Option) *fixture {
	t.Helper()
	e := async.New(mechs.NewSet(pkg), opts...)
	cred, _, err := e.AcquireCredentialsHandle("alice", fakemech.Name, secctx.SECPKG_CRED_BOTH, nil)
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{e: e, pkg: pkg, cred: cred}
}

// twoLegs: the first leg continues with "tok1", the second finishes with
// "tok2" and flags 0x42.
func twoLegs(_ fakemech.Info, leg int, _ []byte) fakemech.Leg {
	if leg == 0 {
		return fakemech.Leg{Status: status.SEC_I_CONTINUE_NEEDED, Token: []byte("tok1")}
	}
	return fakemech.Leg{Status: status.SEC_E_OK, Token: []byte("tok2"), Flags: 0x42, Expiry: time.Unix(1e9, 0)}
}

func wait(t testing.TB, ac *async.AsyncContext) status.Code {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st := ac.Wait(ctx)
	if st == status.SEC_I_ASYNC_CALL_PENDING {
		t.Fatal("leg still pending after 30s")
	}
	return st
}

func TestHandshakeAsync(t *testing.T) {
	f := newFixture(t, twoLegs)
	defer f.e.Close()
	ac := f.e.CreateAsyncContext()
	if ac.Status() != async.StatusIdle || ac.Status() == status.SEC_E_OK {
		t.Fatalf("fresh async context reads %v", ac.Status())
	}
	var zero async.AsyncContext
	if zero.Status() != async.StatusIdle {
		t.Fatalf("zero async context reads %v", zero.Status())
	}
	select {
	case <-ac.Done():
	default:
		t.Fatal("Done of an idle context is not closed")
	}
	if st := f.e.InitializeSecurityContextAsync(ac, f.cred, 0, "HTTP/x", secctx.ISC_REQ_MUTUAL_AUTH, nil); st != status.SEC_E_OK {
		t.Fatalf("queue: %v", st)
	}
	if st := wait(t, ac); st != status.SEC_I_CONTINUE_NEEDED {
		t.Fatalf("leg 1: %v %v", st, ac.Err())
	}
	h := ac.ContextHandle()
	if h.IsZero() || string(ac.Token()) != "tok1" || ac.Err() != nil {
		t.Fatalf("leg 1 outputs: %v %q %v", h, ac.Token(), ac.Err())
	}
	// Queuing on a completed context reinitialises it.
	in := []secctx.Buffer{{Type: secctx.SECBUFFER_TOKEN, Data: []byte("srv")}}
	if st := f.e.InitializeSecurityContextAsync(ac, 0, h, "HTTP/x", 0, in); st != status.SEC_E_OK {
		t.Fatalf("queue leg 2: %v", st)
	}
	if st := wait(t, ac); st != status.SEC_E_OK {
		t.Fatalf("leg 2: %v", st)
	}
	if ac.ContextHandle() != h || string(ac.Token()) != "tok2" || ac.Flags() != 0x42 || !ac.Expiry().Equal(time.Unix(1e9, 0)) {
		t.Fatalf("leg 2 outputs: %v %q %#x %v", ac.ContextHandle(), ac.Token(), ac.Flags(), ac.Expiry())
	}
	if err := ac.Reinit(); err != nil || ac.Status() != async.StatusIdle || ac.Token() != nil {
		t.Fatalf("Reinit: %v, status %v", err, ac.Status())
	}
	if st := f.e.DeleteSecurityContext(h); st != status.SEC_E_OK {
		t.Fatal(st)
	}
	if st := f.e.DeleteSecurityContext(h); st != status.SEC_E_OK {
		t.Fatalf("second delete: %v, want SEC_E_OK as on Windows", st)
	}
	if st := f.e.InitializeSecurityContextAsync(ac, 0, h, "", 0, nil); st != status.SEC_E_INVALID_HANDLE {
		t.Fatalf("leg on a deleted handle: %v", st)
	}
	if f.pkg.Closed.Load() != 1 {
		t.Fatalf("mechanism contexts closed: %d", f.pkg.Closed.Load())
	}
}

func TestHandshakeSyncAndMessages(t *testing.T) {
	f := newFixture(t, twoLegs)
	defer f.e.Close()
	ctx := context.Background()
	cli, err := f.e.InitializeSecurityContext(ctx, f.cred, 0, "HTTP/x", 0, nil)
	if err != nil || cli.Status != status.SEC_I_CONTINUE_NEEDED || string(cli.Token) != "tok1" || cli.Context.IsZero() {
		t.Fatalf("client leg 1: %+v %v", cli, err)
	}
	srv, err := f.e.AcceptSecurityContext(ctx, f.cred, 0, []secctx.Buffer{{Type: secctx.SECBUFFER_TOKEN, Data: cli.Token}}, 0)
	if err != nil || srv.Status != status.SEC_I_CONTINUE_NEEDED {
		t.Fatalf("server leg 1: %+v %v", srv, err)
	}
	// An acceptor handle is not an initiator's.
	if _, err := f.e.InitializeSecurityContext(ctx, 0, srv.Context, "", 0, nil); status.CodeOf(err) != status.SEC_E_INVALID_HANDLE {
		t.Fatalf("ISC on an acceptor handle: %v", err)
	}
	cli2, err := f.e.InitializeSecurityContext(ctx, 0, cli.Context, "HTTP/x", 0, nil)
	if err != nil || cli2.Status != status.SEC_E_OK || cli2.Context != cli.Context || cli2.Flags != 0x42 {
		t.Fatalf("client leg 2: %+v %v", cli2, err)
	}
	srv2, err := f.e.AcceptSecurityContext(ctx, 0, srv.Context, nil, 0)
	if err != nil || srv2.Status != status.SEC_E_OK {
		t.Fatalf("server leg 2: %+v %v", srv2, err)
	}

	// Per-message calls go straight to the mechanism.
	msg := []byte("hello")
	sig := make([]byte, 0, 16)
	bufs := []secctx.Buffer{{Type: secctx.SECBUFFER_DATA, Data: msg}, {Type: secctx.SECBUFFER_TOKEN, Data: sig}}
	if st := f.e.MakeSignature(cli.Context, 0, bufs, 7); st != status.SEC_E_OK {
		t.Fatal(st)
	}
	if _, st := f.e.VerifySignature(srv.Context, bufs, 7); st != status.SEC_E_OK {
		t.Fatal(st)
	}
	if _, st := f.e.VerifySignature(srv.Context, bufs, 8); st != status.SEC_E_MESSAGE_ALTERED {
		t.Fatalf("wrong sequence number: %v", st)
	}
	bufs[0].Data = []byte("secret")
	bufs[1].Data = sig
	if st := f.e.EncryptMessage(cli.Context, 0, bufs, 1); st != status.SEC_E_OK || string(bufs[0].Data) == "secret" {
		t.Fatalf("encrypt: %v %q", st, bufs[0].Data)
	}
	if _, st := f.e.DecryptMessage(srv.Context, bufs, 1); st != status.SEC_E_OK || string(bufs[0].Data) != "secret" {
		t.Fatalf("decrypt: %v %q", st, bufs[0].Data)
	}
	v, st := f.e.QueryContextAttributes(cli.Context, secctx.SECPKG_ATTR_FLAGS)
	if st != status.SEC_E_OK || v.(secctx.Flags).Flags != 0x42 {
		t.Fatalf("flags attribute: %v %v", v, st)
	}
	if _, st := f.e.QueryContextAttributes(cli.Context, secctx.SECPKG_ATTR_NAMES); st != status.SEC_E_UNSUPPORTED_FUNCTION {
		t.Fatalf("unsupported attribute: %v", st)
	}
	for _, h := range []secctx.CtxtHandle{cli.Context, srv.Context} {
		f.e.DeleteSecurityContext(h)
		if st := f.e.MakeSignature(h, 0, bufs, 0); st != status.SEC_E_INVALID_HANDLE {
			t.Fatalf("sign on a deleted handle: %v", st)
		}
		if _, st := f.e.QueryContextAttributes(h, secctx.SECPKG_ATTR_SIZES); st != status.SEC_E_INVALID_HANDLE {
			t.Fatalf("query on a deleted handle: %v", st)
		}
	}
}

func TestBadHandlesAndArguments(t *testing.T) {
	f := newFixture(t, twoLegs)
	defer f.e.Close()
	ac := f.e.CreateAsyncContext()
	for _, h := range []secctx.CtxtHandle{1, 12345, 1<<63 | 1, ^secctx.CtxtHandle(0)} {
		if st := f.e.DeleteSecurityContext(h); st != status.SEC_E_INVALID_HANDLE {
			t.Errorf("delete of made-up handle %#x: %v", uint64(h), st)
		}
		if st := f.e.InitializeSecurityContextAsync(ac, 0, h, "", 0, nil); st != status.SEC_E_INVALID_HANDLE {
			t.Errorf("leg on made-up handle %#x: %v", uint64(h), st)
		}
		if _, st := f.e.DecryptMessage(h, nil, 0); st != status.SEC_E_INVALID_HANDLE {
			t.Errorf("decrypt on made-up handle: %v", st)
		}
	}
	if st := f.e.InitializeSecurityContextAsync(ac, 0, 0, "", 0, nil); st != status.SEC_E_INVALID_HANDLE {
		t.Errorf("first leg without a credential: %v", st)
	}
	if st := f.e.FreeCredentialsHandle(7); st != status.SEC_E_INVALID_HANDLE {
		t.Errorf("free of made-up credential: %v", st)
	}
	if st := f.e.InitializeSecurityContextAsync(nil, f.cred, 0, "", 0, nil); st != async.StatusBadArgument {
		t.Errorf("nil async context: %v", st)
	}
	var foreign async.AsyncContext
	if st := f.e.InitializeSecurityContextAsync(&foreign, f.cred, 0, "", 0, nil); st != async.StatusBadArgument {
		t.Errorf("zero async context: %v", st)
	}
	bad := []secctx.Buffer{{Type: secctx.SECBUFFER_CHANNEL_BINDINGS, Data: []byte{1, 2, 3}}}
	if st := f.e.InitializeSecurityContextAsync(ac, f.cred, 0, "", 0, bad); st != async.StatusBadArgument {
		t.Errorf("malformed bindings: %v", st)
	}
	if ac.Status() != async.StatusIdle {
		t.Errorf("refused calls changed the status to %v", ac.Status())
	}
	// Unknown package: a final status, not a queuing one.
	if st := f.e.AcquireCredentialsHandleAsync(ac, "", "Digest", secctx.SECPKG_CRED_OUTBOUND, nil); st != status.SEC_E_OK {
		t.Fatal(st)
	}
	if st := wait(t, ac); st != status.SEC_E_SECPKG_NOT_FOUND {
		t.Errorf("unknown package: %v", st)
	}
	var se *status.Error
	if !errors.As(ac.Err(), &se) || se.Code != status.SEC_E_SECPKG_NOT_FOUND {
		t.Errorf("Err = %v", ac.Err())
	}
	// Async acquire, free and delete.
	if st := f.e.AcquireCredentialsHandleAsync(ac, "bob", "fake", secctx.SECPKG_CRED_OUTBOUND, nil); st != status.SEC_E_OK || wait(t, ac) != status.SEC_E_OK || ac.CredHandle().IsZero() {
		t.Fatalf("async acquire: %v %v", ac.Status(), ac.Err())
	}
	c := ac.CredHandle()
	if st := f.e.FreeCredentialsHandleAsync(ac, c); st != status.SEC_E_OK || wait(t, ac) != status.SEC_E_OK {
		t.Fatal("async free")
	}
	if st := f.e.FreeCredentialsHandle(c); st != status.SEC_E_OK {
		t.Errorf("second free: %v", st)
	}
	if st := f.e.DeleteSecurityContextAsync(ac, 99); st != status.SEC_E_OK || wait(t, ac) != status.SEC_E_INVALID_HANDLE {
		t.Errorf("async delete of a made-up handle: %v", ac.Status())
	}
	if _, err := f.e.InitializeSecurityContext(context.Background(), f.cred, 0, "", 0, bad); status.CodeOf(err) != async.StatusBadArgument {
		t.Errorf("sync, malformed bindings: %v", err)
	}
}

func TestAcceptIncompleteAndAcquireFailure(t *testing.T) {
	f := newFixture(t, func(info fakemech.Info, _ int, in []byte) fakemech.Leg {
		if len(in) < 4 {
			return fakemech.Leg{Status: status.SEC_E_INCOMPLETE_MESSAGE, Missing: 4 - len(in)}
		}
		return fakemech.Leg{Status: status.SEC_E_OK, Token: []byte("accepted"), Extra: len(in) - 4}
	})
	defer f.e.Close()
	ac := f.e.CreateAsyncContext()
	short := []secctx.Buffer{{Type: secctx.SECBUFFER_TOKEN, Data: []byte("ab")}, {Type: secctx.SECBUFFER_EMPTY}}
	if st := f.e.AcceptSecurityContextAsync(ac, f.cred, 0, short, secctx.ASC_REQ_CONFIDENTIALITY); st != status.SEC_E_OK {
		t.Fatal(st)
	}
	if st := wait(t, ac); st != status.SEC_E_INCOMPLETE_MESSAGE || ac.Missing() != 2 || !ac.ContextHandle().IsZero() {
		t.Fatalf("short token: %v missing %d handle %v", st, ac.Missing(), ac.ContextHandle())
	}
	long := []secctx.Buffer{{Type: secctx.SECBUFFER_TOKEN, Data: []byte("abcdef")}}
	f.e.AcceptSecurityContextAsync(ac, f.cred, 0, long, 0)
	if st := wait(t, ac); st != status.SEC_E_OK || ac.Extra() != 2 || string(ac.Token()) != "accepted" {
		t.Fatalf("long token: %v extra %d", st, ac.Extra())
	}
	f.e.DeleteSecurityContext(ac.ContextHandle())
	if len(f.e.Packages()) != 1 {
		t.Fatal("Packages")
	}

	pkg := fakemech.New(fakemech.WithName("Broken"), fakemech.WithAcquireError(status.Errorf(status.SEC_E_NO_CREDENTIALS, "Broken", "no keytab")))
	e := async.New(mechs.NewSet(pkg))
	defer e.Close()
	if _, _, err := e.AcquireCredentialsHandle("", "broken", secctx.SECPKG_CRED_INBOUND, nil); status.CodeOf(err) != status.SEC_E_NO_CREDENTIALS {
		t.Fatalf("sync acquire: %v", err)
	}
	ac2 := e.CreateAsyncContext()
	e.AcquireCredentialsHandleAsync(ac2, "", "Broken", secctx.SECPKG_CRED_INBOUND, nil)
	if st := wait(t, ac2); st != status.SEC_E_NO_CREDENTIALS || !ac2.CredHandle().IsZero() {
		t.Fatalf("async acquire: %v", st)
	}
}
