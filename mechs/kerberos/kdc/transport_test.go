package kdc

import (
	"bytes"
	"context"
	"errors"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/asyncsspi/asyncsspi/status"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// A request shaped enough for the fake KDCs, which do not parse it.
var testReq = []byte{0x6a, 0x03, 0x02, 0x01, 0x05}

func TestExchangeUDP(t *testing.T) {
	want := krbErrorBytes(t, 6)
	k := newFakeKDC(t, replyWith(want), nil)
	tr := NewTransport(WithKDCs("TEST", k.addr))
	defer tr.Close()
	got, err := tr.Exchange(context.Background(), "TEST", testReq)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("reply %x, want %x", got, want)
	}
	if k.udpReqs.Load() != 1 || k.tcpReqs.Load() != 0 {
		t.Fatalf("udp %d tcp %d requests, want 1 and 0", k.udpReqs.Load(), k.tcpReqs.Load())
	}
}

func TestExchangeTooBigFallsBackToTCP(t *testing.T) {
	want := krbErrorBytes(t, 7)
	k := newFakeKDC(t, replyWith(krbErrorBytes(t, 52)), replyWith(want))
	tr := NewTransport(WithKDCs("TEST", k.addr))
	defer tr.Close()
	got, err := tr.Exchange(context.Background(), "TEST", testReq)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("got %x, want the TCP reply %x", got, want)
	}
	if k.udpReqs.Load() != 1 || k.tcpReqs.Load() != 1 {
		t.Fatalf("udp %d tcp %d requests, want 1 and 1", k.udpReqs.Load(), k.tcpReqs.Load())
	}
}

func TestExchangeUDPPreferenceLimit(t *testing.T) {
	want := krbErrorBytes(t, 6)
	k := newFakeKDC(t, replyWith(krbErrorBytes(t, 7)), replyWith(want))
	tr := NewTransport(WithKDCs("TEST", k.addr), WithUDPPreferenceLimit(1))
	defer tr.Close()
	got, err := tr.Exchange(context.Background(), "TEST", testReq)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("got %x, %v; want the TCP reply", got, err)
	}
	if k.udpReqs.Load() != 0 {
		t.Fatalf("%d UDP requests with udp_preference_limit 1", k.udpReqs.Load())
	}
}

func TestExchangeSilentUDPThenTCP(t *testing.T) {
	want := krbErrorBytes(t, 6)
	k := newFakeKDC(t, nil, replyWith(want))
	tr := NewTransport(WithKDCs("TEST", k.addr), WithStagger(5*time.Millisecond))
	defer tr.Close()
	got, err := tr.Exchange(context.Background(), "TEST", testReq)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("got %x, %v", got, err)
	}
	// The fake KDC counts a datagram when it reads it, which may lag.
	eventually(t, func() bool { return k.udpReqs.Load() == 1 }, "1 UDP send before TCP")
}

func TestExchangeIgnoresGarbageDatagrams(t *testing.T) {
	want := krbErrorBytes(t, 6)
	var mu sync.Mutex
	n := 0
	k := newFakeKDC(t, func([]byte) []byte {
		mu.Lock()
		defer mu.Unlock()
		n++
		if n == 1 {
			return []byte("not kerberos")
		}
		return want
	}, nil)
	tr := NewTransport(WithKDCs("TEST", k.addr), WithStagger(5*time.Millisecond))
	defer tr.Close()
	got, err := tr.Exchange(context.Background(), "TEST", testReq)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("got %x, %v", got, err)
	}
}

func TestExchangeTCPConnectionReuse(t *testing.T) {
	want := krbErrorBytes(t, 6)
	k := newFakeKDC(t, nil, replyWith(want))
	tr := NewTransport(WithKDCs("TEST", k.addr), WithUDPPreferenceLimit(1))
	defer tr.Close()
	for i := 0; i < 20; i++ {
		if _, err := tr.Exchange(context.Background(), "TEST", testReq); err != nil {
			t.Fatal(err)
		}
	}
	if c := k.tcpConns.Load(); c != 1 {
		t.Fatalf("%d TCP connections for 20 sequential exchanges, want 1", c)
	}
}

func TestExchangeReusedConnectionClosedByKDC(t *testing.T) {
	want := krbErrorBytes(t, 6)
	k := newFakeKDC(t, nil, nil)
	// Answer, then close the connection (as an MIT KDC may).
	k.onTCP = func([]byte) []byte { return want }
	tr := NewTransport(WithKDCs("TEST", k.addr), WithUDPPreferenceLimit(1))
	defer tr.Close()
	if _, err := tr.Exchange(context.Background(), "TEST", testReq); err != nil {
		t.Fatal(err)
	}
	// Close the server side of every connection: the pooled one is stale.
	k.mu.Lock()
	for c := range k.conns {
		c.Close()
	}
	k.mu.Unlock()
	got, err := tr.Exchange(context.Background(), "TEST", testReq)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("after the KDC closed the pooled connection: %x, %v", got, err)
	}
}

func TestExchangeMaxConnsPerKDC(t *testing.T) {
	want := krbErrorBytes(t, 6)
	k := newFakeKDC(t, nil, func([]byte) []byte {
		time.Sleep(2 * time.Millisecond)
		return want
	})
	tr := NewTransport(WithKDCs("TEST", k.addr), WithUDPPreferenceLimit(1), WithMaxConnsPerKDC(3))
	defer tr.Close()
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for i := 0; i < 100; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := tr.Exchange(context.Background(), "TEST", testReq); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if m := k.maxOpen.Load(); m > 3 {
		t.Fatalf("%d connections open at once, limit 3", m)
	}
	if c := k.tcpConns.Load(); c > 3 {
		t.Fatalf("%d connections opened for 100 exchanges, want at most 3 (reuse)", c)
	}
}

func TestExchangeStaggeredFailover(t *testing.T) {
	silent := newFakeKDC(t, nil, nil)
	want := krbErrorBytes(t, 6)
	live := newFakeKDC(t, replyWith(want), nil)
	tr := NewTransport(WithKDCs("TEST", silent.addr, live.addr), WithStagger(20*time.Millisecond), WithTimeout(10*time.Second))
	defer tr.Close()
	start := time.Now()
	got, err := tr.Exchange(context.Background(), "TEST", testReq)
	el := time.Since(start)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("got %x, %v", got, err)
	}
	if el < 20*time.Millisecond || el > 5*time.Second {
		t.Fatalf("failover took %v; want about one stagger (20ms)", el)
	}
	eventually(t, func() bool { return silent.udpReqs.Load() > 0 }, "the first KDC tried")
}

func TestExchangeRefusedKDCHandsOverAtOnce(t *testing.T) {
	want := krbErrorBytes(t, 6)
	live := newFakeKDC(t, replyWith(want), nil)
	// A long stagger: only an immediate hand-over can make this fast.
	tr := NewTransport(WithKDCs("TEST", deadAddr(t), live.addr), WithStagger(time.Hour), WithTimeout(10*time.Second))
	defer tr.Close()
	start := time.Now()
	got, err := tr.Exchange(context.Background(), "TEST", testReq)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("got %x, %v", got, err)
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Fatalf("hand-over from a refused KDC took %v", el)
	}
}

func TestExchangeSvcUnavailableTriesNext(t *testing.T) {
	want := krbErrorBytes(t, 6)
	busy := newFakeKDC(t, replyWith(krbErrorBytes(t, 29)), nil)
	live := newFakeKDC(t, replyWith(want), nil)
	tr := NewTransport(WithKDCs("TEST", busy.addr, live.addr), WithStagger(time.Hour), WithTimeout(10*time.Second))
	defer tr.Close()
	got, err := tr.Exchange(context.Background(), "TEST", testReq)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("got %x, %v", got, err)
	}
}

func TestExchangeTimeout(t *testing.T) {
	silent := newFakeKDC(t, nil, nil)
	tr := NewTransport(WithKDCs("TEST", silent.addr), WithTimeout(50*time.Millisecond), WithStagger(10*time.Millisecond))
	defer tr.Close()
	start := time.Now()
	_, err := tr.Exchange(context.Background(), "TEST", testReq)
	if status.CodeOf(err) != status.SEC_E_NO_AUTHENTICATING_AUTHORITY {
		t.Fatalf("err %v, want SEC_E_NO_AUTHENTICATING_AUTHORITY", err)
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Fatalf("a 50ms timeout took %v", el)
	}
}

func TestExchangeContextCancel(t *testing.T) {
	silent := newFakeKDC(t, nil, nil)
	tr := NewTransport(WithKDCs("TEST", silent.addr), WithTimeout(time.Hour), WithStagger(time.Hour))
	defer tr.Close()
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(20*time.Millisecond, cancel)
	start := time.Now()
	_, err := tr.Exchange(ctx, "TEST", testReq)
	if !errors.Is(err, context.Canceled) || status.CodeOf(err) != status.SEC_E_NO_AUTHENTICATING_AUTHORITY {
		t.Fatalf("err %v, want context.Canceled as SEC_E_NO_AUTHENTICATING_AUTHORITY", err)
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Fatalf("cancel took %v to take effect", el)
	}
}

func TestExchangeContextCancelDuringTCP(t *testing.T) {
	silent := newFakeKDC(t, nil, nil)
	tr := NewTransport(WithKDCs("TEST", silent.addr), WithTimeout(time.Hour), WithUDPPreferenceLimit(1))
	defer tr.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	_, err := tr.Exchange(ctx, "TEST", testReq)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err %v, want context.DeadlineExceeded", err)
	}
}

func TestCloseCancelsExchange(t *testing.T) {
	silent := newFakeKDC(t, nil, nil)
	tr := NewTransport(WithKDCs("TEST", silent.addr), WithTimeout(time.Hour), WithStagger(time.Hour))
	done := make(chan error, 1)
	go func() {
		_, err := tr.Exchange(context.Background(), "TEST", testReq)
		done <- err
	}()
	eventually(t, func() bool { return silent.udpReqs.Load() > 0 }, "the request reached the KDC")
	if err := tr.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if status.CodeOf(err) != status.SEC_E_NO_AUTHENTICATING_AUTHORITY {
			t.Fatalf("err %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not end the exchange")
	}
	if _, err := tr.Exchange(context.Background(), "TEST", testReq); !errors.Is(err, ErrClosed) {
		t.Fatalf("after Close: %v, want ErrClosed", err)
	}
}

func TestExchangeNoKDC(t *testing.T) {
	tr := NewTransport()
	defer tr.Close()
	_, err := tr.Exchange(context.Background(), "NOWHERE", testReq)
	if !errors.Is(err, ErrNoKDC) || status.CodeOf(err) != status.SEC_E_NO_AUTHENTICATING_AUTHORITY {
		t.Fatalf("err %v", err)
	}
}

func TestExchangeAllDead(t *testing.T) {
	tr := NewTransport(WithKDCs("TEST", deadAddr(t), deadAddr(t)), WithStagger(time.Hour), WithTimeout(10*time.Second))
	defer tr.Close()
	start := time.Now()
	_, err := tr.Exchange(context.Background(), "TEST", testReq)
	if status.CodeOf(err) != status.SEC_E_NO_AUTHENTICATING_AUTHORITY {
		t.Fatalf("err %v", err)
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Fatalf("two refused KDCs took %v", el)
	}
}

func TestReadFrame(t *testing.T) {
	msg := krbErrorBytes(t, 6)
	framed := AppendFrame(nil, msg)
	got, err := ReadFrame(bytes.NewReader(framed), DefaultMaxReplySize)
	if err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("got %x, %v", got, err)
	}
	for i := 0; i < len(framed); i++ {
		if _, err := ReadFrame(bytes.NewReader(framed[:i]), DefaultMaxReplySize); err == nil {
			t.Fatalf("a %d-byte prefix of a %d-byte record parsed", i, len(framed))
		} else if i > 0 && !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("prefix %d: %v, want io.ErrUnexpectedEOF", i, err)
		}
	}
	if _, err := ReadFrame(bytes.NewReader([]byte{0x80, 0, 0, 1, 0}), DefaultMaxReplySize); !errors.Is(err, ErrFrame) {
		t.Fatalf("high bit set: %v", err)
	}
	if _, err := ReadFrame(bytes.NewReader([]byte{0, 0x20, 0, 0}), DefaultMaxReplySize); !errors.Is(err, ErrFrame) {
		t.Fatalf("oversized: %v", err)
	}
}

// eventually waits (up to 5 s) for cond, which depends on a fake KDC's
// goroutine having read what was sent to it.
func eventually(t *testing.T, cond func() bool, what string) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("never: %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// A KDC that closes every TCP connection after its reply (MIT's krb5kdc):
// bursts of exchanges never fail on a stale pooled connection.
func TestExchangeKDCClosesAfterReply(t *testing.T) {
	want := krbErrorBytes(t, 6)
	k := newFakeKDC(t, nil, replyWith(want))
	k.closeAfterReply = true
	tr := NewTransport(WithKDCs("TEST", k.addr), WithUDPPreferenceLimit(1), WithMaxConnsPerKDC(4))
	defer tr.Close()
	for round := 0; round < 5; round++ {
		var wg sync.WaitGroup
		errs := make(chan error, 50)
		for i := 0; i < 50; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := tr.Exchange(context.Background(), "TEST", testReq); err != nil {
					errs <- err
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatalf("round %d: %v", round, err)
		}
	}
	if got := k.tcpReqs.Load(); got != 250 {
		t.Fatalf("%d requests reached the KDC, want 250", got)
	}
}
