package kerberos_test

import (
	"fmt"
	"time"

	secctx "github.com/asyncsspi/asyncsspi/context"
	"github.com/asyncsspi/asyncsspi/mechs"
	"github.com/asyncsspi/asyncsspi/mechs/kerberos"
	"github.com/asyncsspi/asyncsspi/mechs/kerberos/kdc"
	"github.com/jcmturner/gokrb5/v8/config"
	"github.com/jcmturner/gokrb5/v8/iana/flags"
	"github.com/jcmturner/gokrb5/v8/keytab"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/types"
)

// An outbound credential started from a TGT: what an acceptor's context
// gives as secctx.SECPKG_ATTR_ASYNCSSPI_DELEGATED_CREDENTIAL when its
// client delegated, made here locally. Its first leg asks the KDC for the
// service ticket with a TGS-REQ, as an IORequest for the engine to
// perform.
func ExampleTGT() {
	now := time.Now()
	kdcKeys := keytab.New()
	kdcKeys.AddEntry("krbtgt/EXAMPLE.ORG", "EXAMPLE.ORG", "the KDC's secret", now, 1, 18)
	cname, sname := types.NewPrincipalName(1, "alice"), types.NewPrincipalName(2, "krbtgt/EXAMPLE.ORG")
	fl := types.NewKrbFlags()
	types.SetFlag(&fl, flags.Forwarded)
	tkt, key, _ := messages.NewTicket(cname, "EXAMPLE.ORG", sname, "EXAMPLE.ORG", fl, kdcKeys, 18, 1, now, now, now.Add(time.Hour), now.Add(time.Hour))
	tgt := &kerberos.TGT{Ticket: &kdc.Ticket{Client: cname, CRealm: "EXAMPLE.ORG", Server: sname, SRealm: "EXAMPLE.ORG",
		Ticket: tkt, SessionKey: key, Flags: fl, AuthTime: now, StartTime: now, EndTime: now.Add(time.Hour)}}

	conf, _ := config.NewFromString("[libdefaults]\n default_realm = EXAMPLE.ORG\n[realms]\n EXAMPLE.ORG = {\n  kdc = kdc.example.org\n }\n")
	cred, err := kerberos.New(kerberos.WithConfig(conf)).AcquireCredentials(mechs.CredentialRequest{
		Use: secctx.SECPKG_CRED_OUTBOUND, AuthData: tgt})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer cred.Close()
	ic, _ := cred.NewInitiator(mechs.InitiatorParams{Target: "HTTP/upstream.example.org"})
	r := ic.Step(&mechs.StepInput{})
	fmt.Println(cred.Principal(), r.IO.Kind, r.IO.Realm)
	// Output: alice@EXAMPLE.ORG kdc EXAMPLE.ORG
}
