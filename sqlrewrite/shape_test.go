package sqlrewrite

import (
	"strings"
	"testing"
)

func shapeOf(t *testing.T, sql string) (string, bool) {
	t.Helper()
	out, spans, ok := appendShape(nil, []byte(sql), nil)
	if ok && len(spans) > 0 && !verifyShape(sql, spans) {
		t.Errorf("%q: our scanner and PostgreSQL's disagree on its literals", sql)
	}
	return strings.NewReplacer(markString, "<s>", markNumber, "<n>", markInt4, "<n>", markInt8, "<n>", markInt4Min, "<n>", markInt8Min, "<n>").Replace(string(out)), ok
}

// TestShapeTellsNumberTypes: a number's marker says the type PostgreSQL
// gives it, minus sign included, so that texts whose numbers differ in
// type never share a plan (TestRedTeam30NumberShapes).
func TestShapeTellsNumberTypes(t *testing.T) {
	marker := func(sql string) string {
		out, _, ok := appendShape(nil, []byte(sql), nil)
		if !ok {
			t.Fatalf("%q: no shape", sql)
		}
		return string(out[len(out)-2:])
	}
	for lit, want := range map[string]string{
		"3": markInt4, "007": markInt4, "2147483647": markInt4, "2147483648": markInt4Min, "2147483649": markInt8,
		"9223372036854775807": markInt8, "9223372036854775808": markInt8Min, "9223372036854775809": markNumber,
		"00000000000000000000000042": markInt4, "2.5": markNumber, "3.": markNumber, "1e3": markNumber, ".5": markNumber,
		"99999999999999999999999": markNumber,
	} {
		if got := marker("SELECT " + lit); got != want {
			t.Errorf("%s: marker %q, want %q", lit, got, want)
		}
	}
	z := NewAnalyzer(100, 1<<20)
	for _, group := range [][]string{
		{"SELECT 1 WHERE 1 > 3", "SELECT 1 WHERE 1 > 3000000000", "SELECT 1 WHERE 1 > 2.5", "SELECT 1 WHERE 1 > 2147483648", "SELECT 1 WHERE 1 > 9223372036854775808"},
		{"SELECT 1 WHERE 1 > -3", "SELECT 1 WHERE 1 > -2147483648", "SELECT 1 WHERE 1 > -2147483649", "SELECT 1 WHERE 1 > -9223372036854775808", "SELECT 1 WHERE 1 > -2.5"},
	} {
		for i, sql := range group {
			if _, cached := z.Analyze([]byte(sql)); cached {
				t.Errorf("%s: shares the analysis of an earlier text of %v", sql, group[:i])
			}
		}
	}
	if _, cached := z.Analyze([]byte("SELECT 1 WHERE 1 > 4")); !cached {
		t.Error("SELECT 1 WHERE 1 > 4: not shared with > 3")
	}
}

func TestShapeReplacesPlainLiterals(t *testing.T) {
	cases := map[string]string{
		"SELECT abalance FROM pgbench_accounts WHERE aid = 12345;": "SELECT abalance FROM pgbench_accounts WHERE aid = <n>;",
		"select * from t where a = 'x''y' and b = 1.5e-3":          "select * from t where a = <s> and b = <n>",
		`SELECT "col1" FROM "t 2" WHERE x1 = .5`:                   `SELECT "col1" FROM "t 2" WHERE x1 = <n>`,
		"SELECT $1, $2 /* a /* nested */ 'comment' */ -- 'x'\n, 3": "SELECT $1, $2 /* a /* nested */ 'comment' */ -- 'x'\n, <n>",
		"SELECT date '2024-01-01', -7":                             "SELECT date <s>, -<n>",
		"SELECT t1.c2 FROM t1":                                     "SELECT t1.c2 FROM t1",
		"SELECT 'héllo' || naïve FROM ß":                           "SELECT <s> || naïve FROM ß",
	}
	for sql, want := range cases {
		got, ok := shapeOf(t, sql)
		if !ok || got != want {
			t.Errorf("%q: shape %q ok=%v, want %q", sql, got, ok, want)
		}
	}
}

func TestShapeGivesUpOnWhatItDoesNotModel(t *testing.T) {
	for _, sql := range []string{
		`SELECT E'a\'b'`,
		`SELECT 'a\'`,
		"SELECT $$x$$",
		"SELECT $tag$x$tag$",
		"SELECT X'1F', B'01'",
		"SELECT N'x'",
		`SELECT U&'\0061'`,
		`SELECT * FROM U&"\0061"`,
		"SELECT 0x1F",
		"SELECT 1_000",
		"SELECT 1abc",
		"SELECT 1.2.3",
		"SELECT 'unterminated",
		"SELECT /* unterminated",
		"SELECT \x00",
	} {
		if _, ok := shapeOf(t, sql); ok {
			t.Errorf("%q: expected the scanner to give up", sql)
		}
	}
}

func TestShapeSharesAnalysisAcrossLiterals(t *testing.T) {
	z := NewAnalyzer(100, 1<<30)
	a1, _ := z.Analyze([]byte("SELECT * FROM patients WHERE id = 1"))
	a2, hit := z.Analyze([]byte("SELECT * FROM patients WHERE id = 987654"))
	if !hit || a1 != a2 {
		t.Fatalf("texts differing in a literal should share an analysis: hit=%v", hit)
	}
	a3, hit := z.Analyze([]byte("SELECT * FROM patients WHERE id = '1'"))
	if hit || a3 == a1 {
		t.Fatal("a string literal must not share the shape of a number literal")
	}
	a4, hit := z.Analyze([]byte("SELECT * FROM other WHERE id = 5"))
	if hit || a4.Statements[0].Tables[0].Name != "other" {
		t.Fatal("a different table must not share a shape")
	}
}

// FuzzShapeAgreesWithPostgres looks for texts on which our literal scanner
// is confident yet PostgreSQL's scanner disagrees. Such a text is still
// safe at run time (verifyShape refuses to share its analysis), but it
// shows a gap in the scanner worth closing.
func FuzzShapeAgreesWithPostgres(f *testing.F) {
	for _, s := range []string{"SELECT 1", "SELECT 'a''b', 2.5e3 FROM t WHERE x = $1", "/* /* */ */ SELECT .5", "SELECT 1 -- 'x'", "SELECT a.b FROM \"q\"\"x\" WHERE c = -1e+5"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, sql string) {
		_, spans, ok := appendShape(nil, []byte(sql), nil)
		if !ok {
			return
		}
		prev := 0
		for _, sp := range spans {
			if sp.start < prev || sp.end > len(sql) || sp.start >= sp.end {
				t.Fatalf("bad span %+v in %q", sp, sql)
			}
			prev = sp.end
		}
		if Analyze(sql).Err == nil && !verifyShape(sql, spans) {
			t.Fatalf("scanner disagrees with PostgreSQL on %q: spans %+v", sql, spans)
		}
	})
}
