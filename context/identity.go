package context

import "strings"

// AuthIdentity is SEC_WINNT_AUTH_IDENTITY_EX: explicit credentials passed
// as AcquireCredentialsHandle's pAuthData. An empty Password with a User
// asks the package to find the key elsewhere (a keytab, a ccache, a users
// file).
type AuthIdentity struct {
	User     string
	Domain   string
	Password string
	// PackageList restricts Negotiate, comma-separated as on Windows:
	// "Kerberos,NTLM", or "!ntlm" to exclude NTLM.
	PackageList string
}

// PackageAllowed reports whether pkg may be used under Negotiate according
// to a comma-separated package list ("" allows everything; "!name" excludes
// name; naming packages without "!" allows only those).
func PackageAllowed(list, pkg string) bool {
	if strings.TrimSpace(list) == "" {
		return true
	}
	positive, listed := false, false
	for _, item := range strings.Split(list, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		if strings.HasPrefix(item, "!") {
			if strings.EqualFold(item[1:], pkg) {
				return false
			}
			continue
		}
		positive = true
		if strings.EqualFold(item, pkg) {
			listed = true
		}
	}
	return !positive || listed
}

// SplitUser splits "DOMAIN\user" and "user@domain" into user and domain;
// a bare name comes back with an empty domain.
func SplitUser(name string) (user, domain string) {
	if i := strings.IndexByte(name, '\\'); i >= 0 {
		return name[i+1:], name[:i]
	}
	if i := strings.LastIndexByte(name, '@'); i >= 0 {
		return name[:i], name[i+1:]
	}
	return name, ""
}
