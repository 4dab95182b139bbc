package kerberos_test

import (
	encasn1 "encoding/asn1"
	"errors"
	"testing"

	secctx "github.com/asyncsspi/asyncsspi/context"
	"github.com/asyncsspi/asyncsspi/mechs"
	"github.com/asyncsspi/asyncsspi/mechs/kerberos"
	"github.com/asyncsspi/asyncsspi/mechs/kerberos/kdc"
	"github.com/asyncsspi/asyncsspi/mechs/negotiate"
	"github.com/asyncsspi/asyncsspi/replay"
	"github.com/asyncsspi/asyncsspi/status"
	"golang.org/x/crypto/cryptobyte"
	"golang.org/x/crypto/cryptobyte/asn1"
)

// negTokenInit wraps a Kerberos initial context token as the optimistic
// mechToken of a SPNEGO NegTokenInit (RFC 4178 section 4.2.1).
func negTokenInit(t *testing.T, apReq []byte) []byte {
	t.Helper()
	b := cryptobyte.NewBuilder(nil)
	b.AddASN1(asn1.Tag(0x60), func(b *cryptobyte.Builder) {
		b.AddASN1ObjectIdentifier(encasn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 2})
		b.AddASN1(asn1.Tag(0).ContextSpecific().Constructed(), func(b *cryptobyte.Builder) {
			b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
				b.AddASN1(asn1.Tag(0).ContextSpecific().Constructed(), func(b *cryptobyte.Builder) {
					b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
						b.AddASN1ObjectIdentifier(encasn1.ObjectIdentifier{1, 2, 840, 113554, 1, 2, 2})
					})
				})
				b.AddASN1(asn1.Tag(2).ContextSpecific().Constructed(), func(b *cryptobyte.Builder) {
					b.AddASN1OctetString(apReq)
				})
			})
		})
	})
	tok, err := b.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// TestReplayBetweenKerberosAndNegotiate: one AP-REQ is accepted once in
// the process, whether it comes bare to a Kerberos acceptor or inside
// SPNEGO to a Negotiate acceptor over the same keytab, each package made
// on its own (the process's default replay cache).
func TestReplayBetweenKerberosAndNegotiate(t *testing.T) {
	tkt, kt := exampleTicket()
	client, err := kerberos.New().AcquireCredentials(mechs.CredentialRequest{Use: secctx.SECPKG_CRED_OUTBOUND,
		AuthData: &kerberos.ServiceTickets{Tickets: []*kdc.Ticket{tkt}}})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	apReq := func() []byte {
		ic, _ := client.NewInitiator(mechs.InitiatorParams{Target: "HTTP@www.example.org", Req: secctx.ISC_REQ_MUTUAL_AUTH})
		r := ic.Step(&mechs.StepInput{})
		if r.Status != status.SEC_I_CONTINUE_NEEDED {
			t.Fatal(r.Err)
		}
		return r.Token
	}
	krb, err := kerberos.New().AcquireCredentials(mechs.CredentialRequest{Use: secctx.SECPKG_CRED_INBOUND, AuthData: &kerberos.Keytab{Keytab: kt}})
	if err != nil {
		t.Fatal(err)
	}
	neg, err := negotiate.New(kerberos.New()).AcquireCredentials(mechs.CredentialRequest{Use: secctx.SECPKG_CRED_INBOUND,
		AuthData: &kerberos.Keytab{Keytab: kt}})
	if err != nil {
		t.Fatal(err)
	}
	accept := func(cred mechs.Credential, tok []byte) mechs.StepResult {
		ac, err := cred.NewAcceptor(mechs.AcceptorParams{})
		if err != nil {
			t.Fatal(err)
		}
		return ac.Step(&mechs.StepInput{Token: tok})
	}

	// Bare Kerberos first, then inside SPNEGO.
	tok := apReq()
	if r := accept(krb, tok); r.Status != status.SEC_E_OK {
		t.Fatalf("Kerberos acceptor: %v", r.Err)
	}
	if r := accept(neg, negTokenInit(t, tok)); r.Status != status.SEC_E_LOGON_DENIED || !errors.Is(r.Err, replay.ErrReplay) {
		t.Fatalf("replay to the Negotiate acceptor: %v %v", r.Status, r.Err)
	}
	// Inside SPNEGO first, then bare.
	tok = apReq()
	if r := accept(neg, negTokenInit(t, tok)); r.Status != status.SEC_E_OK {
		t.Fatalf("Negotiate acceptor: %v %v", r.Status, r.Err)
	}
	if r := accept(krb, tok); r.Status != status.SEC_E_LOGON_DENIED || !errors.Is(r.Err, replay.ErrReplay) {
		t.Fatalf("replay to the Kerberos acceptor: %v %v", r.Status, r.Err)
	}
}
