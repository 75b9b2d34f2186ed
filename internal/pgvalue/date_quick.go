package pgvalue

import "encoding/binary"

// The sorted and filtered reads of a date column (ORDER BY birthdate,
// BETWEEN) present and order every candidate row's date; through the
// general decoder each cost a boxed value and a fresh buffer or two
// (BENCHMARKS.md, stop 27). An ordinary date's canonical text is already
// what ISO style writes, and its day number is a few digits away, so
// these read it directly and leave anything else to the decoder.

// DateDays is the day number (days from 2000-01-01, DateADT) of an
// ordinary date's canonical text: yyyy-mm-dd with a year from 1 to 9999
// and a day its month has. ok is false for any other text (BC, the
// infinities, a five-digit year, text that is not canonical); the
// general decoder reads those, and reports what is wrong with them.
func DateDays(canonical []byte) (days int32, ok bool) {
	if len(canonical) != len("yyyy-mm-dd") || canonical[4] != '-' || canonical[7] != '-' {
		return 0, false
	}
	y, ok1 := digits(canonical[0:4])
	m, ok2 := digits(canonical[5:7])
	d, ok3 := digits(canonical[8:10])
	if !ok1 || !ok2 || !ok3 || y < 1 || m < 1 || m > 12 || d < 1 || d > daysIn(y, m) {
		return 0, false
	}
	return int32(date2j(y, m, d) - postgresEpochJDate), true
}

// digits reads decimal digits only.
func digits(b []byte) (int64, bool) {
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// presentDate is present's answer for an ordinary date when it needs no
// decoding: the canonical text itself under ISO style, the day number in
// binary. ok is false when the decoder must do it.
func (c Converter) presentDate(format int16, canonical []byte) (out []byte, ok bool) {
	days, ok := DateDays(canonical)
	switch {
	case !ok:
		return nil, false
	case format == FormatBinary:
		return binary.BigEndian.AppendUint32(make([]byte, 0, 4), uint32(days)), true
	case c.DateStyle.iso():
		return append(make([]byte, 0, len(canonical)), canonical...), true
	}
	return nil, false
}
