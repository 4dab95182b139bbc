package context

import (
	"math"
	"time"
)

// TimeStamp is SSPI's TimeStamp: 100-nanosecond ticks since 1601-01-01 UTC
// (FILETIME format). This package always returns UTC, where Windows packages
// are documented to return local time.
//
// Two values are special: Never (what Windows reports for a credential or
// context that does not expire, such as NTLM's) and 0, which this package
// uses for an expiry that is not known.
type TimeStamp int64

// Never is the TimeStamp of something that does not expire:
// 0x7FFFFFFFFFFFFFFF, as Windows reports it. Its time.Time is NeverExpires.
const Never TimeStamp = math.MaxInt64

// filetimeEpochDelta is the number of 100 ns ticks between 1601-01-01 and
// 1970-01-01.
const filetimeEpochDelta = 116444736000000000

// Never as Unix time: (math.MaxInt64 - filetimeEpochDelta) ticks after
// 1970, in seconds and nanoseconds.
const (
	ticksPerSecond = 10_000_000
	neverUnixSec   = (math.MaxInt64 - filetimeEpochDelta) / ticksPerSecond
	neverUnixNsec  = (math.MaxInt64 - filetimeEpochDelta) % ticksPerSecond * 100
)

// NeverExpires returns the expiry of something that does not expire: the
// time Never stands for, 30828-09-14 02:48:05.4775807 UTC, the last instant
// a TimeStamp can hold. An expiry that is not known is the zero time.Time
// instead, so callers can tell the two apart:
//
//	switch exp := cred.Expiry(); {
//	case exp.IsZero():                         // not known
//	case exp.Equal(secctx.NeverExpires()):     // never
//	default:                                   // a real expiry
//	}
//
// It is a function, not a variable, so that no caller can change it.
func NeverExpires() time.Time {
	return time.Unix(neverUnixSec, neverUnixNsec).UTC()
}

// TimeStampOf converts t: the zero time (not known) gives 0, NeverExpires
// and anything later give Never, and a time at or before 1601-01-01, which
// a FILETIME cannot tell from 0, gives 0.
func TimeStampOf(t time.Time) TimeStamp {
	if t.IsZero() {
		return 0
	}
	sec := t.Unix()
	switch {
	case sec > neverUnixSec || sec == neverUnixSec && int64(t.Nanosecond()) >= neverUnixNsec:
		return Never
	case sec < -filetimeEpochDelta/ticksPerSecond:
		return 0
	}
	return TimeStamp(sec*ticksPerSecond + int64(t.Nanosecond())/100 + filetimeEpochDelta)
}

// Time converts the stamp to a time in UTC: Never gives NeverExpires(), 0
// (and anything negative) the zero time, meaning not known.
func (ts TimeStamp) Time() time.Time {
	switch {
	case ts == Never:
		return NeverExpires()
	case ts <= 0:
		return time.Time{}
	}
	ticks := int64(ts) - filetimeEpochDelta
	sec, rem := ticks/ticksPerSecond, ticks%ticksPerSecond
	if rem < 0 {
		sec, rem = sec-1, rem+ticksPerSecond
	}
	return time.Unix(sec, rem*100).UTC()
}
