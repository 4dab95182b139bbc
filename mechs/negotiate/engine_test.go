package negotiate_test

import (
	"context"
	"testing"

	"go.uber.org/goleak"

	"github.com/asyncsspi/asyncsspi/async"
	secctx "github.com/asyncsspi/asyncsspi/context"
	"github.com/asyncsspi/asyncsspi/internal/testrealm"
	"github.com/asyncsspi/asyncsspi/mechs"
	"github.com/asyncsspi/asyncsspi/mechs/kerberos"
	"github.com/asyncsspi/asyncsspi/mechs/negotiate"
	"github.com/asyncsspi/asyncsspi/status"
)

// The engine tests start the engine's goroutines.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// engineHandshake runs both sides through the engine's asynchronous
// calls, waiting on each async context, and returns the final results.
func engineHandshake(t *testing.T, e *async.Engine, client, server secctx.CredHandle, target string, req secctx.ISCReq) (ch, sh secctx.CtxtHandle) {
	t.Helper()
	ctx := context.Background()
	ac := e.CreateAsyncContext()
	defer e.FreeAsyncContext(ac)
	var tok []byte
	cDone, sDone := false, false
	for leg := 0; leg < 10; leg++ {
		var in []secctx.Buffer
		if tok != nil {
			in = []secctx.Buffer{{Type: secctx.SECBUFFER_TOKEN, Data: tok}}
		}
		if err := ac.Reinit(); err != nil {
			t.Fatal(err)
		}
		var q status.Code
		if leg%2 == 0 {
			q = e.InitializeSecurityContextAsync(ac, client, ch, target, req, in)
		} else {
			q = e.AcceptSecurityContextAsync(ac, server, sh, in, 0)
		}
		if q != status.SEC_E_OK {
			t.Fatalf("leg %d not queued: %v", leg, q)
		}
		st := ac.Wait(ctx)
		if st.IsError() {
			t.Fatalf("leg %d: %v %v", leg, st, ac.Err())
		}
		if leg%2 == 0 {
			ch, cDone = ac.ContextHandle(), st == status.SEC_E_OK
		} else {
			sh, sDone = ac.ContextHandle(), st == status.SEC_E_OK
		}
		tok = ac.Token()
		if len(tok) == 0 {
			tok = nil
			if cDone && sDone {
				return ch, sh
			}
			t.Fatalf("leg %d: %v with no token", leg, st)
		}
	}
	t.Fatal("handshake does not end")
	return
}

func negotiated(t *testing.T, e *async.Engine, h secctx.CtxtHandle) string {
	t.Helper()
	v, st := e.QueryContextAttributes(h, secctx.SECPKG_ATTR_NEGOTIATION_INFO)
	if st != status.SEC_E_OK {
		t.Fatal(st)
	}
	ni := v.(secctx.NegotiationInfo)
	if ni.State != secctx.SECPKG_NEGOTIATION_COMPLETE {
		t.Fatalf("%+v", ni)
	}
	return ni.Package.Name
}

// TestEngineNTLM: NTLM under Negotiate through the asynchronous engine.
func TestEngineNTLM(t *testing.T) {
	p, _ := realNTLM(t)
	e := async.New(mechs.NewSet(p))
	defer e.Close()
	client, _, err := e.AcquireCredentialsHandle("", "Negotiate", secctx.SECPKG_CRED_OUTBOUND, &secctx.AuthIdentity{User: "alice", Domain: "EXAMPLE", Password: "Passw0rd!"})
	if err != nil {
		t.Fatal(err)
	}
	server, _, err := e.AcquireCredentialsHandle("", "Negotiate", secctx.SECPKG_CRED_INBOUND, nil)
	if err != nil {
		t.Fatal(err)
	}
	ch, sh := engineHandshake(t, e, client, server, "HTTP/localhost", secctx.ISC_REQ_INTEGRITY)
	if negotiated(t, e, ch) != "NTLM" || negotiated(t, e, sh) != "NTLM" {
		t.Fatal("not NTLM")
	}
	e.DeleteSecurityContext(ch)
	e.DeleteSecurityContext(sh)
	e.FreeCredentialsHandle(client)
	e.FreeCredentialsHandle(server)
}

// TestEngineKerberosKDCExchange: Kerberos under Negotiate through the
// engine with only a TGT: the Kerberos sub-context's TGS exchange is
// passed up as I/O, which the engine performs, and the same leg resumes.
func TestEngineKerberosKDCExchange(t *testing.T) {
	realm := testrealm.Start(t)
	ccache := realm.Kinit(t, testrealm.User, testrealm.Password)
	p := negotiate.New(kerberos.New(kerberos.WithConfigFile(realm.Krb5Conf)))
	e := async.New(mechs.NewSet(p))
	defer e.Close()
	client, _, err := e.AcquireCredentialsHandle("", "Negotiate", secctx.SECPKG_CRED_OUTBOUND, &kerberos.CCache{Path: ccache})
	if err != nil {
		t.Fatal(err)
	}
	server, _, err := e.AcquireCredentialsHandle("", "Negotiate", secctx.SECPKG_CRED_INBOUND, &kerberos.Keytab{Path: realm.ServiceKeytab})
	if err != nil {
		t.Fatal(err)
	}
	before := realm.CountRequests("TGS_REQ")
	ch, sh := engineHandshake(t, e, client, server, testrealm.Service, secctx.ISC_REQ_MUTUAL_AUTH|secctx.ISC_REQ_INTEGRITY)
	if n := realm.CountRequests("TGS_REQ") - before; n != 1 {
		t.Fatalf("%d TGS requests", n)
	}
	if negotiated(t, e, ch) != "Kerberos" || negotiated(t, e, sh) != "Kerberos" {
		t.Fatal("not Kerberos")
	}
	e.DeleteSecurityContext(ch)
	e.DeleteSecurityContext(sh)
	e.FreeCredentialsHandle(client)
	e.FreeCredentialsHandle(server)
}
