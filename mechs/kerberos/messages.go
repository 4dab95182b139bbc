package kerberos

import (
	"bytes"
	"errors"
	"strings"
	"time"
)

// This file encodes and decodes the messages of the AP exchange (RFC 4120
// section 5.5) and the GSS framing around them (RFC 4121 section 4.1,
// RFC 2743 section 3.1).

// GSS token identifiers (RFC 4121 section 4.1 and 4.2.6).
var (
	tokAPReq    = [2]byte{0x01, 0x00}
	tokAPRep    = [2]byte{0x02, 0x00}
	tokKRBError = [2]byte{0x03, 0x00}
)

// DER of the krb5 mechanism OID 1.2.840.113554.1.2.2 and of Microsoft's
// 1.2.840.48018.1.2.2, which some initiators put in the framing too.
var (
	oidKrb5DER   = []byte{0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x12, 0x01, 0x02, 0x02}
	oidMSKrb5DER = []byte{0x06, 0x09, 0x2a, 0x86, 0x48, 0x82, 0xf7, 0x12, 0x01, 0x02, 0x02}
)

// Message types (RFC 4120 section 7.5.7).
const (
	msgTypeAPReq    = 14
	msgTypeAPRep    = 15
	msgTypeKRBError = 30
	msgTypeKRBCred  = 22
)

// Name types (RFC 4120 section 6.2).
const (
	nameTypePrincipal = 1
	nameTypeSrvInst   = 2
	nameTypeSrvHst    = 3
)

// AP options bit (RFC 4120 section 5.5.1): mutual-required is bit 2.
const apOptionMutualRequired = 1 << (31 - 2)

// Checksum type of the GSS authenticator checksum (RFC 4121 section 4.1.1).
const cksumTypeGSS = 0x8003

// principal is a PrincipalName (RFC 4120 section 5.2.2).
type principal struct {
	nameType int32
	parts    []string
}

func (p principal) String() string { return strings.Join(p.parts, "/") }

func (w *builder) principal(n int, p principal) {
	f := w.open(ctx(n))
	s := w.open(tagSequence)
	w.ctxInt(0, int64(p.nameType))
	f1 := w.open(ctx(1))
	s1 := w.open(tagSequence)
	for _, part := range p.parts {
		w.str(tagGeneralString, part)
	}
	w.close(s1)
	w.close(f1)
	w.close(s)
	w.close(f)
}

// encryptionKey appends [n] EncryptionKey.
func (w *builder) encryptionKey(n int, k *key) {
	f := w.open(ctx(n))
	s := w.open(tagSequence)
	w.ctxInt(0, int64(k.etype))
	f1 := w.open(ctx(1))
	w.prim(tagOctetString, k.value)
	w.close(f1)
	w.close(s)
	w.close(f)
}

// validPrincipal checks a PrincipalName's structure without allocating.
func validPrincipal(b []byte) bool {
	c, rest, err := expect(b, tagSequence)
	if err != nil || len(rest) != 0 {
		return false
	}
	s := seqReader{c}
	f, err := s.need(0)
	if err != nil {
		return false
	}
	if _, err := parseInt32(f); err != nil {
		return false
	}
	if f, err = s.need(1); err != nil || s.done() != nil {
		return false
	}
	list, rest, err := expect(f, tagSequence)
	if err != nil || len(rest) != 0 {
		return false
	}
	for len(list) > 0 {
		if _, list, err = expect(list, tagGeneralString); err != nil {
			return false
		}
	}
	return true
}

// samePrincipal compares a parsed name with a PrincipalName's DER by
// name strings (name types differ between implementations).
func samePrincipal(p principal, raw []byte) bool {
	c, _, _ := expect(raw, tagSequence)
	s := seqReader{c}
	s.need(0)
	f, err := s.need(1)
	if err != nil {
		return false
	}
	list, _, _ := expect(f, tagSequence)
	i := 0
	for len(list) > 0 {
		var part []byte
		if part, list, err = expect(list, tagGeneralString); err != nil || i >= len(p.parts) || p.parts[i] != string(part) {
			return false
		}
		i++
	}
	return i == len(p.parts)
}

func parsePrincipal(b []byte) (principal, error) {
	c, rest, err := expect(b, tagSequence)
	if err != nil || len(rest) != 0 {
		return principal{}, errMalformed
	}
	s := seqReader{c}
	f, err := s.need(0)
	if err != nil {
		return principal{}, err
	}
	nt, err := parseInt32(f)
	if err != nil {
		return principal{}, err
	}
	f, err = s.need(1)
	if err != nil {
		return principal{}, err
	}
	if err := s.done(); err != nil {
		return principal{}, err
	}
	list, rest, err := expect(f, tagSequence)
	if err != nil || len(rest) != 0 {
		return principal{}, errMalformed
	}
	p := principal{nameType: nt}
	for len(list) > 0 {
		sc, r, err := expect(list, tagGeneralString)
		if err != nil {
			return principal{}, errMalformed
		}
		p.parts = append(p.parts, string(sc))
		list = r
	}
	return p, nil
}

// encryptedData is an EncryptedData (RFC 4120 section 5.2.9).
type encryptedData struct {
	etype  int32
	kvno   int32
	hasKV  bool
	cipher []byte
}

func parseEncryptedData(b []byte) (encryptedData, error) {
	c, rest, err := expect(b, tagSequence)
	if err != nil || len(rest) != 0 {
		return encryptedData{}, errMalformed
	}
	var ed encryptedData
	s := seqReader{c}
	f, err := s.need(0)
	if err != nil {
		return ed, err
	}
	if ed.etype, err = parseInt32(f); err != nil {
		return ed, err
	}
	f, ok, err := s.field(1)
	if err != nil {
		return ed, err
	}
	if ok {
		if ed.kvno, err = parseInt32(f); err != nil {
			return ed, err
		}
		ed.hasKV = true
	}
	if f, err = s.need(2); err != nil {
		return ed, err
	}
	if ed.cipher, err = parseOctets(f); err != nil {
		return ed, err
	}
	return ed, s.done()
}

func parseEncryptionKey(b []byte) (etype int32, value []byte, err error) {
	c, rest, err := expect(b, tagSequence)
	if err != nil || len(rest) != 0 {
		return 0, nil, errMalformed
	}
	s := seqReader{c}
	f, err := s.need(0)
	if err != nil {
		return 0, nil, err
	}
	if etype, err = parseInt32(f); err != nil {
		return 0, nil, err
	}
	if f, err = s.need(1); err != nil {
		return 0, nil, err
	}
	if value, err = parseOctets(f); err != nil {
		return 0, nil, err
	}
	return etype, value, s.done()
}

// frameGSS wraps an inner token in the RFC 2743 section 3.1 framing with
// the krb5 OID and a TOK_ID. It is used for the rarely built tokens; the
// AP-REQ builder writes the framing in place.
func frameGSS(tokID [2]byte, inner []byte) []byte {
	w := builder{b: make([]byte, 0, len(inner)+32)}
	s := w.open(0x60)
	w.raw(oidKrb5DER)
	w.raw(tokID[:])
	w.raw(inner)
	w.close(s)
	return w.b
}

// parseGSS undoes frameGSS: it returns the TOK_ID and the inner message,
// which must be exactly one DER element. A token shorter than its outer
// length says gives *errTruncated with the missing byte count.
func parseGSS(b []byte) (tokID [2]byte, inner []byte, err error) {
	if len(b) == 0 {
		return tokID, nil, &errTruncated{}
	}
	if b[0] != 0x60 {
		return tokID, nil, errMalformed
	}
	c, rest, err := expect(b, 0x60)
	if err != nil {
		return tokID, nil, err
	}
	if len(rest) != 0 {
		return tokID, nil, errMalformed
	}
	if !bytes.HasPrefix(c, oidKrb5DER) && !bytes.HasPrefix(c, oidMSKrb5DER) {
		return tokID, nil, errMalformed
	}
	c = c[len(oidKrb5DER):]
	if len(c) < 2 {
		return tokID, nil, errMalformed
	}
	tokID = [2]byte{c[0], c[1]}
	inner = c[2:]
	_, _, r, err := readTLV(inner)
	if err != nil || len(r) != 0 {
		return tokID, nil, errMalformed
	}
	return tokID, inner, nil
}

// apReq is a parsed AP-REQ (RFC 4120 section 5.5.1).
type apReq struct {
	options   uint32
	ticketRaw []byte // the Ticket's DER, parsed by parseTicket on a cache miss
	auth      encryptedData
}

// ticket is a parsed Ticket (RFC 4120 section 5.3).
type ticket struct {
	realm string
	sname principal
	enc   encryptedData
}

func parseTicket(b []byte) (ticket, error) {
	c, rest, err := expect(b, app(1))
	if err != nil || len(rest) != 0 {
		return ticket{}, errMalformed
	}
	c, rest, err = expect(c, tagSequence)
	if err != nil || len(rest) != 0 {
		return ticket{}, errMalformed
	}
	var t ticket
	s := seqReader{c}
	f, err := s.need(0)
	if err != nil {
		return t, err
	}
	if v, err := parseInt(f); err != nil || v != 5 {
		return t, errMalformed
	}
	if f, err = s.need(1); err != nil {
		return t, err
	}
	if t.realm, err = parseString(f); err != nil {
		return t, err
	}
	if f, err = s.need(2); err != nil {
		return t, err
	}
	if t.sname, err = parsePrincipal(f); err != nil {
		return t, err
	}
	if f, err = s.need(3); err != nil {
		return t, err
	}
	if t.enc, err = parseEncryptedData(f); err != nil {
		return t, err
	}
	return t, s.done()
}

func parseAPReq(b []byte) (*apReq, error) {
	c, rest, err := expect(b, app(msgTypeAPReq))
	if err != nil || len(rest) != 0 {
		return nil, errMalformed
	}
	c, rest, err = expect(c, tagSequence)
	if err != nil || len(rest) != 0 {
		return nil, errMalformed
	}
	r := &apReq{}
	s := seqReader{c}
	f, err := s.need(0)
	if err != nil {
		return nil, err
	}
	if v, err := parseInt(f); err != nil || v != 5 {
		return nil, errMalformed
	}
	if f, err = s.need(1); err != nil {
		return nil, err
	}
	if v, err := parseInt(f); err != nil || v != msgTypeAPReq {
		return nil, errMalformed
	}
	if f, err = s.need(2); err != nil {
		return nil, err
	}
	if r.options, err = parseBitString32(f); err != nil {
		return nil, err
	}
	if f, err = s.need(3); err != nil {
		return nil, err
	}
	if t, _, err := expect(f, app(1)); err != nil || len(t) == 0 {
		return nil, errMalformed
	}
	r.ticketRaw = f
	if f, err = s.need(4); err != nil {
		return nil, err
	}
	if r.auth, err = parseEncryptedData(f); err != nil {
		return nil, err
	}
	return r, s.done()
}

// encTicketPart is the decrypted part of a ticket (RFC 4120 section 5.3).
type encTicketPart struct {
	client    string // "cname@crealm", set by the acceptor
	flags     uint32
	keyEtype  int32
	keyValue  []byte
	crealm    string
	cname     principal
	authTime  time.Time
	startTime time.Time
	endTime   time.Time
	renewTill time.Time
	hasCaddr  bool
	authzData []byte
}

// Ticket flag bits (RFC 4120 section 5.3), as parsed by parseBitString32.
const (
	ticketFlagForwardable = 1 << (31 - 1)
	ticketFlagInvalid     = 1 << (31 - 7)
)

func parseEncTicketPart(b []byte) (*encTicketPart, error) {
	c, _, err := expect(b, app(3))
	if err != nil {
		return nil, errMalformed
	}
	c, _, err = expect(c, tagSequence)
	if err != nil {
		return nil, errMalformed
	}
	e := &encTicketPart{}
	s := seqReader{c}
	f, err := s.need(0)
	if err != nil {
		return nil, err
	}
	if e.flags, err = parseBitString32(f); err != nil {
		return nil, err
	}
	if f, err = s.need(1); err != nil {
		return nil, err
	}
	if e.keyEtype, e.keyValue, err = parseEncryptionKey(f); err != nil {
		return nil, err
	}
	if f, err = s.need(2); err != nil {
		return nil, err
	}
	if e.crealm, err = parseString(f); err != nil {
		return nil, err
	}
	if f, err = s.need(3); err != nil {
		return nil, err
	}
	if e.cname, err = parsePrincipal(f); err != nil {
		return nil, err
	}
	if _, err = s.need(4); err != nil { // transited: not checked (RFC 4120 2.7 leaves policy to the server)
		return nil, err
	}
	if f, err = s.need(5); err != nil {
		return nil, err
	}
	if e.authTime, err = parseTime(f); err != nil {
		return nil, err
	}
	f, ok, err := s.field(6)
	if err != nil {
		return nil, err
	}
	if ok {
		if e.startTime, err = parseTime(f); err != nil {
			return nil, err
		}
	}
	if f, err = s.need(7); err != nil {
		return nil, err
	}
	if e.endTime, err = parseTime(f); err != nil {
		return nil, err
	}
	if f, ok, err = s.field(8); err != nil {
		return nil, err
	} else if ok {
		if e.renewTill, err = parseTime(f); err != nil {
			return nil, err
		}
	}
	if _, ok, err = s.field(9); err != nil {
		return nil, err
	} else if ok {
		e.hasCaddr = true
	}
	if f, ok, err = s.field(10); err != nil {
		return nil, err
	} else if ok {
		e.authzData = f
	}
	return e, s.done()
}

// authenticator is a decrypted Authenticator (RFC 4120 section 5.5.1).
type authenticator struct {
	crealmRaw  []byte // GeneralString content
	cnameRaw   []byte // PrincipalName DER
	cksumType  int32
	cksum      []byte
	hasCksum   bool
	cusec      int32
	ctime      time.Time
	subEtype   int32
	subValue   []byte
	seq        uint32
	hasSeq     bool
	hasSubkey  bool
	authzData  []byte
	hasAuthzAD bool
}

func parseAuthenticator(b []byte) (*authenticator, error) {
	c, _, err := expect(b, app(2))
	if err != nil {
		return nil, errMalformed
	}
	c, _, err = expect(c, tagSequence)
	if err != nil {
		return nil, errMalformed
	}
	a := &authenticator{}
	s := seqReader{c}
	f, err := s.need(0)
	if err != nil {
		return nil, err
	}
	if v, err := parseInt(f); err != nil || v != 5 {
		return nil, errMalformed
	}
	if f, err = s.need(1); err != nil {
		return nil, err
	}
	if c, rest, err := expect(f, tagGeneralString); err != nil || len(rest) != 0 {
		return nil, errMalformed
	} else {
		a.crealmRaw = c
	}
	if f, err = s.need(2); err != nil {
		return nil, err
	}
	if !validPrincipal(f) {
		return nil, errMalformed
	}
	a.cnameRaw = f
	f, ok, err := s.field(3)
	if err != nil {
		return nil, err
	}
	if ok {
		cs, rest, err := expect(f, tagSequence)
		if err != nil || len(rest) != 0 {
			return nil, errMalformed
		}
		cr := seqReader{cs}
		g, err := cr.need(0)
		if err != nil {
			return nil, err
		}
		if a.cksumType, err = parseInt32(g); err != nil {
			return nil, err
		}
		if g, err = cr.need(1); err != nil {
			return nil, err
		}
		if a.cksum, err = parseOctets(g); err != nil {
			return nil, err
		}
		if err := cr.done(); err != nil {
			return nil, err
		}
		a.hasCksum = true
	}
	if f, err = s.need(4); err != nil {
		return nil, err
	}
	if a.cusec, err = parseInt32(f); err != nil || a.cusec < 0 || a.cusec > 999999 {
		return nil, errMalformed
	}
	if f, err = s.need(5); err != nil {
		return nil, err
	}
	if a.ctime, err = parseTime(f); err != nil {
		return nil, err
	}
	if f, ok, err = s.field(6); err != nil {
		return nil, err
	} else if ok {
		if a.subEtype, a.subValue, err = parseEncryptionKey(f); err != nil {
			return nil, err
		}
		a.hasSubkey = true
	}
	if f, ok, err = s.field(7); err != nil {
		return nil, err
	} else if ok {
		v, err := parseInt32(f)
		if err != nil {
			return nil, err
		}
		a.seq, a.hasSeq = uint32(v), true
	}
	if f, ok, err = s.field(8); err != nil {
		return nil, err
	} else if ok {
		a.authzData, a.hasAuthzAD = f, true
	}
	return a, s.done()
}

// apRep is a parsed AP-REP (RFC 4120 section 5.5.2).
func parseAPRep(b []byte) (encryptedData, error) {
	c, rest, err := expect(b, app(msgTypeAPRep))
	if err != nil || len(rest) != 0 {
		return encryptedData{}, errMalformed
	}
	c, rest, err = expect(c, tagSequence)
	if err != nil || len(rest) != 0 {
		return encryptedData{}, errMalformed
	}
	s := seqReader{c}
	f, err := s.need(0)
	if err != nil {
		return encryptedData{}, err
	}
	if v, err := parseInt(f); err != nil || v != 5 {
		return encryptedData{}, errMalformed
	}
	if f, err = s.need(1); err != nil {
		return encryptedData{}, err
	}
	if v, err := parseInt(f); err != nil || v != msgTypeAPRep {
		return encryptedData{}, errMalformed
	}
	if f, err = s.need(2); err != nil {
		return encryptedData{}, err
	}
	ed, err := parseEncryptedData(f)
	if err != nil {
		return encryptedData{}, err
	}
	return ed, s.done()
}

// encAPRepPart is a decrypted EncAPRepPart (RFC 4120 section 5.5.2).
type encAPRepPart struct {
	ctime     time.Time
	cusec     int32
	subEtype  int32
	subValue  []byte
	hasSubkey bool
	seq       uint32
	hasSeq    bool
}

func parseEncAPRepPart(b []byte) (*encAPRepPart, error) {
	c, _, err := expect(b, app(27))
	if err != nil {
		return nil, errMalformed
	}
	c, _, err = expect(c, tagSequence)
	if err != nil {
		return nil, errMalformed
	}
	e := &encAPRepPart{}
	s := seqReader{c}
	f, err := s.need(0)
	if err != nil {
		return nil, err
	}
	if e.ctime, err = parseTime(f); err != nil {
		return nil, err
	}
	if f, err = s.need(1); err != nil {
		return nil, err
	}
	if e.cusec, err = parseInt32(f); err != nil {
		return nil, err
	}
	f, ok, err := s.field(2)
	if err != nil {
		return nil, err
	}
	if ok {
		if e.subEtype, e.subValue, err = parseEncryptionKey(f); err != nil {
			return nil, err
		}
		e.hasSubkey = true
	}
	if f, ok, err = s.field(3); err != nil {
		return nil, err
	} else if ok {
		v, err := parseInt32(f)
		if err != nil {
			return nil, err
		}
		e.seq, e.hasSeq = uint32(v), true
	}
	return e, s.done()
}

// krbError is the part of a KRB-ERROR (RFC 4120 section 5.9.1) a client
// acts on.
type krbError struct {
	code  int32
	etext string
}

func (e *krbError) Error() string {
	s := "kerberos: KRB-ERROR " + itoa(int(e.code))
	if e.etext != "" {
		s += ": " + e.etext
	}
	return s
}

func parseKRBError(b []byte) (*krbError, error) {
	c, rest, err := expect(b, app(msgTypeKRBError))
	if err != nil || len(rest) != 0 {
		return nil, errMalformed
	}
	c, rest, err = expect(c, tagSequence)
	if err != nil || len(rest) != 0 {
		return nil, errMalformed
	}
	s := seqReader{c}
	for _, n := range []int{0, 1} {
		if _, err := s.need(n); err != nil {
			return nil, err
		}
	}
	for _, n := range []int{2, 3} {
		if _, _, err := s.field(n); err != nil {
			return nil, err
		}
	}
	for _, n := range []int{4, 5} {
		if _, err := s.need(n); err != nil {
			return nil, err
		}
	}
	f, err := s.need(6)
	if err != nil {
		return nil, err
	}
	e := &krbError{}
	if e.code, err = parseInt32(f); err != nil {
		return nil, err
	}
	for _, n := range []int{7, 8} {
		if _, _, err := s.field(n); err != nil {
			return nil, err
		}
	}
	for _, n := range []int{9, 10} {
		if _, err := s.need(n); err != nil {
			return nil, err
		}
	}
	if f, ok, err := s.field(11); err != nil {
		return nil, err
	} else if ok {
		e.etext, _ = parseString(f)
	}
	return e, s.done()
}

// appendKRBError builds a KRB-ERROR for an acceptor's error token.
func appendKRBError(w *builder, code int32, now time.Time, realm string, sname principal) {
	a := w.open(app(msgTypeKRBError))
	s := w.open(tagSequence)
	w.ctxInt(0, 5)
	w.ctxInt(1, msgTypeKRBError)
	f := w.open(ctx(4))
	w.time(now)
	w.close(f)
	w.ctxInt(5, int64(now.Nanosecond()/1000))
	w.ctxInt(6, int64(code))
	f = w.open(ctx(9))
	w.str(tagGeneralString, realm)
	w.close(f)
	w.principal(10, sname)
	w.close(s)
	w.close(a)
}

func itoa(v int) string {
	if v == 0 {
		return "0"
	}
	neg := v < 0
	if neg {
		v = -v
	}
	var b [20]byte
	i := len(b)
	for v > 0 {
		i--
		b[i] = byte('0' + v%10)
		v /= 10
	}
	if neg {
		i--
		b[i] = '-'
	}
	return string(b[i:])
}

var errNotKerberos = errors.New("kerberos: not a Kerberos GSS token")
