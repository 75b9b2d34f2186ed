package pgvalue

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/phiguard/phiguard/policy"
)

func mustType(t testing.TB, s string) policy.LogicalType {
	t.Helper()
	lt, err := policy.ParseType(s)
	if err != nil {
		t.Fatalf("ParseType(%q): %v", s, err)
	}
	return lt
}

// canonicalCases: text input and its canonical text ("" with err set for
// an error; unsupported marks input PostgreSQL accepts but we refuse).
var canonicalCases = []struct {
	typ, in, want    string
	err, unsupported bool
}{
	{typ: "text", in: " Hello, wörld ", want: " Hello, wörld "},
	{typ: "text", in: "", want: ""},
	{typ: "text", in: "a\x00b", err: true},
	{typ: "text", in: "\xff", err: true},
	{typ: "varchar(3)", in: "abc", want: "abc"},
	{typ: "varchar(3)", in: "äöü", want: "äöü"},
	{typ: "varchar(3)", in: "abc   ", want: "abc"},
	{typ: "varchar(3)", in: "abcd", err: true},
	{typ: "varchar(3)", in: "abc\t", err: true},
	{typ: "varchar", in: "anything long", want: "anything long"},

	{typ: "smallint", in: " 42 ", want: "42"},
	{typ: "smallint", in: "-32768", want: "-32768"},
	{typ: "smallint", in: "32768", err: true},
	{typ: "smallint", in: "+7", want: "7"},
	{typ: "integer", in: "-0", want: "0"},
	{typ: "integer", in: "007", want: "7"},
	{typ: "integer", in: "2147483648", err: true},
	{typ: "integer", in: "1.0", err: true},
	{typ: "integer", in: "", err: true},
	{typ: "integer", in: "-", err: true},
	{typ: "integer", in: "1 2", err: true},
	{typ: "bigint", in: "-9223372036854775808", want: "-9223372036854775808"},
	{typ: "bigint", in: "9223372036854775807", want: "9223372036854775807"},
	{typ: "bigint", in: "9223372036854775808", err: true},
	{typ: "bigint", in: "-9223372036854775809", err: true},

	{typ: "boolean", in: "yes", want: "t"},
	{typ: "boolean", in: " ON ", want: "t"},
	{typ: "boolean", in: "t", want: "t"},
	{typ: "boolean", in: "TRU", want: "t"},
	{typ: "boolean", in: "1", want: "t"},
	{typ: "boolean", in: "of", want: "f"},
	{typ: "boolean", in: "n", want: "f"},
	{typ: "boolean", in: "0", want: "f"},
	{typ: "boolean", in: "o", err: true},
	{typ: "boolean", in: "truee", err: true},
	{typ: "boolean", in: "10", err: true},
	{typ: "boolean", in: "", err: true},

	{typ: "numeric", in: " 1.50 ", want: "1.50"},
	{typ: "numeric", in: "-0.00", want: "0.00"},
	{typ: "numeric", in: ".5", want: "0.5"},
	{typ: "numeric", in: "5.", want: "5"},
	{typ: "numeric", in: "1.5e3", want: "1500"},
	{typ: "numeric", in: "1.5E-3", want: "0.0015"},
	{typ: "numeric", in: "12e-1", want: "1.2"},
	{typ: "numeric", in: "nan", want: "NaN"},
	{typ: "numeric", in: "-inf", want: "-Infinity"},
	{typ: "numeric", in: "Infinity", want: "Infinity"},
	{typ: "numeric", in: "1..2", err: true},
	{typ: "numeric", in: ".", err: true},
	{typ: "numeric", in: "1e", err: true},
	{typ: "numeric", in: "abc", err: true},
	{typ: "numeric(14,2)", in: "1.005", want: "1.01"},
	{typ: "numeric(14,2)", in: "-1.005", want: "-1.01"},
	{typ: "numeric(14,2)", in: "1.004", want: "1.00"},
	{typ: "numeric(14,2)", in: "7", want: "7.00"},
	{typ: "numeric(14,2)", in: "-0.001", want: "0.00"},
	{typ: "numeric(4,2)", in: "99.994", want: "99.99"},
	{typ: "numeric(4,2)", in: "99.995", err: true},
	{typ: "numeric(4,2)", in: "NaN", want: "NaN"},
	{typ: "numeric(4,2)", in: "Infinity", err: true},
	{typ: "numeric(3)", in: "999.5", err: true},
	{typ: "numeric(3)", in: "123.5", want: "124"},
	{typ: "numeric(3)", in: "123.4", want: "123"},

	{typ: "date", in: "2020-01-05", want: "2020-01-05"},
	{typ: "date", in: " 2020-1-5 ", want: "2020-01-05"},
	{typ: "date", in: "20200105", want: "2020-01-05"},
	{typ: "date", in: "2020-01-05 10:00:00", want: "2020-01-05"},
	{typ: "date", in: "2020-01-05T23:59:59.999+05", want: "2020-01-05"},
	{typ: "date", in: "0044-03-15 BC", want: "0044-03-15 BC"},
	{typ: "date", in: "0001-01-01 ad", want: "0001-01-01"},
	{typ: "date", in: "4714-11-24 BC", want: "4714-11-24 BC"},
	{typ: "date", in: "4714-11-23 BC", err: true},
	{typ: "date", in: "5874897-12-31", want: "5874897-12-31"},
	{typ: "date", in: "5874898-01-01", err: true},
	{typ: "date", in: "2020-02-30", err: true},
	{typ: "date", in: "2000-02-29", want: "2000-02-29"},
	{typ: "date", in: "1900-02-29", err: true},
	{typ: "date", in: "0000-01-01", err: true},
	{typ: "date", in: "infinity", want: "infinity"},
	{typ: "date", in: "+Infinity", err: true},
	{typ: "date", in: "-infinity", want: "-infinity"},
	{typ: "date", in: "epoch", want: "1970-01-01"},
	{typ: "date", in: "today", err: true, unsupported: true},
	{typ: "date", in: "01/05/2020", want: "2020-01-05"}, // DateStyle's default order, MDY (datestyle_test.go has the others)
	{typ: "date", in: "1/5/20", want: "2020-01-05"},
	{typ: "date", in: "01/05/020", err: true, unsupported: true},
	{typ: "date", in: "Jan 5 2020", err: true, unsupported: true},
	{typ: "date", in: "20-01-05", err: true, unsupported: true},
	{typ: "date", in: "", err: true},

	{typ: "timestamp", in: "2020-01-05 10:00", want: "2020-01-05 10:00:00"},
	{typ: "timestamp", in: "2020-01-05T10:00:00.500", want: "2020-01-05 10:00:00.5"},
	{typ: "timestamp", in: "2020-01-05", want: "2020-01-05 00:00:00"},
	{typ: "timestamp", in: "2020-01-05 10:00:00+02", want: "2020-01-05 10:00:00"},
	{typ: "timestamp", in: "2020-01-05 24:00:00", want: "2020-01-06 00:00:00"},
	{typ: "timestamp", in: "2020-12-31 23:59:60", want: "2021-01-01 00:00:00"},
	{typ: "timestamp", in: "2020-01-05 24:00:01", err: true},
	{typ: "timestamp", in: "2020-01-05 23:59:60.5", err: true},
	{typ: "date", in: "2020-01-05 23:59:60.5", err: true},
	{typ: "timestamp", in: "2020-01-05 10:59:60.5", want: "2020-01-05 11:00:00.5"},
	{typ: "timestamp", in: "2020-01-05 10:60:00", err: true},
	{typ: "timestamp", in: "2020-01-05 10:00:00.1234565", want: "2020-01-05 10:00:00.123456"},
	{typ: "timestamp", in: "2020-01-05 10:00:00.9999999", want: "2020-01-05 10:00:01"},
	{typ: "timestamp", in: "0044-03-15 12:00 BC", want: "0044-03-15 12:00:00 BC"},
	{typ: "timestamp", in: "294276-12-31 23:59:59.999999", want: "294276-12-31 23:59:59.999999"},
	{typ: "timestamp", in: "294277-01-01 00:00:00", err: true},
	{typ: "timestamp", in: "-infinity", want: "-infinity"},
	{typ: "timestamp", in: "2020-01-05 10:00 Europe/Berlin", err: true, unsupported: true},
	{typ: "timestamp(0)", in: "2020-01-05 10:00:00.5", want: "2020-01-05 10:00:01"},
	{typ: "timestamp(0)", in: "1999-12-31 23:59:58.5", want: "1999-12-31 23:59:58"},
	{typ: "timestamp(2)", in: "2020-01-05 10:00:00.125", want: "2020-01-05 10:00:00.13"},

	{typ: "timestamptz", in: "2020-01-05 10:00:00", want: "2020-01-05 10:00:00+00"},
	{typ: "timestamptz", in: "2020-01-05 12:00:00+02", want: "2020-01-05 10:00:00+00"},
	{typ: "timestamptz", in: "2020-01-05 12:00:00 +0200", want: "2020-01-05 10:00:00+00"},
	{typ: "timestamptz", in: "2020-01-05 04:30:00-05:30", want: "2020-01-05 10:00:00+00"},
	{typ: "timestamptz", in: "2020-01-05T10:00:00Z", want: "2020-01-05 10:00:00+00"},
	{typ: "timestamptz", in: "2020-01-05 10:00:00 UTC", want: "2020-01-05 10:00:00+00"},
	{typ: "timestamptz", in: "2020-01-05 01:00:00-15", want: "2020-01-05 16:00:00+00"},
	{typ: "timestamptz", in: "2020-01-05 01:00:00-16", err: true},
	{typ: "timestamptz", in: "0001-01-01 00:30:00+01 BC", want: "0002-12-31 23:30:00+00 BC"},
	{typ: "timestamptz", in: "epoch", want: "1970-01-01 00:00:00+00"},
	{typ: "timestamptz", in: "infinity", want: "infinity"},
	{typ: "timestamptz", in: "2020-01-05 10:00 PST", err: true, unsupported: true},
}

func TestCanonicalText(t *testing.T) {
	for _, c := range canonicalCases {
		typ := mustType(t, c.typ)
		got, err := Canonical(typ, FormatText, []byte(c.in))
		if c.err {
			var e *Error
			if err == nil {
				t.Errorf("Canonical(%s, %q) = %q, want an error", c.typ, c.in, got)
			} else if !errors.As(err, &e) || e.Unsupported != c.unsupported {
				t.Errorf("Canonical(%s, %q): error %v, want unsupported=%v", c.typ, c.in, err, c.unsupported)
			}
			continue
		}
		if err != nil || string(got) != c.want {
			t.Errorf("Canonical(%s, %q) = %q, %v; want %q", c.typ, c.in, got, err, c.want)
			continue
		}
		// Canonical is idempotent, Present in text is the canonical text,
		// and binary round trips.
		again, err := Canonical(typ, FormatText, got)
		if err != nil || !bytes.Equal(again, got) {
			t.Errorf("Canonical(%s, Canonical(%q)) = %q, %v; want %q", c.typ, c.in, again, err, got)
		}
		txt, err := Present(typ, FormatText, got)
		if err != nil || !bytes.Equal(txt, got) {
			t.Errorf("Present(%s, text, %q) = %q, %v", c.typ, got, txt, err)
		}
		bin, err := Present(typ, FormatBinary, got)
		if err != nil {
			t.Errorf("Present(%s, binary, %q): %v", c.typ, got, err)
			continue
		}
		back, err := Canonical(typ, FormatBinary, bin)
		if err != nil || !bytes.Equal(back, got) {
			t.Errorf("Canonical(%s, binary, Present(%q)) = %q, %v", c.typ, got, back, err)
		}
	}
}

func TestErrorsDoNotLeakValues(t *testing.T) {
	for _, c := range canonicalCases {
		if !c.err || len(c.in) < 3 {
			continue
		}
		_, err := Canonical(mustType(t, c.typ), FormatText, []byte(c.in))
		if err != nil && bytes.Contains([]byte(err.Error()), []byte(c.in)) {
			t.Errorf("error for %s names the value: %v", c.typ, err)
		}
	}
}

var binaryCases = []struct {
	typ  string
	in   []byte
	want string // "" for an error
}{
	{"smallint", []byte{0xff, 0xfe}, "-2"},
	{"smallint", []byte{0, 0, 1}, ""},
	{"integer", []byte{0, 0, 1, 0}, "256"},
	{"bigint", []byte{0x80, 0, 0, 0, 0, 0, 0, 0}, "-9223372036854775808"},
	{"boolean", []byte{2}, "t"},
	{"boolean", []byte{0}, "f"},
	{"boolean", []byte{}, ""},
	{"text", []byte("plain"), "plain"},
	{"varchar(2)", []byte("abc"), ""},
	{"date", []byte{0, 0, 0, 4}, "2000-01-05"},
	{"date", []byte{0x7f, 0xff, 0xff, 0xff}, "infinity"},
	{"date", []byte{0x80, 0, 0, 0}, "-infinity"},
	{"date", []byte{0x80, 0, 0, 1}, ""},
	{"timestamp", []byte{0, 0, 0, 0, 0, 0, 0, 1}, "2000-01-01 00:00:00.000001"},
	{"timestamp(0)", []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xf8, 0x5e, 0xe0}, "1999-12-31 23:59:59"}, // -500000µs
	{"timestamptz", []byte{0, 0, 0, 0, 0, 0, 0, 0}, "2000-01-01 00:00:00+00"},
	{"timestamptz", []byte{0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, "infinity"},
	{"timestamptz", []byte{0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe}, ""},
	// numeric: 1 digit 1234, weight 0, positive, dscale 0 -> 1234
	{"numeric", []byte{0, 1, 0, 0, 0, 0, 0, 0, 0x04, 0xd2}, "1234"},
	// 12.34 with dscale 1: truncated to 12.3
	{"numeric", []byte{0, 2, 0, 0, 0x40, 0, 0, 1, 0, 12, 0x0d, 0x48}, "-12.3"},
	// weight -1: 0.1234 with dscale 6
	{"numeric", []byte{0, 1, 0xff, 0xff, 0, 0, 0, 6, 0x04, 0xd2}, "0.123400"},
	{"numeric", []byte{0, 0, 0, 0, 0xc0, 0, 0, 0}, "NaN"},
	{"numeric", []byte{0, 0, 0, 0, 0xd0, 0, 0, 0}, "Infinity"},
	{"numeric", []byte{0, 0, 0, 0, 0x12, 0, 0, 0}, ""},               // bad sign
	{"numeric", []byte{0, 1, 0, 0, 0, 0, 0, 0, 0x27, 0x10}, ""},      // digit 10000
	{"numeric", []byte{0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0}, ""},         // trailing byte
	{"numeric(3,1)", []byte{0, 1, 0, 0, 0, 0, 0, 0, 0x04, 0xd2}, ""}, // overflow
}

func TestCanonicalBinary(t *testing.T) {
	for _, c := range binaryCases {
		got, err := Canonical(mustType(t, c.typ), FormatBinary, c.in)
		if c.want == "" {
			if err == nil {
				t.Errorf("Canonical(%s, binary % x) = %q, want an error", c.typ, c.in, got)
			}
			continue
		}
		if err != nil || string(got) != c.want {
			t.Errorf("Canonical(%s, binary % x) = %q, %v; want %q", c.typ, c.in, got, err, c.want)
		}
	}
}

func TestNumericBinaryLayout(t *testing.T) {
	typ := mustType(t, "numeric")
	for in, want := range map[string][]byte{
		"0":         {0, 0, 0, 0, 0, 0, 0, 0},
		"0.00":      {0, 0, 0, 0, 0, 0, 0, 2},
		"10000":     {0, 1, 0, 1, 0, 0, 0, 0, 0, 1},
		"-0.0001":   {0, 1, 0xff, 0xff, 0x40, 0, 0, 4, 0, 1},
		"12345.678": {0, 3, 0, 1, 0, 0, 0, 3, 0, 1, 0x09, 0x29, 0x1a, 0x7c},
	} {
		got, err := Present(typ, FormatBinary, []byte(in))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("Present(numeric, binary, %s) = % x, %v; want % x", in, got, err, want)
		}
	}
}

func TestConverterTimeZone(t *testing.T) {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Skip("no tzdata:", err)
	}
	c := Converter{TimeZone: ny}
	tz := mustType(t, "timestamptz")
	for in, want := range map[string]string{
		"2020-01-05 05:00:00":       "2020-01-05 10:00:00+00",
		"2020-07-05 06:00:00":       "2020-07-05 10:00:00+00",
		"2020-07-05 06:00:00+00":    "2020-07-05 06:00:00+00",
		"2020-11-01 01:30:00":       "2020-11-01 06:30:00+00", // ambiguous: the later, standard offset
		"2020-03-08 02:30:00":       "2020-03-08 07:30:00+00", // skipped: the offset before
		"2020-01-05 05:00:00-05:00": "2020-01-05 10:00:00+00",
	} {
		got, err := c.Canonical(tz, FormatText, []byte(in))
		if err != nil || string(got) != want {
			t.Errorf("Canonical in New York (%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	got, err := c.Present(tz, FormatText, []byte("2020-07-05 10:00:00+00"))
	if err != nil || string(got) != "2020-07-05 06:00:00-04" {
		t.Errorf("Present in New York = %q, %v", got, err)
	}
	if _, err := Canonical(tz, 2, []byte("x")); err == nil {
		t.Error("format 2 accepted")
	}
}
