package main

import (
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"

	"github.com/jcmturner/gokrb5/v8/iana/errorcode"
)

// Kerberos messages (RFC 4120 section 5): their [APPLICATION n] tags.
const (
	tagAPReq    = 0x6e // [APPLICATION 14]
	tagAPRep    = 0x6f // [APPLICATION 15]
	tagKRBError = 0x7e // [APPLICATION 30]
	tagTicket   = 0x61 // [APPLICATION 1]
)

// derReader reads DER TLVs: single-byte tags, definite lengths of at most
// four bytes, every length checked against what is left before anything
// is sliced.
type derReader struct{ b []byte }

func (d *derReader) empty() bool { return len(d.b) == 0 }

func (d *derReader) next(what string) (tag byte, val []byte, err error) {
	if len(d.b) < 2 {
		return 0, nil, malformed("%s: truncated", what)
	}
	tag = d.b[0]
	if tag&0x1f == 0x1f {
		return 0, nil, malformed("%s: multi-byte tag", what)
	}
	n, hdr := int(d.b[1]), 2
	if n&0x80 != 0 {
		k := n & 0x7f
		if k == 0 || k > 4 {
			return 0, nil, malformed("%s: unsupported length form", what)
		}
		if len(d.b) < 2+k {
			return 0, nil, malformed("%s: truncated length", what)
		}
		n = 0
		for _, c := range d.b[2 : 2+k] {
			n = n<<8 | int(c)
		}
		hdr += k
		if n < 0x80 || (k > 1 && d.b[2] == 0) {
			return 0, nil, malformed("%s: length not in its shortest form", what)
		}
	}
	if n > len(d.b)-hdr {
		return 0, nil, malformed("%s: %d bytes announced, %d there", what, n, len(d.b)-hdr)
	}
	val = d.b[hdr : hdr+n]
	d.b = d.b[hdr+n:]
	return tag, val, nil
}

func (d *derReader) expect(tag byte, what string) ([]byte, error) {
	t, v, err := d.next(what)
	if err != nil {
		return nil, err
	}
	if t != tag {
		return nil, malformed("%s: tag %#02x, want %#02x", what, t, tag)
	}
	return v, nil
}

// wrapped reads the TLV outer whose content is exactly one TLV inner
// (an [n] EXPLICIT tag, an [APPLICATION n] around its SEQUENCE), and
// returns inner's content.
func (d *derReader) wrapped(outer, inner byte, what string) ([]byte, error) {
	v, err := d.expect(outer, what)
	if err != nil {
		return nil, err
	}
	r := derReader{v}
	c, err := r.expect(inner, what)
	if err != nil {
		return nil, err
	}
	return c, r.end(what)
}

// seq is wrapped for a SEQUENCE, as a reader.
func (d *derReader) seq(outer byte, what string) (derReader, error) {
	c, err := d.wrapped(outer, 0x30, what)
	return derReader{c}, err
}

// end fails if anything is left.
func (d *derReader) end(what string) error {
	if !d.empty() {
		return malformed("%s: %d unexpected bytes at the end", what, len(d.b))
	}
	return nil
}

// field reads [n] EXPLICIT around a universal tag.
func (d *derReader) field(n int, inner byte, what string) ([]byte, error) {
	return d.wrapped(0xa0+byte(n), inner, what)
}

func (d *derReader) optionalField(n int, inner byte, what string) ([]byte, bool, error) {
	if len(d.b) == 0 || d.b[0] != 0xa0+byte(n) {
		return nil, false, nil
	}
	v, err := d.field(n, inner, what)
	return v, err == nil, err
}

func (d *derReader) intField(n int, what string) (int64, error) {
	v, err := d.field(n, 0x02, what)
	if err != nil {
		return 0, err
	}
	return derInt(v, what)
}

func derInt(v []byte, what string) (int64, error) {
	if len(v) == 0 || len(v) > 8 {
		return 0, malformed("%s: INTEGER of %d bytes", what, len(v))
	}
	x := int64(int8(v[0]))
	for _, c := range v[1:] {
		x = x<<8 | int64(c)
	}
	return x, nil
}

// oidString renders OID content octets (X.690 section 8.19).
func oidString(b []byte) (string, error) {
	if len(b) == 0 {
		return "", malformed("empty OID")
	}
	var parts []string
	var v uint64
	for i, c := range b {
		if v > 1<<50 {
			return "", malformed("OID arc too large")
		}
		v = v<<7 | uint64(c&0x7f)
		if c&0x80 != 0 {
			if i == len(b)-1 {
				return "", malformed("OID ends inside an arc")
			}
			continue
		}
		if len(parts) == 0 {
			first := min(v/40, 2)
			parts = append(parts, strconv.FormatUint(first, 10), strconv.FormatUint(v-first*40, 10))
		} else {
			parts = append(parts, strconv.FormatUint(v, 10))
		}
		v = 0
	}
	return strings.Join(parts, "."), nil
}

// message opens [APPLICATION n] SEQUENCE and checks pvno and msg-type;
// it leaves the printer indented under the message's heading.
func (p *printer) message(b []byte, tag byte, msgType int64, name string) (derReader, error) {
	d := derReader{b}
	r, err := d.seq(tag, name)
	if err != nil {
		return r, err
	}
	if err := d.end(name); err != nil {
		return r, err
	}
	pvno, err := r.intField(0, name+" pvno")
	if err != nil {
		return r, err
	}
	mt, err := r.intField(1, name+" msg-type")
	if err != nil {
		return r, err
	}
	p.line("Kerberos %s (RFC 4120 section 5)", name)
	p.indent++
	p.line("pvno: %d, msg-type: %d", pvno, mt)
	if pvno != 5 || mt != msgType {
		return r, malformed("%s: pvno %d msg-type %d, want 5 and %d", name, pvno, mt, msgType)
	}
	return r, nil
}

// apOptions names the APOptions bits (RFC 4120 section 5.5.1).
var apOptionNames = []string{"reserved", "use-session-key", "mutual-required"}

func (p *printer) apReq(b []byte) error {
	defer p.restore()()
	r, err := p.message(b, tagAPReq, 14, "AP-REQ")
	if err != nil {
		return err
	}
	opts, err := r.field(2, 0x03, "ap-options")
	if err != nil {
		return err
	}
	bits, names, err := bitString(opts, apOptionNames)
	if err != nil {
		return err
	}
	p.line("ap-options: %s (%s)", bits, names)
	if err := p.ticket(&r); err != nil {
		return err
	}
	if err := p.encryptedData(&r, 0xa4, "authenticator"); err != nil {
		return err
	}
	return r.end("AP-REQ")
}

// restore returns a func that puts the indent back where it is now.
func (p *printer) restore() func() {
	indent := p.indent
	return func() { p.indent = indent }
}

// ticket prints an AP-REQ's ticket [3] Ticket ([APPLICATION 1]).
func (p *printer) ticket(d *derReader) error {
	app, err := d.expect(0xa3, "ticket")
	if err != nil {
		return err
	}
	t := derReader{app}
	r, err := t.seq(tagTicket, "Ticket")
	if err != nil {
		return err
	}
	if err := t.end("ticket"); err != nil {
		return err
	}
	vno, err := r.intField(0, "tkt-vno")
	if err != nil {
		return err
	}
	realm, err := r.field(1, 0x1b, "ticket realm")
	if err != nil {
		return err
	}
	p.line("ticket: tkt-vno %d", vno)
	defer p.restore()()
	p.indent++
	p.line("realm: %q", realm)
	if err := p.principal(&r, 0xa2, "sname"); err != nil {
		return err
	}
	if err := p.encryptedData(&r, 0xa3, "enc-part"); err != nil {
		return err
	}
	return r.end("Ticket")
}

var nameTypes = map[int64]string{
	0: "NT-UNKNOWN", 1: "NT-PRINCIPAL", 2: "NT-SRV-INST", 3: "NT-SRV-HST", 4: "NT-SRV-XHST",
	5: "NT-UID", 6: "NT-X500-PRINCIPAL", 7: "NT-SMTP-NAME", 10: "NT-ENTERPRISE", 11: "NT-WELLKNOWN",
	-128: "NT-MS-PRINCIPAL", -129: "NT-MS-PRINCIPAL-AND-ID", -130: "NT-ENT-PRINCIPAL-AND-ID",
}

// principal prints the PrincipalName in d's next field, tagged tag.
func (p *printer) principal(d *derReader, tag byte, what string) error {
	r, err := d.seq(tag, what)
	if err != nil {
		return err
	}
	nt, err := r.intField(0, what+" name-type")
	if err != nil {
		return err
	}
	s, err := r.seq(0xa1, what+" name-string")
	if err != nil {
		return err
	}
	var parts []string
	for !s.empty() {
		v, err := s.expect(0x1b, what+" name component")
		if err != nil {
			return err
		}
		parts = append(parts, string(v))
	}
	typ := nameTypes[nt]
	if typ == "" {
		typ = "name-type " + strconv.FormatInt(nt, 10)
	}
	p.line("%s: %q (%s)", what, strings.Join(parts, "/"), typ)
	return r.end(what)
}

// etypes names the encryption types (RFC 3961, 3962, 4757, 8009, 6803).
var etypes = map[int64]string{
	1: "des-cbc-crc", 2: "des-cbc-md4", 3: "des-cbc-md5", 16: "des3-cbc-sha1",
	17: "aes128-cts-hmac-sha1-96", 18: "aes256-cts-hmac-sha1-96",
	19: "aes128-cts-hmac-sha256-128", 20: "aes256-cts-hmac-sha384-192",
	23: "rc4-hmac", 24: "rc4-hmac-exp", 25: "camellia128-cts-cmac", 26: "camellia256-cts-cmac",
}

func etypeName(e int64) string {
	if n, ok := etypes[e]; ok {
		return fmt.Sprintf("%d (%s)", e, n)
	}
	return strconv.FormatInt(e, 10)
}

// encryptedData prints the EncryptedData in d's next field, tagged tag:
// its etype, kvno and size, never its plaintext.
func (p *printer) encryptedData(d *derReader, tag byte, what string) error {
	r, err := d.seq(tag, what)
	if err != nil {
		return err
	}
	et, err := r.intField(0, what+" etype")
	if err != nil {
		return err
	}
	kvno := ""
	if v, ok, err := r.optionalField(1, 0x02, what+" kvno"); err != nil {
		return err
	} else if ok {
		k, err := derInt(v, what+" kvno")
		if err != nil {
			return err
		}
		kvno = fmt.Sprintf(", kvno %d", k)
	}
	cipher, err := r.field(2, 0x04, what+" cipher")
	if err != nil {
		return err
	}
	p.line("%s: etype %s%s, %d bytes of ciphertext (not decrypted)", what, etypeName(et), kvno, len(cipher))
	return r.end(what)
}

func (p *printer) apRep(b []byte) error {
	defer p.restore()()
	r, err := p.message(b, tagAPRep, 15, "AP-REP")
	if err != nil {
		return err
	}
	if err := p.encryptedData(&r, 0xa2, "enc-part"); err != nil {
		return err
	}
	return r.end("AP-REP")
}

// krbError prints a KRB-ERROR's fields in order, the optional ones when
// present.
func (p *printer) krbError(b []byte) error {
	defer p.restore()()
	r, err := p.message(b, tagKRBError, 30, "KRB-ERROR")
	if err != nil {
		return err
	}
	if v, ok, err := r.optionalField(2, 0x18, "ctime"); err != nil {
		return err
	} else if ok {
		p.line("ctime: %s", kerberosTime(v))
	}
	if v, ok, err := r.optionalField(3, 0x02, "cusec"); err != nil {
		return err
	} else if ok {
		u, err := derInt(v, "cusec")
		if err != nil {
			return err
		}
		p.line("cusec: %d", u)
	}
	st, err := r.field(4, 0x18, "stime")
	if err != nil {
		return err
	}
	su, err := r.intField(5, "susec")
	if err != nil {
		return err
	}
	p.line("stime: %s, susec %d", kerberosTime(st), su)
	code, err := r.intField(6, "error-code")
	if err != nil {
		return err
	}
	if code < -1<<31 || code >= 1<<31 {
		return malformed("error-code %d out of range", code)
	}
	p.line("error-code: %s", errorcode.Lookup(int32(code)))
	if v, ok, err := r.optionalField(7, 0x1b, "crealm"); err != nil {
		return err
	} else if ok {
		p.line("crealm: %q", v)
	}
	if len(r.b) > 0 && r.b[0] == 0xa8 {
		if err := p.principal(&r, 0xa8, "cname"); err != nil {
			return err
		}
	}
	realm, err := r.field(9, 0x1b, "realm")
	if err != nil {
		return err
	}
	p.line("realm: %q", realm)
	if err := p.principal(&r, 0xaa, "sname"); err != nil {
		return err
	}
	if v, ok, err := r.optionalField(11, 0x1b, "e-text"); err != nil {
		return err
	} else if ok {
		p.line("e-text: %q", v)
	}
	if v, ok, err := r.optionalField(12, 0x04, "e-data"); err != nil {
		return err
	} else if ok {
		p.line("e-data: %d bytes %x", len(v), v)
	}
	return r.end("KRB-ERROR")
}

// kerberosTime shows a GeneralizedTime as sent ("20261204142527Z").
func kerberosTime(v []byte) string {
	if len(v) != 15 || v[14] != 'Z' {
		return fmt.Sprintf("%q (not YYYYMMDDHHMMSSZ)", v)
	}
	return fmt.Sprintf("%s-%s-%s %s:%s:%s UTC", v[0:4], v[4:6], v[6:8], v[8:10], v[10:12], v[12:14])
}

// bitString renders a DER BIT STRING's first 32 bits and names the set
// ones from names (bit 0 first, as Kerberos numbers them).
func bitString(v []byte, names []string) (string, string, error) {
	if len(v) == 0 || v[0] > 7 || (len(v) == 1 && v[0] != 0) {
		return "", "", malformed("BIT STRING: bad unused-bits count")
	}
	var word [4]byte
	copy(word[:], v[1:])
	x := binary.BigEndian.Uint32(word[:])
	var set []string
	for i := 0; i < 32; i++ {
		if x&(1<<(31-i)) != 0 {
			if i < len(names) {
				set = append(set, names[i])
			} else {
				set = append(set, "bit "+strconv.Itoa(i))
			}
		}
	}
	if len(set) == 0 {
		set = []string{"none"}
	}
	return fmt.Sprintf("0x%08x", x), strings.Join(set, ", "), nil
}
