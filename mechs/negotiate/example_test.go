package negotiate_test

import (
	"fmt"

	"github.com/asyncsspi/asyncsspi/mechs"
	"github.com/asyncsspi/asyncsspi/mechs/negotiate"
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
