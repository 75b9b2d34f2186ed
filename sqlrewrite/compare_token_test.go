package sqlrewrite

import (
	"path/filepath"
	"testing"
)

// TestComparedParamsAtOneTokenAgree: the guard's compareParams edits a
// compared parameter's token once, taking two values the plan holds at
// one $n token for one (the code before 68fad01 let the last edit win;
// since, two edits at one span are refused). That holds only if such
// values are the same value: same parameter, column and form. The
// planner holds a token twice where it walks an expression twice: a
// GROUP BY position or alias walks its select-list entry again (each
// target of SET (a, b) = source, which the parse tree copies, did too
// until the source was planned once). Statements that could visit a
// WHERE more than once, and every encryption case of the golden files.
func TestComparedParamsAtOneTokenAgree(t *testing.T) {
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
		"SELECT ssn = $1 FROM patients GROUP BY 1",
		"SELECT ssn = $1 AS m, count(*) FROM patients GROUP BY m HAVING count(*) > 0",
		"SELECT DISTINCT ON (ssn = $1) id FROM patients ORDER BY ssn = $1",
		"SELECT id, ssn = $1 AS m FROM patients ORDER BY 2",
		"SELECT count(*) FILTER (WHERE ssn = $1) FROM patients",
		"SELECT * FROM patients p WHERE EXISTS (SELECT 1 FROM billing.claims c WHERE c.member_ssn = $1 AND c.member_ssn = p.ssn) ORDER BY first",
		"SELECT first, count(*) FROM patients WHERE ssn = $1 GROUP BY first ORDER BY first",
		"SELECT * FROM patients, LATERAL (SELECT * FROM billing.claims c WHERE c.member_ssn = $1) x",
		"SELECT GROUPING(id) FROM patients WHERE ssn = $1 GROUP BY ROLLUP (id)",
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
		first := map[int]ValueSlot{}
		for _, v := range pl.Values {
			if v.Literal >= 0 || v.Use != UseCompare || v.Token < 0 {
				continue
			}
			if f, ok := first[v.Token]; !ok {
				first[v.Token] = v
			} else if f.Param != v.Param || f.Column != v.Column || f.Form != v.Form {
				t.Errorf("%s: token %d holds %v (form %d) and %v (form %d)", sql, v.Token, f, f.Form, v, v.Form)
			}
		}
	}
	// A multiple-column SET's source is planned once, whatever the
	// number of targets.
	for _, sql := range []string{
		"UPDATE billing.claims SET (id, x, y) = (SELECT 1, 2, 3 FROM patients WHERE ssn = $1)",
		"INSERT INTO billing.claims (id) VALUES (1) ON CONFLICT (id) DO UPDATE SET (x, y) = (SELECT 1, 2 FROM patients WHERE ssn = 'a')",
	} {
		if pl := PlanFor(Analyze(sql), pol); pl.Refusal != nil || len(pl.Values) != 1 {
			t.Errorf("%s: %d values, %v; want 1", sql, len(pl.Values), pl.Refusal)
		}
	}
	if len(stmts) < 100 {
		t.Fatalf("only %d statements: the golden files were not read", len(stmts))
	}
}
