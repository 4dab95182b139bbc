package kerberos

import (
	"crypto/rand"
	"encoding/binary"
	"time"

	secctx "github.com/asyncsspi/asyncsspi/context"
	"golang.org/x/crypto/cryptobyte"
	"golang.org/x/crypto/cryptobyte/asn1"
)

// This file is the AP-REQ (RFC 4120 section 5.5.1) in its GSS framing,
// the krb5 mechanism's initial context token (RFC 4121 section 4.1,
// TOK_ID 01 00):
//
//	AP-REQ ::= [APPLICATION 14] SEQUENCE {
//	        pvno            [0] INTEGER (5),
//	        msg-type        [1] INTEGER (14),
//	        ap-options      [2] APOptions,
//	        ticket          [3] Ticket,
//	        authenticator   [4] EncryptedData -- Authenticator
//	}

// AP options bit (RFC 4120 section 5.5.1): mutual-required is bit 2.
const apOptionMutualRequired = 1 << (31 - 2)

// apReq is a parsed AP-REQ.
type apReq struct {
	options   uint32
	ticketRaw []byte // the Ticket's DER, parsed by parseTicket on a cache miss
	auth      encryptedData
}

func parseAPReq(b []byte) (apReq, error) {
	s, ok := sequenceIn(b, msgTypeAPReq)
	var r apReq
	var t cryptobyte.String
	if !ok || !readIntIs(&s, 0, 5) || !readIntIs(&s, 1, msgTypeAPReq) || !readFlags(&s, 2, &r.options) ||
		!s.ReadASN1(&t, ctxTag(3)) || !readEncryptedData(&s, 4, &r.auth) || !onlyExtensions(s, 4) ||
		!t.PeekASN1Tag(appTag(1)) {
		return apReq{}, errMalformed
	}
	// The ticket is kept as its DER: the acceptor's ticket cache is keyed
	// by it, and parseTicket reads it when it is not there.
	r.ticketRaw = t
	return r, nil
}

// buildAPReq writes the initial context token with a fresh subkey and
// sequence number, whose authenticator carries the 0x8003 checksum. The
// ticket goes in as its cached DER and the authenticator is encrypted
// straight into the output buffer, room octets into it (spare room for a
// framing package, see mechs.RoomStepper).
func (c *initiator) buildAPReq(cb *secctx.ChannelBindings, krbCred []byte, now time.Time, room int) ([]byte, error) {
	sub, err := randomKey(c.tkt.key.etype)
	if err != nil {
		return nil, err
	}
	return c.buildAPReqWith(cb, krbCred, sub, now, room)
}

// buildAPReqWith is buildAPReq with the subkey sub.
func (c *initiator) buildAPReqWith(cb *secctx.ChannelBindings, krbCred []byte, sub *key, now time.Time, room int) ([]byte, error) {
	t := c.tkt
	var sb [4]byte
	rand.Read(sb[:])
	// MIT keeps initial sequence numbers below 2^30 for peers that
	// treat them as signed.
	c.seq = binary.BigEndian.Uint32(sb[:]) & 0x3fffffff
	c.subkey = sub
	c.ctime = now.Truncate(time.Second)
	c.cusec = int32(now.Nanosecond() / 1000)

	f := authenticatorFields{crealm: t.crealm, cname: t.client, gssFlags: gssIntegFlag | gssConfFlag,
		krbCred: krbCred, ctime: c.ctime, cusec: c.cusec, subkey: sub, seq: c.seq}
	if c.req&secctx.ISC_REQ_MUTUAL_AUTH != 0 {
		f.gssFlags |= gssMutualFlag
	}
	if c.req&secctx.ISC_REQ_REPLAY_DETECT != 0 {
		f.gssFlags |= gssReplayFlag
	}
	if c.req&secctx.ISC_REQ_SEQUENCE_DETECT != 0 {
		f.gssFlags |= gssSequenceFlag
	}
	if cb != nil {
		f.bindings = cb.Hash()
	}
	auth, err := buildAuthenticator(&f)
	if err != nil {
		return nil, err
	}
	defer clear(auth) // it holds the subkey

	var opts uint32
	if c.req&secctx.ISC_REQ_MUTUAL_AUTH != 0 {
		opts |= apOptionMutualRequired
	}
	ctLen := t.key.sealedSize(len(auth))
	body := ctxIntSize(5) + ctxIntSize(msgTypeAPReq) + apOptionsSize + tlvSize(len(t.raw)) +
		tlvSize(encryptedDataSize(t.key.etype, ctLen))
	msg := tlvSize(tlvSize(body))
	total := room + gssSize(msg)

	b := cryptobyte.NewFixedBuilder(make([]byte, room, total)) // room: spare, in front
	var r [64]byte
	x := appendGSSHeader(r[:0], tokAPReq, msg)
	x = appendHeader(x, appTag(msgTypeAPReq), tlvSize(body))
	x = appendHeader(x, asn1.SEQUENCE, body)
	x = appendCtxInt(appendCtxInt(x, 0, 5), 1, msgTypeAPReq)
	x = appendAPOptions(x, opts)
	b.AddBytes(appendHeader(x, ctxTag(3), len(t.raw)))
	b.AddBytes(t.raw)
	x = appendHeader(r[:0], ctxTag(4), encryptedDataSize(t.key.etype, ctLen))
	b.AddBytes(appendEncryptedDataHeader(x, t.key.etype, ctLen))
	head, err := b.Bytes()
	if err != nil {
		return nil, err
	}
	// The ciphertext is the token's last octets: it is appended in place,
	// into the room left for it.
	tok, err := t.key.encrypt(head, usageAPReqAuth, auth)
	if err != nil {
		return nil, err
	}
	if len(tok) != total {
		return nil, errSizing
	}
	return tok, nil
}

// apOptionsSize is the size of the field [2] APOptions: a BIT STRING of
// 32 bits (RFC 4120 section 5.2.8 wants at least 32).
const apOptionsSize = 9

func appendAPOptions(dst []byte, opts uint32) []byte {
	return append(dst, byte(ctxTag(2)), 7, byte(asn1.BIT_STRING), 5, 0, // no unused bits
		byte(opts>>24), byte(opts>>16), byte(opts>>8), byte(opts))
}
