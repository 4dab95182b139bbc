package ntlm_test

import (
	"fmt"

	secctx "github.com/asyncsspi/asyncsspi/context"
	"github.com/asyncsspi/asyncsspi/mechs"
	"github.com/asyncsspi/asyncsspi/mechs/ntlm"
)

// A complete NTLM handshake in memory, through the mechanism API: the
// client's NEGOTIATE, the acceptor's CHALLENGE, the client's AUTHENTICATE.
func Example_handshake() {
	users := ntlm.NewMemoryStore()
	users.AddPassword("EXAMPLE", "alice", "Secret1!")
	pkg := ntlm.New(ntlm.WithUserStore(users), ntlm.WithDomainName("EXAMPLE"))

	clientCred, err := pkg.AcquireCredentials(mechs.CredentialRequest{
		Use:      secctx.SECPKG_CRED_OUTBOUND,
		AuthData: &secctx.AuthIdentity{User: `EXAMPLE\alice`, Password: "Secret1!"},
	})
	if err != nil {
		panic(err)
	}
	serverCred, err := pkg.AcquireCredentials(mechs.CredentialRequest{Use: secctx.SECPKG_CRED_INBOUND})
	if err != nil {
		panic(err)
	}
	client, _ := clientCred.NewInitiator(mechs.InitiatorParams{
		Target: "HTTP/web.example.com",
		Req:    secctx.ISC_REQ_CONFIDENTIALITY | secctx.ISC_REQ_INTEGRITY,
	})
	server, _ := serverCred.NewAcceptor(mechs.AcceptorParams{})
	defer client.Close()
	defer server.Close()

	negotiate := client.Step(&mechs.StepInput{})
	fmt.Println("client:", negotiate.Status, len(negotiate.Token), "bytes")
	challenge := server.Step(&mechs.StepInput{Token: negotiate.Token})
	fmt.Println("server:", challenge.Status)
	authenticate := client.Step(&mechs.StepInput{Token: challenge.Token})
	fmt.Println("client:", authenticate.Status)
	done := server.Step(&mechs.StepInput{Token: authenticate.Token})
	fmt.Println("server:", done.Status, len(done.Token), "bytes")

	names, _ := server.QueryAttribute(secctx.SECPKG_ATTR_NAMES)
	fmt.Println("authenticated:", names.(secctx.Names).UserName)
	fmt.Println("MIC:", client.(*ntlm.Context).MICPresent())
	// Output:
	// client: SEC_I_CONTINUE_NEEDED 40 bytes
	// server: SEC_I_CONTINUE_NEEDED
	// client: SEC_E_OK
	// server: SEC_E_OK 0 bytes
	// authenticated: EXAMPLE\alice
	// MIC: true
}

// Signing and sealing after the handshake: the 16-byte signature goes in
// a SECBUFFER_TOKEN buffer, the message in SECBUFFER_DATA.
func Example_signAndSeal() {
	client, server := handshake()

	// Sign (MakeSignature / VerifySignature).
	msg := []secctx.Buffer{
		{Type: secctx.SECBUFFER_TOKEN, Data: make([]byte, 0, 16)},
		{Type: secctx.SECBUFFER_DATA, Data: []byte("hello, server")},
	}
	fmt.Println("sign:", client.MakeSignature(0, msg, 0), len(msg[0].Data), "byte signature")
	_, st := server.VerifySignature(msg, 0)
	fmt.Println("verify:", st)
	msg[0].Data = msg[0].Data[:0]
	client.MakeSignature(0, msg, 0)
	msg[1].Data[0] = 'H' // altered on the way
	_, st = server.VerifySignature(msg, 0)
	fmt.Println("verify altered:", st)
	_, st = server.VerifySignature(msg, 0)
	fmt.Println("replayed:", st)

	// Seal (EncryptMessage / DecryptMessage), in place.
	msg = []secctx.Buffer{
		{Type: secctx.SECBUFFER_TOKEN, Data: make([]byte, 0, 16)},
		{Type: secctx.SECBUFFER_DATA, Data: []byte("secret reply")},
	}
	fmt.Println("seal:", server.EncryptMessage(0, msg, 0))
	_, st = client.DecryptMessage(msg, 0)
	fmt.Printf("unseal: %v %q\n", st, msg[1].Data)
	// Output:
	// sign: SEC_E_OK 16 byte signature
	// verify: SEC_E_OK
	// verify altered: SEC_E_MESSAGE_ALTERED
	// replayed: SEC_E_OUT_OF_SEQUENCE
	// seal: SEC_E_OK
	// unseal: SEC_E_OK "secret reply"
}

// handshake returns both completed sides of an in-memory handshake.
func handshake() (client, server mechs.SecurityContext) {
	users := ntlm.NewMemoryStore()
	users.AddNTHash("EXAMPLE", "alice", ntlm.HashPassword("Secret1!"))
	pkg := ntlm.New(ntlm.WithUserStore(users))
	cc, _ := pkg.AcquireCredentials(mechs.CredentialRequest{Use: secctx.SECPKG_CRED_OUTBOUND,
		AuthData: &ntlm.NTHash{User: "alice@EXAMPLE", Hash: ntlm.HashPassword("Secret1!")}})
	sc, _ := pkg.AcquireCredentials(mechs.CredentialRequest{Use: secctx.SECPKG_CRED_INBOUND})
	client, _ = cc.NewInitiator(mechs.InitiatorParams{Req: secctx.ISC_REQ_CONFIDENTIALITY})
	server, _ = sc.NewAcceptor(mechs.AcceptorParams{})
	var tok []byte
	for {
		r := client.Step(&mechs.StepInput{Token: tok})
		s := server.Step(&mechs.StepInput{Token: r.Token})
		if s.Status.IsError() || r.Status.IsError() {
			panic(s.Err)
		}
		if r.Status == 0 {
			return client, server
		}
		tok = s.Token
	}
}
