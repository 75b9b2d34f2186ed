package guard

import (
	"strconv"
	"strings"
	"testing"

	"github.com/phiguard/phiguard/internal/pgerr"
	"github.com/phiguard/phiguard/internal/pgwire"
	"github.com/phiguard/phiguard/keys"
	"github.com/phiguard/phiguard/policy"
	"github.com/phiguard/phiguard/sqlrewrite"
)

// TestUnknownRelation: a statement that reads or writes a relation the
// catalog does not list (not a WITH query's name) has the catalog read
// first; DDL does not (the catalog is read after it); a write through a
// view or a table with rules does.
func TestUnknownRelation(t *testing.T) {
	b := newCatalogBuilder(nil)
	for _, r := range [][3]string{{"public", "patients", "false"}, {"public", "summary", "true"},
		{"public", "px", "false"}, {"other", "summary", "false"}, {"other", "patients", "false"}} {
		b.addRelation([][]byte{[]byte(r[0]), []byte(r[1]), []byte(r[2])})
	}
	c := b.cat
	for _, tc := range []struct {
		sql, unknown string
		rules        bool
	}{
		{sql: "SELECT * FROM patients"},
		{sql: "SELECT * FROM public.patients p JOIN summary s USING (id)"},
		{sql: "SELECT * FROM new_view", unknown: "new_view"},
		{sql: "SELECT * FROM other.new_view", unknown: "other.new_view"},
		{sql: "WITH x AS (SELECT 1) SELECT * FROM x"},
		{sql: "WITH x AS (SELECT 1) SELECT * FROM public.x", unknown: "public.x"},
		{sql: "SELECT (SELECT count(*) FROM (WITH y AS (SELECT 1) SELECT * FROM y) z)"},
		{sql: "CREATE VIEW made AS SELECT * FROM new_table"},
		{sql: "COPY new_table TO STDOUT", unknown: "new_table"},
		{sql: "INSERT INTO summary (id) VALUES (1)", rules: true},
		{sql: "UPDATE patients SET ssn = '1' FROM summary WHERE summary.id = patients.id", rules: true},
		{sql: "INSERT INTO patients (id) VALUES (1)"},
		{sql: "SELECT * FROM summary"},
		{sql: "INSERT INTO new_view (id) VALUES (1)", unknown: "new_view"},
		// A name the catalog lists in another schema only: a view made
		// since under the name of an existing relation.
		{sql: "SELECT * FROM s.px", unknown: "s.px"},
		{sql: "SELECT * FROM px"},
		{sql: "SELECT * FROM pg_temp.px"},
		{sql: "SELECT * FROM \"Public\".px", unknown: "Public.px"},
		{sql: "INSERT INTO s.px (id) VALUES (1)", unknown: "s.px"},
		// Rules by schema: only public.summary is a view.
		{sql: "INSERT INTO other.summary (id) VALUES (1)"},
		{sql: "SELECT * FROM other.patients JOIN other.summary USING (id)"},
		{sql: "SELECT * FROM other.px", unknown: "other.px"},
		{sql: "INSERT INTO summary (id) VALUES (1)", rules: true},
		{sql: "INSERT INTO public.summary (id) VALUES (1)", rules: true},
	} {
		a := sqlrewrite.Analyze(tc.sql)
		if got := c.unknownRelation(a, false); got != tc.unknown {
			t.Errorf("%s: unknownRelation = %q, want %q", tc.sql, got, tc.unknown)
		}
		if got, want := c.unknownRelation(a, true), map[bool]string{true: tc.unknown}[a.Statements[0].Writes]; got != want {
			t.Errorf("%s: unknownRelation(writes) = %q, want %q", tc.sql, got, want)
		}
		if got := c.writesThroughRules(a); got != tc.rules {
			t.Errorf("%s: writesThroughRules = %v, want %v", tc.sql, got, tc.rules)
		}
	}
	var nilCat *catalog
	if nilCat.unknownRelation(sqlrewrite.Analyze("SELECT * FROM x"), false) != "" || nilCat.newRelation(1<<20) {
		t.Error("a session without a catalog treats names as unknown")
	}
}

// TestDecryptDataRowStrayCell: a cell in a field phiguard does not
// decrypt refuses the row, 40001 when its relation was made since the
// catalog was read, 0A000 otherwise; a plain value passes.
func TestDecryptDataRowStrayCell(t *testing.T) {
	s, cellA, _ := bindSession(t)
	fields := describe(t, s, "SELECT id, first FROM patients", 0)
	withTerms, err := keys.WithTerms(cellA, keys.CellTerms{Version: 1})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		extra *resultField
		value []byte
		code  pgerr.Code
	}{
		{nil, []byte("plain"), ""},
		{nil, cellA, pgerr.FeatureNotSupported},
		{nil, append([]byte("(1,"), append(cellA, ')')...), pgerr.FeatureNotSupported},
		{nil, withTerms, pgerr.FeatureNotSupported}, // a cell with search terms (format 2)
		{nil, append([]byte("{"), append(withTerms, '}')...), pgerr.FeatureNotSupported},
		{&resultField{newRel: true}, cellA, pgerr.SerializationFailure},
		{&resultField{newRel: true}, []byte("plain"), ""},
	} {
		f := append(append([]*resultField(nil), fields...), tc.extra)
		row := dataRow(t, []byte(subjA), cellA, tc.value)
		_, pe := s.decryptDataRow(row, f, none)
		var code pgerr.Code
		if pe != nil {
			code = pe.Code
		}
		if code != tc.code {
			t.Errorf("%q (newRel %v): %v, want %q", tc.value, tc.extra != nil, pe, tc.code)
		}
	}
}

// TestMadeSince: a name the read did not list but the latest catalog
// resolves (latestQuery's row of a kind) refuses a statement naming it
// with 40001; one resolving to nothing, or to an index, does not; a
// name the catalog lists is not refused.
func TestMadeSince(t *testing.T) {
	b := newCatalogBuilder(nil)
	b.addRelation([][]byte{[]byte("public"), []byte("t"), []byte("false")})
	b.probes = []sqlrewrite.TableName{{Name: "v"}, {Schema: "s", Name: "w"}, {Name: "typo"}, {Name: "idx"}}
	for _, row := range [][][]byte{{[]byte("v"), []byte("view")}, {[]byte("s.w"), []byte("table")}, {[]byte("typo"), nil}, {[]byte("idx"), []byte("index")}} {
		if err := b.add(pgwire.BeDataRow, dataRow(t, row...)); err != nil {
			t.Fatal(err)
		}
	}
	for sql, want := range map[string]pgerr.Code{
		"SELECT n FROM v": pgerr.SerializationFailure, "SELECT * FROM t JOIN s.w USING (id)": pgerr.SerializationFailure,
		"SELECT * FROM w": "", "SELECT * FROM typo": "", "SELECT * FROM idx": "", "SELECT * FROM t": "",
		"ALTER VIEW v RENAME TO w": "", "INSERT INTO v VALUES (1)": pgerr.SerializationFailure,
	} {
		var got pgerr.Code
		if pe := b.cat.madeSinceRefusal(sqlrewrite.Analyze(sql)); pe != nil {
			got = pe.Code
		}
		if got != want {
			t.Errorf("%s: %q, want %q", sql, got, want)
		}
	}
	q := latestQuery([]sqlrewrite.TableName{{Schema: `a"b`, Name: "c'd"}})
	if !strings.Contains(q, `pg_catalog.to_regclass('"a""b"."c''d"')`) || !strings.Contains(q, `pg_catalog.to_regnamespace('"a""b"')`) {
		t.Errorf("latestQuery quotes names wrongly: %s", q)
	}
}

// BenchmarkUnknownRelation: the name check of a statement over relations
// the catalog lists, unqualified and qualified (its cost on every Query
// and Parse under a policy).
func BenchmarkUnknownRelation(b *testing.B) {
	cb := newCatalogBuilder(nil)
	for i := range 2000 {
		cb.addRelation([][]byte{[]byte("public"), []byte("table_" + strconv.Itoa(i)), []byte("false")})
	}
	cb.addRelation([][]byte{[]byte("other"), []byte("table_7"), []byte("true")})
	for _, s := range []string{"pg_catalog", "public"} { // the search path (catalog_path_follow.go)
		cb.addPathSchema([]byte(s))
	}
	for _, sql := range []string{"SELECT * FROM table_7 JOIN table_8 USING (id)", "SELECT * FROM public.table_7 JOIN other.table_7 USING (id)"} {
		a := sqlrewrite.Analyze(sql)
		b.Run(sql, func(b *testing.B) {
			for b.Loop() {
				if cb.cat.unknownRelation(a, false) != "" || cb.cat.writesThroughRules(a) {
					b.Fatal("unknown")
				}
			}
		})
	}
}

// TestCopiesChecked: CREATE TABLE AS and CREATE MATERIALIZED VIEW AS
// store the rows their query reads, so a view over an encrypted column
// they read is refused and a name the catalog lacks has it read first,
// as for SELECT INTO; other DDL is not checked.
func TestCopiesChecked(t *testing.T) {
	b := newCatalogBuilder(nil)
	b.addRelation([][]byte{[]byte("public"), []byte("v"), []byte("true")})
	b.cat.encViews[policy.TableName{Schema: "public", Name: "v"}] = true
	for sql, want := range map[string]bool{
		"CREATE TABLE x AS SELECT n FROM v": true, "CREATE MATERIALIZED VIEW x AS TABLE v": true,
		"EXPLAIN ANALYZE CREATE TABLE x AS SELECT n FROM v": true, "SELECT n INTO x FROM v": true,
		"ALTER VIEW v RENAME TO w": false, "CREATE VIEW w AS SELECT n FROM v": false,
	} {
		if got := viewNamed(b.cat.encViews, sqlrewrite.Analyze(sql), false) != ""; got != want {
			t.Errorf("%s: refused %v, want %v", sql, got, want)
		}
	}
	if got := b.cat.unknownRelation(sqlrewrite.Analyze("CREATE TABLE x AS SELECT n FROM w"), false); got == "" {
		t.Errorf("CREATE TABLE AS naming w, which the catalog lacks: not read first")
	}
}

// TestHasLabels: a relation row's third field ends in + when the
// relation has an enum or reg* column; the mark is per schema.
func TestHasLabels(t *testing.T) {
	b := newCatalogBuilder(nil)
	for _, r := range [][3]string{{"public", "t", "false+"}, {"other", "t", "true"}, {"public", "u", "false"}, {"other", "u", "true+"}} {
		b.addRelation([][]byte{[]byte(r[0]), []byte(r[1]), []byte(r[2])})
	}
	for tn, want := range map[sqlrewrite.TableName]bool{
		{Schema: "public", Name: "t"}: true, {Schema: "other", Name: "t"}: false,
		{Schema: "public", Name: "u"}: false, {Schema: "other", Name: "u"}: true, {Schema: "nowhere", Name: "t"}: false,
	} {
		if got := b.cat.hasLabels(tn); got != want {
			t.Errorf("hasLabels(%v) = %v, want %v", tn, got, want)
		}
	}
	if !b.cat.hasRules(sqlrewrite.TableName{Schema: "other", Name: "t"}) || b.cat.hasRules(sqlrewrite.TableName{Schema: "public", Name: "t"}) {
		t.Error("the + mark changed what has rules")
	}
}
