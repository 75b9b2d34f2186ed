package pgvalue

import (
	"bytes"
	"strconv"
	"strings"
	"time"
)

// DateStyle is the session's DateStyle setting: the output style of
// dates and timestamps (ISO, SQL, Postgres or German) and the order in
// which an input's day, month and year fields are read (MDY, DMY or
// YMD). The zero value is PostgreSQL's default, ISO, MDY. Canonical text
// is always ISO; Present writes the session's style, and Canonical reads
// a date like 02/03/2024 in the session's order.
type DateStyle struct {
	Style string // "ISO", "SQL", "Postgres" or "German"; "" is ISO
	Order string // "MDY", "DMY" or "YMD"; "" is MDY
}

// ParseDateStyle reads a DateStyle as PostgreSQL reports it in
// ParameterStatus ("ISO, MDY", "SQL, DMY", "Postgres, YMD").
func ParseDateStyle(s string) (DateStyle, bool) {
	var ds DateStyle
	for _, part := range strings.Split(s, ",") {
		switch w := strings.ToUpper(strings.TrimSpace(part)); w {
		case "ISO", "SQL", "GERMAN":
			ds.Style = w
			if w == "GERMAN" {
				ds.Style = "German"
			}
		case "POSTGRES":
			ds.Style = "Postgres"
		case "MDY", "DMY", "YMD":
			ds.Order = w
		case "EURO", "EUROPEAN":
			ds.Order = "DMY"
		case "US", "NONEURO", "NONEUROPEAN":
			ds.Order = "MDY"
		default:
			return DateStyle{}, false
		}
	}
	return ds, true
}

func (ds DateStyle) iso() bool { return ds.Style == "" || ds.Style == "ISO" }
func (ds DateStyle) dmy() bool { return ds.Order == "DMY" }

// styled is a value whose text depends on DateStyle.
type styled interface {
	styledText(loc *time.Location, ds DateStyle) []byte
}

var monthNames = [...]string{"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"}
var dayNames = [...]string{"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"}

// styledText is EncodeDateOnly in the session's style.
func (v dateValue) styledText(loc *time.Location, ds DateStyle) []byte {
	if ds.iso() || v == dateNegInf || v == datePosInf {
		return v.text(loc)
	}
	y, m, d := j2date(int64(v) + postgresEpochJDate)
	b := appendStyledDate(make([]byte, 0, len("dd.mm.yyyy BC")), ds, y, m, d)
	if y <= 0 {
		b = append(b, " BC"...)
	}
	return b
}

// appendStyledDate writes a date the way SQL, German and Postgres
// styles write one alone.
func appendStyledDate(b []byte, ds DateStyle, y, m, d int64) []byte {
	first, second, sep := m, d, byte('/')
	if ds.dmy() {
		first, second = d, m
	}
	switch ds.Style {
	case "German":
		first, second, sep = d, m, '.'
	case "Postgres":
		sep = '-'
	}
	b = appendPad(b, first, 2)
	b = append(b, sep)
	b = appendPad(b, second, 2)
	b = append(b, sep)
	return appendPad(b, yearOf(y), 4)
}

func yearOf(y int64) int64 {
	if y <= 0 {
		return 1 - y
	}
	return y
}

// styledText is EncodeDateTime in the session's style; a timestamptz
// carries its zone's abbreviation (or its offset when it has none).
func (v tsValue) styledText(loc *time.Location, ds DateStyle) []byte {
	if ds.iso() || v.v == tsNegInf || v.v == tsPosInf {
		return v.text(loc)
	}
	t, off, abbr := v.v, 0, ""
	if v.tz {
		off = zoneOffsetAt(loc, t)
		abbr = zoneAbbrevAt(loc, t)
		t += int64(off) * usecsPerSec
	}
	days := floorDiv(t, usecsPerDay)
	us := t - days*usecsPerDay
	y, m, d := j2date(days + postgresEpochJDate)
	var b []byte
	if ds.Style == "Postgres" {
		b = appendPostgresDateTime(b, ds, days, y, m, d, us)
	} else {
		b = appendStyledDate(b, ds, y, m, d)
		b = append(b, ' ')
		b = appendClock(b, us)
	}
	if v.tz {
		b = append(b, ' ')
		if abbr != "" {
			b = append(b, abbr...)
		} else {
			b = appendOffset(b, off)
		}
	}
	if y <= 0 {
		b = append(b, " BC"...)
	}
	return b
}

// appendPostgresDateTime is the Postgres style: Sat Feb 03 10:00:00 2024
// (DMY: Sat 03 Feb ...).
func appendPostgresDateTime(b []byte, ds DateStyle, days, y, m, d, us int64) []byte {
	dow := (days + 6) % 7 // 2000-01-01 was a Saturday
	if dow < 0 {
		dow += 7
	}
	b = append(b, dayNames[dow]...)
	b = append(b, ' ')
	if ds.dmy() {
		b = appendPad(b, d, 2)
		b = append(b, ' ')
		b = append(b, monthNames[m-1]...)
	} else {
		b = append(b, monthNames[m-1]...)
		b = append(b, ' ')
		b = appendPad(b, d, 2)
	}
	b = append(b, ' ')
	b = appendClock(b, us)
	b = append(b, ' ')
	return appendPad(b, yearOf(y), 4)
}

// appendClock writes hh:mm:ss[.ffffff] of microseconds into a day.
func appendClock(b []byte, us int64) []byte {
	sec := us / usecsPerSec
	b = appendPad(b, sec/3600, 2)
	b = append(b, ':')
	b = appendPad(b, sec/60%60, 2)
	b = append(b, ':')
	b = appendPad(b, sec%60, 2)
	if frac := us % usecsPerSec; frac != 0 {
		f := []byte(strconv.FormatInt(frac+usecsPerSec, 10)[1:])
		b = append(b, '.')
		b = append(b, bytes.TrimRight(f, "0")...)
	}
	return b
}

// zoneAbbrevAt is loc's abbreviation at the instant t (microseconds
// since 2000-01-01 UTC), as the tz database names it.
func zoneAbbrevAt(loc *time.Location, t int64) string {
	unix := floorDiv(t, usecsPerSec) + (postgresEpochJDate-unixEpochJDate)*86400
	name, _ := time.Unix(unix, 0).In(loc).Zone()
	return name
}
