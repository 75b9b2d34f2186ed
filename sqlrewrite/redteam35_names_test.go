package sqlrewrite

import "testing"

// Red team 35 at the unit level: names the encryption planner and the
// access rewriter bind otherwise than PostgreSQL (the integration tests
// of integration/redteam35_names_test.go show the answers). Each failed
// before stop 35's fixes; they stay as regressions.

// TestRedTeam35PlanNames: each statement compares a constant with an
// encrypted column in PostgreSQL's binding, so the plan must encrypt it
// for that column (or refuse, or leave to the catalog the check that
// decides); the planner bound the name elsewhere (scope_columns.go now
// binds it where PostgreSQL does).
func TestRedTeam35PlanNames(t *testing.T) {
	pol := testPolicy(t)
	for _, c := range []struct{ sql, want string }{
		// a JOIN alias hides a and b: a is the outer patients a (plaintext sent)
		{"SELECT id FROM patients a WHERE EXISTS (SELECT 1 FROM (encounters a JOIN encounters b ON true) j WHERE a.ssn = 'x')", "literal #1 compare public.patients.ssn"},
		// the innermost level that has ssn binds it: no constant to encrypt
		{"SELECT id FROM patients p WHERE EXISTS (SELECT 1 FROM (SELECT 'x'::text AS ssn) x WHERE ssn = 'x')", ""},
		{"SELECT id FROM patients u WHERE EXISTS (SELECT 1 FROM unnest(ARRAY['x']) AS u(ssn) WHERE u.ssn = 'x')", ""},
		// column notation: p.to_jsonb is to_jsonb(p), the whole row (plaintext sent)
		// (the guard refuses it: patients has no column to_jsonb)
		{"SELECT id FROM patients p WHERE p.to_jsonb ->> 'ssn' = 'x'", "catalog has public.patients.to_jsonb"},
		// NATURAL JOIN on ssn with a plain side
		{"SELECT id FROM patients NATURAL JOIN (SELECT 'x'::text AS ssn) t", "refusal"},
	} {
		plan := PlanFor(Analyze(c.sql), pol)
		got := ""
		if plan.Refusal != nil {
			got = "refusal"
		} else if len(plan.Notation) > 0 {
			got = "catalog has " + plan.Notation[0].Table.String() + "." + plan.Notation[0].Column
		} else if len(plan.Values) > 0 {
			got = plan.Values[0].String()
		}
		if got != c.want && got != "refusal" {
			t.Errorf("%s:\n got  %q\n want %q (or a refusal)", c.sql, got, c.want)
		}
	}
}

// TestRedTeam35AccessNames: each statement reads a column billing sees
// masked or null in an expression, in PostgreSQL's binding, and must be
// refused; the access rewriter binds the name to another column.
func TestRedTeam35AccessNames(t *testing.T) {
	pol := loadAccessPolicy(t)
	for _, sql := range []string{
		// c is first (null for billing): derivedRel renamed only the *'s restricted outputs
		"SELECT c || '' FROM (SELECT * FROM patients) s(a, b, c)",
		"WITH w AS (SELECT * FROM patients) SELECT c || '' FROM w AS x(a, b, c)",
		// x is the outer patients x: a non-LATERAL subquery skips providers x
		"SELECT (SELECT s.v FROM providers x, (SELECT x.ssn || '' AS v) s LIMIT 1) FROM patients x",
		// a is the outer patients a: the alias j hides providers a
		"SELECT (SELECT a.ssn || '' FROM (providers a JOIN providers b ON true) j LIMIT 1) FROM patients a",
		// position 3 is first
		"SELECT * FROM patients ORDER BY 3",
	} {
		if a := accessFor(t, pol, "billing", sql, false); a.Refusal == nil {
			t.Errorf("%s: not refused", sql)
		}
	}
}
