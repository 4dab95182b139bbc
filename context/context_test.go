package context

import (
	"bytes"
	"crypto/md5"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"testing"
	"time"
)

func TestFlagValues(t *testing.T) {
	// Values from sspi.h (fact sheet section 3).
	for _, tc := range []struct {
		got, want uint64
	}{
		{uint64(ISC_REQ_DELEGATE), 0x1},
		{uint64(ISC_REQ_MUTUAL_AUTH), 0x2},
		{uint64(ISC_REQ_CONFIDENTIALITY), 0x10},
		{uint64(ISC_REQ_ALLOCATE_MEMORY), 0x100},
		{uint64(ISC_REQ_CONNECTION), 0x800},
		{uint64(ISC_REQ_INTEGRITY), 0x10000},
		{uint64(ISC_REQ_NO_INTEGRITY), 0x800000},
		{uint64(ISC_REQ_CONFIDENTIALITY_ONLY), 0x40000000},
		{uint64(ISC_REQ_MESSAGES), 0x100000000},
		{uint64(ISC_RET_INTERMEDIATE_RETURN), 0x1000},
		{uint64(ISC_RET_CALL_LEVEL), 0x2000},
		{uint64(ISC_RET_USED_COLLECTED_CREDS), 0x40},
		{uint64(ISC_RET_REAUTHENTICATION), 0x08000000},
		{uint64(ASC_REQ_EXTENDED_ERROR), 0x8000},
		{uint64(ASC_REQ_INTEGRITY), 0x20000},
		{uint64(ASC_REQ_ALLOW_MISSING_BINDINGS), 0x10000000},
		{uint64(ASC_REQ_PROXY_BINDINGS), 0x04000000},
		{uint64(ASC_RET_THIRD_LEG_FAILED), 0x4000},
		{uint64(ASC_RET_NO_ADDITIONAL_TOKEN), 0x02000000},
		{uint64(SECPKG_CRED_BOTH), 3},
		{uint64(SECURITY_NATIVE_DREP), 0x10},
		{uint64(SECQOP_WRAP_NO_ENCRYPT), 0x80000001},
		{uint64(SECBUFFER_CHANNEL_BINDINGS), 14},
		{uint64(SECBUFFER_MISSING), 4},
		{uint64(SECBUFFER_EXTRA), 5},
		{uint64(SECBUFFER_SESSION_TICKET), 32},
		{uint64(SECPKG_ATTR_NEGOTIATION_INFO), 12},
		{uint64(SECPKG_ATTR_SUBJECT_SECURITY_ATTRIBUTES), 128},
		{uint64(SECPKG_NEGOTIATION_TRY_MULTICRED), 4},
	} {
		if tc.got != tc.want {
			t.Errorf("%#x, want %#x", tc.got, tc.want)
		}
	}
}

func TestFlagString(t *testing.T) {
	f := ISC_REQ_MUTUAL_AUTH | ISC_REQ_CONFIDENTIALITY | 0x02000000
	if got, want := f.String(), "ISC_REQ_MUTUAL_AUTH|ISC_REQ_CONFIDENTIALITY|0x2000000"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if got := ASCRet(0).String(); got != "0" {
		t.Errorf("zero flags print %q", got)
	}
	if !f.Has(ISC_REQ_MUTUAL_AUTH) || f.Has(ISC_REQ_DELEGATE) {
		t.Error("Has")
	}
	if got := ASC_RET_NO_TOKEN.String(); got != "ASC_RET_NO_TOKEN" {
		t.Errorf("got %q", got)
	}
}

func TestBufferTypeString(t *testing.T) {
	for _, tc := range []struct {
		t    BufferType
		want string
	}{
		{SECBUFFER_EMPTY, "SECBUFFER_EMPTY"},
		{SECBUFFER_TOKEN | SECBUFFER_READONLY, "SECBUFFER_TOKEN|SECBUFFER_READONLY"},
		{SECBUFFER_SESSION_TICKET, "SECBUFFER_SESSION_TICKET"},
		{99, "SECBUFFER(99)"},
	} {
		if got := tc.t.String(); got != tc.want {
			t.Errorf("got %q, want %q", got, tc.want)
		}
	}
	bufs := []Buffer{{Type: SECBUFFER_DATA}, {Type: SECBUFFER_TOKEN | SECBUFFER_READONLY, Data: []byte{1}}}
	if Find(bufs, SECBUFFER_TOKEN) != 1 || Find(bufs, SECBUFFER_EXTRA) != -1 || !bytes.Equal(Token(bufs), []byte{1}) {
		t.Error("Find / Token")
	}
}

func TestTimeStamp(t *testing.T) {
	// 1970-01-01 is 116444736000000000 ticks after 1601-01-01.
	if got := TimeStampOf(time.Unix(0, 0)); got != 116444736000000000 {
		t.Errorf("epoch = %d", got)
	}
	now := time.Now().Truncate(100 * time.Nanosecond)
	if got := TimeStampOf(now).Time(); !got.Equal(now) {
		t.Errorf("round trip %v != %v", got, now)
	}
	// Before 1970 too.
	old := time.Date(1700, 3, 4, 5, 6, 7, 800, time.UTC)
	if got := TimeStampOf(old).Time(); !got.Equal(old) {
		t.Errorf("round trip %v != %v", got, old)
	}
}

// TestNeverAndUnknown: "never" (Windows' 0x7FFFFFFFFFFFFFFF) and "not
// known" (the zero time, TimeStamp 0) are two values, each a round trip.
func TestNeverAndUnknown(t *testing.T) {
	never := NeverExpires()
	if want := time.Date(30828, 9, 14, 2, 48, 5, 477580700, time.UTC); !never.Equal(want) {
		t.Errorf("NeverExpires() = %v, want %v", never, want)
	}
	if TimeStampOf(never) != Never || !Never.Time().Equal(never) {
		t.Errorf("never: %d, %v", TimeStampOf(never), Never.Time())
	}
	if TimeStampOf(never.Add(time.Hour)) != Never || TimeStampOf(never.Add(-100)) != Never-1 {
		t.Errorf("around never: %d %d", TimeStampOf(never.Add(time.Hour)), TimeStampOf(never.Add(-100)))
	}
	if TimeStampOf(time.Time{}) != 0 || !TimeStamp(0).Time().IsZero() {
		t.Errorf("not known: %d, %v", TimeStampOf(time.Time{}), TimeStamp(0).Time())
	}
	if TimeStampOf(time.Time{}) == TimeStampOf(never) || NeverExpires().IsZero() {
		t.Error("never and not known look the same")
	}
	// Far from the epoch, where UnixNano overflows.
	far := time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC)
	if got := TimeStampOf(far).Time(); !got.Equal(far) {
		t.Errorf("year 3000: %v", got)
	}
	if TimeStampOf(time.Date(1500, 1, 1, 0, 0, 0, 0, time.UTC)) != 0 {
		t.Error("a time before 1601")
	}
}

func TestChannelBindingsRoundTrip(t *testing.T) {
	b := &ChannelBindings{InitiatorAddrType: 2, InitiatorAddress: []byte{127, 0, 0, 1}, ApplicationData: []byte("tls-unique:abc")}
	blob := b.Marshal()
	le := binary.LittleEndian
	if le.Uint32(blob[28:]) != 36 || le.Uint32(blob[24:]) != 14 || len(blob) != 32+4+14 {
		t.Fatalf("layout %x", blob)
	}
	got, err := ParseChannelBindings(blob)
	if err != nil || got.InitiatorAddrType != 2 || !bytes.Equal(got.InitiatorAddress, b.InitiatorAddress) ||
		got.AcceptorAddress != nil || !bytes.Equal(got.ApplicationData, b.ApplicationData) {
		t.Fatalf("parse %+v %v", got, err)
	}
	if got.Hash() != b.Hash() {
		t.Fatal("hash differs after round trip")
	}
	for i := 0; i < len(blob); i++ {
		if _, err := ParseChannelBindings(blob[:i]); err == nil {
			t.Fatalf("prefix of %d bytes parsed", i)
		}
	}
}

func TestChannelBindingsHash(t *testing.T) {
	// RFC 4121 4.1.1.2 layout, computed by hand for application data only.
	app := []byte("tls-server-end-point:0123")
	var want bytes.Buffer
	want.Write(make([]byte, 16)) // two address types and two empty lengths
	binary.Write(&want, binary.LittleEndian, uint32(len(app)))
	want.Write(app)
	if got := (&ChannelBindings{ApplicationData: app}).Hash(); got != md5.Sum(want.Bytes()) {
		t.Fatalf("hash %x", got)
	}
	var nilb *ChannelBindings
	if nilb.Hash() != [16]byte{} {
		t.Fatal("nil bindings must hash to zeros")
	}
}

func TestEndpointBindings(t *testing.T) {
	cert := &x509.Certificate{Raw: []byte("certificate bytes"), SignatureAlgorithm: x509.SHA1WithRSA}
	b, err := EndpointBindings(&tls.ConnectionState{PeerCertificates: []*x509.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(cert.Raw)
	if !bytes.Equal(b.ApplicationData, append([]byte("tls-server-end-point:"), sum[:]...)) {
		t.Fatalf("app data %q", b.ApplicationData)
	}
	if _, err := EndpointBindings(&tls.ConnectionState{}); err != ErrNoBindings {
		t.Fatal("no certificate must give ErrNoBindings")
	}
	if _, err := UniqueBindings(&tls.ConnectionState{Version: tls.VersionTLS13}); err != ErrNoBindings {
		t.Fatal("TLS 1.3 has no tls-unique")
	}
	u, err := UniqueBindings(&tls.ConnectionState{TLSUnique: []byte{1, 2}})
	if err != nil || string(u.ApplicationData) != "tls-unique:\x01\x02" {
		t.Fatal("tls-unique")
	}
}

func TestPackageAllowed(t *testing.T) {
	for _, tc := range []struct {
		list, pkg string
		want      bool
	}{
		{"", "NTLM", true},
		{"!ntlm", "NTLM", false},
		{"!ntlm", "Kerberos", true},
		{"Kerberos", "NTLM", false},
		{"kerberos, ntlm", "NTLM", true},
		{"!kerberos", "Kerberos", false},
	} {
		if got := PackageAllowed(tc.list, tc.pkg); got != tc.want {
			t.Errorf("PackageAllowed(%q, %q) = %v", tc.list, tc.pkg, got)
		}
	}
}

func TestSplitUser(t *testing.T) {
	for _, tc := range []struct{ in, user, domain string }{
		{`CORP\alice`, "alice", "CORP"},
		{"alice@corp.example", "alice", "corp.example"},
		{"alice", "alice", ""},
	} {
		u, d := SplitUser(tc.in)
		if u != tc.user || d != tc.domain {
			t.Errorf("SplitUser(%q) = %q, %q", tc.in, u, d)
		}
	}
}
