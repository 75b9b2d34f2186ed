package sqlrewrite

import "testing"

// TestPreparesExecutes: the name an SQL PREPARE gives, and the one an
// EXECUTE runs (alone, under EXPLAIN, in CREATE TABLE AS), for the
// proxy's check of an EXECUTE by its PREPARE's names; WithStatements adds
// statements to an analysis for those checks, leaving it as it was.
func TestPreparesExecutes(t *testing.T) {
	for sql, want := range map[string][2]string{
		"PREPARE p AS SELECT n FROM z": {"p", ""},
		"EXECUTE p":                    {"", "p"},
		"EXECUTE \"P\" (1, 2)":         {"", "P"},
		"EXPLAIN ANALYZE EXECUTE q":    {"", "q"},
		"CREATE TABLE c AS EXECUTE r":  {"", "r"},
		"SELECT 1":                     {"", ""},
		"DEALLOCATE p":                 {"", ""},
	} {
		a := Analyze(sql)
		if a.Err != nil {
			t.Fatalf("%s: %v", sql, a.Err)
		}
		st := a.Statements[0]
		if st.Prepares != want[0] || st.Executes != want[1] {
			t.Errorf("%s: prepares %q executes %q, want %q %q", sql, st.Prepares, st.Executes, want[0], want[1])
		}
	}
	a, p := Analyze("EXECUTE p"), Analyze("PREPARE p AS SELECT n FROM z")
	m := a.WithStatements(p.Statements)
	if len(m.Statements) != 2 || len(a.Statements) != 1 || m.Statements[1].Tables[0].Name != "z" {
		t.Fatalf("WithStatements: %+v (a %+v)", m.Statements, a.Statements)
	}
}
