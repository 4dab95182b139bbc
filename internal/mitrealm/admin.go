package mitrealm

import (
	"bytes"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
)

// CreateUser creates the principal name (qualified with the realm unless
// it has one) with password. The password must not contain white space or
// quotes.
func (r *Realm) CreateUser(name, password string) error {
	if password == "" || strings.ContainsAny(password, " \t\r\n\"'\\") || strings.ContainsAny(name, " \t\r\n\"'\\") {
		return fmt.Errorf("mitrealm: CreateUser: name and password must be non-empty and free of white space and quotes")
	}
	return r.kadmin("addprinc -pw " + password + " " + r.Principal(name))
}

// CreateService creates the principal spn (e.g. "HTTP/host.test") with a
// random key. Use WriteKeytab to get its keys.
func (r *Realm) CreateService(spn string) error {
	return r.kadmin("addprinc -randkey " + r.Principal(spn))
}

// WriteKeytab writes the current keys of the given principals (without
// changing them: ktadd -norandkey) to a new keytab file in Dir and returns
// its path.
func (r *Realm) WriteKeytab(principals ...string) (string, error) {
	if len(principals) == 0 {
		return "", fmt.Errorf("mitrealm: WriteKeytab needs at least one principal")
	}
	path := filepath.Join(r.Dir, fmt.Sprintf("keytab-%d", r.seq.Add(1)))
	cmds := make([]string, 0, len(principals))
	for _, p := range principals {
		cmds = append(cmds, "ktadd -norandkey -k "+path+" "+r.Principal(p))
	}
	if err := r.kadmin(cmds...); err != nil {
		return "", err
	}
	if !fileExists(path) {
		return "", fmt.Errorf("mitrealm: ktadd wrote no keytab %s", path)
	}
	return path, nil
}

// RunKadmin runs kadmin.local queries (e.g. "modprinc -maxlife 1min
// alice") against the realm's database and returns an error on any error
// output.
func (r *Realm) RunKadmin(queries ...string) error {
	return r.kadmin(queries...)
}

// Kinit gets a TGT for user (qualified with the realm unless it has one)
// with password, into a new FILE ccache in Dir, and returns the cache's
// path (usable as KRB5CCNAME and by gokrb5's credentials.LoadCCache). Extra
// args go to kinit before the principal (e.g. "-r", "1h").
func (r *Realm) Kinit(user, password string, args ...string) (string, error) {
	path := filepath.Join(r.Dir, fmt.Sprintf("ccache-%d", r.seq.Add(1)))
	argv := append(append([]string(nil), args...), r.Principal(user))
	cmd := exec.Command(r.progs["kinit"], argv...)
	cmd.Env = r.Environ("KRB5CCNAME=FILE:" + path)
	cmd.Stdin = strings.NewReader(password + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("mitrealm: kinit %s: %v\n%s", r.Principal(user), err, out)
	}
	return path, nil
}

// kadmin runs kadmin.local with the queries on its standard input.
// kadmin.local exits 0 even when a query fails, so any error line on its
// standard error other than the "no policy" notice is an error.
func (r *Realm) kadmin(queries ...string) error {
	r.admin.Lock()
	defer r.admin.Unlock()
	cmd := exec.Command(r.progs["kadmin.local"], "-r", r.Name)
	cmd.Env = r.Environ()
	cmd.Stdin = strings.NewReader(strings.Join(queries, "\n") + "\n")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("mitrealm: kadmin.local %q: %v\n%s%s", queries, err, stdout.String(), stderr.String())
	}
	for _, line := range strings.Split(stderr.String(), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "No policy specified") || strings.HasPrefix(line, "WARNING: no policy specified") {
			continue
		}
		return fmt.Errorf("mitrealm: kadmin.local %q: %s", queries, stderr.String())
	}
	return nil
}

// run runs prog with the realm's environment.
func (r *Realm) run(prog string, args ...string) error {
	cmd := exec.Command(prog, args...)
	cmd.Env = r.Environ()
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("mitrealm: %s %q: %v\n%s", filepath.Base(prog), args, err, out)
	}
	return nil
}
