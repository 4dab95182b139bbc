package ntlm

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
)

// User is one account an acceptor can verify, or an initiator can take its
// key from: the domain and name as the store knows them, and the NT hash
// (NTOWFv1, MS-NLMP 3.3.1: MD4 of the UTF-16LE password).
type User struct {
	Domain string
	Name   string
	NTHash [16]byte
}

// UserStore finds accounts. Implementations must be safe for concurrent
// use: every context of a credential calls it. Names compare
// case-insensitively, as Windows compares them.
type UserStore interface {
	// LookupUser finds user in domain. An empty domain matches an entry of
	// any domain, and an entry with an empty domain matches any domain.
	LookupUser(domain, user string) (User, bool)
}

// MemoryStore is a UserStore held in memory. The zero value is empty and
// ready to use.
type MemoryStore struct {
	mu    sync.RWMutex
	users []User
}

// NewMemoryStore returns an empty store.
func NewMemoryStore() *MemoryStore { return &MemoryStore{} }

// AddPassword adds (or replaces) an account with its password.
func (s *MemoryStore) AddPassword(domain, user, password string) {
	s.AddNTHash(domain, user, HashPassword(password))
}

// AddNTHash adds (or replaces) an account with its NT hash.
func (s *MemoryStore) AddNTHash(domain, user string, ntHash [16]byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range s.users {
		if strings.EqualFold(s.users[i].Name, user) && strings.EqualFold(s.users[i].Domain, domain) {
			s.users[i].NTHash = ntHash
			return
		}
	}
	s.users = append(s.users, User{Domain: domain, Name: user, NTHash: ntHash})
}

// LookupUser implements UserStore.
func (s *MemoryStore) LookupUser(domain, user string) (User, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	// An exact domain match wins over a wildcard.
	for _, u := range s.users {
		if strings.EqualFold(u.Name, user) && strings.EqualFold(u.Domain, domain) {
			return u, true
		}
	}
	for _, u := range s.users {
		if strings.EqualFold(u.Name, user) && (u.Domain == "" || domain == "") {
			return u, true
		}
	}
	return User{}, false
}

// Len returns the number of accounts.
func (s *MemoryStore) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.users)
}

// ParseUserFile reads gss-ntlmssp's users file format: one
// DOMAIN:user:password a line (the password may itself contain colons).
// Empty lines and lines starting with '#' are skipped.
func ParseUserFile(r io.Reader) (*MemoryStore, error) {
	s := NewMemoryStore()
	sc := bufio.NewScanner(r)
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimRight(sc.Text(), "\r")
		if strings.TrimSpace(text) == "" || strings.HasPrefix(strings.TrimSpace(text), "#") {
			continue
		}
		parts := strings.SplitN(text, ":", 3)
		if len(parts) != 3 || parts[1] == "" {
			return nil, fmt.Errorf("ntlm: users file line %d: want DOMAIN:user:password", line)
		}
		s.AddPassword(parts[0], parts[1], parts[2])
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return s, nil
}

// LoadUserFile reads a users file (see ParseUserFile).
func LoadUserFile(path string) (*MemoryStore, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ParseUserFile(f)
}

// UserFileEnv is the environment variable gss-ntlmssp reads its users file
// name from; this package follows it when no other store is given.
const UserFileEnv = "NTLM_USER_FILE"

// HashPassword returns the NT hash of a password (NTOWFv1, MS-NLMP 3.3.1),
// for NTHash and MemoryStore.AddNTHash.
func HashPassword(password string) [16]byte { return ntowfv1(password) }

// Users returns a copy of the accounts, in the order they were added.
func (s *MemoryStore) Users() []User {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return append([]User(nil), s.users...)
}
