package kdc

import (
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/types"
)

// fakeKDC is a loopback server speaking Kerberos framing (RFC 4120 section
// 7.2) on one port over UDP and TCP, with scripted answers. It is a test
// double for the transport only; every exchange of tickets is tested
// against a real MIT KDC.
type fakeKDC struct {
	addr string
	udp  *net.UDPConn
	tcp  *net.TCPListener
	// onUDP / onTCP return the reply to a request; nil means stay silent.
	onUDP, onTCP func(req []byte) []byte
	// closeAfterReply makes the TCP side close each connection after one
	// reply, as MIT's krb5kdc does. Set before the first request.
	closeAfterReply bool

	udpReqs, tcpReqs, tcpConns, maxOpen atomic.Int64
	open                                atomic.Int64

	wg    sync.WaitGroup
	mu    sync.Mutex
	conns map[net.Conn]bool
}

func newFakeKDC(t *testing.T, onUDP, onTCP func([]byte) []byte) *fakeKDC {
	t.Helper()
	f := &fakeKDC{onUDP: onUDP, onTCP: onTCP, conns: map[net.Conn]bool{}}
	for try := 0; ; try++ {
		l, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		u, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port})
		if err != nil {
			l.Close()
			if try < 20 {
				continue
			}
			t.Fatal(err)
		}
		f.tcp, f.udp, f.addr = l, u, net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		break
	}
	f.wg.Add(2)
	go f.serveUDP()
	go f.serveTCP()
	t.Cleanup(f.close)
	return f
}

func (f *fakeKDC) close() {
	f.udp.Close()
	f.tcp.Close()
	f.mu.Lock()
	for c := range f.conns {
		c.Close()
	}
	f.mu.Unlock()
	f.wg.Wait()
}

func (f *fakeKDC) serveUDP() {
	defer f.wg.Done()
	buf := make([]byte, 65535)
	for {
		n, from, err := f.udp.ReadFromUDP(buf)
		if err != nil {
			return
		}
		f.udpReqs.Add(1)
		if f.onUDP == nil {
			continue
		}
		if rep := f.onUDP(append([]byte(nil), buf[:n]...)); rep != nil {
			f.udp.WriteToUDP(rep, from)
		}
	}
}

func (f *fakeKDC) serveTCP() {
	defer f.wg.Done()
	for {
		c, err := f.tcp.Accept()
		if err != nil {
			return
		}
		f.tcpConns.Add(1)
		f.mu.Lock()
		f.conns[c] = true
		f.mu.Unlock()
		f.wg.Add(1)
		go f.serveConn(c)
	}
}

func (f *fakeKDC) serveConn(c net.Conn) {
	defer f.wg.Done()
	n := f.open.Add(1)
	for {
		m := f.maxOpen.Load()
		if n <= m || f.maxOpen.CompareAndSwap(m, n) {
			break
		}
	}
	defer func() {
		f.open.Add(-1)
		c.Close()
		f.mu.Lock()
		delete(f.conns, c)
		f.mu.Unlock()
	}()
	for {
		req, err := ReadFrame(c, DefaultMaxReplySize)
		if err != nil {
			return
		}
		f.tcpReqs.Add(1)
		if f.onTCP == nil {
			continue
		}
		rep := f.onTCP(req)
		if rep == nil {
			continue
		}
		if _, err := c.Write(AppendFrame(nil, rep)); err != nil {
			return
		}
		if f.closeAfterReply {
			return
		}
	}
}

// krbErrorBytes returns a KRB-ERROR with the given error-code.
func krbErrorBytes(t testing.TB, code int32) []byte {
	t.Helper()
	k := messages.NewKRBError(types.NewPrincipalName(2, "krbtgt/TEST"), "TEST", code, "fake")
	b, err := k.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// replyWith answers every request with rep.
func replyWith(rep []byte) func([]byte) []byte { return func([]byte) []byte { return rep } }

// deadAddr returns a loopback address where nothing listens (UDP and TCP
// are refused).
func deadAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := l.Addr().String()
	l.Close()
	return a
}
