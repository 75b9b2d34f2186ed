package sqlrewrite

import (
	"strings"
	"testing"

	pg_query "github.com/pganalyze/pg_query_go/v5"

	"github.com/phiguard/phiguard/policy"
)

// TestGuardNoDefaultsSelect: an INSERT ... SELECT and an INSERT ...
// DEFAULT VALUES get the encrypted columns they leave out appended with
// NULL, the first carrying the guard, so that DDL committed after the
// proxy's catalog read cannot have a default stored in clear.
func TestGuardNoDefaultsSelect(t *testing.T) {
	pol := testPolicy(t)
	tbl, _ := pol.Table("public", "patients")
	ssn, _ := tbl.Column("ssn")
	first, _ := tbl.Column("first")
	both := []*policy.ProtectedColumn{ssn, first}
	const guard = "CASE WHEN pg_catalog.to_regclass('patients') IS NOT NULL AND NOT EXISTS"
	for in, want := range map[string]string{
		"INSERT INTO patients (id) SELECT 1":                                            "INSERT INTO patients (id, ssn, first) SELECT 1, " + guard,
		"INSERT INTO patients (id, note) SELECT g, 'n' FROM generate_series(1, 3) g":    "SELECT g, 'n', " + guard,
		"INSERT INTO patients (id) SELECT x AS from FROM src WHERE x > 0 ORDER BY 1":    "SELECT x AS from, " + guard,
		"INSERT INTO patients (id) SELECT max(x) OVER (ORDER BY y) FROM src":            "SELECT max(x) OVER (ORDER BY y), " + guard,
		"INSERT INTO patients (id) SELECT (array_agg(x ORDER BY x))[1] FROM src":        "SELECT (array_agg(x ORDER BY x))[1], " + guard,
		"INSERT INTO patients (id) (SELECT x FROM src)":                                 "(SELECT x, " + guard,
		"INSERT INTO patients (id) SELECT x -- ORDER\n FROM src ON CONFLICT DO NOTHING": "SELECT x, " + guard,
		"INSERT INTO patients (id) SELECT DISTINCT * FROM src RETURNING *":              "SELECT DISTINCT *, " + guard,
		"INSERT INTO patients (id) SELECT x IS DISTINCT FROM y FROM src":                "SELECT x IS DISTINCT FROM y, " + guard,
		"INSERT INTO patients (id) SELECT NOT x IS NOT DISTINCT FROM 1 AS d FROM src":   "FROM 1 AS d, " + guard,
		"WITH s AS (SELECT 1 AS x) INSERT INTO patients (id) SELECT x FROM s":           "INSERT INTO patients (id, ssn, first) SELECT x, " + guard,
		"INSERT INTO patients DEFAULT VALUES RETURNING id":                              "INSERT INTO patients (ssn, first) VALUES (" + guard,
		"INSERT INTO patients AS p default values":                                      "INSERT INTO patients AS p (ssn, first) VALUES (" + guard,
	} {
		out, ok := GuardNoDefaults(in, pol, both, nil)
		if !ok || !strings.Contains(out, want) || strings.Count(out, "CASE WHEN") != 1 || !strings.Contains(out, "END, NULL") {
			t.Errorf("%s: %v, want %q in\n%s", in, ok, want, out)
			continue
		}
		tree, err := pg_query.Parse(out)
		if err != nil {
			t.Errorf("%s: the guarded text does not parse: %v\n%s", in, err, out)
			continue
		}
		ins := tree.GetStmts()[0].GetStmt().GetInsertStmt()
		if len(ins.GetCols()) == 0 || ins.GetCols()[len(ins.GetCols())-1].GetResTarget().GetName() != "first" {
			t.Errorf("%s: the columns are not appended to the list:\n%s", in, out)
		}
		sel := ins.GetSelectStmt().GetSelectStmt()
		if n := len(sel.GetTargetList()) + len(sel.GetValuesLists()); n == 0 {
			t.Errorf("%s: no values:\n%s", in, out)
		}
	}
	// An INSERT ... SELECT naming every encrypted column needs no guard,
	// and one leaving out a column the role may not insert is left to the
	// catalog read.
	for _, in := range []string{"INSERT INTO patients (id, ssn, first) SELECT 1, NULL, NULL"} {
		if out, ok := GuardNoDefaults(in, pol, both, nil); ok || out != in {
			t.Errorf("%s: changed to %q (%v)", in, out, ok)
		}
	}
	noInsert := func(policy.TableName) ColumnOrder {
		return ColumnOrder{Types: map[string]ColumnType{"first": {NoInsert: true}}}
	}
	for _, in := range []string{"INSERT INTO patients (id) SELECT 1", "INSERT INTO patients DEFAULT VALUES"} {
		if out, ok := GuardNoDefaults(in, pol, both, noInsert); ok || out != in {
			t.Errorf("%s with first uninsertable: changed to %q (%v)", in, out, ok)
		}
	}
}
