package sqlrewrite

import (
	"strings"
	"testing"
)

// TestBindNameInnermost: an unqualified name binds at the innermost level
// with an item that has a column of that name. A derived relation's
// columns are read from the statement, so a plain column there keeps
// the constant in clear; a table's are not, so the plan lists it as one
// that must lack the name (Unshadowed, checked by the guard); an item
// whose columns phiguard cannot tell makes the name refused.
func TestBindNameInnermost(t *testing.T) {
	pol := testPolicy(t)
	for _, c := range []struct {
		sql        string
		values     int    // constants encrypted
		unshadowed string // the plan's Unshadowed (name table; ...), or "refused"
	}{
		{"SELECT 1 FROM patients WHERE EXISTS (SELECT 1 FROM (SELECT 'a' AS ssn) c WHERE ssn = '1')", 0, ""},
		{"SELECT 1 FROM patients WHERE EXISTS (SELECT 1 FROM (VALUES ('a')) c(ssn) WHERE ssn = '1')", 0, ""},
		{"SELECT 1 FROM patients WHERE EXISTS (SELECT 1 FROM (SELECT 'a'::text) c WHERE text = '1')", 0, ""},
		{"SELECT 1 FROM patients WHERE EXISTS (SELECT 1 FROM (SELECT 'a') c(ssn) WHERE ssn = '1')", 0, ""},
		{"SELECT 1 FROM patients WHERE EXISTS (SELECT 1 FROM (SELECT 'a' AS x) c(y) WHERE ssn = '1')", 1, ""},
		{"SELECT 1 FROM patients WHERE EXISTS (SELECT 1 FROM unnest(ARRAY['a']) u(ssn) WHERE ssn = '1')", 0, ""},
		{"SELECT 1 FROM patients WHERE EXISTS (SELECT 1 FROM f() AS x(ssn text) WHERE ssn = '1')", 0, ""},
		{"WITH w AS (SELECT 'a' AS ssn) SELECT 1 FROM patients WHERE EXISTS (SELECT 1 FROM w WHERE ssn = '1')", 0, ""},
		{"SELECT 1 FROM patients WHERE EXISTS (SELECT 1 FROM visits WHERE ssn = '1')", 1, "ssn visits"},
		{"SELECT 1 FROM patients WHERE EXISTS (SELECT 1 FROM (SELECT * FROM s.visits) v WHERE ssn = '1')", 1, "ssn s.visits"},
		{"SELECT 1 FROM patients WHERE EXISTS (SELECT 1 FROM (SELECT 'a' AS x) v WHERE ssn = '1')", 1, ""},
		{"SELECT 1 FROM patients WHERE EXISTS (SELECT 1 FROM (SELECT 'a' AS x) v, visits WHERE ssn = '1')", 1, "ssn visits"},
		{"SELECT 1 FROM patients WHERE EXISTS (SELECT 1 FROM generate_series(1, 2) g WHERE ssn = '1')", 1, "ssn generate_series()"},
		{"SELECT 1 FROM patients WHERE EXISTS (SELECT 1 FROM pg_catalog.generate_series(1, 2) WITH ORDINALITY WHERE ssn = '1')", 1, "ssn pg_catalog.generate_series()"},
		{"SELECT 1 FROM patients WHERE EXISTS (SELECT 1 FROM generate_series(1, 2) ssn WHERE ssn = '1')", 0, "refused"}, // a scalar's column is ssn
		{"SELECT 1 FROM patients WHERE EXISTS (SELECT 1 FROM ssn(1) WHERE ssn = '1')", 0, "refused"},                    // likewise
		{"SELECT 1 FROM patients WHERE EXISTS (SELECT 1 FROM f(1) WITH ORDINALITY o WHERE ordinality = '1')", 0, ""},    // not ssn
		{"SELECT 1 FROM patients WHERE EXISTS (SELECT 1 FROM ROWS FROM (f(1), g(2)) r WHERE ssn = '1')", 0, "refused"},  // not read
		{"SELECT 1 FROM patients WHERE EXISTS (SELECT 1 FROM current_date d WHERE ssn = '1')", 0, "refused"},            // not a call by name
		{"SELECT 1 FROM patients WHERE EXISTS (SELECT 1 FROM visits v, LATERAL r(v) x WHERE ssn = '1')", 0, "refused"},  // v.r, perhaps
		{"SELECT 1 FROM patients WHERE EXISTS (SELECT 1 FROM r('(1)'::t) x WHERE ssn = '1')", 0, "refused"},             // t may be composite
		{"SELECT 1 FROM patients WHERE EXISTS (SELECT 1 FROM unnest(ARRAY[1]) x WHERE ssn = '1')", 1, "ssn unnest()"},
		{"SELECT 1 FROM patients WHERE EXISTS (SELECT 1 FROM unnest('{1}'::int[]) x WHERE ssn = '1')", 1, "ssn unnest()"},
		{"SELECT 1 FROM patients WHERE EXISTS (SELECT 1 FROM abs(1::int) x WHERE ssn = '1')", 1, "ssn abs()"},
		{"SELECT 1 FROM patients WHERE EXISTS (SELECT 1 FROM visits v, LATERAL s.r(v) x WHERE ssn = '1')", 1, "ssn visits; ssn s.r()"}, // no projection
		{"SELECT 1 FROM patients WHERE EXISTS (SELECT 1 FROM (SELECT length('a')) v WHERE ssn = '1')", 1, ""},
		{"SELECT 1 FROM patients WHERE EXISTS (SELECT 1 FROM (SELECT (SELECT 'a')) v WHERE ssn = '1')", 1, ""}, // ?column?
		{"SELECT 1 FROM patients WHERE EXISTS (SELECT 1 FROM (SELECT (SELECT 'a' AS ssn)) v WHERE ssn = '1')", 0, ""},
		{"SELECT 1 FROM patients WHERE EXISTS (SELECT 1 FROM (SELECT CASE WHEN true THEN 'a' ELSE v END FROM (SELECT 'a' AS v) w) v WHERE v = '1')", 0, ""},
		{"SELECT 1 FROM patients WHERE EXISTS (SELECT 1 FROM (SELECT ARRAY['a']::text) v WHERE ssn = '1')", 1, ""},
		{"SELECT 1 FROM patients WHERE EXISTS (SELECT 1 FROM (SELECT 'a' = ANY (SELECT 'b')) v WHERE ssn = '1')", 0, "refused"},
		{"SELECT 1 FROM patients WHERE ssn = '1' AND EXISTS (SELECT 1 FROM visits)", 1, ""},
	} {
		plan := PlanFor(Analyze(c.sql), pol)
		got := "refused"
		if plan.Refusal == nil {
			var us []string
			for _, u := range plan.Unshadowed {
				us = append(us, u.Name+" "+u.Inner.String())
				if u.Column.Name != "ssn" {
					t.Errorf("%s: unshadowed for %s", c.sql, u.Column.Name)
				}
			}
			got = strings.Join(us, "; ")
		}
		if got != c.unshadowed || plan.Refusal == nil && len(plan.Values) != c.values {
			t.Errorf("%s: unshadowed %s, %d values (refusal %v); want %s, %d", c.sql, got, len(plan.Values), plan.Refusal, c.unshadowed, c.values)
		}
	}
}

// fakeFacts answers PlanKnowing: the tables listed in has have the name,
// those in unsure may, the others certainly lack it; asked counts the
// questions.
type fakeFacts struct {
	has    map[TableName]bool
	unsure map[TableName]bool // the catalog cannot tell
	asked  int
}

func (f *fakeFacts) TableHasColumn(t TableName, name string) (has, sure bool) {
	f.asked++
	return f.has[t], !f.unsure[t]
}

// TestPlanKnowing: knowing that the inner table has the name, the plan
// binds it there, plain, as PostgreSQL does, and notes the table in
// Shadowed; knowing it lacks it, the plan is PlanUnder's. A kept plan
// is served again only while its facts hold.
func TestPlanKnowing(t *testing.T) {
	pol := testPolicy(t)
	sql := "SELECT 1 FROM patients WHERE EXISTS (SELECT 1 FROM visits WHERE ssn = '1')"
	a := Analyze(sql)
	if plan := a.PlanUnder(pol); len(plan.Values) != 1 || len(plan.Unshadowed) != 1 {
		t.Fatalf("PlanUnder: %d values, unshadowed %v", len(plan.Values), plan.Unshadowed)
	}
	visits := TableName{Name: "visits"}
	has := &fakeFacts{has: map[TableName]bool{visits: true}}
	plan := a.PlanKnowing(pol, has)
	if plan.Refusal != nil || len(plan.Values) != 0 || len(plan.Unshadowed) != 0 || len(plan.Shadowed) != 1 || plan.Shadowed[0].Inner != visits {
		t.Fatalf("knowing visits has ssn: %d values, unshadowed %v, shadowed %v, refusal %v", len(plan.Values), plan.Unshadowed, plan.Shadowed, plan.Refusal)
	}
	if again := a.PlanKnowing(pol, has); again != plan {
		t.Error("the kept plan was not served again while its facts hold")
	}
	lacks := &fakeFacts{}
	plan = a.PlanKnowing(pol, lacks)
	if len(plan.Values) != 1 || len(plan.Shadowed) != 0 || len(plan.Unshadowed) != 1 {
		t.Errorf("knowing visits lacks ssn: %d values, shadowed %v", len(plan.Values), plan.Shadowed)
	}
}

// TestPlanKnowingRefused: a plan refused over a name the catalog binds
// elsewhere lists it in Unshadowed, and the plan made knowing the
// catalog is not refused: (SELECT ssn FROM visits) v(label) renames
// visits' plain ssn, not patients' encrypted one.
func TestPlanKnowingRefused(t *testing.T) {
	pol := testPolicy(t)
	a := Analyze("SELECT 1 FROM patients WHERE EXISTS (SELECT 1 FROM (SELECT ssn FROM visits) v(label) WHERE label = '1')")
	plan := a.PlanUnder(pol)
	if plan.Refusal == nil || len(plan.Unshadowed) != 1 {
		t.Fatalf("PlanUnder: refusal %v, unshadowed %v; want refused, visits listed", plan.Refusal, plan.Unshadowed)
	}
	known := a.PlanKnowing(pol, &fakeFacts{has: map[TableName]bool{{Name: "visits"}: true}})
	if known.Refusal != nil || len(known.Values) != 0 || len(known.Shadowed) != 1 {
		t.Errorf("PlanKnowing: refusal %v, %d values, shadowed %v", known.Refusal, len(known.Values), known.Shadowed)
	}
}

// TestPlanKnowingHiddenTables: a table renamed by its alias's column
// list, or before a JOIN whose ON condition names the column, does not
// take the name however sure the catalog is that it has it: PostgreSQL
// binds the name further out (TestRedTeam36AliasColumnList,
// TestRedTeam36JoinOnScope). The plan encrypts the constant or refuses.
func TestPlanKnowingHiddenTables(t *testing.T) {
	pol := testPolicy(t)
	facts := &fakeFacts{has: map[TableName]bool{{Name: "visits"}: true}}
	for _, sql := range []string{
		"SELECT 1 FROM patients WHERE EXISTS (SELECT 1 FROM visits v(a, b) WHERE ssn = '1')",
		"SELECT 1 FROM patients WHERE EXISTS (SELECT 1 FROM visits, other a JOIN other b ON ssn = '1')",
		"SELECT 1 FROM patients WHERE EXISTS (SELECT 1 FROM visits JOIN (other a JOIN other b ON ssn = '1') ON true)",
		"DELETE FROM patients USING other a JOIN other b ON ssn = '1'", // PostgreSQL: no such column
	} {
		plan := Analyze(sql).PlanKnowing(pol, facts)
		if len(plan.Shadowed) != 0 || plan.Refusal == nil && len(plan.Values) != 1 {
			t.Errorf("%s: %d values, shadowed %v, refusal %v: want the constant encrypted or a refusal", sql, len(plan.Values), plan.Shadowed, plan.Refusal)
		}
	}
	// Where PostgreSQL does bind it there, the plan still takes it.
	for _, sql := range []string{
		"SELECT 1 FROM patients WHERE EXISTS (SELECT 1 FROM visits v(ssn) WHERE ssn = '1')",
		"SELECT 1 FROM patients WHERE EXISTS (SELECT 1 FROM other a JOIN visits ON ssn = '1')",
		"SELECT 1 FROM patients WHERE EXISTS (SELECT 1 FROM visits, LATERAL (SELECT 1 WHERE ssn = '1') l)",
	} {
		if plan := Analyze(sql).PlanKnowing(pol, facts); plan.Refusal != nil || len(plan.Values) != 0 {
			t.Errorf("%s: %d values, refusal %v: want the name plain", sql, len(plan.Values), plan.Refusal)
		}
	}
}
