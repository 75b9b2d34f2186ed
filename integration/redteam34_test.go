package integration

import (
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5"
)

// Red team of the database's DDL epoch (guard/catalog_epoch.go): DDL
// session a sends through phiguard, and what session b answers after it.

// rt34Proxy: a protected table enc (s randomized) with one row, a schema
// q the application may create in, and two sessions of the application.
func rt34Proxy(t *testing.T) (su, a, b *pgx.Conn, p *phiguard, enc, q string) {
	t.Helper()
	su = superuser(t)
	enc = uniqueName("rt34_enc")
	q = enc + "_q"
	rt31cExec(t, su, "CREATE TABLE "+enc+" (id int, s text)", "GRANT ALL ON "+enc+" TO "+appUser,
		"CREATE SCHEMA "+q, "GRANT ALL ON SCHEMA "+q+" TO "+appUser)
	p = startProxy(t, proxyOptions{protect: protection(t, fmt.Sprintf(
		"version: 1\ntables:\n  public.%s:\n    columns:\n      s: {mode: randomized, key: nr-k, type: text}\n", enc))})
	a, b = p.app(t), p.app(t)
	rt31cExec(t, a, "INSERT INTO "+enc+" (id, s) VALUES (1, 'secret')")
	return su, a, b, p, enc, q
}

// TestRedTeam34ShadowingTableMadeByOtherSession: a makes q.enc, a plain
// table, through phiguard; b's search path puts q before public, where
// the protected enc is. b reads its catalog at its next request (the
// epoch moved), and PostgreSQL resolves b's unqualified enc to q.enc;
// phiguard plans it as public.enc all the same: b's INSERT INTO enc (id,
// s) VALUES (2, 'abc') stored the ciphertext of 'abc' in q.enc, where
// PostgreSQL stores 'abc', and SELECT length(s) FROM enc WHERE id = 2
// answers the length of that ciphertext where PostgreSQL answers 3. The
// same with q.enc made before phiguard started: it is not the epoch's,
// but the planner's resolution of an unqualified name of a protected
// table, which does not follow the search path for a write.
func TestRedTeam34ShadowingTableMadeByOtherSession(t *testing.T) {
	t.Skip("HOLE: b's INSERT INTO enc (id, s) VALUES (2, 'abc'), enc resolving to the plain q.enc a made, stored the ciphertext of 'abc' in q.enc where PostgreSQL stores 'abc' (both protocols); SELECT length(s) of it is refused (0A000, planned as public.enc)")
	t.Parallel()
	su, a, b, _, enc, q := rt34Proxy(t)
	ctx := testContext(t)
	rt31cExec(t, b, "SET search_path = "+q+", public")
	rt31cAnswer(t, b, "SELECT count(*) FROM "+enc, "1\n", bothModes[0])
	rt31cExec(t, a, "CREATE TABLE "+q+"."+enc+" (id int, s text)")
	for i, mode := range bothModes {
		id := 2 + i
		_, insErr := rt4Rows(b, fmt.Sprintf("INSERT INTO %s (id, s) VALUES (%d, 'abc')", enc, id), mode)
		got, selErr := rt4Rows(b, fmt.Sprintf("SELECT length(s) FROM %s WHERE id = %d", enc, id), mode)
		var stored string
		_ = su.QueryRow(ctx, fmt.Sprintf("SELECT coalesce(string_agg(s, ','), '<none>') FROM %s.%s WHERE id = %d", q, enc, id)).Scan(&stored)
		t.Logf("%v: INSERT: %v; SELECT length(s): %q, %v; q.enc holds %q", mode, insErr, got, selErr, stored)
		if insErr == nil && stored != "abc" {
			t.Fatalf("%v: b's INSERT INTO %s stored %q in %s.%s, where PostgreSQL stores 'abc'", mode, enc, stored, q, enc)
		}
		if selErr == nil && got != "3\n" {
			t.Fatalf("%v: b's SELECT length(s): %q where PostgreSQL answers 3", mode, got)
		}
	}
}

// TestRedTeam34NamedBindAfterOtherSessionsDDL: a Bind of a statement
// prepared before (pgx's cache mode sends Bind, Execute, Sync, no Parse)
// starts no protocol segment where the epoch is looked at (a cache-mode
// client of only prepared statements reads no catalog for other
// sessions' DDL: TestRedTeam34EpochLoad). b prepared INSERT INTO enc
// (id, s) with q.enc, a plain table, first on its path; a dropped q.enc;
// PostgreSQL analyses b's statement again, now on public.enc, and must
// not store b's 'abc' in clear there. It passes today only because the
// planner takes enc for public.enc whatever the path
// (TestRedTeam34ShadowingTableMadeByOtherSession, a HOLE): a fix of that
// must make this Bind follow the epoch (or check its names again).
func TestRedTeam34NamedBindAfterOtherSessionsDDL(t *testing.T) {
	t.Parallel()
	su, a, b, _, enc, q := rt34Proxy(t)
	ctx := testContext(t)
	rt31cExec(t, a, "CREATE TABLE "+q+"."+enc+" (id int, s text)")
	rt31cExec(t, b, "SET search_path = "+q+", public")
	ins := "INSERT INTO " + enc + " (id, s) VALUES ($1, $2)"
	if _, err := b.Exec(ctx, ins, 2, "plain2"); err != nil {
		t.Fatal(err)
	}
	rt31cExec(t, a, "DROP TABLE "+q+"."+enc)
	_, err := b.Exec(ctx, ins, 3, "abc")
	var n int
	if e := su.QueryRow(ctx, "SELECT count(*) FROM public."+enc+" WHERE s = 'abc'").Scan(&n); e != nil || n != 0 {
		t.Fatalf("b's prepared INSERT after a dropped %s.%s stored 'abc' in clear in the encrypted public.%s.s (%d rows, %v; INSERT: %v)", q, enc, enc, n, e, err)
	}
	t.Logf("INSERT: %v", err)
}

// TestRedTeam34CachedSelectAfterTableMadeAgain: b runs SELECT id, s
// FROM enc as a prepared statement (pgx's cache mode: Bind, Execute,
// Sync, no Parse, so no epoch check); a drops enc and makes it again (a
// new OID) with one row. b answers as PostgreSQL does: its result
// fields are mapped by the statement's description at its Parse, whose
// (old) OID the catalog lists as the protected table.
func TestRedTeam34CachedSelectAfterTableMadeAgain(t *testing.T) {
	t.Parallel()
	_, a, b, _, enc, _ := rt34Proxy(t)
	sel := "SELECT id, s FROM " + enc
	rt31cAnswer(t, b, sel, "1 | secret\n", pgx.QueryExecModeCacheStatement)
	rt31cExec(t, a, "BEGIN", "DROP TABLE "+enc, "CREATE TABLE "+enc+" (id int, s text)",
		"INSERT INTO "+enc+" (id, s) VALUES (2, 'other')", "COMMIT")
	for i := 0; i < 3; i++ {
		got, err := rt4Rows(b, sel, pgx.QueryExecModeCacheStatement)
		if err != nil || got != "2 | other\n" {
			t.Fatalf("run %d of b's prepared %s after a made the table again: %q, %v; PostgreSQL answers 2 | other", i+1, sel, got, err)
		}
	}
}
