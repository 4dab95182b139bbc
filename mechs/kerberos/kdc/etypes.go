package kdc

import "github.com/jcmturner/gokrb5/v8/config"

// Supported encryption types (RFC 3962, RFC 8009, RFC 4757 for RC4).
const (
	etypeAES128SHA1 int32 = 17
	etypeAES256SHA1 int32 = 18
	etypeAES128SHA2 int32 = 19
	etypeAES256SHA2 int32 = 20
	etypeRC4        int32 = 23
)

// defaultEtypes returns MIT 1.20's default order among what this package
// allows.
func defaultEtypes() []int32 {
	return []int32{etypeAES256SHA1, etypeAES128SHA1, etypeAES256SHA2, etypeAES128SHA2}
}

// configuredEtypes returns default_tkt_enctypes when krb5.conf sets it, or
// nil when it holds gokrb5's built-in list (which lacks AES-SHA2).
func configuredEtypes(conf *config.Config) []int32 {
	builtin := config.New().LibDefaults.DefaultTktEnctypes
	got := conf.LibDefaults.DefaultTktEnctypes
	if len(got) == len(builtin) {
		same := true
		for i := range got {
			if got[i] != builtin[i] {
				same = false
				break
			}
		}
		if same {
			return nil
		}
	}
	return conf.LibDefaults.DefaultTktEnctypeIDs
}

// pickEtypes keeps the configured enctypes this package allows, in the
// configured order; with none left it uses defaultEtypes.
func pickEtypes(configured []int32, allowRC4 bool) []int32 {
	var out []int32
	for _, e := range configured {
		if etypeAllowed(e, allowRC4) && !containsEtype(out, e) {
			out = append(out, e)
		}
	}
	if len(out) == 0 {
		out = defaultEtypes()
		if allowRC4 {
			out = append(out, etypeRC4)
		}
	}
	return out
}

func etypeAllowed(e int32, allowRC4 bool) bool {
	switch e {
	case etypeAES128SHA1, etypeAES256SHA1, etypeAES128SHA2, etypeAES256SHA2:
		return true
	case etypeRC4:
		return allowRC4
	}
	return false
}

func containsEtype(l []int32, e int32) bool {
	for _, x := range l {
		if x == e {
			return true
		}
	}
	return false
}
