package guard

import (
	"bytes"
	"encoding/binary"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/phiguard/phiguard/internal/pgcollate"
	"github.com/phiguard/phiguard/internal/pgorder"
	"github.com/phiguard/phiguard/policy"
	"github.com/phiguard/phiguard/sqlrewrite"
)

func sortTestColumn(t *testing.T) *policy.ProtectedColumn {
	t.Helper()
	lt, err := policy.ParseType("integer")
	if err != nil {
		t.Fatal(err)
	}
	tbl := &policy.ProtectedTable{Name: policy.TableName{Schema: "public", Name: "t"}}
	return &policy.ProtectedColumn{Table: tbl, Name: "c", Type: lt}
}

func intKey(t *testing.T, s string) sortValue {
	lt, _ := policy.ParseType("integer")
	k, err := pgorder.Parse(lt, []byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return sortValue{key: k}
}

// TestCompareRowsNulls: PostgreSQL's defaults (NULLS LAST ascending,
// FIRST descending) and the explicit orders, then the next key.
func TestCompareRowsNulls(t *testing.T) {
	col := sortTestColumn(t)
	null := sortValue{null: true}
	one, two := intKey(t, "1"), intKey(t, "2")
	cases := []struct {
		key  sqlrewrite.SortKey
		a, b sortValue
		want int
	}{
		{sqlrewrite.SortKey{Column: col}, null, one, 1},
		{sqlrewrite.SortKey{Column: col}, one, null, -1},
		{sqlrewrite.SortKey{Column: col, Desc: true, NullsFirst: true}, null, one, -1},
		{sqlrewrite.SortKey{Column: col, NullsFirst: true}, one, null, 1},
		{sqlrewrite.SortKey{Column: col, Desc: true}, one, two, 1},
		{sqlrewrite.SortKey{Column: col}, one, two, -1},
		{sqlrewrite.SortKey{Column: col}, null, null, 0},
		{sqlrewrite.SortKey{}, sortValue{rank: 3}, sortValue{rank: 2}, 1},
	}
	for i, c := range cases {
		run := &sortRun{plan: &sqlrewrite.SortPlan{Keys: []sqlrewrite.SortKey{c.key}}}
		a, b := sortedRow{keys: []sortValue{c.a}}, sortedRow{keys: []sortValue{c.b}}
		if got := run.compareRows(&a, &b); got != c.want {
			t.Errorf("case %d: %d, want %d", i, got, c.want)
		}
	}
	// A tie on the first key goes to the second.
	run := &sortRun{plan: &sqlrewrite.SortPlan{Keys: []sqlrewrite.SortKey{{Column: col}, {}}}}
	a, b := sortedRow{keys: []sortValue{null, {rank: 1}}}, sortedRow{keys: []sortValue{null, {rank: 2}}}
	if got := run.compareRows(&a, &b); got != -1 {
		t.Errorf("tie then rank: %d", got)
	}
}

func TestExecuteLimit(t *testing.T) {
	body := func(n uint32) []byte { return binary.BigEndian.AppendUint32([]byte("p\x00"), n) }
	for _, c := range []struct {
		max, want uint32
	}{{0, 0}, {10, 10}, {1, 1}, {0xffffffff, 0} /* -1: all rows */} {
		n, out, pe := executeLimit(body(c.max))
		if pe != nil || n != c.want {
			t.Errorf("max_rows %d: %d, %v; want %d", c.max, n, pe, c.want)
			continue
		}
		if !bytes.Equal(out, body(0)) && c.max != 0xffffffff {
			t.Errorf("max_rows %d: sent %q, want no limit", c.max, out)
		}
	}
	if _, _, pe := executeLimit([]byte("p")); pe == nil || pe.Code != "08P01" {
		t.Errorf("malformed Execute: %v", pe)
	}
	if got := executeMessage(body(0)); !bytes.Equal(got, append([]byte{'E', 0, 0, 0, 10}, body(0)...)) {
		t.Errorf("executeMessage: %q", got)
	}
}

func TestSortConstruct(t *testing.T) {
	col := sortTestColumn(t)
	for _, c := range []struct {
		plan      *sqlrewrite.SortPlan
		construct string
	}{
		{&sqlrewrite.SortPlan{Keys: []sqlrewrite.SortKey{{Column: col}}}, "ORDER BY"},
		{&sqlrewrite.SortPlan{Filters: []sqlrewrite.Filter{{Column: col}}}, "WHERE"},
		{&sqlrewrite.SortPlan{Distinct: []sqlrewrite.SortKey{{Column: col}}}, "DISTINCT"},
		{&sqlrewrite.SortPlan{Distinct: []sqlrewrite.SortKey{{Column: col}}, Grouped: true}, "GROUP BY"},
		{&sqlrewrite.SortPlan{Aggregates: []sqlrewrite.Aggregate{{Column: col}}}, "an aggregate"},
	} {
		run := newSortRun(c.plan)
		if got := run.construct(); got != c.construct {
			t.Errorf("construct %q, want %q", got, c.construct)
		}
		if got := run.firstColumn(); got != "public.t.c" {
			t.Errorf("%s: first column %q", c.construct, got)
		}
	}
}

func TestHideSortColumns(t *testing.T) {
	rd := &pgproto3.RowDescription{Fields: []pgproto3.FieldDescription{{Name: []byte("id")}, {Name: []byte("k")}, {Name: []byte("r")}}}
	msg, _ := rd.Encode(nil)
	out, err := hideSortColumns(msg[5:], &sqlrewrite.SortPlan{Hidden: 2})
	if err != nil {
		t.Fatal(err)
	}
	var got pgproto3.RowDescription
	if err := got.Decode(out[5:]); err != nil || len(got.Fields) != 1 || string(got.Fields[0].Name) != "id" {
		t.Fatalf("%v %+v", err, got.Fields)
	}
	if _, err := hideSortColumns(msg[5:], &sqlrewrite.SortPlan{Hidden: 4}); err == nil {
		t.Error("fewer fields than hidden columns accepted")
	}
}

func TestSortBoundsAndCollations(t *testing.T) {
	col := sortTestColumn(t)
	run := newSortRun(&sqlrewrite.SortPlan{Limit: 0, Offset: 1, Keys: []sqlrewrite.SortKey{{Column: col, Collation: 2}}})
	if pe := run.readBounds([][]byte{[]byte("5"), nil}); pe != nil || run.limit != 5 || run.offset != -1 {
		t.Fatalf("bounds: %v %d %d", pe, run.limit, run.offset)
	}
	if pe := run.readBounds([][]byte{[]byte("-1"), nil}); pe == nil || pe.Code != "2201W" {
		t.Errorf("negative LIMIT: %v", pe)
	}
	other := "c:0.0:en_US.utf8"
	if _, err := pgcollate.Open("en_US.utf8"); err == nil {
		other = "c:" + pgcollate.Version() + ":en_US.utf8" // the server's C library is phiguard's
	}
	probes := map[string]bool{
		"c::C": true, "c::POSIX": true, other: other != "c:0.0:en_US.utf8",
		"c:0.0:en_US.utf8": false, // another C library's
		"c::no_SUCH.utf8":  false, // not installed here
		"i:153.14:und":     false, // ICU
		"c::c":             false, "c:C": false,
	}
	for probe, ok := range probes {
		pe := run.checkCollations([][]byte{nil, nil, []byte(probe)})
		if (pe == nil) != ok {
			t.Errorf("collation %s: %v", probe, pe)
		}
		if pe != nil && !strings.Contains(pe.Message, "public.t.c under collation") {
			t.Errorf("message %q", pe.Message)
		}
	}
	if pe := run.checkCollations([][]byte{nil, nil, nil}); pe == nil {
		t.Error("unknown collation accepted")
	}
}

// TestRowBodyRoundTrip: appendRowBody writes what pgproto3 writes, and
// decodeRowInto reads what pgproto3 reads (NULL, empty, bytes), and
// refuses a body that is cut short or runs on.
func TestRowBodyRoundTrip(t *testing.T) {
	for _, values := range [][][]byte{{}, {nil}, {{}}, {[]byte("a"), nil, {}, []byte("~phg~xyz")}} {
		want, err := (&pgproto3.DataRow{Values: values}).Encode(nil)
		if err != nil {
			t.Fatal(err)
		}
		body := appendRowBody([]byte{9}, values)[1:]
		if !bytes.Equal(body, want[5:]) {
			t.Fatalf("%q: body %x, pgproto3 %x", values, body, want[5:])
		}
		got, ok := decodeRowInto(make([][]byte, 0, 1), body)
		if !ok || len(got) != len(values) {
			t.Fatalf("%q: decoded %q %v", values, got, ok)
		}
		for i := range values {
			if (got[i] == nil) != (values[i] == nil) || !bytes.Equal(got[i], values[i]) {
				t.Errorf("%q: value %d is %q", values, i, got[i])
			}
		}
		if len(body) > 2 {
			if _, ok := decodeRowInto(nil, body[:len(body)-1]); ok {
				t.Errorf("%q: a body cut short was read", values)
			}
		}
		if _, ok := decodeRowInto(nil, append(slices.Clone(body), 0)); ok {
			t.Errorf("%q: a body running on was read", values)
		}
	}
}
