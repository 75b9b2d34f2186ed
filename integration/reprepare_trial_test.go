package integration

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/phiguard/phiguard/config"
)

// Red team 38 on the re-prepare's trial (guard/reprepare.go, trialParse):
// a named statement's re-prepare sends Parse(phiguard_plan_reprepare),
// Close of it, Close of the client's name, Parse of the name, then the
// client's Bind. Each sequence runs against plain PostgreSQL (a session
// of its own on a plaintext table) and through phiguard, after the same
// DDL by another session, and the two transcripts of the protocol answers
// must match; through phiguard the first execution after the DDL fails
// its guard (40001, run it again) and the next prepares the statement
// again (the trial). Every read has a timeout: a ReadyForQuery that
// never comes fails the test.

// rv38Side is one end of a comparison: the client's session, another
// session for the DDL, the table, and whether phiguard is between.
type rv38Side struct {
	name    string
	c, ddl  *pgconn.PgConn
	tbl     string
	proxied bool
}

// rv38Statements are the statements each side prepares: one that writes
// id, one that does not.
var rv38Statements = map[string]string{
	"rv38_a": "INSERT INTO %s (id, s) VALUES ($1, $2)",
	"rv38_s": "INSERT INTO %s (s) VALUES ($1)",
}

func rv38Params(name string) [][]byte {
	if name == "rv38_s" {
		return [][]byte{[]byte("abc")}
	}
	return [][]byte{[]byte("9"), []byte("abc")}
}

// rv38Sides returns plain PostgreSQL and phiguard (the judges guard on),
// each with rv38Statements prepared.
func rv38Sides(t *testing.T) []rv38Side {
	t.Helper()
	ctx := testContext(t)
	direct, ddl := superuser(t), superuser(t)
	tbl := uniqueName("rv38_plain")
	if _, err := ddl.Exec(ctx, "CREATE TABLE "+tbl+" (id int, s text); INSERT INTO "+tbl+" VALUES (1, 'secret')"); err != nil {
		t.Fatal(err)
	}
	su, app, enc := rt31cProxy(t, func(c *config.Config) { c.Limits.JudgesGuard = true })
	sides := []rv38Side{
		{name: "postgres", c: direct.PgConn(), ddl: ddl.PgConn(), tbl: tbl},
		{name: "phiguard", c: app.PgConn(), ddl: su.PgConn(), tbl: enc, proxied: true},
	}
	for _, s := range sides {
		for name, q := range rv38Statements {
			if _, err := s.c.Prepare(ctx, name, fmt.Sprintf(q, s.tbl), nil); err != nil {
				t.Fatal(err)
			}
		}
	}
	return sides
}

// rv38DDL runs sql (%s: the table) in the side's other session.
func rv38DDL(t *testing.T, s rv38Side, sql string) {
	t.Helper()
	if err := s.ddl.Exec(testContext(t), fmt.Sprintf(sql, s.tbl)).Close(); err != nil {
		t.Fatalf("%s: %s: %v", s.name, sql, err)
	}
}

// rv38Stale adds a CHECK over the plain column id and runs each
// statement once: through phiguard its judges guard fails (40001), so
// its next Bind prepares it again; PostgreSQL runs it.
func rv38Stale(t *testing.T, s rv38Side, names ...string) {
	t.Helper()
	rv38StaleAfter(t, s, "ALTER TABLE %[1]s ADD CONSTRAINT %[1]s_c CHECK (id > 0)", names...)
}

// rv38StaleAfter is rv38Stale after the DDL sql.
func rv38StaleAfter(t *testing.T, s rv38Side, sql string, names ...string) {
	t.Helper()
	rv38DDL(t, s, sql)
	for _, name := range names {
		err := s.c.ExecPrepared(testContext(t), name, rv38Params(name), nil, nil).Read().Err
		if want := map[bool]string{true: "40001", false: ""}[s.proxied]; rt4Code(err) != want {
			t.Fatalf("%s: %s after the CHECK: %v, want %q", s.name, name, err, want)
		}
	}
}

// rv38Dated makes the statements stale (rv38Stale), then id a date: a
// Bind of rv38_a fails its re-analysis (42804), in PostgreSQL and in
// phiguard's trial.
func rv38Dated(t *testing.T, s rv38Side, names ...string) {
	t.Helper()
	rv38Stale(t, s, names...)
	rv38DDL(t, s, "ALTER TABLE %[1]s DROP CONSTRAINT %[1]s_c, ALTER COLUMN id TYPE date USING DATE '2000-01-01'")
}

func rv38Bind(name, portal string) []pgproto3.FrontendMessage {
	return []pgproto3.FrontendMessage{&pgproto3.Bind{DestinationPortal: portal, PreparedStatement: name, Parameters: rv38Params(name)},
		&pgproto3.Execute{Portal: portal}}
}

// rv38Send sends msgs and returns the answers in short until rfqs
// ReadyForQuery (or, with rfqs 0, until an ErrorResponse or
// CommandComplete), failing after 10 seconds without them.
func rv38Send(t *testing.T, s rv38Side, rfqs int, msgs ...pgproto3.FrontendMessage) string {
	t.Helper()
	fe := s.c.Frontend()
	for _, m := range msgs {
		fe.Send(m)
	}
	if err := fe.Flush(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var got []string
	for seen := 0; ; {
		msg, err := s.c.ReceiveMessage(ctx)
		if err != nil {
			t.Fatalf("%s: after %q: %v (a hang?)", s.name, strings.Join(got, " "), err)
		}
		switch m := msg.(type) {
		case *pgproto3.ParseComplete:
			got = append(got, "parsed")
		case *pgproto3.BindComplete:
			got = append(got, "bound")
		case *pgproto3.CloseComplete:
			got = append(got, "closed")
		case *pgproto3.ParameterDescription:
			got = append(got, fmt.Sprintf("params%v", m.ParameterOIDs))
		case *pgproto3.NoData:
			got = append(got, "nodata")
		case *pgproto3.RowDescription:
			got = append(got, fmt.Sprintf("rowdesc%d", len(m.Fields)))
		case *pgproto3.DataRow:
			got = append(got, "row")
		case *pgproto3.PortalSuspended:
			got = append(got, "suspended")
		case *pgproto3.CommandComplete:
			got = append(got, string(m.CommandTag))
		case *pgproto3.ErrorResponse:
			got = append(got, "error "+m.Code)
		case *pgproto3.ReadyForQuery:
			got = append(got, "ready "+string(m.TxStatus))
			seen++
		}
		if rfqs > 0 && seen == rfqs {
			return strings.Join(got, ", ")
		}
		if _, ok := msg.(*pgproto3.ErrorResponse); ok && rfqs == 0 {
			return strings.Join(got, ", ")
		}
		if _, ok := msg.(*pgproto3.CommandComplete); ok && rfqs == 0 {
			return strings.Join(got, ", ")
		}
	}
}

// rv38Prepared answers what the backend holds: the names of the side's
// prepared statements, sorted (phiguard's own plans, phiguard_plan_
// followed by a number, left out).
func rv38Prepared(t *testing.T, s rv38Side) string {
	t.Helper()
	res := s.c.ExecParams(testContext(t), "SELECT coalesce(string_agg(name, ' ' ORDER BY name), '') FROM pg_prepared_statements WHERE name NOT SIMILAR TO 'phiguard_plan_[0-9]+'", nil, nil, nil, nil).Read()
	if res.Err != nil || len(res.Rows) != 1 {
		t.Fatalf("%s: pg_prepared_statements: %v", s.name, res.Err)
	}
	return string(res.Rows[0][0])
}

// rv38Compare runs script on each side and fails unless the transcripts
// match.
func rv38Compare(t *testing.T, script func(s rv38Side) []string) {
	t.Helper()
	var want []string
	for i, s := range rv38Sides(t) {
		got := script(s)
		t.Logf("%s:\n  %s", s.name, strings.Join(got, "\n  "))
		if i == 0 {
			want = got
			continue
		}
		for j := range max(len(got), len(want)) {
			var g, w string
			if j < len(got) {
				g = got[j]
			}
			if j < len(want) {
				w = want[j]
			}
			if g != w {
				t.Errorf("step %d: phiguard answered\n  %s\nwhere PostgreSQL answered\n  %s", j+1, g, w)
			}
		}
	}
}

func seq(parts ...[]pgproto3.FrontendMessage) []pgproto3.FrontendMessage {
	var out []pgproto3.FrontendMessage
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

var (
	rv38Sync  = []pgproto3.FrontendMessage{&pgproto3.Sync{}}
	rv38Flush = []pgproto3.FrontendMessage{&pgproto3.Flush{}}
)

func rv38Simple(q string) []pgproto3.FrontendMessage {
	return []pgproto3.FrontendMessage{&pgproto3.Query{String: q}}
}

// TestReprepareTrialTwoInOneSegment: two stale statements bound in one
// segment are both prepared again under the same trial name; then, with
// id a date, the second's trial fails behind the first's success.
func TestReprepareTrialTwoInOneSegment(t *testing.T) {
	t.Parallel()
	rv38Compare(t, func(s rv38Side) []string {
		rv38Stale(t, s, "rv38_a", "rv38_s")
		out := []string{
			rv38Send(t, s, 1, seq(rv38Bind("rv38_a", ""), rv38Bind("rv38_s", ""), rv38Sync)...),
			rv38Prepared(t, s),
		}
		rv38StaleAfter(t, s, "ALTER TABLE %[1]s DROP CONSTRAINT %[1]s_c", "rv38_a", "rv38_s")
		rv38DDL(t, s, "ALTER TABLE %[1]s ALTER COLUMN id TYPE date USING DATE '2000-01-01'")
		out = append(out,
			rv38Send(t, s, 1, seq(rv38Bind("rv38_s", ""), rv38Bind("rv38_a", ""), rv38Sync)...),
			rv38Prepared(t, s),
			rv38Send(t, s, 1, seq(rv38Bind("rv38_s", ""), rv38Sync)...),
			rv38Send(t, s, 1, seq(rv38Bind("rv38_a", ""), rv38Sync)...),
			rv38Send(t, s, 1, &pgproto3.Describe{ObjectType: 'S', Name: "rv38_a"}, &pgproto3.Sync{}),
			rv38Prepared(t, s),
		)
		return out
	})
}

// TestReprepareTrialInTransaction: the trial inside a transaction block:
// one statement prepared again and run, then the other's trial fails
// (42804) and aborts the block; in the aborted block the statements
// answer 25P02 and a Describe describes; after the ROLLBACK the failing
// one fails again and the other runs.
func TestReprepareTrialInTransaction(t *testing.T) {
	t.Parallel()
	rv38Compare(t, func(s rv38Side) []string {
		rv38Dated(t, s, "rv38_a", "rv38_s")
		return []string{
			rv38Send(t, s, 1, rv38Simple("BEGIN")...),
			rv38Send(t, s, 1, seq(rv38Bind("rv38_s", ""), rv38Sync)...),
			rv38Send(t, s, 1, seq(rv38Bind("rv38_a", ""), rv38Sync)...),
			rv38Send(t, s, 1, seq(rv38Bind("rv38_a", ""), rv38Sync)...),
			rv38Send(t, s, 1, seq(rv38Bind("rv38_s", ""), rv38Sync)...),
			rv38Send(t, s, 1, &pgproto3.Describe{ObjectType: 'S', Name: "rv38_a"}, &pgproto3.Sync{}),
			rv38Send(t, s, 1, rv38Simple("ROLLBACK")...),
			rv38Prepared(t, s),
			rv38Send(t, s, 1, seq(rv38Bind("rv38_a", ""), rv38Sync)...),
			rv38Send(t, s, 1, seq(rv38Bind("rv38_s", ""), rv38Sync)...),
			rv38Prepared(t, s),
		}
	})
}

// TestReprepareTrialThenClientMessages: in the segment of a re-prepare,
// the client's Describe of the portal, Execute, Describe and Close of the
// statement; then a Bind of the closed name (26000). And behind a failed
// trial, the same messages are skipped, and a Close in the next segment
// drops the statement the backend kept.
func TestReprepareTrialThenClientMessages(t *testing.T) {
	t.Parallel()
	rv38Compare(t, func(s rv38Side) []string {
		rv38Stale(t, s, "rv38_s", "rv38_a")
		out := []string{
			rv38Send(t, s, 1,
				&pgproto3.Bind{DestinationPortal: "p", PreparedStatement: "rv38_s", Parameters: rv38Params("rv38_s")},
				&pgproto3.Describe{ObjectType: 'P', Name: "p"}, &pgproto3.Execute{Portal: "p"},
				&pgproto3.Describe{ObjectType: 'S', Name: "rv38_s"}, &pgproto3.Close{ObjectType: 'S', Name: "rv38_s"},
				&pgproto3.Execute{Portal: "p"}, &pgproto3.Sync{}),
			rv38Prepared(t, s),
			rv38Send(t, s, 1, seq(rv38Bind("rv38_s", ""), rv38Sync)...),
		}
		rv38DDL(t, s, "ALTER TABLE %[1]s DROP CONSTRAINT %[1]s_c, ALTER COLUMN id TYPE date USING DATE '2000-01-01'")
		return append(out,
			rv38Send(t, s, 1,
				&pgproto3.Bind{DestinationPortal: "p", PreparedStatement: "rv38_a", Parameters: rv38Params("rv38_a")},
				&pgproto3.Describe{ObjectType: 'P', Name: "p"}, &pgproto3.Execute{Portal: "p"},
				&pgproto3.Close{ObjectType: 'S', Name: "rv38_a"}, &pgproto3.Sync{}),
			rv38Prepared(t, s),
			rv38Send(t, s, 1, &pgproto3.Close{ObjectType: 'S', Name: "rv38_a"}, &pgproto3.Sync{}),
			rv38Prepared(t, s),
			rv38Send(t, s, 1, seq(rv38Bind("rv38_a", ""), rv38Sync)...),
		)
	})
}

// TestReprepareTrialFlush: a re-prepare behind which the client sends
// Flush, not Sync: the answers come, the error too, and the Sync after
// ends the segment.
func TestReprepareTrialFlush(t *testing.T) {
	t.Parallel()
	rv38Compare(t, func(s rv38Side) []string {
		rv38Stale(t, s, "rv38_s", "rv38_a")
		out := []string{
			rv38Send(t, s, 0, seq(rv38Bind("rv38_s", ""), rv38Flush)...),
			rv38Send(t, s, 1, rv38Sync...),
		}
		rv38DDL(t, s, "ALTER TABLE %[1]s DROP CONSTRAINT %[1]s_c, ALTER COLUMN id TYPE date USING DATE '2000-01-01'")
		return append(out,
			rv38Send(t, s, 0, seq(rv38Bind("rv38_a", ""), rv38Flush)...),
			rv38Send(t, s, 1, seq(rv38Bind("rv38_s", ""), rv38Sync)...),
			rv38Send(t, s, 0, seq(rv38Bind("rv38_a", ""), rv38Flush)...),
			rv38Send(t, s, 1, rv38Sync...),
			rv38Prepared(t, s),
		)
	})
}

// TestReprepareTrialUnnamed: the unnamed statement gets no trial (the
// catalog read before its re-prepare, a simple Query, dropped it from the
// backend): after the failed re-prepare, a Describe of it answers as
// PostgreSQL's from what phiguard's own Describe learned before that
// read (guard/reprepare_unnamed.go), and its next Bind fails again.
func TestReprepareTrialUnnamed(t *testing.T) {
	t.Parallel()
	rv38Unnamed(t, []uint32{23, 25})
}

// TestReprepareTrialUnnamedUndeclared: the same with the parameter types
// left to PostgreSQL and never described: the re-Parse declares the ones
// phiguard's own Describe learned, not inferred anew from the changed
// table (22007, [1082 25]).
func TestReprepareTrialUnnamedUndeclared(t *testing.T) {
	t.Parallel()
	rv38Unnamed(t, nil)
}

func rv38Unnamed(t *testing.T, oids []uint32) {
	t.Helper()
	rv38Compare(t, func(s rv38Side) []string {
		out := []string{rv38Send(t, s, 1, &pgproto3.Parse{Query: fmt.Sprintf(rv38Statements["rv38_a"], s.tbl), ParameterOIDs: oids}, &pgproto3.Sync{})}
		rv38Dated(t, s, "")
		return append(out,
			rv38Send(t, s, 1, seq(rv38Bind("", ""), rv38Sync)...),
			rv38Send(t, s, 1, seq(rv38Bind("", ""), rv38Sync)...),
			rv38Send(t, s, 1, &pgproto3.Describe{ObjectType: 'S'}, &pgproto3.Sync{}),
			rv38Send(t, s, 1, seq(rv38Bind("", ""), rv38Sync)...),
			rv38Prepared(t, s),
		)
	})
}

// TestReprepareTrialOwnName: the client may not name a statement after
// the trial (phiguard refuses, 0A000), by Parse or SQL, in any case; a
// Describe, Bind or DEALLOCATE of the name finds none (26000), or is
// refused.
func TestReprepareTrialOwnName(t *testing.T) {
	t.Parallel()
	s := rv38Sides(t)[1]
	for _, step := range []struct {
		msgs []pgproto3.FrontendMessage
		want []string
	}{
		{[]pgproto3.FrontendMessage{&pgproto3.Parse{Name: "phiguard_plan_reprepare", Query: "SELECT 1"}, &pgproto3.Sync{}}, []string{"error 0A000, ready I"}},
		{rv38Simple("PREPARE phiguard_plan_reprepare AS SELECT 1"), []string{"error 0A000, ready I"}},
		{rv38Simple("PREPARE PHIGUARD_PLAN_REPREPARE AS SELECT 1"), []string{"error 0A000, ready I"}},
		{rv38Simple(`PREPARE "phiguard_plan_reprepare" AS SELECT 1`), []string{"error 0A000, ready I"}},
		{rv38Simple("DEALLOCATE phiguard_plan_reprepare"), []string{"error 26000, ready I", "error 0A000, ready I"}},
		{rv38Simple("EXECUTE phiguard_plan_reprepare"), []string{"error 26000, ready I", "error 0A000, ready I"}},
		{[]pgproto3.FrontendMessage{&pgproto3.Describe{ObjectType: 'S', Name: "phiguard_plan_reprepare"}, &pgproto3.Sync{}}, []string{"error 26000, ready I", "error 0A000, ready I"}},
		{[]pgproto3.FrontendMessage{&pgproto3.Bind{PreparedStatement: "phiguard_plan_reprepare"}, &pgproto3.Sync{}}, []string{"error 26000, ready I", "error 0A000, ready I"}},
	} {
		got := rv38Send(t, s, 1, step.msgs...)
		if !slicesContains(step.want, got) {
			t.Errorf("%#v: %s, want one of %q", step.msgs[0], got, step.want)
		}
	}
	if got := rv38Prepared(t, s); got != "rv38_a rv38_s" {
		t.Errorf("the backend holds %q", got)
	}
	// Then the trial itself still runs.
	rv38Stale(t, s, "rv38_a")
	if got := rv38Send(t, s, 1, seq(rv38Bind("rv38_a", ""), rv38Sync)...); got != "bound, INSERT 0 1, ready I" {
		t.Errorf("the re-prepare after: %s", got)
	}
}

func slicesContains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// TestReprepareTrialOwnNameBehindFunction: a statement a function the
// client calls PREPAREs (phiguard does not read its body) under the trial's
// name. PostgreSQL, with no phiguard, runs the client's stale statement;
// phiguard's trial Parse met 42P05 (prepared statement
// "phiguard_plan_reprepare" already exists) until phiguard closed the
// name before its trial.
func TestReprepareTrialOwnNameBehindFunction(t *testing.T) {
	t.Parallel()
	s := rv38Sides(t)[1]
	fn := uniqueName("rv38_prep")
	if err := s.ddl.Exec(testContext(t), "CREATE FUNCTION "+fn+"() RETURNS int LANGUAGE plpgsql AS $$ BEGIN EXECUTE 'PREPARE phiguard_plan_reprepare AS SELECT 1'; RETURN 1; END $$").Close(); err != nil {
		t.Fatal(err)
	}
	got := rv38Send(t, s, 1, rv38Simple("SELECT "+fn+"()")...)
	if got != "rowdesc1, row, SELECT 1, ready I" {
		t.Skipf("the DO block: %s (refused or failed: nothing to test)", got)
	}
	rv38Stale(t, s, "rv38_a")
	if got := rv38Send(t, s, 1, seq(rv38Bind("rv38_a", ""), rv38Sync)...); got != "bound, INSERT 0 1, ready I" {
		t.Errorf("the re-prepare with phiguard_plan_reprepare held by the client: %s, where PostgreSQL runs the statement", got)
	}
}

// TestReprepareTrialPipelinedSegments: four segments sent at once, each
// statement bound twice (the second Bind comes before the first's trial
// is answered), and the same statement twice in one segment.
func TestReprepareTrialPipelinedSegments(t *testing.T) {
	t.Parallel()
	rv38Compare(t, func(s rv38Side) []string {
		rv38Dated(t, s, "rv38_a", "rv38_s")
		out := []string{rv38Send(t, s, 4, seq(rv38Bind("rv38_s", ""), rv38Sync, rv38Bind("rv38_s", ""), rv38Sync,
			rv38Bind("rv38_a", ""), rv38Sync, rv38Bind("rv38_a", ""), rv38Sync)...), rv38Prepared(t, s)}
		rv38StaleAfter(t, s, "ALTER TABLE %[1]s ADD CONSTRAINT %[1]s_c CHECK (id IS NULL OR id > DATE '1999-01-01')", "rv38_s")
		return append(out, rv38Send(t, s, 1, seq(rv38Bind("rv38_s", ""), rv38Bind("rv38_s", "p"), rv38Bind("rv38_s", ""), rv38Sync)...),
			rv38Prepared(t, s))
	})
}

// TestReprepareTrialBehindError: in the segment of two re-prepares the
// first statement's execution fails (23514, the CHECK): the second's
// trial, Closes and Parse are skipped with its Bind; the next segment
// prepares it again and runs it.
func TestReprepareTrialBehindError(t *testing.T) {
	t.Parallel()
	rv38Compare(t, func(s rv38Side) []string {
		rv38Stale(t, s, "rv38_a", "rv38_s")
		bad := []pgproto3.FrontendMessage{&pgproto3.Bind{PreparedStatement: "rv38_a", Parameters: [][]byte{[]byte("-1"), []byte("abc")}}, &pgproto3.Execute{}}
		return []string{
			rv38Send(t, s, 1, seq(bad, rv38Bind("rv38_s", ""), rv38Sync)...),
			rv38Prepared(t, s),
			rv38Send(t, s, 1, seq(rv38Bind("rv38_s", ""), bad, rv38Bind("rv38_s", ""), rv38Sync)...),
			rv38Send(t, s, 1, seq(rv38Bind("rv38_s", ""), rv38Bind("rv38_a", ""), rv38Sync)...),
			rv38Prepared(t, s),
		}
	})
}

// TestReprepareTrialOpenPortal: a portal of the statement, suspended
// inside a transaction block, outlives the statement's re-prepare (its
// Close) as it outlives PostgreSQL's re-plan: its Execute returns the
// rest of its rows.
func TestReprepareTrialOpenPortal(t *testing.T) {
	t.Parallel()
	rv38Compare(t, func(s rv38Side) []string {
		if s.proxied {
			rv38DDL(t, s, "ALTER TABLE %s OWNER TO "+appUser)
		}
		ret := []pgproto3.FrontendMessage{&pgproto3.Parse{Name: "rv38_r", Query: fmt.Sprintf("INSERT INTO %s (id, s) VALUES ($1, $2), ($1, $2) RETURNING id", s.tbl)},
			&pgproto3.Describe{ObjectType: 'S', Name: "rv38_r"}, &pgproto3.Sync{}}
		out := []string{
			rv38Send(t, s, 1, ret...),
			rv38Send(t, s, 1, rv38Simple("BEGIN")...),
			rv38Send(t, s, 1, &pgproto3.Bind{DestinationPortal: "p", PreparedStatement: "rv38_r", Parameters: rv38Params("rv38_a")},
				&pgproto3.Execute{Portal: "p", MaxRows: 1}, &pgproto3.Sync{}),
			rv38Send(t, s, 1, rv38Simple(fmt.Sprintf("ALTER TABLE %[1]s ADD CONSTRAINT %[1]s_c CHECK (id > 0); SAVEPOINT x", s.tbl))...),
			strings.ReplaceAll(rv38Send(t, s, 1, &pgproto3.Bind{PreparedStatement: "rv38_r", Parameters: rv38Params("rv38_a")}, &pgproto3.Execute{}, &pgproto3.Sync{}), "bound, error 40001, ready E", "guard failed"),
			rv38Send(t, s, 1, rv38Simple("ROLLBACK TO SAVEPOINT x")...),
			rv38Send(t, s, 1, &pgproto3.Bind{DestinationPortal: "q", PreparedStatement: "rv38_r", Parameters: rv38Params("rv38_a")},
				&pgproto3.Execute{Portal: "q"}, &pgproto3.Execute{Portal: "p"}, &pgproto3.Sync{}),
			rv38Send(t, s, 1, rv38Simple("COMMIT")...),
		}
		if !s.proxied {
			out[4] = "guard failed"
		}
		return out
	})
}
