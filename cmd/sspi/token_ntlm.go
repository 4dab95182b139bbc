package main

import (
	"encoding/binary"
	"fmt"
	"strings"
	"time"
	"unicode/utf16"
)

// NTLM negotiate flags, bit 0 first (MS-NLMP section 2.2.2.5).
var ntlmFlagNames = [32]string{
	"NEGOTIATE_UNICODE", "NEGOTIATE_OEM", "REQUEST_TARGET", "r10",
	"NEGOTIATE_SIGN", "NEGOTIATE_SEAL", "NEGOTIATE_DATAGRAM", "NEGOTIATE_LM_KEY",
	"r9", "NEGOTIATE_NTLM", "r8", "ANONYMOUS",
	"NEGOTIATE_OEM_DOMAIN_SUPPLIED", "NEGOTIATE_OEM_WORKSTATION_SUPPLIED", "r7", "NEGOTIATE_ALWAYS_SIGN",
	"TARGET_TYPE_DOMAIN", "TARGET_TYPE_SERVER", "r6", "NEGOTIATE_EXTENDED_SESSIONSECURITY",
	"NEGOTIATE_IDENTIFY", "r5", "REQUEST_NON_NT_SESSION_KEY", "NEGOTIATE_TARGET_INFO",
	"r4", "NEGOTIATE_VERSION", "r3", "r2",
	"r1", "NEGOTIATE_128", "NEGOTIATE_KEY_EXCH", "NEGOTIATE_56",
}

const (
	ntlmUnicode = 0x00000001
	ntlmVersion = 0x02000000
)

func ntlmFlags(f uint32) string {
	var names []string
	for i := 0; i < 32; i++ {
		if f&(1<<i) != 0 {
			names = append(names, ntlmFlagNames[i])
		}
	}
	if len(names) == 0 {
		return fmt.Sprintf("0x%08x (none)", f)
	}
	return fmt.Sprintf("0x%08x %s", f, strings.Join(names, " | "))
}

// ntlmMsg reads an NTLM message's fields, each bounds-checked.
type ntlmMsg struct {
	b     []byte
	flags uint32
}

// field reads the (Len, MaxLen, Offset) descriptor at off and returns its
// bytes; the payload must lie within the message and not overlap the
// fixed header.
func (m *ntlmMsg) field(off, header int, what string) ([]byte, int, error) {
	if off+8 > len(m.b) {
		return nil, 0, malformed("NTLM: %s descriptor truncated", what)
	}
	n := int(binary.LittleEndian.Uint16(m.b[off:]))
	at := int(binary.LittleEndian.Uint32(m.b[off+4:]))
	if n == 0 {
		return nil, -1, nil
	}
	if at < header {
		return nil, 0, malformed("NTLM: %s at offset %d, inside the %d-byte header", what, at, header)
	}
	if at > len(m.b) || n > len(m.b)-at {
		return nil, 0, malformed("NTLM: %s (%d bytes at %d) runs past the message's %d bytes", what, n, at, len(m.b))
	}
	return m.b[at : at+n], at, nil
}

// str decodes a name in the message's character set.
func (m *ntlmMsg) str(b []byte) string {
	if m.flags&ntlmUnicode == 0 {
		return fmt.Sprintf("%q", b)
	}
	if len(b)%2 != 0 {
		return fmt.Sprintf("%x (odd-length UTF-16)", b)
	}
	u := make([]uint16, len(b)/2)
	for i := range u {
		u[i] = binary.LittleEndian.Uint16(b[2*i:])
	}
	return fmt.Sprintf("%q", string(utf16.Decode(u)))
}

func ntlmVersionString(v []byte) string {
	return fmt.Sprintf("%d.%d build %d, NTLM revision %d", v[0], v[1], binary.LittleEndian.Uint16(v[2:]), v[7])
}

var ntlmTypes = map[uint32]string{1: "NEGOTIATE_MESSAGE", 2: "CHALLENGE_MESSAGE", 3: "AUTHENTICATE_MESSAGE"}

// ntlm prints an NTLMSSP message (MS-NLMP section 2.2.1).
func (p *printer) ntlm(b []byte) error {
	if len(b) < 12 {
		return malformed("NTLM: message shorter than its signature and type")
	}
	typ := binary.LittleEndian.Uint32(b[8:])
	name, ok := ntlmTypes[typ]
	if !ok {
		return malformed("NTLM: message type %d", typ)
	}
	p.line("NTLM %s (MS-NLMP 2.2.1.%d), %d bytes", name, typ, len(b))
	p.indent++
	defer func() { p.indent-- }()
	m := &ntlmMsg{b: b}
	switch typ {
	case 1:
		return p.ntlmNegotiate(m)
	case 2:
		return p.ntlmChallenge(m)
	}
	return p.ntlmAuthenticate(m)
}

// version reads the Version field at off when the flags announce it.
func (p *printer) ntlmVersionField(m *ntlmMsg, off int) (int, error) {
	if m.flags&ntlmVersion == 0 {
		return off, nil
	}
	if len(m.b) < off+8 {
		return 0, malformed("NTLM: NEGOTIATE_VERSION set but the Version field is truncated")
	}
	p.line("version: %s", ntlmVersionString(m.b[off:off+8]))
	return off + 8, nil
}

func (p *printer) ntlmNegotiate(m *ntlmMsg) error {
	if len(m.b) < 16 {
		return malformed("NTLM: NEGOTIATE shorter than its flags")
	}
	// The domain and workstation are in the OEM character set.
	m.flags = binary.LittleEndian.Uint32(m.b[12:])
	p.line("flags: %s", ntlmFlags(m.flags))
	if len(m.b) < 32 {
		return malformed("NTLM: NEGOTIATE shorter than its 32-byte header")
	}
	header, err := p.ntlmVersionField(m, 32)
	if err != nil {
		return err
	}
	oem := &ntlmMsg{b: m.b}
	for _, f := range []struct {
		off  int
		what string
	}{{16, "domain"}, {24, "workstation"}} {
		v, _, err := m.field(f.off, header, f.what)
		if err != nil {
			return err
		}
		if v != nil {
			p.line("%s: %s", f.what, oem.str(v))
		}
	}
	return nil
}

func (p *printer) ntlmChallenge(m *ntlmMsg) error {
	if len(m.b) < 32 {
		return malformed("NTLM: CHALLENGE shorter than its 32-byte header")
	}
	m.flags = binary.LittleEndian.Uint32(m.b[20:])
	p.line("flags: %s", ntlmFlags(m.flags))
	p.line("server challenge: %x", m.b[24:32])
	header := 32
	hasInfo := len(m.b) >= 48
	if hasInfo {
		header = 48
		var err error
		if header, err = p.ntlmVersionField(m, 48); err != nil {
			return err
		}
	} else if m.flags&(ntlmVersion|0x00800000) != 0 {
		return malformed("NTLM: CHALLENGE announces target info or a version, but ends at %d bytes", len(m.b))
	}
	target, _, err := m.field(12, header, "target name")
	if err != nil {
		return err
	}
	if target != nil {
		p.line("target name: %s", m.str(target))
	}
	if !hasInfo {
		return nil
	}
	info, _, err := m.field(40, header, "target info")
	if err != nil {
		return err
	}
	if info == nil {
		return nil
	}
	p.line("target info:")
	return p.nested(func() error { return p.avPairs(info) })
}

var avNames = map[uint16]string{
	0: "MsvAvEOL", 1: "MsvAvNbComputerName", 2: "MsvAvNbDomainName", 3: "MsvAvDnsComputerName",
	4: "MsvAvDnsDomainName", 5: "MsvAvDnsTreeName", 6: "MsvAvFlags", 7: "MsvAvTimestamp",
	8: "MsvAvSingleHost", 9: "MsvAvTargetName", 10: "MsvAvChannelBindings",
}

// avPairs prints an AV_PAIR list (MS-NLMP section 2.2.2.1); it must end
// with MsvAvEOL.
func (p *printer) avPairs(b []byte) error {
	uni := &ntlmMsg{flags: ntlmUnicode}
	for {
		if len(b) < 4 {
			return malformed("NTLM: AV pair list ends without MsvAvEOL")
		}
		id, n := binary.LittleEndian.Uint16(b), int(binary.LittleEndian.Uint16(b[2:]))
		if n > len(b)-4 {
			return malformed("NTLM: AV pair %d of %d bytes runs past the list", id, n)
		}
		v := b[4 : 4+n]
		b = b[4+n:]
		name := avNames[id]
		switch {
		case id == 0:
			p.line("MsvAvEOL")
			return nil
		case id >= 1 && id <= 5 || id == 9:
			p.line("%s: %s", name, uni.str(v))
		case id == 6 && n == 4:
			f := binary.LittleEndian.Uint32(v)
			var set []string
			for bit, s := range []string{"constrained authentication", "MIC present", "SPN from an untrusted source"} {
				if f&(1<<bit) != 0 {
					set = append(set, s)
				}
			}
			p.line("%s: 0x%08x %s", name, f, strings.Join(set, ", "))
		case id == 7 && n == 8:
			p.line("%s: %s", name, filetime(v))
		case id == 8 || id == 10:
			p.line("%s: %d bytes %x", name, n, v)
		default:
			if name == "" {
				name = fmt.Sprintf("AV pair %d", id)
			}
			p.line("%s: %d bytes %x", name, n, v)
		}
	}
}

// filetime renders a FILETIME (100 ns since 1601).
func filetime(v []byte) string {
	ft := binary.LittleEndian.Uint64(v)
	const epochDelta = 116444736000000000 // 1601 to 1970, in 100 ns
	if ft < epochDelta || ft > epochDelta+(1<<62)/100 {
		return fmt.Sprintf("FILETIME %d", ft)
	}
	return time.Unix(0, int64(ft-epochDelta)*100).UTC().Format(time.RFC3339Nano)
}

func (p *printer) ntlmAuthenticate(m *ntlmMsg) error {
	if len(m.b) < 64 {
		return malformed("NTLM: AUTHENTICATE shorter than its 64-byte header")
	}
	m.flags = binary.LittleEndian.Uint32(m.b[60:])
	p.line("flags: %s", ntlmFlags(m.flags))
	// Where the payload starts says which optional parts the header has:
	// Version (when the flag is set and there is room; curl sets the flag
	// and sends no Version) and the MIC.
	start := len(m.b)
	for off := 12; off <= 52; off += 8 {
		if n := binary.LittleEndian.Uint16(m.b[off:]); n > 0 {
			start = min(start, int(binary.LittleEndian.Uint32(m.b[off+4:])))
		}
	}
	header := 64
	if m.flags&ntlmVersion != 0 && start >= 72 {
		p.line("version: %s", ntlmVersionString(m.b[64:72]))
		header = 72
	}
	names := []struct {
		off  int
		what string
	}{{28, "domain"}, {36, "user"}, {44, "workstation"}}
	for _, f := range names {
		v, _, err := m.field(f.off, header, f.what)
		if err != nil {
			return err
		}
		p.line("%s: %s", f.what, m.str(v))
	}
	lm, _, err := m.field(12, header, "LmChallengeResponse")
	if err != nil {
		return err
	}
	p.line("LmChallengeResponse: %d bytes", len(lm))
	nt, _, err := m.field(20, header, "NtChallengeResponse")
	if err != nil {
		return err
	}
	micAnnounced := false
	switch {
	case len(nt) == 0:
		p.line("NtChallengeResponse: empty (anonymous)")
	case len(nt) == 24:
		p.line("NtChallengeResponse: 24 bytes (NTLMv1)")
	case len(nt) < 16+28:
		return malformed("NTLM: NtChallengeResponse of %d bytes is neither NTLMv1 nor NTLMv2", len(nt))
	default:
		p.line("NtChallengeResponse: %d bytes, NTLMv2", len(nt))
		if err := p.nested(func() error {
			var err error
			micAnnounced, err = p.ntlmv2(nt)
			return err
		}); err != nil {
			return err
		}
	}
	key, _, err := m.field(52, header, "EncryptedRandomSessionKey")
	if err != nil {
		return err
	}
	if key != nil {
		p.line("EncryptedRandomSessionKey: %d bytes", len(key))
	}
	switch {
	case micAnnounced && header == 72 && start >= 88:
		p.line("MIC: %x", m.b[72:88])
	case micAnnounced:
		p.line("MIC: announced, but the header has no room for it")
	}
	return nil
}

// ntlmv2 prints an NTLMv2_RESPONSE (MS-NLMP section 2.2.2.8) and reports
// whether its MsvAvFlags announce a MIC.
func (p *printer) ntlmv2(b []byte) (bool, error) {
	p.line("NTProofStr: %x", b[:16])
	c := b[16:]
	if c[0] != 1 || c[1] != 1 {
		return false, malformed("NTLM: NTLMv2 client challenge of type %d.%d, want 1.1", c[0], c[1])
	}
	p.line("timestamp: %s", filetime(c[8:16]))
	p.line("client challenge: %x", c[16:24])
	p.line("AV pairs:")
	mic := false
	err := p.nested(func() error {
		pairs := c[28:]
		if err := p.avPairs(pairs); err != nil {
			return err
		}
		// Look the flags up again, quietly.
		for len(pairs) >= 4 {
			id, n := binary.LittleEndian.Uint16(pairs), int(binary.LittleEndian.Uint16(pairs[2:]))
			if id == 0 || n > len(pairs)-4 {
				break
			}
			if id == 6 && n == 4 && binary.LittleEndian.Uint32(pairs[4:])&2 != 0 {
				mic = true
			}
			pairs = pairs[4+n:]
		}
		return nil
	})
	return mic, err
}
