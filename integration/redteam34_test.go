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
	rt31cExec(t, su, "CREATE TABLE "+enc+" (id int, s text)", "ALTER TABLE "+enc+" OWNER TO "+appUser,
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
// phiguard planned it as public.enc all the same: b's INSERT INTO enc
// (id, s) VALUES (2, 'abc') stored the ciphertext of 'abc' in q.enc,
// where PostgreSQL stores 'abc' (both protocols; the same with q.enc
// made before phiguard started: the planner's, not the epoch's). Such a
// write is refused now (0A000 naming q.enc, guard/catalog_shadow.go);
// written by its qualified name, q.enc holds the plaintext, and so does
// a read of it through phiguard.
func TestRedTeam34ShadowingTableMadeByOtherSession(t *testing.T) {
	t.Parallel()
	su, a, b, _, enc, q := rt34Proxy(t)
	ctx := testContext(t)
	rt31cExec(t, b, "SET search_path = "+q+", public")
	rt31cAnswer(t, b, "SELECT count(*) FROM "+enc, "1\n", bothModes[0])
	rt31cExec(t, a, "CREATE TABLE "+q+"."+enc+" (id int, s text)")
	for i, mode := range bothModes {
		id := 2 + i
		for _, w := range []string{"INSERT INTO %s (id, s) VALUES (%d, 'abc')", "UPDATE %s SET s = 'abc' WHERE id = %d"} {
			_, err := rt4Rows(b, fmt.Sprintf(w, enc, id), mode)
			var stored string
			_ = su.QueryRow(ctx, fmt.Sprintf("SELECT coalesce(string_agg(s, ','), '<none>') FROM %s.%s WHERE id = %d", q, enc, id)).Scan(&stored)
			if stored != "<none>" {
				t.Fatalf("%v: b's %s stored %q in %s.%s, where PostgreSQL stores 'abc'", mode, fmt.Sprintf(w, enc, id), stored, q, enc)
			}
			rt33bRefused(t, fmt.Sprintf("%v: %s", mode, w), err, q+"."+enc)
		}
		rt31cExec(t, b, fmt.Sprintf("INSERT INTO %s.%s (id, s) VALUES (%d, 'abc')", q, enc, id))
		rt31cAnswer(t, b, fmt.Sprintf("SELECT length(s) FROM %s WHERE id = %d", enc, id), "3\n", mode)
	}
	rt31cAnswer(t, b, "SELECT s FROM public."+enc+" WHERE id = 1", "secret\n", bothModes[0])
	rt31cExec(t, b, "SET search_path = public")
	rt31cExec(t, b, "INSERT INTO "+enc+" (id, s) VALUES (5, 'five')")
	rt31cAnswer(t, b, "SELECT s FROM "+enc+" WHERE id = 5", "five\n", bothModes[1])
}

// TestRedTeam34NamedBindAfterOtherSessionsDDL: a Bind of a statement
// prepared before (pgx's cache mode sends Bind, Execute, Sync, no Parse)
// started no protocol segment where the epoch is looked at: a client of
// prepared statements alone followed no other session's DDL. b, with q
// before public on its path, prepared INSERT INTO enc (id, s) when enc
// was public's protected table alone; a made q.enc, a plain table, and
// then added a column to public.enc, and PostgreSQL analysed b's
// statement again at its next Bind, now on q.enc: phiguard, planning on
// its catalog of before, stored the ciphertext of 'abc' in q.enc, where
// PostgreSQL stores 'abc'. The catalog is read before a Bind of a named
// statement when another session's DDL moved the epoch since the last
// read, and the statement checked on it (bindRefusal): refused (0A000
// naming q.enc, catalog_shadow.go).
func TestRedTeam34NamedBindAfterOtherSessionsDDL(t *testing.T) {
	t.Parallel()
	su, a, b, _, enc, q := rt34Proxy(t)
	ctx := testContext(t)
	rt31cExec(t, b, "SET search_path = "+q+", public")
	ins := "INSERT INTO " + enc + " (id, s) VALUES ($1, $2)"
	if _, err := b.Exec(ctx, ins, pgx.QueryExecModeCacheStatement, 2, "two"); err != nil {
		t.Fatal(err)
	}
	rt31cExec(t, a, "CREATE TABLE "+q+"."+enc+" (id int, s text)", "ALTER TABLE public."+enc+" ADD COLUMN x int")
	_, err := b.Exec(ctx, ins, pgx.QueryExecModeCacheStatement, 3, "abc")
	var stored string
	_ = su.QueryRow(ctx, "SELECT coalesce(string_agg(s, ','), '<none>') FROM "+q+"."+enc).Scan(&stored)
	if stored != "<none>" && stored != "abc" {
		t.Fatalf("b's prepared INSERT, bound after a's DDL, stored %q in %s.%s where PostgreSQL stores 'abc' (INSERT: %v)", stored, q, enc, err)
	}
	rt33bRefused(t, "b's prepared INSERT bound after a's DDL", err, q+"."+enc)
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

// TestRedTeam34ShadowingInRepeatableRead: as
// TestRedTeam34ShadowingTableMadeByOtherSession, with b inside a
// REPEATABLE READ transaction whose snapshot predates a's CREATE TABLE
// q.enc. b's catalog read (the epoch moved) sees the transaction's
// snapshot, without q.enc, while PostgreSQL resolves names on the latest
// catalog; the probe of the latest catalog (catalog_latest.go) asked
// only about names the catalog lacks, and enc it has (public.enc): b's
// INSERT INTO enc stored the ciphertext of 'abc' in q.enc, where
// PostgreSQL stores 'abc'. Each read asks the latest catalog where the
// protected tables' names resolve now (nowInQuery), and the write is
// refused.
func TestRedTeam34ShadowingInRepeatableRead(t *testing.T) {
	t.Parallel()
	su, a, b, _, enc, q := rt34Proxy(t)
	ctx := testContext(t)
	rt31cExec(t, b, "SET search_path = "+q+", public")
	for i, level := range []string{"REPEATABLE READ", "SERIALIZABLE"} {
		qe := fmt.Sprintf("%s.%s", q, enc)
		rt31cExec(t, b, "BEGIN ISOLATION LEVEL "+level, "SELECT 1")
		rt31cExec(t, a, "CREATE TABLE "+qe+" (id int, s text)")
		_, err := rt4Rows(b, fmt.Sprintf("INSERT INTO %s (id, s) VALUES (%d, 'abc')", enc, 2+i), bothModes[i])
		_, _ = b.Exec(ctx, "COMMIT")
		var stored string
		_ = su.QueryRow(ctx, "SELECT coalesce(string_agg(s, ','), '<none>') FROM "+qe).Scan(&stored)
		if stored != "<none>" && stored != "abc" {
			t.Fatalf("%s: b's INSERT INTO %s stored %q in %s, where PostgreSQL stores 'abc' (INSERT: %v)", level, enc, stored, qe, err)
		}
		if err == nil && stored == "<none>" {
			t.Fatalf("%s: b's INSERT INTO %s ran and stored nothing in %s", level, enc, qe)
		}
		if err != nil {
			if c := rt4Code(err); c != "40001" && c != "0A000" {
				t.Fatalf("%s: b's INSERT: %v, want phiguard's 40001 or 0A000", level, err)
			}
		}
		rt31cExec(t, a, "DROP TABLE "+qe)
	}
}
