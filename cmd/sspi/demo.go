package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/asyncsspi/asyncsspi/async"
	secctx "github.com/asyncsspi/asyncsspi/context"
	"github.com/asyncsspi/asyncsspi/internal/mitrealm"
	"github.com/asyncsspi/asyncsspi/mechs"
	"github.com/asyncsspi/asyncsspi/status"
)

// Demo users: an embedded store, so the demo needs nothing installed.
const (
	demoDomain   = "EXAMPLE"
	demoUser     = "alice"
	demoPassword = "Secret1!"
	demoTarget   = "HTTP/web.example.com"
)

func runDemo(w io.Writer, args []string) error {
	// Ctrl-C ends the demo through the same deferred clean-up as an error:
	// the KDC is killed and waited for, the realm's folder removed.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	return demo(ctx, w, args, mitrealm.Programs)
}

// demo runs the demonstration; programs finds the MIT KDC programs
// (mitrealm.Programs, replaced in tests to play a machine without them).
func demo(ctx context.Context, w io.Writer, args []string, programs func() (map[string]string, error)) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(w)
	mech := fs.String("mech", "all", "which handshakes to run: all, ntlm, kerberos or negotiate")
	if err := fs.Parse(args); err != nil {
		return err
	}
	switch *mech {
	case "all", "ntlm", "kerberos", "negotiate":
	default:
		return fmt.Errorf("unknown -mech %q", *mech)
	}
	if *mech == "all" || *mech == "ntlm" {
		if err := demoNTLM(ctx, w); err != nil {
			return err
		}
	}
	if *mech == "all" || *mech == "kerberos" || *mech == "negotiate" {
		if err := demoRealm(ctx, w, *mech, programs); err != nil {
			return err
		}
	}
	return nil
}

func demoNTLM(ctx context.Context, w io.Writer) error {
	e := async.New(mechs.NewSet(demoNTLMPackage()))
	defer e.Close()
	fmt.Fprintf(w, "== NTLM: %s\\%s -> %s, through the async engine (user store in memory)\n", demoDomain, demoUser, demoTarget)
	client, _, err := e.AcquireCredentialsHandle("", "NTLM", secctx.SECPKG_CRED_OUTBOUND,
		&secctx.AuthIdentity{User: demoUser, Domain: demoDomain, Password: demoPassword})
	if err != nil {
		return err
	}
	server, _, err := e.AcquireCredentialsHandle("", "NTLM", secctx.SECPKG_CRED_INBOUND, nil)
	if err != nil {
		return err
	}
	_, err = handshakeAndMessages(ctx, w, e, client, server, demoTarget, nil)
	return err
}

// leg is one side of the handshake as the event loop tracks it.
type leg struct {
	name     string
	cred     secctx.CredHandle
	h        secctx.CtxtHandle
	ac       *async.AsyncContext
	n        int
	queuedAt time.Time
	done     bool
}

const demoReq = secctx.ISC_REQ_MUTUAL_AUTH | secctx.ISC_REQ_CONFIDENTIALITY | secctx.ISC_REQ_INTEGRITY |
	secctx.ISC_REQ_REPLAY_DETECT | secctx.ISC_REQ_SEQUENCE_DETECT | secctx.ISC_REQ_CONNECTION

// handshakeAndMessages runs a handshake as an event loop does: it queues a
// leg, goes back to waiting on the completion queue, and reacts to whatever
// completed; then it exchanges a signed and a sealed message each way.
//
// watch, when not nil, reports the legs' I/O (KDC exchanges the engine runs
// on its I/O side while the leg reads pending); the loop prints each report
// as it comes. It returns the package the client's context negotiated.
// ctx ends the loop early (Ctrl-C).
func handshakeAndMessages(ctx context.Context, w io.Writer, e *async.Engine, clientCred, serverCred secctx.CredHandle, target string, watch *ioWatch) (string, error) {
	q := e.NewCompletionQueue()
	client := &leg{name: "client", cred: clientCred, ac: e.CreateAsyncContext()}
	server := &leg{name: "server", cred: serverCred, ac: e.CreateAsyncContext()}
	defer e.FreeAsyncContext(client.ac)
	defer e.FreeAsyncContext(server.ac)
	client.ac.SetCompletionQueue(q)
	server.ac.SetCompletionQueue(q)

	queue := func(l *leg, token []byte) error {
		if l.n > 0 {
			if err := l.ac.Reinit(); err != nil {
				return err
			}
		}
		var in []secctx.Buffer
		if token != nil {
			in = []secctx.Buffer{{Type: secctx.SECBUFFER_TOKEN, Data: token}}
		}
		l.n++
		l.queuedAt = time.Now()
		var st status.Code
		if l == client {
			st = e.InitializeSecurityContextAsync(l.ac, l.cred, l.h, target, demoReq, in)
		} else {
			st = e.AcceptSecurityContextAsync(l.ac, l.cred, l.h, in, secctx.ASC_REQ_MUTUAL_AUTH|secctx.ASC_REQ_CONFIDENTIALITY|secctx.ASC_REQ_INTEGRITY)
		}
		if st != status.SEC_E_OK {
			return fmt.Errorf("%s leg %d not queued: %v", l.name, l.n, st)
		}
		fmt.Fprintf(w, "  queued   %-6s leg %d  status now %v\n", l.name, l.n, l.ac.Status())
		return nil
	}

	fmt.Fprintf(w, "  %-8s %-6s %-5s %-24s %6s %10s\n", "event", "side", "leg", "status", "token", "time")
	if err := queue(client, nil); err != nil {
		return "", err
	}
	var ioEvents chan ioEvent // nil: never ready
	if watch != nil {
		ioEvents = watch.events
	}
	var drained []*async.AsyncContext
	for !(client.done && server.done) {
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("handshake interrupted: %w", context.Cause(ctx))
		case ev := <-ioEvents:
			l := client
			if ev.side == server.name {
				l = server
			}
			if ev.start {
				fmt.Fprintf(w, "  %-8s %-6s %-5d %-24v %6s %10s  KDC exchange for %s on the engine's I/O side; no CPU worker waits\n",
					"io-start", l.name, l.n, l.ac.Status(), "", "", ev.realm)
			} else {
				what := strings.Join(ev.exchanges, ", ")
				if ev.err != nil {
					what += fmt.Sprintf(" (the I/O returns %v to the leg)", status.CodeOf(ev.err))
				}
				fmt.Fprintf(w, "  %-8s %-6s %-5d %-24v %6s %10v  %s\n",
					"io-done", l.name, l.n, l.ac.Status(), "", ev.elapsed.Round(time.Microsecond), what)
			}
			close(ev.ack)
			continue
		case <-q.Ready():
		}
		drained = q.Drain(drained[:0])
		for _, ac := range drained {
			l, peer := client, server
			if ac == server.ac {
				l, peer = server, client
			}
			st := ac.Status()
			fmt.Fprintf(w, "  %-8s %-6s %-5d %-24v %6d %10v\n", "complete", l.name, l.n, st, len(ac.Token()), time.Since(l.queuedAt).Round(time.Microsecond))
			if st.IsError() {
				return "", fmt.Errorf("%s leg %d: %w", l.name, l.n, ac.Err())
			}
			l.h = ac.ContextHandle()
			l.done = st == status.SEC_E_OK
			if tok := ac.Token(); len(tok) > 0 {
				// The token goes to the peer, even with SEC_E_OK.
				if err := queue(peer, bytes.Clone(tok)); err != nil {
					return "", err
				}
			}
		}
	}
	if names, st := e.QueryContextAttributes(server.h, secctx.SECPKG_ATTR_NAMES); st == status.SEC_E_OK {
		fmt.Fprintf(w, "  server authenticated %s", names.(secctx.Names).UserName)
	}
	var chosen string
	if info, st := e.QueryContextAttributes(client.h, secctx.SECPKG_ATTR_NEGOTIATION_INFO); st == status.SEC_E_OK {
		chosen = info.(secctx.NegotiationInfo).Package.Name
		fmt.Fprintf(w, "; negotiated package %s", chosen)
	}
	fmt.Fprintf(w, "; client flags %v\n", secctx.ISCRet(client.ac.Flags()))

	defer e.DeleteSecurityContext(client.h)
	defer e.DeleteSecurityContext(server.h)
	if err := messages(w, e, client.h, server.h, "client", "server"); err != nil {
		return chosen, err
	}
	return chosen, messages(w, e, server.h, client.h, "server", "client")
}

// messages sends a signed and a sealed message from one context to the other.
func messages(w io.Writer, e *async.Engine, from, to secctx.CtxtHandle, fromName, toName string) error {
	sizes, st := e.QueryContextAttributes(from, secctx.SECPKG_ATTR_SIZES)
	if st != status.SEC_E_OK {
		return fmt.Errorf("sizes: %v", st)
	}
	sz := sizes.(secctx.Sizes)

	text := fmt.Sprintf("hello %s, signed by %s", toName, fromName)
	msg := []secctx.Buffer{
		{Type: secctx.SECBUFFER_DATA, Data: []byte(text)},
		{Type: secctx.SECBUFFER_TOKEN, Data: make([]byte, 0, sz.MaxSignature)},
	}
	if st := e.MakeSignature(from, 0, msg, 0); st != status.SEC_E_OK {
		return fmt.Errorf("MakeSignature: %v", st)
	}
	_, vst := e.VerifySignature(to, msg, 0)
	fmt.Fprintf(w, "  %s -> %s signed  %q (%d-byte signature): VerifySignature %v\n", fromName, toName, text, len(msg[1].Data), vst)
	if vst != status.SEC_E_OK {
		return fmt.Errorf("VerifySignature: %v", vst)
	}

	text = fmt.Sprintf("hello %s, sealed by %s", toName, fromName)
	data := []byte(text)
	msg = []secctx.Buffer{
		{Type: secctx.SECBUFFER_TOKEN, Data: make([]byte, 0, sz.SecurityTrailer)},
		{Type: secctx.SECBUFFER_DATA, Data: data},
		{Type: secctx.SECBUFFER_PADDING, Data: make([]byte, 0, sz.BlockSize)},
	}
	if st := e.EncryptMessage(from, 0, msg, 0); st != status.SEC_E_OK {
		return fmt.Errorf("EncryptMessage: %v", st)
	}
	sealed := bytes.Equal(msg[1].Data, []byte(text))
	_, dst := e.DecryptMessage(to, msg, 0)
	fmt.Fprintf(w, "  %s -> %s sealed  %d bytes (ciphertext differs: %v, %d-byte trailer): DecryptMessage %v -> %q\n",
		fromName, toName, len(data), !sealed, len(msg[0].Data), dst, msg[1].Data)
	if dst != status.SEC_E_OK || string(msg[1].Data) != text {
		return fmt.Errorf("DecryptMessage: %v", dst)
	}
	return nil
}
