package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/asyncsspi/asyncsspi"
	secctx "github.com/asyncsspi/asyncsspi/context"
	"github.com/asyncsspi/asyncsspi/internal/mitrealm"
	"github.com/asyncsspi/asyncsspi/mechs/ntlm"
	"github.com/asyncsspi/asyncsspi/status"
)

// Demo users: an embedded store, so the demo needs nothing installed.
const (
	demoDomain   = "EXAMPLE"
	demoUser     = "alice"
	demoPassword = "Secret1!"
	demoTarget   = "HTTP/web.example.com"
)

// Exit statuses of sspi demo.
const (
	demoExitFailure = 1 // a handshake or message failed, the realm did not start (-mit require), or Ctrl-C
	demoExitUsage   = 2 // bad flags
)

const demoUsage = `usage: sspi demo [-mech all|ntlm|kerberos|negotiate] [-mit auto|off|require]

Runs complete handshakes between a client and a server in this process,
through the library's Go API (package asyncsspi): credentials from typed
sources, each leg started on the engine and collected from a completion
queue as an event loop does, then signed and sealed messages each way.
Each leg is printed as the event loop sees it: queued, pending, the I/O
the engine runs for it, completed, with its status, token size and time.

The parts, each needing nothing installed beyond Go:
  NTLM        EXAMPLE\alice against a user store in memory
  Kerberos    alice@EXAMPLE.COM against HTTP/web.example.com, mutual
              authentication; the service key is in a keytab in memory
              and the client's service ticket is issued in this process
              with it, as a KDC would (no KDC runs)
  Negotiate   over the two: Kerberos for the service the ticket is for,
              NTLM for a service it is not (Negotiate falls back inside
              its first leg), saying which package it chose and why

With the MIT KDC programs installed (krb5kdc, kdb5_util, kadmin.local,
kinit; Debian's krb5-kdc, krb5-admin-server and krb5-user), it also
starts a throwaway realm on loopback in a temporary folder and runs
Kerberos with a password login (the AS and TGS exchanges shown as the
I/O of a pending leg) and Negotiate against it: Kerberos for the realm's
service, NTLM for an SPN the KDC does not know and for a target that is
not an SPN. The KDC is killed and the folder removed on every path,
Ctrl-C included.

Exit status:
  0  every handshake completed and every message verified
  1  a handshake or a message failed, the realm could not start
     (-mit require), or the demo was interrupted
  2  bad flags

Flags:
`

func runDemo(w io.Writer, args []string) error {
	// Ctrl-C (or SIGTERM) ends the demo through the same deferred
	// clean-up as an error: contexts, credentials and engines closed, the
	// KDC killed and waited for, the realm's folder removed.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return demo(ctx, w, args, mitrealm.Programs)
}

// demo runs the demonstration; programs finds the MIT KDC programs
// (mitrealm.Programs, replaced in tests to play a machine without them).
func demo(ctx context.Context, w io.Writer, args []string, programs func() (map[string]string, error)) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(w)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), demoUsage)
		fs.PrintDefaults()
	}
	mech := fs.String("mech", "all", "the `parts` to run: all, ntlm, kerberos or negotiate")
	mit := fs.String("mit", "auto", "`when` to run the parts against a throwaway MIT realm: auto (when its programs are installed), off, or require (fail without them)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return exitError{demoExitUsage, err}
	}
	switch {
	case fs.NArg() > 0:
		return exitError{demoExitUsage, fmt.Errorf("demo: unexpected arguments %q (sspi demo -help)", fs.Args())}
	case *mech != "all" && *mech != "ntlm" && *mech != "kerberos" && *mech != "negotiate":
		return exitError{demoExitUsage, fmt.Errorf("demo: unknown -mech %q: want all, ntlm, kerberos or negotiate", *mech)}
	case *mit != "auto" && *mit != "off" && *mit != "require":
		return exitError{demoExitUsage, fmt.Errorf("demo: unknown -mit %q: want auto, off or require", *mit)}
	}
	fail := func(err error) error {
		if err == nil {
			return nil
		}
		return exitError{demoExitFailure, fmt.Errorf("demo: %w", err)}
	}
	if *mech == "all" || *mech == "ntlm" {
		if err := demoNTLM(ctx, w); err != nil {
			return fail(err)
		}
	}
	if *mech == "ntlm" {
		return nil
	}
	if err := demoInProcess(ctx, w, *mech); err != nil {
		return fail(err)
	}
	if *mit == "off" {
		return nil
	}
	return fail(demoMIT(ctx, w, *mech, *mit == "require", programs))
}

// demoNTLM: alice's password against the server's user store, both in
// memory.
func demoNTLM(ctx context.Context, w io.Writer) error {
	e := asyncsspi.New(asyncsspi.WithNTLMOptions(demoNTLMOptions()...))
	defer e.Close()
	fmt.Fprintf(w, "== NTLM: %s\\%s -> %s (password; the server's users in memory)\n", demoDomain, demoUser, demoTarget)
	client, err := e.ClientCredential(asyncsspi.NTLMPassword(demoDomain, demoUser, demoPassword))
	if err != nil {
		return err
	}
	defer client.Close()
	server, err := e.ServerCredential(asyncsspi.NTLMUsers(demoNTLMUsers()))
	if err != nil {
		return err
	}
	defer server.Close()
	_, err = handshakeAndMessages(ctx, w, e, client, server, demoTarget, nil)
	return err
}

// party is one side of a handshake as the event loop tracks it. Only the
// event loop reads or writes it.
type party struct {
	name     string // "client" or "server"
	sc       *asyncsspi.SecurityContext
	peer     *party
	n        int // legs started
	queuedAt time.Time
	done     bool
}

// handshakeAndMessages runs a handshake as an event loop does: it starts a
// leg (which returns at once), goes back to waiting on the completion
// queue, and reacts to whatever completed by starting the peer's next leg
// with the token; then it exchanges a signed and a sealed message each
// way. It returns the package the client's context negotiated.
//
// watch, when not nil, reports the I/O the engine runs for a pending leg
// (KDC exchanges); the loop prints each report before the completions
// that follow it. ctx ends the loop early (Ctrl-C); every context is
// closed on every path.
func handshakeAndMessages(ctx context.Context, w io.Writer, e *asyncsspi.Engine, clientCred, serverCred *asyncsspi.Credential, target string, watch *ioWatch) (string, error) {
	if err := context.Cause(ctx); err != nil {
		return "", fmt.Errorf("interrupted: %w", err)
	}
	csc, err := clientCred.NewClientContext(target, asyncsspi.MutualAuth(), asyncsspi.Confidentiality(),
		asyncsspi.RequestFlags(secctx.ISC_REQ_REPLAY_DETECT|secctx.ISC_REQ_SEQUENCE_DETECT|secctx.ISC_REQ_CONNECTION, 0))
	if err != nil {
		return "", err
	}
	defer csc.Close()
	ssc, err := serverCred.NewServerContext(asyncsspi.Confidentiality())
	if err != nil {
		return "", err
	}
	defer ssc.Close()
	client := &party{name: "client", sc: csc}
	server := &party{name: "server", sc: ssc, peer: client}
	client.peer = server
	q := e.NewCompletionQueue()
	for _, p := range []*party{client, server} {
		p.sc.SetValue(p) // a drained context leads back to its party
		p.sc.SetCompletionQueue(q)
	}

	start := func(p *party, token []byte) error {
		p.n++
		if watch != nil {
			watch.setPending(p.name, p.n, p.sc)
		}
		p.queuedAt = time.Now()
		if err := p.sc.Start(token); err != nil {
			return fmt.Errorf("%s leg %d not queued: %w", p.name, p.n, err)
		}
		fmt.Fprintf(w, "  queued   %-6s leg %d  status now %v\n", p.name, p.n, p.sc.Status())
		return nil
	}
	var ready <-chan struct{} // nil without a watch: never ready
	if watch != nil {
		ready = watch.ready
	}
	printIO := func() {
		if watch != nil {
			for _, ev := range watch.take() {
				ev.print(w)
			}
		}
	}

	fmt.Fprintf(w, "  %-8s %-6s %-5s %-24s %6s %10s\n", "event", "side", "leg", "status", "token", "time")
	if err := start(client, nil); err != nil {
		return "", err
	}
	pending := 1
	var drained []*asyncsspi.SecurityContext
	for !(client.done && server.done) {
		if pending == 0 {
			return "", fmt.Errorf("handshake stalled: client done %v, server done %v, and no token to send", client.done, server.done)
		}
		// An interrupt wins over work that is ready: select alone picks
		// among ready cases at random.
		if err := context.Cause(ctx); err != nil {
			return "", fmt.Errorf("handshake interrupted: %w", err)
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("handshake interrupted: %w", context.Cause(ctx))
		case <-ready:
			printIO()
			continue
		case <-q.Ready():
		}
		// A leg's I/O ends before the leg does: its reports come first.
		printIO()
		drained = q.Drain(drained[:0])
		for _, sc := range drained {
			pending--
			p := sc.Value().(*party)
			out, done, err := sc.Result()
			fmt.Fprintf(w, "  %-8s %-6s %-5d %-24v %6d %10v\n", "complete", p.name, p.n, sc.Status(), len(out), time.Since(p.queuedAt).Round(time.Microsecond))
			if err != nil {
				return "", fmt.Errorf("%s leg %d: %w", p.name, p.n, err)
			}
			p.done = done
			if len(out) > 0 {
				// The token goes to the peer, also with SEC_E_OK (a
				// final token, such as Kerberos' AP-REP).
				if err := start(p.peer, bytes.Clone(out)); err != nil {
					return "", err
				}
				pending++
			}
		}
	}
	chosen := csc.Package()
	var verified string
	switch {
	case csc.MutuallyAuthenticated():
		verified = "the client verified the server (mutual authentication)"
	case chosen == ntlm.PackageName:
		verified = "the server is not verified (NTLM does not authenticate the server)"
	default:
		verified = "the server is not verified"
	}
	fmt.Fprintf(w, "  server authenticated %s; negotiated package %s; %s; client flags %v\n",
		ssc.ClientName(), chosen, verified, secctx.ISCRet(csc.Flags()))
	if err := messages(w, csc, ssc, "client", "server"); err != nil {
		return chosen, err
	}
	return chosen, messages(w, ssc, csc, "server", "client")
}

// messages sends a signed and a sealed message from one context to the
// other (Sign and Verify, Seal and Open: GSS-API's get_mic and wrap).
func messages(w io.Writer, from, to *asyncsspi.SecurityContext, fromName, toName string) error {
	text := []byte(fmt.Sprintf("hello %s, signed by %s", toName, fromName))
	sig, err := from.Sign(text)
	if err != nil {
		return fmt.Errorf("%s: Sign: %w", fromName, err)
	}
	verr := to.Verify(text, sig)
	fmt.Fprintf(w, "  %s -> %s signed  %q (%d-byte signature): Verify %v\n", fromName, toName, text, len(sig), status.CodeOf(verr))
	if verr != nil {
		return fmt.Errorf("%s: Verify: %w", toName, verr)
	}

	text = []byte(fmt.Sprintf("hello %s, sealed by %s", toName, fromName))
	sealed, err := from.Seal(text)
	if err != nil {
		return fmt.Errorf("%s: Seal: %w", fromName, err)
	}
	opened, oerr := to.Open(sealed)
	fmt.Fprintf(w, "  %s -> %s sealed  %d bytes as %d (plaintext visible: %v): Open %v -> %q\n",
		fromName, toName, len(text), len(sealed), bytes.Contains(sealed, text), status.CodeOf(oerr), opened)
	if oerr != nil {
		return fmt.Errorf("%s: Open: %w", toName, oerr)
	}
	if !bytes.Equal(opened, text) {
		return fmt.Errorf("%s: Open gave %q, not what was sealed", toName, opened)
	}
	return nil
}
