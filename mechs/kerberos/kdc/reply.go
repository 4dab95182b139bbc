package kdc

import (
	"errors"
	"fmt"

	"github.com/asyncsspi/asyncsspi/status"
	"github.com/jcmturner/gokrb5/v8/iana/errorcode"
	"github.com/jcmturner/gokrb5/v8/iana/patype"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/types"
)

// Reply is one decoded KDC reply: exactly one of its fields is set.
type Reply struct {
	AS    *messages.ASRep
	TGS   *messages.TGSRep
	Error *messages.KRBError
}

// ParseReply decodes a KDC reply (RFC 4120 sections 5.4.2 and 5.9.1),
// dispatching on its outer APPLICATION tag. It does not decrypt anything.
// Bytes that are not exactly one AS-REP, TGS-REP or KRB-ERROR give a
// *status.Error with SEC_E_INVALID_TOKEN; it never panics.
func ParseReply(b []byte) (r Reply, err error) {
	// gokrb5's decoder is reflection-based ASN.1; keep any panic on hostile
	// input from escaping as one.
	defer func() {
		if p := recover(); p != nil {
			r, err = Reply{}, status.New(status.SEC_E_INVALID_TOKEN, mech, fmt.Errorf("kdc: malformed KDC reply: %v", p))
		}
	}()
	if !isReply(b) {
		return Reply{}, status.New(status.SEC_E_INVALID_TOKEN, mech, errors.New("kdc: reply is not one complete AS-REP, TGS-REP or KRB-ERROR"))
	}
	switch b[0] {
	case tagASRep:
		var m messages.ASRep
		if err := m.Unmarshal(b); err != nil {
			return Reply{}, invalidReply("AS-REP", err)
		}
		return Reply{AS: &m}, nil
	case tagTGSRep:
		var m messages.TGSRep
		if err := m.Unmarshal(b); err != nil {
			return Reply{}, invalidReply("TGS-REP", err)
		}
		return Reply{TGS: &m}, nil
	default: // tagKRBError, as isReply checked
		var m messages.KRBError
		if err := m.Unmarshal(b); err != nil {
			return Reply{}, invalidReply("KRB-ERROR", err)
		}
		return Reply{Error: &m}, nil
	}
}

func invalidReply(what string, err error) error {
	return status.New(status.SEC_E_INVALID_TOKEN, mech, fmt.Errorf("kdc: malformed %s: %w", what, err))
}

// etypeInfo is what a KDC told us about deriving the client key: the
// entries of PA-ETYPE-INFO2 (RFC 4120 section 5.2.7.5), in the KDC's order
// of preference, or the single salt of PA-PW-SALT / PA-ETYPE-INFO.
type etypeInfo []types.ETypeInfo2Entry

// etypeInfoFrom reads PA-ETYPE-INFO2, or failing that PA-ETYPE-INFO or
// PA-PW-SALT, from a PA-DATA sequence (RFC 4120 section 5.2.7: "the
// ETYPE-INFO2 ... supersedes").
func etypeInfoFrom(pas []types.PAData) etypeInfo {
	for _, pa := range pas {
		if pa.PADataType == patype.PA_ETYPE_INFO2 {
			var e types.ETypeInfo2
			if err := e.Unmarshal(pa.PADataValue); err == nil && len(e) > 0 {
				return etypeInfo(e)
			}
		}
	}
	for _, pa := range pas {
		if pa.PADataType == patype.PA_ETYPE_INFO {
			var e types.ETypeInfo
			if err := e.Unmarshal(pa.PADataValue); err == nil && len(e) > 0 {
				out := make(etypeInfo, 0, len(e))
				for _, x := range e {
					out = append(out, types.ETypeInfo2Entry{EType: x.EType, Salt: string(x.Salt)})
				}
				return out
			}
		}
	}
	for _, pa := range pas {
		if pa.PADataType == patype.PA_PW_SALT {
			return etypeInfo{{EType: 0, Salt: string(pa.PADataValue)}}
		}
	}
	return nil
}

// methodData decodes the e-data of KDC_ERR_PREAUTH_REQUIRED / _FAILED: a
// METHOD-DATA, i.e. a SEQUENCE OF PA-DATA (RFC 4120 section 5.9.1).
func methodData(k *messages.KRBError) []types.PAData {
	if len(k.EData) == 0 {
		return nil
	}
	var pas types.PADataSequence
	if err := pas.Unmarshal(k.EData); err != nil {
		return nil
	}
	return pas
}

// isPreauthRequired reports KDC_ERR_PREAUTH_REQUIRED (RFC 4120 section 7.5.9).
func isPreauthRequired(k *messages.KRBError) bool {
	return k.ErrorCode == errorcode.KDC_ERR_PREAUTH_REQUIRED
}
