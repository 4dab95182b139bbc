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
// header up to its first ':' ("NTLM", "Kerberos in process", "MIT realm",
// "Negotiate with the MIT KDC", ...), and repeated headers get one entry
// each, in order.
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
			name, _, _ = strings.Cut(strings.TrimPrefix(line, "== "), ":")
		}
		cur.WriteString(line)
	}
	flush()
	return m
}

// checkHandshake checks one handshake section: the client's and the
// server's legs are queued and complete, both sides end with SEC_E_OK,
// and a signed and a sealed message go each way and verify and open to
// their text, the plaintext nowhere in the sealed bytes.
func checkHandshake(t *testing.T, name, sec string) {
	t.Helper()
	for _, want := range []*regexp.Regexp{
		// The status read just after the leg was queued: pending, unless
		// a worker has already finished it.
		regexp.MustCompile(`(?m)^  queued   client leg 1  status now SEC_I_(ASYNC_CALL_PENDING|CONTINUE_NEEDED)$`),
		regexp.MustCompile(`(?m)^  complete client 1 +SEC_I_CONTINUE_NEEDED +[1-9]\d* +\S+$`),
		regexp.MustCompile(`(?m)^  queued   server leg 1  status now SEC_[A-Z_]+$`),
		regexp.MustCompile(`(?m)^  complete server 1 +SEC_`),
		regexp.MustCompile(`(?m)^  complete client \d +SEC_E_OK `),
		regexp.MustCompile(`(?m)^  complete server \d +SEC_E_OK `),
		regexp.MustCompile(`client -> server signed  "hello server, signed by client" \(\d+-byte signature\): Verify SEC_E_OK`),
		regexp.MustCompile(`client -> server sealed  30 bytes as \d+ \(plaintext visible: false\): Open SEC_E_OK -> "hello server, sealed by client"`),
		regexp.MustCompile(`server -> client signed  "hello client, signed by server" \(\d+-byte signature\): Verify SEC_E_OK`),
		regexp.MustCompile(`server -> client sealed  30 bytes as \d+ \(plaintext visible: false\): Open SEC_E_OK -> "hello client, sealed by server"`),
	} {
		if !want.MatchString(sec) {
			t.Errorf("%s: no line matching %s in\n%s", name, want, sec)
		}
	}
	// No error status anywhere, except the Kerberos failure a Negotiate
	// fallback names as its reason.
	for _, code := range regexp.MustCompile(`SEC_E_[A-Z_]+`).FindAllString(sec, -1) {
		if code != "SEC_E_OK" && code != "SEC_E_TARGET_UNKNOWN" {
			t.Errorf("%s: unexpected %s in\n%s", name, code, sec)
		}
	}
}

// checkKerberosMutual: the server authenticated the user with Kerberos and
// the client verified the server.
func checkKerberosMutual(t *testing.T, name, sec, user string) {
	t.Helper()
	want := "server authenticated " + user + "; negotiated package Kerberos; the client verified the server (mutual authentication); client flags ISC_RET_MUTUAL_AUTH|"
	if !strings.Contains(sec, want) {
		t.Errorf("%s: no %q in\n%s", name, want, sec)
	}
}

// checkInProcess checks the parts that need nothing installed: NTLM,
// Kerberos with an in-process ticket and in-memory keytab (no I/O: no KDC
// runs), and Negotiate choosing Kerberos for the ticket's service and
// falling back to NTLM, within its first leg, for another.
func checkInProcess(t *testing.T, out string) {
	t.Helper()
	secs := sections(out)
	if len(secs["NTLM"]) != 1 || len(secs["Kerberos in process"]) != 1 || len(secs["Negotiate in process"]) != 2 {
		t.Fatalf("in-process sections: NTLM %d, Kerberos %d, Negotiate %d (want 1, 1, 2):\n%s",
			len(secs["NTLM"]), len(secs["Kerberos in process"]), len(secs["Negotiate in process"]), out)
	}
	nt := secs["NTLM"][0]
	checkHandshake(t, "NTLM", nt)
	if !strings.Contains(nt, `server authenticated EXAMPLE\alice; negotiated package NTLM; the server is not verified (NTLM does not authenticate the server)`) {
		t.Errorf("NTLM: no authenticated user:\n%s", nt)
	}

	krb := secs["Kerberos in process"][0]
	checkHandshake(t, "Kerberos in process", krb)
	checkKerberosMutual(t, "Kerberos in process", krb, "alice@EXAMPLE.COM")
	if !strings.Contains(krb, "  service key etype 18 (aes256-cts-hmac-sha1-96), kvno 1, in a keytab in memory; ticket for HTTP/web.example.com@EXAMPLE.COM sealed in it") {
		t.Errorf("Kerberos in process: no line on the key and the ticket:\n%s", krb)
	}
	// Mutual authentication: the server's one leg ends the handshake with
	// a token (the AP-REP) that the client's second leg verifies.
	if !regexp.MustCompile(`(?m)^  complete server 1 +SEC_E_OK +[1-9]\d* `).MatchString(krb) ||
		!regexp.MustCompile(`(?m)^  complete client 2 +SEC_E_OK +0 `).MatchString(krb) {
		t.Errorf("Kerberos in process: not an AP-REQ, AP-REP exchange:\n%s", krb)
	}
	if strings.Contains(out, "io-start") && !strings.Contains(out, "== MIT realm: ASYNCSSPI") {
		t.Errorf("I/O without a KDC:\n%s", out)
	}

	neg := secs["Negotiate in process"]
	for i, want := range []string{
		"Negotiate chose Kerberos: the client's credential holds a ticket for HTTP/web.example.com, so Kerberos needed no KDC",
		"Negotiate chose NTLM: the client's credential holds no ticket for HTTP/other.example.com and has no KDC to ask (SEC_E_TARGET_UNKNOWN); Negotiate fell back to NTLM within the same exchange",
	} {
		checkHandshake(t, "Negotiate in process", neg[i])
		if !strings.Contains(neg[i], want) {
			t.Errorf("Negotiate in process %d: no %q in\n%s", i, want, neg[i])
		}
	}
	checkKerberosMutual(t, "Negotiate in process", neg[0], "alice@EXAMPLE.COM")
	if !strings.Contains(neg[1], `server authenticated EXAMPLE\alice; negotiated package NTLM`) {
		t.Errorf("Negotiate in process fallback:\n%s", neg[1])
	}
	// The fallback is inside the client's first leg: the first token is
	// already NTLM's, and the handshake takes NTLM's three legs.
	if !strings.Contains(neg[1], "complete client 3 ") {
		t.Errorf("Negotiate in process fallback is not NTLM's exchange:\n%s", neg[1])
	}
}

// kdcAddrRE finds the KDC's address and the realm's folder in the output.
var kdcAddrRE = regexp.MustCompile(`krb5kdc on (127\.0\.0\.1:\d+), files in (\S+) `)

// checkGone: nothing left behind by the MIT part: the KDC no longer
// answers, its folder is gone.
func checkGone(t *testing.T, out string) {
	t.Helper()
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

// TestDemo runs `sspi demo` as `make demo` does. The in-process parts need
// nothing installed. With the MIT KDC programs it checks the MIT part
// (Kerberos with a password login and mutual authentication, the KDC
// exchanges as the I/O of a pending leg; Negotiate choosing Kerberos for
// the realm's service, NTLM after the KDC refuses an unknown SPN, NTLM for
// a non-SPN), and that the KDC and its folder are gone afterwards; without
// them, that the demo says so, then skips (or fails under
// ASYNCSSPI_REQUIRE_PEERS=1).
func TestDemo(t *testing.T) {
	var buf bytes.Buffer
	start := time.Now()
	if err := run(&buf, []string{"demo"}); err != nil {
		t.Fatalf("demo: %v\n%s", err, buf.String())
	}
	out := buf.String()
	t.Logf("demo took %v", time.Since(start))
	checkInProcess(t, out)
	secs := sections(out)

	if _, err := mitrealm.Programs(); err != nil {
		if !strings.Contains(out, "== MIT realm: not run: the MIT KDC programs are not installed") {
			t.Errorf("demo without KDC programs does not say so:\n%s", out)
		}
		peertest.Missing(t, err.Error())
		return
	}

	if len(secs["Kerberos with the MIT KDC"]) != 1 {
		t.Fatalf("no Kerberos section for the MIT realm:\n%s", out)
	}
	krb := secs["Kerberos with the MIT KDC"][0]
	checkHandshake(t, "Kerberos with the MIT KDC", krb)
	checkKerberosMutual(t, "Kerberos with the MIT KDC", krb, "alice@ASYNCSSPI.TEST")
	for _, want := range []*regexp.Regexp{
		// The client's first leg is pending while the engine's I/O side
		// talks to the KDC: each KDC exchange is a request sent and its
		// outcome, the AS exchange, then the TGS exchange.
		regexp.MustCompile(`(?m)^  io-start client 1 +SEC_I_ASYNC_CALL_PENDING +AS-REQ \(\d+ bytes\) to the KDC over (udp|tcp) 127\.0\.0\.1:\d+, from the engine's I/O side`),
		regexp.MustCompile(`(?m)^  io-done  client 1 +SEC_I_ASYNC_CALL_PENDING +\S+  AS-REQ -> AS-REP \(TGT for alice@ASYNCSSPI\.TEST\)$`),
		regexp.MustCompile(`(?m)^  io-start client 1 +SEC_I_ASYNC_CALL_PENDING +TGS-REQ \(\d+ bytes\) to the KDC over`),
		regexp.MustCompile(`(?m)^  io-done  client 1 +SEC_I_ASYNC_CALL_PENDING +\S+  TGS-REQ -> TGS-REP \(ticket for HTTP/localhost\)$`),
	} {
		if !want.MatchString(krb) {
			t.Errorf("Kerberos with the MIT KDC: no line matching %s in\n%s", want, krb)
		}
	}
	// io-start comes before io-done, and both before the leg completes.
	if i, j, k := strings.Index(krb, "io-start client 1"), strings.Index(krb, "io-done  client 1"), strings.Index(krb, "complete client 1"); !(i >= 0 && i < j && j < k) {
		t.Errorf("Kerberos with the MIT KDC: I/O events out of order:\n%s", krb)
	}

	neg := secs["Negotiate with the MIT KDC"]
	if len(neg) != 3 {
		t.Fatalf("%d Negotiate sections for the MIT realm, want 3:\n%s", len(neg), out)
	}
	for i, want := range []string{
		"Negotiate chose Kerberos: ticket obtained for HTTP/localhost",
		"Negotiate chose NTLM: the KDC refused a ticket for HTTP/unknown.localhost (KDC_ERR_S_PRINCIPAL_UNKNOWN); Negotiate fell back to NTLM within the same exchange",
		`Negotiate chose NTLM: target "localhost" is not an SPN`,
	} {
		checkHandshake(t, "Negotiate with the MIT KDC", neg[i])
		if !strings.Contains(neg[i], want) {
			t.Errorf("Negotiate %d: no %q in\n%s", i, want, neg[i])
		}
	}
	checkKerberosMutual(t, "Negotiate with the MIT KDC", neg[0], "alice@ASYNCSSPI.TEST")
	if !strings.Contains(neg[0], "io-start client 1") {
		t.Errorf("Negotiate over Kerberos: no KDC I/O:\n%s", neg[0])
	}
	// The fallback happened inside the first leg: the KDC's refusal is
	// that leg's I/O, and the leg still completed with a token.
	if !regexp.MustCompile(`io-done  client 1 .*KRB-ERROR KDC_ERR_S_PRINCIPAL_UNKNOWN\n  complete client 1 +SEC_I_CONTINUE_NEEDED`).MatchString(neg[1]) {
		t.Errorf("Negotiate fallback not within the first leg:\n%s", neg[1])
	}
	if strings.Contains(neg[2], "io-") {
		t.Errorf("Negotiate for a non-SPN asked the KDC:\n%s", neg[2])
	}
	checkGone(t, out)
}

// hideMIT plays a machine without the MIT programs.
func hideMIT() (map[string]string, error) {
	return nil, errors.New("mitrealm: MIT Kerberos program krb5kdc not found in PATH or the sbin folders")
}

// TestDemoWithoutKDCPrograms plays a machine with only Go: NTLM, Kerberos
// and Negotiate all run, and the demo says plainly that the MIT part did
// not.
func TestDemoWithoutKDCPrograms(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	var buf bytes.Buffer
	if err := demo(context.Background(), &buf, nil, hideMIT); err != nil {
		t.Fatalf("%v\n%s", err, buf.String())
	}
	out := buf.String()
	checkInProcess(t, out)
	secs := sections(out)
	if len(secs) != 4 || len(secs["MIT realm"]) != 1 {
		t.Errorf("sections %v:\n%s", len(secs), out)
	}
	if want := "== MIT realm: not run: the MIT KDC programs are not installed (mitrealm: MIT Kerberos program krb5kdc not found in PATH or the sbin folders); the parts above needed none\n"; !strings.HasSuffix(out, want) {
		t.Errorf("output does not end with %q:\n%s", want, out)
	}
	if strings.Contains(out, "io-start") || strings.Contains(out, "krb5kdc on") {
		t.Errorf("a KDC was used:\n%s", out)
	}
	if left, _ := os.ReadDir(tmp); len(left) != 0 {
		t.Errorf("left behind in TMPDIR: %v", left)
	}

	// -mech kerberos runs the in-process Kerberos part and says the MIT
	// one did not run.
	buf.Reset()
	if err := demo(context.Background(), &buf, []string{"-mech", "kerberos"}, hideMIT); err != nil {
		t.Fatal(err)
	}
	if secs := sections(buf.String()); len(secs) != 2 || len(secs["Kerberos in process"]) != 1 || len(secs["MIT realm"]) != 1 {
		t.Errorf("-mech kerberos without the programs:\n%s", buf.String())
	}

	// -mit require fails, after the parts that need nothing.
	buf.Reset()
	err := demo(context.Background(), &buf, []string{"-mech", "negotiate", "-mit", "require"}, hideMIT)
	var ee exitError
	if !errors.As(err, &ee) || ee.code != demoExitFailure || !strings.Contains(err.Error(), "-mit require") {
		t.Errorf("-mit require without the programs: %v", err)
	}
	if secs := sections(buf.String()); len(secs["Negotiate in process"]) != 2 {
		t.Errorf("-mit require: the in-process parts did not run:\n%s", buf.String())
	}
}

// TestDemoFlags: -mech and -mit select the parts; bad flags and arguments
// are exit status 2; -help says what each part needs and lists the exit
// statuses.
func TestDemoFlags(t *testing.T) {
	var buf bytes.Buffer
	if err := run(&buf, []string{"demo", "-mech", "ntlm"}); err != nil {
		t.Fatal(err)
	}
	if secs := sections(buf.String()); len(secs) != 1 || len(secs["NTLM"]) != 1 {
		t.Errorf("-mech ntlm ran %d parts:\n%s", len(secs), buf.String())
	}
	buf.Reset()
	if err := run(&buf, []string{"demo", "-mech", "negotiate", "-mit", "off"}); err != nil {
		t.Fatal(err)
	}
	if secs := sections(buf.String()); len(secs) != 1 || len(secs["Negotiate in process"]) != 2 {
		t.Errorf("-mech negotiate -mit off ran:\n%s", buf.String())
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-mech", "spnego"}, `unknown -mech "spnego"`},
		{[]string{"-mit", "maybe"}, `unknown -mit "maybe"`},
		{[]string{"-bogus"}, "flag provided but not defined"},
		{[]string{"extra"}, "unexpected arguments"},
	} {
		buf.Reset()
		err := run(&buf, append([]string{"demo"}, c.args...))
		var ee exitError
		if !errors.As(err, &ee) || ee.code != demoExitUsage || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: %v, want exit %d with %q", c.args, err, demoExitUsage, c.want)
		}
	}
	buf.Reset()
	if err := run(&buf, []string{"demo", "-help"}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"usage: sspi demo", "needing nothing installed beyond Go", "keytab in memory", "MIT KDC programs", "Ctrl-C", "Exit status:", "-mech parts", "-mit when"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("-help lacks %q:\n%s", want, buf.String())
		}
	}
}

// TestDemoMechKerberos: -mech kerberos runs the two Kerberos parts only.
func TestDemoMechKerberos(t *testing.T) {
	if _, err := mitrealm.Programs(); err != nil {
		peertest.Missing(t, err.Error())
	}
	var buf bytes.Buffer
	if err := run(&buf, []string{"demo", "-mech", "kerberos", "-mit", "require"}); err != nil {
		t.Fatalf("%v\n%s", err, buf.String())
	}
	secs := sections(buf.String())
	if len(secs) != 3 || len(secs["Kerberos in process"]) != 1 || len(secs["MIT realm"]) != 1 || len(secs["Kerberos with the MIT KDC"]) != 1 {
		t.Fatalf("-mech kerberos:\n%s", buf.String())
	}
	checkHandshake(t, "Kerberos with the MIT KDC", secs["Kerberos with the MIT KDC"][0])
	checkGone(t, buf.String())
}

// interrupter is the demo's output; it cancels the demo's context (as
// Ctrl-C does) once the output holds at.
type interrupter struct {
	bytes.Buffer
	at     string
	cancel context.CancelCauseFunc
}

func (i *interrupter) Write(p []byte) (int, error) {
	n, err := i.Buffer.Write(p)
	if strings.Contains(i.String(), i.at) {
		i.cancel(errors.New("interrupt"))
	}
	return n, err
}

// interrupted runs the demo with args and Ctrl-C once its output holds at,
// and checks that it ends with an error naming the interrupt, leaving
// nothing in TMPDIR (goleak, in TestMain, checks the goroutines).
func interrupted(t *testing.T, at string, programs func() (map[string]string, error), args ...string) string {
	t.Helper()
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	out := &interrupter{at: at, cancel: cancel}
	err := demo(ctx, out, args, programs)
	var ee exitError
	if !errors.As(err, &ee) || ee.code != demoExitFailure || !strings.Contains(err.Error(), "interrupt") {
		t.Fatalf("err %v\n%s", err, out.String())
	}
	if left, _ := os.ReadDir(tmp); len(left) != 0 {
		t.Errorf("left behind in TMPDIR: %v", left)
	}
	return out.String()
}

// TestDemoInterrupted: Ctrl-C (a cancelled context) ends the demo with an
// error, whatever it is doing: in the in-process parts, with nothing
// installed; with the realm up, before its first handshake; and while a
// leg is pending on a KDC exchange. The KDC is killed and the temporary
// folder removed.
func TestDemoInterrupted(t *testing.T) {
	t.Run("in process", func(t *testing.T) {
		out := interrupted(t, "queued   server leg 1", hideMIT)
		if strings.Contains(out, "Verify") {
			t.Errorf("the handshake went on:\n%s", out)
		}
	})
	if _, err := mitrealm.Programs(); err != nil {
		peertest.Missing(t, err.Error())
	}
	t.Run("realm up", func(t *testing.T) {
		out := interrupted(t, "== MIT realm: ASYNCSSPI", mitrealm.Programs, "-mech", "kerberos")
		if secs := sections(out)["Kerberos with the MIT KDC"]; len(secs) > 1 || len(secs) == 1 && strings.Contains(secs[0], "queued") {
			t.Errorf("a handshake ran after the interrupt:\n%s", out)
		}
		checkGone(t, out)
	})
	t.Run("pending on the KDC", func(t *testing.T) {
		out := interrupted(t, "io-start client 1", mitrealm.Programs, "-mech", "kerberos")
		if secs := sections(out)["Kerberos with the MIT KDC"]; len(secs) != 1 || strings.Contains(secs[0], "Verify") {
			t.Errorf("the handshake went on after the interrupt:\n%s", out)
		}
		checkGone(t, out)
	})
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

// TestRunUsage: no command and an unknown one are exit status 2, naming
// the commands.
func TestRunUsage(t *testing.T) {
	var buf bytes.Buffer
	for _, args := range [][]string{nil, {"frobnicate"}, {"help", "frobnicate"}, {"help", "demo", "extra"}} {
		err := run(&buf, args)
		var ee exitError
		if !errors.As(err, &ee) || ee.code != exitUsage || !strings.Contains(err.Error(), "demo, get, packages, serve, status, token") {
			t.Errorf("%q: %v, want exit %d naming the commands", args, err, exitUsage)
		}
	}
	if buf.Len() != 0 {
		t.Errorf("usage errors wrote to standard output:\n%s", buf.String())
	}
}

// TestHelp: sspi -help lists every command and the exit statuses; every
// command's -help (and sspi help COMMAND) says how to use it and lists its
// exit statuses, with exit status 0.
func TestHelp(t *testing.T) {
	for _, args := range [][]string{{"-help"}, {"-h"}, {"help"}} {
		var buf bytes.Buffer
		if err := run(&buf, args); err != nil {
			t.Fatalf("%q: %v", args, err)
		}
		out := buf.String()
		for name := range commands {
			if !regexp.MustCompile(`(?m)^  ` + name + ` +\S`).MatchString(out) {
				t.Errorf("%q does not describe %s:\n%s", args, name, out)
			}
		}
		for _, want := range []string{"usage: sspi COMMAND", "sspi COMMAND -help", "Exit status:", "\n  0 ", "\n  1 ", "\n  2 ", "\n  3 ", "\n  22 "} {
			if !strings.Contains(out, want) {
				t.Errorf("%q lacks %q:\n%s", args, want, out)
			}
		}
	}
	for name := range commands {
		for _, args := range [][]string{{name, "-help"}, {"help", name}} {
			var out string
			if name == "get" {
				// sspi get writes its help to standard error (standard
				// output is the body).
				var code int
				_, out, code = runGetTest(t, "", "-help")
				if code != 0 {
					t.Errorf("get -help: exit %d", code)
				}
			} else {
				var buf bytes.Buffer
				if err := run(&buf, args); err != nil {
					t.Errorf("%q: %v", args, err)
				}
				out = buf.String()
			}
			if !strings.HasPrefix(out, "usage: sspi "+name) || !strings.Contains(out, "Exit status") {
				t.Errorf("%q: no usage line or no exit statuses:\n%s", args, out)
			}
		}
	}
	// Arguments sspi packages and sspi status do not take.
	var buf bytes.Buffer
	for _, c := range []struct {
		args []string
		code int
	}{
		{[]string{"packages", "extra"}, exitUsage},
		{[]string{"packages", "-bogus"}, exitUsage},
		{[]string{"status"}, exitUsage},
		{[]string{"status", "bogus"}, 1},
	} {
		err := run(&buf, c.args)
		var ee exitError
		if !errors.As(err, &ee) || ee.code != c.code {
			t.Errorf("%q: %v, want exit %d", c.args, err, c.code)
		}
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
