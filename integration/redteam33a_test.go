package integration

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgproto3"
)

// Red team 33a: plan reuse of the unnamed statement, final state
// (guard/plan_reuse*.go, docs/search.md "Plan reuse").

// redTeam33aSetBetween runs q twice through both sides, then sql on both
// connections, then q again: the answers must stay PostgreSQL's (before
// sqlrewrite's SettingsFree knew q's constant, q was prepared for reuse
// and answered the old setting's text), and q is not prepared for reuse.
func redTeam33aSetBetween(t *testing.T, q, sql string) {
	t.Helper()
	f := newRoundsFixture(t, 60, 0)
	ctx := testContext(t)
	twinBefore(t, f.dir, f.via, f, q)
	for _, c := range []*pgx.Conn{f.dir, f.via} {
		if _, err := c.Exec(ctx, sql, pgx.QueryExecModeSimpleProtocol); err != nil {
			t.Fatal(err)
		}
	}
	if want, got := twinRun(t, f.dir, f.via, f.plain, f.enc, q); want != got {
		t.Fatalf("after %s: through phiguard\n%s\ndirectly\n%s", sql, got, want)
	}
	if n := reusedPlans(t, f.via); n != 0 {
		t.Errorf("%d texts prepared for reuse; a text holding such a constant is not (sqlrewrite's SettingsFree)", n)
	}
}

// TestRedTeam33aFloatDigits: PostgreSQL folds a constant expression
// when it plans a text, and float8out, immutable, reads
// extra_float_digits: a plan kept from before a SET of it (a setting
// phiguard deemed neutral) answers the old digits.
func TestRedTeam33aFloatDigits(t *testing.T) {
	t.Parallel()
	redTeam33aSetBetween(t, "SELECT id, name, (1::pg_catalog.float8 / 3)::pg_catalog.text AS f FROM public.%[1]s ORDER BY name, id LIMIT 3", "SET extra_float_digits = 0")
}

// TestRedTeam33aByteaOutput: the same with byteaout and bytea_output.
func TestRedTeam33aByteaOutput(t *testing.T) {
	t.Parallel()
	redTeam33aSetBetween(t, "SELECT id, name, 'A'::pg_catalog.bytea::pg_catalog.text AS b FROM public.%[1]s ORDER BY name, id LIMIT 3", "SET bytea_output = 'escape'")
}

// redTeam33aReload runs q twice, then a DBA's ALTER SYSTEM (sql) and a
// configuration reload, then q again (TestRedTeam32aConfigReload); q is
// not prepared for reuse unless reusable. Not parallel: the setting is
// the server's.
func redTeam33aReload(t *testing.T, q, sql, reset string, reusable bool) {
	t.Helper()
	f := newRoundsFixture(t, 60, 0)
	ctx := testContext(t)
	su := superuser(t)
	reload := func(sql string) { reloadSetting(ctx, t, su, sql) }
	t.Cleanup(func() { reload(reset) })
	twinBefore(t, f.dir, f.via, f, q)
	reload(sql)
	if want, got := twinRun(t, f.dir, f.via, f.plain, f.enc, q); want != got {
		t.Fatalf("after %s and a reload: through phiguard\n%s\ndirectly\n%s", sql, got, want)
	}
	if n := reusedPlans(t, f.via); n != 0 && !reusable {
		t.Errorf("%d texts prepared for reuse; a text holding such a constant is not (sqlrewrite's SettingsFree)", n)
	}
}

// TestRedTeam33aTimezoneAbbreviations: a timestamptz constant's zone
// abbreviation is read under timezone_abbreviations when PostgreSQL
// analyses the text (IST: Israel in Default, India in India).
func TestRedTeam33aTimezoneAbbreviations(t *testing.T) {
	redTeam33aReload(t, "SELECT id, name, '2020-01-01 00:00 IST'::pg_catalog.timestamptz AS z FROM public.%[1]s ORDER BY name, id LIMIT 3",
		"ALTER SYSTEM SET timezone_abbreviations = 'India'", "ALTER SYSTEM RESET timezone_abbreviations", false)
}

// TestRedTeam33aFloatDigitsReload: extra_float_digits changed by a
// reload, which no SET shows.
func TestRedTeam33aFloatDigitsReload(t *testing.T) {
	redTeam33aReload(t, "SELECT id, name, (1::pg_catalog.float8 / 3)::pg_catalog.text AS f FROM public.%[1]s ORDER BY name, id LIMIT 3",
		"ALTER SYSTEM SET extra_float_digits = 0", "ALTER SYSTEM RESET extra_float_digits", false)
}

// redTeam33aTranscript plays script on a fresh connection directly and
// through phiguard (sql: a sorted read of the fixture, %[1]s the table)
// and compares the transcripts message by message.
func redTeam33aTranscript(t *testing.T, f *roundsFixture, script func(t *testing.T, c *portionConn, sql string, side int)) {
	t.Helper()
	redTeam33aTranscriptOf(t, f, 0, script)
}

// redTeam33aTranscriptOf is redTeam33aTranscript of planReuseStatements[i].
func redTeam33aTranscriptOf(t *testing.T, f *roundsFixture, i int, script func(t *testing.T, c *portionConn, sql string, side int)) []string {
	t.Helper()
	var lines [2][]string
	for side, url := range []string{directURL(appUser, appPassword, appDB), f.p.url(appUser, appPassword, appDB)} {
		sql := fmt.Sprintf(planReuseStatements[i].sql, []string{f.plain, f.enc}[side])
		c := &portionConn{rawConn: dialRaw(t, url)}
		script(t, c, sql, side)
		lines[side] = c.lines
		c.Conn.Close()
	}
	diffTranscripts(t, lines[0], lines[1])
	return lines[0]
}

// TestRedTeam33aReviveAborted: a DEALLOCATE ALL that fails (an aborted
// transaction) and a Bind of the unnamed statement in the same aborted
// transaction: phiguard's revival Closes its statement (which a Close
// does even there) and its Parse fails (25P02); after the ROLLBACK the
// client's statement is PostgreSQL's still, phiguard's name gone.
func TestRedTeam33aReviveAborted(t *testing.T) {
	t.Parallel()
	f := newRoundsFixture(t, 60, 0)
	redTeam33aTranscript(t, f, func(t *testing.T, c *portionConn, sql string, _ int) {
		c.exchange(t, untilReadyMsg, parse("", sql), bind("", ""), execute("", 0), parse("d", "DEALLOCATE ALL"), sync)
		c.exchange(t, untilReadyMsg, parse("b", "BEGIN"), bind("", "b"), execute("", 0), parse("x", "SELECT 1/0"), bind("", "x"), execute("", 0), sync)
		c.exchange(t, untilReadyMsg, bind("", "d"), execute("", 0), sync) // 25P02
		c.exchange(t, untilReadyMsg, bind("", ""), execute("", 0), sync)  // 25P02
		c.exchange(t, untilReadyMsg, parse("r", "ROLLBACK"), bind("", "r"), execute("", 0), sync)
		c.exchange(t, untilReadyMsg, bind("", ""), execute("", 0), sync)
		c.exchange(t, untilReadyMsg, bind("", ""), execute("", 0), sync)
	})
}

// TestRedTeam33aReviveSkipped: a DEALLOCATE ALL that runs, then an
// error in the same segment, then a Bind of the unnamed statement: the
// revival is skipped with the Bind, and the next segment's Bind names a
// statement the backend no longer has.
func TestRedTeam33aReviveSkipped(t *testing.T) {
	t.Parallel()
	f := newRoundsFixture(t, 60, 0)
	redTeam33aTranscript(t, f, func(t *testing.T, c *portionConn, sql string, _ int) {
		c.exchange(t, untilReadyMsg, parse("", sql), bind("", ""), execute("", 0), parse("d", "DEALLOCATE ALL"), sync)
		c.exchange(t, untilReadyMsg, bind("", "d"), execute("", 0), parse("x", "SELECT 1/0"), bind("", "x"), execute("", 0), bind("", ""), execute("", 0), sync)
		c.exchange(t, untilReadyMsg, bind("", ""), execute("", 0), sync)
		c.exchange(t, untilReadyMsg, bind("", ""), execute("", 0), sync)
	})
}

// TestRedTeam33aReviveDropped: the statement's table renamed (another
// session) after a DEALLOCATE ALL: PostgreSQL answers each Bind of the
// unnamed statement 42P01, and runs it once the name is back; phiguard's
// revival failed the same way once, and bound its name, which the
// backend did not have, after (26000).
func TestRedTeam33aReviveDropped(t *testing.T) {
	f := newRoundsFixture(t, 60, 0)
	ctx := testContext(t)
	su := superuser(t)
	redTeam33aTranscript(t, f, func(t *testing.T, c *portionConn, sql string, side int) {
		table := []string{f.plain, f.enc}[side]
		c.exchange(t, untilReadyMsg, parse("", sql), bind("", ""), execute("", 0), parse("d", "DEALLOCATE ALL"), sync)
		c.exchange(t, untilReadyMsg, bind("", "d"), execute("", 0), sync)
		if _, err := su.Exec(ctx, fmt.Sprintf("ALTER TABLE public.%[1]s RENAME TO %[1]s_x", table)); err != nil {
			t.Fatal(err)
		}
		c.exchange(t, untilReadyMsg, bind("", ""), execute("", 0), sync)
		c.exchange(t, untilReadyMsg, bind("", ""), execute("", 0), sync)
		if _, err := su.Exec(ctx, fmt.Sprintf("ALTER TABLE public.%[1]s_x RENAME TO %[1]s", table)); err != nil {
			t.Fatal(err)
		}
		c.exchange(t, untilReadyMsg, bind("", ""), execute("", 0), sync)
	})
}

// TestRedTeam33aMoneyInComposite: a string constant compared with a
// column of a composite type with a money field is read by money's
// input under lc_monetary ("1,234" is 1234.00 under en_US, 1.23 under
// de_DE) when PostgreSQL analyses the text; the relation's column is not
// of money, an enum or a reg* type itself, and phiguard reused the text
// (5 rows where PostgreSQL answers none). Not parallel: a reload.
func TestRedTeam33aMoneyInComposite(t *testing.T) {
	f := newRoundsFixture(t, 60, 0)
	ctx := testContext(t)
	su := superuser(t)
	c := uniqueName("rt33a_c")
	if _, err := su.Exec(ctx, fmt.Sprintf("CREATE TYPE public.%[1]s AS (m money); GRANT USAGE ON TYPE public.%[1]s TO %[4]s; ALTER TABLE public.%[2]s ADD COLUMN c public.%[1]s DEFAULT ROW(1234); ALTER TABLE public.%[3]s ADD COLUMN c public.%[1]s DEFAULT ROW(1234)", c, f.plain, f.enc, appUser)); err != nil {
		t.Fatal(err)
	}
	reload := func(sql string) {
		t.Helper()
		if _, err := su.Exec(ctx, sql); err != nil {
			t.Fatal(err)
		}
		if _, err := su.Exec(ctx, "SELECT pg_catalog.pg_reload_conf()"); err != nil {
			t.Fatal(err)
		}
		time.Sleep(300 * time.Millisecond) // the backends take the signal
	}
	reload("ALTER SYSTEM SET lc_monetary = 'en_US.utf8'")
	t.Cleanup(func() { reload("ALTER SYSTEM RESET lc_monetary") })
	dir, via := direct(t), f.p.app(t) // the column in phiguard's catalog
	q := `SELECT id, name FROM public.%[1]s WHERE (c).m = '1,234' ORDER BY name, id LIMIT 5`
	twinBefore(t, dir, via, f, q)
	reload("ALTER SYSTEM SET lc_monetary = 'de_DE.utf8'")
	if want, got := twinRun(t, dir, via, f.plain, f.enc, q); want != got {
		t.Fatalf("after a reload of lc_monetary: through phiguard\n%s\ndirectly\n%s", got, want)
	}
}

// TestRedTeam33aBindAfterFailedParse: the client's unnamed Parse fails
// (25P02 in an aborted transaction; PostgreSQL dropped the unnamed
// statement first), and its Bind after the ROLLBACK: PostgreSQL's 26000
// says "unnamed prepared statement does not exist"; phiguard's must not
// name its own statement.
func TestRedTeam33aBindAfterFailedParse(t *testing.T) {
	t.Parallel()
	f := newRoundsFixture(t, 60, 0)
	errs := f.twinErrors(t, 0, func(sql string) [][]pgproto3.FrontendMessage {
		return [][]pgproto3.FrontendMessage{
			{parse("", sql), bind("", ""), execute("", 0), sync},
			{parse("b", "BEGIN"), bind("", "b"), execute("", 0), parse("x", "SELECT 1/0"), bind("", "x"), execute("", 0), sync},
			{parse("", sql), sync},
			{parse("r", "ROLLBACK"), bind("", "r"), execute("", 0), sync},
			{bind("", ""), execute("", 0), sync},
			{&pgproto3.Describe{ObjectType: 'S'}, sync},
		}
	})
	if strings.Join(errs[0], "\n") != strings.Join(errs[1], "\n") {
		t.Fatalf("through phiguard\n%s\ndirectly\n%s", strings.Join(errs[1], "\n"), strings.Join(errs[0], "\n"))
	}
}

// TestRedTeam33aReviveRounds: a statement in rounds (its first 240 rows
// by name dropped by phiguard's WHERE) revived after a DEALLOCATE ALL
// and a DISCARD ALL, executed whole and in portions, with a Describe.
func TestRedTeam33aReviveRounds(t *testing.T) {
	t.Parallel()
	f := newRoundsFixture(t, 300, 240)
	lines := redTeam33aTranscriptOf(t, f, 3, func(t *testing.T, c *portionConn, sql string, _ int) {
		c.exchange(t, untilReadyMsg, parse("", sql), bind("", ""), execute("", 0), parse("d", "DEALLOCATE ALL"), sync)
		c.exchange(t, untilReadyMsg, bind("", "d"), execute("", 0), sync)
		c.exchange(t, untilReadyMsg, bind("", ""), execute("", 0), parse("d", "DEALLOCATE ALL"), sync)
		c.exchange(t, untilReadyMsg, bind("", "d"), execute("", 0), sync)
		c.exchange(t, untilReadyMsg, bind("p", ""), execute("p", 3), execute("p", 4), execute("p", 0), parse("e", "DISCARD ALL"), sync)
		c.exchange(t, untilReadyMsg, bind("", "e"), execute("", 0), sync)
		c.exchange(t, []string{"PortalSuspended", "ErrorResponse"}, &pgproto3.Describe{ObjectType: 'S'}, bind("p", ""), execute("p", 2), flush)
		c.exchange(t, untilReadyMsg, execute("p", 0), sync)
		c.exchange(t, untilReadyMsg, bind("", ""), execute("", 0), sync)
		c.exchange(t, untilReadyMsg, parse("", sql), bind("", ""), execute("", 0), sync)
	})
	if n, rows := countType(lines, "ErrorResponse"), countType(lines, "DataRow"); n != 0 || rows < 40 {
		t.Fatalf("PostgreSQL's transcript has %d errors and %d rows: the script does not run as meant", n, rows)
	}
}

// TestRedTeam33aExecuteByName: SQL's EXECUTE of phiguard's statement
// (its name read from pg_prepared_statements) runs phiguard's rewritten
// text, unsorted, with the columns phiguard sorts by (25 rows of 6
// columns more for a LIMIT 7 of 3): it must be refused, as a Bind of the
// name is; and a PREPARE of a name phiguard is to prepare.
func TestRedTeam33aExecuteByName(t *testing.T) {
	t.Parallel()
	f := newRoundsFixture(t, 60, 0)
	ctx := testContext(t)
	f.planReuseSame(t, 0)
	var name string
	if err := f.via.QueryRow(ctx, "SELECT name FROM pg_catalog.pg_prepared_statements WHERE name LIKE 'phiguard\\_plan\\_%'",
		pgx.QueryExecModeSimpleProtocol).Scan(&name); err != nil {
		t.Fatal(err)
	}
	for _, mode := range []pgx.QueryExecMode{pgx.QueryExecModeSimpleProtocol, pgx.QueryExecModeExec} {
		for _, sql := range []string{"EXECUTE " + name, "EXPLAIN EXECUTE " + name, "PREPARE phiguard_plan_999999 AS SELECT 1", "PREPARE phiguard_like_999999 AS SELECT 1"} {
			got, err := rowsRaw(t, f.via, sql, mode, pgx.TextFormatCode)
			if err == nil {
				t.Errorf("%s (mode %v) answered\n%s", sql, mode, got)
				continue
			}
			wantPgError(t, err, "0A000")
		}
	}
}

// TestRedTeam33aReviveFlush: DEALLOCATE ALL and the Binds of the
// unnamed statement after it in one pipeline of Flushes, twice, a Close
// of the unnamed statement, and its Bind (26000 on both sides).
func TestRedTeam33aReviveFlush(t *testing.T) {
	t.Parallel()
	f := newRoundsFixture(t, 60, 0)
	redTeam33aTranscript(t, f, func(t *testing.T, c *portionConn, sql string, _ int) {
		until := []string{"CommandComplete", "ErrorResponse"}
		c.exchange(t, until, parse("", sql), bind("", ""), execute("", 0), parse("d", "DEALLOCATE ALL"), bind("", "d"), execute("", 0), flush)
		c.exchange(t, until, flush)
		c.exchange(t, until, bind("", ""), execute("", 0), parse("d", "DEALLOCATE ALL"), bind("", "d"), execute("", 0), flush)
		c.exchange(t, until, flush)
		c.exchange(t, until, bind("", ""), execute("", 0), flush)
		c.exchange(t, untilReadyMsg, bind("", ""), execute("", 0), &pgproto3.Close{ObjectType: 'S'}, sync)
		c.exchange(t, untilReadyMsg, bind("", ""), execute("", 0), sync)
	})
}

// TestRedTeam33aDateStyleReload: a reload changes DateStyle, which the
// backend reports, but only before its next ReadyForQuery: the first
// Parse after the reload is analysed under the new value, before
// phiguard has seen the report (so for TimeZone with a timestamptz
// constant without a zone, IntervalStyle with an interval's). A text
// phiguard sends holding a date or time constant is not reused
// (guard/plan_reuse_datetime.go).
func TestRedTeam33aDateStyleReload(t *testing.T) {
	redTeam33aReload(t, "SELECT id, name, '01/02/2020'::pg_catalog.date AS d FROM public.%[1]s ORDER BY name, id LIMIT 3",
		"ALTER SYSTEM SET DateStyle = 'ISO, DMY'", "ALTER SYSTEM RESET DateStyle", false)
}
