package sqlrewrite

import (
	"strings"
	"testing"

	"github.com/phiguard/phiguard/policy"
)

// TestBindColumnNameOneRule runs each statement through both readers of
// its names, the encryption planner and the access rewriter, under one
// policy in which patients.ssn is encrypted and, for role billing,
// masked. An unqualified ssn bound to patients.ssn is an encrypted
// comparison for the planner (one constant sealed) and a masked column
// used in an expression for billing (refused); bound to an inner item's
// own ssn it is neither. Before the one binder the access rewriter bound
// ssn to any level with a restricted column of that name, and refused
// the statements whose ssn PostgreSQL binds to the subquery's own
// column.
func TestBindColumnNameOneRule(t *testing.T) {
	pol := loadAccessPolicy(t)
	for _, c := range []struct {
		sql   string
		outer bool // PostgreSQL binds ssn to patients.ssn
		// plannerLeaves says the planner cannot tell the inner item's
		// columns and refuses (or leaves the name to the catalog) where
		// the access rewriter, which reads the catalog, can.
		plannerLeaves bool
	}{
		{sql: "SELECT 1 FROM patients WHERE EXISTS (SELECT 1 FROM (SELECT 'a' AS ssn) v WHERE ssn = '1')"},
		{sql: "SELECT 1 FROM patients WHERE EXISTS (SELECT 1 FROM (VALUES ('a')) v(ssn) WHERE ssn = '1')"},
		{sql: "WITH w AS (SELECT 'a' AS ssn) SELECT 1 FROM patients WHERE EXISTS (SELECT 1 FROM w WHERE ssn = '1')"},
		{sql: "SELECT 1 FROM patients WHERE EXISTS (SELECT 1 FROM (SELECT 'a' AS x) v(ssn) WHERE ssn = '1')"},
		{sql: "SELECT 1 FROM patients WHERE EXISTS (SELECT 1 FROM (SELECT 'a' AS ssn) v JOIN notes n ON true WHERE ssn = '1')"},
		{sql: "SELECT 1 FROM patients WHERE EXISTS (SELECT 1 FROM ((SELECT 'a' AS ssn) v JOIN notes n ON true) j WHERE ssn = '1')"},
		{sql: "SELECT 1 FROM patients WHERE EXISTS (SELECT 1 FROM (SELECT 'a' AS x) v WHERE ssn = '1')", outer: true},
		{sql: "SELECT 1 FROM patients WHERE EXISTS (SELECT 1 FROM notes WHERE ssn = '1')", outer: true, plannerLeaves: true},
		{sql: "SELECT 1 FROM patients WHERE EXISTS (SELECT 1 FROM (SELECT * FROM providers) v WHERE ssn = '1')", outer: true, plannerLeaves: true},
		{sql: "SELECT 1 FROM patients WHERE EXISTS (SELECT 1 FROM (SELECT 'a' AS ssn) v(x) WHERE ssn = '1')", outer: true},
		// An alias list renaming past columns phiguard cannot count: the
		// subquery's ssn may have been renamed away.
		{sql: "SELECT 1 FROM patients WHERE EXISTS (SELECT 1 FROM (SELECT g.*, 'a' AS ssn FROM generate_series(1, 1) g) v(x, y) WHERE ssn = '1')", outer: true, plannerLeaves: true},
		{sql: "SELECT 1 FROM patients WHERE EXISTS (SELECT 1 FROM ((SELECT 'a' AS id, 'a' AS ssn) v JOIN providers USING (id)) j(a, b) WHERE ssn = '1')", outer: true, plannerLeaves: true},
		{sql: "SELECT 1 FROM patients WHERE EXISTS (SELECT 1 FROM generate_series(1, 2) g WHERE ssn = '1')", outer: true, plannerLeaves: true},
	} {
		acc := accessFor(t, pol, "billing", c.sql, false)
		accessOuter := acc.Refusal != nil && strings.Contains(acc.Refusal.Message, "patients.ssn is masked")
		if acc.Refusal != nil && !accessOuter {
			t.Errorf("%s: access refused for another reason: %s", c.sql, acc.Refusal.Message)
		}
		if accessOuter != c.outer {
			t.Errorf("%s: access rewriter bound ssn to patients.ssn: %v, want %v", c.sql, accessOuter, c.outer)
		}
		plan := PlanFor(Analyze(c.sql), pol)
		planOuter := plan.Refusal == nil && len(plan.Values) == 1
		if c.plannerLeaves {
			continue
		}
		if plan.Refusal != nil || planOuter != c.outer {
			t.Errorf("%s: planner sealed %d constants (refusal %v), want the outer binding %v", c.sql, len(plan.Values), plan.Refusal, c.outer)
		}
	}
}

// TestSchemaQualifiedSkipsDerived: schema.table.column names a table,
// never a subquery or WITH query called table, so PostgreSQL binds it to
// an enclosing level's table (checked on PostgreSQL 15: the outer row's
// ssn, not the subquery's 'a'). Both readers once took the subquery: the
// planner left the constant compared with patients.ssn in clear, and the
// access rewriter let the masked ssn out of a subquery expression.
func TestSchemaQualifiedSkipsDerived(t *testing.T) {
	pol := loadAccessPolicy(t)
	for _, sql := range []string{
		"SELECT 1 FROM public.patients WHERE EXISTS (SELECT 1 FROM (SELECT 'a' AS ssn) patients WHERE public.patients.ssn = '1')",
		"WITH patients AS (SELECT 'a' AS ssn) SELECT 1 FROM public.patients WHERE EXISTS (SELECT 1 FROM patients WHERE public.patients.ssn = '1')",
	} {
		plan := PlanFor(Analyze(sql), pol)
		if plan.Refusal != nil || len(plan.Values) != 1 {
			t.Errorf("%s: planner sealed %d constants (refusal %v), want 1", sql, len(plan.Values), plan.Refusal)
		}
	}
	for _, sql := range []string{
		"SELECT (SELECT public.patients.ssn FROM (SELECT 'a' AS ssn) patients) FROM public.patients",
		"SELECT 1 FROM public.patients WHERE EXISTS (SELECT 1 FROM (SELECT 'a' AS ssn) patients WHERE public.patients.ssn = '1')",
	} {
		acc := accessFor(t, pol, "billing", sql, false)
		if acc.Refusal == nil || !strings.Contains(acc.Refusal.Message, "patients.ssn is masked") {
			t.Errorf("%s: access %v, want the masked ssn refused", sql, acc.Refusal)
		}
	}
}

// TestSchemaQualifiedStar: schema.table.* likewise expands the enclosing
// level's table, not a subquery called table.
func TestSchemaQualifiedStar(t *testing.T) {
	pol := loadAccessPolicy(t)
	sql := "SELECT (SELECT ROW(public.patients.*) FROM (SELECT 'a' AS ssn) patients) FROM public.patients"
	if acc := accessFor(t, pol, "billing", sql, false); acc.Refusal == nil {
		t.Errorf("%s: billing ran it; want the patients columns refused", sql)
	}
	sql = "SELECT 1 FROM public.patients WHERE EXISTS (SELECT 1 FROM (SELECT 'a' AS ssn) patients WHERE ROW(public.patients.*) = ROW('1', '2'))"
	if plan := PlanFor(Analyze(sql), pol); plan.Refusal == nil {
		t.Errorf("%s: the planner took the star for the subquery's", sql)
	}
}

// TestBindColumnBeforeWholeRow: a bare name is a column if any level
// has one of that name, and only otherwise the whole row of a relation
// so named (PostgreSQL's transformColumnRef); a JOIN's USING names its
// members' columns only. The planner refused both as encrypted.
func TestBindColumnBeforeWholeRow(t *testing.T) {
	pol := loadAccessPolicy(t)
	for _, sql := range []string{
		"SELECT (SELECT patients FROM (SELECT 1 AS patients) x) FROM patients",
		"SELECT count(*) FROM patients, (SELECT 'a' AS ssn) a JOIN (SELECT 'a' AS ssn) b USING (ssn)",
	} {
		bothReadPlain(t, pol, sql)
	}
	sql := "SELECT (SELECT patients FROM (SELECT 1 AS x) x) FROM patients"
	if plan := PlanFor(Analyze(sql), pol); plan.Refusal == nil {
		t.Errorf("%s: the planner let a whole row of patients through", sql)
	}
}

// TestBindExpressionOutputNames: a subquery's expression output is
// named as PostgreSQL names it (outputName), by both readers, so an
// unqualified name binds to it before an outer column.
func TestBindExpressionOutputNames(t *testing.T) {
	pol := loadAccessPolicy(t)
	for _, sql := range []string{
		"SELECT 1 FROM patients WHERE EXISTS (SELECT 1 FROM (SELECT w.ssn::text FROM (SELECT 'b' AS ssn) w) v WHERE ssn = '1')",
		"SELECT 1 FROM patients WHERE EXISTS (SELECT 1 FROM (SELECT CASE WHEN true THEN 'a' ELSE w.ssn END FROM (SELECT 'b' AS ssn) w) v WHERE ssn = '1')",
	} {
		bothReadPlain(t, pol, sql)
	}
}

// TestJoinConditionSkipsSiblings: a JOIN's ON sees its members and the
// enclosing levels only, so x.ssn there, with a sibling x before the
// join, is the outer patients x's encrypted ssn (checked on PostgreSQL
// 15: the sibling's column "cannot be referenced from this part of the
// query"). The planner took the sibling's, and sent '1' in clear.
func TestJoinConditionSkipsSiblings(t *testing.T) {
	pol := testPolicy(t)
	sql := "SELECT (SELECT 1 FROM providers x, providers a JOIN providers b ON x.ssn = '1' LIMIT 1) FROM patients x"
	if plan := PlanFor(Analyze(sql), pol); plan.Refusal == nil && len(plan.Values) != 1 {
		t.Errorf("%s: %d constants sealed, want the one compared with patients.ssn", sql, len(plan.Values))
	}
}

// TestAccessFunctionColumnNames: a function in FROM has the columns its
// column definition list or alias list names, for the access rewriter as
// for the planner, so ssn there is the function's, not the outer masked
// patients.ssn; a name it does not list still binds further out.
func TestAccessFunctionColumnNames(t *testing.T) {
	pol := loadAccessPolicy(t)
	for _, c := range []struct {
		sql   string
		outer bool
	}{
		{"SELECT 1 FROM patients WHERE EXISTS (SELECT 1 FROM generate_series(1, 2) AS g(ssn) WHERE ssn = 1)", false},
		{"SELECT 1 FROM patients WHERE EXISTS (SELECT 1 FROM unnest(ARRAY['a']) AS u(ssn) WHERE ssn = 'a')", false},
		{"SELECT 1 FROM patients WHERE EXISTS (SELECT 1 FROM json_to_record('{}') AS r(ssn text, x int) WHERE ssn = 'a')", false},
		{"SELECT 1 FROM patients WHERE EXISTS (SELECT 1 FROM json_to_record('{}') AS r(y text, x int) WHERE ssn = 'a')", true},
		{"SELECT 1 FROM patients WHERE EXISTS (SELECT 1 FROM generate_series(1, 2) AS g(n) WHERE ssn = 'a')", true},
	} {
		acc := accessFor(t, pol, "billing", c.sql, false)
		outer := acc.Refusal != nil && strings.Contains(acc.Refusal.Message, "patients.ssn is masked")
		if outer != c.outer {
			t.Errorf("%s: bound to patients.ssn %v (refusal %v), want %v", c.sql, outer, acc.Refusal, c.outer)
		}
	}
}

// bothReadPlain: the planner seals no constant of sql and refuses none of
// it, and billing's access rules refuse none of it: every name binds to
// a plain column.
func bothReadPlain(t *testing.T, pol *policy.Policy, sql string) {
	t.Helper()
	if plan := PlanFor(Analyze(sql), pol); plan.Refusal != nil || len(plan.Values) != 0 {
		t.Errorf("%s: planner sealed %d constants (refusal %v), want none", sql, len(plan.Values), plan.Refusal)
	}
	if acc := accessFor(t, pol, "billing", sql, false); acc.Refusal != nil {
		t.Errorf("%s: access refused: %s", sql, acc.Refusal.Message)
	}
}
