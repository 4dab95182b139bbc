package ntlm

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	secctx "github.com/asyncsspi/asyncsspi/context"
	"github.com/asyncsspi/asyncsspi/mechs"
	"github.com/asyncsspi/asyncsspi/status"
)

// The MS-NLMP section 4.2 examples. Common values (4.2.1).
const (
	specUser     = "User"
	specDomain   = "Domain"
	specPassword = "Password"
)

var (
	specServerChallenge = []byte{0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef}
	specClientChallenge = bytes.Repeat([]byte{0xaa}, 8)
	specRandomKey       = bytes.Repeat([]byte{0x55}, 16)
	// specTime is FILETIME 0 (4.2.1 Time).
	specTime = time.Date(1601, 1, 1, 0, 0, 0, 0, time.UTC)
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// token loads a stored token from testdata/NAME.hex.
func token(t testing.TB, name string) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", name+".hex"))
	if err != nil {
		t.Fatal(err)
	}
	return unhex(t, string(raw))
}

// fixedRand hands out the given bytes in order.
type fixedRand struct{ b []byte }

func (r *fixedRand) Read(p []byte) (int, error) {
	n := copy(p, r.b)
	r.b = r.b[n:]
	for i := n; i < len(p); i++ {
		p[i] = 0
	}
	return len(p), nil
}

func TestMD4(t *testing.T) {
	// RFC 1320 appendix A.5.
	for in, want := range map[string]string{
		"":    "31d6cfe0d16ae931b73c59d7e0c089c0",
		"abc": "a448017aaf21d8525fc10ae87aa6729d",
		"12345678901234567890123456789012345678901234567890123456789012345678901234567890": "e33b4ddc9c38f2199c3e7b164fcc0536",
	} {
		got := md4([]byte(in))
		if hex.EncodeToString(got[:]) != want {
			t.Errorf("md4(%q) = %x, want %s", in, got, want)
		}
	}
}

func TestOWF(t *testing.T) {
	// 4.2.2.1.1 LMOWFv1, 4.2.2.1.2 NTOWFv1, 4.2.4.1.1 NTOWFv2.
	lm := lmowfv1(specPassword)
	if want := unhex(t, "e52cac67419a9a224a3b108f3fa6cb6d"); !bytes.Equal(lm[:], want) {
		t.Errorf("LMOWFv1 = %x", lm)
	}
	nt := ntowfv1(specPassword)
	if want := unhex(t, "a4f49c406510bdcab6824ee7c30fd852"); !bytes.Equal(nt[:], want) {
		t.Errorf("NTOWFv1 = %x", nt)
	}
	v2 := ntowfv2(newHasher(), nt[:], specUser, specDomain)
	if want := unhex(t, "0c868a403bfd7a93a3001ef22ef02e3f"); !bytes.Equal(v2[:], want) {
		t.Errorf("NTOWFv2 = %x", v2)
	}
}

func specPackage(opts ...Option) *Package {
	rnd := append(append([]byte(nil), specClientChallenge...), specRandomKey...)
	base := []Option{
		WithRand(&fixedRand{rnd}),
		WithClock(func() time.Time { return specTime }),
		WithComputerName("COMPUTER"),
	}
	p := New(append(base, opts...)...)
	// The Version field is informational (MS-NLMP 2.2.2.10); the examples
	// carry 5.1.2600 revision 15.
	p.version = version{5, 1, 0x28, 0x0a, 0, 0, 0, 15}
	return p
}

func specInitiator(t *testing.T, p *Package) *Context {
	t.Helper()
	cred, err := p.AcquireCredentials(mechs.CredentialRequest{
		Use:      secctx.SECPKG_CRED_OUTBOUND,
		AuthData: &secctx.AuthIdentity{User: specUser, Domain: specDomain, Password: specPassword},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, err := cred.NewInitiator(mechs.InitiatorParams{Req: secctx.ISC_REQ_CONFIDENTIALITY | secctx.ISC_REQ_INTEGRITY})
	if err != nil {
		t.Fatal(err)
	}
	r := ctx.Step(&mechs.StepInput{})
	if r.Status != status.SEC_I_CONTINUE_NEEDED || len(r.Token) != 40 {
		t.Fatalf("NEGOTIATE leg: %v, %d bytes", r.Status, len(r.Token))
	}
	return ctx.(*Context)
}

// plaintext is "Plaintext" in UTF-16LE (4.2.1).
func plaintext() []byte { return appendUTF16(nil, "Plaintext") }

// checkSealed seals plaintext with ctx's first EncryptMessage (sequence
// number 0) and checks the sealed data and the signature (hex) against a
// GSS_WrapEx example of MS-NLMP 4.2.
func checkSealed(t *testing.T, ctx *Context, sealed, signature string) {
	t.Helper()
	data := plaintext()
	msg := []secctx.Buffer{{Type: secctx.SECBUFFER_TOKEN, Data: make([]byte, 0, 16)}, {Type: secctx.SECBUFFER_DATA, Data: data}}
	if st := ctx.EncryptMessage(0, msg, 0); st != status.SEC_E_OK {
		t.Fatal(st)
	}
	if !bytes.Equal(data, unhex(t, sealed)) {
		t.Errorf("sealed = %x, want %s", data, sealed)
	}
	if !bytes.Equal(msg[0].Data, unhex(t, signature)) {
		t.Errorf("signature = %x, want %s", msg[0].Data, signature)
	}
}

// TestNTLMv2Vector runs the initiator on the 4.2.4 CHALLENGE and expects
// the 4.2.4.3 AUTHENTICATE byte for byte, then the 4.2.4.4 GSS_WrapEx
// output.
func TestNTLMv2Vector(t *testing.T) {
	ctx := specInitiator(t, specPackage())
	r := ctx.Step(&mechs.StepInput{Token: token(t, "msnlmp-4.2.4-challenge")})
	if r.Status != status.SEC_E_OK {
		t.Fatalf("AUTHENTICATE leg: %v (%v)", r.Status, r.Err)
	}
	if want := token(t, "msnlmp-4.2.4-authenticate"); !bytes.Equal(r.Token, want) {
		t.Fatalf("AUTHENTICATE\n got %x\nwant %x", r.Token, want)
	}
	if !bytes.Equal(ctx.baseKey[:], unhex(t, "8de40ccadbc14a82f15cb0ad0de95ca3")) {
		t.Errorf("SessionBaseKey = %x", ctx.baseKey)
	}
	if ctx.MICPresent() {
		t.Error("MIC sent although the CHALLENGE had no timestamp")
	}
	// 4.2.4.4: seal "Plaintext" with sequence number 0.
	checkSealed(t, ctx, "54e50165bf1936dc996020c1811b0f06fb5f", "010000007fb38ec5c55d497600000000")
}

// TestNTLMv2VectorAcceptor has the acceptor verify the 4.2.4 AUTHENTICATE
// (with the 4.2.1 server challenge) and recover the random session key.
func TestNTLMv2VectorAcceptor(t *testing.T) {
	store := NewMemoryStore()
	store.AddPassword(specDomain, specUser, specPassword)
	p := New(WithRand(&fixedRand{specServerChallenge}), WithClock(func() time.Time { return specTime }), WithUserStore(store))
	cred, err := p.AcquireCredentials(mechs.CredentialRequest{Use: secctx.SECPKG_CRED_INBOUND})
	if err != nil {
		t.Fatal(err)
	}
	sctx, _ := cred.NewAcceptor(mechs.AcceptorParams{})
	neg := negotiateMessage{flags: 0xe20882b7, version: ourVersion()}
	nb := make([]byte, neg.size())
	neg.encode(nb)
	if r := sctx.Step(&mechs.StepInput{Token: nb}); r.Status != status.SEC_I_CONTINUE_NEEDED {
		t.Fatalf("CHALLENGE leg: %v %v", r.Status, r.Err)
	}
	// The 4.2.4 client answered the 4.2.4 CHALLENGE, whose server
	// challenge the fixed random source gave ours; its target info (no
	// timestamp) is the one the client echoes, so the acceptor must take
	// it for the one it sent.
	sctx.(*Context).challenge = token(t, "msnlmp-4.2.4-challenge")
	r := sctx.Step(&mechs.StepInput{Token: token(t, "msnlmp-4.2.4-authenticate")})
	if r.Status != status.SEC_E_OK || len(r.Token) != 0 {
		t.Fatalf("AUTHENTICATE leg: %v %v", r.Status, r.Err)
	}
	v, st := sctx.QueryAttribute(secctx.SECPKG_ATTR_SESSION_KEY)
	if st != status.SEC_E_OK || !bytes.Equal(v.(secctx.SessionKey).Key, specRandomKey) {
		t.Fatalf("session key %v %v", v, st)
	}
	n, _ := sctx.QueryAttribute(secctx.SECPKG_ATTR_NAMES)
	if n.(secctx.Names).UserName != `Domain\User` {
		t.Errorf("names = %+v", n)
	}
	// The server unseals what 4.2.4.4's client sealed.
	data := unhex(t, "54e50165bf1936dc996020c1811b0f06fb5f")
	msg := []secctx.Buffer{{Type: secctx.SECBUFFER_TOKEN, Data: unhex(t, "010000007fb38ec5c55d497600000000")}, {Type: secctx.SECBUFFER_DATA, Data: data}}
	if _, st := sctx.DecryptMessage(msg, 0); st != status.SEC_E_OK {
		t.Fatalf("DecryptMessage: %v", st)
	}
	if !bytes.Equal(data, plaintext()) {
		t.Errorf("unsealed = %x", data)
	}
}

// TestNTLMv1Vector: 4.2.2 with WithNTLMv1, responses and encrypted key.
func TestNTLMv1Vector(t *testing.T) {
	ctx := specInitiator(t, specPackage(WithNTLMv1()))
	r := ctx.Step(&mechs.StepInput{Token: token(t, "msnlmp-4.2.2-challenge")})
	if r.Status != status.SEC_E_OK {
		t.Fatalf("AUTHENTICATE leg: %v (%v)", r.Status, r.Err)
	}
	got, err := parseAuthenticate(r.Token)
	if err != nil {
		t.Fatal(err)
	}
	want, err := parseAuthenticate(token(t, "msnlmp-4.2.2-authenticate"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.lmResponse, want.lmResponse) || !bytes.Equal(got.ntResponse, want.ntResponse) {
		t.Errorf("responses\n got %x %x\nwant %x %x", got.lmResponse, got.ntResponse, want.lmResponse, want.ntResponse)
	}
	if !bytes.Equal(got.encKey, want.encKey) {
		t.Errorf("EncryptedRandomSessionKey = %x, want %x", got.encKey, want.encKey)
	}
	if !bytes.Equal(ctx.baseKey[:], unhex(t, "d87262b0cde4b1cb7499becccdf10784")) {
		t.Errorf("SessionBaseKey = %x", ctx.baseKey)
	}
	// 4.2.2.4 GSS_WrapEx: RC4 under the exported session key itself.
	checkSealed(t, ctx, "56fe04d861f9319af0d7238a2e3b4d457fb8", "010000000000000009dcd1df2e459d36")
}

// TestNTLMv1RefusedByDefault: without WithNTLMv1 the acceptor refuses the
// 4.2.2 NTLMv1 AUTHENTICATE with a clear status.
func TestNTLMv1RefusedByDefault(t *testing.T) {
	store := NewMemoryStore()
	store.AddPassword(specDomain, specUser, specPassword)
	for _, allow := range []bool{false, true} {
		opts := []Option{WithRand(&fixedRand{specServerChallenge}), WithUserStore(store)}
		if allow {
			opts = append(opts, WithNTLMv1())
		}
		p := New(opts...)
		cred, _ := p.AcquireCredentials(mechs.CredentialRequest{Use: secctx.SECPKG_CRED_INBOUND})
		sctx, _ := cred.NewAcceptor(mechs.AcceptorParams{})
		neg := negotiateMessage{flags: 0xe2008237 &^ negotiateExtendedSessionSecurity, version: ourVersion()}
		nb := make([]byte, neg.size())
		neg.encode(nb)
		sctx.Step(&mechs.StepInput{Token: nb})
		r := sctx.Step(&mechs.StepInput{Token: token(t, "msnlmp-4.2.2-authenticate")})
		if allow {
			if r.Status != status.SEC_E_OK {
				t.Errorf("with WithNTLMv1: %v %v", r.Status, r.Err)
			}
		} else if r.Status != status.SEC_E_LOGON_DENIED || !strings.Contains(r.Err.Error(), "NTLMv1") {
			t.Errorf("default: %v %v, want SEC_E_LOGON_DENIED naming NTLMv1", r.Status, r.Err)
		}
	}
}

// TestWrapVectors checks the three GSS_WrapEx examples (4.2.2.4, 4.2.3.4,
// 4.2.4.4) on the session security layer alone.
func TestWrapVectors(t *testing.T) {
	cases := []struct {
		name       string
		flags      uint32
		key        string
		sealed     string
		signature  string
		sealKey    string
		signingKey string
	}{
		{"4.2.2.4 NTLMv1", negotiate56 | negotiateSign | negotiateSeal, "55555555555555555555555555555555",
			"56fe04d861f9319af0d7238a2e3b4d457fb8", "010000000000000009dcd1df2e459d36", "", ""},
		{"4.2.3.4 NTLMv1 ESS", negotiate56 | negotiateSign | negotiateSeal | negotiateExtendedSessionSecurity, "eb93429a8bd952f8b89c55b87f475edc",
			"a02372f6530273f3aa1eb90190ce5200c99d", "01000000ff2aeb52f681793a00000000", "04dd7f014d8504d265a25cc86a3a7c06", "60e799be5c72fc92922ae8ebe961fb8d"},
		{"4.2.4.4 NTLMv2", negotiate56 | negotiate128 | negotiateSign | negotiateSeal | negotiateKeyExch | negotiateExtendedSessionSecurity, "55555555555555555555555555555555",
			"54e50165bf1936dc996020c1811b0f06fb5f", "010000007fb38ec5c55d497600000000", "59f600973cc4960a25480a7c196e4c58", "4788dc861b4782f35d43fd98fe1a2d39"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			key := unhex(t, tc.key)
			var ks keyScratch
			if tc.sealKey != "" {
				sk, n := sealKey(&ks, key, tc.flags, true)
				if !bytes.Equal(sk[:n], unhex(t, tc.sealKey)) {
					t.Errorf("SEALKEY = %x", sk[:n])
				}
				gk, _ := signKey(&ks, key, tc.flags, true)
				if !bytes.Equal(gk[:], unhex(t, tc.signingKey)) {
					t.Errorf("SIGNKEY = %x", gk)
				}
			}
			var client, server sessionSecurity
			client.init(key, tc.flags, true)
			server.init(key, tc.flags, false)
			data := plaintext()
			msg := []secctx.Buffer{{Type: secctx.SECBUFFER_TOKEN, Data: make([]byte, 0, 16)}, {Type: secctx.SECBUFFER_DATA, Data: data}}
			if st := client.protect(new(*hasher), msg, true); st != status.SEC_E_OK {
				t.Fatal(st)
			}
			if !bytes.Equal(data, unhex(t, tc.sealed)) {
				t.Errorf("sealed = %x", data)
			}
			if !bytes.Equal(msg[0].Data, unhex(t, tc.signature)) {
				t.Errorf("signature = %x", msg[0].Data)
			}
		})
	}
}

// TestWindowsCBTVector checks a Windows 7 AUTHENTICATE with a MIC and
// channel bindings (published with gss-ntlmssp's tests): it parses, its
// NTLMv2 proof verifies under the user's NT hash, and its MIC and bindings
// hash are where MsvAvFlags say.
func TestWindowsCBTVector(t *testing.T) {
	chal, err := parseChallenge(token(t, "windows7-cbt-challenge"))
	if err != nil {
		t.Fatal(err)
	}
	auth, err := parseAuthenticate(token(t, "windows7-cbt-authenticate"))
	if err != nil {
		t.Fatal(err)
	}
	if !auth.hasMIC || !bytes.Equal(auth.mic[:], unhex(t, "f054a542b090b66c1fea1a2cc82e930b")) {
		t.Errorf("MIC = %v %x", auth.hasMIC, auth.mic)
	}
	cb, ok := auth.v2.avPairs.get(avChannelBindings)
	if !ok || !bytes.Equal(cb, unhex(t, "6586e99d81c2fc984e47172fd4dd0310")) {
		t.Errorf("channel bindings = %x", cb)
	}
	if decodeString(auth.user, true) != "Administrator" || decodeString(auth.domain, true) != "WS2008R2" {
		t.Errorf("names %q %q", auth.user, auth.domain)
	}
	x := newHasher()
	nt := unhex(t, "e19ccf75ee54e06b06a5907af13cef42")
	if h := HashPassword("P@ssw0rd"); !bytes.Equal(h[:], nt) {
		t.Errorf("NT hash = %x", h)
	}
	rk := ntowfv2(x, nt, "Administrator", "WS2008R2")
	proof := x.hmacOnce(rk[:], chal.serverChallenge[:], auth.v2.temp)
	if !bytes.Equal(proof[:], auth.v2.proof) {
		t.Errorf("NTProofStr = %x, want %x", proof, auth.v2.proof)
	}
	if auth.v2.avPairs.str(avTargetName) != "HTTP/dc-ws2008r2.ws2008r2.local" {
		t.Errorf("target name %q", auth.v2.avPairs.str(avTargetName))
	}
}

// TestRC4 checks the RC4 against RFC 6229's test vectors (key 0x0102030405,
// offsets 0 and 16; and a 16-byte key).
func TestRC4(t *testing.T) {
	for _, tc := range []struct{ key, want string }{
		{"0102030405", "b2396305f03dc027ccc3524a0a1118a8" + "6982944f18fc82d589c403a47a0d0919"},
		{"0102030405060708090a0b0c0d0e0f10", "9ac7cc9a609d1ef7b2932899cde41b97" + "5248c4959014126a6e8a84f11d1a9e1c"},
	} {
		var c rc4
		c.reset(unhex(t, tc.key))
		out := make([]byte, 32)
		c.xor(out, out)
		if hex.EncodeToString(out) != tc.want {
			t.Errorf("RC4(%s) = %x, want %s", tc.key, out, tc.want)
		}
	}
}

// TestNTLMv1ESSVector: MS-NLMP 4.2.3 (NTLMv1 with extended session
// security, with WithNTLMv1): the 4.2.2 CHALLENGE with the 4.2.3 flags
// (56-bit, extended session security, no key exchange) gives the 4.2.3.2
// responses, the 4.2.3.1 key, and the 4.2.3.4 GSS_WrapEx output.
func TestNTLMv1ESSVector(t *testing.T) {
	ctx := specInitiator(t, specPackage(WithNTLMv1()))
	chal := token(t, "msnlmp-4.2.2-challenge")
	binary.LittleEndian.PutUint32(chal[20:], negotiate56|negotiateVersion|negotiateExtendedSessionSecurity|
		targetTypeServer|negotiateAlwaysSign|negotiateNTLM|negotiateSeal|negotiateSign|negotiateOEM|negotiateUnicode)
	r := ctx.Step(&mechs.StepInput{Token: chal})
	if r.Status != status.SEC_E_OK {
		t.Fatalf("AUTHENTICATE leg: %v (%v)", r.Status, r.Err)
	}
	auth, err := parseAuthenticate(r.Token)
	if err != nil {
		t.Fatal(err)
	}
	if want := unhex(t, "aaaaaaaaaaaaaaaa00000000000000000000000000000000"); !bytes.Equal(auth.lmResponse, want) {
		t.Errorf("LmChallengeResponse = %x", auth.lmResponse)
	}
	if want := unhex(t, "7537f803ae367128ca458204bde7caf81e97ed2683267232"); !bytes.Equal(auth.ntResponse, want) {
		t.Errorf("NtChallengeResponse = %x", auth.ntResponse)
	}
	if len(auth.encKey) != 0 {
		t.Errorf("EncryptedRandomSessionKey without KEY_EXCH: %x", auth.encKey)
	}
	if want := unhex(t, "eb93429a8bd952f8b89c55b87f475edc"); !bytes.Equal(ctx.sessionKey[:], want) {
		t.Errorf("KeyExchangeKey = %x", ctx.sessionKey)
	}
	checkSealed(t, ctx, "a02372f6530273f3aa1eb90190ce5200c99d", "01000000ff2aeb52f681793a00000000")
}
