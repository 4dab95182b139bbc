package asyncsspi_test

import (
	"context"
	"fmt"
	"log"

	"github.com/asyncsspi/asyncsspi"
	"github.com/asyncsspi/asyncsspi/mechs/ntlm"
)

// A client and a server in one process, each leg one Step: Negotiate over
// NTLM here (with a Kerberos ticket cache, keytab and realm the same code
// negotiates Kerberos).
func Example() {
	e := asyncsspi.New()
	defer e.Close()

	users := ntlm.NewMemoryStore()
	users.AddPassword("EXAMPLE", "alice", "Pa55word!")
	scred, err := e.ServerCredential(asyncsspi.Negotiate(asyncsspi.NTLMUsers(users)))
	if err != nil {
		log.Fatal(err)
	}
	ccred, err := e.ClientCredential(asyncsspi.Negotiate(asyncsspi.NTLMPassword("EXAMPLE", "alice", "Pa55word!")))
	if err != nil {
		log.Fatal(err)
	}
	client, _ := ccred.NewClientContext("HTTP/web.example.com", asyncsspi.Confidentiality())
	server, _ := scred.NewServerContext()
	defer client.Close()
	defer server.Close()

	ctx := context.Background()
	var toClient []byte
	for {
		toServer, clientDone, err := client.Step(ctx, toClient)
		if err != nil {
			log.Fatal(err)
		}
		if len(toServer) == 0 {
			break // nothing more to send
		}
		var serverDone bool
		toClient, serverDone, err = server.Step(ctx, toServer)
		if err != nil {
			log.Fatal(err)
		}
		if clientDone && serverDone {
			break
		}
	}
	fmt.Println(server.Package(), server.ClientName())

	sealed, _ := client.Seal([]byte("hello"))
	msg, _ := server.Open(sealed)
	fmt.Printf("%s\n", msg)
	// Output:
	// NTLM EXAMPLE\alice
	// hello
}

// An event loop drives many handshakes with no goroutine of its own per
// handshake: each leg is started and returns at once, and completed legs
// come back through one completion queue, each leading to its connection
// through the context's value.
func ExampleCompletionQueue() {
	e := asyncsspi.New()
	defer e.Close()
	users := ntlm.NewMemoryStore()
	users.AddPassword("EXAMPLE", "alice", "Pa55word!")
	scred, _ := e.ServerCredential(asyncsspi.NTLMUsers(users))
	ccred, _ := e.ClientCredential(asyncsspi.NTLMPassword("EXAMPLE", "alice", "Pa55word!"))

	type conn struct {
		id             int
		client, server *asyncsspi.SecurityContext
	}
	q := e.NewCompletionQueue()
	const n = 100
	pending := 0
	for i := range n {
		c := &conn{id: i}
		c.client, _ = ccred.NewClientContext("HTTP/web.example.com")
		c.server, _ = scred.NewServerContext()
		for _, sc := range []*asyncsspi.SecurityContext{c.client, c.server} {
			sc.SetValue(c)
			sc.SetCompletionQueue(q)
		}
		if err := c.client.Start(nil); err != nil {
			log.Fatal(err)
		}
		pending++
	}
	authenticated := 0
	var done []*asyncsspi.SecurityContext
	for pending > 0 {
		<-q.Ready()
		done = q.Drain(done[:0])
		for _, sc := range done {
			pending--
			c := sc.Value().(*conn)
			out, finished, err := sc.Result()
			switch {
			case err != nil:
				log.Fatalf("connection %d: %v", c.id, err)
			case sc == c.server && finished:
				authenticated++
			case len(out) > 0:
				peer := c.server
				if sc == c.server {
					peer = c.client
				}
				if err := peer.Start(out); err != nil {
					log.Fatal(err)
				}
				pending++
			}
		}
	}
	fmt.Println(authenticated, "of", n, "authenticated")
	// Output:
	// 100 of 100 authenticated
}
