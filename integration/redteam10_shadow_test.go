package integration

import (
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/phiguard/phiguard/sqlrewrite"
)

// TestRedTeam10ShadowedEqualityOnCells: an equality on a deterministic
// column runs in the database, on the cells (the constant sealed to its
// cell). PostgreSQL resolves `=` through search_path, and a schema
// listed before pg_catalog with an operator = (text, text) wins for the
// plaintext statement: here a case-insensitive one, so tag = 'T1' finds
// the rows tagged 't1' in the plaintext table, and through phiguard,
// before the check, none (the cells of 'T1' and 't1' differ): 8 rows
// directly, 0 through phiguard. phiguard now sends each such comparison
// with a check that the operator PostgreSQL resolves is pg_catalog's
// (sqlrewrite/operator_guard.go), which refuses it (0A000 naming the
// column) before any row is read or written, in both protocols, for =,
// IN, a parameter (untyped, or declared varchar), a join of two
// deterministic columns, a read phiguard sorts or filters itself,
// UPDATE and DELETE; <> and NOT IN, whose
// operator is still pg_catalog's, are answered as plaintext. Without the
// schema every statement is answered as plaintext (no false refusal).
func TestRedTeam10ShadowedEqualityOnCells(t *testing.T) {
	t.Parallel()
	f := newSortFixture(t, 60, nil)
	ctx := testContext(t)
	reads := []shadowCase{
		{sql: `SELECT id FROM %[1]s WHERE tag = 'T1' ORDER BY id`},
		{sql: `SELECT id FROM %[1]s WHERE tag = 't1' ORDER BY id`},
		{sql: `SELECT id FROM %[1]s WHERE tag = $1 ORDER BY id`, args: []any{"T1"}},
		{sql: `SELECT id FROM %[1]s WHERE 'T2' = tag AND grp >= 0 ORDER BY id`},
		{sql: `SELECT id FROM %[1]s WHERE tag IN ('T1', 'T2') ORDER BY id`},
		{sql: `SELECT id FROM %[1]s WHERE tag IN ($1) OR grp = 9 ORDER BY id`, args: []any{"T3"}},
		{sql: `SELECT count(*) FROM %[1]s a JOIN %[1]s b ON a.tag = b.tag`},
		{sql: `SELECT id FROM %[1]s WHERE NOT (tag = 'T4') ORDER BY id`},
		// Sorted by phiguard: one check, first in the WHERE of the text
		// RewriteSort writes; 'T1' matches no cell, and is refused all
		// the same (a probe in a hidden column, read with the first row,
		// would have let the empty answer through).
		{sql: `SELECT name, id FROM %[1]s WHERE tag = 'T1' ORDER BY name, id`},
		{sql: `SELECT name, id FROM %[1]s WHERE tag = $1 ORDER BY name, id LIMIT 3`, args: []any{"T1"}},
		{sql: `SELECT id FROM %[1]s WHERE tag IN ('T1', 'T3') AND name > 'M' ORDER BY id`},
		{sql: `SELECT id FROM %[1]s WHERE name > 'M' AND tag = 'T1' ORDER BY id LIMIT 3`}, // in rounds
		{sql: `SELECT id FROM %[1]s WHERE tag <> 'T1' ORDER BY id`, pgCatalog: true},
		{sql: `SELECT id FROM %[1]s WHERE tag NOT IN ('T1', $1) ORDER BY id`, args: []any{"t2"}, pgCatalog: true},
	}
	writes := []string{
		`UPDATE %[1]s SET grp = grp + 100 WHERE tag = 't5'`,
		`UPDATE %[1]s SET grp = grp + 100 WHERE tag IN ('t5', 't6')`,
		`DELETE FROM %[1]s WHERE tag = 't6'`,
	}
	// The common path: pg_catalog's = everywhere, every statement answered.
	for _, c := range reads {
		f.sameAnswer(t, c)
	}
	f.sameDeclaredVarchar(t, false)
	for _, w := range writes {
		f.sameAnswer(t, shadowCase{sql: w})
	}
	f.sameAnswer(t, shadowCase{sql: `SELECT id, grp, tag FROM %[1]s ORDER BY id`})

	schema := uniqueName("rt10shadow")
	if _, err := superuser(t).Exec(ctx, fmt.Sprintf(`CREATE SCHEMA %[1]s; GRANT USAGE ON SCHEMA %[1]s TO PUBLIC;
CREATE FUNCTION %[1]s.rt10_ieq(text, text) RETURNS boolean LANGUAGE sql IMMUTABLE AS $$ SELECT pg_catalog.lower($1) OPERATOR(pg_catalog.=) pg_catalog.lower($2) $$;
CREATE OPERATOR %[1]s.= (LEFTARG = text, RIGHTARG = text, FUNCTION = %[1]s.rt10_ieq)`, schema)); err != nil {
		t.Fatal(err)
	}
	for _, conn := range []*pgx.Conn{f.dir, f.via} {
		if _, err := conn.Exec(ctx, fmt.Sprintf("SET search_path = %s, pg_catalog, public", schema)); err != nil {
			t.Fatal(err)
		}
	}
	// The operator is live: directly, 'T1' finds the rows tagged t1.
	if got, err := rowsRaw(t, f.dir, f.sql(reads[0].sql, 0), pgx.QueryExecModeSimpleProtocol, 0); err != nil || got == "(SELECT 0)" {
		t.Fatalf("directly under the shadowing schema: %q, %v; want the rows tagged t1", got, err)
	}
	for _, c := range reads {
		if c.pgCatalog {
			f.sameAnswer(t, c)
			continue
		}
		f.refusedShadowed(t, c)
	}
	f.sameDeclaredVarchar(t, true)
	before, err := rowsRaw(t, f.via, f.sql(`SELECT id, grp, tag FROM %[1]s ORDER BY id`, 1), pgx.QueryExecModeSimpleProtocol, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range writes {
		f.refusedShadowed(t, shadowCase{sql: w})
	}
	after, err := rowsRaw(t, f.via, f.sql(`SELECT id, grp, tag FROM %[1]s ORDER BY id`, 1), pgx.QueryExecModeSimpleProtocol, 0)
	if err != nil || after != before {
		t.Errorf("the refused writes changed the table (%v):\nbefore\n%s\nafter\n%s", err, before, after)
	}
}

type shadowCase struct {
	sql       string
	args      []any
	pgCatalog bool // its operator stays pg_catalog's: answered
}

// sameAnswer runs c directly and through phiguard in both protocols and
// wants the same rows (a write's changes are made on both sides alike).
func (f *sortFixture) sameAnswer(t *testing.T, c shadowCase) {
	t.Helper()
	for _, mode := range bothModes {
		want, err := rowsRaw(t, f.dir, f.sql(c.sql, 0), mode, 0, c.args...)
		if err != nil {
			t.Fatalf("%s (%v) directly: %v", c.sql, mode, err)
		}
		got, err := rowsRaw(t, f.via, f.sql(c.sql, 1), mode, 0, c.args...)
		if err != nil {
			t.Fatalf("%s (%v) through phiguard: %v", c.sql, mode, err)
		}
		if got != want {
			t.Errorf("%s (%v): through phiguard\n%s\ndirectly\n%s", c.sql, mode, got, want)
		}
	}
}

// refusedShadowed wants c refused through phiguard in both protocols,
// naming the column.
func (f *sortFixture) refusedShadowed(t *testing.T, c shadowCase) {
	t.Helper()
	for _, mode := range bothModes {
		got, err := rowsRaw(t, f.via, f.sql(c.sql, 1), mode, 0, c.args...)
		if err == nil {
			t.Errorf("%s (%v) under a shadowing = through phiguard: answered\n%s\nwant 0A000", c.sql, mode, got)
			continue
		}
		wantCode(t, err, "0A000", f.people[1]+".tag")
	}
}

// sameDeclaredVarchar prepares tag = $1 with $1 declared varchar, as
// pgjdbc declares a string: the plaintext statement compares text with
// varchar, for which pg_catalog has no exact operator. shadowed: it must
// be refused; else answered as directly.
func (f *sortFixture) sameDeclaredVarchar(t *testing.T, shadowed bool) {
	t.Helper()
	ctx := testContext(t)
	run := func(conn *pgx.Conn, table string) (string, error) {
		sql := fmt.Sprintf("SELECT id FROM %s WHERE tag = $1 ORDER BY id", table)
		if _, err := conn.PgConn().Prepare(ctx, "", sql, []uint32{1043}); err != nil {
			return "", err
		}
		res := conn.PgConn().ExecPrepared(ctx, "", [][]byte{[]byte("T2")}, nil, nil).Read()
		return fmt.Sprint(res.Rows), res.Err
	}
	got, err := run(f.via, f.people[1])
	if shadowed {
		if err == nil {
			t.Errorf("tag = $1 (varchar) under a shadowing =: answered %s, want 0A000", got)
			return
		}
		wantCode(t, err, "0A000", f.people[1]+".tag")
		return
	}
	want, err2 := run(f.dir, f.people[0])
	if err != nil || err2 != nil || got != want {
		t.Errorf("tag = $1 (varchar): through phiguard %s (%v), directly %s (%v)", got, err, want, err2)
	}
}

// TestShadowedOperatorCatalog: the operator OIDs the cheap check compares
// with (sqlrewrite/operator_guard.go) are pg_catalog's operators of
// exactly those operand types in this PostgreSQL.
func TestShadowedOperatorCatalog(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	su := superuser(t)
	sigs := sqlrewrite.PgCatalogOperatorSignatures()
	if len(sigs) < 60 {
		t.Fatalf("%d signatures", len(sigs))
	}
	for sig, want := range sigs {
		var got *uint32
		if err := su.QueryRow(ctx, "SELECT CAST(pg_catalog.to_regoperator('pg_catalog.' || $1) AS pg_catalog.oid)", sig).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got == nil || *got != want {
			t.Errorf("pg_catalog.%s is %v here, the check expects %d", sig, got, want)
		}
	}
}
