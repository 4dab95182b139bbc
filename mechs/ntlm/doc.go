// Package ntlm is the NTLM security package (MS-NLMP): an NTLMv2 client and
// acceptor in pure Go, with the MIC over all three messages, key exchange
// (KEY_EXCH), extended session security, channel bindings
// (MsvAvChannelBindings) and message signing and sealing.
//
// The package is a sans-I/O mechanism for the engine (package mechs): every
// Step runs on the caller's goroutine and returns a token and a status; NTLM
// never asks for network I/O.
//
// # Credentials
//
// New returns the package ("NTLM"). AcquireCredentials takes, as AuthData:
//
//   - *secctx.AuthIdentity with User, Domain and Password (an initiator). The
//     User may also be written "user@domain" or "DOMAIN\user" (in the
//     AuthIdentity or as the principal), with Domain empty.
//   - *NTHash: a user, domain and NT hash (MD4 of the UTF-16LE password)
//     instead of a password.
//   - nil with a principal for an initiator: the password is looked up in the
//     users file named by NTLM_USER_FILE (gss-ntlmssp's convention, one
//     DOMAIN:user:password a line), or in the store given by WithUserStore.
//   - UserStore (an acceptor), such as *MemoryStore (NewMemoryStore,
//     AddPassword, AddNTHash) or one read by LoadUserFile from
//     gss-ntlmssp's DOMAIN:user:password format: the users the acceptor
//     verifies against. Without one, an inbound credential uses the store
//     given by WithUserStore, or else the file named by NTLM_USER_FILE.
//   - An AuthIdentity with every field empty: the anonymous credential
//     (NTLMSSP_ANONYMOUS); acceptors accept it only with
//     ASC_REQ_ALLOW_NULL_SESSION.
//
// Derived keys (the NT hash and NTOWFv2) are computed once per credential,
// with the HMAC-MD5 inner and outer states, not once per handshake.
//
// # Security defaults
//
// Only NTLMv2 is spoken and accepted. NTLMv1 and LM responses are refused
// with a clear status (SEC_E_LOGON_DENIED on the acceptor) unless
// WithNTLMv1 is given to New. The acceptor checks the NTLMv2 proof; that
// the target info the client echoes under it carries every pair of the
// CHALLENGE's, the timestamp included, byte for byte (so that a man in the
// middle who strips or renames the timestamp, so that the client sends no
// MIC, and then clears SIGN, SEAL and KEY_EXCH is caught); the MIC whenever
// the client's MsvAvFlags announce one, and its presence with
// WithRequireMIC (legacy clients such as curl send none); the client
// timestamp against a window (WithMaxClockSkew); channel bindings when the
// caller supplies them (a SECBUFFER_CHANNEL_BINDINGS input; absent or
// all-zero client bindings are accepted only with
// ASC_REQ_ALLOW_MISSING_BINDINGS); and refuses a replayed AUTHENTICATE
// message and a reused server challenge.
//
// No message is longer than NTLM's maximum token size, 2,888 bytes
// (Windows' cbMaxToken, reported by Info): a longer input token, or a field
// descriptor reaching past it, is SEC_E_INVALID_TOKEN before anything is
// copied. A message's header ends where its payload starts, so an
// AUTHENTICATE whose flags carry NTLMSSP_NEGOTIATE_VERSION but which has no
// Version field (curl 7.88's) is read as Windows reads it.
//
// # Statuses
//
// An initiator's Step returns SEC_I_CONTINUE_NEEDED with the NEGOTIATE
// message, then SEC_E_OK with the AUTHENTICATE message (which must still be
// sent); an acceptor's returns SEC_I_CONTINUE_NEEDED with the CHALLENGE,
// then SEC_E_OK with no token. Failures: a truncated message gives
// SEC_E_INCOMPLETE_MESSAGE with StepResult.Missing set to the bytes still
// needed, never more than the maximum token size allows (the context
// survives: give it the whole message); a malformed one
// SEC_E_INVALID_TOKEN; a wrong password, an unknown user, a refused NTLMv1
// or anonymous logon, a missing MIC under WithRequireMIC or a replayed
// AUTHENTICATE SEC_E_LOGON_DENIED; a MIC that does not verify, or echoed
// target info that is not the CHALLENGE's, SEC_E_MESSAGE_ALTERED (the
// proof verified, so a genuine client answered a message altered in
// transit); wrong or missing channel
// bindings SEC_E_BAD_BINDINGS; a timestamp outside the window
// SEC_E_TIME_SKEW. After a failed AUTHENTICATE an acceptor context is
// spent and repeats its failure.
//
// Credentials and contexts do not expire: their expiry is
// secctx.NeverExpires() (TimeStamp 0x7FFFFFFFFFFFFFFF, as Windows reports
// it).
//
// # SPNEGO
//
// Contexts are *Context values. Negotiate needs to know whether the NTLM
// AUTHENTICATE carried a MIC (MS-SPNG: then mechListMIC is
// required): (*Context).MICPresent reports it. mechListMIC itself is
// computed with MakeSignature and checked with VerifySignature.
//
// # Per-message protection
//
// After the handshake, MakeSignature, VerifySignature, EncryptMessage and
// DecryptMessage use the MS-NLMP 3.4 keys and RC4 states of a
// connection-oriented context. The MessageSeqNo argument is ignored, as
// Windows ignores it for connection-oriented NTLM: each direction keeps its
// own sequence number, and a signature carrying another gives
// SEC_E_OUT_OF_SEQUENCE. SPNEGO's mechListMIC is computed with MakeSignature
// and VerifySignature and so uses (and advances) the same sequence numbers,
// as gss-ntlmssp and Windows expect.
package ntlm
