package kerberos

import (
	"fmt"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	secctx "github.com/asyncsspi/asyncsspi/context"
	"github.com/asyncsspi/asyncsspi/mechs"
	"github.com/asyncsspi/asyncsspi/replay"
	"github.com/asyncsspi/asyncsspi/status"
)

// TestSoakReplayCache runs the acceptor at full speed, in real time, for
// as long as ASYNCSSPI_SOAK says (e.g. "10m"; skipped when unset): one
// goroutine per CPU makes a fresh AP-REQ and accepts it, over and over,
// against the process's kind of replay cache at its default bound. Every
// fresh authenticator must be accepted, a replay of one made a moment ago
// must be refused, and once the cache is full the heap must stay flat.
// It prints the rate and the heap each ten seconds.
//
// Issue 11 asks to show ten minutes at full speed with memory flat; the
// simulated ten minutes in package replay (TestLoadTenMinutes) run on
// every test run, this one by hand:
//
//	ASYNCSSPI_SOAK=10m go test -run TestSoakReplayCache -v -timeout 15m ./mechs/kerberos/
func TestSoakReplayCache(t *testing.T) {
	d, err := time.ParseDuration(os.Getenv("ASYNCSSPI_SOAK"))
	if err != nil || d <= 0 {
		t.Skip("set ASYNCSSPI_SOAK to a duration (e.g. 10m) to run the soak test")
	}
	e := newTestEnv(t)
	e.clock = time.Now
	e.now = time.Now()
	e.rc = replay.NewMemory() // the default bound, as in production
	e.pkg.rcache = e.rc
	e.src.tickets[testSPN] = e.ticket()
	icred, acred := e.initCred(), e.acceptCred("")

	var accepted, replaysRefused atomic.Int64
	var failed atomic.Value
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				ic, _ := icred.NewInitiator(mechs.InitiatorParams{Target: testSPN, Req: secctx.ISC_REQ_MUTUAL_AUTH})
				r := ic.Step(&mechs.StepInput{})
				ac, _ := acred.NewAcceptor(mechs.AcceptorParams{})
				ar := ac.Step(&mechs.StepInput{Token: r.Token})
				ac.Close()
				if ar.Status != status.SEC_E_OK {
					failed.Store(fmt.Sprintf("fresh AP-REQ refused after %d: %v", accepted.Load(), ar.Err))
					ic.Close()
					return
				}
				accepted.Add(1)
				if n%1000 == 0 {
					ac2, _ := acred.NewAcceptor(mechs.AcceptorParams{})
					if rr := ac2.Step(&mechs.StepInput{Token: r.Token}); rr.Status == status.SEC_E_OK {
						failed.Store("a replay was accepted")
					}
					ac2.Close()
					replaysRefused.Add(1)
				}
				ic.Close()
			}
		}()
	}
	var ms runtime.MemStats
	start, last := time.Now(), int64(0)
	var heapFull uint64
	ticker := time.NewTicker(10 * time.Second)
	defer ticker.Stop()
	for time.Since(start) < d && failed.Load() == nil {
		<-ticker.C
		runtime.ReadMemStats(&ms)
		n := accepted.Load()
		full := e.rc.Len() >= replay.DefaultLimit*9/10
		t.Logf("%4.0fs  %7.0f accepts/s  %9d entries  heap %6d KiB  (replays refused %d)",
			time.Since(start).Seconds(), float64(n-last)/10, e.rc.Len(), ms.HeapInuse>>10, replaysRefused.Load())
		last = n
		switch {
		case full && heapFull == 0:
			heapFull = ms.HeapInuse
		case heapFull != 0 && ms.HeapInuse > heapFull+heapFull/4:
			failed.Store(fmt.Sprintf("heap grew from %d to %d KiB with the cache full", heapFull>>10, ms.HeapInuse>>10))
		}
	}
	close(stop)
	wg.Wait()
	if f := failed.Load(); f != nil {
		t.Fatal(f)
	}
	t.Logf("%d authentications in %v, all accepted; %d replays refused", accepted.Load(), time.Since(start).Round(time.Second), replaysRefused.Load())
}
