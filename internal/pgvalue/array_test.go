package pgvalue

import (
	"encoding/binary"
	"errors"
	"runtime"
	"testing"
	"time"
)

// arrayCases are array_in inputs with PostgreSQL 15's stored text (from
// psql), or the SQLSTATE it raises ("" from pgvalue is the proxy's
// 22P02).
var arrayCases = []struct {
	typ, in, want, code string
}{
	{"text[]", `{a,b}`, `{a,b}`, ""},
	{"text[]", `{"x y",NULL}`, `{"x y",NULL}`, ""},
	{"text[]", `{"NULL",null,""}`, `{"NULL",NULL,""}`, ""},
	{"text[]", `{ a b , "c\"d" , e\,f }`, `{"a b","c\"d","e,f"}`, ""},
	{"text[]", `{}`, `{}`, ""},
	{"text[]", ` { } `, `{}`, ""},
	{"text[]", `{{a,b},{c,d}}`, `{{a,b},{c,d}}`, ""},
	{"text[]", `{{a,b},{c}}`, "", "22P02"},
	{"text[]", `[0:1]={a,b}`, `[0:1]={a,b}`, ""},
	{"text[]", `[1:2]={a,b}`, `{a,b}`, ""},
	{"text[]", `[1:3]={a,b}`, "", "22P02"},
	{"text[]", `[2:1]={a,b}`, "", "2202E"},
	{"text[]", `{a,b}x`, "", "22P02"},
	{"text[]", `a,b`, "", "22P02"},
	{"text[]", `{{{{{{{a}}}}}}}`, "", "54000"},
	{"integer[]", `{1, 2 ,+3}`, `{1,2,3}`, ""},
	{"integer[]", `{1,x}`, "", "22P02"},
	{"integer[]", `{1,99999999999}`, "", "22003"},
	{"varchar(2)[]", `{ab,"c  "}`, `{ab,"c "}`, ""},
	{"varchar(2)[]", `{abc}`, "", "22001"},
	{"char(2)[]", `{a,NULL}`, `{"a ",NULL}`, ""},
	{"numeric(4,1)[]", `{1.25,-0.05}`, `{1.3,-0.1}`, ""},
	{"date[]", `{2024-02-29,"2024-03-01"}`, `{2024-02-29,2024-03-01}`, ""},
	{"timestamptz[]", `{"2024-02-29 10:00:00+02"}`, `{"2024-02-29 08:00:00+00"}`, ""},
	{"boolean[]", `{t,yes,off}`, `{t,t,f}`, ""},
	{"bytea[]", `{"\\x0102"}`, `{"\\x0102"}`, ""},
	{"jsonb[]", `{"{\"b\":1, \"a\":2}"}`, `{"{\"a\": 2, \"b\": 1}"}`, ""},
}

func TestArrayCanonical(t *testing.T) {
	for _, c := range arrayCases {
		typ := mustType(t, c.typ)
		got, err := Canonical(typ, FormatText, []byte(c.in))
		var ce *Error
		switch {
		case c.code != "" && (!errors.As(err, &ce) || string(ce.Code) != c.code && !(ce.Code == "" && c.code == "22P02")):
			t.Errorf("%s %q: want SQLSTATE %s, got %q, %v", c.typ, c.in, c.code, got, err)
		case c.code == "" && (err != nil || string(got) != c.want):
			t.Errorf("%s %q: want %q, got %q, %v", c.typ, c.in, c.want, got, err)
		}
	}
}

// TestArrayBinary: array_send of a two-dimensional text[] with a NULL
// and lower bounds 0 and 1 reads back as array_out's text, and Present
// sends it as it came.
func TestArrayBinary(t *testing.T) {
	typ := mustType(t, "text[]")
	b := binary.BigEndian.AppendUint32(nil, 2)
	for _, v := range []uint32{1, 25, 2, 0, 1, 1} { // flags, oid, dim 2 lb 0, dim 1 lb 1
		b = binary.BigEndian.AppendUint32(b, v)
	}
	b = binary.BigEndian.AppendUint32(b, 3)
	b = append(b, "a b"...)
	b = binary.BigEndian.AppendUint32(b, 0xffffffff)
	got, err := Canonical(typ, FormatBinary, b)
	if err != nil || string(got) != `[0:1][1:1]={{"a b"},{NULL}}` {
		t.Fatalf("Canonical = %q, %v", got, err)
	}
	back, err := Present(typ, FormatBinary, got)
	if err != nil || string(back) != string(b) {
		t.Fatalf("Present(binary) = % x, %v; want % x", back, err, b)
	}
	wrong := append([]byte(nil), b...)
	binary.BigEndian.PutUint32(wrong[8:], 23)
	var ce *Error
	if _, err := Canonical(typ, FormatBinary, wrong); !errors.As(err, &ce) || ce.Code != "42804" {
		t.Fatalf("element type int4 in a text[]: %v, want 42804", err)
	}
}

// TestArrayPresentInSession: elements are printed in the session's
// settings, as array_out calls each element's output function.
func TestArrayPresentInSession(t *testing.T) {
	typ := mustType(t, "timestamptz[]")
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Skip("no tz database")
	}
	c := Converter{TimeZone: paris}
	got, err := c.Present(typ, FormatText, []byte(`{"2024-07-01 10:00:00+00",NULL}`))
	if err != nil || string(got) != `{"2024-07-01 12:00:00+02",NULL}` {
		t.Fatalf("Present = %q, %v", got, err)
	}
	ds, _ := ParseDateStyle("SQL, DMY")
	c = Converter{DateStyle: ds}
	got, err = c.Present(mustType(t, "date[]"), FormatText, []byte(`{2024-07-01}`))
	if err != nil || string(got) != `{01/07/2024}` {
		t.Fatalf("Present(date[], SQL DMY) = %q, %v", got, err)
	}
}

// TestArrayBinaryHugeHeader: a header that claims 16M elements with no
// data behind them is refused without allocating for them (400 MB for
// the elements' slots alone).
func TestArrayBinaryHugeHeader(t *testing.T) {
	b := binary.BigEndian.AppendUint32(nil, 2)
	for _, v := range []uint32{0, 23, 1 << 12, 1, 1 << 12, 1} {
		b = binary.BigEndian.AppendUint32(b, v)
	}
	typ := mustType(t, "integer[]")
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := Canonical(typ, FormatBinary, b)
	runtime.ReadMemStats(&after)
	if err == nil {
		t.Fatal("accepted")
	}
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 1<<20 {
		t.Fatalf("allocated %d bytes", grew)
	}
}
