package integration

import (
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5"
)

// TestCatalogReadsCoalesced: after another session's DDL, sessions whose
// catalog read would be the same take one read instead of each reading
// (guard/catalog_coalesce.go). a adds a column with a default to a
// protected table; a's own read behind its DDL is kept, and b and c, the
// same role and search path, take it: each then reads the new column
// (1 | secret | 7, as PostgreSQL answers) and fills an INSERT without a
// column list from it, which a catalog from before the DDL cannot
// (the column guard refuses). d (SET ROLE to another role), e (another
// search path), f (a temporary table) and g (inside a transaction
// block) read their own. Then h, with a temporary table, runs DDL, whose
// read is kept for nobody: b reads (it leads), and c takes b's read.
func TestCatalogReadsCoalesced(t *testing.T) {
	t.Parallel()
	su := superuser(t)
	enc := uniqueName("coal_enc")
	role, q := enc+"_r", enc+"_q"
	rt31cExec(t, su, "CREATE TABLE "+enc+" (id int, s text)", "ALTER TABLE "+enc+" OWNER TO "+appUser,
		"CREATE ROLE "+role, "GRANT "+role+" TO "+appUser, "CREATE SCHEMA "+q, "GRANT USAGE ON SCHEMA "+q+" TO "+appUser)
	t.Cleanup(func() {
		c := superuser(t)
		_, _ = c.Exec(testContext(t), "DROP SCHEMA "+q)
		_, _ = c.Exec(testContext(t), "DROP OWNED BY "+role)
		_, _ = c.Exec(testContext(t), "DROP ROLE "+role)
	})
	p := startProxy(t, proxyOptions{protect: protection(t, fmt.Sprintf(
		"version: 1\ntables:\n  public.%s:\n    columns:\n      s: {mode: randomized, key: nr-k, type: text}\n", enc))})
	a, b, c, d, e, f, g, h := p.app(t), p.app(t), p.app(t), p.app(t), p.app(t), p.app(t), p.app(t), p.app(t)
	rt31cExec(t, a, "INSERT INTO "+enc+" (id, s) VALUES (1, 'secret')")
	rt31cExec(t, d, "SET ROLE "+role)
	rt31cExec(t, e, "SET search_path = "+q+", public")
	rt31cExec(t, f, "CREATE TEMP TABLE "+enc+"_t (a int)")
	rt31cExec(t, h, "CREATE TEMP TABLE "+enc+"_t (a int)")
	for _, s := range []*pgx.Conn{b, c, d, e, f, g, h} {
		rt31cAnswer(t, s, "SELECT 1", "1\n", bothModes[0])
	}
	rt31cExec(t, g, "BEGIN")

	const coalesced, reads = "phiguard_proxy_catalog_reads_coalesced_total", "phiguard_proxy_catalog_reads_for_other_sessions_ddl_total"
	took := func(name string, s *pgx.Conn, want float64) {
		t.Helper()
		before, readsBefore := p.metric(t, coalesced), p.metric(t, reads)
		rt31cAnswer(t, s, "SELECT 1", "1\n", bothModes[0])
		if n, r := p.metric(t, coalesced)-before, p.metric(t, reads)-readsBefore; n != want || r != 1 {
			t.Fatalf("%s: %v catalogs taken from another session's read, %v refreshes for other DDL; want %v and 1", name, n, r, want)
		}
	}
	rt31cExec(t, a, "ALTER TABLE "+enc+" ADD COLUMN n int DEFAULT 7")
	took("b, same role and path as a", b, 1)
	took("c, same role and path as a", c, 1)
	took("d, SET ROLE", d, 0)
	took("e, another search path", e, 0)
	took("f, a temporary table", f, 0)
	took("g, in a transaction block", g, 0)
	rt31cExec(t, g, "COMMIT")
	for i, s := range []*pgx.Conn{b, c} {
		for _, mode := range bothModes {
			if got, err := rt4Rows(s, "SELECT id, s, n FROM "+enc+" WHERE id = 1", mode); err != nil || got != "1 | secret | 7\n" {
				t.Fatalf("session %d, %v: SELECT id, s, n after a's ADD COLUMN: %q, %v; PostgreSQL answers 1 | secret | 7", i, mode, got, err)
			}
		}
		rt31cExec(t, s, fmt.Sprintf("INSERT INTO %s VALUES (%d, 'new', 8)", enc, 10+i))
	}
	if got, err := rt4Rows(a, "SELECT id, s, n FROM "+enc+" WHERE id >= 10 ORDER BY id", bothModes[0]); err != nil || got != "10 | new | 8\n11 | new | 8\n" {
		t.Fatalf("the rows b and c inserted without a column list: %q, %v", got, err)
	}

	rt31cExec(t, h, "ALTER TABLE "+enc+" ALTER COLUMN n SET DEFAULT 9")
	took("b after h's DDL (h's read is not kept: its temporary schema)", b, 0)
	took("c after h's DDL, b's read kept", c, 1)
	for _, s := range []*pgx.Conn{b, c} {
		if got, err := rt4Rows(s, "INSERT INTO "+enc+" (id, s) VALUES (20, 'd') RETURNING n", bothModes[0]); err != nil || got != "9\n" {
			t.Fatalf("INSERT after h's SET DEFAULT: %q, %v; PostgreSQL answers 9", got, err)
		}
	}
}
