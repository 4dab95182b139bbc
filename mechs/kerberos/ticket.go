package kerberos

import (
	"time"

	"golang.org/x/crypto/cryptobyte"
	"golang.org/x/crypto/cryptobyte/asn1"
)

// This file reads the Ticket and its decrypted part, EncTicketPart
// (RFC 4120 section 5.3). Tickets are made by the KDC; the initiator
// sends them on as the DER it was given, and the acceptor opens them.

// ticket is a parsed Ticket.
type ticket struct {
	realm string
	sname principal
	enc   encryptedData
}

// Ticket flag bits (RFC 4120 section 5.3), as readFlags numbers them.
const (
	ticketFlagForwardable = 1 << (31 - 1)
	ticketFlagInvalid     = 1 << (31 - 7)
)

// parseTicket reads Ticket ::= [APPLICATION 1] SEQUENCE { tkt-vno [0],
// realm [1], sname [2], enc-part [3] }.
func parseTicket(b []byte) (ticket, error) {
	var t ticket
	s, ok := sequenceIn(b, 1)
	if !ok || !readIntIs(&s, 0, 5) || !readString(&s, 1, &t.realm) || !readPrincipal(&s, 2, &t.sname) ||
		!readEncryptedData(&s, 3, &t.enc) || !onlyExtensions(s, 3) {
		return ticket{}, errMalformed
	}
	return t, nil
}

// encTicketPart is the decrypted part of a ticket.
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

// parseEncTicketPart reads EncTicketPart ::= [APPLICATION 3] SEQUENCE {
// flags [0], key [1], crealm [2], cname [3], transited [4], authtime [5],
// starttime [6] OPTIONAL, endtime [7], renew-till [8] OPTIONAL, caddr [9]
// OPTIONAL, authorization-data [10] OPTIONAL }. The plaintext may carry
// padding after the element, as decryption leaves it.
func parseEncTicketPart(b []byte) (*encTicketPart, error) {
	s := cryptobyte.String(b)
	var a, seq cryptobyte.String
	if !s.ReadASN1(&a, appTag(3)) || !a.ReadASN1(&seq, asn1.SEQUENCE) {
		return nil, errMalformed
	}
	e := &encTicketPart{}
	var caddr, authz cryptobyte.String
	var hasAuthz bool
	// transited [4] is not checked: RFC 4120 section 2.7 leaves the
	// policy to the server.
	if !readFlags(&seq, 0, &e.flags) || !readEncryptionKey(&seq, 1, &e.keyEtype, &e.keyValue) ||
		!readString(&seq, 2, &e.crealm) || !readPrincipal(&seq, 3, &e.cname) || !seq.SkipASN1(ctxTag(4)) ||
		!readTime(&seq, 5, &e.authTime) || !readOptTime(&seq, 6, &e.startTime) || !readTime(&seq, 7, &e.endTime) ||
		!readOptTime(&seq, 8, &e.renewTill) || !seq.ReadOptionalASN1(&caddr, &e.hasCaddr, ctxTag(9)) ||
		!seq.ReadOptionalASN1(&authz, &hasAuthz, ctxTag(10)) || !onlyExtensions(seq, 10) {
		return nil, errMalformed
	}
	if hasAuthz {
		e.authzData = authz
	}
	return e, nil
}
