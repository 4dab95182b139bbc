package async

import secctx "github.com/asyncsspi/asyncsspi/context"

// CredentialPackages returns the packages a credential holds: for a
// Negotiate credential its sub-packages in preference order, for any other
// its own package. ok is false for a handle this engine does not hold.
func (e *Engine) CredentialPackages(cred secctx.CredHandle) (pkgs []string, ok bool) {
	ce, st := e.creds.get(uint64(cred))
	if st.IsError() {
		return nil, false
	}
	if p, has := ce.cred.(interface{ Packages() []string }); has {
		return p.Packages(), true
	}
	return []string{ce.pkg.Name()}, true
}
