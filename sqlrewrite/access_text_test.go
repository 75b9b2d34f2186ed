package sqlrewrite

import (
	"strings"
	"testing"

	pg_query "github.com/pganalyze/pg_query_go/v5"
)

// TestAccessEditsKeepClientText: a row rule's changes are edits of the
// client's text, which reaches the database as written around them (its
// comments, case and spacing), and the edited text parses to the tree
// the walker changed, so no statement falls back to the deparser.
func TestAccessEditsKeepClientText(t *testing.T) {
	pol := loadAccessPolicy(t)
	cases := []struct{ sql, keep, want string }{
		{"select ID from Patients /* c1 */ where ID = $1", "select ID from ", "(SELECT * FROM public.patients WHERE"},
		{"SELECT * FROM ONLY patients p WHERE p.id = $1", "SELECT * FROM (SELECT * FROM ONLY public.patients", ") p WHERE p.id = $1"},
		{"SELECT * FROM ONLY ( patients ) WHERE id = $1", "SELECT * FROM (SELECT * FROM ONLY public.patients", ") patients WHERE id = $1"},
		{"SELECT * FROM patients * WHERE id = $1", "SELECT * FROM (SELECT", ") patients WHERE id = $1"},
		{`SELECT * FROM U&"p\0061tients" /* c6 */ WHERE id = $1`, `SELECT * FROM (SELECT`, `) patients /* c6 */ WHERE id = $1`},
		{"SELECT x.a FROM public.patients AS x (a) WHERE x.a = $1", "SELECT x.a FROM (SELECT", ") x(a) WHERE x.a = $1"},
		{"SELECT 1 FROM providers p JOIN notes n ON n.patient = p.id /* c2 */ WHERE p.id = $1", "SELECT 1 FROM providers p JOIN (SELECT", "/* c2 */ WHERE p.id = $1"},
		{"SELECT 1 FROM providers p, LATERAL (SELECT * FROM notes WHERE patient = p.id) AS q", "SELECT 1 FROM providers p, LATERAL (SELECT * FROM (SELECT", ") AS q"},
		{"UPDATE notes SET body = 'x' WHERE id IN (SELECT id FROM notes -- c3\n WHERE body IS DISTINCT FROM 'y') RETURNING id", "THEN (id IN (SELECT id FROM (SELECT * FROM public.notes", "-- c3\n WHERE body IS DISTINCT FROM 'y')) ELSE false END RETURNING id"},
		{"DELETE FROM notes", "DELETE FROM notes WHERE patient", "current_user)"},
		{"DELETE FROM notes /* c4 */ RETURNING id", "DELETE FROM notes WHERE patient", "/* c4 */ RETURNING id"},
		{"delete from notes where id = 2 or body = 'x' returning *", "delete from notes where patient", "THEN (id = 2 or body = 'x') ELSE false END returning *"},
		{"WITH d AS (DELETE FROM notes RETURNING id) SELECT count(*) FROM d", "WITH d AS (DELETE FROM notes WHERE", "RETURNING id) SELECT count(*) FROM d"},
		{"WITH u AS (UPDATE notes SET body = 'x' WHERE id = 1 RETURNING id) SELECT * FROM u", "WITH u AS (UPDATE notes SET body = 'x' WHERE", "AND id = 1 RETURNING id) SELECT * FROM u"},
		{"UPDATE notes SET patient = $1, body = 'b' WHERE id = 11", "UPDATE notes SET patient = CASE WHEN $1", "END, body = 'b' WHERE"},
		{"UPDATE notes SET body = /* c5 */ $2 IS DISTINCT FROM 'a', patient = $1 WHERE id = 11", "SET body = /* c5 */ CASE WHEN", "THEN ($2 IS DISTINCT FROM 'a')::text"},
		{"INSERT INTO notes (id, patient, body) VALUES (1, $1, 'a'), (2, $2, 'b') RETURNING id", "VALUES (CASE WHEN $1", "END, $2, 'b') RETURNING id"},
		{"INSERT INTO notes AS n (id, patient, body) SELECT id, patient, body FROM notes WHERE id = 3 ON CONFLICT DO NOTHING RETURNING n.id", "INSERT INTO notes AS n (id, patient, body) SELECT * FROM (SELECT id, patient, body FROM (SELECT", ") phiguard_new(id, patient, body) WHERE CASE WHEN"},
		{"insert into notes select * from notes returning id", "insert into notes SELECT * FROM (select * from (SELECT", "returning id"},
		{"INSERT INTO notes (id, patient, body) OVERRIDING USER VALUE SELECT id, patient, body FROM notes", "OVERRIDING USER VALUE SELECT * FROM (SELECT id, patient, body FROM (SELECT", ""},
		{"SELECT 1; DELETE FROM notes WHERE id = 2", "SELECT 1; DELETE FROM notes WHERE patient", "AND id = 2"},
	}
	for _, c := range cases {
		before := accessTextFallbacks.Load()
		acc := accessFor(t, pol, "clinician", c.sql, false)
		if acc.Refusal != nil || !acc.Changed {
			t.Errorf("%q: refused %v or unchanged", c.sql, acc.Refusal)
			continue
		}
		if accessTextFallbacks.Load() != before {
			t.Errorf("%q: written from the tree, not edited:\n  %s", c.sql, acc.SQL)
		}
		if !strings.Contains(acc.SQL, c.keep) || !strings.Contains(acc.SQL, c.want) {
			t.Errorf("%q:\n  sent %s\n  want %q and %q in it", c.sql, acc.SQL, c.keep, c.want)
		}
		if _, err := pg_query.Parse(acc.SQL); err != nil {
			t.Errorf("%q: sent text does not parse: %v", c.sql, err)
		}
	}
}

// TestAccessEditsFallBack: an edited text that does not parse to the
// walker's tree is not sent; the tree is written whole instead.
func TestAccessEditsFallBack(t *testing.T) {
	tree, err := pg_query.Parse("SELECT a FROM t WHERE b = 1 AND c = 2 AND d = 3")
	if err != nil {
		t.Fatal(err)
	}
	if _, same := sameStatements("select a  from t where (b = 1 AND c = 2) AND d = 3", tree); !same {
		t.Error("the same statement, respaced, with the parser's own nesting, compared unequal")
	}
	for _, other := range []string{"SELECT a FROM t WHERE b = 1 AND (c = 2 AND d = 3)", "SELECT a FROM t WHERE b = 1 AND c = 2", "SELECT a FROM t WHERE b = 1 AND c = 2 AND d = 4", "SELECT a FROM"} {
		if _, same := sameStatements(other, tree); same {
			t.Errorf("%q compared equal to the tree", other)
		}
	}
	// A lost place (an edit out of the text) writes the tree whole.
	w := &accessWalker{acc: &Access{}, text: &accessText{sql: "SELECT 1"}}
	w.text.replace([2]int{5, 99}, true, func() string { return "2" })
	if got := w.written(tree); !strings.HasPrefix(got, "SELECT a FROM t WHERE") {
		t.Errorf("lost text: written %q, want the tree deparsed", got)
	}

	// The VALUES of INSERT ... (VALUES ...) are not found (the scanner
	// of their items wants them unparenthesized): the value's check is
	// not placed, and the tree is written.
	pol := loadAccessPolicy(t)
	before := accessTextFallbacks.Load()
	acc := accessFor(t, pol, "clinician", `INSERT INTO notes (id, patient, body) (VALUES (1, $1, 'a'))`, false)
	if accessTextFallbacks.Load() != before+1 || !strings.HasPrefix(acc.SQL, "INSERT INTO notes (id, patient, body) VALUES (CASE WHEN $1 OPERATOR(pg_catalog.=) ANY") {
		t.Errorf("(VALUES ...): fallbacks %d, sent %s", accessTextFallbacks.Load()-before, acc.SQL)
	}
}
