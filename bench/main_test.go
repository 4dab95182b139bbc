package bench

import (
	"testing"

	"go.uber.org/goleak"
)

// Every engine, transport and credential a benchmark makes is closed
// before it returns. The one goroutine allowed to outlive the run is
// gokrb5's process-global replay-cache sweeper, which service.VerifyAPREQ
// (the BenchmarkGokrb5VerifyAPREQ baseline) starts and nothing can stop;
// it has a second name where the compiler inlines GetReplayCache into
// VerifyAPREQ (as -race builds do).
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreAnyFunction("github.com/jcmturner/gokrb5/v8/service.GetReplayCache.func1.1"),
		goleak.IgnoreAnyFunction("github.com/jcmturner/gokrb5/v8/service.VerifyAPREQ.GetReplayCache.func1.1"))
}
