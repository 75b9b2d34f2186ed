package sqlrewrite

import (
	"slices"
	"strings"
	"testing"
)

// sentWithCuts is sql with plan's cuts applied, as the guard sends it
// (encryptLiterals), with the literals left as they are.
func sentWithCuts(t *testing.T, plan *Plan, sql string) string {
	t.Helper()
	spans := LiteralSpans([]byte(sql))
	var edits []Edit
	for _, c := range plan.Cuts {
		sp, ok := c.Span([]byte(sql), spans)
		if !ok {
			t.Fatalf("%s: cut %+v outside the text", sql, c)
		}
		edits = append(edits, Edit{Span: sp, Text: c.Text})
	}
	out, ok := Splice([]byte(sql), edits)
	if !ok {
		t.Fatalf("%s: overlapping cuts", sql)
	}
	return string(out)
}

// TestPlanKnowingQualifies: a name the catalog binds to an inner table's
// column is sent qualified with that table's item, so that PostgreSQL
// binds it there or fails, never to the outer encrypted column (red team
// 36b, hole 7); where no qualifier names the item alone, or a bare sort
// name may be an output column's, the statement is refused as without
// the catalog.
func TestPlanKnowingQualifies(t *testing.T) {
	pol := testPolicy(t)
	facts := &fakeFacts{has: map[TableName]bool{{Name: "visits"}: true, {Schema: "s", Name: "visits"}: true, {Name: "v2"}: true},
		unsure: map[TableName]bool{{Name: "unsure"}: true}}
	const head = "SELECT 1 FROM patients WHERE EXISTS (SELECT 1 FROM "
	for _, c := range []struct{ sql, want string }{
		{head + "visits WHERE ssn = '1')", head + "visits WHERE visits.ssn = '1')"},
		{head + "visits v WHERE ssn = '1')", head + "visits v WHERE v.ssn = '1')"},
		{head + "s.visits WHERE \"ssn\" = '1')", head + "s.visits WHERE visits.\"ssn\" = '1')"},
		{head + "visits \"V x\" WHERE ssn = '1' AND ssn <> '2')", head + "visits \"V x\" WHERE \"V x\".ssn = '1' AND \"V x\".ssn <> '2')"},
		{"SELECT 1 FROM patients WHERE id = 12 AND EXISTS (SELECT ssn FROM visits WHERE id = 3)", "SELECT 1 FROM patients WHERE id = 12 AND EXISTS (SELECT visits.ssn FROM visits WHERE id = 3)"},
		{head + "visits WHERE EXISTS (SELECT 1 FROM other o WHERE ssn = '1'))", head + "visits WHERE EXISTS (SELECT 1 FROM other o WHERE" + probe("ssn", "other") + " visits.ssn = '1'))"},
		// The table behind a subquery's *: the subquery's item.
		{head + "(SELECT * FROM visits) v WHERE ssn = '1')", head + "(SELECT * FROM visits) v WHERE v.ssn = '1')"},
		{head + "visits WHERE EXISTS (SELECT 1 FROM (SELECT * FROM visits WHERE id = 1) v WHERE ssn = '1'))", head + "visits WHERE EXISTS (SELECT 1 FROM (SELECT * FROM visits WHERE id = 1) v WHERE v.ssn = '1'))"},
		{head + "(visits a JOIN other b ON true) j WHERE ssn = '1')", head + "(visits a JOIN other b ON true) j WHERE" + probe("ssn", "other") + " j.ssn = '1')"},
		// A bare GROUP BY name of the level's own table is that column
		// before an output column's name (findTargetlistEntrySQL92).
		{"SELECT 1 FROM patients WHERE EXISTS (SELECT ssn FROM visits GROUP BY ssn)", "SELECT 1 FROM patients WHERE EXISTS (SELECT visits.ssn FROM visits GROUP BY visits.ssn)"},
		{"SELECT 1 FROM patients WHERE EXISTS (SELECT 1 AS ssn FROM visits GROUP BY ssn)", "SELECT 1 FROM patients WHERE EXISTS (SELECT 1 AS ssn FROM visits GROUP BY visits.ssn)"},
		// A bare ORDER BY or DISTINCT ON name is an output column's
		// first, a column's only where no output column has the name.
		{"SELECT 1 FROM patients WHERE EXISTS (SELECT 1 AS x FROM visits ORDER BY ssn)", "SELECT 1 FROM patients WHERE EXISTS (SELECT 1 AS x FROM visits ORDER BY visits.ssn)"},
		{"SELECT 1 FROM patients WHERE EXISTS (SELECT DISTINCT ON (ssn) 1 FROM visits)", "SELECT 1 FROM patients WHERE EXISTS (SELECT DISTINCT ON (visits.ssn) 1 FROM visits)"},
		// A name glued to the word before it: the qualifier after a
		// space (WHEREvisits."ssn" was a syntax error: red team 38).
		{head + "visits WHERE\"ssn\" = '1')", head + "visits WHERE visits.\"ssn\" = '1')"},
		{head + "visits WHERE id = 1 AND\"ssn\" = '1')", head + "visits WHERE id = 1 AND visits.\"ssn\" = '1')"},
		{head + "visits WHERE(\"ssn\" = '1'))", head + "visits WHERE(visits.\"ssn\" = '1'))"},
	} {
		plan := Analyze(c.sql).PlanKnowing(pol, facts)
		if plan.Refusal != nil || len(plan.Values) != 0 {
			t.Errorf("%s: refusal %v, %d values", c.sql, plan.Refusal, len(plan.Values))
			continue
		}
		if got := sentWithCuts(t, plan, c.sql); got != c.want {
			t.Errorf("%s:\nsent %s\nwant %s", c.sql, got, c.want)
		}
		if len(plan.Qualified) == 0 || plan.Qualified[0].Column != "ssn" {
			t.Errorf("%s: qualified %+v", c.sql, plan.Qualified)
		}
	}
	// The plan holds for every text of the shape: the cut counts from
	// the literal before it.
	plan := Analyze("SELECT 1 FROM patients WHERE id = 12 AND EXISTS (SELECT 1 FROM visits WHERE ssn = '1')").PlanKnowing(pol, facts)
	other := "SELECT 1 FROM patients WHERE id = 123456 AND EXISTS (SELECT 1 FROM visits WHERE ssn = '1')"
	if got := sentWithCuts(t, plan, other); !strings.Contains(got, "WHERE visits.ssn = '1'") {
		t.Errorf("same shape, longer literal: sent %s", got)
	}
	for _, sql := range []string{
		head + "visits, v2 WHERE ssn = '1')",                                                                                         // two tables with the name: ambiguous (red team 37)
		head + "visits FULL JOIN v2 USING (ssn) WHERE ssn = '1')",                                                                    // the merged column is neither table's
		head + "visits WHERE EXISTS (SELECT 1 FROM unnest(ARRAY['a']) AS ssn WHERE ssn = '1'))",                                      // an inner item that may have it
		head + "visits WHERE EXISTS (SELECT 1 FROM a JOIN b USING (id) AS visits WHERE ssn = '1'))",                                  // USING's alias hides visits
		head + "visits, s.visits WHERE ssn = '1')",                                                                                   // two items named visits
		head + "visits WHERE EXISTS (SELECT 1 FROM (SELECT 1 AS n) visits WHERE ssn = '1'))",                                         // visits names the inner one
		"SELECT 1 FROM patients WHERE EXISTS (SELECT 1 FROM visits WHERE EXISTS (SELECT 1 AS ssn FROM other o GROUP BY ssn))",        // a GROUP BY name of an outer level's table
		"SELECT 1 FROM patients WHERE EXISTS (SELECT 1 FROM visits WHERE EXISTS (SELECT 1 AS ssn FROM other o GROUP BY (ssn, o.x)))", // the same, in parentheses (red team 38b)
		"SELECT 1 FROM patients WHERE EXISTS (SELECT * FROM visits ORDER BY ssn)",                                                    // outputs phiguard cannot name
		"SELECT 1 FROM patients WHERE EXISTS (SELECT DISTINCT ON (ssn) 1 AS ssn FROM visits)",                                        // DISTINCT ON, the same
		head + "visits a JOIN visits b USING (id) WHERE ssn = '1')",                                                                  // PostgreSQL: ambiguous
		head + "(SELECT * FROM visits, s.visits) v WHERE ssn = '1')",                                                                 // both may have it
		head + "(SELECT * FROM visits a JOIN unsure b ON true) v WHERE ssn = '1')",                                                   // so may unsure
	} {
		plan := Analyze(sql).PlanKnowing(pol, facts)
		if plan.Refusal == nil {
			t.Errorf("%s: sent %s, qualified %+v: want refused", sql, sentWithCuts(t, plan, sql), plan.Qualified)
		}
	}
	// A more inner table the catalog is unsure of may have the name
	// first: the name is left to the plan without the catalog (the outer
	// column, the tables that must lack the name noted for the guard),
	// never qualified with visits.
	sql := head + "visits WHERE EXISTS (SELECT 1 FROM unsure u WHERE ssn = '1'))"
	if plan := Analyze(sql).PlanKnowing(pol, facts); len(plan.Qualified) != 0 || plan.Refusal == nil &&
		!slices.ContainsFunc(plan.Unshadowed, func(u Unshadowed) bool { return u.Inner.Name == "unsure" }) {
		t.Errorf("%s: qualified %+v, unshadowed %v, refusal %v", sql, plan.Qualified, plan.Unshadowed, plan.Refusal)
	}
}

// TestQualifiedNameRefusal: the database's error for a qualified name
// the plan sent (42703 naming it, in any language) is phiguard's
// refusal; any other error is not.
func TestQualifiedNameRefusal(t *testing.T) {
	q := []QualifiedName{{Qualifier: "V x", Column: "ssn", Table: TableName{Name: "visits"}}}
	r, ok := QualifiedNameRefusal(q, "42703", "column V x.ssn does not exist")
	if !ok || r.PgError().Code != "0A000" || !strings.Contains(r.Error(), "visits") {
		t.Fatalf("refusal %v, %v", r, ok)
	}
	for _, msg := range []string{"column V x.name does not exist", "column ssn does not exist", "column w.ssn does not exist", "column V x.ssn_id does not exist", "column VV x.ssn does not exist"} {
		if _, ok := QualifiedNameRefusal(q, "42703", msg); ok {
			t.Errorf("%q taken for the qualified name's error", msg)
		}
	}
	if _, ok := QualifiedNameRefusal(nil, "42703", "column V x.ssn does not exist"); ok {
		t.Error("a plan without qualified names refused the error")
	}
	// lc_messages may translate the words, not the code or the name.
	if _, ok := QualifiedNameRefusal(q, "42703", "Spalte V x.ssn existiert nicht"); !ok {
		t.Error("a translated message was not recognised")
	}
	if _, ok := QualifiedNameRefusal(q, "42P01", "missing FROM-clause entry for table V x.ssn"); ok {
		t.Error("another error code was taken for the qualified name's error")
	}
}

// TestQuoteQualifier: a qualifier PostgreSQL would read as a keyword is
// quoted (red team 37: FROM x AS "user" sent user.tag, a syntax error).
func TestQuoteQualifier(t *testing.T) {
	for in, want := range map[string]string{"visits": "visits", "user": `"user"`, "left": `"left"`, "order": `"order"`, "name": `"name"`, "V x": `"V x"`, "a1": "a1"} {
		if got := quoteQualifier(in); got != want {
			t.Errorf("quoteQualifier(%q) = %s, want %s", in, got, want)
		}
	}
}
