package ntlm

import (
	"crypto/des"
	"crypto/md5"
	"strings"
)

// ntowfv1 is NTOWFv1 (MS-NLMP 3.3.1): MD4(UNICODE(Passwd)), the NT hash.
func ntowfv1(password string) [16]byte {
	return md4(appendUTF16(nil, password))
}

// ntowfv2 is NTOWFv2 (MS-NLMP 3.3.2): HMAC_MD5(NT hash,
// UNICODE(ConcatenationOf(Uppercase(User), UserDom))).
func ntowfv2(x *hasher, ntHash []byte, user, domain string) [16]byte {
	id := appendUTF16(nil, strings.ToUpper(user))
	id = appendUTF16(id, domain)
	return x.hmacOnce(ntHash, id)
}

// lmowfv1 is LMOWFv1 (MS-NLMP 3.3.1): DES("KGS!@#$%") under the two halves
// of the upper-cased, 14-byte OEM password. Only used when NTLMv1 is
// allowed.
func lmowfv1(password string) [16]byte {
	var p [14]byte
	copy(p[:], strings.ToUpper(password))
	var out [16]byte
	const magic = "KGS!@#$%"
	desEncrypt(out[0:8], p[0:7], []byte(magic))
	desEncrypt(out[8:16], p[7:14], []byte(magic))
	return out
}

// desEncrypt is DES(K, D) of MS-NLMP 6 with a 7-byte key spread over the
// 8-byte DES key (parity bits ignored).
func desEncrypt(dst, key7, data []byte) {
	var k [8]byte
	k[0] = key7[0]
	k[1] = key7[0]<<7 | key7[1]>>1
	k[2] = key7[1]<<6 | key7[2]>>2
	k[3] = key7[2]<<5 | key7[3]>>3
	k[4] = key7[3]<<4 | key7[4]>>4
	k[5] = key7[4]<<3 | key7[5]>>5
	k[6] = key7[5]<<2 | key7[6]>>6
	k[7] = key7[6] << 1
	c, err := des.NewCipher(k[:])
	if err != nil {
		panic(err) // impossible: the key is 8 bytes
	}
	c.Encrypt(dst, data)
}

// desl is DESL(K, D), MS-NLMP 6: three DES encryptions of the 8-byte D
// under a 16-byte key padded to 21 bytes.
func desl(key []byte, data []byte) [24]byte {
	var k [21]byte
	copy(k[:], key)
	var out [24]byte
	desEncrypt(out[0:8], k[0:7], data)
	desEncrypt(out[8:16], k[7:14], data)
	desEncrypt(out[16:24], k[14:21], data)
	return out
}

// Magic constants of SIGNKEY and SEALKEY, MS-NLMP 3.4.5.2 and 3.4.5.3,
// each with its terminating NUL.
const (
	clientSignMagic = "session key to client-to-server signing key magic constant\x00"
	serverSignMagic = "session key to server-to-client signing key magic constant\x00"
	clientSealMagic = "session key to client-to-server sealing key magic constant\x00"
	serverSealMagic = "session key to server-to-client sealing key magic constant\x00"
)

// keyScratch is room for a key and a magic constant, for the one-shot MD5s
// of SIGNKEY and SEALKEY.
type keyScratch [16 + len(clientSignMagic)]byte

// signKey is SIGNKEY (MS-NLMP 3.4.5.2): with extended session security,
// MD5(ExportedSessionKey || magic); otherwise there is no signing key.
func signKey(buf *keyScratch, sessionKey []byte, flags uint32, client bool) ([16]byte, bool) {
	if flags&negotiateExtendedSessionSecurity == 0 {
		return [16]byte{}, false
	}
	magic := serverSignMagic
	if client {
		magic = clientSignMagic
	}
	n := copy(buf[:], sessionKey)
	n += copy(buf[n:], magic)
	return md5.Sum(buf[:n]), true
}

// sealKey is SEALKEY (MS-NLMP 3.4.5.3). It returns the key and its length.
func sealKey(buf *keyScratch, sessionKey []byte, flags uint32, client bool) ([16]byte, int) {
	var out [16]byte
	switch {
	case flags&negotiateExtendedSessionSecurity != 0:
		n := 5
		if flags&negotiate128 != 0 {
			n = 16
		} else if flags&negotiate56 != 0 {
			n = 7
		}
		magic := serverSealMagic
		if client {
			magic = clientSealMagic
		}
		m := copy(buf[:], sessionKey[:n])
		m += copy(buf[m:], magic)
		return md5.Sum(buf[:m]), 16
	case flags&negotiateLMKey != 0 || flags&negotiateDatagram != 0:
		if flags&negotiate56 != 0 {
			copy(out[:], sessionKey[:7])
			out[7] = 0xa0
			return out, 8
		}
		copy(out[:], sessionKey[:5])
		out[5], out[6], out[7] = 0xe5, 0x38, 0xb0
		return out, 8
	default:
		copy(out[:], sessionKey)
		return out, 16
	}
}
