// Package context (always imported as secctx) holds SSPI's pure data:
// credential and security-context handles, the ISC_REQ_*, ISC_RET_*,
// ASC_REQ_* and ASC_RET_* flags, security buffers and their types, data
// representation, credential use, expiry stamps, context attributes and
// channel bindings. It starts no goroutines and does no I/O.
//
// The names of flags and constants are the SSPI names, so they can be found
// in Microsoft's documentation as they are.
package context
