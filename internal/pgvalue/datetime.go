package pgvalue

import (
	"bytes"
	"encoding/binary"
	"math"
	"strconv"
	"time"

	"github.com/phiguard/phiguard/policy"
)

// PostgreSQL's date and timestamp representation: days or microseconds
// since 2000-01-01, with the extreme values meaning -infinity and infinity.
const (
	postgresEpochJDate = 2451545 // date2j(2000, 1, 1)
	unixEpochJDate     = 2440588 // date2j(1970, 1, 1)
	usecsPerSec        = 1000000
	usecsPerDay        = 86400 * usecsPerSec
	dateEndJulian      = 2147483494 // date2j(5874898, 1, 1)
	// MIN_TIMESTAMP and END_TIMESTAMP: 4714-11-24 00:00:00 BC and
	// 294277-01-01 00:00:00.
	minTimestamp = -211813488000000000
	endTimestamp = 9223371331200000000

	dateNegInf = math.MinInt32
	datePosInf = math.MaxInt32
	tsNegInf   = math.MinInt64
	tsPosInf   = math.MaxInt64
)

// date2j is PostgreSQL's: the Julian day number of a proleptic Gregorian
// date with an astronomical year (1 BC is year 0).
func date2j(y, m, d int64) int64 {
	if m > 2 {
		m++
		y += 4800
	} else {
		m += 13
		y += 4799
	}
	century := floorDiv(y, 100)
	j := y*365 - 32167
	j += floorDiv(y, 4) - century + floorDiv(century, 4)
	j += 7834*m/256 + d
	return j
}

// j2date is PostgreSQL's inverse of date2j, for 0 <= jd < 2^32.
func j2date(jd int64) (y, m, d int64) {
	julian := uint64(jd) + 32044
	quad := julian / 146097
	extra := (julian-quad*146097)*4 + 3
	julian += 60 + quad*3 + extra/146097
	quad = julian / 1461
	julian -= quad * 1461
	yy := julian * 4 / 1461
	if yy != 0 {
		julian = (julian+305)%365 + 123
	} else {
		julian = (julian+306)%366 + 123
	}
	yy += quad * 4
	y = int64(yy) - 4800
	q := julian * 2141 / 65536
	d = int64(julian - 7834*q/256)
	m = int64((q+10)%12 + 1)
	return
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

func isLeap(y int64) bool { return y%4 == 0 && (y%100 != 0 || y%400 == 0) }

func daysIn(y, m int64) int64 {
	switch m {
	case 2:
		if isLeap(y) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// validJulian is PostgreSQL's IS_VALID_JULIAN, on an astronomical year.
func validJulian(y, m int64) bool {
	return (y > -4713 || (y == -4713 && m >= 11)) && (y < 5874898 || (y == 5874898 && m < 6))
}

// dateValue is a date as PostgreSQL's DateADT.
type dateValue int32

func (v dateValue) text(*time.Location) []byte {
	switch v {
	case dateNegInf:
		return []byte("-infinity")
	case datePosInf:
		return []byte("infinity")
	}
	y, m, d := j2date(int64(v) + postgresEpochJDate)
	return appendDate(make([]byte, 0, len("yyyy-mm-dd BC")), y, m, d, true)
}

func (v dateValue) binary() []byte { return binary.BigEndian.AppendUint32(nil, uint32(v)) }

// appendDate writes y-m-d with at least four year digits; bc appends " BC"
// for years <= 0 (callers that write a time first pass false and add it).
func appendDate(b []byte, y, m, d int64, bc bool) []byte {
	yy := y
	if y <= 0 {
		yy = 1 - y
	}
	b = appendPad(b, yy, 4)
	b = append(b, '-')
	b = appendPad(b, m, 2)
	b = append(b, '-')
	b = appendPad(b, d, 2)
	if bc && y <= 0 {
		b = append(b, " BC"...)
	}
	return b
}

func appendPad(b []byte, n int64, width int) []byte {
	var digits [20]byte // FormatInt allocated for every n past 99
	s := strconv.AppendInt(digits[:0], n, 10)
	for i := len(s); i < width; i++ {
		b = append(b, '0')
	}
	return append(b, s...)
}

func (d decoder) dateText(in []byte) (value, error) {
	p, err := d.parseDateTime(in)
	if err != nil {
		return nil, err
	}
	switch p.special {
	case specialPosInf:
		return dateValue(datePosInf), nil
	case specialNegInf:
		return dateValue(dateNegInf), nil
	}
	// date_in ignores a time and a zone.
	if !validJulian(p.year, p.mon) {
		return nil, d.outOfRange("date out of range")
	}
	jd := date2j(p.year, p.mon, p.day)
	if jd < 0 || jd >= dateEndJulian {
		return nil, d.outOfRange("date out of range")
	}
	return dateValue(jd - postgresEpochJDate), nil
}

// dateBinary follows date_recv: a 4-byte day number that is one of the
// infinities or within the valid range.
func (d decoder) dateBinary(in []byte) (value, error) {
	if len(in) != 4 {
		return nil, d.err("want 4 bytes, got %d", len(in))
	}
	v := int32(binary.BigEndian.Uint32(in))
	if v != dateNegInf && v != datePosInf {
		jd := int64(v) + postgresEpochJDate
		if jd < 0 || jd >= dateEndJulian {
			return nil, d.outOfRange("date out of range")
		}
	}
	return dateValue(v), nil
}

// tsValue is a timestamp or timestamptz as PostgreSQL's int64
// microseconds since 2000-01-01 (UTC for timestamptz).
type tsValue struct {
	v  int64
	tz bool
}

func (v tsValue) binary() []byte { return binary.BigEndian.AppendUint64(nil, uint64(v.v)) }

func (v tsValue) text(loc *time.Location) []byte {
	switch v.v {
	case tsNegInf:
		return []byte("-infinity")
	case tsPosInf:
		return []byte("infinity")
	}
	t, off := v.v, 0
	if v.tz {
		off = zoneOffsetAt(loc, t)
		t += int64(off) * usecsPerSec
	}
	days := floorDiv(t, usecsPerDay)
	us := t - days*usecsPerDay
	y, m, d := j2date(days + postgresEpochJDate)
	b := appendDate(make([]byte, 0, 32), y, m, d, false)
	b = append(b, ' ')
	b = appendClock(b, us)
	if v.tz {
		b = appendOffset(b, off)
	}
	if y <= 0 {
		b = append(b, " BC"...)
	}
	return b
}

// appendOffset is EncodeTimezone in the ISO style: +hh, +hh:mm or
// +hh:mm:ss, east of UTC positive.
func appendOffset(b []byte, east int) []byte {
	if east >= 0 {
		b = append(b, '+')
	} else {
		b = append(b, '-')
		east = -east
	}
	h, m, s := east/3600, east/60%60, east%60
	b = appendPad(b, int64(h), 2)
	if m != 0 || s != 0 {
		b = append(b, ':')
		b = appendPad(b, int64(m), 2)
	}
	if s != 0 {
		b = append(b, ':')
		b = appendPad(b, int64(s), 2)
	}
	return b
}

// zoneOffsetAt is loc's offset east of UTC, in seconds, at the instant t
// (microseconds since 2000-01-01 UTC).
func zoneOffsetAt(loc *time.Location, t int64) int {
	if loc == time.UTC {
		return 0
	}
	unix := floorDiv(t, usecsPerSec) + (postgresEpochJDate-unixEpochJDate)*86400
	_, off := time.Unix(unix, 0).In(loc).Zone()
	return off
}

// localToUTC reads a local time (microseconds since 2000-01-01 on loc's
// wall clock) as PostgreSQL's DetermineTimeZoneOffset does: an ambiguous
// time takes the offset in force after the transition, a skipped time the
// offset in force before it.
func localToUTC(loc *time.Location, local int64) int64 {
	if loc == time.UTC {
		return local
	}
	before := zoneOffsetAt(loc, local-usecsPerDay)
	after := zoneOffsetAt(loc, local+usecsPerDay)
	fits := func(off int) bool { return zoneOffsetAt(loc, local-int64(off)*usecsPerSec) == off }
	switch {
	case fits(after):
		return local - int64(after)*usecsPerSec
	case fits(before):
		return local - int64(before)*usecsPerSec
	}
	return local - int64(before)*usecsPerSec
}

// applyTimestampTypmod is AdjustTimestampForTypmod: round to p fractional
// digits, half away from zero on the count since 2000-01-01.
func applyTimestampTypmod(t int64, mod int32) int64 {
	if mod < 0 || mod >= 6 || t == tsNegInf || t == tsPosInf {
		return t
	}
	scale := int64(1)
	for i := mod; i < 6; i++ {
		scale *= 10
	}
	off := scale / 2
	if t >= 0 {
		return (t + off) / scale * scale
	}
	return -((-t + off) / scale * scale)
}

func (d decoder) timestampText(in []byte) (value, error) {
	tz := d.t.OID == policy.OIDTimestamptz
	p, err := d.parseDateTime(in)
	if err != nil {
		return nil, err
	}
	switch p.special {
	case specialPosInf:
		return tsValue{tsPosInf, tz}, nil
	case specialNegInf:
		return tsValue{tsNegInf, tz}, nil
	}
	if !validJulian(p.year, p.mon) {
		return nil, d.outOfRange("timestamp out of range")
	}
	days := date2j(p.year, p.mon, p.day) - postgresEpochJDate
	if days < -3000000 || days > 110000000 {
		return nil, d.outOfRange("timestamp out of range")
	}
	t := days*usecsPerDay + ((p.hour*60+p.min)*60+p.sec)*usecsPerSec + p.usec
	if tz {
		if p.hasZone {
			t -= int64(p.zone) * usecsPerSec
		} else {
			t = localToUTC(d.loc, t)
		}
	}
	if t < minTimestamp || t >= endTimestamp {
		return nil, d.outOfRange("timestamp out of range")
	}
	t = applyTimestampTypmod(t, d.t.Modifier)
	if t < minTimestamp || t >= endTimestamp {
		return nil, d.outOfRange("timestamp out of range")
	}
	return tsValue{t, tz}, nil
}

// timestampBinary follows timestamp_recv and timestamptz_recv: 8 bytes,
// an infinity or a value in range, rounded to the column's precision.
func (d decoder) timestampBinary(in []byte) (value, error) {
	tz := d.t.OID == policy.OIDTimestamptz
	if len(in) != 8 {
		return nil, d.err("want 8 bytes, got %d", len(in))
	}
	t := int64(binary.BigEndian.Uint64(in))
	if t == tsNegInf || t == tsPosInf {
		return tsValue{t, tz}, nil
	}
	if t < minTimestamp || t >= endTimestamp {
		return nil, d.outOfRange("timestamp out of range")
	}
	t = applyTimestampTypmod(t, d.t.Modifier)
	if t < minTimestamp || t >= endTimestamp {
		return nil, d.outOfRange("timestamp out of range")
	}
	return tsValue{t, tz}, nil
}

const (
	specialNone = iota
	specialPosInf
	specialNegInf
)

// dateTime is a parsed date/time text: an astronomical year.
type dateTime struct {
	special        int
	year, mon, day int64
	hour, min, sec int64
	usec           int64
	hasZone        bool
	zone           int // seconds east of UTC
}

// parseDateTime reads the ISO subset of PostgreSQL's date/time input
// described in the package documentation.
func (d decoder) parseDateTime(in []byte) (dateTime, error) {
	var p dateTime
	s := lowerIfNeeded(trimSpace(in)) // read only below
	switch string(s) {
	case "infinity":
		p.special = specialPosInf
		return p, nil
	case "-infinity":
		p.special = specialNegInf
		return p, nil
	case "epoch":
		p.year, p.mon, p.day = 1970, 1, 1
		p.hasZone = true
		return p, nil
	case "now", "today", "tomorrow", "yesterday", "allballs":
		return p, d.unsupported("a value that depends on the clock or is a time only")
	case "":
		return p, d.err("empty")
	}
	i := 0
	digits := func(min, max int) (int64, bool) {
		j := i
		for j < len(s) && s[j] >= '0' && s[j] <= '9' && j-i < max+1 {
			j++
		}
		if j-i < min || j-i > max {
			return 0, false
		}
		n, _ := strconv.ParseInt(string(s[i:j]), 10, 64)
		i = j
		return n, true
	}
	// Date: YYYY-MM-DD or YYYYMMDD.
	j := i
	for j < len(s) && s[j] >= '0' && s[j] <= '9' {
		j++
	}
	if j == i && (s[0] == '+' || s[0] == '-') {
		return p, d.err("invalid date")
	}
	if j == i {
		return p, d.unsupported("only ISO year-month-day dates are accepted")
	}
	switch {
	case j < len(s) && j-i <= 2 && (s[j] == '/' || s[j] == '.'):
		var ok bool
		if p.year, p.mon, p.day, ok = d.orderedDate(s, &i); !ok {
			return p, d.unsupported("a date must be year-month-day, or day, month and year in the order DateStyle gives")
		}
	case j < len(s) && s[j] == '-':
		if j-i < 4 {
			return p, d.unsupported("the year must have at least four digits (ISO year-month-day)")
		}
		if j-i > 9 {
			return p, d.unsupported("a year of more than nine digits")
		}
		p.year, _ = digits(4, 9)
		i++
		var ok bool
		if p.mon, ok = digits(1, 2); !ok || i >= len(s) || s[i] != '-' {
			return p, d.unsupported("only ISO year-month-day dates are accepted")
		}
		i++
		if p.day, ok = digits(1, 2); !ok {
			return p, d.unsupported("only ISO year-month-day dates are accepted")
		}
	case j-i == 8:
		p.year, _ = strconv.ParseInt(string(s[i:i+4]), 10, 64)
		p.mon, _ = strconv.ParseInt(string(s[i+4:i+6]), 10, 64)
		p.day, _ = strconv.ParseInt(string(s[i+6:i+8]), 10, 64)
		i = j
	default:
		return p, d.unsupported("only ISO year-month-day dates (or YYYYMMDD) are accepted")
	}
	// Time: separated by a T or white space.
	rest := func() bool { return i < len(s) }
	skipSpace := func() int {
		n := 0
		for i < len(s) && isSpace(s[i]) {
			i++
			n++
		}
		return n
	}
	sp := skipSpace()
	if sp == 0 && rest() && s[i] == '-' {
		// PostgreSQL reads a dash right after the date as part of it.
		return p, d.err("invalid date")
	}
	if rest() && (s[i] == 't' && sp == 0 && i+1 < len(s) && s[i+1] >= '0' && s[i+1] <= '9') {
		i++
		sp = 1
	}

	if sp > 0 && rest() && s[i] >= '0' && s[i] <= '9' {
		var ok bool
		if p.hour, ok = digits(1, 2); !ok || !rest() || s[i] != ':' {
			return p, d.unsupported("the time must be hh:mm[:ss[.ffffff]]")
		}
		i++
		if p.min, ok = digits(1, 2); !ok {
			return p, d.unsupported("the time must be hh:mm[:ss[.ffffff]]")
		}
		if rest() && s[i] == ':' {
			i++
			if p.sec, ok = digits(1, 2); !ok {
				return p, d.unsupported("the time must be hh:mm[:ss[.ffffff]]")
			}
			if rest() && s[i] == '.' {
				i++
				j := i
				for j < len(s) && s[j] >= '0' && s[j] <= '9' {
					j++
				}
				if j == i {
					return p, d.unsupported("the time must be hh:mm[:ss[.ffffff]]")
				}
				// ParseFractionalSecond: rint(strtod(frac) * 1000000).
				f, _ := strconv.ParseFloat("0."+string(s[i:j]), 64)
				p.usec = int64(math.RoundToEven(f * 1000000))
				i = j
			}
		}
		// A leap second is accepted and carried, but the time of day may not
		// go past 24:00:00 (23:59:60.5 is refused, 10:59:60.5 is 11:00:00.5).
		if p.hour > 24 || p.min > 59 || p.sec > 60 ||
			((p.hour*60+p.min)*60+p.sec)*usecsPerSec+p.usec > usecsPerDay {
			return p, d.outOfRange("time field out of range")
		}
		sp = skipSpace()
	}
	// Zone.
	if rest() && (s[i] == '+' || s[i] == '-') {
		neg := s[i] == '-'
		i++
		j := i
		for j < len(s) && s[j] >= '0' && s[j] <= '9' {
			j++
		}
		var h, m, sec int64
		switch {
		case j-i >= 1 && j-i <= 2:
			h, _ = digits(1, 2)
			if rest() && s[i] == ':' {
				i++
				var ok bool
				if m, ok = digits(1, 2); !ok {
					return p, d.unsupported("the offset must be +hh, +hhmm, +hh:mm or +hh:mm:ss")
				}
				if rest() && s[i] == ':' {
					i++
					if sec, ok = digits(1, 2); !ok {
						return p, d.unsupported("the offset must be +hh, +hhmm, +hh:mm or +hh:mm:ss")
					}
				}
			}
		case j-i == 3 || j-i == 4:
			n, _ := digits(3, 4)
			h, m = n/100, n%100
		default:
			return p, d.unsupported("the offset must be +hh, +hhmm, +hh:mm or +hh:mm:ss")
		}
		if h > 15 || m > 59 || sec > 59 {
			return p, d.outOfRange("time zone displacement out of range")
		}
		p.hasZone = true
		p.zone = int((h*60+m)*60 + sec)
		if neg {
			p.zone = -p.zone
		}
		sp = skipSpace()
	} else if rest() {
		for _, name := range []string{"z", "utc", "gmt"} {
			if bytes.HasPrefix(s[i:], []byte(name)) && (i+len(name) == len(s) || isSpace(s[i+len(name)])) {
				i += len(name)
				p.hasZone = true
				sp = skipSpace()
				break
			}
		}
	}
	// Era.
	bc := false
	if rest() && sp > 0 {
		if bytes.Equal(s[i:], []byte("bc")) {
			bc = true
			i += 2
		} else if bytes.Equal(s[i:], []byte("ad")) {
			i += 2
		}
	}
	if rest() {
		if s[i] >= 'a' && s[i] <= 'z' {
			return p, d.unsupported("named time zones, month names and other words are not accepted")
		}
		return p, d.unsupported("only ISO year-month-day dates with an optional time and offset are accepted")
	}
	if p.year < 1 {
		return p, d.outOfRange("date field value out of range")
	}
	if bc {
		p.year = 1 - p.year
	}
	if p.mon < 1 || p.mon > 12 || p.day < 1 || p.day > daysIn(p.year, p.mon) {
		return p, d.outOfRange("date field value out of range")
	}
	return p, nil
}

// orderedDate reads a date written as three numbers with one separator
// (02/03/2024, 3.2.2024, 02/03/24) in the session's DateStyle order, as
// PostgreSQL does: MDY (the default) month first, DMY day first; a
// two-digit year is the one nearest 2000 (below 70: 20yy). YMD order, a
// year of one or three digits and anything longer are not accepted.
func (d decoder) orderedDate(s []byte, i *int) (y, m, day int64, ok bool) {
	var fields [3]int64
	var widths [3]int
	sep := byte(0)
	for k := 0; k < 3; k++ {
		j := *i
		for j < len(s) && s[j] >= '0' && s[j] <= '9' {
			j++
		}
		if j == *i || j-*i > 4 {
			return 0, 0, 0, false
		}
		fields[k], _ = strconv.ParseInt(string(s[*i:j]), 10, 64)
		widths[k] = j - *i
		*i = j
		if k < 2 {
			if *i >= len(s) || sep != 0 && s[*i] != sep {
				return 0, 0, 0, false
			}
			sep = s[*i]
			*i++
		}
	}
	if d.order == "YMD" || widths[0] > 2 || widths[1] > 2 || widths[2] == 1 || widths[2] == 3 {
		return 0, 0, 0, false
	}
	m, day, y = fields[0], fields[1], fields[2]
	if d.order == "DMY" {
		m, day = day, m
	}
	if widths[2] == 2 {
		if y < 70 {
			y += 2000
		} else {
			y += 1900
		}
	}
	return y, m, day, true
}
