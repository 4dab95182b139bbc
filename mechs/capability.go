package mechs

// Capabilities: interfaces a Package or SecurityContext may implement
// beyond the required ones. Negotiate and the engine look for them with a
// type assertion; a value without one is treated as the comment on each
// says. They are declared here, once, so that no package needs to import
// another mechanism to find them.

// OIDNamer may be implemented by a Package to name the mechanism OIDs it is
// negotiated under (RFC 4178 MechType), most preferred first. Negotiate
// offers and recognises a package without it by its name: "Kerberos" as
// OIDMSKerberos then OIDKerberos (Windows' order), "NTLM" as OIDNTLMSSP.
type OIDNamer interface {
	OIDs() []string
}

// MechListMICRequirer may be implemented by a SecurityContext that needs
// the SPNEGO mechListMIC exchange whatever the negotiation found: NTLM
// whose AUTHENTICATE message carries a MIC (MS-SPNG 3.2.5.1). Negotiate
// asks once the context is complete; without it, the MIC is exchanged only
// when RFC 4178 section 5 requires it.
type MechListMICRequirer interface {
	RequiresMechListMIC() bool
}

// SealingStateResetter may be implemented by a SecurityContext whose
// per-message state a mechListMIC advances but must not: NTLM's RC4
// sealing handle. After producing (outbound) or verifying (inbound) the
// mechListMIC, Negotiate calls ResetSealingState so that the handle of
// that direction is back where it was before the MIC (MS-SPNG 3.3.5.1);
// the sequence number is not reset. Without it nothing is reset.
type SealingStateResetter interface {
	ResetSealingState(outbound bool)
}

// MaxRoom is the most spare room a RoomStepper is asked for.
const MaxRoom = 256

// RoomStepper may be implemented by a SecurityContext whose output tokens
// another package frames (Negotiate's NegTokenInit and NegTokenResp), so
// that the framing is written in place instead of copying the token.
// StepWithRoom is Step, except that the first spare bytes of the result's
// Token are spare room, not token (the token proper is Token[spare:]);
// spare is room when the step honoured the request and 0 when it did not
// (an empty or error token, say). room is at most MaxRoom. Without it the
// framing package copies the token.
type RoomStepper interface {
	StepWithRoom(in *StepInput, room int) (r StepResult, spare int)
}
