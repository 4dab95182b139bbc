package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/jcmturner/gokrb5/v8/config"
	"github.com/jcmturner/gokrb5/v8/iana/etypeID"
	"github.com/jcmturner/gokrb5/v8/iana/flags"
	"github.com/jcmturner/gokrb5/v8/iana/nametype"
	"github.com/jcmturner/gokrb5/v8/keytab"
	krbmessages "github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/types"

	"github.com/asyncsspi/asyncsspi"
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

// demoNTLMUsers is the NTLM server's user store: alice, in memory.
func demoNTLMUsers() *ntlm.MemoryStore {
	users := ntlm.NewMemoryStore()
	users.AddPassword(demoDomain, demoUser, demoPassword)
	return users
}

// demoNTLMOptions name the server's NTLM domain (the CHALLENGE's target
// name).
func demoNTLMOptions() []ntlm.Option { return []ntlm.Option{ntlm.WithDomainName(demoDomain)} }

// The in-process realm: no KDC runs. The service's key is in a keytab in
// memory, and alice's service ticket is issued here with it, as a KDC
// issues one for a TGS-REQ.
const (
	memRealm = "EXAMPLE.COM"
	// memOtherSPN is a service the ticket is not for: Kerberos cannot
	// serve it without a KDC, so Negotiate falls back to NTLM.
	memOtherSPN = "HTTP/other.example.com"
	// memTicketLife is how long the issued ticket is valid.
	memTicketLife = time.Hour
)

// memService is a service key (aes256-cts-hmac-sha1-96, the enctype MIT
// issues by default) in a keytab in memory, derived from a random
// password as kadmin's addprinc -randkey would make it random, and a
// ticket for user sealed in it.
func memService(spn, user string) (*keytab.Keytab, *kdc.Ticket, error) {
	kt := keytab.New()
	if err := kt.AddEntry(spn, memRealm, rand.Text(), time.Now(), 1, etypeID.AES256_CTS_HMAC_SHA1_96); err != nil {
		return nil, nil, fmt.Errorf("service key: %w", err)
	}
	cname := types.NewPrincipalName(nametype.KRB_NT_PRINCIPAL, user)
	sname := types.NewPrincipalName(nametype.KRB_NT_SRV_INST, spn)
	fl := types.NewKrbFlags()
	types.SetFlag(&fl, flags.Forwardable)
	types.SetFlag(&fl, flags.PreAuthent)
	now := time.Now()
	end := now.Add(memTicketLife)
	// A fresh session key, and the EncTicketPart sealed in the service's
	// key (RFC 4120 section 5.3), as the KDC does for a TGS-REQ.
	tkt, key, err := krbmessages.NewTicket(cname, memRealm, sname, memRealm, fl, kt, etypeID.AES256_CTS_HMAC_SHA1_96, 1, now, now, end, end)
	if err != nil {
		return nil, nil, fmt.Errorf("service ticket: %w", err)
	}
	return kt, &kdc.Ticket{Client: cname, CRealm: memRealm, Server: sname, SRealm: memRealm,
		Ticket: tkt, SessionKey: key, Flags: fl, AuthTime: now, StartTime: now, EndTime: end, RenewTill: end}, nil
}

// demoInProcess runs the Kerberos and Negotiate parts that need no KDC
// (mech is "all", "kerberos" or "negotiate").
func demoInProcess(ctx context.Context, w io.Writer, mech string) error {
	kt, ticket, err := memService(demoTarget, demoUser)
	if err != nil {
		return err
	}
	// An empty krb5.conf: nothing on this machine is read.
	e := asyncsspi.New(asyncsspi.WithKerberosOptions(kerberos.WithConfig(config.New())), asyncsspi.WithNTLMOptions(demoNTLMOptions()...))
	defer e.Close()
	alice := demoUser + "@" + memRealm
	tickets := asyncsspi.KerberosServiceTickets(ticket)
	keys := asyncsspi.KerberosKeys(kt, demoTarget)

	if mech == "all" || mech == "kerberos" {
		fmt.Fprintf(w, "== Kerberos in process: %s -> %s, mutual authentication (a service ticket issued in this process with the service's key, which is in a keytab in memory; no KDC)\n", alice, demoTarget)
		fmt.Fprintf(w, "  service key etype %s, kvno %d, in a keytab in memory; ticket for %s sealed in it, session key etype %s, valid %v: the client's first leg needs no I/O\n",
			etypeName(int64(ticket.Ticket.EncPart.EType)), ticket.Ticket.EncPart.KVNO, ticket.Server.PrincipalNameString()+"@"+ticket.SRealm,
			etypeName(int64(ticket.SessionKey.KeyType)), ticket.EndTime.Sub(ticket.StartTime))
		client, err := e.ClientCredential(tickets)
		if err != nil {
			return err
		}
		defer client.Close()
		server, err := e.ServerCredential(keys)
		if err != nil {
			return err
		}
		defer server.Close()
		if _, err := handshakeAndMessages(ctx, w, e, client, server, demoTarget, nil); err != nil {
			return err
		}
	}
	if mech == "all" || mech == "negotiate" {
		client, err := e.ClientCredential(asyncsspi.Negotiate(tickets, asyncsspi.NTLMPassword(demoDomain, demoUser, demoPassword)))
		if err != nil {
			return err
		}
		defer client.Close()
		server, err := e.ServerCredential(asyncsspi.Negotiate(asyncsspi.KerberosKeys(kt, ""), asyncsspi.NTLMUsers(demoNTLMUsers())))
		if err != nil {
			return err
		}
		defer server.Close()
		for _, target := range []string{demoTarget, memOtherSPN} {
			fmt.Fprintf(w, "== Negotiate in process: alice (Kerberos %s with a ticket for %s, NTLM %s\\%s) -> %s, offering Kerberos then NTLM\n",
				alice, demoTarget, demoDomain, demoUser, target)
			chosen, err := handshakeAndMessages(ctx, w, e, client, server, target, nil)
			if err != nil {
				return err
			}
			var why string
			switch {
			case chosen == kerberos.Name:
				why = "the client's credential holds a ticket for " + target + ", so Kerberos needed no KDC"
			case target != demoTarget:
				why = "the client's credential holds no ticket for " + target + " and has no KDC to ask (SEC_E_TARGET_UNKNOWN); Negotiate fell back to NTLM within the same exchange"
			default:
				why = "Kerberos could not serve " + target
			}
			fmt.Fprintf(w, "  Negotiate chose %s: %s\n", chosen, why)
		}
	}
	return nil
}

// unknownSPN is a service principal the throwaway realm does not hold, so
// that Negotiate's Kerberos attempt fails at the KDC and falls back.
const unknownSPN = "HTTP/unknown.localhost"

// demoMIT runs the Kerberos and Negotiate parts against a throwaway MIT
// realm (mech is "all", "kerberos" or "negotiate"), when its programs are
// installed; without them it says so, and fails only when required. The
// realm starts on loopback in a temporary folder, as the tests' does; the
// deferred calls kill the KDC and remove the folder on every path, Ctrl-C
// included (ctx ends the handshake loops).
func demoMIT(ctx context.Context, w io.Writer, mech string, required bool, programs func() (map[string]string, error)) error {
	if _, err := programs(); err != nil {
		fmt.Fprintf(w, "== MIT realm: not run: the MIT KDC programs are not installed (%v); the parts above needed none\n", err)
		if required {
			return fmt.Errorf("-mit require: %w", err)
		}
		return nil
	}
	dir, err := os.MkdirTemp("", "sspi-demo-realm-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	realm, err := mitrealm.Launch(dir)
	if err != nil {
		fmt.Fprintf(w, "== MIT realm: not run: the throwaway realm did not start: %v\n", err)
		if required {
			return err
		}
		return nil
	}
	defer realm.Close()
	if err := context.Cause(ctx); err != nil {
		return fmt.Errorf("interrupted: %w", err)
	}
	fmt.Fprintf(w, "== MIT realm: %s, krb5kdc on %s, files in %s (removed at the end)\n", realm.Name, realm.KDCAddr, dir)

	cfg, err := config.NewFromString(realm.Krb5ConfText)
	if err != nil {
		return err
	}
	watch := newIOWatch()
	// The transport is shared by the engine's Kerberos credentials, which
	// do not close it; it is closed after the engine (deferred earlier,
	// run later).
	tr := kdc.NewTransport(kdc.WithConfig(cfg), kdc.WithDialer(watch.dial), kdc.WithObserver(watch.observe))
	defer tr.Close()
	e := asyncsspi.New(asyncsspi.WithKerberosOptions(kerberos.WithConfig(cfg), kerberos.WithTransport(tr)),
		asyncsspi.WithNTLMOptions(demoNTLMOptions()...))
	defer e.Close()
	alice := realm.Principal(mitrealm.User)
	password := asyncsspi.KerberosPassword(alice, mitrealm.Password)
	keytab := asyncsspi.KerberosKeytab(realm.ServiceKeytab, mitrealm.Service)

	if mech == "all" || mech == "kerberos" {
		// alice's first leg has no ticket yet, so it asks for I/O: the
		// engine runs the AS and TGS exchanges on its I/O side while the
		// leg reads pending, then resumes the leg with the ticket.
		fmt.Fprintf(w, "== Kerberos with the MIT KDC: %s -> %s, mutual authentication (password login; the service's keytab from kadmin)\n",
			alice, mitrealm.Service)
		client, err := e.ClientCredential(password)
		if err != nil {
			return err
		}
		defer client.Close()
		server, err := e.ServerCredential(keytab)
		if err != nil {
			return err
		}
		defer server.Close()
		_, err = handshakeAndMessages(ctx, w, e, client, server, mitrealm.Service, watch)
		watch.outcome()
		if err != nil {
			return err
		}
	}
	if mech == "all" || mech == "negotiate" {
		return demoNegotiateMIT(ctx, w, e, realm, password, keytab, watch)
	}
	return nil
}

// demoNegotiateMIT runs Negotiate (Kerberos, then NTLM) three times with
// one pair of credentials: for the realm's service, where Kerberos is
// chosen; for an SPN the KDC does not know, where the Kerberos attempt
// fails at the KDC and Negotiate falls back to NTLM inside the same
// exchange; and for a target that is not an SPN.
func demoNegotiateMIT(ctx context.Context, w io.Writer, e *asyncsspi.Engine, realm *mitrealm.Realm, password, keytab asyncsspi.Source, watch *ioWatch) error {
	client, err := e.ClientCredential(asyncsspi.Negotiate(password, asyncsspi.NTLMPassword(demoDomain, demoUser, demoPassword)))
	if err != nil {
		return err
	}
	defer client.Close()
	server, err := e.ServerCredential(asyncsspi.Negotiate(keytab, asyncsspi.NTLMUsers(demoNTLMUsers())))
	if err != nil {
		return err
	}
	defer server.Close()
	for _, target := range []string{mitrealm.Service, unknownSPN, "localhost"} {
		fmt.Fprintf(w, "== Negotiate with the MIT KDC: alice (Kerberos %s, NTLM %s\\%s) -> %s, offering Kerberos then NTLM (realm %s is up)\n",
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
