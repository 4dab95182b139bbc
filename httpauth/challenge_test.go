package httpauth

import (
	"bufio"
	"errors"
	"net/http"
	"os"
	"reflect"
	"strings"
	"testing"
)

func TestParseChallenges(t *testing.T) {
	for _, c := range []struct {
		fields []string
		want   []Challenge
	}{
		{[]string{"Negotiate"}, []Challenge{{Scheme: "Negotiate"}}},
		{[]string{"negotiate YIIabc+/=="}, []Challenge{{Scheme: "negotiate", Token68: "YIIabc+/=="}}},
		{[]string{"Negotiate abc="}, []Challenge{{Scheme: "Negotiate", Token68: "abc="}}},
		{[]string{`Basic realm="a, NTLM, b", Negotiate`}, []Challenge{
			{Scheme: "Basic", Params: []Param{{"realm", "a, NTLM, b"}}},
			{Scheme: "Negotiate"},
		}},
		{[]string{`Newauth realm="apps", type=1, title="Login to \"apps\"", Basic realm="simple"`}, []Challenge{
			{Scheme: "Newauth", Params: []Param{{"realm", "apps"}, {"type", "1"}, {"title", `Login to "apps"`}}},
			{Scheme: "Basic", Params: []Param{{"realm", "simple"}}},
		}},
		{[]string{`Basic realm="x"`, `Negotiate`, `NTLM, Kerberos`}, []Challenge{
			{Scheme: "Basic", Params: []Param{{"realm", "x"}}},
			{Scheme: "Negotiate"}, {Scheme: "NTLM"}, {Scheme: "Kerberos"},
		}},
		{[]string{` , ,Negotiate  abc== ,, NTLM ,`}, []Challenge{{Scheme: "Negotiate", Token68: "abc=="}, {Scheme: "NTLM"}}},
		{[]string{`Digest realm = "r" , nonce=n`}, []Challenge{{Scheme: "Digest", Params: []Param{{"realm", "r"}, {"nonce", "n"}}}}},
		{[]string{"Basic realm="}, []Challenge{{Scheme: "Basic", Token68: "realm="}}}, // RFC 7235's token68 reading
		{[]string{""}, nil},
	} {
		h := http.Header{}
		for _, f := range c.fields {
			h.Add("WWW-Authenticate", f)
		}
		got, err := ParseChallenges(h, "WWW-Authenticate")
		if err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("%q:\n got %+v, %v\nwant %+v", c.fields, got, err, c.want)
		}
	}
}

func TestParseChallengesErrors(t *testing.T) {
	for _, c := range []struct {
		field string
		keep  int // challenges kept before the fault
	}{
		{`Basic realm="unterminated`, 0},
		{`Negotiate abc=def=`, 0},
		{`NTLM, Basic a=b c`, 1},
		{`NTLM, =x`, 0}, // NTLM might have had params: not kept
		{`Negotiate abc==, xyz==`, 1},
		{"Basic realm=\"a\x01b\"", 0},
		{`Basic realm="x" junk`, 0},
		{`Negotiate@`, 0},
		{strings.Repeat("a", maxChallengeHeader+1), 0},
	} {
		h := http.Header{"Www-Authenticate": {c.field}}
		got, err := ParseChallenges(h, "WWW-Authenticate")
		if !errors.Is(err, ErrMalformedChallenge) || len(got) != c.keep {
			t.Errorf("%.60q: %d challenges, %v; want %d and an error", c.field, len(got), err, c.keep)
		}
	}
	// A bad field does not hide the good ones.
	h := http.Header{"Www-Authenticate": {`Basic realm="x`, `Negotiate`}}
	got, err := ParseChallenges(h, "WWW-Authenticate")
	if err == nil || len(got) != 1 || got[0].Scheme != "Negotiate" {
		t.Errorf("bad then good: %+v, %v", got, err)
	}
}

// Challenges with token68s and params come back unchanged through String.
func TestChallengeString(t *testing.T) {
	for _, c := range []Challenge{
		{Scheme: "Negotiate", Token68: "abc=="},
		{Scheme: "Basic", Params: []Param{{"realm", `a "quoted", thing`}, {"charset", "UTF-8"}}},
		{Scheme: "X", Params: []Param{{"empty", ""}}},
	} {
		got, err := parseChallengeList(c.String())
		if err != nil || len(got) != 1 || !reflect.DeepEqual(got[0], c) {
			t.Errorf("%q: %+v, %v", c.String(), got, err)
		}
	}
}

// Every prefix of a seed that stops inside a quoted string is refused:
// a header cut short never yields a value that was not sent.
func TestTruncatedQuotedStringRefused(t *testing.T) {
	for _, s := range seeds(t) {
		in := false
		for i := 0; i < len(s); i++ {
			switch {
			case in && s[i] == '\\':
				i++
				if i < len(s) {
					if _, err := parseChallengeList(s[:i]); err == nil {
						t.Errorf("%q parsed", s[:i])
					}
				}
				continue
			case s[i] == '"':
				in = !in
			}
			if in {
				if _, err := parseChallengeList(s[:i+1]); err == nil {
					t.Errorf("%q parsed", s[:i+1])
				}
			}
		}
	}
}

func TestChallengeSeeds(t *testing.T) {
	for _, s := range seeds(t) {
		cs, err := parseChallengeList(s)
		if err != nil || len(cs) == 0 {
			t.Errorf("%q: %+v, %v", s, cs, err)
		}
	}
}

// seeds are the header fields in testdata/challenges.txt.
func seeds(t testing.TB) []string {
	f, err := os.Open("testdata/challenges.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if l := sc.Text(); l != "" && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	return out
}

func FuzzParseChallenges(f *testing.F) {
	for _, s := range seeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		cs, err := parseChallengeList(s)
		if len(cs) > maxChallenges {
			t.Fatalf("%d challenges", len(cs))
		}
		for _, c := range cs {
			if c.Scheme == "" || strings.IndexFunc(c.Scheme, func(r rune) bool { return r > 0x7f || !isTchar(byte(r)) }) >= 0 {
				t.Fatalf("scheme %q", c.Scheme)
			}
			if c.Token68 != "" && len(c.Params) > 0 {
				t.Fatalf("token68 and params: %+v", c)
			}
		}
		if err != nil {
			return
		}
		// What parsed formats and parses back the same.
		parts := make([]string, len(cs))
		for i, c := range cs {
			parts[i] = c.String()
		}
		again, err := parseChallengeList(strings.Join(parts, ", "))
		if err != nil || !reflect.DeepEqual(again, cs) {
			t.Fatalf("%q -> %+v -> %q -> %+v, %v", s, cs, strings.Join(parts, ", "), again, err)
		}
	})
}
