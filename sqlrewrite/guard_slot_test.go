package sqlrewrite

import (
	"strings"
	"testing"

	pg_query "github.com/pganalyze/pg_query_go/v5"

	"github.com/phiguard/phiguard/policy"
)

// privOrder is patients (id int, note text, ssn, first) with a role that
// may not insert ssn and first, and params as the Parse's types.
func privOrder(params func(int) uint32) func(policy.TableName) ColumnOrder {
	return func(tn policy.TableName) ColumnOrder {
		return ColumnOrder{Table: tn, OID: 16384, Columns: []OrderedColumn{{1, "id"}, {2, "note"}, {3, "ssn"}, {4, "first"}},
			Types: map[string]ColumnType{"id": {Type: "integer", OID: 23}, "note": {Type: "text", OID: 25},
				"ssn": {Type: "text", OID: 25, NoInsert: true}, "first": {Type: "text", OID: 25, NoInsert: true}},
			Params: params}
	}
}

// TestGuardsLeaveUninsertable: an encrypted column the role may not
// insert is never appended; the checks go into a value whose type the
// column gives it, their raises cast to that type, and the default
// guard's first refuses outside READ COMMITTED. Both guards may share a
// value. Without such a value, neither can be placed.
func TestGuardsLeaveUninsertable(t *testing.T) {
	pol := testPolicy(t)
	tbl, _ := pol.Table("public", "patients")
	ssn, _ := tbl.Column("ssn")
	first, _ := tbl.Column("first")
	cols := []*policy.ProtectedColumn{ssn, first}
	untyped := func(int) uint32 { return 0 }
	for _, c := range []struct {
		in     string
		params func(int) uint32
		slot   string // the value that carries the checks, cast
	}{
		{"INSERT INTO patients (id, note) VALUES (1, 'x'), (2, 'y')", nil, "THEN 'x' ELSE pg_catalog.current_setting('phiguard_default_added:public.patients')::text END"},
		{"INSERT INTO patients (id, note) VALUES ('1', 2)", nil, "THEN '1' ELSE pg_catalog.current_setting('phiguard_default_added:public.patients')::integer END"},
		{"INSERT INTO patients (id, note) VALUES (1, NULL)", nil, "THEN NULL ELSE"},
		// An encrypted column listed carries it, as text.
		{"INSERT INTO patients (id, ssn) VALUES (1, '~phg~c1')", nil, "THEN '~phg~c1' ELSE pg_catalog.current_setting('phiguard_default_added:public.patients') END"},
		{"INSERT INTO patients (id, note) VALUES ($1, $2)", untyped, "THEN $1 ELSE pg_catalog.current_setting('phiguard_default_added:public.patients')::integer END"},
		{"INSERT INTO patients (id, note) VALUES ($1, $2)", func(n int) uint32 { return map[int]uint32{1: 20, 2: 25}[n] }, "THEN $2 ELSE pg_catalog.current_setting('phiguard_default_added:public.patients')::text END"},
	} {
		out, ok := GuardNoDefaults(c.in, pol, cols, privOrder(c.params))
		if !ok {
			t.Errorf("%s: no guard", c.in)
			continue
		}
		if strings.Contains(out, "note, ssn") || strings.Contains(out, ", first)") {
			t.Errorf("%s: a column the role may not insert was appended:\n%s", c.in, out)
		}
		if !strings.Contains(out, c.slot) || !strings.Contains(out, "CASE WHEN pg_catalog.current_setting('transaction_isolation') <> 'read committed' THEN pg_catalog.current_setting('phiguard_default_unchecked:public.patients')") {
			t.Errorf("%s: guarded as\n%s", c.in, out)
		}
		if _, err := pg_query.Parse(out); err != nil {
			t.Errorf("%s: does not parse: %v\n%s", c.in, err, out)
		}
	}
	for _, c := range []struct {
		in     string
		params func(int) uint32
	}{
		{"INSERT INTO patients (id) VALUES (1)", nil},                   // a typed constant
		{"INSERT INTO patients (id, note) VALUES (1, 'x' || 'y')", nil}, // an expression
		{"INSERT INTO patients (id, note) VALUES ($1, $2)", nil},        // parameter types not known
		{"INSERT INTO patients (id, note) VALUES ($1, $2)", func(int) uint32 { return 20 }},
	} {
		if out, ok := GuardNoDefaults(c.in, pol, cols, privOrder(c.params)); ok || out != "" {
			t.Errorf("%s: guarded with no value to carry the check: %v\n%s", c.in, ok, out)
		}
	}
	// Both guards: the column guard's CASE is a value the default guard
	// wraps in turn; no column is appended.
	filled := "INSERT INTO patients (id, note) VALUES (1, 'x')"
	out, ok := GuardColumnOrder(filled, pol, privOrder(nil))
	if !ok || !strings.Contains(out, "ELSE pg_catalog.current_setting('phiguard_columns_changed:public.patients')::text END") || strings.Contains(out, "(id, note, ") {
		t.Fatalf("column guard: %v\n%s", ok, out)
	}
	out, ok = GuardNoDefaults(out, pol, cols, privOrder(nil))
	if !ok || !strings.Contains(out, "phiguard_columns_changed") || !strings.Contains(out, "phiguard_default_unchecked") || strings.Contains(out, "(id, note, ") {
		t.Fatalf("both guards: %v\n%s", ok, out)
	}
	if _, err := pg_query.Parse(out); err != nil {
		t.Fatalf("both guards: does not parse: %v\n%s", err, out)
	}
	// A role that may insert them: appended with NULL, as before.
	out, ok = GuardNoDefaults("INSERT INTO patients (id, note) VALUES (1, 'x')", pol, cols, nil)
	if !ok || !strings.Contains(out, "(id, note, ssn, first)") || strings.Contains(out, "transaction_isolation") {
		t.Errorf("insertable: %v\n%s", ok, out)
	}
	if r, ok := DefaultUncheckedRefusal(`unrecognized configuration parameter "phiguard_default_unchecked:public.patients"`); !ok || r.Table != "public.patients" || r.Code != "0A000" {
		t.Errorf("DefaultUncheckedRefusal: %+v, %v", r, ok)
	}
}
