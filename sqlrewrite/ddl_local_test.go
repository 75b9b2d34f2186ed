package sqlrewrite

import "testing"

// TestSessionLocalDDL: temporary objects and data-only DDL are local to
// the session; DDL the database's other sessions see in the catalog is
// not, a temporary table dropped by name included (its name alone does
// not say it is temporary).
func TestSessionLocalDDL(t *testing.T) {
	for sql, want := range map[string]bool{
		"CREATE TEMP TABLE t (a int)":                     true,
		"CREATE TEMPORARY TABLE t (a int) ON COMMIT DROP": true,
		"CREATE TABLE pg_temp.t (a int)":                  true,
		"CREATE TEMP TABLE t AS SELECT 1":                 true,
		"CREATE TEMP VIEW v AS SELECT 1":                  true,
		"CREATE TEMP SEQUENCE q":                          true,
		"TRUNCATE patients":                               true,
		"REINDEX TABLE patients":                          true,
		"COMMENT ON TABLE patients IS 'x'":                true,
		"REFRESH MATERIALIZED VIEW m":                     true,
		"CREATE TABLE t (a int)":                          false,
		"CREATE UNLOGGED TABLE t (a int)":                 false,
		"CREATE TABLE t AS SELECT 1":                      false,
		"CREATE VIEW v AS SELECT 1":                       false,
		"DROP TABLE t":                                    false,
		"ALTER TABLE patients ADD COLUMN x int":           false,
		"CREATE INDEX ON patients (id)":                   false,
		"SELECT 1":                                        false,
	} {
		if got := onlyStatement(t, sql).SessionLocal; got != want {
			t.Errorf("%s: SessionLocal %v, want %v", sql, got, want)
		}
	}
}

// TestEndsPrepared: COMMIT PREPARED and ROLLBACK PREPARED are marked, a
// COMMIT, a PREPARE TRANSACTION and a SQL PREPARE are not.
func TestEndsPrepared(t *testing.T) {
	for sql, want := range map[string]bool{
		"COMMIT PREPARED 'tx1'":   true,
		"ROLLBACK PREPARED 'tx1'": true,
		"PREPARE TRANSACTION 'x'": false,
		"COMMIT":                  false,
		"PREPARE p AS SELECT 1":   false,
	} {
		if got := onlyStatement(t, sql).EndsPrepared; got != want {
			t.Errorf("%s: EndsPrepared %v, want %v", sql, got, want)
		}
	}
}

// onlyStatement is the analysis of sql's one statement.
func onlyStatement(t *testing.T, sql string) Statement {
	t.Helper()
	a := Analyze(sql)
	if a.Err != nil || len(a.Statements) != 1 {
		t.Fatalf("%s: %v", sql, a.Err)
	}
	return a.Statements[0]
}
