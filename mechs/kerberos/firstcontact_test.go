package kerberos_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/asyncsspi/asyncsspi/async"
	secctx "github.com/asyncsspi/asyncsspi/context"
	"github.com/asyncsspi/asyncsspi/internal/testrealm"
	"github.com/asyncsspi/asyncsspi/mechs"
	"github.com/asyncsspi/asyncsspi/mechs/kerberos"
	"github.com/asyncsspi/asyncsspi/status"
)

// TestTenThousandFirstHandshakesOneTGSReq is issue 4's load check against a
// real MIT KDC: 10,000 mutual handshakes for one SPN, all queued at once by
// one event loop before any ticket exists, cost exactly one TGS-REQ (counted
// in the KDC's log) and all succeed. The legs that wait for the ticket park
// on the engine's I/O side and share one exchange; none holds a CPU worker.
func TestTenThousandFirstHandshakesOneTGSReq(t *testing.T) {
	const n = 10000
	realm := testrealm.Start(t)
	e := async.New(mechs.NewSet(kerberos.New(kerberos.WithConfigFile(realm.Krb5Conf))),
		async.WithQueueDepth(2*n), async.WithIOTimeout(60*time.Second))
	defer e.Close()
	icred, _, err := e.AcquireCredentialsHandle("", kerberos.Name, secctx.SECPKG_CRED_OUTBOUND,
		&secctx.AuthIdentity{User: testrealm.User, Domain: realm.Name, Password: testrealm.Password})
	if err != nil {
		t.Fatal(err)
	}
	defer e.FreeCredentialsHandle(icred)
	acred, _, err := e.AcquireCredentialsHandle("", kerberos.Name, secctx.SECPKG_CRED_INBOUND, &kerberos.Keytab{Path: realm.ServiceKeytab})
	if err != nil {
		t.Fatal(err)
	}
	defer e.FreeCredentialsHandle(acred)
	before := realm.CountRequests("TGS_REQ")

	const req = secctx.ISC_REQ_MUTUAL_AUTH | secctx.ISC_REQ_CONFIDENTIALITY | secctx.ISC_REQ_INTEGRITY
	type handshake struct {
		client, server       *async.AsyncContext
		clientCtx, serverCtx secctx.CtxtHandle
		done                 bool
	}
	q := e.NewCompletionQueue()
	hs := make([]*handshake, n)
	byAC := make(map[*async.AsyncContext]*handshake, 2*n)
	for i := range hs {
		h := &handshake{client: e.CreateAsyncContext(), server: e.CreateAsyncContext()}
		h.client.SetCompletionQueue(q)
		h.server.SetCompletionQueue(q)
		byAC[h.client], byAC[h.server] = h, h
		hs[i] = h
		if st := e.InitializeSecurityContextAsync(h.client, icred, 0, testrealm.Service, req, nil); st != status.SEC_E_OK {
			t.Fatalf("handshake %d not queued: %v", i, st)
		}
	}
	defer func() {
		for _, h := range hs {
			e.DeleteSecurityContext(h.clientCtx)
			e.DeleteSecurityContext(h.serverCtx)
			e.FreeAsyncContext(h.client)
			e.FreeAsyncContext(h.server)
		}
	}()

	deadline := time.After(5 * time.Minute)
	var batch []*async.AsyncContext
	for completed := 0; completed < n; {
		select {
		case <-q.Ready():
		case <-deadline:
			t.Fatalf("only %d of %d handshakes finished", completed, n)
		}
		batch = q.Drain(batch[:0])
		for _, ac := range batch {
			h := byAC[ac]
			st := ac.Status()
			switch {
			case st.IsError():
				t.Fatalf("leg failed: %v", ac.Err())
			case ac == h.server:
				// AP-REQ verified, AP-REP out: back to the client.
				if st != status.SEC_E_OK {
					t.Fatalf("accept: %v, want SEC_E_OK", st)
				}
				h.serverCtx = ac.ContextHandle()
				in := []secctx.Buffer{{Type: secctx.SECBUFFER_TOKEN, Data: bytes.Clone(ac.Token())}}
				if st := e.InitializeSecurityContextAsync(h.client, icred, h.clientCtx, testrealm.Service, req, in); st != status.SEC_E_OK {
					t.Fatalf("second client leg not queued: %v", st)
				}
			case st == status.SEC_I_CONTINUE_NEEDED:
				h.clientCtx = ac.ContextHandle()
				in := []secctx.Buffer{{Type: secctx.SECBUFFER_TOKEN, Data: bytes.Clone(ac.Token())}}
				if st := e.AcceptSecurityContextAsync(h.server, acred, 0, in, secctx.ASC_REQ_MUTUAL_AUTH); st != status.SEC_E_OK {
					t.Fatalf("accept not queued: %v", st)
				}
			default: // the AP-REP verified
				if !secctx.ISCRet(ac.Flags()).Has(secctx.ISC_RET_MUTUAL_AUTH) || h.done {
					t.Fatalf("final client leg: %v flags %v done %v", st, secctx.ISCRet(ac.Flags()), h.done)
				}
				h.done = true
				completed++
			}
		}
	}
	if got := realm.CountRequests("TGS_REQ") - before; got != 1 {
		t.Fatalf("%d TGS-REQs reached the KDC for %d first handshakes, want exactly 1", got, n)
	}
}
