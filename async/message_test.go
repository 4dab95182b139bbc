package async_test

import (
	"context"
	"testing"

	secctx "github.com/asyncsspi/asyncsspi/context"
	"github.com/asyncsspi/asyncsspi/status"
)

// TestPerMessageCallsAllocateNothing: the engine's one shape for the
// per-message calls (handle lookup, hold against deletion, panic guard)
// adds no allocation to the mechanism's own (none, for the fake).
func TestPerMessageCallsAllocateNothing(t *testing.T) {
	f := newFixture(t, nil)
	defer f.e.Close()
	r, err := f.e.InitializeSecurityContext(context.Background(), f.cred, 0, "", 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	h := r.Context
	defer f.e.DeleteSecurityContext(h)
	sig := make([]byte, 0, 16)
	msg := []secctx.Buffer{{Type: secctx.SECBUFFER_DATA, Data: []byte("hello")}, {Type: secctx.SECBUFFER_TOKEN}}
	sign := func() status.Code { msg[1].Data = sig; return f.e.MakeSignature(h, 0, msg, 1) }
	verify := func() status.Code {
		_, st := f.e.VerifySignature(h, msg, 1)
		return st
	}
	seal := func() status.Code { msg[1].Data = sig; return f.e.EncryptMessage(h, 0, msg, 2) }
	unseal := func() status.Code {
		_, st := f.e.DecryptMessage(h, msg, 2)
		return st
	}
	for _, c := range []struct {
		name  string
		calls []func() status.Code
	}{{"MakeSignature+VerifySignature", []func() status.Code{sign, verify}},
		{"EncryptMessage+DecryptMessage", []func() status.Code{seal, unseal}}} {
		var bad status.Code
		n := testing.AllocsPerRun(100, func() {
			for _, call := range c.calls {
				if st := call(); st != status.SEC_E_OK {
					bad = st
				}
			}
		})
		if n != 0 || bad != 0 {
			t.Errorf("%s: %v allocations, %v", c.name, n, bad)
		}
	}
}
