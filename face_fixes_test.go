package asyncsspi_test

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/asyncsspi/asyncsspi"
	"github.com/asyncsspi/asyncsspi/async"
	"github.com/asyncsspi/asyncsspi/internal/testrealm"
	"github.com/asyncsspi/asyncsspi/mechs/kerberos"
	"github.com/asyncsspi/asyncsspi/status"
)

// A Step whose ctx ends while its leg waits on I/O (a KDC that never
// answers) returns an error that wraps ctx.Err() — DeadlineExceeded
// here, not only the engine's own cancellation — as its comment says.
func TestStepWrapsContextError(t *testing.T) {
	conf := t.TempDir() + "/krb5.conf"
	writeConf(t, conf, "[libdefaults]\n default_realm = SILENT.TEST\n dns_lookup_kdc = false\n dns_lookup_realm = false\n"+
		"[realms]\n SILENT.TEST = {\n  kdc = "+testrealm.SilentAddr(t)+"\n }\n")
	e := asyncsspi.New(asyncsspi.WithEngineOptions(async.WithWorkers(1)), asyncsspi.WithKerberosOptions(kerberos.WithConfigFile(conf)))
	defer e.Close()
	cred, err := e.ClientCredential(asyncsspi.KerberosPassword("alice@SILENT.TEST", "pw"))
	if err != nil {
		t.Fatal(err)
	}
	defer cred.Close()
	sc, _ := cred.NewClientContext("HTTP/web.silent.test")
	defer sc.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	_, _, err = sc.Step(ctx, nil)
	if !errors.Is(err, context.DeadlineExceeded) || !status.CodeOf(err).IsError() {
		t.Fatalf("step past its deadline: %v", err)
	}
}

// Source.ClientPart finds the part of a source for one package.
func TestSourceClientPart(t *testing.T) {
	env := asyncsspi.FromEnvironment()
	if env.Package() != "Negotiate" {
		t.Fatalf("FromEnvironment is %q", env.Package())
	}
	if p, ok := env.ClientPart("Kerberos"); !ok || p.Package() != "Kerberos" || p.String() != "Kerberos ticket cache $KRB5CCNAME" {
		t.Fatalf("Kerberos part %v %v", p, ok)
	}
	if p, ok := env.ClientPart("NTLM"); !ok || p.Package() != "NTLM" {
		t.Fatalf("NTLM part %v %v", p, ok)
	}
	nt := asyncsspi.NTLMPassword("D", "u", "p")
	if p, ok := nt.ClientPart("ntlm"); !ok || p.String() != nt.String() {
		t.Fatalf("a single source's own part: %v %v", p, ok)
	}
	if _, ok := nt.ClientPart("Kerberos"); ok {
		t.Fatal("an NTLM source has a Kerberos part")
	}
	if _, ok := asyncsspi.NTLMUsers(nil).ClientPart("NTLM"); ok {
		t.Fatal("a server-only source has a client part")
	}
	if _, ok := env.ClientPart("Negotiate"); ok {
		t.Fatal("a Negotiate part")
	}
}

func writeConf(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
}
