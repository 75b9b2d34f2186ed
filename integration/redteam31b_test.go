package integration

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// rt31bShadow creates a schema whose = (date, date) is not strict (NULL
// is "any year", else the same year) and returns its name.
func rt31bShadow(t *testing.T) string {
	t.Helper()
	schema := uniqueName("rt31b")
	if _, err := superuser(t).Exec(testContext(t), fmt.Sprintf(`CREATE SCHEMA %[1]s; GRANT USAGE ON SCHEMA %[1]s TO PUBLIC;
CREATE FUNCTION %[1]s.same_year(date, date) RETURNS boolean LANGUAGE sql IMMUTABLE AS $$ SELECT $2 IS NULL OR pg_catalog.date_trunc('year', $1) OPERATOR(pg_catalog.=) pg_catalog.date_trunc('year', $2) $$;
CREATE OPERATOR %[1]s.= (LEFTARG = date, RIGHTARG = date, FUNCTION = %[1]s.same_year)`, schema)); err != nil {
		t.Fatal(err)
	}
	return schema
}

// rt31bPrepared is one execution of a prepared statement's portal: its
// rows as text, or its error.
func rt31bPrepared(t *testing.T, conn *pgx.Conn, name string, args [][]byte) (string, error) {
	t.Helper()
	formats := make([]int16, len(args))
	res := conn.PgConn().ExecPrepared(testContext(t), name, args, formats, []int16{0}).Read()
	if res.Err != nil {
		return "", res.Err
	}
	var b strings.Builder
	for _, row := range res.Rows {
		for i, v := range row {
			if i > 0 {
				b.WriteString(" | ")
			}
			if v == nil {
				b.WriteString("<NULL>")
			}
			b.Write(v)
		}
		b.WriteString("\n")
	}
	return b.String(), nil
}

// rt31bCompare runs prepared statement name on both sides and wants the
// same rows, or, when shadowed, phiguard's refusal (0A000 naming born)
// wherever the plaintext answers.
func (f *sortFixture) rt31bCompare(t *testing.T, what, name string, args [][]byte, shadowed bool) {
	t.Helper()
	want, derr := rt31bPrepared(t, f.dir, name, args)
	got, verr := rt31bPrepared(t, f.via, name, args)
	var pe *pgconn.PgError
	switch {
	case shadowed && verr != nil && errors.As(verr, &pe) && pe.Code == "0A000" && strings.Contains(pe.Message, f.people[1]+".born"):
	case verr != nil && derr != nil:
		t.Logf("%s: both failed: %v; %v", what, verr, derr)
	case shadowed:
		t.Errorf("%s under the shadowing schema: through phiguard %q, %v; want 0A000 (directly %q, %v)", what, got, verr, want, derr)
	case verr != nil || derr != nil:
		t.Errorf("%s: through phiguard %q, %v; directly %q, %v", what, got, verr, want, derr)
	case got != want:
		t.Errorf("%s: through phiguard\n%s\ndirectly\n%s", what, got, want)
	}
}

// TestRedTeam31bSearchPathAfterParse: a statement prepared (Parse) under
// a search_path without the shadowing schema, executed after a SET
// search_path puts it first: PostgreSQL parses the statement again on
// its next execution, and its = on born is the user's. phiguard's check
// is in the text and runs at execution: refused, with the statement
// executed once or seven times (a generic plan after five) before the
// SET. Parameters bound to NULL and to a date; declared as the column's
// type (date), unknown, or left to the server.
func TestRedTeam31bSearchPathAfterParse(t *testing.T) {
	t.Parallel()
	f := newSortFixtureWith(t, 120, nil, rt29Policy)
	ctx := testContext(t)
	schema := rt31bShadow(t)
	type stmt struct {
		sql  string
		oids []uint32
		args [][]byte
	}
	date := []byte("1950-06-30")
	stmts := []stmt{
		{`SELECT name FROM %[1]s WHERE born = $1 ORDER BY name, id LIMIT 3`, nil, [][]byte{nil}},
		{`SELECT name FROM %[1]s WHERE born = $1 ORDER BY name, id LIMIT 3`, []uint32{1082}, [][]byte{nil}},
		{`SELECT name FROM %[1]s WHERE born = $1 ORDER BY name, id LIMIT 3`, []uint32{1082}, [][]byte{date}},
		{`SELECT name FROM %[1]s WHERE born = $1 ORDER BY name, id LIMIT 3`, []uint32{705}, [][]byte{nil}},
		{`SELECT name FROM %[1]s WHERE born IN ($1, $2) ORDER BY name, id LIMIT 3`, nil, [][]byte{nil, nil}},
		{`SELECT name FROM %[1]s WHERE $1 = born ORDER BY name, id LIMIT 3`, nil, [][]byte{nil}},
		{`SELECT name FROM %[1]s WHERE born = $1 OR grp = 99 ORDER BY name, id LIMIT 3`, nil, [][]byte{date}},
		{`SELECT count(*) FROM %[1]s WHERE born = $1`, nil, [][]byte{nil}},
		{`SELECT id FROM %[1]s WHERE born = $1 ORDER BY id`, nil, [][]byte{date}},
	}
	for _, runs := range []int{1, 7} {
		for _, conn := range []*pgx.Conn{f.dir, f.via} {
			if _, err := conn.Exec(ctx, "SET search_path = public, pg_catalog"); err != nil {
				t.Fatal(err)
			}
		}
		for i, s := range stmts {
			name := fmt.Sprintf("rt31b_%d_%d", runs, i)
			for side, conn := range []*pgx.Conn{f.dir, f.via} {
				if _, err := conn.PgConn().Prepare(ctx, name, f.sql(s.sql, side), s.oids); err != nil {
					t.Fatalf("%s (oids %v) side %d: %v", s.sql, s.oids, side, err)
				}
			}
			for r := 0; r < runs; r++ {
				f.rt31bCompare(t, fmt.Sprintf("%s (oids %v) run %d before the SET", s.sql, s.oids, r), name, s.args, false)
			}
		}
		for _, conn := range []*pgx.Conn{f.dir, f.via} {
			if _, err := conn.Exec(ctx, fmt.Sprintf("SET search_path = %s, pg_catalog, public", schema)); err != nil {
				t.Fatal(err)
			}
		}
		for i, s := range stmts {
			name := fmt.Sprintf("rt31b_%d_%d", runs, i)
			for r := 0; r < 2; r++ {
				f.rt31bCompare(t, fmt.Sprintf("%s (oids %v) after %d runs, then SET search_path", s.sql, s.oids, runs), name, s.args, true)
			}
		}
	}
}

// TestRedTeam31bShadowedCellOperator: the cells of a deterministic
// column are text whatever its plaintext type, and its comparisons are
// sent as comparisons of text (`born = '<cell>'`, `born = ANY(ARRAY[
// '<cell>', <check item>])`, a join of two cells), whose = PostgreSQL
// resolves along search_path as (text, text). The check only tested
// the plaintext statement's operator, = (date, date) for a date: with a
// schema before pg_catalog holding its own = (text, text) (here always
// true), the plaintext statement still compares dates with
// pg_catalog's, the cells were compared with the user's, and phiguard
// answered every row where the plaintext answers the day's (120 against
// 0 for a day nobody was born on), in reads it sorts and reads it does
// not (beside a filter phiguard evaluates, in a leaf of an OR it
// evaluates), and a <> alike: 52 wrong answers in 13 statements. The
// check now tests the cells' operator too: refused (0A000 naming born),
// both protocols, custom and generic plans. Without the schema both
// answer alike.
func TestRedTeam31bShadowedCellOperator(t *testing.T) {
	t.Parallel()
	f := newSortFixtureWith(t, 120, nil, rt29Policy)
	ctx := testContext(t)
	reads := []shadowCase{
		{sql: `SELECT count(*) FROM %[1]s WHERE born = '1950-06-30'`},
		{sql: `SELECT id FROM %[1]s WHERE born = '1950-06-30' OR grp = 99 ORDER BY id`},
		{sql: `SELECT id FROM %[1]s WHERE born = $1 ORDER BY id`, args: []any{"1950-06-30"}},
		{sql: `SELECT count(*) FROM %[1]s WHERE born IN ('1950-06-30', '1951-06-30')`},
		{sql: `SELECT count(*) FROM %[1]s WHERE born <> '1950-06-30'`},
		{sql: `SELECT count(*) FROM %[1]s WHERE born NOT IN ($1)`, args: []any{"1950-06-30"}},
		{sql: `SELECT count(*) FROM %[1]s a JOIN %[1]s b ON a.born = b.born WHERE a.id <= 20`},
		{sql: `SELECT name FROM %[1]s WHERE born = '1950-06-30' ORDER BY name, id LIMIT 3`},
		{sql: `SELECT name FROM %[1]s WHERE born = $1 ORDER BY name, id LIMIT 3`, args: []any{"1950-06-30"}},
		{sql: `SELECT name FROM %[1]s WHERE born = NULL ORDER BY name, id LIMIT 3`},
		{sql: `SELECT name FROM %[1]s WHERE born IN ($1, $2) ORDER BY name, id LIMIT 3`, args: []any{"1950-06-30", nil}},
		// Beside a filter phiguard evaluates, and a leaf of an OR it
		// evaluates (a hidden column; the gate alone).
		{sql: `SELECT name FROM %[1]s WHERE score BETWEEN -100 AND 100 AND born = '1950-06-30' ORDER BY name, id LIMIT 3`},
		{sql: `SELECT name FROM %[1]s WHERE born = '1950-06-30' OR score > 1000 ORDER BY name, id LIMIT 3`},
	}
	for _, c := range reads {
		f.sameAnswer(t, c)
	}
	schema := uniqueName("rt31btext")
	if _, err := superuser(t).Exec(ctx, fmt.Sprintf(`CREATE SCHEMA %[1]s; GRANT USAGE ON SCHEMA %[1]s TO PUBLIC;
CREATE FUNCTION %[1]s.yes(text, text) RETURNS boolean LANGUAGE sql IMMUTABLE AS $$ SELECT true $$;
CREATE OPERATOR %[1]s.= (LEFTARG = text, RIGHTARG = text, FUNCTION = %[1]s.yes);
CREATE OPERATOR %[1]s.<> (LEFTARG = text, RIGHTARG = text, FUNCTION = %[1]s.yes)`, schema)); err != nil {
		t.Fatal(err)
	}
	for _, conn := range []*pgx.Conn{f.dir, f.via} {
		if _, err := conn.Exec(ctx, fmt.Sprintf("SET search_path = %s, pg_catalog, public", schema)); err != nil {
			t.Fatal(err)
		}
	}
	// The plaintext still compares dates with pg_catalog's =: nobody was
	// born on a 30th.
	if got, err := rowsRaw(t, f.dir, f.sql(reads[0].sql, 0), pgx.QueryExecModeSimpleProtocol, 0); err != nil || got != "0\n(SELECT 1)" {
		t.Fatalf("directly under the schema: %q, %v; want 0", got, err)
	}
	for _, mode := range []string{"auto", "force_generic_plan"} {
		for _, conn := range []*pgx.Conn{f.dir, f.via} {
			if _, err := conn.Exec(ctx, "SET plan_cache_mode = "+mode); err != nil {
				t.Fatal(err)
			}
		}
		for _, c := range reads {
			f.refusedShadowedCol(t, c, "born")
		}
	}
}
