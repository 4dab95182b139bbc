package kerberos

import (
	"context"
	"testing"
	"time"

	"github.com/asyncsspi/asyncsspi/async"
	secctx "github.com/asyncsspi/asyncsspi/context"
	"github.com/asyncsspi/asyncsspi/internal/testrealm"
	"github.com/asyncsspi/asyncsspi/mechs"
	"github.com/asyncsspi/asyncsspi/status"
)

// TestEngineWithRealKDC runs mutual handshakes through the async engine
// with a real MIT KDC: the first leg's TGS exchange happens as engine I/O
// (the leg reads pending meanwhile), later handshakes use the cached
// ticket, and concurrent first contacts share one TGS-REQ.
func TestEngineWithRealKDC(t *testing.T) {
	realm := testrealm.Start(t)
	e := async.New(mechs.NewSet(New(WithConfigFile(realm.Krb5Conf))))
	defer e.Close()
	icred, _, err := e.AcquireCredentialsHandle("", Name, secctx.SECPKG_CRED_OUTBOUND,
		&secctx.AuthIdentity{User: testrealm.User, Domain: realm.Name, Password: testrealm.Password})
	if err != nil {
		t.Fatal(err)
	}
	defer e.FreeCredentialsHandle(icred)
	acred, _, err := e.AcquireCredentialsHandle("", Name, secctx.SECPKG_CRED_INBOUND, &Keytab{Path: realm.ServiceKeytab})
	if err != nil {
		t.Fatal(err)
	}
	defer e.FreeCredentialsHandle(acred)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req := secctx.ISC_REQ_MUTUAL_AUTH | secctx.ISC_REQ_CONFIDENTIALITY

	handshake := func() {
		ac := e.CreateAsyncContext()
		defer e.FreeAsyncContext(ac)
		if st := e.InitializeSecurityContextAsync(ac, icred, 0, testrealm.Service, req, nil); st != status.SEC_E_OK {
			t.Errorf("queue: %v", st)
			return
		}
		if st := ac.Wait(ctx); st != status.SEC_I_CONTINUE_NEEDED {
			t.Errorf("first leg: %v %v", st, ac.Err())
			return
		}
		h := ac.ContextHandle()
		defer e.DeleteSecurityContext(h)
		ar, err := e.AcceptSecurityContext(ctx, acred, 0, []secctx.Buffer{{Type: secctx.SECBUFFER_TOKEN, Data: ac.Token()}}, 0)
		if err != nil {
			t.Errorf("accept: %v", err)
			return
		}
		defer e.DeleteSecurityContext(ar.Context)
		r, err := e.InitializeSecurityContext(ctx, icred, h, testrealm.Service, req, []secctx.Buffer{{Type: secctx.SECBUFFER_TOKEN, Data: ar.Token}})
		if err != nil || r.Status != status.SEC_E_OK || !secctx.ISCRet(r.Flags).Has(secctx.ISC_RET_MUTUAL_AUTH) {
			t.Errorf("second leg: %v %v", r.Status, err)
			return
		}
		msg := []secctx.Buffer{{Type: secctx.SECBUFFER_TOKEN}, {Type: secctx.SECBUFFER_DATA, Data: []byte("through the engine")}}
		if st := e.EncryptMessage(h, 0, msg, 0); st != status.SEC_E_OK {
			t.Errorf("EncryptMessage: %v", st)
			return
		}
		if _, st := e.DecryptMessage(ar.Context, msg, 0); st != status.SEC_E_OK || string(msg[1].Data) != "through the engine" {
			t.Errorf("DecryptMessage: %v %q", st, msg[1].Data)
		}
	}
	done := make(chan struct{})
	const n = 20
	for i := 0; i < n; i++ {
		go func() { defer func() { done <- struct{}{} }(); handshake() }()
	}
	for i := 0; i < n; i++ {
		<-done
	}
	handshake()
	if got := realm.CountRequests("TGS_REQ"); got != 1 {
		t.Fatalf("%d TGS-REQs for %d handshakes, want 1", got, n+1)
	}
}
