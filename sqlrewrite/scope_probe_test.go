package sqlrewrite

import (
	"fmt"
	"strings"
	"testing"

	"github.com/phiguard/phiguard/internal/pgerr"
)

// probe is the text probeCuts puts after WHERE for tables that must
// lack name, each named as the statement names it.
func probe(name string, tables ...string) string {
	var b strings.Builder
	b.WriteString(` (SELECT "` + name + `" FROM (SELECT NULL AS "` + name + `") AS phiguard_lacks`)
	for i, t := range tables {
		fmt.Fprintf(&b, `, ONLY "%s" AS phiguard_%d`, t, i+1)
	}
	b.WriteString(" LIMIT 0) IS NULL AND")
	return b.String()
}

// probeRow is the text for a function's item that must lack name.
func probeRow(name, item string) string {
	return ` (SELECT "` + name + `" FROM (SELECT "` + item + `".*, NULL AS "` + name + `") AS phiguard_lacks) IS NULL AND`
}

// TestProbesInnerItems: a name bound past an inner level's tables (to
// an outer encrypted column, or by the catalog to a table further out)
// is sent with a probe in the WHERE of each such level, naming the item
// as the WHERE reaches it; a level without a WHERE, or an item no name
// reaches alone, gets none, and the plan stays as it was.
func TestProbesInnerItems(t *testing.T) {
	pol := testPolicy(t)
	facts := &fakeFacts{has: map[TableName]bool{{Name: "visits"}: true}}
	const head = "SELECT 1 FROM patients WHERE EXISTS (SELECT 1 FROM "
	for _, c := range []struct {
		sql, want string
		knowing   bool
	}{
		{sql: head + "other WHERE ssn = '1')", want: head + "other WHERE" + probe("ssn", "other") + " ssn = '1')"},
		{sql: head + "other o, more WHERE (ssn = '1' OR o.id = 2))", want: head + "other o, more WHERE" + probe("ssn", "other", "more") + " (ssn = '1' OR o.id = 2))"},
		// A join alias hides its tables: the probe names the alias,
		// whose * passes their columns.
		{sql: head + "(other a JOIN more b ON true) j WHERE ssn = '1')", want: head + "(other a JOIN more b ON true) j WHERE" + probe("ssn", "other", "more") + " ssn = '1')"},
		// Two levels inside the binding: a probe in each.
		{sql: head + "other WHERE EXISTS (SELECT 1 FROM more WHERE ssn = '1'))",
			want: head + "other WHERE" + probe("ssn", "other") + " EXISTS (SELECT 1 FROM more WHERE" + probe("ssn", "more") + " ssn = '1'))"},
		// The name in the JOIN's ON: the probe goes to the level's WHERE.
		{sql: head + "other a JOIN more b ON ssn = '1' WHERE a.id = 1)", want: head + "other a JOIN more b ON ssn = '1' WHERE" + probe("ssn", "other", "more") + " a.id = 1)"},
		// No WHERE at the level: the probes as a WHERE of their own,
		// after the FROM clause.
		{sql: head + "other o JOIN more m ON ssn = '1')", want: head + "other o JOIN more m ON ssn = '1' WHERE" + strings.TrimSuffix(probe("ssn", "other", "more"), " AND") + ")"},
		// A reserved word after a dot is a column label, not a clause
		// that ends the FROM clause (red team 38b).
		{sql: head + "other o JOIN more m ON m.limit = o.id AND ssn = '1' AND m./* c */order = 1)",
			want: head + "other o JOIN more m ON m.limit = o.id AND ssn = '1' AND m./* c */order = 1 WHERE" + strings.TrimSuffix(probe("ssn", "other", "more"), " AND") + ")"},
		{sql: head + "other o JOIN more m ON ssn = '1' AND collation for (m.x) = 'C')",
			want: head + "other o JOIN more m ON ssn = '1' AND collation for (m.x) = 'C' WHERE" + strings.TrimSuffix(probe("ssn", "other", "more"), " AND") + ")"},
		// A subquery item's own FROM is not the level's (red team 38b).
		{sql: head + "(SELECT FROM other) s JOIN more m ON ssn = '1')",
			want: head + "(SELECT FROM other) s JOIN more m ON ssn = '1' WHERE" + strings.TrimSuffix(probe("ssn", "more"), " AND") + ")"},
		{sql: "SELECT id, (SELECT o.from AS limit FROM other o JOIN more m ON ssn = '1') FROM patients",
			want: "SELECT id, (SELECT o.from AS limit FROM other o JOIN more m ON ssn = '1' WHERE" + strings.TrimSuffix(probe("ssn", "other", "more"), " AND") + ") FROM patients"},
		// A FROM clause that touches the next keyword: a space after
		// the probes.
		{sql: head + "other o JOIN more m ON ssn = '1'LIMIT 1)",
			want: head + "other o JOIN more m ON ssn = '1' WHERE" + strings.TrimSuffix(probe("ssn", "other", "more"), " AND") + " LIMIT 1)"},
		{sql: "SELECT id, (SELECT ssn = '1' FROM other /* c */ LIMIT 1) FROM patients",
			want: "SELECT id, (SELECT ssn = '1' FROM other WHERE" + strings.TrimSuffix(probe("ssn", "other"), " AND") + " /* c */ LIMIT 1) FROM patients"},
		{sql: "SELECT id, (SELECT count(*) FROM (other o JOIN more m ON (o.id = m.id)) GROUP BY o.id HAVING ssn IS NULL) FROM patients",
			want: "SELECT id, (SELECT count(*) FROM (other o JOIN more m ON (o.id = m.id)) WHERE" + strings.TrimSuffix(probe("ssn", "other", "more"), " AND") + " GROUP BY o.id HAVING ssn IS NULL) FROM patients"},
		{sql: "SELECT id FROM patients p WHERE p.id IN (SELECT 1 FROM other WHERE ssn = '1' UNION SELECT 2 FROM more ORDER BY 1)",
			want: "SELECT id FROM patients p WHERE p.id IN (SELECT 1 FROM other WHERE" + probe("ssn", "other") + " ssn = '1' UNION SELECT 2 FROM more ORDER BY 1)"},
		// Knowing the catalog: visits.ssn, and the more inner table must lack it.
		{sql: head + "visits WHERE EXISTS (SELECT 1 FROM other o WHERE ssn = '1'))", knowing: true,
			want: head + "visits WHERE EXISTS (SELECT 1 FROM other o WHERE" + probe("ssn", "other") + " visits.ssn = '1'))"},
		// A comment between WHERE and the clause: the probe goes
		// right after WHERE (before, none was placed: red team 38).
		{sql: head + "other WHERE /* c */ ssn = '1')", want: head + "other WHERE" + probe("ssn", "other") + " /* c */ ssn = '1')"},
		{sql: head + "other WHERE -- c\n (ssn = '1'))", want: head + "other WHERE" + probe("ssn", "other") + " -- c\n (ssn = '1'))"},
		{sql: head + "other WHERE ( /* c */ ssn = '1'))", want: head + "other WHERE" + probe("ssn", "other") + " ( /* c */ ssn = '1'))"},
		// A function without an alias is named after it (before, it had
		// no name and no probe: red team 38).
		{sql: head + "generate_series(1, 2) WHERE ssn = '1')", want: head + "generate_series(1, 2) WHERE" + probeRow("ssn", "generate_series") + " ssn = '1')"},
		{sql: head + "pg_catalog.generate_series(1, 2) WITH ORDINALITY WHERE ssn = '1')", want: head + "pg_catalog.generate_series(1, 2) WITH ORDINALITY WHERE" + probeRow("ssn", "generate_series") + " ssn = '1')"},
		// The probe counts from the literal before it.
		{sql: "SELECT 1 FROM patients WHERE id = 1 AND EXISTS (SELECT 1 FROM other WHERE ((ssn = '1')))",
			want: "SELECT 1 FROM patients WHERE id = 1 AND EXISTS (SELECT 1 FROM other WHERE" + probe("ssn", "other") + " ((ssn = '1')))"},
	} {
		a := Analyze(c.sql)
		plan := PlanFor(a, pol)
		if c.knowing {
			plan = a.PlanKnowing(pol, facts)
		}
		if plan.Refusal != nil {
			t.Errorf("%s: refused %v", c.sql, plan.Refusal)
			continue
		}
		if got := sentWithCuts(t, plan, c.sql); got != c.want {
			t.Errorf("%s:\nsent %s\nwant %s", c.sql, got, c.want)
		}
		if probed := strings.Contains(c.want, "phiguard_lacks"); probed != (len(plan.Lacking) > 0) {
			t.Errorf("%s: lacking %+v", c.sql, plan.Lacking)
		}
	}
}

// TestLackedNameRefusal: the database's 42702 for a probed name is
// phiguard's refusal; another code, or another name, is not.
func TestLackedNameRefusal(t *testing.T) {
	lacking := []LackedName{{Name: "tag", Items: []string{"z"}}}
	r, ok := LackedNameRefusal(lacking, string(pgerr.AmbiguousColumn), `column reference "tag" is ambiguous`)
	if !ok || r.Code != pgerr.FeatureNotSupported || !strings.Contains(r.Message, "z had no column tag") {
		t.Fatalf("refusal %+v, %v", r, ok)
	}
	// Translated (lc_messages), with other quotes.
	if _, ok := LackedNameRefusal(lacking, string(pgerr.AmbiguousColumn), `Spaltenverweis »tag« ist zweideutig`); !ok {
		t.Error("a translated message")
	}
	for _, c := range []struct{ code, msg string }{
		{string(pgerr.UndefinedColumn), `column reference "tag" is ambiguous`},
		{string(pgerr.AmbiguousColumn), `column reference "other" is ambiguous`},
		{string(pgerr.AmbiguousColumn), `column reference "tag_id" is ambiguous`},
		{string(pgerr.AmbiguousColumn), `column reference "xtag" is ambiguous`},
	} {
		if _, ok := LackedNameRefusal(lacking, c.code, c.msg); ok {
			t.Errorf("%s %s: taken for the probe's", c.code, c.msg)
		}
	}
	if _, ok := LackedNameRefusal(nil, string(pgerr.AmbiguousColumn), `column reference "tag" is ambiguous`); ok {
		t.Error("a plan without probes")
	}
}
