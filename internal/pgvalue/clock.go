package pgvalue

import (
	"bytes"
	"encoding/binary"
	"github.com/phiguard/phiguard/internal/pgerr"
	"time"

	"github.com/phiguard/phiguard/policy"
)

// timeValue is a time (microseconds since midnight, 0 to 24:00:00) or,
// with tz set, a timetz, which keeps its offset (east of UTC, seconds).
type timeValue struct {
	us   int64
	tz   bool
	east int
}

// text is time_out and timetz_out: hh:mm:ss[.ffffff] and for a timetz
// its offset; no DateStyle changes them.
func (v timeValue) text(*time.Location) []byte {
	b := appendClock(nil, v.us)
	if v.tz {
		b = appendOffset(b, v.east)
	}
	return b
}

// binary is time_send (int64) and timetz_send (int64, then the offset
// west of UTC as int32).
func (v timeValue) binary() []byte {
	b := binary.BigEndian.AppendUint64(nil, uint64(v.us))
	if v.tz {
		b = binary.BigEndian.AppendUint32(b, uint32(int32(-v.east)))
	}
	return b
}

// tzDispLimit is TZDISP_LIMIT: an offset must be under 16 hours.
const tzDispLimit = 16 * 3600

func (d decoder) timeBinary(in []byte) (value, error) {
	tz := d.t.OID == policy.OIDTimetz
	want := 8
	if tz {
		want = 12
	}
	// time_recv checks the range before any trailing bytes.
	if len(in) >= 8 {
		if us := int64(binary.BigEndian.Uint64(in)); us < 0 || us > usecsPerDay {
			return nil, d.coded(pgerr.DatetimeFieldOverflow, "time out of range", "time out of range")
		}
	}
	if tz && len(in) >= 12 {
		if west := int32(binary.BigEndian.Uint32(in[8:])); west <= -tzDispLimit || west >= tzDispLimit {
			return nil, d.coded(pgerr.InvalidTimeZoneDisplacementValue, "time zone displacement out of range", "time zone displacement out of range")
		}
	}
	if len(in) != want {
		return nil, d.coded(pgerr.InvalidBinaryRepresentation, "", "want %d bytes, got %d", want, len(in))
	}
	v := timeValue{us: int64(binary.BigEndian.Uint64(in)), tz: tz}
	if tz {
		west := int32(binary.BigEndian.Uint32(in[8:]))
		v.east = int(-west)
	}
	v.us = d.timeTypmod(v.us)
	return v, nil
}

// timeTypmod is AdjustTimeForTypmod: round half up to p digits.
func (d decoder) timeTypmod(us int64) int64 {
	p := d.t.Modifier
	if p < 0 || p >= 6 {
		return us
	}
	scale := int64(1)
	for i := p; i < 6; i++ {
		scale *= 10
	}
	return (us + scale/2) / scale * scale
}

// timeText reads the common spellings time_in and timetz_in accept: an
// optional ISO date (ignored for time), hh:mm[:ss[.ffffff]], AM or PM, an
// offset (+hh, +hhmm, +hh:mm, +hh:mm:ss, Z, UTC, GMT; ignored for time),
// or allballs. A timetz without an offset takes the session TimeZone's
// offset on the given date, or today's when none is given, as PostgreSQL
// does. Anything else is refused as unsupported.
func (d decoder) timeText(in []byte) (value, error) {
	tz := d.t.OID == policy.OIDTimetz
	s := bytes.ToLower(trimSpace(in))
	if string(s) == "allballs" {
		return timeValue{tz: tz}, nil
	}
	if len(s) == 0 {
		return nil, d.coded(pgerr.InvalidDatetimeFormat, "", "empty")
	}
	// An ISO date in front: parse the whole as a timestamp.
	if i := bytes.IndexByte(s, '-'); i >= 4 && i < len(s) && isDigits(s[:i]) {
		// time_in takes a date only before white space, not before T.
		if j := bytes.IndexAny(s, " \t\n\r\v\ft"); j < 0 || s[j] == 't' {
			return nil, d.unsupported("a date joined to the time by T")
		}
		p, err := d.parseDateTime(in)
		if err != nil {
			return nil, err
		}
		if p.special != 0 {
			return nil, d.coded(pgerr.InvalidDatetimeFormat, "", "not a time")
		}
		return d.clockValue(p.hour, p.min, p.sec, p.usec, p.hasZone, p.zone, tz, &p)
	}
	if s[0] == '+' || s[0] == '-' {
		// A zone alone ('+0530') is no time: time_in refuses it, where
		// the timestamp parser below would read midnight in that zone.
		return nil, d.coded(pgerr.InvalidDatetimeFormat, "", "a zone without a time")
	}
	// Reuse the timestamp parser on a time alone, with a date in front.
	p, err := d.parseDateTime(append([]byte("2000-01-01 "), s...))
	if err != nil {
		if ampm, rest, ok := cutAMPM(s); ok {
			p, err = d.parseDateTime(append([]byte("2000-01-01 "), rest...))
			if err == nil {
				if p.hour > 12 {
					return nil, d.coded(pgerr.DatetimeFieldOverflow, "", "hour out of range for AM/PM")
				}
				if ampm == "am" && p.hour == 12 {
					p.hour = 0
				} else if ampm == "pm" && p.hour != 12 {
					p.hour += 12
				}
				return d.clockValue(p.hour, p.min, p.sec, p.usec, p.hasZone, p.zone, tz, nil)
			}
		}
		return nil, err
	}
	return d.clockValue(p.hour, p.min, p.sec, p.usec, p.hasZone, p.zone, tz, nil)
}

func isDigits(s []byte) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return len(s) > 0
}

// cutAMPM splits a trailing " am" or "pm" off.
func cutAMPM(s []byte) (string, []byte, bool) {
	for _, w := range []string{"am", "pm"} {
		if bytes.HasSuffix(s, []byte(w)) {
			rest := trimSpace(s[:len(s)-2])
			if len(rest) > 0 && rest[len(rest)-1] >= '0' && rest[len(rest)-1] <= '9' {
				return w, rest, true
			}
		}
	}
	return "", nil, false
}

// clockValue makes the time of day; date is the date given with it, if
// any (for a timetz without an offset).
func (d decoder) clockValue(h, m, s, us int64, hasZone bool, zone int, tz bool, date *dateTime) (value, error) {
	t := ((h*60+m)*60+s)*usecsPerSec + us
	if t > usecsPerDay {
		return nil, d.coded(pgerr.DatetimeFieldOverflow, "", "time out of range")
	}
	v := timeValue{us: d.timeTypmod(t), tz: tz}
	if !tz {
		return v, nil
	}
	if hasZone {
		v.east = zone
		return v, nil
	}
	y, mo, day := int64(0), int64(0), int64(0)
	if date != nil {
		y, mo, day = date.year, date.mon, date.day
	} else {
		now := time.Now().In(d.loc)
		y, mo, day = int64(now.Year()), int64(now.Month()), int64(now.Day())
	}
	local := (date2j(y, mo, day)-postgresEpochJDate)*usecsPerDay + t
	v.east = int((local - localToUTC(d.loc, local)) / usecsPerSec)
	return v, nil
}
