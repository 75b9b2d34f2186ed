package integration

import (
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

// TestRedTeam30OperandTypes: constants whose type is not the one phiguard
// read from the text. A bit-string literal (B'..', X'..') is bit, not an
// untyped literal; a pattern cast to bytea makes ESCAPE's like_escape the
// bytea one, and LIKE then text ~~ bytea; and a cast to a type named
// without its schema is the first type of that name along search_path,
// pg_temp's before pg_catalog's when search_path does not name pg_temp.
// In each, pg_catalog has no operator of the real operand types, and
// PostgreSQL calls the user's.
func TestRedTeam30OperandTypes(t *testing.T) {
	t.Parallel()
	tw := newRedTeam30Twin(t)
	sch := redTeam30Schema(t, "rt30types", `
CREATE TYPE %[1]s.date AS ENUM ('1960-01-01');
CREATE FUNCTION %[1]s.yes_tb(text, bit) RETURNS boolean LANGUAGE sql IMMUTABLE AS $$ SELECT true $$;
CREATE OPERATOR %[1]s.= (LEFTARG = text, RIGHTARG = bit, FUNCTION = %[1]s.yes_tb);
CREATE OPERATOR %[1]s.<> (LEFTARG = text, RIGHTARG = bit, FUNCTION = %[1]s.yes_tb);
CREATE FUNCTION %[1]s.yes_ty(text, bytea) RETURNS boolean LANGUAGE sql IMMUTABLE AS $$ SELECT true $$;
CREATE OPERATOR %[1]s.~~ (LEFTARG = text, RIGHTARG = bytea, FUNCTION = %[1]s.yes_ty);
CREATE FUNCTION %[1]s.yes_dd(pg_catalog.date, %[1]s.date) RETURNS boolean LANGUAGE sql IMMUTABLE AS $$ SELECT true $$;
CREATE OPERATOR %[1]s.< (LEFTARG = pg_catalog.date, RIGHTARG = %[1]s.date, FUNCTION = %[1]s.yes_dd);
CREATE FUNCTION %[1]s.yes_de(pg_catalog.date, anyenum) RETURNS boolean LANGUAGE sql IMMUTABLE AS $$ SELECT true $$;
CREATE OPERATOR %[1]s.<= (LEFTARG = pg_catalog.date, RIGHTARG = anyenum, FUNCTION = %[1]s.yes_de)`)
	// Without the schema in search_path, the casts are pg_catalog's:
	// answered, not refused.
	for _, q := range []string{
		"SELECT id FROM %s WHERE born < '1960-01-01'::date ORDER BY id",
		"SELECT id FROM %s WHERE born < date '1960-01-01' AND visits > '3'::int4 ORDER BY id",
		"SELECT id FROM %s WHERE born < '1960-01-01'::pg_catalog.date ORDER BY id",
	} {
		for _, mode := range bothModes {
			tw.same(t, q, mode, "a cast to pg_catalog's type")
		}
	}
	tw.setPath(t, sch+", pg_catalog, public")
	for _, q := range []string{
		"SELECT id FROM %s WHERE name = B'101' ORDER BY id",
		"SELECT id FROM %s WHERE name <> X'1F' AND id > 0 ORDER BY id",
		"SELECT id FROM %s WHERE name LIKE 'S1%%'::bytea ESCAPE '!' ORDER BY id",
		"SELECT id FROM %s WHERE born < '1960-01-01'::date ORDER BY id",
		"SELECT id FROM %s WHERE born < date '1960-01-01' ORDER BY id",
	} {
		if got := tw.sameOrRefused30(t, q, "the user's operator on the real operand types"); !strings.HasSuffix(got, "(SELECT 20)") {
			t.Errorf("%s directly: %s, want every row (the user's operator)", q, got)
		}
	}

	// pg_temp's type, with search_path naming neither pg_temp nor
	// pg_catalog (then both are searched first, pg_temp for types only,
	// and the gate's search_path test passes at once): an operator on
	// anyenum takes it. Each side makes its own (through phiguard on its
	// side).
	tw.setPath(t, sch+", public")
	ctx := testContext(t)
	for _, conn := range []*pgx.Conn{tw.dir, tw.via} {
		if _, err := conn.Exec(ctx, `CREATE TYPE pg_temp.date AS ENUM ('1960-01-01')`); err != nil {
			t.Fatal(err)
		}
	}
	if got := tw.sameOrRefused30(t, "SELECT id FROM %s WHERE born <= '1960-01-01'::date ORDER BY id", "pg_temp's date"); !strings.HasSuffix(got, "(SELECT 20)") {
		t.Errorf("directly: %s, want every row (the user's operator)", got)
	}

	// ESCAPE with a pattern the client declares bytea (a Parse's type):
	// like_escape(bytea, bytea), and text ~~ bytea.
	tw.setPath(t, sch+", pg_catalog, public")
	run := func(conn *pgx.Conn, table string) (string, error) {
		sql := fmt.Sprintf("SELECT id FROM %s WHERE name LIKE $1 ESCAPE '!' ORDER BY id", table)
		if _, err := conn.PgConn().Prepare(ctx, "", sql, []uint32{17}); err != nil {
			return "", err
		}
		res := conn.PgConn().ExecPrepared(ctx, "", [][]byte{[]byte("S1%")}, nil, nil).Read()
		return fmt.Sprint(len(res.Rows)), res.Err
	}
	want, err := run(tw.dir, tw.plain)
	if err != nil || want != "20" {
		t.Fatalf("directly: %s rows, %v; want 20 (the user's operator)", want, err)
	}
	if got, err := run(tw.via, tw.enc); err != nil {
		wantCode(t, err, "0A000", "")
	} else if got != want {
		t.Errorf("name LIKE $1 ESCAPE '!' ($1 bytea): through phiguard %s rows, directly %s", got, want)
	}
	// The escape declared bytea, the pattern untyped: like_escape(bytea,
	// bytea) all the same.
	run2 := func(conn *pgx.Conn, table string) (string, error) {
		sql := fmt.Sprintf("SELECT id FROM %s WHERE name LIKE $1 ESCAPE $2 ORDER BY id", table)
		if _, err := conn.PgConn().Prepare(ctx, "", sql, []uint32{0, 17}); err != nil {
			return "", err
		}
		res := conn.PgConn().ExecPrepared(ctx, "", [][]byte{[]byte("S1%"), []byte("!")}, nil, nil).Read()
		return fmt.Sprint(len(res.Rows)), res.Err
	}
	want, err = run2(tw.dir, tw.plain)
	if err != nil || want != "20" {
		t.Fatalf("directly: %s rows, %v; want 20 (the user's operator)", want, err)
	}
	if got, err := run2(tw.via, tw.enc); err != nil {
		wantCode(t, err, "0A000", "")
	} else if got != want {
		t.Errorf("name LIKE $1 ESCAPE $2 ($2 bytea): through phiguard %s rows, directly %s", got, want)
	}
}

// TestRedTeam30PrefixOperators: a sign PostgreSQL's grammar does not fold
// into a number (+5, -'5'::int4, -$1) is a prefix operator, resolved by
// name through search_path like any other; phiguard applied
// pg_catalog's sign itself. Neither probe looked at prefix operators.
func TestRedTeam30PrefixOperators(t *testing.T) {
	t.Parallel()
	tw := newRedTeam30Twin(t)
	sch := redTeam30Schema(t, "rt30sign", `
CREATE FUNCTION %[1]s.big(int4) RETURNS int4 LANGUAGE sql IMMUTABLE AS $$ SELECT 1000 $$;
CREATE OPERATOR %[1]s.+ (RIGHTARG = int4, FUNCTION = %[1]s.big);
CREATE OPERATOR %[1]s.- (RIGHTARG = int4, FUNCTION = %[1]s.big)`)
	tw.setPath(t, sch+", pg_catalog, public")
	for _, q := range []string{
		"SELECT id FROM %s WHERE visits > +5 ORDER BY id",
		"SELECT id FROM %s WHERE visits > -'5'::int4 ORDER BY id",
		"SELECT id FROM %s WHERE visits BETWEEN -(5::int4) AND 30 ORDER BY id",
	} {
		if got := tw.sameOrRefused30(t, q, "the user's prefix operator"); got != "(SELECT 0)" {
			t.Errorf("%s directly: %s, want no row (the user's operator)", q, got)
		}
	}
}

// TestRedTeam30DeterministicCastType: an equality on a deterministic
// column runs in the database on cells, with a check that the operator
// is pg_catalog's (sqlrewrite/operator_guard.go); a constant cast to a
// type named without a schema is pg_temp's type of that name when the
// session has one.
func TestRedTeam30DeterministicCastType(t *testing.T) {
	t.Parallel()
	tw := newRedTeam30Twin(t)
	sch := redTeam30Schema(t, "rt30det", `
CREATE FUNCTION %[1]s.yes_ie(int4, anyenum) RETURNS boolean LANGUAGE sql IMMUTABLE AS $$ SELECT true $$;
CREATE OPERATOR %[1]s.= (LEFTARG = int4, RIGHTARG = anyenum, FUNCTION = %[1]s.yes_ie)`)
	for _, mode := range bothModes {
		tw.same(t, "SELECT id FROM %s WHERE code = '1'::int4 ORDER BY id", mode, "pg_catalog's int4")
	}
	tw.setPath(t, sch+", public")
	for _, conn := range []*pgx.Conn{tw.dir, tw.via} {
		if _, err := conn.Exec(testContext(t), `CREATE TYPE pg_temp.int4 AS ENUM ('1')`); err != nil {
			t.Fatal(err)
		}
	}
	if got := tw.sameOrRefused30(t, "SELECT id FROM %s WHERE code = '1'::int4 ORDER BY id", "pg_temp's int4"); !strings.HasSuffix(got, "(SELECT 20)") {
		t.Errorf("directly: %s, want every row (the user's operator)", got)
	}
}

// TestRedTeam30ImplicitLeftOperand: when pg_catalog has no operator of
// exactly the operand types (int4 > numeric, or a parameter's), the
// pg_operator scan decides, and it counted only operators whose left
// operand is the column's type; PostgreSQL prefers a user's
// >(float8, numeric) (float8 is the numbers' preferred type) to
// pg_catalog's >(numeric, numeric), with search_path not naming
// pg_catalog too. The scan predates the exact probe.
func TestRedTeam30ImplicitLeftOperand(t *testing.T) {
	t.Parallel()
	tw := newRedTeam30Twin(t)
	q := "SELECT id FROM %s WHERE visits > 2.5 AND id > 0 ORDER BY id"
	for _, mode := range bothModes {
		tw.same(t, q, mode, "pg_catalog's operators")
	}
	sch := redTeam30Schema(t, "rt30impl", `
CREATE FUNCTION %[1]s.yes_fn(float8, numeric) RETURNS boolean LANGUAGE sql IMMUTABLE AS $$ SELECT true $$;
CREATE OPERATOR %[1]s.> (LEFTARG = float8, RIGHTARG = numeric, FUNCTION = %[1]s.yes_fn)`)
	tw.setPath(t, sch+", public")
	if got := tw.sameOrRefused30(t, q, "the user's >(float8, numeric)"); !strings.HasSuffix(got, "(SELECT 20)") {
		t.Errorf("directly: %s, want every row (the user's operator)", got)
	}
}

// TestRedTeam30DeterministicSign: a deterministic column compared with a
// constant under a sign the grammar does not fold (+5, -'1'::int4): the
// sign is a prefix operator PostgreSQL resolves by name, and the cell
// phiguard sends is of pg_catalog's sign.
func TestRedTeam30DeterministicSign(t *testing.T) {
	t.Parallel()
	tw := newRedTeam30Twin(t)
	sch := redTeam30Schema(t, "rt30dsign", `
CREATE FUNCTION %[1]s.one(int4) RETURNS int4 LANGUAGE sql IMMUTABLE AS $$ SELECT 1 $$;
CREATE OPERATOR %[1]s.+ (RIGHTARG = int4, FUNCTION = %[1]s.one);
CREATE OPERATOR %[1]s.- (RIGHTARG = int4, FUNCTION = %[1]s.one)`)
	qs := []string{
		"SELECT id FROM %s WHERE code = +2 ORDER BY id",
		"SELECT id FROM %s WHERE code = -'2'::int4 ORDER BY id",
		"SELECT id FROM %s WHERE code IN (+2, 0) ORDER BY id",
	}
	for _, q := range qs {
		tw.sameOrRefused30(t, q, "pg_catalog's sign")
	}
	tw.setPath(t, sch+", pg_catalog, public")
	for _, q := range qs {
		tw.sameOrRefused30(t, q, "the user's prefix operator")
	}
}

// TestRedTeam30ParamInferredElsewhere: a parameter the Parse leaves
// unspecified takes the type of its first use; used first against an
// integer (id = $1), it is int4 where the text column compares with it,
// and PostgreSQL calls a user's >(text, int4) (pg_catalog has none).
// The exact lookup assumed the column's type, text.
func TestRedTeam30ParamInferredElsewhere(t *testing.T) {
	t.Parallel()
	tw := newRedTeam30Twin(t)
	sch := redTeam30Schema(t, "rt30inf", `
CREATE FUNCTION %[1]s.yes_ti(text, int4) RETURNS boolean LANGUAGE sql IMMUTABLE AS $$ SELECT true $$;
CREATE OPERATOR %[1]s.> (LEFTARG = text, RIGHTARG = int4, FUNCTION = %[1]s.yes_ti)`)
	tw.setPath(t, sch+", public")
	ctx := testContext(t)
	run := func(conn *pgx.Conn, table string) (string, error) {
		rows, err := conn.Query(ctx, fmt.Sprintf("SELECT id FROM %s WHERE id = $1 OR name > $1 ORDER BY id", table), pgx.QueryExecModeCacheStatement, 3)
		if err != nil {
			return "", err
		}
		n := 0
		for rows.Next() {
			n++
		}
		return fmt.Sprint(n), rows.Err()
	}
	want, err := run(tw.dir, tw.plain)
	if err != nil || want == "1" {
		t.Fatalf("directly: %s rows, %v; want the user's operator's rows", want, err)
	}
	if got, err := run(tw.via, tw.enc); err != nil {
		wantCode(t, err, "0A000", "")
	} else if got != want {
		t.Errorf("id = $1 OR name > $1: through phiguard %s rows, directly %s", got, want)
	}
	run2 := func(conn *pgx.Conn, table string) (string, error) {
		rows, err := conn.Query(ctx, fmt.Sprintf("SELECT id FROM %s WHERE id > $1 AND name > $1 ORDER BY id", table), pgx.QueryExecModeCacheStatement, 3)
		if err != nil {
			return "", err
		}
		n := 0
		for rows.Next() {
			n++
		}
		return fmt.Sprint(n), rows.Err()
	}
	want, err = run2(tw.dir, tw.plain)
	if err != nil {
		t.Fatalf("directly: %v", err)
	}
	if got, err := run2(tw.via, tw.enc); err != nil {
		wantCode(t, err, "0A000", "")
	} else if got != want {
		t.Errorf("id > $1 AND name > $1: through phiguard %s rows, directly %s", got, want)
	}
}
