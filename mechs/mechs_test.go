package mechs_test

import (
	"errors"
	"testing"

	secctx "github.com/asyncsspi/asyncsspi/context"
	"github.com/asyncsspi/asyncsspi/mechs"
	"github.com/asyncsspi/asyncsspi/status"
)

type namedPackage string

func (p namedPackage) Name() string             { return string(p) }
func (p namedPackage) Info() secctx.PackageInfo { return secctx.PackageInfo{Name: string(p)} }
func (p namedPackage) AcquireCredentials(mechs.CredentialRequest) (mechs.Credential, error) {
	return nil, status.Errorf(status.SEC_E_NO_CREDENTIALS, string(p), "none")
}

func TestSetLookup(t *testing.T) {
	s := mechs.NewSet(namedPackage("NTLM"), nil, namedPackage("Kerberos"), namedPackage("ntlm"))
	if got := len(s.Packages()); got != 2 {
		t.Fatalf("%d packages, want 2 (nil and the duplicate dropped)", got)
	}
	p, err := s.Lookup("kerberos")
	if err != nil || p.Name() != "Kerberos" {
		t.Fatalf("Lookup = %v, %v", p, err)
	}
	_, err = s.Lookup("Digest")
	if !errors.Is(err, status.SEC_E_SECPKG_NOT_FOUND) {
		t.Fatalf("unknown package gives %v", err)
	}
	var nilSet *mechs.Set
	if _, err := nilSet.Lookup("NTLM"); status.CodeOf(err) != status.SEC_E_SECPKG_NOT_FOUND {
		t.Fatalf("nil set gives %v", err)
	}
	ps := s.Packages()
	ps[0] = nil
	if s.Packages()[0] == nil {
		t.Fatal("Packages exposes the set's own slice")
	}
}

func TestFail(t *testing.T) {
	r := mechs.Fail(status.SEC_E_INVALID_TOKEN, "NTLM", errors.New("short"))
	if r.Status != status.SEC_E_INVALID_TOKEN || !errors.Is(r.Err, status.SEC_E_INVALID_TOKEN) || r.IO != nil {
		t.Fatalf("%+v", r)
	}
}
