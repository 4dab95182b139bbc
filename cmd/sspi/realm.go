package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/jcmturner/gokrb5/v8/config"

	"github.com/asyncsspi/asyncsspi/async"
	secctx "github.com/asyncsspi/asyncsspi/context"
	"github.com/asyncsspi/asyncsspi/internal/mitrealm"
	"github.com/asyncsspi/asyncsspi/mechs"
	"github.com/asyncsspi/asyncsspi/mechs/kerberos"
	"github.com/asyncsspi/asyncsspi/mechs/kerberos/kdc"
	"github.com/asyncsspi/asyncsspi/mechs/negotiate"
	"github.com/asyncsspi/asyncsspi/mechs/ntlm"
)

// demoPackages are the packages `sspi packages` lists, as an engine would
// hold them: NTLM, Kerberos, and Negotiate over the two.
func demoPackages() []mechs.Package {
	return []mechs.Package{ntlm.New(), kerberos.New(), negotiate.New(kerberos.New(), ntlm.New())}
}

// unknownSPN is a service principal the throwaway realm does not hold, so
// that Negotiate's Kerberos attempt fails at the KDC and falls back.
const unknownSPN = "HTTP/unknown.localhost"

// demoNTLMPackage is the NTLM package of the demo, with its users in memory.
func demoNTLMPackage() *ntlm.Package {
	users := ntlm.NewMemoryStore()
	users.AddPassword(demoDomain, demoUser, demoPassword)
	return ntlm.New(ntlm.WithUserStore(users), ntlm.WithDomainName(demoDomain))
}

// demoRealm runs the Kerberos and Negotiate parts (mech is "all",
// "kerberos" or "negotiate"). With the MIT KDC programs installed it starts
// a throwaway realm on loopback, in a temporary folder, as the tests do;
// the deferred calls kill the KDC and remove the folder on every path,
// Ctrl-C included (ctx ends the handshake loops). Without them it says so
// and runs Negotiate over NTLM.
func demoRealm(ctx context.Context, w io.Writer, mech string, programs func() (map[string]string, error)) error {
	ntlmPkg := demoNTLMPackage()
	if _, err := programs(); err != nil {
		fmt.Fprintf(w, "== Kerberos: not run: the MIT KDC programs are not installed (%v)\n", err)
		if mech == "kerberos" {
			return nil
		}
		return demoNegotiateNTLM(ctx, w, ntlmPkg, "no KDC programs installed, so there is no realm to get a ticket from")
	}

	dir, err := os.MkdirTemp("", "sspi-demo-realm-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	realm, err := mitrealm.Launch(dir)
	if err != nil {
		fmt.Fprintf(w, "== Kerberos: not run: the throwaway realm did not start: %v\n", err)
		if mech == "kerberos" {
			return err
		}
		return demoNegotiateNTLM(ctx, w, ntlmPkg, "the KDC did not start")
	}
	defer realm.Close()
	if err := context.Cause(ctx); err != nil {
		return fmt.Errorf("interrupted: %w", err)
	}
	fmt.Fprintf(w, "== throwaway MIT realm %s: krb5kdc on %s, files in %s (removed at the end)\n", realm.Name, realm.KDCAddr, dir)

	cfg, err := config.NewFromString(realm.Krb5ConfText)
	if err != nil {
		return err
	}
	watch := newIOWatch()
	// The transport is shared by the packages below, which do not close
	// it; it is closed after their engines (deferred earlier, run later).
	tr := kdc.NewTransport(kdc.WithConfig(cfg), kdc.WithObserver(watch.observe))
	defer tr.Close()
	krb := kerberos.New(kerberos.WithConfig(cfg), kerberos.WithTransport(tr))

	if mech == "all" || mech == "kerberos" {
		if err := demoKerberos(ctx, w, realm, krb, watch); err != nil {
			return err
		}
	}
	if mech == "all" || mech == "negotiate" {
		return demoNegotiateRealm(ctx, w, realm, krb, ntlmPkg, watch)
	}
	return nil
}

// demoKerberos: alice's password credential against the service's keytab,
// mutual authentication. The client's first leg has no ticket yet, so it
// asks for I/O: the engine runs the AS and TGS exchanges on its I/O side
// while the leg reads pending, then resumes the leg with the ticket.
func demoKerberos(ctx context.Context, w io.Writer, realm *mitrealm.Realm, krb *kerberos.Package, watch *ioWatch) error {
	e := async.New(mechs.NewSet(watchPackage{Package: krb, w: watch}))
	defer e.Close()
	fmt.Fprintf(w, "== Kerberos: %s -> %s, mutual authentication, through the async engine (password credential; service keytab)\n",
		realm.Principal(mitrealm.User), mitrealm.Service)
	client, _, err := e.AcquireCredentialsHandle("", kerberos.Name, secctx.SECPKG_CRED_OUTBOUND,
		&secctx.AuthIdentity{User: mitrealm.User, Domain: realm.Name, Password: mitrealm.Password})
	if err != nil {
		return err
	}
	server, _, err := e.AcquireCredentialsHandle("", kerberos.Name, secctx.SECPKG_CRED_INBOUND,
		&kerberos.Keytab{Path: realm.ServiceKeytab})
	if err != nil {
		return err
	}
	_, err = handshakeAndMessages(ctx, w, e, client, server, mitrealm.Service, watch)
	watch.outcome()
	return err
}

// demoNegotiateRealm runs Negotiate (Kerberos, then NTLM) three times with
// one pair of credentials: for the realm's service, where Kerberos is
// chosen; for an SPN the KDC does not know, where the Kerberos attempt
// fails at the KDC and Negotiate falls back to NTLM inside the same
// exchange; and for a target that is not an SPN.
func demoNegotiateRealm(ctx context.Context, w io.Writer, realm *mitrealm.Realm, krb *kerberos.Package, ntlmPkg *ntlm.Package, watch *ioWatch) error {
	e := async.New(mechs.NewSet(watchPackage{Package: negotiate.New(krb, ntlmPkg), w: watch}))
	defer e.Close()
	client, _, err := e.AcquireCredentialsHandle("", negotiate.PackageName, secctx.SECPKG_CRED_OUTBOUND, &negotiate.AuthData{
		ByPackage: map[string]any{
			kerberos.Name:    &secctx.AuthIdentity{User: mitrealm.User, Domain: realm.Name, Password: mitrealm.Password},
			ntlm.PackageName: &secctx.AuthIdentity{User: demoUser, Domain: demoDomain, Password: demoPassword},
		},
	})
	if err != nil {
		return err
	}
	// The acceptor's NTLM sub-credential takes nil AuthData: it verifies
	// against the NTLM package's user store.
	server, _, err := e.AcquireCredentialsHandle("", negotiate.PackageName, secctx.SECPKG_CRED_INBOUND, &negotiate.AuthData{
		ByPackage: map[string]any{kerberos.Name: &kerberos.Keytab{Path: realm.ServiceKeytab}},
	})
	if err != nil {
		return err
	}
	for _, target := range []string{mitrealm.Service, unknownSPN, "localhost"} {
		fmt.Fprintf(w, "== Negotiate: alice (Kerberos %s, NTLM %s\\%s) -> %s, offering Kerberos then NTLM (realm %s is up)\n",
			realm.Principal(mitrealm.User), demoDomain, demoUser, target, realm.Name)
		chosen, err := handshakeAndMessages(ctx, w, e, client, server, target, watch)
		if err != nil {
			return err
		}
		tickets, refusals := watch.outcome()
		fmt.Fprintf(w, "  Negotiate chose %s: %s\n", chosen, negotiateReason(chosen, target, tickets, refusals))
	}
	return nil
}

// demoNegotiateNTLM runs Negotiate when there is no realm: NTLM is the only
// package it can offer.
func demoNegotiateNTLM(ctx context.Context, w io.Writer, ntlmPkg *ntlm.Package, reason string) error {
	e := async.New(mechs.NewSet(negotiate.New(ntlmPkg)))
	defer e.Close()
	fmt.Fprintf(w, "== Negotiate: %s\\%s -> %s, offering NTLM only\n", demoDomain, demoUser, demoTarget)
	client, _, err := e.AcquireCredentialsHandle("", negotiate.PackageName, secctx.SECPKG_CRED_OUTBOUND,
		&secctx.AuthIdentity{User: demoUser, Domain: demoDomain, Password: demoPassword})
	if err != nil {
		return err
	}
	server, _, err := e.AcquireCredentialsHandle("", negotiate.PackageName, secctx.SECPKG_CRED_INBOUND, nil)
	if err != nil {
		return err
	}
	chosen, err := handshakeAndMessages(ctx, w, e, client, server, demoTarget, nil)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "  Negotiate chose %s: %s\n", chosen, reason)
	return nil
}

// negotiateReason says why Negotiate chose what it did, from what the KDC
// transport saw during the handshake.
func negotiateReason(chosen, target string, tickets, refusals []string) string {
	switch {
	case chosen == kerberos.Name && slices.Contains(tickets, target):
		return "ticket obtained for " + target
	case chosen == kerberos.Name:
		return "the credential already held a ticket for " + target
	case !strings.Contains(target, "/"):
		return fmt.Sprintf("target %q is not an SPN, so Kerberos cannot name a service; NTLM was sent from the first token", target)
	case len(refusals) > 0:
		return fmt.Sprintf("the KDC refused a ticket for %s (%s); Negotiate fell back to NTLM within the same exchange",
			target, strings.Join(refusals, ", "))
	}
	return "Kerberos could not serve " + target
}
