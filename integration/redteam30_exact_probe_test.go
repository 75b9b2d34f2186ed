package integration

import (
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

// Red team of the exact operator probe (sqlrewrite/planner_shadow_exact.go):
// when a proxy-side WHERE's operand types are known from the text, the
// gate is one to_regoperator lookup of exactly those types. Each case
// below is a text whose operand types phiguard read wrongly, so the gate
// looked up an operator PostgreSQL does not call, and a user's operator
// (always true or always false, in a schema the session can see) decided
// the plaintext answer while phiguard evaluated pg_catalog's: a different
// answer without a refusal. The pg_operator scan it replaced refused every
// one (the user's operator takes the column's type on its left). Each
// must now be answered as plaintext or refused (0A000).

// newRedTeam30Twin is a twin of an integer, a numeric, a date and a text
// column, all randomized, and a deterministic integer, with rows 1..20.
func newRedTeam30Twin(t *testing.T) *twin {
	t.Helper()
	tw := newTwin(t, "rt30",
		twinColumn{"id", "int PRIMARY KEY", ""},
		twinColumn{"visits", "integer", "{mode: randomized, key: rt30-pii, type: integer}"},
		twinColumn{"amount", "numeric", "{mode: randomized, key: rt30-pii, type: numeric}"},
		twinColumn{"born", "date", "{mode: randomized, key: rt30-pii, type: date}"},
		twinColumn{"name", "text", "{mode: randomized, key: rt30-pii, type: text}"},
		twinColumn{"code", "integer", "{mode: deterministic, key: rt30-code, type: integer}"})
	for i := 1; i <= 20; i++ {
		var visits, name any = i, fmt.Sprintf("S%02d", i)
		if i%7 == 0 {
			visits, name = nil, nil
		}
		tw.exec(t, "INSERT INTO %s (id, visits, amount, born, name, code) VALUES ($1, $2, $3, $4, $5, $6)", pgx.QueryExecModeSimpleProtocol,
			i, visits, fmt.Sprintf("%d.5", i), fmt.Sprintf("19%02d-01-01", 50+i), name, i%3)
	}
	return tw
}

// redTeam30Schema makes a schema the application may use and create in,
// with ddl run in it by the superuser (%[1]s is the schema).
func redTeam30Schema(t *testing.T, prefix, ddl string) string {
	t.Helper()
	schema := uniqueName(prefix)
	if _, err := superuser(t).Exec(testContext(t), fmt.Sprintf(`CREATE SCHEMA %[1]s; GRANT USAGE, CREATE ON SCHEMA %[1]s TO PUBLIC;
`+ddl, schema)); err != nil {
		t.Fatal(err)
	}
	return schema
}

// setPath sets search_path on both sides.
func (tw *twin) setPath(t *testing.T, path string) {
	t.Helper()
	for _, conn := range []*pgx.Conn{tw.dir, tw.via} {
		if _, err := conn.Exec(testContext(t), "SET search_path = "+path); err != nil {
			t.Fatal(err)
		}
	}
}

// sameOrRefused30 runs q (%s the table) directly and through phiguard in
// both protocols: the same rows, or 0A000 through phiguard. It returns
// the plaintext answer.
func (tw *twin) sameOrRefused30(t *testing.T, q, why string) string {
	t.Helper()
	var want string
	for _, mode := range bothModes {
		w, err := rowsRaw(t, tw.dir, fmt.Sprintf(q, tw.plain), mode, pgx.TextFormatCode)
		if err != nil {
			t.Fatalf("%s (%v) directly: %v", q, mode, err)
		}
		want = w
		got, err := rowsRaw(t, tw.via, fmt.Sprintf(q, tw.enc), mode, pgx.TextFormatCode)
		if err != nil {
			wantCode(t, err, "0A000", "")
			continue
		}
		if got != want {
			t.Errorf("%s (%v), %s: through phiguard\n%s\ndirectly\n%s", q, mode, why, got, want)
		}
	}
	return want
}

// TestRedTeam30NumberShapes: texts that differ only in a number share a
// shape, and so an analysis and its plan (sqlrewrite/cache.go), but not
// the number's type: visits > 3 is >(int4,int4), visits > 3000000000
// >(int4,int8), visits > 2.5 >(int4,numeric), for which pg_catalog has
// none (PostgreSQL then takes the first exact one along search_path, the
// user's). The plan of the first text gated the others with its own
// lookup. And -2147483648 is int4 to PostgreSQL (a negated 2147483648
// that fits), which phiguard took for int8. The deterministic column's
// check (sqlrewrite/operator_guard.go) made the same two mistakes.
func TestRedTeam30NumberShapes(t *testing.T) {
	t.Parallel()
	tw := newRedTeam30Twin(t)
	wide := redTeam30Schema(t, "rt30wide", `
CREATE FUNCTION %[1]s.yes_i8(int4, int8) RETURNS boolean LANGUAGE sql IMMUTABLE AS $$ SELECT true $$;
CREATE FUNCTION %[1]s.yes_in(int4, numeric) RETURNS boolean LANGUAGE sql IMMUTABLE AS $$ SELECT true $$;
CREATE FUNCTION %[1]s.yes_ni(numeric, int4) RETURNS boolean LANGUAGE sql IMMUTABLE AS $$ SELECT true $$;
CREATE OPERATOR %[1]s.> (LEFTARG = int4, RIGHTARG = int8, FUNCTION = %[1]s.yes_i8);
CREATE OPERATOR %[1]s.> (LEFTARG = int4, RIGHTARG = numeric, FUNCTION = %[1]s.yes_in);
CREATE OPERATOR %[1]s.> (LEFTARG = numeric, RIGHTARG = int4, FUNCTION = %[1]s.yes_ni);
CREATE OPERATOR %[1]s.= (LEFTARG = int4, RIGHTARG = int8, FUNCTION = %[1]s.yes_i8)`)
	tw.setPath(t, wide+", pg_catalog, public")
	// The operators are live: directly, every row with a value.
	if got := tw.sameOrRefused30(t, "SELECT count(*) FROM %s WHERE visits > 3000000000", "live"); !strings.Contains(got, "20") {
		t.Fatalf("the user's >(int4,int8) is not called directly: %s", got)
	}
	for _, pair := range [][2]string{
		{"SELECT id FROM %s WHERE visits > 3 ORDER BY id", "SELECT id FROM %s WHERE visits > 3000000000 ORDER BY id"},
		{"SELECT id FROM %s WHERE visits >= 0 AND visits > 4 ORDER BY id", "SELECT id FROM %s WHERE visits >= 0 AND visits > 2.5 ORDER BY id"},
		{"SELECT id FROM %s WHERE amount > 5.5 ORDER BY id", "SELECT id FROM %s WHERE amount > 5 ORDER BY id"},
		{"SELECT id FROM %s WHERE code = 1 ORDER BY id", "SELECT id FROM %s WHERE code = 3000000000 ORDER BY id"},
	} {
		tw.sameOrRefused30(t, pair[0], "pg_catalog's operator")
		tw.sameOrRefused30(t, pair[1], "the user's operator, after a text of the same shape")
	}

	never := redTeam30Schema(t, "rt30never", `
CREATE FUNCTION %[1]s.no(int4, int4) RETURNS boolean LANGUAGE sql IMMUTABLE AS $$ SELECT false $$;
CREATE OPERATOR %[1]s.> (LEFTARG = int4, RIGHTARG = int4, FUNCTION = %[1]s.no);
CREATE FUNCTION %[1]s.yes(int4, int4) RETURNS boolean LANGUAGE sql IMMUTABLE AS $$ SELECT true $$;
CREATE OPERATOR %[1]s.= (LEFTARG = int4, RIGHTARG = int4, FUNCTION = %[1]s.yes)`)
	tw.setPath(t, never+", pg_catalog, public")
	for _, q := range []string{
		"SELECT id FROM %s WHERE visits > -2147483648 ORDER BY id",
		"SELECT id FROM %s WHERE visits > - 2147483648 AND id > 0 ORDER BY id",
	} {
		if got := tw.sameOrRefused30(t, q, "the user's >(int4,int4)"); got != "(SELECT 0)" {
			t.Fatalf("%s directly: %s, want no row (the user's operator)", q, got)
		}
	}
	if got := tw.sameOrRefused30(t, "SELECT count(*) FROM %s WHERE code = -2147483648", "the user's =(int4,int4)"); got != "20\n(SELECT 1)" {
		t.Fatalf("directly: %q, want every row (the user's operator)", got)
	}
}
