package kerberos

import (
	"crypto/subtle"
	"encoding/binary"
)

// The authenticator checksum of the krb5 GSS mechanism, type 0x8003
// (RFC 4121 section 4.1.1):
//
//	Lgth    4 bytes little-endian, 16
//	Bnd     16 bytes, MD5 of the channel bindings (zero when none)
//	Flags   4 bytes little-endian, the GSS context flags
//	DlgOpt  2 bytes little-endian, 1  } only when GSS_C_DELEG_FLAG is set
//	Dlgth   2 bytes little-endian     }
//	Deleg   Dlgth bytes: a KRB-CRED   }
//	Exts    the rest (RFC 4121 4.1.1.2), ignored here

// GSS context flags (RFC 2744 section 3.9.1, RFC 4757 for the DCE ones).
const (
	gssDelegFlag    = 1
	gssMutualFlag   = 2
	gssReplayFlag   = 4
	gssSequenceFlag = 8
	gssConfFlag     = 16
	gssIntegFlag    = 32
)

// gssChecksum is a parsed 0x8003 checksum.
type gssChecksum struct {
	bindings [16]byte
	flags    uint32
	krbCred  []byte // the Deleg field when the delegation flag is set
}

// appendGSSChecksum appends the checksum value for the given bindings
// hash, flags and optional KRB-CRED.
func appendGSSChecksum(dst []byte, bnd [16]byte, flags uint32, krbCred []byte) []byte {
	var hdr [24]byte
	binary.LittleEndian.PutUint32(hdr[0:], 16)
	copy(hdr[4:], bnd[:])
	if krbCred != nil {
		flags |= gssDelegFlag
	}
	binary.LittleEndian.PutUint32(hdr[20:], flags)
	dst = append(dst, hdr[:]...)
	if krbCred != nil {
		var d [4]byte
		binary.LittleEndian.PutUint16(d[0:], 1)
		binary.LittleEndian.PutUint16(d[2:], uint16(len(krbCred)))
		dst = append(dst, d[:]...)
		dst = append(dst, krbCred...)
	}
	return dst
}

func parseGSSChecksum(b []byte) (gssChecksum, error) {
	var c gssChecksum
	if len(b) < 24 || binary.LittleEndian.Uint32(b) != 16 {
		return c, errMalformed
	}
	copy(c.bindings[:], b[4:20])
	c.flags = binary.LittleEndian.Uint32(b[20:])
	if c.flags&gssDelegFlag != 0 {
		// RFC 4121 4.1.1: DlgOpt and Dlgth follow when the flag is set.
		if len(b) < 28 || binary.LittleEndian.Uint16(b[24:]) != 1 {
			return c, errMalformed
		}
		n := int(binary.LittleEndian.Uint16(b[26:]))
		if len(b) < 28+n {
			return c, errMalformed
		}
		c.krbCred = b[28 : 28+n]
	}
	return c, nil
}

// bindingsMatch applies the acceptor's channel-binding policy. A zero
// hash from the initiator means it supplied no bindings: it is accepted
// when the acceptor has none, and, as Windows does when Extended
// Protection is not required and as MIT does, also when the acceptor has
// some unless requireBindings is set. When both sides supplied bindings
// they must match.
func bindingsMatch(client, server [16]byte, serverHas, requireBindings bool) bool {
	var zero [16]byte
	clientHas := client != zero
	switch {
	case !serverHas:
		return true
	case !clientHas:
		return !requireBindings
	}
	return subtle.ConstantTimeCompare(client[:], server[:]) == 1
}
