package pgvalue

import (
	"encoding/binary"
	"github.com/phiguard/phiguard/internal/pgerr"
	"math"
	"strconv"
	"time"
)

// intervalValue is an interval: months, days and microseconds, each kept
// apart as PostgreSQL keeps them.
type intervalValue struct {
	us     int64
	days   int32
	months int32
}

func (v intervalValue) binary() []byte {
	b := binary.BigEndian.AppendUint64(nil, uint64(v.us))
	b = binary.BigEndian.AppendUint32(b, uint32(v.days))
	return binary.BigEndian.AppendUint32(b, uint32(v.months))
}

// text is interval_out with IntervalStyle postgres, the canonical text.
func (v intervalValue) text(*time.Location) []byte { return v.styled("postgres") }

func (v intervalValue) sessionText(c Converter) []byte { return v.styled(c.IntervalStyle) }

// itm is interval2itm: the fields EncodeInterval prints.
type itm struct {
	year, mon      int64
	mday, hour     int64
	min, sec, fsec int64
}

func (v intervalValue) itm() itm {
	t := v.us
	f := itm{year: int64(v.months) / 12, mon: int64(v.months) % 12, mday: int64(v.days)}
	f.hour = t / 3600000000
	t -= f.hour * 3600000000
	f.min = t / 60000000
	t -= f.min * 60000000
	f.sec = t / usecsPerSec
	f.fsec = t - f.sec*usecsPerSec
	return f
}

func abs64(n int64) int64 {
	if n < 0 {
		return -n
	}
	return n
}

// appendSeconds is AppendSeconds with precision 6.
func appendSeconds(b []byte, sec, fsec int64, fill bool) []byte {
	if fill {
		b = appendPad(b, abs64(sec), 2)
	} else {
		b = strconv.AppendInt(b, abs64(sec), 10)
	}
	if fsec != 0 {
		f := strconv.FormatInt(abs64(fsec)+usecsPerSec, 10)[1:]
		for len(f) > 0 && f[len(f)-1] == '0' {
			f = f[:len(f)-1]
		}
		b = append(b, '.')
		b = append(b, f...)
	}
	return b
}

// styled is EncodeInterval of PostgreSQL 15.
func (v intervalValue) styled(style string) []byte {
	f := v.itm()
	switch style {
	case "sql_standard":
		return f.sqlStandard()
	case "iso_8601":
		return f.iso8601()
	case "postgres_verbose":
		return f.verbose()
	}
	return f.postgres()
}

func (f itm) postgres() []byte {
	var b []byte
	zero, before := true, false
	part := func(val int64, unit string) {
		if val == 0 {
			return
		}
		if !zero {
			b = append(b, ' ')
		}
		if before && val > 0 {
			b = append(b, '+')
		}
		b = strconv.AppendInt(b, val, 10)
		b = append(b, ' ')
		b = append(b, unit...)
		if val != 1 {
			b = append(b, 's')
		}
		before, zero = val < 0, false
	}
	part(f.year, "year")
	part(f.mon, "mon")
	part(f.mday, "day")
	if zero || f.hour != 0 || f.min != 0 || f.sec != 0 || f.fsec != 0 {
		minus := f.hour < 0 || f.min < 0 || f.sec < 0 || f.fsec < 0
		if !zero {
			b = append(b, ' ')
		}
		if minus {
			b = append(b, '-')
		} else if before {
			b = append(b, '+')
		}
		b = appendPad(b, abs64(f.hour), 2)
		b = append(b, ':')
		b = appendPad(b, abs64(f.min), 2)
		b = append(b, ':')
		b = appendSeconds(b, f.sec, f.fsec, true)
	}
	return b
}

func (f itm) verbose() []byte {
	b := []byte{'@'}
	zero, before := true, false
	part := func(val int64, unit string) {
		if val == 0 {
			return
		}
		if zero {
			before = val < 0
			val = abs64(val)
		} else if before {
			val = -val
		}
		b = append(b, ' ')
		b = strconv.AppendInt(b, val, 10)
		b = append(b, ' ')
		b = append(b, unit...)
		if val != 1 {
			b = append(b, 's')
		}
		zero = false
	}
	part(f.year, "year")
	part(f.mon, "mon")
	part(f.mday, "day")
	part(f.hour, "hour")
	part(f.min, "min")
	if f.sec != 0 || f.fsec != 0 {
		b = append(b, ' ')
		if f.sec < 0 || f.sec == 0 && f.fsec < 0 {
			if zero {
				before = true
			} else if !before {
				b = append(b, '-')
			}
		} else if before {
			b = append(b, '-')
		}
		b = appendSeconds(b, f.sec, f.fsec, false)
		b = append(b, " sec"...)
		if abs64(f.sec) != 1 || f.fsec != 0 {
			b = append(b, 's')
		}
		zero = false
	}
	if zero {
		b = append(b, " 0"...)
	}
	if before {
		b = append(b, " ago"...)
	}
	return b
}

func (f itm) sqlStandard() []byte {
	neg := f.year < 0 || f.mon < 0 || f.mday < 0 || f.hour < 0 || f.min < 0 || f.sec < 0 || f.fsec < 0
	pos := f.year > 0 || f.mon > 0 || f.mday > 0 || f.hour > 0 || f.min > 0 || f.sec > 0 || f.fsec > 0
	yearMonth := f.year != 0 || f.mon != 0
	dayTime := f.mday != 0 || f.hour != 0 || f.min != 0 || f.sec != 0 || f.fsec != 0
	standard := !(neg && pos) && !(yearMonth && dayTime)
	var b []byte
	if neg && standard {
		b = append(b, '-')
		f = itm{-f.year, -f.mon, -f.mday, -f.hour, -f.min, -f.sec, -f.fsec}
	}
	sign := func(n bool) byte {
		if n {
			return '-'
		}
		return '+'
	}
	switch {
	case !neg && !pos:
		return []byte("0")
	case !standard:
		b = append(b, sign(f.year < 0 || f.mon < 0))
		b = strconv.AppendInt(b, abs64(f.year), 10)
		b = append(b, '-')
		b = strconv.AppendInt(b, abs64(f.mon), 10)
		b = append(b, ' ', sign(f.mday < 0))
		b = strconv.AppendInt(b, abs64(f.mday), 10)
		b = append(b, ' ', sign(f.hour < 0 || f.min < 0 || f.sec < 0 || f.fsec < 0))
		b = strconv.AppendInt(b, abs64(f.hour), 10)
	case yearMonth:
		b = strconv.AppendInt(b, f.year, 10)
		b = append(b, '-')
		return strconv.AppendInt(b, f.mon, 10)
	case f.mday != 0:
		b = strconv.AppendInt(b, f.mday, 10)
		b = append(b, ' ')
		b = strconv.AppendInt(b, f.hour, 10)
	default:
		b = strconv.AppendInt(b, f.hour, 10)
	}
	b = append(b, ':')
	b = appendPad(b, abs64(f.min), 2)
	b = append(b, ':')
	return appendSeconds(b, f.sec, f.fsec, true)
}

func (f itm) iso8601() []byte {
	if f == (itm{}) {
		return []byte("PT0S")
	}
	b := []byte{'P'}
	part := func(val int64, unit byte) {
		if val != 0 {
			b = strconv.AppendInt(b, val, 10)
			b = append(b, unit)
		}
	}
	part(f.year, 'Y')
	part(f.mon, 'M')
	part(f.mday, 'D')
	if f.hour != 0 || f.min != 0 || f.sec != 0 || f.fsec != 0 {
		b = append(b, 'T')
	}
	part(f.hour, 'H')
	part(f.min, 'M')
	if f.sec != 0 || f.fsec != 0 {
		if f.sec < 0 || f.fsec < 0 {
			b = append(b, '-')
		}
		b = appendSeconds(b, f.sec, f.fsec, false)
		b = append(b, 'S')
	}
	return b
}

// intervalBinary follows interval_recv: any three fields. A value whose
// text PostgreSQL itself could not read back is refused (the cell holds
// text).
func (d decoder) intervalBinary(in []byte) (value, error) {
	if len(in) != 16 {
		return nil, d.coded(pgerr.InvalidBinaryRepresentation, "", "want 16 bytes, got %d", len(in))
	}
	v := intervalValue{us: int64(binary.BigEndian.Uint64(in)), days: int32(binary.BigEndian.Uint32(in[8:])),
		months: int32(binary.BigEndian.Uint32(in[12:]))}
	pd := d
	pd.sqlStandard = false
	back, err := pd.intervalText(v.text(nil))
	if err != nil || back != value(v) {
		return nil, d.unsupported("an interval whose text does not read back")
	}
	return v, nil
}

// intervalOverflow is 22015.
func (d decoder) intervalOverflow() *Error {
	return d.coded(pgerr.IntervalFieldOverflow, "", "interval field value out of range")
}

func (d decoder) intervalSyntax() *Error {
	return d.coded(pgerr.InvalidDatetimeFormat, "", "invalid input syntax for type interval")
}

// addFracUsec is AdjustFractMicroseconds.
func addFracUsec(acc *int64, frac float64, scale int64) bool {
	if frac == 0 {
		return true
	}
	frac *= float64(scale)
	us := int64(frac)
	frac -= float64(us)
	if frac > 0.5 {
		us++
	} else if frac < -0.5 {
		us--
	}
	return addOK(acc, us)
}

func addOK(acc *int64, n int64) bool {
	s := *acc + n
	if (n > 0 && s < *acc) || (n < 0 && s > *acc) {
		return false
	}
	*acc = s
	return true
}

func mulOK(a, b int64) (int64, bool) {
	if a == 0 || b == 0 {
		return 0, true
	}
	p := a * b
	if p/b != a || (a == -1 && b == math.MinInt64) || (b == -1 && a == math.MinInt64) {
		return 0, false
	}
	return p, true
}
