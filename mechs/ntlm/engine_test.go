package ntlm_test

import (
	"runtime"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/asyncsspi/asyncsspi/async"
	secctx "github.com/asyncsspi/asyncsspi/context"
	"github.com/asyncsspi/asyncsspi/mechs"
	"github.com/asyncsspi/asyncsspi/mechs/ntlm"
	"github.com/asyncsspi/asyncsspi/status"
)

// The engine starts goroutines; none may outlive a test.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func newEngine(t *testing.T) (*async.Engine, secctx.CredHandle, secctx.CredHandle) {
	t.Helper()
	users := ntlm.NewMemoryStore()
	users.AddPassword("EXAMPLE", "alice", "Secret1!")
	e := async.New(mechs.NewSet(ntlm.New(ntlm.WithUserStore(users))), async.WithWorkers(2))
	t.Cleanup(func() { e.Close() })
	server, _, err := e.AcquireCredentialsHandle("", "NTLM", secctx.SECPKG_CRED_INBOUND, nil)
	if err != nil {
		t.Fatal(err)
	}
	return e, 0, server
}

// poll waits for a queued leg the way an event loop does: by reading the
// status (one atomic load) until it is no longer pending.
func poll(ac *async.AsyncContext) status.Code {
	for ac.Status() == status.SEC_I_ASYNC_CALL_PENDING {
		runtime.Gosched()
	}
	return ac.Status()
}

func tokenIn(tok []byte) []secctx.Buffer {
	if tok == nil {
		return nil
	}
	return []secctx.Buffer{{Type: secctx.SECBUFFER_TOKEN, Data: tok}}
}

// engineHandshake runs all legs through the engine, polled; it returns
// both context handles and the acceptor's final status.
func engineHandshake(t *testing.T, e *async.Engine, client, server secctx.CredHandle) (secctx.CtxtHandle, secctx.CtxtHandle, *async.AsyncContext) {
	t.Helper()
	cac, sac := e.CreateAsyncContext(), e.CreateAsyncContext()
	t.Cleanup(func() { e.FreeAsyncContext(cac); e.FreeAsyncContext(sac) })
	var ch, sh secctx.CtxtHandle
	var tok []byte
	for {
		if st := e.InitializeSecurityContextAsync(cac, client, ch, "HTTP/web.example.com", secctx.ISC_REQ_CONFIDENTIALITY|secctx.ISC_REQ_INTEGRITY, tokenIn(tok)); st != status.SEC_E_OK {
			t.Fatalf("initialize not queued: %v", st)
		}
		cst := poll(cac)
		if cst.IsError() {
			t.Fatalf("initialize: %v %v", cst, cac.Err())
		}
		ch = cac.ContextHandle()
		if st := e.AcceptSecurityContextAsync(sac, server, sh, tokenIn(cac.Token()), 0); st != status.SEC_E_OK {
			t.Fatalf("accept not queued: %v", st)
		}
		sst := poll(sac)
		if sst.IsError() || sst == status.SEC_E_OK {
			return ch, sac.ContextHandle(), sac
		}
		sh = sac.ContextHandle()
		tok = sac.Token()
	}
}

// aliceCredential acquires alice's outbound credential on e and returns its
// handle and expiry.
func aliceCredential(t *testing.T, e *async.Engine) (secctx.CredHandle, time.Time) {
	t.Helper()
	client, expiry, err := e.AcquireCredentialsHandle("", "NTLM", secctx.SECPKG_CRED_OUTBOUND,
		&secctx.AuthIdentity{User: "alice", Domain: "EXAMPLE", Password: "Secret1!"})
	if err != nil {
		t.Fatal(err)
	}
	return client, expiry
}

func TestEngineHandshakePolled(t *testing.T) {
	e, _, server := newEngine(t)
	client, _ := aliceCredential(t, e)
	ch, sh, sac := engineHandshake(t, e, client, server)
	if sac.Status() != status.SEC_E_OK {
		t.Fatalf("accept: %v %v", sac.Status(), sac.Err())
	}
	names, st := e.QueryContextAttributes(sh, secctx.SECPKG_ATTR_NAMES)
	if st != status.SEC_E_OK || names.(secctx.Names).UserName != `EXAMPLE\alice` {
		t.Fatalf("names %v %v", names, st)
	}
	msg := []secctx.Buffer{{Type: secctx.SECBUFFER_TOKEN, Data: make([]byte, 0, 16)}, {Type: secctx.SECBUFFER_DATA, Data: []byte("through the engine")}}
	if st := e.EncryptMessage(ch, 0, msg, 0); st != status.SEC_E_OK {
		t.Fatal(st)
	}
	if _, st := e.DecryptMessage(sh, msg, 0); st != status.SEC_E_OK || string(msg[1].Data) != "through the engine" {
		t.Fatalf("decrypt %v %q", st, msg[1].Data)
	}
	msg = []secctx.Buffer{{Type: secctx.SECBUFFER_TOKEN, Data: make([]byte, 0, 16)}, {Type: secctx.SECBUFFER_DATA, Data: []byte("signed")}}
	if st := e.MakeSignature(sh, 0, msg, 0); st != status.SEC_E_OK {
		t.Fatal(st)
	}
	if _, st := e.VerifySignature(ch, msg, 0); st != status.SEC_E_OK {
		t.Fatal(st)
	}
	e.DeleteSecurityContext(ch)
	e.DeleteSecurityContext(sh)
}

func TestEngineWrongPassword(t *testing.T) {
	e, _, server := newEngine(t)
	client, _, err := e.AcquireCredentialsHandle(`EXAMPLE\alice`, "NTLM", secctx.SECPKG_CRED_OUTBOUND,
		&secctx.AuthIdentity{User: `EXAMPLE\alice`, Password: "wrong"})
	if err != nil {
		t.Fatal(err)
	}
	_, _, sac := engineHandshake(t, e, client, server)
	if sac.Status() != status.SEC_E_LOGON_DENIED {
		t.Fatalf("accept: %v %v", sac.Status(), sac.Err())
	}
}

func TestEngineTruncated(t *testing.T) {
	e, _, server := newEngine(t)
	ac := e.CreateAsyncContext()
	defer e.FreeAsyncContext(ac)
	// 20 bytes of a NEGOTIATE: 12 more are needed for its fixed header.
	partial := []byte("NTLMSSP\x00\x01\x00\x00\x00\x37\x82\x08\xe2\x00\x00\x00\x00")
	e.AcceptSecurityContextAsync(ac, server, 0, tokenIn(partial), 0)
	if st := poll(ac); st != status.SEC_E_INCOMPLETE_MESSAGE || ac.Missing() != 12 {
		t.Fatalf("%v missing %d", st, ac.Missing())
	}
}

// TestEngineExpiryNever: an NTLM credential and context expire never, as
// Windows reports them (TimeStamp 0x7FFFFFFFFFFFFFFF), which a caller tells
// apart from an expiry that is not known (the zero time).
func TestEngineExpiryNever(t *testing.T) {
	e, _, server := newEngine(t)
	client, expiry := aliceCredential(t, e)
	if !expiry.Equal(secctx.NeverExpires()) || secctx.TimeStampOf(expiry) != secctx.Never {
		t.Errorf("credential expiry %v, want never", expiry)
	}
	_, sh, sac := engineHandshake(t, e, client, server)
	if sac.Status() != status.SEC_E_OK || !sac.Expiry().Equal(secctx.NeverExpires()) {
		t.Errorf("context expiry %v (%v), want never", sac.Expiry(), sac.Status())
	}
	ls, st := e.QueryContextAttributes(sh, secctx.SECPKG_ATTR_LIFESPAN)
	if st != status.SEC_E_OK || !ls.(secctx.Lifespan).Expiry.Equal(secctx.NeverExpires()) || ls.(secctx.Lifespan).Start.IsZero() {
		t.Errorf("lifespan %+v %v", ls, st)
	}
}
