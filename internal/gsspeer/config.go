package gsspeer

import (
	"fmt"
	"time"

	secctx "github.com/asyncsspi/asyncsspi/context"
)

// Role says which side of the handshake the peer plays.
type Role int

const (
	// Initiator calls gss_init_sec_context (the client).
	Initiator Role = iota
	// Acceptor calls gss_accept_sec_context (the server).
	Acceptor
)

func (r Role) String() string {
	if r == Acceptor {
		return "acceptor"
	}
	return "initiator"
}

// Mech is a GSSAPI mechanism OID in dotted form.
type Mech string

// Mechanism OIDs.
const (
	Krb5    Mech = "1.2.840.113554.1.2.2"
	SPNEGO  Mech = "1.3.6.1.5.5.2"
	NTLMSSP Mech = "1.3.6.1.4.1.311.2.2.10"
)

// Flag is a GSS-API request/return flag (RFC 2744 values).
type Flag uint32

// GSS_C_*_FLAG values.
const (
	Deleg    Flag = 1
	Mutual   Flag = 2
	Replay   Flag = 4
	Sequence Flag = 8
	Conf     Flag = 16
	Integ    Flag = 32
	Anon     Flag = 64
)

// Config describes one peer.
type Config struct {
	Role Role
	Mech Mech

	// Target is, for an initiator, the acceptor's name: a host-based
	// service "service@host" (e.g. "HTTP@localhost") when it has an '@'
	// and no '/', otherwise a Kerberos principal ("HTTP/localhost@REALM").
	// For an acceptor it is ignored; see AcceptorName.
	Target string

	// AcceptorName, for a Kerberos acceptor, restricts it to that principal's
	// keys (gss_acquire_cred by name). Empty accepts with any key in the
	// keytab (KRB5_KTNAME). Never use it with NTLM.
	AcceptorName string

	// Flags requested by an initiator. Zero means python-gssapi's default,
	// Mutual|Sequence (it cannot request no flags at all); for a one-leg
	// krb5 exchange without AP-REP request e.g. Integ alone.
	Flags Flag

	// Username and Password make an initiator acquire credentials with a
	// password (gss_acquire_cred_with_password) for CredMechs. For NTLM,
	// Username may be "DOMAIN\\user" or "user@DOMAIN". Without a password
	// the peer uses default credentials: the ccache (KRB5CCNAME) for krb5,
	// the keytab (KRB5_KTNAME) for a krb5 acceptor, NTLM_USER_FILE for NTLM.
	Username string
	Password string

	// CredMechs lists the mechanisms to acquire credentials for; empty means
	// [Mech]. Setting it (or NegMechs) makes the peer acquire credentials
	// explicitly instead of passing GSS_C_NO_CREDENTIAL.
	CredMechs []Mech

	// NegMechs, for SPNEGO, restricts and orders the mechanisms offered or
	// accepted (gss_set_neg_mechs on the SPNEGO credential).
	NegMechs []Mech

	// ChannelBindings, when set, are passed to init/accept.
	ChannelBindings *secctx.ChannelBindings

	// Env entries ("NAME=value") are added to the child's environment
	// after os.Environ() with KRB5*, NTLM_USER_FILE and GSS_MECH_CONFIG
	// removed: typically realm.Env() and "NTLM_USER_FILE=...".
	Env []string

	// Timeout bounds each request; zero means 30 s.
	Timeout time.Duration
}

// Error is a failure reported by GSSAPI (or by the script) in the peer.
type Error struct {
	Major   uint32 // GSS major status (routine error in bits 16-23)
	Minor   uint32 // mechanism status
	Message string // gss_display_status text, major and minor
	// Token is the error token GSSAPI produced with the failure, if any.
	Token []byte
}

func (e *Error) Error() string {
	return fmt.Sprintf("gsspeer: GSSAPI error (major 0x%08x, minor %d): %s", e.Major, e.Minor, e.Message)
}

// Info is what a peer knows about its context after the handshake.
type Info struct {
	Complete      bool   `json:"complete"`
	Peer          string `json:"peer"`      // initiator: the target; acceptor: the client's name (NUL stripped)
	Mech          string `json:"mech"`      // the mechanism in use (for SPNEGO, the negotiated one)
	Flags         Flag   `json:"flags"`     // returned flags
	Lifetime      *int   `json:"lifetime"`  // seconds, nil when indefinite
	Delegated     bool   `json:"delegated"` // acceptor: delegated credentials received
	DelegatedName string `json:"delegated_name"`
	SessionKey    []byte `json:"-"` // GSS_C_INQ_SSPI_SESSION_KEY, nil when unsupported
	SessionKeyB64 string `json:"session_key"`
}
