package sqlrewrite

import (
	"strings"
	"testing"

	pg_query "github.com/pganalyze/pg_query_go/v5"

	"github.com/phiguard/phiguard/internal/pgerr"
)

// TestOperatorEdits: each comparison on cells gets its check where it
// runs in every plan (Placement): beside a literal conjunct of the
// statement's WHERE or of an inner join's ON on its way; in the value
// operand under OR or NOT, in an outer join's ON, in a subquery, and
// for NULL or a parameter (an item of ARRAY[value, check], one more IN
// item, a CASE around a value left of the column or in parentheses or
// another column; COALESCE for a hoisted parameter left of the
// column). The text still parses, and
// the check is the cheap one (a regoperator constant) for operand types
// pg_catalog has an exact operator for, the pg_operator probe otherwise
// (a parameter declared varchar).
func TestOperatorEdits(t *testing.T) {
	pol := testPolicy(t)
	cases := []struct {
		sql      string
		declared uint32
		wraps    []string
		probe    bool
	}{
		{sql: "SELECT id FROM patients WHERE ssn = '123' OR id = 7",
			wraps: []string{"WHERE ssn = ANY(ARRAY['123', CASE WHEN (SELECT CASE WHEN", "THEN true ELSE CAST(pg_catalog.concat(pg_catalog.current_setting('phiguard_shadowed_operator:= on text:public.patients.ssn'), ':') AS pg_catalog.bool) END) THEN '~phg~!' END]) OR id = 7"}},
		{sql: "UPDATE patients SET first = NULL WHERE ssn IN ('1', $1) AND NOT passport <> 'x'",
			wraps: []string{"WHERE (CASE WHEN", "AND ssn IN ('1', $1)) AND NOT passport <> ALL(ARRAY['x', CASE WHEN (SELECT CASE", "END) THEN '~phg~!' END])"}},
		{sql: "DELETE FROM patients WHERE ssn = $1", declared: 1043, wraps: []string{"WHERE ssn = ANY(ARRAY[$1, CASE WHEN (SELECT CASE WHEN", "END) THEN '~phg~!' END])",
			"CAST('=(pg_catalog.text,pg_catalog.text)' AS pg_catalog.regoperator)"}, probe: true},
		{sql: "DELETE FROM patients WHERE $1 = ssn", wraps: []string{"WHERE (CASE WHEN", "AND COALESCE($1, CASE WHEN (SELECT CASE WHEN", "END) THEN NULL END) = ssn)"}},
		{sql: "SELECT id FROM patients WHERE ssn = NULL", wraps: []string{"WHERE ssn = CASE WHEN (SELECT CASE WHEN", "END) THEN NULL END"}},
		{sql: "SELECT id FROM patients WHERE NULL <> ssn", wraps: []string{"WHERE CASE WHEN (SELECT CASE WHEN", "END) THEN NULL END <> ssn"}},
		{sql: "SELECT id FROM patients WHERE ssn IN (NULL)", wraps: []string{"WHERE ssn IN (NULL, CASE WHEN (SELECT CASE WHEN", "END) THEN '~phg~!' END)"}},
		{sql: "SELECT id FROM patients WHERE ssn NOT IN ($1)", wraps: []string{"WHERE ssn NOT IN ($1, CASE WHEN (SELECT", "END) THEN '~phg~!' END)"}},
		{sql: "SELECT id FROM patients WHERE ssn IN (NULL, 'a') OR id = 1", wraps: []string{"WHERE ssn IN (NULL, 'a', CASE WHEN (SELECT CASE WHEN", "END) THEN '~phg~!' END) OR id = 1"}},
		{sql: "SELECT 1 FROM patients p LEFT JOIN billing.claims c ON c.member_ssn = p.ssn", wraps: []string{"ON c.member_ssn = CASE WHEN (SELECT CASE WHEN", "END) THEN p.ssn END"}},
		{sql: "SELECT 1 FROM billing.claims c WHERE NOT EXISTS (SELECT 1 FROM patients p WHERE p.ssn = 'a' AND p.id = c.id)",
			wraps: []string{"WHERE p.ssn = ANY(ARRAY['a', CASE WHEN (SELECT CASE WHEN", "END) THEN '~phg~!' END]) AND p.id = c.id"}},
		{sql: "SELECT 1 FROM patients a LEFT JOIN patients b JOIN billing.claims c ON c.member_ssn = b.ssn ON b.id = a.id",
			wraps: []string{"ON c.member_ssn = CASE WHEN (SELECT CASE WHEN", "END) THEN b.ssn END ON"}},
		{sql: "SELECT 1 FROM patients p JOIN billing.claims c ON c.member_ssn = p.ssn LEFT JOIN patients q ON q.id = p.id WHERE (p.ssn = 'a')",
			wraps: []string{"ON (CASE WHEN", "AND c.member_ssn = p.ssn) LEFT", "WHERE ((CASE WHEN", "END AND p.ssn = 'a'))"}},
		{sql: "SELECT 1 FROM patients q RIGHT JOIN patients p JOIN billing.claims c ON c.member_ssn = p.ssn ON q.id = p.id",
			wraps: []string{"ON (CASE WHEN", "AND c.member_ssn = p.ssn) ON"}},
		{sql: "SELECT ssn = 'a' FROM patients", wraps: []string{"SELECT ssn = ANY(ARRAY['a', CASE WHEN (SELECT CASE WHEN", "END) THEN '~phg~!' END]) FROM"}},
		{sql: "SELECT id FROM patients WHERE (ssn) = ('a') OR ssn <> 'b' OR 'c' = ssn",
			wraps: []string{"WHERE (ssn) = CASE WHEN (SELECT", "END) THEN ('a') END OR ssn <> ALL(ARRAY['b', CASE WHEN (SELECT", "OR CASE WHEN (SELECT", "END) THEN 'c' END = ssn"}},
		{sql: "SELECT 1 FROM patients p JOIN billing.claims c ON c.member_ssn = p.ssn", wraps: []string{"AND c.member_ssn = p.ssn)"}},
		// The cells are text: their (text, text) operator is checked too
		// (TestRedTeam31bShadowedCellOperator).
		{sql: "SELECT id FROM admissions WHERE mrn = -42", wraps: []string{"CAST('=(pg_catalog.int8,pg_catalog.int4)' AS pg_catalog.regoperator)", "AND mrn = -42)",
			"CAST('=(pg_catalog.text,pg_catalog.text)' AS pg_catalog.regoperator) AS pg_catalog.oid) OPERATOR(pg_catalog.=) CAST(98 AS pg_catalog.oid)"}},
		{sql: "SELECT id FROM admissions WHERE mrn <> 7 OR id = 1", wraps: []string{"CAST('<>(pg_catalog.int8,pg_catalog.int4)' AS pg_catalog.regoperator)",
			"CAST('<>(pg_catalog.text,pg_catalog.text)' AS pg_catalog.regoperator) AS pg_catalog.oid) OPERATOR(pg_catalog.=) CAST(531 AS pg_catalog.oid)"}},
		// -2147483648 is int4; a cast by the type's name alone is checked
		// to be pg_catalog's type (pg_temp's comes first).
		{sql: "SELECT id FROM admissions WHERE mrn = -2147483648", wraps: []string{"CAST('=(pg_catalog.int8,pg_catalog.int4)' AS pg_catalog.regoperator)"}},
		{sql: "SELECT id FROM admissions WHERE mrn = '5'::int8", wraps: []string{"CAST('\"int8\"' AS pg_catalog.regtype) AS pg_catalog.oid) OPERATOR(pg_catalog.=) CAST(20 AS pg_catalog.oid)"}},
		// Parentheses around an operand alone: the check goes before them
		// (inside, it made an AND of a text: 42804).
		{sql: "SELECT p.id FROM patients p WHERE (p.ssn) = ('999-49-3983')", wraps: []string{"END AND (p.ssn) = ('999-49-3983'))"}},
		{sql: "SELECT id FROM patients WHERE ( (ssn) ) IN ('a', 'b') AND ('c' = ssn)", wraps: []string{"END AND ( (ssn) ) IN ('a', 'b'))", "(CASE WHEN", "END AND 'c' = ssn))"}},
	}
	for _, c := range cases {
		plan := PlanFor(Analyze(c.sql), pol)
		if plan.Refusal != nil || len(plan.Operators) == 0 {
			t.Fatalf("%s: refusal %v, %d operator checks", c.sql, plan.Refusal, len(plan.Operators))
		}
		edits, ok := OperatorEdits([]byte(c.sql), LiteralSpans([]byte(c.sql)), plan.Operators, func(int) uint32 { return c.declared })
		if !ok {
			t.Fatalf("%s: the checks' points fall outside the text", c.sql)
		}
		out, ok := Splice([]byte(c.sql), edits)
		if !ok {
			t.Fatalf("%s: overlapping edits", c.sql)
		}
		if _, err := pg_query.Parse(string(out)); err != nil {
			t.Fatalf("%s → %s: %v", c.sql, out, err)
		}
		for _, w := range c.wraps {
			if !strings.Contains(string(out), w) {
				t.Errorf("%s → %s\nwant %q in it", c.sql, out, w)
			}
		}
		if probe := strings.Contains(string(out), "pg_catalog.pg_operator o"); probe != c.probe {
			t.Errorf("%s → %s\npg_operator probe %v, want %v", c.sql, out, probe, c.probe)
		}
		if strings.Contains(string(out), "current_schemas") || strings.Contains(string(out), "to_regoperator") {
			t.Errorf("%s → %s\nwant no lookup along the search_path of execution", c.sql, out)
		}
	}
}

// TestShadowedOperatorRefusal: the check's error becomes a 0A000 naming
// the column and the operator; other errors are not taken for it.
func TestShadowedOperatorRefusal(t *testing.T) {
	r, ok := ShadowedOperatorRefusal(`unrecognized configuration parameter "phiguard_shadowed_operator:= on text:public.patients.ssn"`)
	if !ok {
		t.Fatal("the check's error was not recognised")
	}
	msg := r.PgError().Message
	if r.Code != pgerr.FeatureNotSupported || r.Table != "public.patients" ||
		!strings.Contains(msg, "column public.patients.ssn is encrypted") || !strings.Contains(msg, "an operator = on text outside pg_catalog") {
		t.Errorf("refusal %+v: %s", r, msg)
	}
	// A column of another type names its cells' text operator too.
	r, ok = ShadowedOperatorRefusal(`unrecognized configuration parameter "phiguard_shadowed_operator:<> on date:public.patients.born"`)
	if msg := r.PgError().Message; !ok || !strings.Contains(msg, "an operator <> on date, or <> on text (the type of its cells), outside pg_catalog") {
		t.Errorf("refusal %+v: %s", r, msg)
	}
	for _, m := range []string{`unrecognized configuration parameter "phiguard_columns_changed:public.patients"`,
		`invalid input syntax for type boolean: ":"`, `unrecognized configuration parameter "phiguard_shadowed_operator:"`} {
		if _, ok := ShadowedOperatorRefusal(m); ok {
			t.Errorf("%q taken for the check's error", m)
		}
	}
}

// TestGateWhere: the gate becomes the first conjunct of the top-level
// WHERE, or the WHERE, and the text still parses.
func TestGateWhere(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"SELECT a FROM t WHERE x = 1 OR y = 2 ORDER BY a LIMIT 3",
			"SELECT a FROM t WHERE G AND ( x = 1 OR y = 2) ORDER BY a LIMIT 3"},
		{"SELECT a FROM t JOIN u ON u.k = t.k ORDER BY a", "SELECT a FROM t JOIN u ON u.k = t.k WHERE G ORDER BY a"},
		{"SELECT a IS DISTINCT FROM b, (SELECT 1 FROM v WHERE z) FROM t -- c", "SELECT a IS DISTINCT FROM b, (SELECT 1 FROM v WHERE z) FROM t WHERE G -- c"},
		{"SELECT a FROM t WHERE a IN (SELECT b FROM u WHERE c) -- note\n", "SELECT a FROM t WHERE G AND ( a IN (SELECT b FROM u WHERE c)) -- note\n"},
		{"SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY a) FROM t GROUP BY b HAVING count(*) > 1",
			"SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY a) FROM t WHERE G GROUP BY b HAVING count(*) > 1"},
		{"WITH w AS (SELECT 1 FROM s WHERE q) SELECT a FROM w WHERE r FETCH FIRST 2 ROWS ONLY",
			"WITH w AS (SELECT 1 FROM s WHERE q) SELECT a FROM w WHERE G AND ( r) FETCH FIRST 2 ROWS ONLY"},
	} {
		got, ok := GateWhere([]byte(c.in), "G")
		if !ok || string(got) != c.want {
			t.Errorf("%s\ngot  %s (%v)\nwant %s", c.in, got, ok, c.want)
			continue
		}
		if _, err := pg_query.Parse(strings.ReplaceAll(string(got), " G ", " true ")); err != nil {
			t.Errorf("%s: %v", got, err)
		}
	}
	if _, ok := GateWhere([]byte("SELECT 1"), "G"); ok {
		t.Error("a SELECT without FROM was gated")
	}
}

// TestOperatorEditsShapeReuse: a plan made for one text of a shape
// places its checks right in another text of the shape, whose literals
// have other lengths.
func TestOperatorEditsShapeReuse(t *testing.T) {
	pol := testPolicy(t)
	z := NewAnalyzer(100, 1<<20)
	first := "SELECT id FROM patients WHERE id > 5 AND ssn IN ('a', 'b') AND (passport = 'x' OR id = 1)"
	other := "SELECT id FROM patients WHERE id > 12345 AND ssn IN ('aaaa', 'bbbbbbbb') AND (passport = 'xyz' OR id = 100)"
	a, _ := z.Analyze([]byte(first))
	plan := a.PlanUnder(pol)
	b, cached := z.Analyze([]byte(other))
	if !cached || b.PlanUnder(pol) != plan {
		t.Fatalf("the second text did not reuse the first's plan (cached %v)", cached)
	}
	edits, ok := OperatorEdits([]byte(other), LiteralSpans([]byte(other)), plan.Operators, nil)
	if !ok {
		t.Fatal("the checks' points fall outside the text")
	}
	out, _ := Splice([]byte(other), edits)
	for _, w := range []string{"END AND ssn IN ('aaaa', 'bbbbbbbb'))", "(passport = ANY(ARRAY['xyz', CASE WHEN (SELECT CASE WHEN", "END) THEN '~phg~!' END]) OR id = 100)", "WHERE id > 12345 AND (CASE WHEN"} {
		if !strings.Contains(string(out), w) {
			t.Errorf("%s\nwant %q in it", out, w)
		}
	}
	if _, err := pg_query.Parse(string(out)); err != nil {
		t.Errorf("%s: %v", out, err)
	}
}

// TestUnqualifiedCast: the name the check looks up is the cast's as
// written, with [] for an array (CAST('"text"[]' AS regtype) is text[]'s OID,
// TestArrayEqualityAsPostgreSQL); a qualified name or a keyword's has none.
func TestUnqualifiedCast(t *testing.T) {
	for sql, want := range map[string]string{
		"SELECT '{a,b}'::text[]":            `CAST(CAST('"text"[]' AS pg_catalog.regtype) AS pg_catalog.oid) OPERATOR(pg_catalog.=) CAST(1009 AS pg_catalog.oid)`,
		"SELECT '5'::int8":                  `CAST(CAST('"int8"' AS pg_catalog.regtype) AS pg_catalog.oid) OPERATOR(pg_catalog.=) CAST(20 AS pg_catalog.oid)`,
		"SELECT '5'::pg_catalog.int8":       "",
		"SELECT '5'::bigint":                "",
		"SELECT CAST('x' AS \"Weird\"\"\")": "",
	} {
		tree, err := pg_query.Parse(sql)
		if err != nil {
			t.Fatal(err)
		}
		n := tree.GetStmts()[0].GetStmt().GetSelectStmt().GetTargetList()[0].GetResTarget().GetVal()
		got := ""
		if c := unqualifiedCast(n); c.name != "" {
			got = castCondition([]castName{c})
		}
		if got != want {
			t.Errorf("%s: %q, want %q", sql, got, want)
		}
	}
}

// TestSortedPlacements: in a read RewriteSort writes, every comparison on
// cells is checked by the gate first in its WHERE (PlaceGate), and one
// with NULL or a parameter, which PostgreSQL folds at planning with the
// WHERE around it, gate and all, also in its operand (TextGuards): the
// text RewriteSort makes of the client's with those checks placed
// parses, keeps them, and keeps literal comparisons as they were; one
// in a plaintext leaf of an OR phiguard evaluates is a hidden column
// (the gate alone).
func TestSortedPlacements(t *testing.T) {
	pol := testPolicy(t)
	cases := []struct {
		sql    string
		places []Placement // per guard, in order
		wraps  []string    // in the text RewriteSort writes
	}{
		{sql: "SELECT id FROM patients WHERE ssn = 'a' AND passport <> 'b' ORDER BY first",
			places: []Placement{PlaceGate, PlaceGate}, wraps: []string{"WHERE ssn = 'a' AND passport <> 'b' "}},
		{sql: "SELECT id FROM patients WHERE ssn = NULL ORDER BY first",
			places: []Placement{PlaceOperand}, wraps: []string{"WHERE ssn = CASE WHEN (SELECT CASE WHEN", "END) THEN NULL END"}},
		{sql: "SELECT id FROM patients WHERE ssn = $1 AND passport IN (NULL) AND ssn NOT IN ($2) ORDER BY first",
			places: []Placement{PlaceArray, PlaceItem, PlaceItem},
			wraps: []string{"WHERE ssn = ANY(ARRAY[$1, CASE WHEN (SELECT CASE WHEN", "END) THEN '~phg~!' END]) AND passport IN (NULL, CASE WHEN",
				"AND ssn NOT IN ($2, CASE WHEN (SELECT"}},
		{sql: "SELECT id FROM patients WHERE $1 = ssn AND (passport) = ($2) ORDER BY first",
			places: []Placement{PlaceNull, PlaceNull},
			wraps:  []string{"WHERE COALESCE($1, CASE WHEN (SELECT CASE WHEN", "END) THEN NULL END) = ssn AND (passport) = COALESCE(($2), CASE WHEN"}},
		// Two values = one column: one equivalence class, whose two
		// constants would make a join empty without its checks
		// (classPlacements): in the operands.
		{sql: "SELECT id FROM patients WHERE $1 = ssn AND (ssn) = ($2) ORDER BY first",
			places: []Placement{PlaceOperand, PlaceOperand},
			wraps:  []string{"WHERE CASE WHEN (SELECT CASE WHEN", "END) THEN $1 END = ssn AND (ssn) = CASE WHEN (SELECT", "END) THEN ($2) END"}},
		{sql: "SELECT id FROM (SELECT * FROM patients WHERE ssn = NULL OR id = 1) s ORDER BY first",
			places: []Placement{PlaceOperand}, wraps: []string{"WHERE ssn = CASE WHEN (SELECT CASE WHEN", "END) THEN NULL END OR id = 1"}},
		{sql: "SELECT id FROM patients WHERE ssn = $1 OR first > 'x' ORDER BY first",
			places: []Placement{PlaceGate}, wraps: []string{"CAST((ssn = $1) AS pg_catalog.text)"}},
	}
	for _, c := range cases {
		p := PlanFor(Analyze(c.sql), pol)
		if p.Refusal != nil || p.Sort == nil || len(p.Operators) != len(c.places) {
			t.Fatalf("%s: %v, sort %v, %d guards", c.sql, p.Refusal, p.Sort != nil, len(p.Operators))
		}
		var placed int
		for i, g := range p.Operators {
			if g.Place != c.places[i] {
				t.Errorf("%s: guard %d %v, want %v", c.sql, i, g.Place, c.places[i])
			}
			if g.Place != PlaceGate {
				placed++
			}
		}
		if len(p.TextGuards()) != placed {
			t.Errorf("%s: %d guards placed in the text, want %d", c.sql, len(p.TextGuards()), placed)
		}
		text := []byte(c.sql)
		edits, ok := OperatorEdits(text, LiteralSpans(text), p.TextGuards(), nil)
		if ok {
			text, ok = Splice(text, edits)
		}
		if !ok {
			t.Fatalf("%s: the checks' places disagree with the text", c.sql)
		}
		sent, err := RewriteSort(text, p.Sort)
		if err != nil {
			t.Fatalf("%s: %v", c.sql, err)
		}
		for _, w := range c.wraps {
			if !strings.Contains(string(sent), w) {
				t.Errorf("%s: sent\n%s\nwithout %q", c.sql, sent, w)
			}
		}
		if _, err := pg_query.Parse(string(sent)); err != nil {
			t.Errorf("%s: %v", c.sql, err)
		}
	}
}
