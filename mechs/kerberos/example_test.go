package kerberos_test

import (
	"errors"
	"fmt"
	"time"

	secctx "github.com/asyncsspi/asyncsspi/context"
	"github.com/asyncsspi/asyncsspi/mechs"
	"github.com/asyncsspi/asyncsspi/mechs/kerberos"
	"github.com/asyncsspi/asyncsspi/mechs/kerberos/kdc"
	"github.com/asyncsspi/asyncsspi/replay"
	"github.com/jcmturner/gokrb5/v8/iana/flags"
	"github.com/jcmturner/gokrb5/v8/keytab"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/types"
)

// exampleTicket makes a service ticket locally, as a KDC would (gokrb5's
// messages.NewTicket encrypts it in the service's keytab key), so that the
// example runs without a KDC.
func exampleTicket() (*kdc.Ticket, *keytab.Keytab) {
	now := time.Now()
	kt := keytab.New()
	kt.AddEntry("HTTP/www.example.org", "EXAMPLE.ORG", "service secret", now, 1, 18)
	cname, sname := types.NewPrincipalName(1, "alice"), types.NewPrincipalName(2, "HTTP/www.example.org")
	fl := types.NewKrbFlags()
	types.SetFlag(&fl, flags.Forwardable)
	tkt, key, _ := messages.NewTicket(cname, "EXAMPLE.ORG", sname, "EXAMPLE.ORG", fl, kt, 18, 1, now, now, now.Add(time.Hour), now.Add(time.Hour))
	return &kdc.Ticket{Client: cname, CRealm: "EXAMPLE.ORG", Server: sname, SRealm: "EXAMPLE.ORG",
		Ticket: tkt, SessionKey: key, Flags: fl, AuthTime: now, StartTime: now, EndTime: now.Add(time.Hour)}, kt
}

// A mutual-authentication handshake and a sealed message, with a ticket
// the initiator already holds (in real use, the credential gets tickets
// from the KDC through an IORequest on its first leg).
func Example() {
	tkt, kt := exampleTicket()
	pkg := kerberos.New()
	client, _ := pkg.AcquireCredentials(mechs.CredentialRequest{Use: secctx.SECPKG_CRED_OUTBOUND,
		AuthData: &kerberos.ServiceTickets{Tickets: []*kdc.Ticket{tkt}}})
	server, _ := pkg.AcquireCredentials(mechs.CredentialRequest{Use: secctx.SECPKG_CRED_INBOUND,
		AuthData: &kerberos.Keytab{Keytab: kt}})
	defer client.Close()
	defer server.Close()

	ic, _ := client.NewInitiator(mechs.InitiatorParams{Target: "HTTP@www.example.org",
		Req: secctx.ISC_REQ_MUTUAL_AUTH | secctx.ISC_REQ_CONFIDENTIALITY})
	ac, _ := server.NewAcceptor(mechs.AcceptorParams{})

	r := ic.Step(&mechs.StepInput{}) // AP-REQ
	fmt.Println("initiator:", r.Status)
	a := ac.Step(&mechs.StepInput{Token: r.Token}) // verify, AP-REP
	fmt.Println("acceptor:", a.Status, secctx.ASCRet(a.Flags).Has(secctx.ASC_RET_MUTUAL_AUTH))
	r = ic.Step(&mechs.StepInput{Token: a.Token}) // verify the AP-REP
	fmt.Println("initiator:", r.Status, secctx.ISCRet(r.Flags).Has(secctx.ISC_RET_MUTUAL_AUTH))
	names, _ := ac.QueryAttribute(secctx.SECPKG_ATTR_NAMES)
	fmt.Println("client:", names.(secctx.Names).UserName)

	msg := []secctx.Buffer{{Type: secctx.SECBUFFER_TOKEN}, {Type: secctx.SECBUFFER_DATA, Data: []byte("hello")}}
	ic.EncryptMessage(0, msg, 0)
	_, st := ac.DecryptMessage(msg, 0)
	fmt.Println("unsealed:", st, string(msg[1].Data))
	// Output:
	// initiator: SEC_I_CONTINUE_NEEDED
	// acceptor: SEC_E_OK true
	// initiator: SEC_E_OK true
	// client: alice@EXAMPLE.ORG
	// unsealed: SEC_E_OK hello
}

// A target that is no service principal name is refused at once.
func ExamplePackage_AcquireCredentials_targetUnknown() {
	tkt, _ := exampleTicket()
	cred, _ := kerberos.New().AcquireCredentials(mechs.CredentialRequest{Use: secctx.SECPKG_CRED_OUTBOUND,
		AuthData: &kerberos.ServiceTickets{Tickets: []*kdc.Ticket{tkt}}})
	_, err := cred.NewInitiator(mechs.InitiatorParams{Target: "www.example.org"})
	fmt.Println(err != nil, cred.Principal())
	// Output: true alice@EXAMPLE.ORG
}

// An acceptor asked for extended errors answers a refused AP-REQ (here a
// replayed one) with a KRB-ERROR token; the initiator given that token
// ends with the matching status and the KRB-ERROR as the cause.
func ExampleKRBError() {
	tkt, kt := exampleTicket()
	pkg := kerberos.New(kerberos.WithReplayCache(replay.NewMemory()))
	client, _ := pkg.AcquireCredentials(mechs.CredentialRequest{Use: secctx.SECPKG_CRED_OUTBOUND,
		AuthData: &kerberos.ServiceTickets{Tickets: []*kdc.Ticket{tkt}}})
	server, _ := pkg.AcquireCredentials(mechs.CredentialRequest{Use: secctx.SECPKG_CRED_INBOUND,
		AuthData: &kerberos.Keytab{Keytab: kt}})
	defer client.Close()
	defer server.Close()

	ic, _ := client.NewInitiator(mechs.InitiatorParams{Target: "HTTP@www.example.org", Req: secctx.ISC_REQ_MUTUAL_AUTH})
	apReq := ic.Step(&mechs.StepInput{}).Token
	first, _ := server.NewAcceptor(mechs.AcceptorParams{})
	first.Step(&mechs.StepInput{Token: apReq})

	again, _ := server.NewAcceptor(mechs.AcceptorParams{Req: secctx.ASC_REQ_EXTENDED_ERROR})
	refused := again.Step(&mechs.StepInput{Token: apReq})
	fmt.Println("acceptor:", refused.Status, errors.Is(refused.Err, replay.ErrReplay))

	r := ic.Step(&mechs.StepInput{Token: refused.Token})
	var ke *kerberos.KRBError
	fmt.Println("initiator:", r.Status, errors.As(r.Err, &ke), ke.Code)
	// Output:
	// acceptor: SEC_E_LOGON_DENIED true
	// initiator: SEC_E_LOGON_DENIED true 34
}
