package integration

import (
	"fmt"
	"testing"
	"time"

	"github.com/phiguard/phiguard/config"
)

// TestDDLThroughAnotherSessionRefreshes: DDL one session sends through
// phiguard makes every other session of the database read its catalog
// again before its next request (guard/catalog_epoch.go). Before, only
// the session that ran it did: a CHECK (length(s) > 10) added by session
// a let session b store 'abc' (the CHECK judged the ciphertext), a row
// security policy USING (length(s) < 10) made b count 0 rows where
// PostgreSQL counts 1, and after a dropped the table and made it again
// (a new OID) b refused its rows as cells of a relation it did not know.
// DDL inside a transaction counts when it commits: until then b answers
// as before, which is what PostgreSQL answers too. A temporary table and
// TRUNCATE, which no other session sees, do not make b read; a prepared
// statement of DDL bound again (no Parse) does, each time.
func TestDDLThroughAnotherSessionRefreshes(t *testing.T) {
	t.Parallel()
	su := superuser(t)
	enc := uniqueName("epoch_enc")
	rt31cExec(t, su, "CREATE TABLE "+enc+" (id int, s text)", "ALTER TABLE "+enc+" OWNER TO "+appUser,
		"CREATE TABLE "+enc+"_plain (a int)", "ALTER TABLE "+enc+"_plain OWNER TO "+appUser,
		"CREATE TABLE "+enc+"_kept (a int)", "ALTER TABLE "+enc+"_kept OWNER TO "+appUser)
	p := startProxy(t, proxyOptions{protect: protection(t, fmt.Sprintf(
		"version: 1\ntables:\n  public.%s:\n    columns:\n      s: {mode: randomized, key: nr-k, type: text}\n", enc))})
	a, b := p.app(t), p.app(t)
	rt31cExec(t, a, "INSERT INTO "+enc+" (id, s) VALUES (1, 'secret')")
	for _, mode := range bothModes {
		rt31cAnswer(t, b, "SELECT count(*) FROM "+enc, "1\n", mode)
	}

	const reads = "phiguard_proxy_catalog_reads_for_other_sessions_ddl_total"
	before := p.metric(t, reads)
	rt31cExec(t, a, "CREATE TEMP TABLE "+enc+"_t (a int)", "TRUNCATE "+enc+"_t", "DROP TABLE "+enc+"_plain")
	rt31cAnswer(t, b, "SELECT 1", "1\n", bothModes[0])
	if n := p.metric(t, reads) - before; n != 1 {
		t.Fatalf("%v catalog reads of b for a's temporary table, TRUNCATE and DROP TABLE; want 1, for the DROP alone", n)
	}
	ctx := testContext(t)
	if _, err := a.PgConn().Prepare(ctx, "alter_kept", "ALTER TABLE "+enc+"_kept ALTER COLUMN a TYPE bigint", nil); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ { // a prepared statement of DDL, bound with no Parse
		if err := a.PgConn().ExecPrepared(ctx, "alter_kept", nil, nil, nil).Read().Err; err != nil {
			t.Fatal(err)
		}
		rt31cAnswer(t, b, "SELECT 1", "1\n", bothModes[0])
		if n := p.metric(t, reads) - before; n != float64(2+i) {
			t.Fatalf("%v catalog reads of b after a's ALTER TABLE number %d; want %d", n, i+1, 2+i)
		}
	}
	before += 2
	rt31cExec(t, a, "BEGIN", "DROP TABLE "+enc, "CREATE TABLE "+enc+" (id int, s text)",
		"INSERT INTO "+enc+" (id, s) VALUES (2, 'other')")
	rt31cAnswer(t, b, "SELECT 1", "1\n", bothModes[0]) // b's request between the DDL and its commit
	rt31cExec(t, a, "COMMIT")
	for _, mode := range bothModes {
		if got, err := rt4Rows(b, "SELECT id, s FROM "+enc, mode); err != nil || got != "2 | other\n" {
			t.Fatalf("%v: SELECT id, s of the table session a made again: %q, %v; PostgreSQL answers 2 | other", mode, got, err)
		}
	}
	if n := p.metric(t, reads) - before; n != 2 {
		t.Fatalf("%v catalog reads of b for a's DDL; want 2", n)
	}
}

// TestJudgesGuardOff: limits.judges_guard false (the default) leaves
// the judges guard out of writes (docs/catalog.md, item 6), and with it
// the window it closes: a CHECK (length(s) > 10) another session added directly after
// the session's catalog read judges the ciphertext of 'abc', and the row
// is stored, which the plaintext database refuses; with the guard the
// write got 40001 (TestRedTeam32bJudgeAddedAfterRead).
func TestJudgesGuardOff(t *testing.T) {
	t.Parallel()
	su := superuser(t)
	enc := uniqueName("judges_off")
	rt31cExec(t, su, "CREATE TABLE "+enc+" (id int, s text)", "GRANT ALL ON "+enc+" TO "+appUser)
	p := startProxy(t, proxyOptions{protect: protection(t, fmt.Sprintf(
		"version: 1\ntables:\n  public.%s:\n    columns:\n      s: {mode: randomized, key: nr-k, type: text}\n", enc)),
		configure: func(c *config.Config) { c.Limits.JudgesGuard = false }})
	app := p.app(t)
	rt31cExec(t, app, "INSERT INTO "+enc+" (id, s) VALUES (1, 'secret')")
	rt31cExec(t, su, "ALTER TABLE "+enc+" ADD CONSTRAINT "+enc+"_c CHECK (length(s) > 10)")
	if _, err := rt4Rows(app, "INSERT INTO "+enc+" (id, s) VALUES (2, 'abc') RETURNING id", bothModes[0]); err != nil {
		t.Fatalf("the INSERT was refused with the judges guard off: %v", err)
	}
}

// TestCatalogMaxAge: limits.catalog_max_age bounds how long a session
// works from a catalog that does not know DDL sent to the database
// directly (which moves no epoch): a view over plain values, replaced by
// another session's direct CREATE OR REPLACE VIEW to compute length(s),
// served the length of a ciphertext (65, where PostgreSQL answers 6)
// until the session read its catalog for another reason
// (TestNewRelationComputedThroughReplacedView, a HOLE); once the catalog
// is older than the limit, the next statement has it read first, and the
// view is refused by name.
func TestCatalogMaxAge(t *testing.T) {
	t.Parallel()
	su := superuser(t)
	enc := uniqueName("maxage_enc")
	rt31cExec(t, su, "CREATE TABLE "+enc+" (id int, s text)", "GRANT ALL ON "+enc+" TO "+appUser,
		"CREATE VIEW "+enc+"_v AS SELECT id, 0 AS n FROM "+enc, "GRANT SELECT ON "+enc+"_v TO "+appUser)
	p := startProxy(t, proxyOptions{protect: protection(t, fmt.Sprintf(
		"version: 1\ntables:\n  public.%s:\n    columns:\n      s: {mode: randomized, key: nr-k, type: text}\n", enc)),
		configure: func(c *config.Config) { c.Limits.CatalogMaxAge = config.Duration(time.Second) }})
	app := p.app(t)
	rt31cExec(t, app, "INSERT INTO "+enc+" (id, s) VALUES (1, 'secret')")
	rt31cAnswer(t, app, "SELECT n FROM "+enc+"_v", "0\n", bothModes[0])
	rt31cExec(t, su, "CREATE OR REPLACE VIEW "+enc+"_v AS SELECT id, length(s) AS n FROM "+enc)
	time.Sleep(1100 * time.Millisecond)
	for _, mode := range bothModes {
		_, err := rt4Rows(app, "SELECT n FROM "+enc+"_v", mode)
		rt33bRefused(t, "SELECT n FROM a view replaced directly, the catalog older than its limit", err, enc+"_v")
	}
	if n := p.metric(t, "phiguard_proxy_catalog_reads_for_age_total"); n < 1 {
		t.Fatalf("%v catalog reads for age", n)
	}
}
