package integration

import (
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5"
)

// Red team 32a: the plan reuse of the unnamed statement
// (guard/plan_reuse.go, docs/search.md "Plan reuse").

// twinRun runs q (%[1]s the table) on the plaintext twin directly and
// through phiguard on the encrypted one, as the unnamed statement (pgx's
// Exec mode), and returns both answers.
func twinRun(t *testing.T, dir, via *pgx.Conn, plain, enc, q string, args ...any) (want, got string) {
	t.Helper()
	want, err := rowsRaw(t, dir, fmt.Sprintf(q, plain), pgx.QueryExecModeExec, pgx.TextFormatCode, args...)
	if err != nil {
		want = "error: " + err.Error()
	}
	got, err = rowsRaw(t, via, fmt.Sprintf(q, enc), pgx.QueryExecModeExec, pgx.TextFormatCode, args...)
	if err != nil {
		got = "error: " + err.Error()
	}
	return want, got
}

// TestRedTeam32aRegclassLiteral: a text qualified throughout holds a
// name in a constant: a regclass literal is resolved (search_path)
// when PostgreSQL analyses the text, and the OID is kept in the plan. A
// relation of that name made later in a schema before public on the
// search_path (another session) invalidates nothing.
func TestRedTeam32aRegclassLiteral(t *testing.T) {
	t.Parallel()
	f := newRoundsFixture(t, 60, 0)
	ctx := testContext(t)
	su := superuser(t)
	s, x := uniqueName("rt32a_s"), uniqueName("rt32a_x")
	if _, err := su.Exec(ctx, fmt.Sprintf("CREATE SCHEMA %[1]s; GRANT USAGE ON SCHEMA %[1]s TO %[3]s; CREATE TABLE public.%[2]s (i int); GRANT ALL ON public.%[2]s TO %[3]s", s, x, appUser)); err != nil {
		t.Fatal(err)
	}
	path := s + ", public"
	dir, via := direct(t), f.p.app(t)
	for _, c := range []*pgx.Conn{dir, via} {
		if _, err := c.Exec(ctx, "SET search_path = "+path, pgx.QueryExecModeSimpleProtocol); err != nil {
			t.Fatal(err)
		}
	}
	q := "SELECT id, name FROM public.%[1]s WHERE '" + x + "'::pg_catalog.regclass = 'public." + x + "'::pg_catalog.regclass ORDER BY name, id LIMIT 5"
	for range 2 {
		if want, got := twinRun(t, dir, via, f.plain, f.enc, q); want != got {
			t.Fatalf("before: through phiguard\n%s\ndirectly\n%s", got, want)
		}
	}
	if _, err := su.Exec(ctx, fmt.Sprintf("CREATE TABLE %s.%s (i int)", s, x)); err != nil {
		t.Fatal(err)
	}
	if want, got := twinRun(t, dir, via, f.plain, f.enc, q); want != got {
		t.Fatalf("after another session made %s.%s: through phiguard\n%s\ndirectly\n%s", s, x, got, want)
	}
}

// TestRedTeam32aOverload: a qualified function call resolves, at
// analysis, to the best of the overloads of its schema; one made later
// by another session does not invalidate a plan of the old one.
func TestRedTeam32aOverload(t *testing.T) {
	t.Parallel()
	f := newRoundsFixture(t, 60, 0)
	ctx := testContext(t)
	su := superuser(t)
	s := uniqueName("rt32a_f")
	if _, err := su.Exec(ctx, fmt.Sprintf("CREATE SCHEMA %[1]s; GRANT USAGE ON SCHEMA %[1]s TO %[2]s; CREATE FUNCTION %[1]s.pick(numeric) RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT 1'", s, appUser)); err != nil {
		t.Fatal(err)
	}
	dir, via := f.dir, f.via
	q := "SELECT id, name FROM public.%[1]s WHERE grp = " + s + ".pick(2) ORDER BY name, id LIMIT 5"
	for range 2 {
		if want, got := twinRun(t, dir, via, f.plain, f.enc, q); want != got {
			t.Fatalf("before: through phiguard\n%s\ndirectly\n%s", got, want)
		}
	}
	if _, err := su.Exec(ctx, fmt.Sprintf("CREATE FUNCTION %s.pick(int) RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT 2'", s)); err != nil {
		t.Fatal(err)
	}
	if want, got := twinRun(t, dir, via, f.plain, f.enc, q); want != got {
		t.Fatalf("after another session made %s.pick(int): through phiguard\n%s\ndirectly\n%s", s, got, want)
	}
}

// TestRedTeam32aDeallocateLeak: phiguard forgets its statements at a
// DEALLOCATE ALL without closing them, though the DEALLOCATE may not run
// (an aborted transaction): the backend keeps them, beyond the bound of
// 32 per session.
func TestRedTeam32aDeallocateLeak(t *testing.T) {
	t.Parallel()
	f := newRoundsFixture(t, 60, 0)
	ctx := testContext(t)
	for i := range 40 {
		q := fmt.Sprintf("SELECT id, name FROM public.%%[1]s ORDER BY name, id LIMIT %d", i+1)
		if want, got := twinRun(t, f.dir, f.via, f.plain, f.enc, q); want != got {
			t.Fatalf("through phiguard\n%s\ndirectly\n%s", got, want)
		}
		if _, err := f.via.Exec(ctx, "BEGIN", pgx.QueryExecModeSimpleProtocol); err != nil {
			t.Fatal(err)
		}
		_, err := f.via.Exec(ctx, "SELECT 1/0", pgx.QueryExecModeSimpleProtocol)
		wantPgError(t, err, "22012")
		_, err = f.via.Exec(ctx, "DEALLOCATE ALL", pgx.QueryExecModeSimpleProtocol)
		wantPgError(t, err, "25P02")
		if _, err := f.via.Exec(ctx, "ROLLBACK", pgx.QueryExecModeSimpleProtocol); err != nil {
			t.Fatal(err)
		}
	}
	if n := reusedPlans(t, f.via); n > 32 {
		t.Fatalf("%d statements of phiguard's in the backend, bound 32", n)
	}
}
