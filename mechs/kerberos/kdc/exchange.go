package kdc

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/asyncsspi/asyncsspi/status"
	"github.com/jcmturner/gofork/encoding/asn1"
	"github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/iana/errorcode"
	"github.com/jcmturner/gokrb5/v8/iana/flags"
	"github.com/jcmturner/gokrb5/v8/iana/keyusage"
	"github.com/jcmturner/gokrb5/v8/iana/msgtype"
	"github.com/jcmturner/gokrb5/v8/iana/patype"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/types"
)

// Name types (RFC 4120 section 6.2).
const (
	ntPrincipal = 1
	ntSrvInst   = 2
	ntSrvHst    = 3
)

// Ticket and KDC option bits (RFC 4120 section 5.4.1 and 5.3), gokrb5's
// numbering.
const (
	flagForwardable = flags.Forwardable
	flagForwarded   = flags.Forwarded
	flagRenewable   = flags.Renewable

	optRenew     = 1 << 0
	optForwarded = 1 << 1
)

const pvno = 5

// kdcOptions returns the KDC-options bit string with the given bits set.
func kdcOptions(bits ...int) asn1.BitString {
	o := types.NewKrbFlags()
	for _, b := range bits {
		types.SetFlag(&o, b)
	}
	return o
}

// asReply handles the KDC's answer to an AS-REQ: a TGT, or the
// ETYPE-INFO2 to retry with (KDC_ERR_PREAUTH_REQUIRED to a request without
// pre-authentication, or KDC_ERR_PREAUTH_FAILED to one made with a hint
// remembered from an earlier login, whose keys may have changed), or an
// error with its status.
func (c *Client) asReply(rb []byte, req messages.ASReq, sentPA, usedHint bool, hint etypeInfo) (*Ticket, etypeInfo, error) {
	rep, err := ParseReply(rb)
	if err != nil {
		return nil, nil, err
	}
	switch {
	case rep.Error != nil:
		k := rep.Error
		md := types.PADataSequence(methodData(k))
		info := etypeInfoFrom(md)
		if info == nil && isPreauthRequired(k) && md.Contains(patype.PA_ENC_TIMESTAMP) {
			// No ETYPE-INFO2: our first etype with the default salt
			// (RFC 4120 section 5.2.7.5 makes the salt default).
			info = etypeInfo{{EType: c.etypes[0]}}
		}
		if isPreauthRequired(k) && !sentPA && info != nil {
			return nil, info, nil
		}
		if k.ErrorCode == errorcode.KDC_ERR_PREAUTH_FAILED && sentPA && usedHint && info != nil {
			return nil, info, nil
		}
		return nil, nil, statusOfKRBError(*k)
	case rep.AS != nil:
		t, err := c.finishAS(rep.AS, req, hint)
		return t, nil, err
	default:
		return nil, nil, status.Errorf(status.SEC_E_INVALID_TOKEN, mech, "kdc: the KDC answered an AS-REQ with a TGS-REP")
	}
}

func (c *Client) newASReq(pa []types.PAData) (messages.ASReq, error) {
	n, err := nonce()
	if err != nil {
		return messages.ASReq{}, err
	}
	now := c.now().UTC()
	lib := c.conf.LibDefaults
	life := lib.TicketLifetime
	if life <= 0 {
		life = 24 * time.Hour
	}
	opts := []int{flags.Forwardable, flags.RenewableOK}
	body := messages.KDCReqBody{
		CName: c.principal,
		Realm: c.realm,
		SName: types.PrincipalName{NameType: ntSrvInst, NameString: []string{"krbtgt", c.realm}},
		Till:  now.Add(life),
		Nonce: n,
		EType: c.etypes,
	}
	if lib.RenewLifetime > 0 {
		opts = append(opts, flags.Renewable)
		body.RTime = now.Add(lib.RenewLifetime)
	}
	body.KDCOptions = kdcOptions(opts...)
	return messages.ASReq{KDCReqFields: messages.KDCReqFields{
		PVNO:    pvno,
		MsgType: msgtype.KRB_AS_REQ,
		PAData:  pa,
		ReqBody: body,
	}}, nil
}

// clientKey returns the long-term key of the client for etype e, from the
// keytab or derived from the password with the salt and s2kparams the KDC
// gave (RFC 3961 string-to-key; the default salt is realm + name components,
// RFC 4120 section 4).
func (c *Client) clientKey(e int32, info etypeInfo) (types.EncryptionKey, error) {
	if !etypeAllowed(e, containsEtype(c.etypes, etypeRC4)) {
		return types.EncryptionKey{}, status.Errorf(status.SEC_E_KDC_UNKNOWN_ETYPE, mech, fmt.Sprintf("kdc: the KDC chose enctype %d, which is not enabled", e))
	}
	if c.password == "" && c.keytab != nil {
		k, _, err := c.keytab.GetEncryptionKey(c.principal, c.realm, 0, e)
		if err != nil {
			return types.EncryptionKey{}, status.New(status.SEC_E_NO_CREDENTIALS, mech, fmt.Errorf("kdc: keytab has no key of enctype %d: %w", e, err))
		}
		return k, nil
	}
	et, err := crypto.GetEtype(e)
	if err != nil {
		return types.EncryptionKey{}, status.New(status.SEC_E_KDC_UNKNOWN_ETYPE, mech, err)
	}
	salt := c.principal.GetSalt(c.realm)
	params := et.GetDefaultStringToKeyParams()
	for _, x := range info {
		if x.EType == e || x.EType == 0 {
			if x.Salt != "" {
				salt = x.Salt
			}
			if len(x.S2KParams) > 0 {
				if err := checkS2KParams(e, x.S2KParams); err != nil {
					return types.EncryptionKey{}, err
				}
				params = hex.EncodeToString(x.S2KParams)
			}
			break
		}
	}
	// The derivation is PBKDF2 (thousands of iterations, on the caller's
	// CPU worker): a login's two uses of the key (the pre-authentication
	// timestamp, the AS-REP) and later logins derive it once.
	c.mu.RLock()
	m := c.pwKey
	c.mu.RUnlock()
	if m.key.KeyType == e && m.salt == salt && m.params == params {
		return m.key, nil
	}
	kb, err := et.StringToKey(c.password, salt, params)
	if err != nil {
		return types.EncryptionKey{}, status.New(status.SEC_E_INTERNAL_ERROR, mech, err)
	}
	k := types.EncryptionKey{KeyType: e, KeyValue: kb}
	c.mu.Lock()
	c.pwKey = derivedKey{salt: salt, params: params, key: k}
	c.mu.Unlock()
	return k, nil
}

// derivedKey is the client key last derived from the password, and what
// it was derived with.
type derivedKey struct {
	salt, params string
	key          types.EncryptionKey
}

// checkS2KParams refuses the string-to-key parameters MIT refuses
// (s2k_pbkdf2.c): for the AES enctypes they are a 4-byte PBKDF2 iteration
// count (RFC 3962 section 4, RFC 8009 section 4), which must be neither 0
// (read as 2^32) nor below the enctype's default nor 2^24 or more. The
// parameters come unauthenticated in a KRB-ERROR: without the bound, a
// forged KDC_ERR_PREAUTH_REQUIRED could hold a CPU worker for hours.
func checkS2KParams(e int32, p []byte) error {
	min := uint32(4096) // RFC 3962's default
	switch e {
	case etypeAES128SHA1, etypeAES256SHA1:
	case etypeAES128SHA2, etypeAES256SHA2:
		min = 32768 // RFC 8009's default
	default:
		return nil // RC4 takes none; they are ignored
	}
	if len(p) != 4 {
		return status.Errorf(status.SEC_E_INVALID_TOKEN, mech, fmt.Sprintf("kdc: s2kparams of %d bytes for enctype %d, want 4", len(p), e))
	}
	if n := binary.BigEndian.Uint32(p); n == 0 || n < min || n >= 1<<24 {
		return status.Errorf(status.SEC_E_INVALID_TOKEN, mech, fmt.Sprintf("kdc: PBKDF2 iteration count %d for enctype %d refused (MIT accepts %d to 2^24-1)", n, e, min))
	}
	return nil
}

// chooseEtype picks the KDC's most preferred etype that we enable (and,
// with a keytab, hold a key for).
func (c *Client) chooseEtype(info etypeInfo) (int32, bool) {
	for _, x := range info {
		if !containsEtype(c.etypes, x.EType) {
			continue
		}
		if c.password == "" && c.keytab != nil {
			if _, _, err := c.keytab.GetEncryptionKey(c.principal, c.realm, 0, x.EType); err != nil {
				continue
			}
		}
		return x.EType, true
	}
	return 0, false
}

// encTimestamp builds PA-ENC-TIMESTAMP (RFC 4120 section 5.2.7.2): the
// client's time, encrypted in its long-term key with key usage 1.
func (c *Client) encTimestamp(info etypeInfo) (types.PAData, error) {
	e, ok := c.chooseEtype(info)
	if !ok {
		return types.PAData{}, status.Errorf(status.SEC_E_KDC_UNKNOWN_ETYPE, mech, "kdc: the KDC offers no enabled enctype for pre-authentication")
	}
	key, err := c.clientKey(e, info)
	if err != nil {
		return types.PAData{}, err
	}
	now := c.now().UTC()
	ts, err := asn1.Marshal(types.PAEncTSEnc{
		PATimestamp: now.Truncate(time.Second),
		PAUSec:      now.Nanosecond() / 1000,
	})
	if err != nil {
		return types.PAData{}, status.New(status.SEC_E_INTERNAL_ERROR, mech, err)
	}
	ed, err := crypto.GetEncryptedData(ts, key, keyusage.AS_REQ_PA_ENC_TIMESTAMP, 0)
	if err != nil {
		return types.PAData{}, status.New(status.SEC_E_INTERNAL_ERROR, mech, err)
	}
	eb, err := ed.Marshal()
	if err != nil {
		return types.PAData{}, status.New(status.SEC_E_INTERNAL_ERROR, mech, err)
	}
	return types.PAData{PADataType: patype.PA_ENC_TIMESTAMP, PADataValue: eb}, nil
}

// finishAS decrypts and checks an AS-REP (RFC 4120 section 3.1.5).
func (c *Client) finishAS(rep *messages.ASRep, req messages.ASReq, hint etypeInfo) (*Ticket, error) {
	info := etypeInfoFrom(rep.PAData)
	if info == nil {
		info = hint
	}
	key, err := c.clientKey(rep.EncPart.EType, info)
	if err != nil {
		return nil, err
	}
	plain, err := decryptEncPart(rep.EncPart, key, keyusage.AS_REP_ENCPART)
	if err != nil {
		return nil, status.New(status.SEC_E_LOGON_DENIED, mech, fmt.Errorf("kdc: AS-REP does not decrypt with the client's key (wrong password or key): %w", err))
	}
	var enc messages.EncKDCRepPart
	if err := enc.Unmarshal(plain); err != nil {
		return nil, status.New(status.SEC_E_INVALID_TOKEN, mech, err)
	}
	if enc.Nonce != req.ReqBody.Nonce {
		return nil, status.Errorf(status.SEC_E_LOGON_DENIED, mech, "kdc: AS-REP nonce does not match the request (replay?)")
	}
	if !rep.CName.Equal(c.principal) || rep.CRealm != c.realm {
		return nil, status.Errorf(status.SEC_E_LOGON_DENIED, mech, fmt.Sprintf("kdc: AS-REP is for %s@%s, not %s@%s", rep.CName.PrincipalNameString(), rep.CRealm, c.principal.PrincipalNameString(), c.realm))
	}
	if !isTGS(enc.SName, c.realm) || enc.SRealm != c.realm {
		return nil, status.Errorf(status.SEC_E_LOGON_DENIED, mech, "kdc: AS-REP is not for krbtgt/"+c.realm)
	}
	return ticketFrom(rep.CName, rep.CRealm, rep.Ticket, enc), nil
}

func ticketFrom(cname types.PrincipalName, crealm string, tkt messages.Ticket, enc messages.EncKDCRepPart) *Ticket {
	return &Ticket{
		Client: cname, CRealm: crealm,
		Server: enc.SName, SRealm: enc.SRealm,
		Ticket: tkt, SessionKey: enc.Key, Flags: enc.Flags,
		AuthTime: enc.AuthTime, StartTime: enc.StartTime, EndTime: enc.EndTime, RenewTill: enc.RenewTill,
	}
}

// tgsReply handles the KDC's answer to a TGS-REQ (RFC 4120 section 3.3.4):
// the ticket, or the KRB-ERROR's status.
func (c *Client) tgsReply(rb []byte, req messages.TGSReq, tgt *Ticket, sname types.PrincipalName, realm string) (*Ticket, error) {
	rep, err := ParseReply(rb)
	if err != nil {
		return nil, err
	}
	switch {
	case rep.Error != nil:
		return nil, statusOfKRBError(*rep.Error)
	case rep.TGS != nil:
	default:
		return nil, status.Errorf(status.SEC_E_INVALID_TOKEN, mech, "kdc: the KDC answered a TGS-REQ with an AS-REP")
	}
	r := rep.TGS
	// The reply is encrypted in the TGT session key, key usage 8 (no
	// subkey was sent), RFC 4120 section 5.4.2.
	plain, err := decryptEncPart(r.EncPart, tgt.SessionKey, keyusage.TGS_REP_ENCPART_SESSION_KEY)
	if err != nil {
		return nil, status.New(status.SEC_E_INVALID_TOKEN, mech, fmt.Errorf("kdc: TGS-REP does not decrypt with the TGT session key: %w", err))
	}
	var enc messages.EncKDCRepPart
	if err := enc.Unmarshal(plain); err != nil {
		return nil, status.New(status.SEC_E_INVALID_TOKEN, mech, err)
	}
	if enc.Nonce != req.ReqBody.Nonce {
		return nil, status.Errorf(status.SEC_E_INVALID_TOKEN, mech, "kdc: TGS-REP nonce does not match the request (replay?)")
	}
	if !r.CName.Equal(tgt.Client) || r.CRealm != tgt.CRealm {
		return nil, status.Errorf(status.SEC_E_INVALID_TOKEN, mech, "kdc: TGS-REP is for another client")
	}
	if !samePrincipal(enc.SName, sname) || enc.SRealm != realm {
		return nil, status.Errorf(status.SEC_E_WRONG_PRINCIPAL, mech, fmt.Sprintf("kdc: TGS-REP is for %s@%s, asked %s@%s", enc.SName.PrincipalNameString(), enc.SRealm, sname.PrincipalNameString(), realm))
	}
	return ticketFrom(r.CName, r.CRealm, r.Ticket, enc), nil
}

// samePrincipal compares name components only (a KDC may answer a
// KRB_NT_SRV_HST request with a KRB_NT_SRV_INST name).
func samePrincipal(a, b types.PrincipalName) bool {
	if len(a.NameString) != len(b.NameString) {
		return false
	}
	for i := range a.NameString {
		if a.NameString[i] != b.NameString[i] {
			return false
		}
	}
	return true
}

// newTGSReq builds a TGS-REQ (RFC 4120 section 5.4.1) whose PA-TGS-REQ is an
// AP-REQ with tgt, its authenticator checksumming the request body (key
// usage 6; the authenticator itself is key usage 7, section 7.5.1).
func (c *Client) newTGSReq(tgt *Ticket, sname types.PrincipalName, realm string, opts int) (messages.TGSReq, error) {
	n, err := nonce()
	if err != nil {
		return messages.TGSReq{}, status.New(status.SEC_E_INTERNAL_ERROR, mech, err)
	}
	now := c.now().UTC()
	life := c.conf.LibDefaults.TicketLifetime
	if life <= 0 {
		life = 24 * time.Hour
	}
	bits := []int{flags.RenewableOK}
	if tgt.HasFlag(flagForwardable) {
		bits = append(bits, flags.Forwardable)
	}
	if opts&optForwarded != 0 {
		bits = append(bits, flags.Forwarded)
	}
	body := messages.KDCReqBody{
		Realm: realm,
		SName: sname,
		Till:  now.Add(life),
		Nonce: n,
		EType: c.etypes,
	}
	if opts&optRenew != 0 {
		bits = append(bits, flags.Renew, flags.Renewable)
		body.Till = tgt.RenewTill
		body.RTime = tgt.RenewTill
	}
	body.KDCOptions = kdcOptions(bits...)
	bb, err := body.Marshal()
	if err != nil {
		return messages.TGSReq{}, status.New(status.SEC_E_INTERNAL_ERROR, mech, err)
	}
	et, err := crypto.GetEtype(tgt.SessionKey.KeyType)
	if err != nil {
		return messages.TGSReq{}, status.New(status.SEC_E_KDC_UNKNOWN_ETYPE, mech, err)
	}
	sum, err := et.GetChecksumHash(tgt.SessionKey.KeyValue, bb, keyusage.TGS_REQ_PA_TGS_REQ_AP_REQ_AUTHENTICATOR_CHKSUM)
	if err != nil {
		return messages.TGSReq{}, status.New(status.SEC_E_INTERNAL_ERROR, mech, err)
	}
	auth := types.Authenticator{
		AVNO:   pvno,
		CRealm: tgt.CRealm,
		CName:  tgt.Client,
		Cksum:  types.Checksum{CksumType: et.GetHashID(), Checksum: sum},
		Cusec:  now.Nanosecond() / 1000,
		CTime:  now.Truncate(time.Second),
	}
	if len(tgt.Ticket.SName.NameString) == 0 {
		// gokrb5's NewAPReq reads the first name component to pick the
		// authenticator key usage.
		return messages.TGSReq{}, status.Errorf(status.SEC_E_NO_CREDENTIALS, mech, "kdc: the TGT has no server name")
	}
	ap, err := messages.NewAPReq(tgt.Ticket, tgt.SessionKey, auth)
	if err != nil {
		return messages.TGSReq{}, status.New(status.SEC_E_INTERNAL_ERROR, mech, err)
	}
	apb, err := ap.Marshal()
	if err != nil {
		return messages.TGSReq{}, status.New(status.SEC_E_INTERNAL_ERROR, mech, err)
	}
	return messages.TGSReq{KDCReqFields: messages.KDCReqFields{
		PVNO:    pvno,
		MsgType: msgtype.KRB_TGS_REQ,
		PAData:  types.PADataSequence{{PADataType: patype.PA_TGS_REQ, PADataValue: apb}},
		ReqBody: body,
	}}, nil
}

// decryptEncPart is crypto.DecryptEncPart with any panic inside gokrb5's
// crypto on hostile input turned into an error.
func decryptEncPart(ed types.EncryptedData, key types.EncryptionKey, usage uint32) (b []byte, err error) {
	defer func() {
		if p := recover(); p != nil {
			b, err = nil, fmt.Errorf("kdc: decryption failed: %v", p)
		}
	}()
	return crypto.DecryptEncPart(ed, key, usage)
}
