package pgvalue

import (
	"github.com/phiguard/phiguard/internal/pgerr"
	"strconv"
	"strings"
)

// intervalPostgres is DecodeInterval over ivFields, right to left.
func (d decoder) intervalPostgres(in []byte) (intervalValue, *ivErr) {
	fs, e := d.ivFields(in)
	if e != nil {
		return intervalValue{}, e
	}
	var a ivAcc
	fmask, typ := 0, 0 // typ: the unit mask a number takes; 0 is seconds
	before := false
	forceNeg := false
	if d.sqlStandard && len(fs) > 0 && strings.HasPrefix(fs[0].s, "-") {
		forceNeg = true
		for _, f := range fs[1:] {
			if f.s[0] == '-' || f.s[0] == '+' {
				forceNeg = false
			}
		}
	}
	for i := len(fs) - 1; i >= 0; i-- {
		f := fs[i]
		tmask := 0
		switch f.kind {
		case fWord:
			// PostgreSQL 15 lets a unit without a number go ("1 day
			// hour" is 1 day): the unit word only sets the unit.
			if f.s == "ago" {
				// PostgreSQL 15 takes ago anywhere, changing the unit of
				// the field before it; only a trailing one is read here.
				for _, g := range fs[i:] {
					if g.s != "ago" {
						return intervalValue{}, &ivErr{err: d.unsupported("ago before the last field")}
					}
				}
				before = true
				continue
			}
			w := f.s
			if len(w) > 10 {
				w = w[:10]
			}
			u, ok := intervalUnits[w]
			if !ok {
				return intervalValue{}, d.bad()
			}
			typ = u
			continue
		case fTime:
			us, e := d.ivTime(f.s)
			if e != nil {
				return intervalValue{}, e
			}
			if forceNeg && us > 0 {
				us = -us
			}
			a.us, tmask, typ = us, mTime, mDay
		case fSigned:
			if strings.IndexByte(f.s, ':') >= 0 {
				if us, e := d.ivTime(f.s[1:]); e == nil {
					if f.s[0] == '-' || forceNeg && us > 0 {
						us = -us
					}
					a.us, tmask, typ = us, mTime, mDay
					break
				}
			}
			fallthrough
		default:
			var e *ivErr
			if tmask, typ, e = d.ivNumber(&a, f, typ, forceNeg); e != nil {
				return intervalValue{}, e
			}
		}
		if tmask&fmask != 0 {
			return intervalValue{}, d.bad()
		}
		fmask |= tmask
	}
	if fmask == 0 {
		return intervalValue{}, d.bad()
	}
	if before {
		a.us, a.days, a.months = -a.us, -a.days, -a.months
	}
	return d.ivResult(a)
}

func (d decoder) ivResult(a ivAcc) (intervalValue, *ivErr) {
	if !fits32(a.days) || !fits32(a.months) {
		return intervalValue{}, &ivErr{err: d.coded(pgerr.DatetimeFieldOverflow, "interval out of range", "interval out of range")}
	}
	return intervalValue{us: a.us, days: int32(a.days), months: int32(a.months)}, nil
}

// ivNumber reads a number field with the unit typ (0: seconds) and adds
// it (negated under forceNeg); it returns the field's mask and the unit
// the next field takes.
func (d decoder) ivNumber(a *ivAcc, f ivField, typ int, forceNeg bool) (int, int, *ivErr) {
	s := f.s
	j := 0
	if j < len(s) && (s[j] == '+' || s[j] == '-') {
		j++
	}
	for j < len(s) && s[j] >= '0' && s[j] <= '9' {
		j++
	}
	var val int64
	if j > 0 && !(j == 1 && (s[0] == '+' || s[0] == '-')) {
		n, err := strconv.ParseInt(s[:j], 10, 64)
		if err != nil {
			return 0, 0, d.overflow()
		}
		val = n
	} else {
		j = 0
	}
	var frac float64
	rest := s[j:]
	switch {
	case strings.HasPrefix(rest, "-") && j > 0:
		m, err := 0, error(nil)
		if rest != "-" { // "5-" is 5 years: strtoint reads no digits as 0
			m, err = strconv.Atoi(rest[1:])
		}
		if err != nil || strings.ContainsAny(rest[1:], "+-") {
			return 0, 0, d.bad()
		}
		if m >= 12 {
			return 0, 0, d.overflow()
		}
		if s[0] == '-' {
			m = -m
		}
		p, ok := mulOK(val, 12)
		if !ok || !addOK(&p, int64(m)) {
			return 0, 0, d.overflow()
		}
		val, typ = p, mMonth
	case rest == ".":
		// "5." is 5: PostgreSQL's ParseFraction takes a lone point as
		// no fraction.
	case strings.HasPrefix(rest, "."):
		fr, err := strconv.ParseFloat(rest, 64)
		if err != nil || strings.ContainsAny(rest[1:], ".-:") {
			return 0, 0, d.bad()
		}
		frac = fr
		if s[0] == '-' {
			frac = -frac
		}
	case rest != "":
		return 0, 0, d.bad()
	}
	if forceNeg { // sql_standard: the leading minus applies to this field too
		if val > 0 {
			val = -val
		}
		if frac > 0 {
			frac = -frac
		}
	}
	ok := true
	tmask := typ
	next := typ
	switch typ {
	case mMicro:
		ok = a.addUsec(val, frac, 1)
	case mMilli:
		ok = a.addUsec(val, frac, 1000)
	case 0, mSecond:
		ok = a.addUsec(val, frac, usecsPerSec)
		tmask = mSecond
		if frac != 0 {
			tmask = mAllSecs
		}
	case mMinute:
		ok = a.addUsec(val, frac, 60*usecsPerSec)
	case mHour:
		ok = a.addUsec(val, frac, 3600*usecsPerSec)
		next = mDay
	case mDay:
		ok = a.addDays(val, 1) && addFracUsec(&a.us, frac, usecsPerDay)
	case mWeek:
		ok = a.addDays(val, 7) && a.addFracDays(frac, 7)
	case mMonth:
		ok = a.addMonths(val) && a.addFracDays(frac, 30)
	case mYear:
		ok = a.addYears(val, 1) && a.addFracYears(frac, 1)
	case mDecade:
		ok = a.addYears(val, 10) && a.addFracYears(frac, 10)
	case mCentury:
		ok = a.addYears(val, 100) && a.addFracYears(frac, 100)
	case mMillennium:
		ok = a.addYears(val, 1000) && a.addFracYears(frac, 1000)
	}
	if !ok {
		return 0, 0, d.overflow()
	}
	return tmask, next, nil
}

// ivTime is DecodeTimeForInterval: h:mm, h:mm:ss[.f], or mm:ss.f.
func (d decoder) ivTime(s string) (int64, *ivErr) {
	parts := strings.Split(s, ":")
	if len(parts) < 2 || len(parts) > 3 {
		return 0, d.bad()
	}
	num := func(p string) (int64, *ivErr) {
		if p == "" || strings.Trim(p, "0123456789") != "" {
			return 0, d.bad()
		}
		n, err := strconv.ParseInt(p, 10, 64)
		if err != nil {
			return 0, d.overflow()
		}
		return n, nil
	}
	secFrac := func(p string) (int64, int64, *ivErr) {
		whole, fr, hasFrac := strings.Cut(p, ".")
		n, e := num(whole)
		if e != nil {
			return 0, 0, e
		}
		if !hasFrac || fr == "" { // "01:02:03." is 01:02:03, as ParseFraction reads it
			return n, 0, nil
		}
		if strings.Trim(fr, "0123456789") != "" {
			return 0, 0, d.bad()
		}
		f, _ := strconv.ParseFloat("."+fr, 64)
		return n, int64(roundHalfEven(f * 1e6)), nil
	}
	h, e := num(parts[0])
	if e != nil {
		return 0, e
	}
	var m, sec, fsec int64
	if len(parts) == 2 {
		if strings.Contains(parts[1], ".") {
			// mm:ss.sss
			if sec, fsec, e = secFrac(parts[1]); e != nil {
				return 0, e
			}
			m, h = h, 0
		} else if m, e = num(parts[1]); e != nil {
			return 0, e
		}
	} else {
		if m, e = num(parts[1]); e != nil {
			return 0, e
		}
		if sec, fsec, e = secFrac(parts[2]); e != nil {
			return 0, e
		}
	}
	if m > 59 || sec > 60 || fsec > usecsPerSec {
		return 0, d.overflow()
	}
	us := fsec
	for _, p := range [][2]int64{{h, 3600 * usecsPerSec}, {m, 60 * usecsPerSec}, {sec, usecsPerSec}} {
		x, ok := mulOK(p[0], p[1])
		if !ok || !addOK(&us, x) {
			return 0, d.overflow()
		}
	}
	return us, nil
}

// roundHalfEven is rint.
func roundHalfEven(f float64) float64 {
	r := float64(int64(f))
	diff := f - r
	switch {
	case diff > 0.5 || diff == 0.5 && int64(r)%2 != 0:
		r++
	}
	return r
}

// intervalISO is DecodeISO8601Interval's format with designators.
func (d decoder) intervalISO(in []byte) (intervalValue, *ivErr) {
	s := string(in)
	if len(s) < 2 || s[0] != 'P' {
		return intervalValue{}, d.bad()
	}
	s = s[1:]
	var a ivAcc
	datePart := true
	for s != "" {
		if s[0] == 'T' {
			datePart = false
			s = s[1:]
			continue
		}
		c := s[0]
		if !(c >= '0' && c <= '9' || c == '-' || c == '.') {
			return intervalValue{}, d.bad()
		}
		j := 1
		for j < len(s) && (s[j] >= '0' && s[j] <= '9' || s[j] == '.') {
			j++
		}
		if j < len(s) && (s[j] == 'e' || s[j] == 'E') {
			return intervalValue{}, &ivErr{err: d.unsupported("an exponent in an ISO 8601 interval")}
		}
		v, err := strconv.ParseFloat(s[:j], 64)
		if err != nil {
			return intervalValue{}, d.bad()
		}
		if v < -1e15 || v > 1e15 {
			return intervalValue{}, d.overflow()
		}
		ip := float64(int64(v))
		val, frac := int64(ip), v-ip
		if j >= len(s) {
			return intervalValue{}, &ivErr{err: d.unsupported("the ISO 8601 alternative format")}
		}
		unit := s[j]
		s = s[j+1:]
		ok := true
		switch {
		case datePart && unit == 'Y':
			ok = a.addYears(val, 1) && a.addFracYears(frac, 1)
		case datePart && unit == 'M':
			ok = a.addMonths(val) && a.addFracDays(frac, 30)
		case datePart && unit == 'W':
			ok = a.addDays(val, 7) && a.addFracDays(frac, 7)
		case datePart && unit == 'D':
			ok = a.addDays(val, 1) && addFracUsec(&a.us, frac, usecsPerDay)
		case !datePart && unit == 'H':
			ok = a.addUsec(val, frac, 3600*usecsPerSec)
		case !datePart && unit == 'M':
			ok = a.addUsec(val, frac, 60*usecsPerSec)
		case !datePart && unit == 'S':
			ok = a.addUsec(val, frac, usecsPerSec)
		case unit == '-' || unit == ':' || unit == 'T':
			return intervalValue{}, &ivErr{err: d.unsupported("the ISO 8601 alternative format")}
		default:
			return intervalValue{}, d.bad()
		}
		if !ok {
			return intervalValue{}, d.overflow()
		}
	}
	return d.ivResult(a)
}
