package kdc_test

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/asyncsspi/asyncsspi/mechs/kerberos/kdc"
	"github.com/asyncsspi/asyncsspi/status"
	"github.com/jcmturner/gokrb5/v8/config"
	"github.com/jcmturner/gokrb5/v8/types"
)

// A Transport takes its KDC list from options or from krb5.conf.
func ExampleNewTransport() {
	conf, _ := config.NewFromString(`
[libdefaults]
 default_realm = EXAMPLE.ORG
[realms]
 EXAMPLE.ORG = {
  kdc = kdc1.example.org
  kdc = 192.0.2.7:8888
 }
`)
	t := kdc.NewTransport(kdc.WithConfig(conf), kdc.WithKDCs("OTHER.ORG", "127.0.0.1:88"))
	defer t.Close()
	fmt.Println(t.KDCs("EXAMPLE.ORG"))
	fmt.Println(t.KDCs("OTHER.ORG"))
	// Output:
	// [kdc1.example.org:88 192.0.2.7:8888]
	// [127.0.0.1:88]
}

// NewClient does no I/O; SPNs are read as service/host[@REALM] or
// service@host.
func ExampleClient_ParseSPN() {
	c, err := kdc.NewClient(kdc.ClientConfig{
		Principal: types.NewPrincipalName(1, "alice"),
		Realm:     "EXAMPLE.ORG",
		Password:  "secret",
		Config:    config.New(),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	for _, spn := range []string{"HTTP/www.example.org", "HTTP@www.example.org", "HTTP/www.example.org@EXAMPLE.ORG"} {
		name, realm, _ := c.ParseSPN(spn)
		fmt.Println(name.PrincipalNameString(), realm)
	}
	_, _, err = c.ParseSPN("HTTP/www.other.org@OTHER.ORG")
	fmt.Println(err != nil)
	// Output:
	// HTTP/www.example.org EXAMPLE.ORG
	// HTTP/www.example.org EXAMPLE.ORG
	// HTTP/www.example.org EXAMPLE.ORG
	// true
}

// KDC messages travel over TCP with a 4-byte length prefix (RFC 4120
// section 7.2.2).
func ExampleReadFrame() {
	framed := kdc.AppendFrame(nil, []byte{0x7e, 0x00})
	fmt.Printf("% x\n", framed)
	msg, err := kdc.ReadFrame(bytes.NewReader(framed), 1<<20)
	fmt.Printf("% x %v\n", msg, err)
	// Output:
	// 00 00 00 02 7e 00
	// 7e 00 <nil>
}

// Every failure carries its SSPI status; here no KDC answers (nothing
// listens on port 1 of the loopback address).
func ExampleClient_ServiceTicket() {
	tr := kdc.NewTransport(kdc.WithKDCs("EXAMPLE.ORG", "127.0.0.1:1"), kdc.WithTimeout(5*time.Second))
	defer tr.Close()
	c, err := kdc.NewClient(kdc.ClientConfig{
		Principal: types.NewPrincipalName(1, "alice"),
		Realm:     "EXAMPLE.ORG",
		Password:  "secret",
		Config:    config.New(),
		Transport: tr,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	_, err = c.ServiceTicket(context.Background(), "HTTP/www.example.org")
	fmt.Println(status.CodeOf(err))
	// Output:
	// SEC_E_NO_AUTHENTICATING_AUTHORITY
}
