package sqlrewrite

import (
	"maps"
	"slices"
	"testing"

	pg_query "github.com/pganalyze/pg_query_go/v5"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// TestBoundCTEs: a WITH query's name counts as bound only where the
// statement names it inside the WITH's scope; named outside it (or as a
// write's target), it is a relation's name.
func TestBoundCTEs(t *testing.T) {
	for sql, want := range map[string][]string{
		"WITH w AS (SELECT 1) SELECT * FROM w":                                        {"w"},
		"WITH w AS (SELECT 1) SELECT * FROM (SELECT * FROM w) a":                      {"w"},
		"SELECT * FROM (WITH w AS (SELECT 1) SELECT * FROM w) a, w":                   nil,
		"SELECT * FROM w WHERE EXISTS (WITH w AS (SELECT 1) SELECT FROM w)":           nil,
		"WITH a AS (SELECT * FROM w), w AS (SELECT 1) SELECT * FROM a":                {"a"},
		"WITH RECURSIVE a AS (SELECT * FROM w), w AS (SELECT 1) SELECT * FROM a":      {"a", "w"},
		"WITH RECURSIVE w(n) AS (SELECT 1 UNION ALL SELECT n FROM w) SELECT * FROM w": {"w"},
		"WITH w AS (SELECT 1 AS n) INSERT INTO w SELECT n FROM w":                     nil,
		"WITH w AS (SELECT 1 AS n) UPDATE t SET x = 1 FROM w":                         {"w"},
		"WITH w AS (SELECT 1) SELECT * FROM public.w, w":                              {"w"},
		"WITH w AS (SELECT 1) SELECT 1 UNION SELECT 1 FROM w":                         {"w"},
	} {
		if got := Analyze(sql).Statements[0].CTEs; !slices.Equal(got, want) {
			t.Errorf("%s: CTEs %q, want %q", sql, got, want)
		}
	}
}

// TestBindRelationsNested: each relation name binds to the innermost WITH
// query of that name in whose scope it stands, wherever it is below
// (FROM subqueries, LATERAL, expressions), and the encryption planner
// and the access rewriter read that one binding: the constant compared
// with a WITH query's encrypted column inside a FROM subquery is
// encrypted (before, the planner took c there for a table, and sent it
// in clear).
func TestBindRelationsNested(t *testing.T) {
	for sql, want := range map[string]map[string]bool{ // a RangeVar's alias (or name): bound to a WITH query
		"WITH c AS (SELECT 1) SELECT * FROM (SELECT * FROM c x) s":                                    {"x": true},
		"WITH c AS (SELECT 1) SELECT * FROM t, LATERAL (SELECT * FROM c x) s":                         {"x": true, "t": false},
		"WITH c AS (SELECT 1) SELECT (SELECT 1 FROM c x)":                                             {"x": true},
		"WITH c AS (SELECT * FROM c x) SELECT * FROM c y":                                             {"x": false, "y": true},
		"WITH RECURSIVE c AS (SELECT 1 UNION SELECT 1 FROM c x) SELECT * FROM c y":                    {"x": true, "y": true},
		"WITH c AS (SELECT 1) INSERT INTO c AS x SELECT * FROM c y":                                   {"x": false, "y": true},
		"WITH c AS (SELECT 1) SELECT * INTO c FROM c y":                                               {"c": false, "y": true},
		"SELECT * FROM (WITH c AS (SELECT 1) SELECT * FROM c x) s, c y":                               {"x": true, "y": false},
		"WITH c AS (SELECT 1) SELECT * FROM public.c x":                                               {"x": false},
		"WITH c AS (SELECT 1) UPDATE t x SET a = 1 FROM c y WHERE EXISTS (SELECT FROM c z)":           {"x": false, "y": true, "z": true},
		"WITH c AS (SELECT 1) MERGE INTO c x USING c y ON true WHEN MATCHED THEN DO NOTHING":          {"x": false, "y": true},
		"WITH c AS (SELECT 1) SELECT * FROM (WITH c AS (SELECT 2) SELECT * FROM c x) s, c y":          {"x": true, "y": true},
		"WITH c AS (SELECT 1) SELECT * FROM (SELECT * FROM (SELECT * FROM c x) a) b JOIN c y ON true": {"x": true, "y": true},
	} {
		tree, err := pg_query.Parse(sql)
		if err != nil {
			t.Fatal(err)
		}
		root := tree.GetStmts()[0].GetStmt().ProtoReflect()
		b := bindRelations(root)
		got := map[string]bool{}
		walk(root, func(m protoreflect.Message) {
			if rv, ok := m.Interface().(*pg_query.RangeVar); ok {
				name := rv.GetRelname()
				if a := rv.GetAlias(); a != nil {
					name = a.GetAliasname()
				}
				got[name] = b.cte(rv) != nil
			}
		})
		if !maps.Equal(got, want) {
			t.Errorf("%s: bound %v, want %v", sql, got, want)
		}
	}
	pol := testPolicy(t)
	for _, sql := range []string{
		"WITH c AS (SELECT ssn FROM patients) SELECT * FROM (SELECT * FROM c WHERE ssn = '123') s",
		"WITH c AS (SELECT ssn FROM patients) SELECT * FROM (SELECT ssn FROM c) s WHERE ssn = '123'",
		"WITH c AS (SELECT ssn FROM patients) SELECT 1 FROM patients p, LATERAL (SELECT 1 FROM c WHERE c.ssn = '123') l",
	} {
		plan := PlanFor(Analyze(sql), pol)
		if plan.Refusal != nil || len(plan.Values) != 1 || plan.Values[0].Column.Name != "ssn" {
			t.Errorf("%s: refusal %v, values %v; want '123' encrypted for ssn", sql, plan.Refusal, plan.Values)
		}
	}
}
