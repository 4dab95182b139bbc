package mitrealm

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"
)

// startTimeout bounds how long one krb5kdc may take to come up.
const startTimeout = 15 * time.Second

// kdcProcess is one krb5kdc child. The goroutine started by startKDC owns
// cmd.Wait and closes done after it returns; stop kills the process and
// waits for done, so nothing outlives the realm.
type kdcProcess struct {
	cmd     *exec.Cmd
	done    chan struct{}
	waitErr error         // written before done is closed
	out     *bytes.Buffer // its stdout and stderr; read only after done
	once    sync.Once
}

func (k *kdcProcess) stop() {
	k.once.Do(func() {
		_ = k.cmd.Process.Kill()
		<-k.done
	})
}

// startKDC starts krb5kdc on the port written in kdc.conf and returns once
// it logs "commencing operation" and no other socket shares its port.
func (r *Realm) startKDC(port int) (*kdcProcess, error) {
	_ = os.Remove(r.LogPath)
	cmd := exec.Command(r.progs["krb5kdc"], "-n", "-r", r.Name)
	cmd.Env = r.Environ()
	// One writer for both: os/exec then calls it from one goroutine at a
	// time, and Wait returns after the last call.
	out := new(bytes.Buffer)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	k := &kdcProcess{cmd: cmd, done: make(chan struct{}), out: out}
	go func() {
		k.waitErr = cmd.Wait()
		close(k.done)
	}()
	deadline := time.Now().Add(startTimeout)
	for !strings.Contains(r.Log(), "commencing operation") {
		select {
		case <-k.done:
			return nil, fmt.Errorf("krb5kdc exited: %v\n%s%s", k.waitErr, k.out, r.LogTail(10))
		case <-time.After(2 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			k.stop()
			return nil, fmt.Errorf("krb5kdc did not start within %v\n%s", startTimeout, r.LogTail(10))
		}
	}
	// krb5kdc sets SO_REUSEADDR/SO_REUSEPORT, so a second KDC on the same
	// port starts without error and steals half the traffic. Refuse to run
	// beside another socket on our port.
	if n := socketsOnPort(port); n > 2 {
		k.stop()
		return nil, fmt.Errorf("port %d is shared with another socket", port)
	}
	return k, nil
}

// ListenTCPAndUDP binds a TCP listener and a UDP socket on the same free
// loopback port, for a KDC address; the caller closes both.
func ListenTCPAndUDP() (net.Listener, net.PacketConn, error) {
	for i := 0; i < 64; i++ {
		tl, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			return nil, nil, err
		}
		port := tl.Addr().(*net.TCPAddr).Port
		ul, err := net.ListenPacket("udp4", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			tl.Close()
			continue
		}
		return tl, ul, nil
	}
	return nil, nil, fmt.Errorf("mitrealm: no loopback port free for both TCP and UDP")
}

// ReservePort finds a loopback port free for both TCP and UDP and, on
// Linux, takes a process-wide claim on it: an abstract Unix socket named
// after the port, which the kernel frees when the holder exits. Realms
// started by concurrent processes (test binaries of several packages)
// therefore never pick the same port. Close the claim (nil off Linux) to
// release it; a realm releases its own on Close.
func ReservePort() (int, net.Listener, error) {
	for i := 0; i < 64; i++ {
		tl, ul, err := ListenTCPAndUDP()
		if err != nil {
			return 0, nil, err
		}
		port := tl.Addr().(*net.TCPAddr).Port
		var claim net.Listener
		if runtime.GOOS == "linux" {
			claim, err = net.Listen("unix", "@asyncsspi-testrealm-port-"+strconv.Itoa(port))
		}
		tl.Close()
		ul.Close()
		if err == nil {
			return port, claim, nil
		}
	}
	return 0, nil, fmt.Errorf("mitrealm: no loopback port free for both TCP and UDP")
}

func closeClaim(claim net.Listener) {
	if claim != nil {
		claim.Close()
	}
}

// socketsOnPort counts IPv4 sockets bound to port: TCP listeners in
// /proc/net/tcp and UDP sockets in /proc/net/udp. It returns 0 when /proc is
// unreadable (not Linux).
func socketsOnPort(port int) int {
	hexPort := fmt.Sprintf(":%04X", port)
	n := 0
	for _, f := range []string{"/proc/net/tcp", "/proc/net/udp"} {
		b, err := os.ReadFile(f)
		if err != nil {
			return 0
		}
		for _, line := range strings.Split(string(b), "\n")[1:] {
			fields := strings.Fields(line)
			if len(fields) < 4 || !strings.HasSuffix(fields[1], hexPort) {
				continue
			}
			// TCP state 0A is LISTEN; UDP sockets show 07 (unconnected).
			if f == "/proc/net/tcp" && fields[3] != "0A" {
				continue
			}
			n++
		}
	}
	return n
}
