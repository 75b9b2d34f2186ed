package sqlrewrite

import (
	"path/filepath"
	"testing"
)

// TestComparedParamOnceAtItsToken: the guard's compareParams edits each
// compared parameter's token once and refuses two edits at one span (the
// code before 68fad01 let the last one win). That refusal must never
// meet a statement: no plan holds two compared values at one $n token,
// over statements that could visit a WHERE more than once (a CTE read
// twice, UNION, proxy-side sorts and filters, HAVING, subqueries, the
// source of a multiple-column SET, which the parse tree copies into each
// target) and every encryption case of the golden files.
func TestComparedParamOnceAtItsToken(t *testing.T) {
	pol := testPolicy(t)
	stmts := []string{
		"WITH c AS (SELECT * FROM patients WHERE ssn = $1) SELECT * FROM c a, c b",
		"SELECT * FROM patients WHERE ssn = $1 UNION SELECT * FROM patients WHERE ssn = $1",
		"SELECT * FROM patients WHERE ssn IN ($1, $1)",
		"SELECT * FROM patients p WHERE ssn = $1 ORDER BY first LIMIT 5",
		"SELECT * FROM patients p WHERE ssn = $1 AND first = $2 ORDER BY first LIMIT 5",
		"SELECT ssn FROM patients p WHERE ssn = $1 GROUP BY ssn HAVING ssn = $2",
		"SELECT * FROM patients p WHERE (SELECT count(*) FROM billing.claims c WHERE c.member_ssn = $1) > 0",
		"UPDATE patients SET first = 'x' WHERE ssn = $1",
		"DELETE FROM patients WHERE ssn = $1 RETURNING *",
		"SELECT * FROM patients WHERE ssn = $1 OR ssn <> $1",
		"SELECT * FROM patients WHERE ssn = $1 AND birthdate > '2000-01-01' ORDER BY birthdate",
		"SELECT DISTINCT ON (ssn) * FROM patients WHERE ssn = $1 ORDER BY ssn",
		"INSERT INTO patients (id, ssn) SELECT 1, ssn FROM patients WHERE ssn = $1",
		"SELECT * FROM patients WHERE ssn = $1 FOR UPDATE",
		"SELECT * FROM patients WHERE first LIKE 'a%' AND ssn = $1",
		"SELECT * FROM patients WHERE NOT (ssn = $1)",
		"SELECT * FROM patients WHERE CASE WHEN ssn = $1 THEN true END",
		// pg_query gives each target of a multiple-column SET a copy of
		// the one source: planned per target, its $1 was two values.
		"UPDATE billing.claims SET (id, x) = (SELECT 1, 2 FROM patients WHERE ssn = $1)",
		"UPDATE billing.claims SET (id, x, y) = (1, 2, (SELECT 3 FROM patients WHERE ssn <> $1 LIMIT 1))",
		"INSERT INTO billing.claims (id) VALUES (1) ON CONFLICT (id) DO UPDATE SET (x, y) = (SELECT 1, 2 FROM patients WHERE ssn = $1)",
	}
	files, _ := filepath.Glob(filepath.Join(goldenDir, "*.txt"))
	for _, f := range files {
		for _, c := range parseGolden(t, f).cases {
			if c.role == "encrypt" && c.policy == "" {
				stmts = append(stmts, c.sql)
			}
		}
	}
	for _, sql := range stmts {
		pl := PlanFor(Analyze(sql), pol)
		seen := map[int]int{}
		for _, v := range pl.Values {
			if v.Literal < 0 && v.Use == UseCompare && v.Token >= 0 {
				seen[v.Token]++
				if seen[v.Token] > 1 {
					t.Errorf("%s: token %d twice", sql, v.Token)
				}
			}
		}
	}
	if len(stmts) < 100 {
		t.Fatalf("only %d statements: the golden files were not read", len(stmts))
	}
}
