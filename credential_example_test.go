package asyncsspi_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/jcmturner/gokrb5/v8/config"
	"github.com/jcmturner/gokrb5/v8/iana/etypeID"
	"github.com/jcmturner/gokrb5/v8/iana/nametype"
	"github.com/jcmturner/gokrb5/v8/keytab"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/types"

	"github.com/asyncsspi/asyncsspi"
	"github.com/asyncsspi/asyncsspi/mechs/kerberos"
	"github.com/asyncsspi/asyncsspi/mechs/kerberos/kdc"
)

// Kerberos with no KDC and no file: the service's key in a keytab in
// memory (KerberosKeys), and a client credential of a service ticket
// obtained elsewhere (KerberosServiceTickets) — here issued with that key,
// as a KDC would issue it. The client verifies the server (mutual
// authentication).
func ExampleKerberosServiceTickets() {
	const realm, spn = "EXAMPLE.COM", "HTTP/web.example.com"
	kt := keytab.New()
	if err := kt.AddEntry(spn, realm, "service secret", time.Now(), 1, etypeID.AES256_CTS_HMAC_SHA1_96); err != nil {
		log.Fatal(err)
	}
	cname := types.NewPrincipalName(nametype.KRB_NT_PRINCIPAL, "alice")
	sname := types.NewPrincipalName(nametype.KRB_NT_SRV_INST, spn)
	now := time.Now()
	end := now.Add(time.Hour)
	tkt, key, err := messages.NewTicket(cname, realm, sname, realm, types.NewKrbFlags(), kt, etypeID.AES256_CTS_HMAC_SHA1_96, 1, now, now, end, end)
	if err != nil {
		log.Fatal(err)
	}
	ticket := &kdc.Ticket{Client: cname, CRealm: realm, Server: sname, SRealm: realm, Ticket: tkt, SessionKey: key,
		AuthTime: now, StartTime: now, EndTime: end}

	// An empty krb5.conf: nothing on the machine is read.
	e := asyncsspi.New(asyncsspi.WithKerberosOptions(kerberos.WithConfig(config.New())))
	defer e.Close()
	ccred, err := e.ClientCredential(asyncsspi.KerberosServiceTickets(ticket))
	if err != nil {
		log.Fatal(err)
	}
	defer ccred.Close()
	scred, err := e.ServerCredential(asyncsspi.KerberosKeys(kt, spn))
	if err != nil {
		log.Fatal(err)
	}
	defer scred.Close()
	client, _ := ccred.NewClientContext(spn, asyncsspi.MutualAuth())
	server, _ := scred.NewServerContext()
	defer client.Close()
	defer server.Close()

	ctx := context.Background()
	apReq, _, err := client.Step(ctx, nil)
	if err != nil {
		log.Fatal(err)
	}
	apRep, _, err := server.Step(ctx, apReq)
	if err != nil {
		log.Fatal(err)
	}
	if _, _, err := client.Step(ctx, apRep); err != nil {
		log.Fatal(err)
	}
	fmt.Println(server.Package(), server.ClientName(), client.MutuallyAuthenticated())
	// Output:
	// Kerberos alice@EXAMPLE.COM true
}
