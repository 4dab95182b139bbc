package main

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/asyncsspi/asyncsspi/internal/mitrealm"
	"github.com/asyncsspi/asyncsspi/internal/peertest"
)

// The demo runs engines, whose workers are goroutines, and a KDC transport.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// sections splits the demo's output at its "== " headers; the key is the
// header up to its first ':' ("NTLM", "Kerberos", "Negotiate", ...), and
// repeated headers get one entry each, in order.
func sections(out string) map[string][]string {
	m := map[string][]string{}
	var name string
	var cur strings.Builder
	flush := func() {
		if name != "" {
			m[name] = append(m[name], cur.String())
		}
		cur.Reset()
	}
	for _, line := range strings.SplitAfter(out, "\n") {
		if strings.HasPrefix(line, "== ") {
			flush()
			name = strings.TrimPrefix(line, "== ")
			if i := strings.IndexAny(name, ": "); i >= 0 {
				name = name[:i]
			}
		}
		cur.WriteString(line)
	}
	flush()
	return m
}

// checkHandshake checks one handshake section: the client's and the
// server's legs complete, both sides end with SEC_E_OK, and a signed and
// a sealed message go each way and verify and decrypt to their text.
func checkHandshake(t *testing.T, name, sec string) {
	t.Helper()
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^  queued   client leg 1 `),
		regexp.MustCompile(`(?m)^  complete client 1 +SEC_I_CONTINUE_NEEDED +[1-9]`),
		regexp.MustCompile(`(?m)^  queued   server leg 1 `),
		regexp.MustCompile(`(?m)^  complete server 1 +SEC_`),
		regexp.MustCompile(`(?m)^  complete client \d +SEC_E_OK `),
		regexp.MustCompile(`(?m)^  complete server \d +SEC_E_OK `),
		regexp.MustCompile(`client -> server signed  "hello server, signed by client" \(\d+-byte signature\): VerifySignature SEC_E_OK`),
		regexp.MustCompile(`client -> server sealed  30 bytes \(ciphertext differs: true, \d+-byte trailer\): DecryptMessage SEC_E_OK -> "hello server, sealed by client"`),
		regexp.MustCompile(`server -> client signed  "hello client, signed by server" \(\d+-byte signature\): VerifySignature SEC_E_OK`),
		regexp.MustCompile(`server -> client sealed  30 bytes \(ciphertext differs: true, \d+-byte trailer\): DecryptMessage SEC_E_OK -> "hello client, sealed by server"`),
	} {
		if !want.MatchString(sec) {
			t.Errorf("%s: no line matching %s in\n%s", name, want, sec)
		}
	}
	// No error status anywhere, except the KDC's refusal that a Negotiate
	// fallback reports as its I/O's outcome.
	for _, code := range regexp.MustCompile(`SEC_E_[A-Z_]+`).FindAllString(sec, -1) {
		if code != "SEC_E_OK" && code != "SEC_E_TARGET_UNKNOWN" {
			t.Errorf("%s: unexpected %s in\n%s", name, code, sec)
		}
	}
}

// kdcAddrRE finds the KDC's address and the realm's folder in the output.
var kdcAddrRE = regexp.MustCompile(`krb5kdc on (127\.0\.0\.1:\d+), files in (\S+) `)

// TestDemo runs `sspi demo` as the README's first command does. The NTLM
// part needs nothing installed. With the MIT KDC programs it checks the
// Kerberos part (mutual authentication, the KDC exchanges as the I/O of a
// pending leg) and Negotiate (Kerberos chosen for the realm's service,
// NTLM after the KDC refuses an unknown SPN, NTLM for a non-SPN), and that
// the KDC and its folder are gone afterwards; without them it checks that
// the demo says so and runs Negotiate over NTLM, then skips (or fails
// under ASYNCSSPI_REQUIRE_PEERS=1).
func TestDemo(t *testing.T) {
	var buf bytes.Buffer
	start := time.Now()
	if err := run(&buf, []string{"demo"}); err != nil {
		t.Fatalf("demo: %v\n%s", err, buf.String())
	}
	out := buf.String()
	t.Logf("demo took %v", time.Since(start))
	secs := sections(out)
	if len(secs["NTLM"]) != 1 {
		t.Fatalf("no NTLM section:\n%s", out)
	}
	checkHandshake(t, "NTLM", secs["NTLM"][0])
	if !strings.Contains(secs["NTLM"][0], `server authenticated EXAMPLE\alice; negotiated package NTLM`) {
		t.Errorf("NTLM: no authenticated user:\n%s", secs["NTLM"][0])
	}

	if _, err := mitrealm.Programs(); err != nil {
		if !strings.Contains(out, "== Kerberos: not run: the MIT KDC programs are not installed") ||
			!strings.Contains(out, "Negotiate chose NTLM: no KDC programs installed") {
			t.Errorf("demo without KDC programs does not say so:\n%s", out)
		}
		peertest.Missing(t, err.Error())
		return
	}

	if len(secs["Kerberos"]) != 1 {
		t.Fatalf("no Kerberos section:\n%s", out)
	}
	krb := secs["Kerberos"][0]
	checkHandshake(t, "Kerberos", krb)
	for _, want := range []*regexp.Regexp{
		// The client's first leg is pending while the engine's I/O side
		// talks to the KDC.
		regexp.MustCompile(`(?m)^  io-start client 1 +SEC_I_ASYNC_CALL_PENDING `),
		// Each KDC exchange is an I/O wait of its own: the AS exchange,
		// then the TGS exchange.
		regexp.MustCompile(`(?m)^  io-done  client 1 +SEC_I_ASYNC_CALL_PENDING .*AS-REQ -> AS-REP `),
		regexp.MustCompile(`(?m)^  io-done  client 1 +SEC_I_ASYNC_CALL_PENDING .*TGS-REQ -> TGS-REP \(ticket for HTTP/localhost\)`),
		regexp.MustCompile(`server authenticated alice@ASYNCSSPI\.TEST; negotiated package Kerberos; client flags \S*ISC_RET_MUTUAL_AUTH`),
	} {
		if !want.MatchString(krb) {
			t.Errorf("Kerberos: no line matching %s in\n%s", want, krb)
		}
	}
	// io-start comes before io-done, and both before the leg completes.
	if i, j, k := strings.Index(krb, "io-start client 1"), strings.Index(krb, "io-done  client 1"), strings.Index(krb, "complete client 1"); !(i >= 0 && i < j && j < k) {
		t.Errorf("Kerberos: I/O events out of order:\n%s", krb)
	}

	neg := secs["Negotiate"]
	if len(neg) != 3 {
		t.Fatalf("%d Negotiate sections, want 3:\n%s", len(neg), out)
	}
	for i, want := range []string{
		"Negotiate chose Kerberos: ticket obtained for HTTP/localhost",
		"Negotiate chose NTLM: the KDC refused a ticket for HTTP/unknown.localhost (KDC_ERR_S_PRINCIPAL_UNKNOWN); Negotiate fell back to NTLM within the same exchange",
		`Negotiate chose NTLM: target "localhost" is not an SPN`,
	} {
		checkHandshake(t, "Negotiate", neg[i])
		if !strings.Contains(neg[i], want) {
			t.Errorf("Negotiate %d: no %q in\n%s", i, want, neg[i])
		}
	}
	if !strings.Contains(neg[0], "ISC_RET_MUTUAL_AUTH") || !strings.Contains(neg[0], "io-start client 1") {
		t.Errorf("Negotiate over Kerberos: no mutual authentication or no KDC I/O:\n%s", neg[0])
	}
	// The fallback happened inside the first leg: the KDC's refusal is
	// that leg's I/O, and the leg still completed with a token.
	if !regexp.MustCompile(`io-done  client 1 .*KRB-ERROR KDC_ERR_S_PRINCIPAL_UNKNOWN[^\n]*\n  complete client 1 +SEC_I_CONTINUE_NEEDED`).MatchString(neg[1]) {
		t.Errorf("Negotiate fallback not within the first leg:\n%s", neg[1])
	}

	// Nothing left behind: the KDC no longer answers, its folder is gone.
	m := kdcAddrRE.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no realm line:\n%s", out)
	}
	if c, err := net.DialTimeout("tcp", m[1], time.Second); err == nil {
		c.Close()
		t.Errorf("something still listens on the KDC's address %s", m[1])
	}
	if _, err := os.Stat(m[2]); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("realm folder %s still there: %v", m[2], err)
	}
}

// TestDemoWithoutKDCPrograms plays a machine without the MIT programs:
// the demo says so plainly and runs Negotiate over NTLM.
func TestDemoWithoutKDCPrograms(t *testing.T) {
	missing := func() (map[string]string, error) {
		return nil, errors.New("mitrealm: MIT Kerberos program krb5kdc not found in PATH or the sbin folders")
	}
	var buf bytes.Buffer
	if err := demo(context.Background(), &buf, nil, missing); err != nil {
		t.Fatalf("%v\n%s", err, buf.String())
	}
	out := buf.String()
	secs := sections(out)
	if len(secs["NTLM"]) != 1 || len(secs["Negotiate"]) != 1 {
		t.Fatalf("sections %v:\n%s", len(secs), out)
	}
	checkHandshake(t, "Negotiate", secs["Negotiate"][0])
	for _, want := range []string{
		"== Kerberos: not run: the MIT KDC programs are not installed (mitrealm: MIT Kerberos program krb5kdc not found",
		"== Negotiate: EXAMPLE\\alice -> HTTP/web.example.com, offering NTLM only",
		"negotiated package NTLM",
		"Negotiate chose NTLM: no KDC programs installed",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in\n%s", want, out)
		}
	}
	if strings.Contains(out, "io-start") || strings.Contains(out, "krb5kdc on") {
		t.Errorf("Kerberos ran without a realm:\n%s", out)
	}

	// -mech kerberos has nothing to run, and says so.
	buf.Reset()
	if err := demo(context.Background(), &buf, []string{"-mech", "kerberos"}, missing); err != nil {
		t.Fatal(err)
	}
	if out := buf.String(); !strings.HasPrefix(out, "== Kerberos: not run: the MIT KDC programs are not installed") || strings.Count(out, "== ") != 1 {
		t.Errorf("-mech kerberos without programs:\n%s", out)
	}
}

// TestDemoMech: -mech selects the parts; an unknown value is an error.
func TestDemoMech(t *testing.T) {
	var buf bytes.Buffer
	if err := run(&buf, []string{"demo", "-mech", "ntlm"}); err != nil {
		t.Fatal(err)
	}
	if secs := sections(buf.String()); len(secs) != 1 || len(secs["NTLM"]) != 1 {
		t.Errorf("-mech ntlm ran %d parts:\n%s", len(secs), buf.String())
	}
	if err := run(&buf, []string{"demo", "-mech", "spnego"}); err == nil || !strings.Contains(err.Error(), `unknown -mech "spnego"`) {
		t.Errorf("-mech spnego: %v", err)
	}
	if err := run(&buf, []string{"demo", "-bogus"}); err == nil {
		t.Error("-bogus: no error")
	}
}

// TestDemoMechKerberos: -mech kerberos runs the realm and Kerberos only.
func TestDemoMechKerberos(t *testing.T) {
	if _, err := mitrealm.Programs(); err != nil {
		peertest.Missing(t, err.Error())
	}
	var buf bytes.Buffer
	if err := run(&buf, []string{"demo", "-mech", "kerberos"}); err != nil {
		t.Fatalf("%v\n%s", err, buf.String())
	}
	secs := sections(buf.String())
	if len(secs["Kerberos"]) != 1 || len(secs["NTLM"]) != 0 || len(secs["Negotiate"]) != 0 {
		t.Fatalf("-mech kerberos:\n%s", buf.String())
	}
	checkHandshake(t, "Kerberos", secs["Kerberos"][0])
}

// TestDemoInterrupted: Ctrl-C (a cancelled context) after the realm has
// started ends the demo with an error, the KDC killed and the temporary
// folder removed.
func TestDemoInterrupted(t *testing.T) {
	if _, err := mitrealm.Programs(); err != nil {
		peertest.Missing(t, err.Error())
	}
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	ctx, cancel := context.WithCancelCause(context.Background())
	cancel(errors.New("interrupt"))
	var buf bytes.Buffer
	err := demo(ctx, &buf, []string{"-mech", "kerberos"}, mitrealm.Programs)
	if err == nil || !strings.Contains(err.Error(), "interrupt") {
		t.Fatalf("err %v\n%s", err, buf.String())
	}
	left, _ := os.ReadDir(tmp)
	if len(left) != 0 {
		t.Errorf("left behind in TMPDIR: %v", left)
	}
}

func TestPackages(t *testing.T) {
	var buf bytes.Buffer
	if err := run(&buf, []string{"packages"}); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimRight(buf.String(), "\n"), "\n")
	if len(lines) != 3 {
		t.Fatalf("%d lines:\n%s", len(lines), buf.String())
	}
	for i, name := range []string{"NTLM", "Kerberos", "Negotiate"} {
		f := strings.Fields(lines[i])
		if len(f) < 7 || f[0] != name || f[1] != "max" || f[2] != "token" || f[3] == "0" || f[4] != "capabilities" || !strings.HasPrefix(f[5], "0x") {
			t.Errorf("line %d: %q", i, lines[i])
		}
	}
}

func TestStatus(t *testing.T) {
	var buf bytes.Buffer
	if err := run(&buf, []string{"status", "0x8009030C", "-2146893044", "SEC_I_CONTINUE_NEEDED", "sec_e_ok", "0x80090303"}); err != nil {
		t.Fatal(err)
	}
	want := "0x8009030C -2146893044 SEC_E_LOGON_DENIED (error)\n" +
		"0x8009030C -2146893044 SEC_E_LOGON_DENIED (error)\n" +
		"0x00090312 590610 SEC_I_CONTINUE_NEEDED (informational)\n" +
		"0x00000000 0 SEC_E_OK (success)\n" +
		"0x80090303 -2146893053 SEC_E_TARGET_UNKNOWN (error)\n"
	if buf.String() != want {
		t.Errorf("got\n%swant\n%s", buf.String(), want)
	}
	for _, bad := range [][]string{{"status"}, {"status", "SEC_E_NO_SUCH_THING"}, {"status", "banana"}, {"status", "0x1FFFFFFFF"}} {
		if err := run(&buf, bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestRunUsage(t *testing.T) {
	var buf bytes.Buffer
	if err := run(&buf, nil); err == nil {
		t.Error("no command: no error")
	}
	if err := run(&buf, []string{"frobnicate"}); err == nil || !strings.Contains(err.Error(), "unknown command") {
		t.Errorf("unknown command: %v", err)
	}
}

// TestNoTestHelpers: the sspi command links no package made for tests
// (testing itself, internal/testrealm, internal/peertest, ...); its
// throwaway realm is internal/mitrealm.
func TestNoTestHelpers(t *testing.T) {
	// go test puts its own go first in PATH.
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("no go tool in PATH: %v", err)
	}
	out, err := exec.Command(goTool, "list", "-deps", "-f", "{{.ImportPath}}", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	deps := strings.Fields(string(out))
	if !slices.Contains(deps, "github.com/asyncsspi/asyncsspi/internal/mitrealm") {
		t.Fatalf("go list -deps does not list internal/mitrealm: %v", deps)
	}
	for _, d := range deps {
		switch {
		case d == "testing", strings.HasPrefix(d, "testing/"), d == "net/http/httptest",
			strings.HasSuffix(d, "/internal/testrealm"), strings.HasSuffix(d, "/internal/peertest"),
			strings.HasSuffix(d, "/internal/gsspeer"), strings.HasSuffix(d, "/internal/fakemech"):
			t.Errorf("sspi links %s, a package made for tests", d)
		}
	}
}
