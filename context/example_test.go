package context_test

import (
	"fmt"

	secctx "github.com/asyncsspi/asyncsspi/context"
)

func ExampleISCReq_String() {
	req := secctx.ISC_REQ_MUTUAL_AUTH | secctx.ISC_REQ_CONFIDENTIALITY | secctx.ISC_REQ_INTEGRITY
	fmt.Println(req)
	fmt.Println(secctx.ISCRet(0x2).Has(secctx.ISC_RET_MUTUAL_AUTH))
	// Output:
	// ISC_REQ_MUTUAL_AUTH|ISC_REQ_CONFIDENTIALITY|ISC_REQ_INTEGRITY
	// true
}

func ExampleChannelBindings() {
	// Bindings as Windows passes them in a SECBUFFER_CHANNEL_BINDINGS buffer.
	cb := &secctx.ChannelBindings{ApplicationData: []byte("tls-unique:\x01\x02\x03")}
	in := []secctx.Buffer{
		{Type: secctx.SECBUFFER_TOKEN, Data: nil},
		{Type: secctx.SECBUFFER_CHANNEL_BINDINGS, Data: cb.Marshal()},
	}
	parsed, _ := secctx.ParseChannelBindings(in[secctx.Find(in, secctx.SECBUFFER_CHANNEL_BINDINGS)].Data)
	fmt.Println(len(in[1].Data), parsed.Hash() == cb.Hash())
	// Output: 46 true
}
