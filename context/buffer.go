package context

import "strconv"

// BufferType is a SecBuffer's BufferType, without its attribute bits.
type BufferType uint32

// SECBUFFER_* values (sspi.h).
const (
	SECBUFFER_EMPTY                           BufferType = 0
	SECBUFFER_DATA                            BufferType = 1
	SECBUFFER_TOKEN                           BufferType = 2
	SECBUFFER_PKG_PARAMS                      BufferType = 3
	SECBUFFER_MISSING                         BufferType = 4
	SECBUFFER_EXTRA                           BufferType = 5
	SECBUFFER_STREAM_TRAILER                  BufferType = 6
	SECBUFFER_STREAM_HEADER                   BufferType = 7
	SECBUFFER_NEGOTIATION_INFO                BufferType = 8
	SECBUFFER_PADDING                         BufferType = 9
	SECBUFFER_STREAM                          BufferType = 10
	SECBUFFER_MECHLIST                        BufferType = 11
	SECBUFFER_MECHLIST_SIGNATURE              BufferType = 12
	SECBUFFER_TARGET                          BufferType = 13
	SECBUFFER_CHANNEL_BINDINGS                BufferType = 14
	SECBUFFER_CHANGE_PASS_RESPONSE            BufferType = 15
	SECBUFFER_TARGET_HOST                     BufferType = 16
	SECBUFFER_ALERT                           BufferType = 17
	SECBUFFER_APPLICATION_PROTOCOLS           BufferType = 18
	SECBUFFER_SRTP_PROTECTION_PROFILES        BufferType = 19
	SECBUFFER_SRTP_MASTER_KEY_IDENTIFIER      BufferType = 20
	SECBUFFER_TOKEN_BINDING                   BufferType = 21
	SECBUFFER_PRESHARED_KEY                   BufferType = 22
	SECBUFFER_PRESHARED_KEY_IDENTITY          BufferType = 23
	SECBUFFER_DTLS_MTU                        BufferType = 24
	SECBUFFER_SEND_GENERIC_TLS_EXTENSION      BufferType = 25
	SECBUFFER_SUBSCRIBE_GENERIC_TLS_EXTENSION BufferType = 26
	SECBUFFER_FLAGS                           BufferType = 27
	SECBUFFER_TRAFFIC_SECRETS                 BufferType = 28
	SECBUFFER_CERTIFICATE_REQUEST_CONTEXT     BufferType = 29
	SECBUFFER_CHANNEL_BINDINGS_RESULT         BufferType = 30
	SECBUFFER_APP_SESSION_STATE               BufferType = 31
	SECBUFFER_SESSION_TICKET                  BufferType = 32
)

// Attribute bits ORed into a BufferType (sspi.h).
const (
	SECBUFFER_ATTRMASK               BufferType = 0xF0000000
	SECBUFFER_READONLY               BufferType = 0x80000000
	SECBUFFER_READONLY_WITH_CHECKSUM BufferType = 0x10000000
	SECBUFFER_RESERVED               BufferType = 0x60000000
	SECBUFFER_VERSION                uint32     = 0
	bufferTypeNames                             = "EMPTY DATA TOKEN PKG_PARAMS MISSING EXTRA STREAM_TRAILER STREAM_HEADER NEGOTIATION_INFO PADDING STREAM MECHLIST MECHLIST_SIGNATURE TARGET CHANNEL_BINDINGS CHANGE_PASS_RESPONSE TARGET_HOST ALERT APPLICATION_PROTOCOLS SRTP_PROTECTION_PROFILES SRTP_MASTER_KEY_IDENTIFIER TOKEN_BINDING PRESHARED_KEY PRESHARED_KEY_IDENTITY DTLS_MTU SEND_GENERIC_TLS_EXTENSION SUBSCRIBE_GENERIC_TLS_EXTENSION FLAGS TRAFFIC_SECRETS CERTIFICATE_REQUEST_CONTEXT CHANNEL_BINDINGS_RESULT APP_SESSION_STATE SESSION_TICKET"
)

// Base returns the type without its attribute bits.
func (t BufferType) Base() BufferType { return t &^ SECBUFFER_ATTRMASK }

// ReadOnly reports whether SECBUFFER_READONLY or
// SECBUFFER_READONLY_WITH_CHECKSUM is set.
func (t BufferType) ReadOnly() bool {
	return t&(SECBUFFER_READONLY|SECBUFFER_READONLY_WITH_CHECKSUM) != 0
}

func (t BufferType) String() string {
	base := t.Base()
	s := ""
	i := 0
	for start := 0; start <= len(bufferTypeNames); {
		end := start
		for end < len(bufferTypeNames) && bufferTypeNames[end] != ' ' {
			end++
		}
		if BufferType(i) == base {
			s = "SECBUFFER_" + bufferTypeNames[start:end]
			break
		}
		i++
		start = end + 1
	}
	if s == "" {
		s = "SECBUFFER(" + strconv.FormatUint(uint64(base), 10) + ")"
	}
	if t&SECBUFFER_READONLY != 0 {
		s += "|SECBUFFER_READONLY"
	}
	if t&SECBUFFER_READONLY_WITH_CHECKSUM != 0 {
		s += "|SECBUFFER_READONLY_WITH_CHECKSUM"
	}
	return s
}

// Buffer is a SecBuffer. Data's length is cbBuffer. A mechanism that writes a
// buffer (a signature into a TOKEN buffer, ciphertext in place of a DATA
// buffer) writes into Data's backing array and reslices Data to the length it
// wrote; when the capacity is too small it returns SEC_E_BUFFER_TOO_SMALL.
// For SECBUFFER_MISSING and SECBUFFER_EXTRA, Count carries the byte count.
type Buffer struct {
	Type  BufferType
	Data  []byte
	Count int
}

// Find returns the index of the first buffer whose base type is t, or -1.
func Find(bufs []Buffer, t BufferType) int {
	for i := range bufs {
		if bufs[i].Type.Base() == t {
			return i
		}
	}
	return -1
}

// Token returns the data of the first SECBUFFER_TOKEN buffer, or nil.
func Token(bufs []Buffer) []byte {
	if i := Find(bufs, SECBUFFER_TOKEN); i >= 0 {
		return bufs[i].Data
	}
	return nil
}
