package pgvalue

import (
	"bytes"
	"testing"
)

var fuzzTypes = []string{
	"text", "varchar(5)", "smallint", "integer", "bigint", "boolean",
	"numeric", "numeric(14,2)", "numeric(4,2)", "date",
	"timestamp", "timestamp(0)", "timestamptz", "timestamptz(3)",
	"uuid", "char(3)", "real", "double precision", "time", "time(2)", "timetz", "interval",
	"bytea", "json", "jsonb",
	"text[]", "varchar(3)[]", "integer[]", "numeric(4,2)[]", "date[]", "timestamptz[]", "bytea[]", "jsonb[]",
}

// FuzzCanonical: Canonical never panics; when it succeeds its result is a
// fixed point (Canonical of it in text is itself) and Present in either
// format converts back to it.
func FuzzCanonical(f *testing.F) {
	for i, c := range canonicalCases {
		f.Add(uint8(i), int16(0), []byte(c.in))
	}
	for i, c := range binaryCases {
		f.Add(uint8(i), int16(1), c.in)
	}
	for _, c := range arrayCases {
		for i, name := range fuzzTypes {
			if name == c.typ {
				f.Add(uint8(i), int16(0), []byte(c.in))
			}
		}
	}
	f.Fuzz(func(t *testing.T, ti uint8, format int16, in []byte) {
		typ := mustType(t, fuzzTypes[int(ti)%len(fuzzTypes)])
		got, err := Canonical(typ, format, in)
		if err != nil {
			return
		}
		again, err := Canonical(typ, FormatText, got)
		if err != nil || !bytes.Equal(again, got) {
			t.Fatalf("%s: Canonical(%q) = %q, but Canonical of that = %q, %v", typ, in, got, again, err)
		}
		for f := FormatText; f <= FormatBinary; f++ {
			wire, err := Present(typ, f, got)
			if err != nil {
				t.Fatalf("%s: Present(%d, %q): %v", typ, f, got, err)
			}
			back, err := Canonical(typ, f, wire)
			if err != nil || !bytes.Equal(back, got) {
				t.Fatalf("%s: Canonical(%d, Present(%q)) = %q, %v", typ, f, got, back, err)
			}
		}
	})
}
