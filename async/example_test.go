package async_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/asyncsspi/asyncsspi/async"
	secctx "github.com/asyncsspi/asyncsspi/context"
	"github.com/asyncsspi/asyncsspi/internal/fakemech"
	"github.com/asyncsspi/asyncsspi/mechs"
	"github.com/asyncsspi/asyncsspi/status"
)

// exampleEngine stands in for an engine over real packages: the scripted
// fake needs two legs, and fails targets named "bad".
func exampleEngine() (*async.Engine, secctx.CredHandle) {
	pkg := fakemech.New(fakemech.WithScript(func(info fakemech.Info, leg int, _ []byte) fakemech.Leg {
		switch {
		case info.Target == "bad":
			return fakemech.Leg{Status: status.SEC_E_TARGET_UNKNOWN}
		case leg == 0:
			return fakemech.Leg{Status: status.SEC_I_CONTINUE_NEEDED, Token: []byte("negotiate")}
		}
		return fakemech.Leg{Status: status.SEC_E_OK, Token: []byte("final")}
	}))
	e := async.New(mechs.NewSet(pkg), async.WithWorkers(2))
	cred, _, err := e.AcquireCredentialsHandle("", fakemech.Name, secctx.SECPKG_CRED_OUTBOUND, nil)
	if err != nil {
		panic(err)
	}
	return e, cred
}

// An event loop that polls: queue a leg, do other work, read the status
// with one atomic load until it is no longer pending.
func Example_polling() {
	e, cred := exampleEngine()
	defer e.Close()
	ac := e.CreateAsyncContext()
	defer e.FreeAsyncContext(ac)
	fmt.Println("before:", ac.Status())

	var h secctx.CtxtHandle
	for {
		if st := e.InitializeSecurityContextAsync(ac, cred, h, "HTTP/web.example.com", secctx.ISC_REQ_MUTUAL_AUTH, nil); st != status.SEC_E_OK {
			fmt.Println("not queued:", st)
			return
		}
		for ac.Status() == status.SEC_I_ASYNC_CALL_PENDING {
			time.Sleep(time.Millisecond) // an event loop would serve other connections here
		}
		fmt.Printf("%v token=%q\n", ac.Status(), ac.Token())
		if ac.Status() != status.SEC_I_CONTINUE_NEEDED {
			break
		}
		h = ac.ContextHandle() // send the token, read the reply, go on
	}
	e.DeleteSecurityContext(ac.ContextHandle())
	// Output:
	// before: SEC_E_NO_CONTEXT
	// SEC_I_CONTINUE_NEEDED token="negotiate"
	// SEC_E_OK token="final"
}

// A notify callback, called once on an engine goroutine when the leg
// completes (SspiSetAsyncNotifyCallback).
func Example_callback() {
	e, cred := exampleEngine()
	defer e.Close()
	ac := e.CreateAsyncContext()
	done := make(chan struct{})
	ac.SetNotifyCallback(func(ac *async.AsyncContext, data any) {
		fmt.Println(data, ac.Status(), string(ac.Token()))
		close(done)
	}, "leg 1:")
	e.InitializeSecurityContextAsync(ac, cred, 0, "HTTP/web.example.com", 0, nil)
	<-done
	e.DeleteSecurityContext(ac.ContextHandle())
	// Output: leg 1: SEC_I_CONTINUE_NEEDED negotiate
}

// Wait with a deadline: SEC_I_ASYNC_CALL_PENDING means the deadline came
// first; the leg goes on until it completes or is cancelled.
func ExampleAsyncContext_Wait() {
	e, cred := exampleEngine()
	defer e.Close()
	ac := e.CreateAsyncContext()
	e.InitializeSecurityContextAsync(ac, cred, 0, "HTTP/web.example.com", 0, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	switch st := ac.Wait(ctx); st {
	case status.SEC_I_ASYNC_CALL_PENDING:
		fmt.Println("too slow; cancelling")
		ac.Cancel()
	default:
		fmt.Println(st)
	}
	e.DeleteSecurityContext(ac.ContextHandle())
	// Output: SEC_I_CONTINUE_NEEDED
}

// Failures carry a *status.Error with the code, the package and the cause.
func ExampleAsyncContext_Err() {
	e, cred := exampleEngine()
	defer e.Close()
	ac := e.CreateAsyncContext()
	e.InitializeSecurityContextAsync(ac, cred, 0, "bad", 0, nil)
	ac.Wait(context.Background())
	var se *status.Error
	if errors.As(ac.Err(), &se) {
		fmt.Println(se.Code, se.Mech)
	}
	fmt.Println(errors.Is(ac.Err(), status.SEC_E_TARGET_UNKNOWN))
	// Output:
	// SEC_E_TARGET_UNKNOWN Fake
	// true
}

// A batch drain for event loops holding many contexts.
func ExampleCompletionQueue() {
	e, cred := exampleEngine()
	defer e.Close()
	q := e.NewCompletionQueue()
	for range 3 {
		ac := e.CreateAsyncContext()
		ac.SetCompletionQueue(q)
		e.InitializeSecurityContextAsync(ac, cred, 0, "HTTP/web.example.com", 0, nil)
	}
	var batch []*async.AsyncContext
	for n := 0; n < 3; {
		<-q.Ready()
		batch = q.Drain(batch[:0])
		for _, ac := range batch {
			n++
			e.DeleteSecurityContext(ac.ContextHandle())
			fmt.Println(ac.Status())
		}
	}
	// Output:
	// SEC_I_CONTINUE_NEEDED
	// SEC_I_CONTINUE_NEEDED
	// SEC_I_CONTINUE_NEEDED
}
