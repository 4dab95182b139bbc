package kdc

import (
	"bytes"
	"context"
	"net"
	"sync"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/asyncsspi/asyncsspi/status"
)

// pipeKDCs are in-memory KDCs reached through WithDialer over net.Pipe, so
// that the transport's timing runs on synctest's fake clock: a stagger of
// one second takes exactly one (fake) second. An address without a
// behaviour refuses connections.
type pipeKDCs struct {
	mu      sync.Mutex
	behave  map[string]func(network string, req []byte) []byte
	arrived map[string][]time.Time // request arrival times per address+network
	raw     map[string]bool        // addresses whose TCP answers are written unframed
	open    int                    // connections not yet closed by the client
}

func newPipeKDCs() *pipeKDCs {
	return &pipeKDCs{behave: map[string]func(string, []byte) []byte{}, arrived: map[string][]time.Time{}, raw: map[string]bool{}}
}

func (p *pipeKDCs) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	p.mu.Lock()
	b, ok := p.behave[addr]
	p.mu.Unlock()
	if !ok {
		return nil, &net.OpError{Op: "dial", Net: network, Err: syscall.ECONNREFUSED}
	}
	client, server := net.Pipe()
	p.mu.Lock()
	p.open++
	p.mu.Unlock()
	go p.serve(network, addr, server, b)
	return client, nil
}

// openConns returns how many connections the client has not closed.
func (p *pipeKDCs) openConns() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.open
}

func (p *pipeKDCs) serve(network, addr string, c net.Conn, b func(string, []byte) []byte) {
	defer func() {
		c.Close()
		p.mu.Lock()
		p.open--
		p.mu.Unlock()
	}()
	buf := make([]byte, 65535)
	for {
		var req []byte
		if network == "udp" {
			n, err := c.Read(buf)
			if err != nil {
				return
			}
			req = buf[:n]
		} else {
			var err error
			if req, err = ReadFrame(c, DefaultMaxReplySize); err != nil {
				return
			}
		}
		p.mu.Lock()
		p.arrived[addr+"/"+network] = append(p.arrived[addr+"/"+network], time.Now())
		p.mu.Unlock()
		rep := b(network, req)
		if rep == nil {
			continue
		}
		p.mu.Lock()
		raw := p.raw[addr]
		p.mu.Unlock()
		if network == "tcp" && !raw {
			rep = AppendFrame(nil, rep)
		}
		if _, err := c.Write(rep); err != nil {
			return
		}
	}
}

func (p *pipeKDCs) set(addr string, f func(network string, req []byte) []byte) {
	p.mu.Lock()
	p.behave[addr] = f
	p.mu.Unlock()
}

func (p *pipeKDCs) times(key string) []time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]time.Time(nil), p.arrived[key]...)
}

func silentKDC(string, []byte) []byte { return nil }

// exchangeWant runs one exchange for realm, which must bring back want,
// and returns how long it took.
func exchangeWant(t *testing.T, tr *Transport, realm string, want []byte) time.Duration {
	t.Helper()
	start := time.Now()
	got, err := tr.Exchange(context.Background(), realm, testReq)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("%x, %v", got, err)
	}
	return time.Since(start)
}

func answerOn(network string, rep []byte) func(string, []byte) []byte {
	return func(n string, _ []byte) []byte {
		if n == network {
			return rep
		}
		return nil
	}
}

func TestSynctestStaggerTiming(t *testing.T) {
	want := krbErrorBytes(t, 6)
	synctest.Test(t, func(t *testing.T) {
		p := newPipeKDCs()
		p.set("kdc1:88", silentKDC)
		p.set("kdc2:88", silentKDC)
		p.set("kdc3:88", answerOn("udp", want))
		tr := NewTransport(WithDialer(p.dial), WithKDCs("R", "kdc1", "kdc2", "kdc3"), WithStagger(time.Second), WithTimeout(time.Minute))
		defer tr.Close()
		start := time.Now()
		got, err := tr.Exchange(context.Background(), "R", testReq)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("%x, %v", got, err)
		}
		if el := time.Since(start); el != 2*time.Second {
			t.Fatalf("third KDC answered after %v, want exactly 2 staggers (2s)", el)
		}
		// MIT's first pass sends once on each connection: KDC 1 got
		// its datagram at 0s and kept listening; KDC 2 got its own at
		// 1s.
		if n := len(p.times("kdc1:88/udp")); n != 1 {
			t.Fatalf("kdc1 got %d datagrams by 2s, want 1 (at 0s)", n)
		}
		if ts := p.times("kdc2:88/udp"); len(ts) == 0 || ts[0].Sub(start) != time.Second {
			t.Fatalf("kdc2 datagrams at %v", ts)
		}
	})
}

// A KDC that drops UDP (a firewall) costs one stagger: its TCP
// connection is opened one stagger after the silent datagram (MIT's
// deferred connection), not after three retransmissions. The next exchange
// asks it over TCP first and costs nothing.
func TestSynctestSilentUDPThenTCP(t *testing.T) {
	want := krbErrorBytes(t, 6)
	synctest.Test(t, func(t *testing.T) {
		p := newPipeKDCs()
		p.set("kdc1:88", answerOn("tcp", want))
		tr := NewTransport(WithDialer(p.dial), WithKDCs("R", "kdc1"), WithStagger(time.Second), WithTimeout(time.Minute))
		defer tr.Close()
		for i, wantEl := range []time.Duration{time.Second, 0} {
			if el := exchangeWant(t, tr, "R", want); el != wantEl {
				t.Fatalf("exchange %d: TCP answer after %v, want %v", i, el, wantEl)
			}
			synctest.Wait()
			if n := len(p.times("kdc1:88/udp")); n != 1 {
				t.Fatalf("after exchange %d: %d UDP datagrams, want the first exchange's 1", i, n)
			}
		}
	})
}

// MIT 1.20's whole schedule for one KDC that never answers on either
// transport: UDP at 0s; TCP at 1s, which once it carries the request is
// waited for 10s; the first pass's closing 2s; a UDP resend at 13s with its
// 1s and the 4s pause; another at 18s with 1s and 8s; given up at 27s.
func TestSynctestMITSchedule(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPipeKDCs()
		p.set("kdc1:88", silentKDC)
		tr := NewTransport(WithDialer(p.dial), WithKDCs("R", "kdc1"), WithStagger(time.Second), WithTimeout(time.Hour))
		defer tr.Close()
		start := time.Now()
		_, err := tr.Exchange(context.Background(), "R", testReq)
		if status.CodeOf(err) != status.SEC_E_NO_AUTHENTICATING_AUTHORITY {
			t.Fatalf("%v", err)
		}
		if el := time.Since(start); el != 27*time.Second {
			t.Fatalf("gave up after %v, want 27s", el)
		}
		var udp, tcp []time.Duration
		for _, ts := range p.times("kdc1:88/udp") {
			udp = append(udp, ts.Sub(start))
		}
		for _, ts := range p.times("kdc1:88/tcp") {
			tcp = append(tcp, ts.Sub(start))
		}
		if len(udp) != 3 || udp[0] != 0 || udp[1] != 13*time.Second || udp[2] != 18*time.Second {
			t.Fatalf("UDP sends at %v, want [0s 13s 18s]", udp)
		}
		if len(tcp) != 1 || tcp[0] != time.Second {
			t.Fatalf("TCP requests at %v, want [1s]", tcp)
		}
	})
}

func TestSynctestTimeoutIsExact(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPipeKDCs()
		p.set("kdc1:88", silentKDC)
		p.set("kdc2:88", silentKDC)
		tr := NewTransport(WithDialer(p.dial), WithKDCs("R", "kdc1", "kdc2"), WithStagger(time.Second), WithTimeout(5*time.Second))
		defer tr.Close()
		start := time.Now()
		_, err := tr.Exchange(context.Background(), "R", testReq)
		if status.CodeOf(err) != status.SEC_E_NO_AUTHENTICATING_AUTHORITY {
			t.Fatalf("%v", err)
		}
		if el := time.Since(start); el != 5*time.Second {
			t.Fatalf("timed out after %v, want 5s", el)
		}
	})
}

func TestSynctestRefusedHandsOverAtOnce(t *testing.T) {
	want := krbErrorBytes(t, 6)
	synctest.Test(t, func(t *testing.T) {
		p := newPipeKDCs()
		p.set("kdc2:88", answerOn("udp", want))
		tr := NewTransport(WithDialer(p.dial), WithKDCs("R", "kdc1", "kdc2"), WithStagger(time.Hour), WithTimeout(2*time.Hour))
		defer tr.Close()
		if el := exchangeWant(t, tr, "R", want); el != 0 {
			t.Fatalf("hand-over took %v, want none", el)
		}
	})
}

func TestSynctestCallerDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPipeKDCs()
		p.set("kdc1:88", silentKDC)
		tr := NewTransport(WithDialer(p.dial), WithKDCs("R", "kdc1"), WithUDPPreferenceLimit(1), WithTimeout(time.Hour))
		defer tr.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := tr.Exchange(ctx, "R", testReq)
		if status.CodeOf(err) != status.SEC_E_NO_AUTHENTICATING_AUTHORITY {
			t.Fatalf("%v", err)
		}
		if el := time.Since(start); el != 1500*time.Millisecond {
			t.Fatalf("TCP exchange ended after %v, want the caller's 1.5s", el)
		}
	})
}

// After a failover the KDC that answered is asked first, so a dead first
// KDC costs one stagger once, not on every exchange.
func TestSynctestLastGoodKDCFirst(t *testing.T) {
	want := krbErrorBytes(t, 6)
	synctest.Test(t, func(t *testing.T) {
		p := newPipeKDCs()
		p.set("kdc1:88", silentKDC)
		p.set("kdc2:88", answerOn("udp", want))
		tr := NewTransport(WithDialer(p.dial), WithKDCs("R", "kdc1", "kdc2"), WithStagger(time.Second), WithTimeout(time.Minute))
		defer tr.Close()
		var afterFirst int
		for i, wantEl := range []time.Duration{time.Second, 0, 0} {
			start := time.Now()
			if _, err := tr.Exchange(context.Background(), "R", testReq); err != nil {
				t.Fatal(err)
			}
			if el := time.Since(start); el != wantEl {
				t.Fatalf("exchange %d took %v, want %v", i, el, wantEl)
			}
			if i == 0 {
				synctest.Wait()
				afterFirst = len(p.times("kdc1:88/udp"))
			}
		}
		synctest.Wait()
		if n := len(p.times("kdc1:88/udp")); n != afterFirst {
			t.Fatalf("kdc1 was asked again (%d datagrams after the first exchange, %d in all)", afterFirst, n)
		}
	})
}
