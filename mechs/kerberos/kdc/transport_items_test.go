package kdc

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"runtime"
	"testing"
	"testing/synctest"
	"time"

	"github.com/asyncsspi/asyncsspi/mechs"
	"github.com/asyncsspi/asyncsspi/status"
	"go.uber.org/goleak"
)

// Cancelling the context given to Perform ends the exchange: Perform
// returns at once, every socket it opened is closed, and no datagram or
// connection reaches the KDCs afterwards (before, a cancelled first
// contact went on sending for the Client's lifetime, 28 s on the default
// schedule).
func TestPerformCancelStopsSending(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts []TransportOption
	}{
		{"udp", nil},
		{"tcp", []TransportOption{WithUDPPreferenceLimit(0)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k1 := newFakeKDC(t, nil, nil)
			k2 := newFakeKDC(t, nil, nil)
			defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
			const stagger = 30 * time.Millisecond
			tr := NewTransport(append([]TransportOption{WithKDCs("R", k1.addr, k2.addr), WithStagger(stagger), WithTimeout(time.Hour)}, tc.opts...)...)
			defer tr.Close()
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() {
				_, err := tr.Perform(ctx, &mechs.IORequest{Kind: mechs.IOKDC, Realm: "R", Message: testReq})
				done <- err
			}()
			received := func() int64 {
				return k1.udpReqs.Load() + k1.tcpReqs.Load() + k1.tcpConns.Load() + k2.udpReqs.Load() + k2.tcpReqs.Load() + k2.tcpConns.Load()
			}
			eventually(t, func() bool { return k2.udpReqs.Load()+k2.tcpReqs.Load() > 0 }, "the second KDC asked")
			cancel()
			select {
			case err := <-done:
				if !errors.Is(err, context.Canceled) || status.CodeOf(err) != status.SEC_E_NO_AUTHENTICATING_AUTHORITY {
					t.Fatalf("%v, want context.Canceled as SEC_E_NO_AUTHENTICATING_AUTHORITY", err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("Perform did not return after its context was cancelled")
			}
			// What was sent before Perform returned may still be in the
			// fake KDCs' socket buffers: let them read it.
			time.Sleep(5 * time.Millisecond)
			before := received()
			time.Sleep(20 * stagger) // the schedule would have resent and opened TCP by now
			if after := received(); after != before {
				t.Fatalf("the KDCs received %d more datagrams or connections after Perform returned", after-before)
			}
			eventually(t, func() bool { return k1.open.Load() == 0 && k2.open.Load() == 0 }, "every TCP connection closed")
		})
	}
}

// The same on synctest's clock, over the whole schedule: after the cancel
// nothing more arrives, ever, and every connection is closed by the time
// Perform has returned.
func TestSynctestCancelEndsExchange(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPipeKDCs()
		p.set("kdc1:88", silentKDC)
		p.set("kdc2:88", silentKDC)
		tr := NewTransport(WithDialer(p.dial), WithKDCs("R", "kdc1", "kdc2"), WithStagger(time.Second), WithTimeout(time.Hour))
		defer tr.Close()
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(2500*time.Millisecond, cancel) // after the TCP connection to kdc1 opened at 2s
		start := time.Now()
		if _, err := tr.Perform(ctx, &mechs.IORequest{Kind: mechs.IOKDC, Realm: "R", Message: testReq}); !errors.Is(err, context.Canceled) {
			t.Fatalf("%v", err)
		}
		if el := time.Since(start); el != 2500*time.Millisecond {
			t.Fatalf("Perform returned %v after the start, want at the cancel (2.5s)", el)
		}
		synctest.Wait()
		if n := p.openConns(); n != 0 {
			t.Fatalf("%d connections left open after Perform returned", n)
		}
		arrived := func() int {
			return len(p.times("kdc1:88/udp")) + len(p.times("kdc2:88/udp")) + len(p.times("kdc1:88/tcp")) + len(p.times("kdc2:88/tcp"))
		}
		n := arrived()
		if n != 3 {
			t.Fatalf("%d requests by the cancel, want 3 (kdc1 and kdc2 over UDP, kdc1 over TCP)", n)
		}
		time.Sleep(time.Minute)
		synctest.Wait()
		if m := arrived(); m != n {
			t.Fatalf("%d requests arrived after the cancel", m-n)
		}
	})
}

// A reply is read as it arrives: a length prefix that claims a megabyte
// costs what actually arrives (rounded up to a few kilobytes), not a
// megabyte allocated up front.
func TestReadFrameAllocatesAsBytesArrive(t *testing.T) {
	claim := AppendFrame(nil, make([]byte, DefaultMaxReplySize-1))[:4+10] // 10 of the claimed bytes, then EOF
	const runs = 50
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := 0; i < runs; i++ {
		if _, err := ReadFrame(bytes.NewReader(claim), DefaultMaxReplySize); !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("%v, want io.ErrUnexpectedEOF", err)
		}
	}
	runtime.ReadMemStats(&after)
	if per := (after.TotalAlloc - before.TotalAlloc) / runs; per > 4*frameChunk {
		t.Fatalf("ReadFrame allocated %d bytes for a record claiming %d of which 10 arrived", per, DefaultMaxReplySize-1)
	}
	// A long record still arrives whole, across many reads.
	msg := bytes.Repeat([]byte{0xa5}, 300_000)
	got, err := ReadFrame(io.MultiReader(bytes.NewReader(AppendFrame(nil, msg)[:1000]), bytes.NewReader(AppendFrame(nil, msg)[1000:])), DefaultMaxReplySize)
	if err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("300 kB record: %d bytes, %v", len(got), err)
	}
}

// A length above the maximum fails at once: nothing more is read (the
// peer here never sends more), nothing allocated.
func TestReadFrameOverMaxFailsAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, s := net.Pipe()
		defer c.Close()
		defer s.Close()
		go s.Write([]byte{0, 0, 0x04, 0x01}) // 1025, and then silence
		if _, err := ReadFrame(c, 1024); !errors.Is(err, ErrFrame) {
			t.Fatalf("%v, want ErrFrame", err)
		}
	})
}

// Over the transport: a KDC whose TCP reply claims more than
// WithMaxReplySize fails at once, and the next KDC is asked at once.
func TestSynctestOversizedTCPReplyHandsOver(t *testing.T) {
	want := krbErrorBytes(t, 6)
	synctest.Test(t, func(t *testing.T) {
		p := newPipeKDCs()
		p.set("kdc1:88", answerOn("tcp", []byte{0, 0, 0x10, 0x00})) // claims 4096 bytes, sends none
		p.raw["kdc1:88"] = true
		p.set("kdc2:88", answerOn("tcp", want))
		tr := NewTransport(WithDialer(p.dial), WithKDCs("R", "kdc1", "kdc2"), WithUDPPreferenceLimit(0),
			WithMaxReplySize(4095), WithStagger(time.Second), WithTimeout(time.Minute))
		defer tr.Close()
		if el := exchangeWant(t, tr, "R", want); el != 0 {
			t.Fatalf("hand-over took %v, want none", el)
		}
	})
}

// What one Transport learns about a realm's KDCs serves every Transport
// that shares its Hints (kerberos.Package shares one among all its
// credentials), until the TTL passes: a first KDC that is silent costs one
// stagger once, and a KDC that drops UDP is asked over TCP first.
func TestSynctestHintsShared(t *testing.T) {
	want := krbErrorBytes(t, 6)
	synctest.Test(t, func(t *testing.T) {
		p := newPipeKDCs()
		p.set("dead:88", silentKDC)
		p.set("live:88", answerOn("udp", want))
		p.set("tcponly:88", answerOn("tcp", want))
		h := NewHints(0)
		exchange := func(realm string) time.Duration {
			t.Helper()
			tr := NewTransport(WithDialer(p.dial), WithKDCs("A", "dead", "live"), WithKDCs("B", "tcponly"),
				WithHints(h), WithStagger(time.Second), WithTimeout(time.Minute))
			defer tr.Close()
			el := exchangeWant(t, tr, realm, want)
			synctest.Wait()
			return el
		}
		for _, realm := range []string{"A", "B"} {
			if el := exchange(realm); el != time.Second {
				t.Fatalf("realm %s, first Transport: %v, want one stagger", realm, el)
			}
		}
		dead, udp := len(p.times("dead:88/udp")), len(p.times("tcponly:88/udp"))
		for _, realm := range []string{"A", "B"} {
			if el := exchange(realm); el != 0 {
				t.Fatalf("realm %s, second Transport: %v, want no failover", realm, el)
			}
		}
		if len(p.times("dead:88/udp")) != dead || len(p.times("tcponly:88/udp")) != udp {
			t.Fatal("the second Transport asked the silent KDC, or UDP of the KDC that drops it, again")
		}
		time.Sleep(h.TTL())
		if el := exchange("A"); el != time.Second {
			t.Fatalf("after the TTL: %v, want the failover learnt again (one stagger)", el)
		}
	})
}

// A KDC that answers KRB_ERR_RESPONSE_TOO_BIG over UDP is asked over TCP at
// once (RFC 4120 section 7.2.1), and over TCP first next time.
func TestSynctestTooBigRemembered(t *testing.T) {
	want := krbErrorBytes(t, 6)
	tooBig := krbErrorBytes(t, 52)
	synctest.Test(t, func(t *testing.T) {
		p := newPipeKDCs()
		p.set("kdc1:88", func(network string, _ []byte) []byte {
			if network == "udp" {
				return tooBig
			}
			return want
		})
		tr := NewTransport(WithDialer(p.dial), WithKDCs("R", "kdc1"), WithStagger(time.Second), WithTimeout(time.Minute))
		defer tr.Close()
		for i := 0; i < 2; i++ {
			if el := exchangeWant(t, tr, "R", want); el != 0 {
				t.Fatalf("exchange %d took %v", i, el)
			}
			synctest.Wait()
		}
		if n := len(p.times("kdc1:88/udp")); n != 1 {
			t.Fatalf("%d UDP requests, want 1 (the second exchange went over TCP first)", n)
		}
	})
}

// udp_preference_limit and request_timeout as MIT reads them.
func TestParseProfile(t *testing.T) {
	for _, tc := range []struct {
		libdefaults string
		limit       int
		timeout     time.Duration
	}{
		{"", DefaultUDPPreferenceLimit, 0},
		{"udp_preference_limit = 1", 1, 0},
		{"udp_preference_limit = 0", 0, 0},
		{"udp_preference_limit = 99999", 32700, 0}, // gokrb5 refuses it; MIT clamps
		{"udp_preference_limit = -3", DefaultUDPPreferenceLimit, 0},
		{"request_timeout = 10", DefaultUDPPreferenceLimit, 10 * time.Second},
		{"request_timeout = 1m30s", DefaultUDPPreferenceLimit, 90 * time.Second},
		{"request_timeout = 0:02:05", DefaultUDPPreferenceLimit, 125 * time.Second},
		{"request_timeout = 0", DefaultUDPPreferenceLimit, 0},
	} {
		p, err := ParseProfile("[libdefaults]\n default_realm = R\n " + tc.libdefaults + "\n[realms]\n R = {\n  kdc = 127.0.0.1:88\n }\n")
		if err != nil {
			t.Fatalf("%q: %v", tc.libdefaults, err)
		}
		if p.UDPPreferenceLimit != tc.limit || p.RequestTimeout != tc.timeout || p.Config.LibDefaults.DefaultRealm != "R" {
			t.Fatalf("%q: limit %d timeout %v realm %q", tc.libdefaults, p.UDPPreferenceLimit, p.RequestTimeout, p.Config.LibDefaults.DefaultRealm)
		}
		tr := NewTransport(WithProfile(p))
		if tr.udpLimit != tc.limit || (tc.timeout > 0 && tr.timeout != tc.timeout) || (tc.timeout == 0 && tr.timeout != DefaultTimeout) {
			t.Fatalf("%q: transport limit %d timeout %v", tc.libdefaults, tr.udpLimit, tr.timeout)
		}
		if got := tr.KDCs("R"); len(got) != 1 {
			t.Fatalf("KDCs %v", got)
		}
		tr.Close()
	}
	if _, err := ParseProfile("[libdefaults]\n request_timeout = soon\n"); err == nil {
		t.Fatal("a malformed request_timeout was accepted")
	}
}

// request_timeout bounds the whole exchange.
func TestSynctestRequestTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		prof, err := ParseProfile("[libdefaults]\n request_timeout = 3\n")
		if err != nil {
			t.Fatal(err)
		}
		p := newPipeKDCs()
		p.set("kdc1:88", silentKDC)
		tr := NewTransport(WithProfile(prof), WithDialer(p.dial), WithKDCs("R", "kdc1"))
		defer tr.Close()
		start := time.Now()
		if _, err := tr.Exchange(context.Background(), "R", testReq); status.CodeOf(err) != status.SEC_E_NO_AUTHENTICATING_AUTHORITY {
			t.Fatalf("%v", err)
		}
		if el := time.Since(start); el != 3*time.Second {
			t.Fatalf("ended after %v, want request_timeout's 3s", el)
		}
	})
}
