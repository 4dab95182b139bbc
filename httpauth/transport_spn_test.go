package httpauth

import (
	"context"
	"encoding/binary"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
)

func TestTarget(t *testing.T) {
	proxy, _ := url.Parse("http://Proxy.Example:3128")
	for _, c := range []struct {
		url, host string
		proxy     bool
		opts      []TransportOption
		want      string
	}{
		{url: "http://Web.Example.COM/x", want: "HTTP/web.example.com"},
		{url: "http://web.example.com./x", want: "HTTP/web.example.com"},
		{url: "http://web:8080/", want: "HTTP/web"},
		{url: "http://web:8080/", opts: []TransportOption{WithSPNPort()}, want: "HTTP/web:8080"},
		{url: "http://web:80/", opts: []TransportOption{WithSPNPort()}, want: "HTTP/web"},
		{url: "https://web:443/", opts: []TransportOption{WithSPNPort()}, want: "HTTP/web"},
		{url: "https://web:80/", opts: []TransportOption{WithSPNPort()}, want: "HTTP/web:80"},
		{url: "http://[::1]:8080/", want: "HTTP/::1"},
		{url: "http://10.0.0.1/", host: "vhost.example:81", opts: []TransportOption{WithSPNPort()}, want: "HTTP/vhost.example:81"},
		{url: "http://origin/", proxy: true, want: "HTTP/proxy.example"},
		{url: "http://origin/", proxy: true, opts: []TransportOption{WithSPNPort()}, want: "HTTP/proxy.example:3128"},
		{url: "http://web/", opts: []TransportOption{WithSPN(func(h string) string { return "host/" + h + "@REALM" })}, want: "host/web@REALM"},
	} {
		opts := append([]TransportOption{WithBase(&http.Transport{Proxy: http.ProxyURL(proxy)})}, c.opts...)
		tr := NewTransport(opts...)
		req, _ := http.NewRequest("GET", c.url, nil)
		req.Host = c.host
		got, err := tr.target(context.Background(), req, c.proxy)
		if err != nil || got != c.want {
			t.Errorf("%s (host %q, proxy %v): %q, %v; want %q", c.url, c.host, c.proxy, got, err, c.want)
		}
	}
	// A 407 for a request sent to no proxy has no target.
	tr := NewTransport(WithBase(&http.Transport{}))
	req, _ := http.NewRequest("GET", "http://web/", nil)
	if _, err := tr.target(context.Background(), req, true); err == nil {
		t.Error("proxy target without a proxy")
	}
}

// WithCanonicalHost follows the CNAME chain, as MIT and curl do, here
// against a DNS server on loopback; a name that does not resolve is used
// as it is.
func TestCanonicalHost(t *testing.T) {
	dns := startDNS(t, map[string]string{"alias.test.": "web.example.test."})
	r := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "udp", dns)
	}}
	tr := NewTransport(WithBase(&http.Transport{}), WithCanonicalHost(r), WithSPNPort())
	for host, want := range map[string]string{
		"http://Alias.test:8080/": "HTTP/web.example.test:8080",
		"http://nothing.test/":    "HTTP/nothing.test",
		"http://127.0.0.1/":       "HTTP/127.0.0.1",
	} {
		req, _ := http.NewRequest("GET", host, nil)
		got, err := tr.target(t.Context(), req, false)
		if err != nil || got != want {
			t.Errorf("%s: %q, %v; want %q", host, got, err, want)
		}
	}
}

// startDNS serves A and AAAA queries over UDP on loopback: a name in
// cnames is answered with a CNAME to its target (and, for A, the
// target's address 127.0.0.1); any other name with NXDOMAIN. The serving
// goroutine ends, and is waited for, at cleanup.
func startDNS(t *testing.T, cnames map[string]string) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		buf := make([]byte, 1500)
		for {
			n, addr, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			if resp := dnsAnswer(buf[:n], cnames); resp != nil {
				pc.WriteTo(resp, addr)
			}
		}
	}()
	t.Cleanup(func() { pc.Close(); wg.Wait() })
	return pc.LocalAddr().String()
}

// dnsAnswer builds the layerReply to one query (RFC 1035 section 4.1).
func dnsAnswer(q []byte, cnames map[string]string) []byte {
	if len(q) < 12 {
		return nil
	}
	// The question: a name of labels, then type and class.
	i := 12
	var labels []string
	for i < len(q) && q[i] != 0 {
		l := int(q[i])
		if i+1+l > len(q) {
			return nil
		}
		labels = append(labels, string(q[i+1:i+1+l]))
		i += 1 + l
	}
	if i+5 > len(q) {
		return nil
	}
	qname := strings.ToLower(strings.Join(labels, ".")) + "."
	qtype := binary.BigEndian.Uint16(q[i+1:])
	question := q[12 : i+5]
	target, ok := cnames[qname]
	out := make([]byte, 12, 512)
	copy(out, q[:2])
	binary.BigEndian.PutUint16(out[2:], 0x8180) // a response, recursion available
	binary.BigEndian.PutUint16(out[4:], 1)
	if !ok {
		binary.BigEndian.PutUint16(out[2:], 0x8183) // NXDOMAIN
		return append(out, question...)
	}
	out = append(out, question...)
	rr := func(name []byte, typ uint16, data []byte) {
		out = append(out, name...)
		out = binary.BigEndian.AppendUint16(out, typ)
		out = binary.BigEndian.AppendUint16(out, 1) // IN
		out = binary.BigEndian.AppendUint32(out, 60)
		out = binary.BigEndian.AppendUint16(out, uint16(len(data)))
		out = append(out, data...)
	}
	var tname []byte
	for _, l := range strings.Split(strings.TrimSuffix(target, "."), ".") {
		tname = append(append(tname, byte(len(l))), l...)
	}
	tname = append(tname, 0)
	answers := 1
	rr([]byte{0xC0, 12}, 5, tname) // CNAME, its owner the question's name
	if qtype == 1 {
		rr(tname, 1, []byte{127, 0, 0, 1})
		answers++
	}
	binary.BigEndian.PutUint16(out[6:], uint16(answers))
	return out
}
