package negotiate_test

import (
	"fmt"

	secctx "github.com/asyncsspi/asyncsspi/context"
	"github.com/asyncsspi/asyncsspi/mechs"
	"github.com/asyncsspi/asyncsspi/mechs/negotiate"
	"github.com/asyncsspi/asyncsspi/mechs/ntlm"
	"github.com/asyncsspi/asyncsspi/status"
)

func ExampleParseNegTokenInit() {
	// The NegTokenInit an initiator sends first: the mechanism list in
	// preference order and an optimistic token, in the GSS framing.
	tok := &negotiate.NegTokenInit{
		MechTypes: []string{mechs.OIDMSKerberos, mechs.OIDKerberos, mechs.OIDNTLMSSP},
		MechToken: []byte("optimistic"),
	}
	b, _ := tok.Marshal()
	fmt.Printf("% x\n", b[:10])
	got, _ := negotiate.ParseNegTokenInit(b)
	fmt.Println(got.MechTypes, string(got.MechToken))

	// A truncated token asks for the rest.
	_, err := negotiate.ParseNegTokenInit(b[:20])
	fmt.Println(status.CodeOf(err), negotiate.Missing(err))
	// Output:
	// 60 40 06 06 2b 06 01 05 05 02
	// [1.2.840.48018.1.2.2 1.2.840.113554.1.2.2 1.3.6.1.4.1.311.2.2.10] optimistic
	// SEC_E_INCOMPLETE_MESSAGE 46
}

func ExampleNegTokenResp() {
	// The acceptor's first reply names its choice; request-mic says the
	// mechListMIC exchange is required.
	b, _ := (&negotiate.NegTokenResp{NegState: negotiate.RequestMIC, SupportedMech: mechs.OIDNTLMSSP}).Marshal()
	r, _ := negotiate.ParseNegTokenResp(b)
	fmt.Println(r.NegState, r.SupportedMech, r.ResponseToken == nil)
	// Output:
	// request-mic 1.3.6.1.4.1.311.2.2.10 true
}

// Negotiate over NTLM, both sides in memory: the initiator offers its
// sub-packages, the acceptor chooses, and the mechListMICs protect the
// choice. QueryAttribute names the package chosen.
func ExampleNew() {
	users := ntlm.NewMemoryStore()
	users.AddPassword("EXAMPLE", "alice", "Passw0rd!")
	pkg := negotiate.New(ntlm.New(ntlm.WithUserStore(users)))

	ccred, _ := pkg.AcquireCredentials(mechs.CredentialRequest{Use: secctx.SECPKG_CRED_OUTBOUND,
		AuthData: &secctx.AuthIdentity{User: "alice", Domain: "EXAMPLE", Password: "Passw0rd!"}})
	scred, _ := pkg.AcquireCredentials(mechs.CredentialRequest{Use: secctx.SECPKG_CRED_INBOUND})
	client, _ := ccred.NewInitiator(mechs.InitiatorParams{Target: "HTTP/web.example.com"})
	server, _ := scred.NewAcceptor(mechs.AcceptorParams{})
	defer client.Close()
	defer server.Close()

	var tok []byte
	for side := 0; ; side ^= 1 {
		ctx := client
		if side == 1 {
			ctx = server
		}
		r := ctx.Step(&mechs.StepInput{Token: tok})
		fmt.Println([]string{"client", "server"}[side], r.Status, len(r.Token) > 0)
		if tok = r.Token; tok == nil {
			break
		}
	}
	v, _ := server.QueryAttribute(secctx.SECPKG_ATTR_NEGOTIATION_INFO)
	ni := v.(secctx.NegotiationInfo)
	fmt.Println(ni.Package.Name, ni.State)
	// Output:
	// client SEC_I_CONTINUE_NEEDED true
	// server SEC_I_CONTINUE_NEEDED true
	// client SEC_I_CONTINUE_NEEDED true
	// server SEC_E_OK true
	// client SEC_E_OK false
	// NTLM SECPKG_NEGOTIATION_COMPLETE
}
