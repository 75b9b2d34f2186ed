package integration

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
)

// Plan reuse for the unnamed statement (guard/plan_reuse.go,
// docs/search.md "Plan reuse"): a sorted read whose text is fully
// schema-qualified, sent as an unnamed Parse before each Bind, is
// prepared once per session under phiguard's name and bound from it.

// planReuseStatements are query 1, 3 and 4's shapes on the rounds
// fixture (%[1]s the table, schema-qualified), the last two needing
// further rounds (its first 240 rows by name are dropped by phiguard's
// WHERE).
var planReuseStatements = []struct {
	sql  string
	args []any
}{
	{"SELECT id, name, grp FROM public.%[1]s WHERE name ILIKE 'sm%%' ORDER BY name, id LIMIT 7", nil},
	{"SELECT id, born FROM public.%[1]s WHERE born BETWEEN '1951-01-01' AND '1952-03-31' ORDER BY born, id LIMIT 20", nil},
	{"SELECT id, name, grp FROM public.%[1]s WHERE grp IN ($1) ORDER BY name ASC, born ASC NULLS FIRST, id ASC", []any{2}},
	{"SELECT id, name FROM public.%[1]s WHERE name NOT LIKE '%%Fail' ORDER BY name, id LIMIT 10", nil},
	{"SELECT id, name FROM public.%[1]s WHERE name NOT LIKE '%%Fail' ORDER BY name DESC, id LIMIT $1 OFFSET 3", []any{12}},
}

// planReuseSame runs statement i directly and through phiguard in the
// extended protocol with an unnamed statement (pgx's Exec mode), in
// both result formats, and fails unless the answers are the same.
func (f *roundsFixture) planReuseSame(t *testing.T, i int) {
	t.Helper()
	st := planReuseStatements[i]
	for _, format := range []int16{pgx.TextFormatCode, pgx.BinaryFormatCode} {
		want, err := rowsRaw(t, f.dir, fmt.Sprintf(st.sql, f.plain), pgx.QueryExecModeExec, format, st.args...)
		if err != nil {
			t.Fatalf("directly: %s: %v", st.sql, err)
		}
		got, err := rowsRaw(t, f.via, fmt.Sprintf(st.sql, f.enc), pgx.QueryExecModeExec, format, st.args...)
		if err != nil {
			t.Fatalf("through phiguard: %s: %v", st.sql, err)
		}
		if got != want || !strings.Contains(want, "\n") {
			t.Fatalf("%s (format %d): through phiguard\n%s\ndirectly\n%s", st.sql, format, got, want)
		}
	}
}

// reusedPlans counts the statements phiguard prepared under its names in
// the session of conn.
func reusedPlans(t *testing.T, conn *pgx.Conn) int {
	t.Helper()
	var n int
	if err := conn.QueryRow(testContext(t), "SELECT count(*) FROM pg_catalog.pg_prepared_statements WHERE name LIKE 'phiguard\\_plan\\_%'",
		pgx.QueryExecModeSimpleProtocol).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestPlanReuse: the same answers as PostgreSQL's at the first execution
// (prepared) and the next ones (bound without the text: the backend gets
// no rewritten text for a statement of one round), statements in rounds
// beyond the first included; one prepared statement per text; a
// statement naming a relation without its schema is not prepared.
func TestPlanReuse(t *testing.T) {
	t.Parallel()
	f := newRoundsFixture(t, 300, 240)
	for i := range planReuseStatements {
		for range 3 {
			f.planReuseSame(t, i)
		}
	}
	if n := reusedPlans(t, f.via); n != len(planReuseStatements) {
		t.Fatalf("%d statements prepared under phiguard's names, want %d (one per text)", n, len(planReuseStatements))
	}
	f.relay.take()
	f.planReuseSame(t, 0)
	// Its first messages: Parse("", "SELECT"), the Bind of phiguard's
	// statement (a later round, if needed, sends its own text).
	if sent := f.relay.take(); !bytes.HasPrefix(sent, []byte("P\x00\x00\x00\x0e\x00SELECT\x00\x00\x00B")) || !bytes.Contains(sent, []byte("phiguard_plan_")) {
		t.Fatalf("a reused plan's execution sent its text again, or not its name: %q", clip(string(sent)))
	}
	// Unqualified: as before, no statement of phiguard's.
	fresh := f.p.app(t)
	q := fmt.Sprintf("SELECT id, name FROM %s WHERE name ILIKE 'sm%%' ORDER BY name, id LIMIT 7", f.enc)
	for range 2 {
		if _, err := rowsRaw(t, fresh, q, pgx.QueryExecModeExec, pgx.TextFormatCode); err != nil {
			t.Fatal(err)
		}
	}
	if n := reusedPlans(t, fresh); n != 0 {
		t.Fatalf("an unqualified statement was prepared under phiguard's name (%d)", n)
	}
}

// TestPlanReusePrepareUnnamed: pgx's Prepare of the unnamed statement
// (Parse, Describe, Sync), then its executions: the same parameter and
// result descriptions and rows as PostgreSQL's.
func TestPlanReusePrepareUnnamed(t *testing.T) {
	t.Parallel()
	f := newRoundsFixture(t, 300, 240)
	ctx := testContext(t)
	for _, st := range planReuseStatements {
		var out [2]string
		for side, conn := range []*pgx.Conn{f.dir, f.via} {
			table := []string{f.plain, f.enc}[side]
			var b strings.Builder
			for range 2 {
				d, err := conn.PgConn().Prepare(ctx, "", fmt.Sprintf(st.sql, table), nil)
				if err != nil {
					t.Fatalf("side %d: %s: %v", side, st.sql, err)
				}
				fmt.Fprintf(&b, "params %v fields", d.ParamOIDs)
				for _, fd := range d.Fields {
					fmt.Fprintf(&b, " %s:%d", fd.Name, fd.DataTypeOID)
				}
				var params [][]byte
				for _, a := range st.args {
					params = append(params, fmt.Appendf(nil, "%v", a))
				}
				for range 2 {
					res := conn.PgConn().ExecPrepared(ctx, "", params, nil, nil).Read()
					if res.Err != nil {
						t.Fatalf("side %d: %s: %v", side, st.sql, res.Err)
					}
					fmt.Fprintf(&b, "\n%s %q", res.CommandTag, res.Rows)
				}
			}
			out[side] = b.String()
		}
		if out[0] != out[1] {
			t.Fatalf("%s: through phiguard\n%s\ndirectly\n%s", st.sql, out[1], out[0])
		}
	}
}

// TestPlanReuseInvalidated: DISCARD ALL, DEALLOCATE ALL, a transaction
// aborted before the Parse, a search_path set between executions, DDL
// in the session and in another one that changes the statement's result
// type (at most one error, 0A000, then PostgreSQL's answers).
func TestPlanReuseInvalidated(t *testing.T) {
	t.Parallel()
	f := newRoundsFixture(t, 300, 240)
	ctx := testContext(t)
	both := func(sql string) {
		t.Helper()
		for side, conn := range []*pgx.Conn{f.dir, f.via} {
			if _, err := conn.Exec(ctx, sql, pgx.QueryExecModeSimpleProtocol); err != nil {
				t.Fatalf("side %d: %s: %v", side, sql, err)
			}
		}
	}
	for _, between := range []string{"DISCARD ALL", "DEALLOCATE ALL", "SET search_path = pg_catalog", "RESET search_path"} {
		f.planReuseSame(t, 0)
		f.planReuseSame(t, 3)
		both(between)
		f.planReuseSame(t, 0)
		f.planReuseSame(t, 3)
	}
	// A transaction aborted before the Parse: 25P02 on both sides, then
	// the answers after ROLLBACK.
	both("BEGIN")
	for side, conn := range []*pgx.Conn{f.dir, f.via} {
		if _, err := conn.Exec(ctx, "SELECT 1/0", pgx.QueryExecModeSimpleProtocol); err == nil {
			t.Fatal("1/0 did not fail")
		}
		table := []string{f.plain, f.enc}[side]
		for _, i := range []int{0, 1} {
			_, err := rowsRaw(t, conn, fmt.Sprintf(planReuseStatements[i].sql, table), pgx.QueryExecModeExec, pgx.TextFormatCode)
			var pe *pgconn.PgError
			if !errors.As(err, &pe) || pe.Code != "25P02" {
				t.Fatalf("side %d, in an aborted transaction: %v, want 25P02", side, err)
			}
		}
	}
	both("ROLLBACK")
	f.planReuseSame(t, 0)
	f.planReuseSame(t, 1)
	// DDL in the session: the catalog is read again, the plans dropped.
	su := superuser(t)
	for _, table := range []string{f.enc, f.plain} {
		if _, err := su.Exec(ctx, fmt.Sprintf("ALTER TABLE public.%s OWNER TO %s", table, appUser)); err != nil {
			t.Fatal(err)
		}
	}
	for side, conn := range []*pgx.Conn{f.dir, f.via} {
		sql := fmt.Sprintf("ALTER TABLE public.%s ALTER COLUMN grp TYPE bigint", []string{f.plain, f.enc}[side])
		if _, err := conn.Exec(ctx, sql, pgx.QueryExecModeSimpleProtocol); err != nil {
			t.Fatalf("side %d: %s: %v", side, sql, err)
		}
	}
	f.planReuseSame(t, 0)
	f.planReuseSame(t, 2)
	// DDL in another session changing a selected column's type: at most
	// one error, then PostgreSQL's answers.
	for _, table := range []string{f.enc, f.plain} {
		if _, err := su.Exec(ctx, fmt.Sprintf("ALTER TABLE public.%s ALTER COLUMN grp TYPE int", table)); err != nil {
			t.Fatal(err)
		}
	}
	errs := 0
	for _, i := range []int{0, 2} {
		st := planReuseStatements[i]
		if _, err := rowsRaw(t, f.via, fmt.Sprintf(st.sql, f.enc), pgx.QueryExecModeExec, pgx.TextFormatCode, st.args...); err != nil {
			var pe *pgconn.PgError
			if !errors.As(err, &pe) || pe.Code != "0A000" || !strings.Contains(pe.Message, "(plan reuse)") {
				t.Fatalf("after another session's DDL: %v, want the answer or 0A000 naming phiguard's plan reuse", err)
			}
			errs++
		}
	}
	t.Logf("after another session's DDL: %d of 2 statements answered 0A000 once", errs)
	f.planReuseSame(t, 0)
	f.planReuseSame(t, 2)
}

// TestPlanReuseNamesAndBound: a client's statement named with phiguard's
// prefix is refused; more texts than the cache holds leave at most its
// bound prepared.
func TestPlanReuseNamesAndBound(t *testing.T) {
	t.Parallel()
	f := newRoundsFixture(t, 120, 0)
	ctx := testContext(t)
	if _, err := f.via.Prepare(ctx, "phiguard_plan_1", "SELECT 1"); err == nil || !strings.Contains(err.Error(), "phiguard's own") {
		t.Fatalf("a client's phiguard_plan_1: %v, want a refusal", err)
	}
	for limit := 1; limit <= 45; limit++ {
		q := fmt.Sprintf("SELECT id, name FROM public.%%s WHERE name <> 'x' ORDER BY name, id LIMIT %d", limit)
		want, err := rowsRaw(t, f.dir, fmt.Sprintf(q, f.plain), pgx.QueryExecModeExec, pgx.TextFormatCode)
		if err != nil {
			t.Fatal(err)
		}
		got, err := rowsRaw(t, f.via, fmt.Sprintf(q, f.enc), pgx.QueryExecModeExec, pgx.TextFormatCode)
		if err != nil || got != want {
			t.Fatalf("LIMIT %d: through phiguard %v\n%s\ndirectly\n%s", limit, err, got, want)
		}
	}
	if n := reusedPlans(t, f.via); n == 0 || n > 32 {
		t.Fatalf("%d statements prepared under phiguard's names after 45 texts, want 1 to 32", n)
	}
}

// planReuseLifecycle are exchanges around a reused plan, each played on
// a fresh connection directly and through phiguard: what ends the
// client's unnamed statement ends it through phiguard too (26000 where
// PostgreSQL says so), and a later round of a portal bound from it runs.
var planReuseLifecycle = map[string]func(t *testing.T, c *portionConn, sql string){
	// A Parse that fails drops the unnamed statement; so does a failed
	// Parse in an aborted transaction (the second, a reused plan's).
	"failed parse": func(t *testing.T, c *portionConn, sql string) {
		c.exchange(t, untilReadyMsg, parse("", sql), bind("", ""), execute("", 0), sync)
		c.exchange(t, untilReadyMsg, parse("", "SELECT 1/"), sync)
		c.exchange(t, untilReadyMsg, bind("", ""), execute("", 0), sync)
		c.exchange(t, untilReadyMsg, parse("", sql), bind("", ""), execute("", 0), sync)
		c.exchange(t, untilReadyMsg, qry("BEGIN"))
		c.exchange(t, untilReadyMsg, qry("SELECT 1/0"))
		c.exchange(t, untilReadyMsg, parse("", sql), sync)
		c.exchange(t, untilReadyMsg, qry("ROLLBACK"))
		c.exchange(t, untilReadyMsg, bind("", ""), execute("", 0), sync)
	},
	// A simple Query drops it; a Close drops it.
	"query and close": func(t *testing.T, c *portionConn, sql string) {
		c.exchange(t, untilReadyMsg, parse("", sql), bind("", ""), execute("", 0), sync)
		c.exchange(t, untilReadyMsg, parse("", sql), sync)
		c.exchange(t, untilReadyMsg, qry("SELECT 2"))
		c.exchange(t, untilReadyMsg, bind("", ""), execute("", 0), sync)
		c.exchange(t, untilReadyMsg, parse("", sql), &pgproto3.Describe{ObjectType: 'S'}, sync)
		c.exchange(t, untilReadyMsg, bind("", ""), execute("", 0), &pgproto3.Close{ObjectType: 'S'}, bind("", ""), sync)
	},
	// Pipelined executions, a portal read in portions (its later rounds
	// bind from the backend's unnamed statement), then the statement
	// bound again.
	"portions": func(t *testing.T, c *portionConn, sql string) {
		c.exchange(t, untilReadyMsg, parse("", sql), bind("", ""), execute("", 0), parse("", sql), bind("", ""), execute("", 0), sync)
		c.exchange(t, untilReadyMsg, qry("BEGIN"))
		c.exchange(t, untilReadyMsg, parse("", sql), bind("p", ""), execute("p", 3), execute("p", 4), sync)
		c.exchange(t, untilReadyMsg, bind("", ""), execute("", 0), execute("p", 0), sync)
		c.exchange(t, untilReadyMsg, qry("COMMIT"))
	},
}

// TestPlanReuseLifecycle: the transcripts of planReuseLifecycle are
// PostgreSQL's, message by message, for a statement of one round and one
// needing further rounds.
func TestPlanReuseLifecycle(t *testing.T) {
	t.Parallel()
	f := newRoundsFixture(t, 300, 240)
	for _, i := range []int{0, 3} {
		sql := planReuseStatements[i].sql
		for name, script := range planReuseLifecycle {
			want := &portionConn{rawConn: dialRaw(t, directURL(appUser, appPassword, appDB))}
			got := &portionConn{rawConn: dialRaw(t, f.p.url(appUser, appPassword, appDB))}
			script(t, want, fmt.Sprintf(sql, f.plain))
			f.relay.take()
			script(t, got, fmt.Sprintf(sql, f.enc))
			sent := f.relay.take()
			want.Conn.Close()
			got.Conn.Close()
			if countPrefix(want.lines, "DataRow") == 0 {
				t.Fatalf("%s, %s: no row directly", sql, name)
			}
			if !bytes.Contains(sent, []byte("phiguard_plan_")) {
				t.Fatalf("%s, %s: no reused plan", sql, name)
			}
			if i == 3 && name == "portions" && bytes.Count(sent, []byte("FETCH FIRST")) < 3 {
				t.Fatalf("%s: a later round was not sent", sql)
			}
			t.Run(fmt.Sprintf("%d/%s", i, name), func(t *testing.T) { diffTranscripts(t, want.lines, got.lines) })
		}
	}
}

// TestCloseThenBindSameSegment: a statement closed and then bound in one
// pipeline segment, named and unnamed: PostgreSQL's 26000, message by
// message. phiguard bound the Close's tombstone, which has no plan, and
// the session's goroutine panicked (the whole process with it).
func TestCloseThenBindSameSegment(t *testing.T) {
	t.Parallel()
	f := newRoundsFixture(t, 40, 0)
	for _, name := range []string{"s", ""} {
		for _, sql := range []string{"SELECT id, name FROM public.%s WHERE name <> 'x' ORDER BY name, id LIMIT 3", "SELECT id FROM %s ORDER BY id LIMIT 2"} {
			var lines [2][]string
			for side, url := range []string{directURL(appUser, appPassword, appDB), f.p.url(appUser, appPassword, appDB)} {
				c := &portionConn{rawConn: dialRaw(t, url)}
				c.exchange(t, untilReadyMsg, parse(name, fmt.Sprintf(sql, []string{f.plain, f.enc}[side])), bind("", name), execute("", 0),
					&pgproto3.Close{ObjectType: 'S', Name: name}, bind("", name), execute("", 0), sync)
				c.exchange(t, untilReadyMsg, qry("SELECT 1"))
				c.Conn.Close()
				lines[side] = c.lines
			}
			if countPrefix(lines[0], "ErrorResponse 26000") != 1 {
				t.Fatalf("%q: no 26000 directly: %v", name, lines[0])
			}
			diffTranscripts(t, lines[0], lines[1])
		}
	}
}

// TestPlanReuseDifferential: generated sorted statements in rounds
// (genRoundStatement), schema-qualified, with literals and with
// parameters, drawn from a pool so that texts come back, each run three
// times as an unnamed statement (prepared under phiguard's name, then
// bound from it): the plaintext twin's answers, in text and binary
// results. Half hold a constant
// PostgreSQL reads under a setting at analysis (planReuseSettingConjuncts),
// and every seventh statement both sides change a setting first
// (planReuseSettingChanges): reported (DateStyle, TimeZone) or not
// (transform_null_equals, array_nulls), by SET or, half the time, by a
// function of the database's own phiguard cannot see into
// (planReuseUnseenChanges). PHIGUARD_PLAN_REUSE_STATEMENTS
// sets the count (100 unless set; make test-plan-reuse runs 2,000).
func TestPlanReuseDifferential(t *testing.T) {
	t.Parallel()
	f := newRoundsFixture(t, 600, 40)
	ctx := testContext(t)
	r := rand.New(rand.NewPCG(7, 2026))
	statements := envInt(t, "PHIGUARD_PLAN_REUSE_STATEMENTS", 100)
	// lower(varchar) and upper(varchar) of the database's own, before
	// pg_catalog's on the path: a call phiguard deems harmless changes an
	// unreported setting it cannot see (TestRedTeam32aSettingInShadowedBuiltin).
	shadow := uniqueName("pr_shadow")
	if _, err := superuser(t).Exec(ctx, fmt.Sprintf(`CREATE SCHEMA %[1]s; GRANT USAGE ON SCHEMA %[1]s TO %[2]s;
CREATE FUNCTION %[1]s.lower(pg_catalog.varchar) RETURNS text LANGUAGE sql AS $$SELECT pg_catalog.set_config('transform_null_equals', $1, false)$$;
CREATE FUNCTION %[1]s.upper(pg_catalog.varchar) RETURNS text LANGUAGE sql AS $$SELECT pg_catalog.set_config('array_nulls', $1, false)$$`, shadow, appUser)); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*pgx.Conn{f.dir, f.via} {
		if _, err := c.Exec(ctx, "SET search_path = "+shadow+", public", pgx.QueryExecModeSimpleProtocol); err != nil {
			t.Fatal(err)
		}
	}
	// A pool a fifth the size of the run: each text comes back, across
	// setting changes, to a plan prepared before them.
	pool := make([]struct {
		sql  string
		args []any
	}, max(10, statements/5))
	for i := range pool {
		q, args := genRoundStatement(r, i%2 == 1)
		q = strings.Replace(q, "FROM %s", "FROM public.%s", 1)
		if r.IntN(2) == 0 {
			q = strings.Replace(q, " WHERE ", " WHERE "+planReuseSettingConjuncts[r.IntN(len(planReuseSettingConjuncts))]+" AND (", 1)
			q = strings.Replace(q, " ORDER BY ", ") ORDER BY ", 1)
		}
		pool[i].sql, pool[i].args = q, args
	}
	differ, rows, changes := 0, 0, 0
	for i := range statements {
		if i%7 == 6 {
			change := planReuseSettingChanges[r.IntN(len(planReuseSettingChanges))]
			if r.IntN(2) == 0 { // half unseen
				change = planReuseUnseenChanges[r.IntN(len(planReuseUnseenChanges))]
			}
			for _, c := range []*pgx.Conn{f.dir, f.via} {
				if _, err := c.Exec(ctx, change, pgx.QueryExecModeSimpleProtocol); err != nil {
					t.Fatalf("%s: %v", change, err)
				}
			}
			changes++
		}
		st := pool[r.IntN(len(pool))]
		q, args := st.sql, st.args
		for run := range 3 {
			format := []int16{pgx.TextFormatCode, pgx.BinaryFormatCode}[run%2]
			want, werr := rowsRaw(t, f.dir, fmt.Sprintf(q, f.plain), pgx.QueryExecModeExec, format, args...)
			got, gerr := rowsRaw(t, f.via, fmt.Sprintf(q, f.enc), pgx.QueryExecModeExec, format, args...)
			var wp, gp *pgconn.PgError
			switch {
			case werr != nil || gerr != nil:
				if !errors.As(werr, &wp) || !errors.As(gerr, &gp) || wp.Code != gp.Code {
					differ++
					t.Errorf("%s %v (run %d): through phiguard %v, directly %v", q, args, run, gerr, werr)
				}
			case got != want:
				differ++
				t.Errorf("%s %v (run %d): through phiguard\n%s\ndirectly\n%s", q, args, run, got, want)
			case strings.Count(want, "\n") > 0:
				rows++
			}
		}
	}
	n := reusedPlans(t, f.via)
	t.Logf("%d statements, 3 runs each, %d setting changes: %d different answers, %d answers with rows; %d plans held (at most 32); %v further rounds",
		statements, changes, differ, rows, n, f.p.metric(t, "phiguard_proxy_search_rounds_total"))
	if n == 0 || n > 32 {
		t.Errorf("%d plans held, want 1 to 32", n)
	}
}

// planReuseSettingConjuncts are true or false by a setting PostgreSQL
// reads when it analyses the text: DateStyle (MDY: 2 January),
// transform_null_equals, array_nulls, TimeZone.
var planReuseSettingConjuncts = []string{
	"'01/02/2020'::pg_catalog.date < '2020-01-15'::pg_catalog.date",
	"(grp = NULL) IS NULL",
	"('{a,NULL}'::pg_catalog.text[])[2] IS NULL",
	"pg_catalog.date_part('hour', '2020-01-01 23:00:00+00'::pg_catalog.timestamptz) > 12",
}

// planReuseSettingChanges are what a client may run between statements.
var planReuseSettingChanges = []string{
	"SET DateStyle = 'ISO, DMY'", "RESET DateStyle", "SET transform_null_equals = on", "RESET transform_null_equals",
	"SET array_nulls = off", "RESET array_nulls", "SET TimeZone = 'Asia/Tokyo'", "RESET TimeZone",
}

// planReuseUnseenChanges change transform_null_equals and array_nulls
// through the database's own lower(varchar) and upper(varchar), which
// phiguard takes for pg_catalog's.
var planReuseUnseenChanges = []string{
	"SELECT lower('on'::varchar)", "SELECT lower('off'::varchar)", "SELECT upper('off'::varchar)", "SELECT upper('on'::varchar)",
}
