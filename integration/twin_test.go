package integration

import (
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

// A twin is the differential tests' pair of tables: a plaintext table
// read and written directly, and the same table with some columns
// encrypted (stored as text at rest) read and written through phiguard.
// A statement run on both must leave and return the same thing.

// twinColumn is one column of a twin: its PostgreSQL type, and for an
// encrypted one its policy entry ("{mode: randomized, key: k, type: date}").
type twinColumn struct {
	name, typ, policy string
}

type twin struct {
	plain, enc string
	// via goes through phiguard (to enc), dir straight to PostgreSQL.
	via, dir *pgx.Conn
}

// newTwin creates both tables (named after prefix), starts phiguard with a
// policy encrypting the columns that have one, and connects to each side.
func newTwin(t *testing.T, prefix string, cols ...twinColumn) *twin {
	t.Helper()
	ctx := testContext(t)
	tw := &twin{plain: uniqueName(prefix + "_plain"), enc: uniqueName(prefix + "_enc")}
	var plainCols, encCols, policy []string
	for _, c := range cols {
		plainCols = append(plainCols, c.name+" "+c.typ)
		if c.policy == "" {
			encCols = append(encCols, c.name+" "+c.typ)
			continue
		}
		encCols = append(encCols, c.name+" text")
		policy = append(policy, fmt.Sprintf("      %s: %s", c.name, c.policy))
	}
	su := superuser(t)
	for table, cs := range map[string][]string{tw.plain: plainCols, tw.enc: encCols} {
		if _, err := su.Exec(ctx, fmt.Sprintf("CREATE TABLE %s (%s); GRANT ALL ON %s TO %s", table, strings.Join(cs, ", "), table, appUser)); err != nil {
			t.Fatal(err)
		}
	}
	p := startProxy(t, proxyOptions{protect: protection(t, fmt.Sprintf("version: 1\ntables:\n  public.%s:\n    columns:\n%s\n", tw.enc, strings.Join(policy, "\n")))})
	tw.via, tw.dir = p.app(t), direct(t)
	return tw
}

// exec runs sql (with %s for the table) on both sides in mode.
func (tw *twin) exec(t *testing.T, sql string, mode pgx.QueryExecMode, args ...any) {
	t.Helper()
	ctx := testContext(t)
	args = append([]any{mode}, args...)
	if _, err := tw.dir.Exec(ctx, fmt.Sprintf(sql, tw.plain), args...); err != nil {
		t.Fatalf("directly, %v: %s: %v", mode, sql, err)
	}
	if _, err := tw.via.Exec(ctx, fmt.Sprintf(sql, tw.enc), args...); err != nil {
		t.Fatalf("through phiguard, %v: %s: %v", mode, sql, err)
	}
}

// both runs sql (with %s for the table) on each side's connection.
func (tw *twin) both(t *testing.T, sql string) {
	t.Helper()
	for _, conn := range []*pgx.Conn{tw.via, tw.dir} {
		if _, err := conn.Exec(testContext(t), sql); err != nil {
			t.Fatal(err)
		}
	}
}

// same checks that a query (with %s for the table) reads the same rows
// in text form on both sides.
func (tw *twin) same(t *testing.T, query string, mode pgx.QueryExecMode, what string) {
	t.Helper()
	want := tableText(t, tw.dir, fmt.Sprintf(query, tw.plain), mode)
	if got := tableText(t, tw.via, fmt.Sprintf(query, tw.enc), mode); got != want {
		t.Fatalf("%s (%v): through phiguard\n%s\ndirectly\n%s", what, mode, got, want)
	}
}

// clear empties both tables.
func (tw *twin) clear(t *testing.T) {
	t.Helper()
	for _, table := range []string{tw.plain, tw.enc} {
		if _, err := tw.dir.Exec(testContext(t), "DELETE FROM "+table); err != nil {
			t.Fatal(err)
		}
	}
}

// bothModes are the protocols the differential tests run in.
var bothModes = []pgx.QueryExecMode{pgx.QueryExecModeSimpleProtocol, pgx.QueryExecModeCacheStatement}

// tableText is a query's rows as text, one line per row, NULL as <NULL>.
func tableText(t *testing.T, conn *pgx.Conn, sql string, mode pgx.QueryExecMode) string {
	t.Helper()
	rows, err := conn.Query(testContext(t), sql, mode, pgx.QueryResultFormats{pgx.TextFormatCode})
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	defer rows.Close()
	var b strings.Builder
	for rows.Next() {
		for i, v := range rows.RawValues() {
			if i > 0 {
				b.WriteString(" | ")
			}
			if v == nil {
				b.WriteString("<NULL>") // told apart from an empty value
			}
			b.Write(v)
		}
		b.WriteString("\n")
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return b.String()
}
