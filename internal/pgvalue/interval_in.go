package pgvalue

import (
	"bytes"
	"math"
)

// Interval input follows ParseDateTime, DecodeInterval and
// DecodeISO8601Interval of PostgreSQL 15: numbers with units (read right
// to left, so a bare number takes the unit after it, seconds at the
// end), hh:mm[:ss[.f]], years-months (1-2), @ and a final ago, with
// fractional units spilling into the smaller ones; under sql_standard a
// leading minus applies to every field when no other field is signed;
// and ISO 8601 with designators (P1Y2M3DT4H5M6.5S). The ISO alternative
// format (P0001-02-03T04:05:06) is refused as unsupported.

// interval field kinds of ParseDateTime.
const (
	fNumber = iota
	fDate   // digits-digits: years-months
	fTime   // digits:digits...
	fSigned // a sign and digits (DTK_TZ)
	fWord
)

type ivField struct {
	kind int
	s    string
}

// Unit masks (DTK_M) for the duplicate check.
const (
	mMicro = 1 << iota
	mMilli
	mSecond
	mMinute
	mHour
	mDay
	mWeek
	mMonth
	mYear
	mDecade
	mCentury
	mMillennium
	mAllSecs = mMicro | mMilli | mSecond
	mTime    = mAllSecs | mMinute | mHour
)

var intervalUnits = map[string]int{
	"c": mCentury, "cent": mCentury, "centuries": mCentury, "century": mCentury,
	"d": mDay, "day": mDay, "days": mDay,
	"dec": mDecade, "decade": mDecade, "decades": mDecade, "decs": mDecade,
	"h": mHour, "hour": mHour, "hours": mHour, "hr": mHour, "hrs": mHour,
	"m": mMinute, "min": mMinute, "mins": mMinute, "minute": mMinute, "minutes": mMinute,
	"microsecon": mMicro, "us": mMicro, "usec": mMicro, "useconds": mMicro, "usecs": mMicro,
	"mil": mMillennium, "millennia": mMillennium, "millennium": mMillennium, "mils": mMillennium,
	"millisecon": mMilli, "ms": mMilli, "msec": mMilli, "mseconds": mMilli, "msecs": mMilli,
	"mon": mMonth, "mons": mMonth, "month": mMonth, "months": mMonth,
	"s": mSecond, "sec": mSecond, "second": mSecond, "seconds": mSecond, "secs": mSecond,
	"w": mWeek, "week": mWeek, "weeks": mWeek,
	"y": mYear, "year": mYear, "years": mYear, "yr": mYear, "yrs": mYear,
}

// errBadFormat is DTERR_BAD_FORMAT: try ISO 8601 next.
type ivErr struct {
	bad bool // a bad format (else an overflow or unsupported)
	err *Error
}

// ivAcc is pg_itm_in: the sums as PostgreSQL keeps them while reading.
type ivAcc struct {
	us     int64
	days   int64
	months int64
}

func fits32(n int64) bool { return n >= math.MinInt32 && n <= math.MaxInt32 }

func (a *ivAcc) addDays(val, scale int64) bool {
	if !fits32(val) || !fits32(val*scale) || !fits32(a.days+val*scale) {
		return false
	}
	a.days += val * scale
	return true
}

func (a *ivAcc) addMonths(val int64) bool {
	if !fits32(val) || !fits32(a.months+val) {
		return false
	}
	a.months += val
	return true
}

func (a *ivAcc) addYears(val, scale int64) bool {
	if !fits32(val) || !fits32(val*scale) || !fits32(val*scale*12) {
		return false
	}
	return a.addMonths(val * scale * 12)
}

func (a *ivAcc) addFracYears(frac float64, scale int64) bool {
	return a.addMonths(int64(math.Round(frac * float64(scale) * 12)))
}

func (a *ivAcc) addFracDays(frac float64, scale int64) bool {
	if frac == 0 {
		return true
	}
	frac *= float64(scale)
	extra := int64(frac)
	if !fits32(a.days + extra) {
		return false
	}
	a.days += extra
	return addFracUsec(&a.us, frac-float64(extra), usecsPerDay)
}

func (a *ivAcc) addUsec(val int64, frac float64, scale int64) bool {
	p, ok := mulOK(val, scale)
	return ok && addOK(&a.us, p) && addFracUsec(&a.us, frac, scale)
}

func (d decoder) intervalText(in []byte) (value, error) {
	if bytes.IndexByte(in, 0) >= 0 {
		return nil, d.intervalSyntax()
	}
	v, e := d.intervalPostgres(in)
	if e != nil && e.bad {
		first := e
		if v, e = d.intervalISO(in); e != nil && e.bad && first.err.Unsupported {
			e = first
		}
	}
	if e != nil {
		return nil, e.err
	}
	return v, nil
}

func (d decoder) bad() *ivErr      { return &ivErr{bad: true, err: d.intervalSyntax()} }
func (d decoder) overflow() *ivErr { return &ivErr{err: d.intervalOverflow()} }

// ivFields is ParseDateTime's split of an interval's text.
func (d decoder) ivFields(in []byte) ([]ivField, *ivErr) {
	s := bytes.ToLower(in)
	var fs []ivField
	digitsAt := func(i int) bool { return i < len(s) && s[i] >= '0' && s[i] <= '9' }
	for i := 0; i < len(s); {
		c := s[i]
		start := i
		switch {
		case isSpace(c):
			i++
			continue
		case c >= '0' && c <= '9':
			for digitsAt(i) {
				i++
			}
			kind := fNumber
			if i < len(s) && s[i] == ':' {
				kind = fTime
				for i < len(s) && (digitsAt(i) || s[i] == ':' || s[i] == '.') {
					i++
				}
			} else if i < len(s) && (s[i] == '-' || s[i] == '/' || s[i] == '.') {
				delim := s[i]
				i++
				if !digitsAt(i) {
					// As ParseDateTime: a date field of letters and the
					// delimiter, which decodes only as "5." (5) or "5-"
					// (5 years).
					for i < len(s) && (isAlnum(s[i]) || s[i] == delim) {
						i++
					}
					fs = append(fs, ivField{fDate, string(s[start:i])})
					continue
				}
				kind = fDate
				if delim == '.' {
					kind = fNumber
				}
				for digitsAt(i) {
					i++
				}
				if i < len(s) && s[i] == delim {
					return nil, d.bad()
				}
			}
			fs = append(fs, ivField{kind, string(s[start:i])})
		case c == '.':
			i++
			for digitsAt(i) {
				i++
			}
			fs = append(fs, ivField{fNumber, string(s[start:i])})
		case c == '+' || c == '-':
			i++
			for i < len(s) && isSpace(s[i]) {
				i++
			}
			if !digitsAt(i) {
				return nil, d.bad()
			}
			sign := string(c)
			j := i
			for i < len(s) && (digitsAt(i) || s[i] == ':' || s[i] == '.' || s[i] == '-') {
				i++
			}
			fs = append(fs, ivField{fSigned, sign + string(s[j:i])})
		case c >= 'a' && c <= 'z':
			for i < len(s) && s[i] >= 'a' && s[i] <= 'z' {
				i++
			}
			if i < len(s) && (s[i] == '-' || s[i] == '/' || s[i] == '.' || s[i] == '+' || digitsAt(i)) {
				return nil, &ivErr{bad: true, err: d.unsupported("a word joined to what follows it")}
			}
			fs = append(fs, ivField{fWord, string(s[start:i])})
		case c < 0x80 && c > ' ' && c != 0x7f:
			i++ // other punctuation delimits
		default:
			return nil, d.bad()
		}
	}
	return fs, nil
}

func isAlnum(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}
