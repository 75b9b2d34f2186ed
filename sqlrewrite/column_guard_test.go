package sqlrewrite

import (
	"strings"
	"testing"

	pg_query "github.com/pganalyze/pg_query_go/v5"

	"github.com/phiguard/phiguard/policy"
)

func TestGuardColumnOrder(t *testing.T) {
	pol := testPolicy(t)
	orders := func(tn policy.TableName) ColumnOrder {
		return ColumnOrder{Table: tn, OID: 16384, Columns: []OrderedColumn{{1, "id"}, {2, "note"}, {3, "ssn"}, {4, "first"}}}
	}
	const check = "(pg_catalog.pg_identify_object_as_address(1259::pg_catalog.oid, 16384::pg_catalog.oid, 1)).object_names = ARRAY['public', 'patients', 'id']::pg_catalog.text[]"
	for _, c := range []struct {
		in      string
		guarded string // a fragment the guarded text must hold
		wrapped string // the value the CASE must hand on
	}{
		{"INSERT INTO patients (id, note, ssn) VALUES (1, 'x', '~phg~c1'), (2, 'y', NULL)", "THEN '~phg~c1' ELSE", "'~phg~c1'"},
		{"INSERT INTO patients (id, note, ssn) VALUES ($1, $2, $3) RETURNING *", "THEN $3 ELSE", "$3"},
		{"INSERT INTO patients (id, note, ssn) VALUES (1, (2 + 3)::text, DEFAULT) ON CONFLICT (id) DO NOTHING", "THEN NULL ELSE", "NULL"},
		{"INSERT INTO patients (id, note) VALUES (1, 'x'), (2, f(1, 2))", ", NULL)", "NULL"},
		{"COPY patients (id, note, ssn) FROM STDIN", "FROM STDIN WHERE CASE WHEN", "true"},
		{"COPY patients (id, note, ssn) FROM STDIN (FORMAT csv) WHERE id > 2;", "THEN true ELSE", "true"},
		// A trailing "--" comment must not comment the guard out.
		{"COPY patients (id, note, ssn) FROM STDIN -- load", "FROM STDIN WHERE CASE WHEN", "true"},
		{"COPY patients (id, note, ssn) FROM STDIN; -- load", "FROM STDIN WHERE CASE WHEN", "true"},
		{"COPY patients (id, note, ssn) FROM STDIN WHERE /* c */ id > 2 -- load", "THEN true ELSE", "true"},
		{"INSERT INTO patients (id, note, ssn) VALUES (1, 'x', '~phg~c1' -- c\n)", "THEN '~phg~c1' ELSE", "'~phg~c1'"},
		{"INSERT INTO patients (id, note) VALUES (1, 'x' -- c\n)", "THEN NULL ELSE", "NULL"},
		// The commas of ARRAY[...] part no VALUES items: the guard wraps
		// the encrypted column's own value, which is always evaluated.
		{"INSERT INTO patients (id, note, ssn) VALUES (ARRAY['a', 'b'], 'x', '~phg~c1')", "THEN '~phg~c1' ELSE", "'~phg~c1'"},
		{"INSERT INTO patients (id, note, ssn) VALUES (CASE WHEN false THEN ARRAY['a', 'b', 'c'] END, 'x', '~phg~c1')", "THEN '~phg~c1' ELSE", "'~phg~c1'"},
		{"INSERT INTO patients (id, note, ssn) VALUES (ARRAY[[1, 2], [3, 4]], 'x', $1)", "THEN $1 ELSE", "$1"},
		{"INSERT INTO patients (id, note, ssn) VALUES (1, -- one\n 'x', '~phg~c1' -- the cell\n), -- next\n (2, 'y', NULL)", "THEN '~phg~c1' ELSE", "'~phg~c1'"},
		{"INSERT INTO patients (id, note) VALUES (1, 'x' -- c\n), (2, 'y') -- end", ", NULL)", "NULL"},
	} {
		out, ok := GuardColumnOrder(c.in, pol, orders)
		if !ok {
			t.Errorf("%s: no guard", c.in)
			continue
		}
		if !strings.Contains(out, "pg_catalog.to_regclass('patients') IS DISTINCT FROM pg_catalog.to_regclass('public.patients') THEN pg_catalog.current_setting('phiguard_table_elsewhere:public.patients')") {
			t.Errorf("%s: the relation as written is not checked:\n%s", c.in, out)
		}
		if !strings.Contains(out, check) || !strings.Contains(out, c.guarded) || !strings.Contains(out, "current_setting('phiguard_columns_changed:public.patients')") {
			t.Errorf("%s: guarded as\n%s", c.in, out)
		}
		if strings.Contains(out, "-- c ELSE") {
			t.Errorf("%s: the guard's ELSE is in a comment:\n%s", c.in, out)
		}
		tree, err := pg_query.Parse(out)
		if err != nil {
			t.Errorf("%s: the guarded text does not parse: %v\n%s", c.in, err, out)
		} else if dep, _ := pg_query.Deparse(tree); !strings.Contains(dep, "phiguard_columns_changed") {
			t.Errorf("%s: the guard is not in the statement PostgreSQL parses (in a comment?):\n%s", c.in, out)
		}
		if !strings.Contains(out, "THEN "+c.wrapped+" ELSE") {
			t.Errorf("%s: the CASE does not hand on %s:\n%s", c.in, c.wrapped, out)
		}
	}
	// Statements that need no guard come back unchanged.
	for _, in := range []string{"COPY patients (id, note, ssn) TO STDOUT", "SELECT 1", "INSERT INTO elsewhere VALUES (1)"} {
		if out, ok := GuardColumnOrder(in, pol, orders); !ok || out != in {
			t.Errorf("%s: changed to %q (%v)", in, out, ok)
		}
	}
	// Without the table's OID the guard cannot be written: refuse.
	if _, ok := GuardColumnOrder("INSERT INTO patients (id, ssn) VALUES (1, NULL)", pol, func(tn policy.TableName) ColumnOrder { return ColumnOrder{Table: tn} }); ok {
		t.Error("guarded without an OID")
	}
	if r, ok := TableElsewhereRefusal(`unrecognized configuration parameter "phiguard_table_elsewhere:public.patients"`); !ok || r.Table != "public.patients" || r.PgError().Code != "0A000" {
		t.Errorf("the guard's error for another table is not recognised: %+v", r)
	}
	if r, ok := ColumnsChangedRefusal(`unrecognized configuration parameter "phiguard_columns_changed:public."Pa ""t""`); !ok || r.Table != `public."Pa ""t"` {
		t.Errorf("a quoted table name is cut short: %+v", r)
	}
	if r, ok := ColumnsChangedRefusal(`unrecognized configuration parameter "phiguard_columns_changed:public.patients"`); !ok || r.Table != "public.patients" || r.PgError().Code != "40001" {
		t.Errorf("the guard's error is not recognised: %+v", r)
	}
}
