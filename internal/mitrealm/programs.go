package mitrealm

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// programNames are the MIT programs a realm needs to start.
func programNames() []string { return []string{"krb5kdc", "kdb5_util", "kadmin.local", "kinit"} }

// sbinDirs are where Debian puts the KDC programs, often not in PATH.
func sbinDirs() []string { return []string{"/usr/sbin", "/sbin", "/usr/local/sbin"} }

// LookPath finds a program in PATH, then in the sbin folders where Debian
// puts the KDC programs (krb5kdc, kdb5_util, kadmin.local), which are often
// not in a user's PATH. Every lookup of an MIT program (or of another peer,
// through internal/peertest) goes through it.
func LookPath(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, dir := range sbinDirs() {
		p := filepath.Join(dir, name)
		if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s: %w", name, exec.ErrNotFound)
}

// Programs returns the full paths of the MIT programs a realm needs
// (krb5kdc, kdb5_util, kadmin.local, kinit), found by LookPath, or an error
// naming the first one missing.
func Programs() (map[string]string, error) {
	names := programNames()
	progs := make(map[string]string, len(names))
	for _, n := range names {
		p, err := LookPath(n)
		if err != nil {
			return nil, fmt.Errorf("mitrealm: MIT Kerberos program %s not found in PATH or the sbin folders", n)
		}
		progs[n] = p
	}
	return progs, nil
}
