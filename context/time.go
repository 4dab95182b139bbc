package context

import (
	"math"
	"time"
)

// TimeStamp is SSPI's TimeStamp: 100-nanosecond ticks since 1601-01-01 UTC
// (FILETIME format). This package always returns UTC, where Windows packages
// are documented to return local time.
type TimeStamp int64

// Never is the expiry of something that does not expire.
const Never TimeStamp = math.MaxInt64

// filetimeEpochDelta is the number of 100 ns ticks between 1601-01-01 and
// 1970-01-01.
const filetimeEpochDelta = 116444736000000000

// TimeStampOf converts t; the zero time gives Never.
func TimeStampOf(t time.Time) TimeStamp {
	if t.IsZero() {
		return Never
	}
	return TimeStamp(t.UnixNano()/100 + filetimeEpochDelta)
}

// Time converts the stamp to a time in UTC; Never gives the zero time.
func (ts TimeStamp) Time() time.Time {
	if ts == Never {
		return time.Time{}
	}
	ticks := int64(ts) - filetimeEpochDelta
	return time.Unix(ticks/1e7, (ticks%1e7)*100).UTC()
}
