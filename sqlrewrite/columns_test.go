package sqlrewrite

import (
	"slices"
	"testing"
)

// TestStatementColumns: the column names a statement reads and those it
// defines itself (guard/catalog_computed.go reads the catalog before a
// statement reading a name no relation had).
func TestStatementColumns(t *testing.T) {
	for _, c := range []struct {
		sql             string
		undefined, refs []string
		natural         bool
	}{
		{"SELECT id FROM t WHERE n = 6", []string{"id", "n"}, []string{"id", "n"}, false},
		{"SELECT t.id, t.* FROM s.t t ORDER BY 1", []string{"id"}, []string{"id"}, false},
		{"SELECT length(x) AS l FROM t ORDER BY l", []string{"x"}, []string{"x", "l"}, false},
		{"SELECT k FROM (SELECT 1) AS a(k) JOIN t USING (n)", []string{"n"}, []string{"k", "n"}, false},
		{"WITH w(k) AS (SELECT 1) SELECT k FROM w NATURAL JOIN t", nil, []string{"k"}, true},
		{"SELECT generate_series FROM generate_series(1, 2)", nil, []string{"generate_series"}, false},
		{"SELECT t FROM t", []string{"t"}, []string{"t"}, false},
		{"DELETE FROM t WHERE g = 65 RETURNING *", []string{"g"}, []string{"g"}, false},
		{"SELECT id FROM t, unnest(a) WITH ORDINALITY WHERE ordinality = 1", []string{"id", "a"}, []string{"id", "a", "ordinality"}, false},
		{"SELECT id FROM t JOIN (VALUES (1, 2)) v ON id = column2", []string{"id"}, []string{"id", "column2"}, false},
		{"SELECT id FROM t, jsonb_to_recordset(j) AS x(pid int) WHERE id = pid", []string{"id", "j"}, []string{"id", "j", "pid"}, false},
	} {
		st := Analyze(c.sql).Statements[0]
		if !slices.Equal(st.Undefined(), c.undefined) || !slices.Equal(st.Columns, c.refs) || st.Natural != c.natural {
			t.Errorf("%s: undefined %q, columns %q, natural %v; want %q, %q, %v", c.sql, st.Undefined(), st.Columns, st.Natural,
				c.undefined, c.refs, c.natural)
		}
	}
}

// TestPathChange: the statements that may change the search path.
func TestPathChange(t *testing.T) {
	for sql, want := range map[string]PathChange{
		"SET search_path = a, public": PathSet, "SET LOCAL search_path TO DEFAULT": PathSet, "RESET search_path": PathSet,
		"RESET ALL": PathSet, "SET ROLE app": PathSet, "SET SESSION AUTHORIZATION app": PathSet, "DISCARD ALL": PathSet,
		"SELECT set_config('search_path', 'a', false)": PathSet, "SELECT set_config($1, $2, false)": PathSet,
		"SELECT set_config('SEARCH_PATH', 'a', true)": PathSet, "CALL p()": PathSet, "DO $$ BEGIN END $$": PathSet,
		"SELECT set_config('app.tenant', '7', true)": PathKept, "SET TIME ZONE 'UTC'": PathKept, "BEGIN": PathKept,
		"SAVEPOINT a": PathKept, "RELEASE a": PathKept, "ROLLBACK TO a": PathUndo, "COMMIT": PathEnd, "ROLLBACK": PathEnd,
		"PREPARE TRANSACTION 'x'": PathEnd, "SELECT * FROM t": PathKept,
		"SELECT set_config('role', 'r', false)": PathSet, "SELECT set_config('session_authorization', 'r', false)": PathSet,
	} {
		if got := Analyze(sql).Statements[0].PathChange(); got != want {
			t.Errorf("%s: %d, want %d", sql, got, want)
		}
	}
	// A PREPARE or DECLARE of a query that may change the path defers
	// the change to the EXECUTE, FETCH or MOVE that runs it.
	for sql, want := range map[string][2]bool{
		"PREPARE p AS SELECT set_config('search_path', 'a', false)":  {true, false},
		"DECLARE c CURSOR FOR SELECT set_config('role', 'r', false)": {true, false},
		"PREPARE p AS SELECT 1": {false, false}, "EXECUTE p": {false, true}, "FETCH 1 c": {false, true},
		"MOVE ALL c": {false, true}, "SELECT 1": {false, false},
	} {
		st := Analyze(sql).Statements[0]
		if got := [2]bool{st.DefersPathChange(), st.RunsDeferred()}; got != want {
			t.Errorf("%s: defers, runs %v, want %v", sql, got, want)
		}
	}
}
