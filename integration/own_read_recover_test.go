package integration

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgproto3"
)

// TestOwnReadFailsInBlockRecovers: phiguard's catalog read before a
// SELECT of a table its catalog does not list fails inside the client's
// transaction block, on the client's lock_timeout (1 ms) while another
// session holds pg_policy, which the read reads. The read ran inside a
// savepoint of phiguard's, rolled back to after it failed
// (guard/own_recover.go): the block goes on as in PostgreSQL, which
// answers the SELECT and commits both rows, and pg_prepared_statements
// lists no statement of phiguard's read. Before, the read's error
// aborted the block: the SELECT met 25P02 and the COMMIT rolled the
// INSERT back. Not parallel: the lock holds up every session's catalog
// read while it is held.
func TestOwnReadFailsInBlockRecovers(t *testing.T) {
	rv38Compare(t, func(s rv38Side) []string {
		fresh := uniqueName("own_recover_new")
		ctx := testContext(t)
		if err := s.ddl.Exec(ctx, "CREATE TABLE "+fresh+" (id int); GRANT SELECT ON "+fresh+" TO PUBLIC").Close(); err != nil {
			t.Fatal(err)
		}
		holder := superuser(t)
		out := []string{rv38Send(t, s, 1, rv38Simple("BEGIN; INSERT INTO "+s.tbl+" (s) VALUES ('x'); SET LOCAL lock_timeout = '1ms'")...)}
		if _, err := holder.Exec(ctx, "BEGIN; LOCK TABLE pg_catalog.pg_policy IN ACCESS EXCLUSIVE MODE"); err != nil {
			t.Fatal(err)
		}
		out = append(out, rv38Send(t, s, 1, rv38Simple("SELECT count(*) FROM "+fresh)...))
		if _, err := holder.Exec(ctx, "COMMIT"); err != nil {
			t.Fatal(err)
		}
		return append(out,
			rv38Prepared(t, s),
			rv38Send(t, s, 1, rv38Simple("COMMIT")...),
			rv40DDLCount(t, s),
		)
	})
}

// ownReadFailing runs send while another session holds pg_policy, which
// phiguard's catalog read reads, so that a read under a lock_timeout of
// 1 ms fails.
func ownReadFailing(t *testing.T, send func() string) string {
	t.Helper()
	ctx := testContext(t)
	holder := superuser(t)
	if _, err := holder.Exec(ctx, "BEGIN; LOCK TABLE pg_catalog.pg_policy IN ACCESS EXCLUSIVE MODE"); err != nil {
		t.Fatal(err)
	}
	defer func(holder *pgx.Conn) {
		if _, err := holder.Exec(context.Background(), "COMMIT"); err != nil {
			t.Fatal(err)
		}
	}(holder)
	return send()
}

// TestOwnReadFailsIdleLeavesNoNames: outside a block, a read that fails
// (lock_timeout) is answered as PostgreSQL answers the SELECT, and
// pg_prepared_statements, listed by a Bind phiguard reads nothing
// before, names no statement of phiguard's. This failure comes at the
// Parse that locks pg_policy, which leaves no statement behind; one at
// an Execute (a cancel, say) skipped the Closes after it, which the
// recovery segment now sends (guard/own_recover.go).
func TestOwnReadFailsIdleLeavesNoNames(t *testing.T) {
	rv38Compare(t, func(s rv38Side) []string {
		fresh := uniqueName("own_recover_idle")
		if err := s.ddl.Exec(testContext(t), "CREATE TABLE "+fresh+" (id int); GRANT SELECT ON "+fresh+" TO PUBLIC").Close(); err != nil {
			t.Fatal(err)
		}
		// Listed by the Bind of a statement prepared before: phiguard
		// reads its catalog before no Bind of it, which would close
		// the names first.
		list := "SELECT coalesce(string_agg(name, ' ' ORDER BY name), '') FROM pg_prepared_statements WHERE name NOT SIMILAR TO 'phiguard_plan_[0-9]+'"
		return []string{
			rv38Send(t, s, 1, &pgproto3.Parse{Name: "own_recover_ps", Query: list}, &pgproto3.Sync{}),
			rv38Send(t, s, 1, rv38Simple("SET lock_timeout = '1ms'")...),
			ownReadFailing(t, func() string { return rv38Send(t, s, 1, rv38Simple("SELECT count(*) FROM "+fresh)...) }),
			rv40SendOrHang(t, s, 1, &pgproto3.Bind{PreparedStatement: "own_recover_ps"}, &pgproto3.Execute{}, &pgproto3.Sync{}),
			rv38Send(t, s, 1, rv38Simple("RESET lock_timeout")...),
		}
	})
}

// TestOwnReadFailedInBlockRefusesCopy: after a read that failed in the
// block was rolled back to its savepoint, the block goes on, and a COPY
// FROM STDIN, which phiguard reads the catalog before (a CHECK or
// default another session added since), is refused (0A000) rather than
// run on the catalog from before; PostgreSQL's answer would be the
// COPY's, so this is phiguard's side alone.
func TestOwnReadFailedInBlockRefusesCopy(t *testing.T) {
	s := rv38Sides(t)[1]
	rv38Send(t, s, 1, rv38Simple("BEGIN; SET LOCAL lock_timeout = '1ms'")...)
	got := ownReadFailing(t, func() string { return rv38Send(t, s, 1, own40Copy(s)...) })
	if got != "error 0A000, ready E" {
		t.Errorf("the COPY's Parse after the failed read: %s, want error 0A000, ready E", got)
	}
	rv38Send(t, s, 1, rv38Simple("ROLLBACK")...)
}

// TestOwnReadAfterFailedDDLInBlock: the client's DDL fails in its block
// (the table exists), and the catalog read queued behind it, in its
// savepoint, meets 25P02 at the SAVEPOINT itself: there is nothing to
// roll back to, and the block stays failed as in PostgreSQL (the next
// statement 25P02, COMMIT answering ROLLBACK, the INSERT not stored).
func TestOwnReadAfterFailedDDLInBlock(t *testing.T) {
	rv38Compare(t, func(s rv38Side) []string {
		return []string{
			rv38Send(t, s, 1, rv38Simple("BEGIN; INSERT INTO "+s.tbl+" (s) VALUES ('f')")...),
			rv38Send(t, s, 1, rv38Simple("CREATE TABLE "+s.tbl+" (id int)")...),
			rv38Send(t, s, 1, rv38Simple("SELECT 1")...),
			rv38Send(t, s, 1, rv38Simple("COMMIT")...),
			rv40DDLCount(t, s),
			rv38Prepared(t, s),
		}
	})
}
