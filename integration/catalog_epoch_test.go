package integration

import (
	"fmt"
	"testing"
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
// as before, which is what PostgreSQL answers too.
func TestDDLThroughAnotherSessionRefreshes(t *testing.T) {
	t.Parallel()
	su := superuser(t)
	enc := uniqueName("epoch_enc")
	rt31cExec(t, su, "CREATE TABLE "+enc+" (id int, s text)", "ALTER TABLE "+enc+" OWNER TO "+appUser)
	p := startProxy(t, proxyOptions{protect: protection(t, fmt.Sprintf(
		"version: 1\ntables:\n  public.%s:\n    columns:\n      s: {mode: randomized, key: nr-k, type: text}\n", enc))})
	a, b := p.app(t), p.app(t)
	rt31cExec(t, a, "INSERT INTO "+enc+" (id, s) VALUES (1, 'secret')")
	for _, mode := range bothModes {
		rt31cAnswer(t, b, "SELECT count(*) FROM "+enc, "1\n", mode)
	}

	rt31cExec(t, a, "BEGIN", "DROP TABLE "+enc, "CREATE TABLE "+enc+" (id int, s text)",
		"INSERT INTO "+enc+" (id, s) VALUES (2, 'other')")
	rt31cAnswer(t, b, "SELECT 1", "1\n", bothModes[0]) // b's request between the DDL and its commit
	rt31cExec(t, a, "COMMIT")
	for _, mode := range bothModes {
		if got, err := rt4Rows(b, "SELECT id, s FROM "+enc, mode); err != nil || got != "2 | other\n" {
			t.Fatalf("%v: SELECT id, s of the table session a made again: %q, %v; PostgreSQL answers 2 | other", mode, got, err)
		}
	}
}
