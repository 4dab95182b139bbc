package kerberos

import (
	"errors"
	"fmt"

	secctx "github.com/asyncsspi/asyncsspi/context"
	"github.com/asyncsspi/asyncsspi/mechs/kerberos/kdc"
	"github.com/asyncsspi/asyncsspi/status"
)

// This file is the credential a client delegates (RFC 4121 section
// 4.1.1's Deleg field, a KRB-CRED with a forwarded TGT) on the acceptor's
// side, and the outbound credential made from it, so that a service can
// act as its client towards another service (a proxy authenticating
// upstream as its user).
//
// The acceptor's handshake only opens the KRB-CRED (one decryption, as it
// did before it was usable): whether it opens under the ticket's session
// key decides ASC_RET_DELEGATE. The TGT inside is decoded the first time
// the context is asked for it (SECPKG_ATTR_ASYNCSSPI_DELEGATED_CREDENTIAL),
// so that handshakes whose delegation nobody uses pay nothing more.

// TGT is the AuthData for an outbound credential that starts from a
// ticket-granting ticket obtained elsewhere, typically the TGT a client
// delegated to this service: the value of an acceptor context's
// SECPKG_ATTR_ASYNCSSPI_DELEGATED_CREDENTIAL. Ticket must be a TGT of the
// client's realm (krbtgt/REALM@REALM) with its session key; the credential
// copies it when acquired, and speaks for its client (Principal, when
// given, must name that client).
//
// The credential gets service tickets with the TGS exchange, through the
// engine's I/O side as every Kerberos credential does, renews the TGT
// while it is renewable, and can delegate again when the TGT is
// forwardable. It cannot log in: once the TGT has ended, its legs fail
// with SEC_E_NO_CREDENTIALS (kdc.ErrTGTEnded).
type TGT struct {
	Ticket *kdc.Ticket
}

// errNothingDelegated is why an acceptor context has no delegated
// credential when its client sent none.
var errNothingDelegated = errors.New("kerberos: the client delegated no credential (it did not ask for delegation, or its TGT is not forwardable)")

// delegation is what the client delegated to an acceptor context: the
// KRB-CRED as received with its opened EncKrbCredPart until the TGT is
// decoded from them, then the TGT; or why there is none. It is the
// context's, guarded by the session's attrMu.
type delegation struct {
	raw    []byte // the KRB-CRED; wiped by Close
	plain  []byte // its EncKrbCredPart in the clear; wiped once decoded
	client principal
	crealm string
	tgt    *kdc.Ticket // decoded on first use; its key wiped by Close
	err    error       // why there is no usable credential
}

// receiveDelegation opens the KRB-CRED of an AP-REQ's checksum with the
// ticket's session key or the authenticator's subkey (isub, or nil). A
// delegation that does not open is kept as the reason (the handshake goes
// on without ASC_RET_DELEGATE).
func receiveDelegation(krbCred []byte, sess, isub *key, etp *encTicketPart) *delegation {
	d := &delegation{client: etp.cname, crealm: etp.crealm}
	plain, err := openKRBCred(krbCred, sess, isub)
	if err != nil {
		d.err = err
		return d
	}
	d.raw = append([]byte(nil), krbCred...)
	d.plain = plain
	return d
}

// usable reports whether the delegation opened (ASC_RET_DELEGATE).
func (d *delegation) usable() bool { return d.err == nil }

// ticket decodes the TGT on first use and returns it, or why there is
// none. Called with attrMu held.
func (d *delegation) ticket(allowRC4 bool) (*kdc.Ticket, error) {
	if d.tgt == nil && d.err == nil {
		d.tgt, d.err = decodeKRBCred(d.raw, d.plain, d.client, d.crealm, allowRC4)
		clear(d.plain)
		d.plain = nil
	}
	return d.tgt, d.err
}

// wipe clears the keys the delegation holds. Called with attrMu held.
func (d *delegation) wipe() {
	clear(d.raw) // an unencrypted one (etype 0) holds the key
	clear(d.plain)
	d.raw, d.plain = nil, nil
	if d.tgt != nil {
		clear(d.tgt.SessionKey.KeyValue)
		d.tgt = nil
		if d.err == nil {
			d.err = errors.New("kerberos: the context was deleted")
		}
	}
}

// delegatedCredential answers SECPKG_ATTR_ASYNCSSPI_DELEGATED_CREDENTIAL:
// a *TGT of the caller's own, or an error value saying why there is none.
func (c *acceptor) delegatedCredential() (any, status.Code) {
	c.attrMu.Lock()
	defer c.attrMu.Unlock()
	if !c.established || c.closed {
		return nil, status.SEC_E_NO_CONTEXT
	}
	if c.deleg == nil {
		return status.New(status.SEC_E_NO_CREDENTIALS, Name, errNothingDelegated), status.SEC_E_NO_CREDENTIALS
	}
	t, err := c.deleg.ticket(c.cred.pkg.allowRC4)
	if err != nil {
		return status.New(status.SEC_E_NO_CREDENTIALS, Name, fmt.Errorf("%w: %w", errUnusableDelegation, err)), status.SEC_E_NO_CREDENTIALS
	}
	return &TGT{Ticket: t.Clone()}, status.SEC_E_OK
}

var errUnusableDelegation = errors.New("kerberos: the client's delegated credential (KRB-CRED) cannot be used")

// DelegatedCredential returns the KRB-CRED (RFC 4120 section 5.8) the
// initiator delegated, as received, or nil. It is set when the context's
// flags carry ASC_RET_DELEGATE, until the context is closed.
func (c *acceptor) DelegatedCredential() []byte {
	c.attrMu.Lock()
	defer c.attrMu.Unlock()
	if c.deleg == nil || !c.deleg.usable() {
		return nil
	}
	return c.deleg.raw
}

// The attribute's number, for the acceptor's QueryAttribute.
const attrDelegated = secctx.SECPKG_ATTR_ASYNCSSPI_DELEGATED_CREDENTIAL
