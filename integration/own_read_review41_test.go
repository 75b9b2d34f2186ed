package integration

import (
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"
)

// rv41Show answers a simple Query's first column of each row, or its
// error, by value (rv38Send shows only that a row came).
func rv41Show(t *testing.T, s rv38Side, q string) string {
	t.Helper()
	res, err := s.c.Exec(testContext(t), q).ReadAll()
	if err != nil {
		return "error " + rv41Code(err)
	}
	var out []string
	for _, r := range res {
		for _, row := range r.Rows {
			out = append(out, string(row[0]))
		}
	}
	return q + " = " + strings.Join(out, ",")
}

func rv41Code(err error) string {
	if pe, ok := err.(interface{ SQLState() string }); ok {
		return pe.SQLState()
	}
	return err.Error()
}

// rv41Fresh makes a table the proxied session's catalog does not list,
// so that a SELECT of it reads the catalog first.
func rv41Fresh(t *testing.T, s rv38Side, prefix string) string {
	t.Helper()
	fresh := uniqueName(prefix)
	if err := s.ddl.Exec(testContext(t), "CREATE TABLE "+fresh+" (id int); GRANT SELECT ON "+fresh+" TO PUBLIC").Close(); err != nil {
		t.Fatal(err)
	}
	return fresh
}

// TestReview41SettingsAroundReadInBlock: the client's own settings in a
// block, local and not, around a read that succeeds (its statement_timeout
// pinned and put back) and are as PostgreSQL has them in the block, after
// ROLLBACK TO a savepoint of the client's, and after COMMIT and ROLLBACK.
func TestReview41SettingsAroundReadInBlock(t *testing.T) {
	rv38Compare(t, func(s rv38Side) []string {
		f1, f2, f3 := rv41Fresh(t, s, "rv41_a"), rv41Fresh(t, s, "rv41_b"), rv41Fresh(t, s, "rv41_c")
		return []string{
			rv38Send(t, s, 1, rv38Simple("SET statement_timeout = '7s'")...),
			rv38Send(t, s, 1, rv38Simple("BEGIN; SET LOCAL statement_timeout = '3s'; SAVEPOINT a; SET statement_timeout = '4s'")...),
			rv38Send(t, s, 1, rv38Simple("SELECT count(*) FROM "+f1)...),
			rv41Show(t, s, "SHOW statement_timeout"),
			rv38Send(t, s, 1, rv38Simple("ROLLBACK TO a")...),
			rv41Show(t, s, "SHOW statement_timeout"),
			rv38Send(t, s, 1, rv38Simple("SELECT count(*) FROM "+f2)...),
			rv41Show(t, s, "SHOW statement_timeout"),
			rv38Send(t, s, 1, rv38Simple("RELEASE a; SET statement_timeout = '5s'")...),
			rv38Send(t, s, 1, rv38Simple("SELECT count(*) FROM "+f3)...),
			rv41Show(t, s, "SHOW statement_timeout"),
			rv38Send(t, s, 1, rv38Simple("COMMIT")...),
			rv41Show(t, s, "SHOW statement_timeout"),
			rv38Send(t, s, 1, rv38Simple("BEGIN; SET statement_timeout = '6s'")...),
			rv38Send(t, s, 1, rv38Simple("SELECT count(*) FROM "+rv41Fresh(t, s, "rv41_d"))...),
			rv38Send(t, s, 1, rv38Simple("ROLLBACK")...),
			rv41Show(t, s, "SHOW statement_timeout"),
			rv38Send(t, s, 1, rv38Simple("RESET statement_timeout")...),
		}
	})
}

// TestReview41FailedReadInClientSavepoint: a read failing (lock_timeout
// 1 ms, pg_policy held) inside the client's savepoint, then the client's
// ROLLBACK TO and RELEASE of it, its settings, and COMMIT: as PostgreSQL.
func TestReview41FailedReadInClientSavepoint(t *testing.T) {
	rv38Compare(t, func(s rv38Side) []string {
		fresh := rv41Fresh(t, s, "rv41_sp")
		out := []string{
			rv38Send(t, s, 1, rv38Simple("BEGIN; INSERT INTO "+s.tbl+" (s) VALUES ('x'); SET LOCAL statement_timeout = '3s'; SAVEPOINT a; INSERT INTO "+s.tbl+" (s) VALUES ('y'); SET LOCAL lock_timeout = '1ms'")...),
		}
		out = append(out, ownReadFailing(t, func() string { return rv38Send(t, s, 1, rv38Simple("SELECT count(*) FROM "+fresh)...) }))
		return append(out,
			rv41Show(t, s, "SHOW statement_timeout"),
			rv41Show(t, s, "SHOW lock_timeout"),
			rv38Send(t, s, 1, rv38Simple("ROLLBACK TO a")...),
			rv41Show(t, s, "SHOW lock_timeout"),
			rv38Send(t, s, 1, rv38Simple("RELEASE a")...),
			rv38Send(t, s, 1, rv38Simple("ROLLBACK TO a")...),
			rv38Send(t, s, 1, rv38Simple("ROLLBACK")...),
			rv38Send(t, s, 1, rv38Simple("BEGIN; INSERT INTO "+s.tbl+" (s) VALUES ('z'); SET LOCAL lock_timeout = '1ms'")...),
			ownReadFailing(t, func() string { return rv38Send(t, s, 1, rv38Simple("SELECT count(*) FROM "+fresh)...) }),
			rv41Show(t, s, "SHOW statement_timeout"),
			rv38Send(t, s, 1, rv38Simple("COMMIT")...),
			rv40DDLCount(t, s),
			rv38Prepared(t, s),
		)
	})
}

// TestReview41FailedReadInPipelinedBlock: in the client's block, two
// segments sent at once: an INSERT and its Sync, then a Query that needs
// a catalog read, which fails (lock_timeout). phiguard waits for the
// first segment's answer, so the read knows it is in the block and has
// its savepoint: the block goes on and commits both rows, as PostgreSQL.
// (An INSERT and the SELECT in one segment is refused 40001 before any
// read, lock or no lock: the in-segment staleness refusal, older.)
func TestReview41FailedReadInPipelinedBlock(t *testing.T) {
	rv38Compare(t, func(s rv38Side) []string {
		fresh := rv41Fresh(t, s, "rv41_pipe")
		out := []string{rv38Send(t, s, 1, rv38Simple("BEGIN; SET LOCAL lock_timeout = '1ms'")...)}
		out = append(out, ownReadFailing(t, func() string {
			return rv40SendOrHang(t, s, 2,
				&pgproto3.Parse{Query: "INSERT INTO " + s.tbl + " (s) VALUES ('p')"}, &pgproto3.Bind{}, &pgproto3.Execute{}, &pgproto3.Sync{},
				&pgproto3.Query{String: "SELECT count(*) FROM " + fresh})
		}))
		return append(out,
			rv38Send(t, s, 1, rv38Simple("SELECT 1")...),
			rv38Send(t, s, 1, rv38Simple("COMMIT")...),
			rv40DDLCount(t, s),
		)
	})
}

// TestReview41ReadInOtherBlocks: reads (succeeding) in SERIALIZABLE READ
// ONLY and REPEATABLE READ blocks, in a failed block ('E'), and before
// SET TRANSACTION in a block just begun, as PostgreSQL answers each.
func TestReview41ReadInOtherBlocks(t *testing.T) {
	rv38Compare(t, func(s rv38Side) []string {
		return []string{
			rv38Send(t, s, 1, rv38Simple("BEGIN ISOLATION LEVEL SERIALIZABLE READ ONLY")...),
			rv38Send(t, s, 1, rv38Simple("SELECT count(*) FROM "+rv41Fresh(t, s, "rv41_ser"))...),
			rv41Show(t, s, "SHOW transaction_isolation"),
			rv38Send(t, s, 1, rv38Simple("COMMIT")...),
			rv38Send(t, s, 1, rv38Simple("BEGIN; SELECT 1/0")...),
			rv38Send(t, s, 1, rv38Simple("SELECT count(*) FROM "+rv41Fresh(t, s, "rv41_e"))...),
			rv38Send(t, s, 1, rv38Simple("ROLLBACK")...),
			rv38Send(t, s, 1, rv38Simple("BEGIN")...),
			rv38Send(t, s, 1, rv38Simple("SELECT count(*) FROM "+rv41Fresh(t, s, "rv41_st"))...),
			rv38Send(t, s, 1, rv38Simple("SET TRANSACTION READ ONLY")...),
			rv38Send(t, s, 1, rv38Simple("INSERT INTO "+s.tbl+" (s) VALUES ('ro')")...),
			rv38Send(t, s, 1, rv38Simple("ROLLBACK")...),
			rv38Prepared(t, s),
		}
	})
}

// TestReview41CancelDuringReadInBlock: the client's cancel lands while
// phiguard's catalog read waits on pg_policy, held by another session,
// in the client's block. PostgreSQL answered the SELECT before the
// cancel came (it reads no pg_policy for the table), and ignores a cancel
// while idle; through phiguard the cancel fails the read at its Execute
// or Parse, which the savepoint puts back, and the block goes on.
func TestReview41CancelDuringReadInBlock(t *testing.T) {
	rv38Compare(t, func(s rv38Side) []string {
		fresh := rv41Fresh(t, s, "rv41_cancel")
		out := []string{rv38Send(t, s, 1, rv38Simple("BEGIN; INSERT INTO "+s.tbl+" (s) VALUES ('c')")...)}
		out = append(out, ownReadFailing(t, func() string {
			fe := s.c.Frontend()
			fe.Send(&pgproto3.Query{String: "SELECT count(*) FROM " + fresh})
			if err := fe.Flush(); err != nil {
				t.Fatal(err)
			}
			time.Sleep(300 * time.Millisecond)
			if err := s.c.CancelRequest(testContext(t)); err != nil {
				t.Fatal(err)
			}
			time.Sleep(200 * time.Millisecond)
			return rv38Send(t, s, 1)
		}))
		return append(out,
			rv41Show(t, s, "SHOW statement_timeout"),
			rv38Send(t, s, 1, rv38Simple("COMMIT")...),
			rv40DDLCount(t, s),
			rv38Prepared(t, s),
		)
	})
}

// TestReview41ReadBeforeSetTransaction: another session's DDL, then the
// client's block whose first statement sets its isolation level, which
// PostgreSQL allows only before the block's first query.
func TestReview41ReadBeforeSetTransaction(t *testing.T) {
	rv38Compare(t, func(s rv38Side) []string {
		out := []string{rv38Send(t, s, 1, rv38Simple("BEGIN")...)}
		rv41Fresh(t, s, "rv41_iso")
		return append(out,
			rv38Send(t, s, 1, rv38Simple("SET TRANSACTION ISOLATION LEVEL SERIALIZABLE")...),
			rv41Show(t, s, "SHOW transaction_isolation"),
			rv38Send(t, s, 1, rv38Simple("COMMIT")...),
		)
	})
}

// TestReview41ReadAfterDDLFailsInBlock: the client's DDL in its block,
// while another session holds pg_policy and the client's lock_timeout is
// 1 ms. phiguard queues its catalog read behind the DDL's Query
// (guard/protect_client.go, ddlSeen), not answered yet; it had no
// savepoint, and its failure on pg_policy aborted the client's block
// silently (a HOLE at review 41: 25P02 on the next SELECT, COMMIT
// answered ROLLBACK, 1 row where PostgreSQL has 2). The Query started
// in the block with nothing unanswered, so the read gets its savepoint
// now, and the next request recovers it (guard/own_recover.go,
// ddlReadInBlock): PostgreSQL answers the SELECT and commits both rows.
func TestReview41ReadAfterDDLFailsInBlock(t *testing.T) {
	rv38Compare(t, func(s rv38Side) []string {
		made := uniqueName("rv41_ddl")
		out := []string{rv38Send(t, s, 1, rv38Simple("BEGIN; INSERT INTO "+s.tbl+" (s) VALUES ('d'); SET LOCAL lock_timeout = '1ms'")...)}
		out = append(out, ownReadFailing(t, func() string {
			return rv38Send(t, s, 1, rv38Simple("CREATE TABLE "+made+" (id int)")...) + "; " +
				rv38Send(t, s, 1, rv38Simple("SELECT 1")...)
		}))
		return append(out,
			rv38Send(t, s, 1, rv38Simple("SELECT 2")...),
			rv38Send(t, s, 1, rv38Simple("COMMIT")...),
			rv40DDLCount(t, s),
		)
	})
}

// TestReview41RefusedCopyInBlockCommitsNothing: the COPY refused after a
// failed read in the client's block (0A000, TestOwnReadFailedInBlockRefusesCopy)
// leaves the block failed as the client was told ('E'): a COMMIT then
// answers ROLLBACK and the block's INSERT is not stored, as after any
// error in a PostgreSQL block.
func TestReview41RefusedCopyInBlockCommitsNothing(t *testing.T) {
	s := rv38Sides(t)[1]
	before := rv40DDLCount(t, s)
	rv38Send(t, s, 1, rv38Simple("BEGIN; INSERT INTO "+s.tbl+" (s) VALUES ('r'); SET LOCAL lock_timeout = '1ms'")...)
	got := ownReadFailing(t, func() string { return rv38Send(t, s, 1, own40Copy(s)...) })
	if got != "error 0A000, ready E" {
		t.Errorf("the COPY's Parse after the failed read: %s, want error 0A000, ready E", got)
	}
	if got := rv38Send(t, s, 1, rv38Simple("SELECT 1")...); got != "error 25P02, ready E" {
		t.Errorf("a SELECT after the refusal: %s, want error 25P02, ready E", got)
	}
	if got := rv38Send(t, s, 1, rv38Simple("COMMIT")...); got != "ROLLBACK, ready I" {
		t.Errorf("COMMIT after the refusal: %s, want ROLLBACK, ready I", got)
	}
	if after := rv40DDLCount(t, s); after != before {
		t.Errorf("the table has %s after the refused block, %s before", after, before)
	}
}

// TestReview41DefaultInsertAfterFailedReadInBlock: as
// TestReview40DefaultBindAfterFailedRead, inside the client's block and
// with the read failed on lock_timeout (pg_policy held): the read is
// rolled back to its savepoint and the block goes on, so the INSERT
// leaving the encrypted column to another session's new default, by
// Bind and by Query, must be refused, not run on the catalog from
// before: no default is stored in clear, whatever the block does next.
func TestReview41DefaultInsertAfterFailedReadInBlock(t *testing.T) {
	for _, bind := range []bool{true, false} {
		s := rv38Sides(t)[1]
		insert := "INSERT INTO " + s.tbl + " (id) SELECT 5 UNION ALL SELECT 6"
		rv38Send(t, s, 1, &pgproto3.Parse{Name: "rv41_ins", Query: insert}, &pgproto3.Sync{})
		rv38DDL(t, s, "ALTER TABLE %s ALTER COLUMN s SET DEFAULT 'dflt'")
		rv38Send(t, s, 1, rv38Simple("BEGIN; SET LOCAL lock_timeout = '1ms'")...)
		msgs := rv38Simple(insert)
		if bind {
			msgs = []pgproto3.FrontendMessage{&pgproto3.Bind{PreparedStatement: "rv41_ins"}, &pgproto3.Execute{}, &pgproto3.Sync{}}
		}
		got := ownReadFailing(t, func() string { return rv40SendOrHang(t, s, 1, msgs...) })
		end := rv38Send(t, s, 1, rv38Simple("COMMIT")...)
		direct := superuser(t)
		var clear int
		if err := direct.QueryRow(testContext(t), "SELECT count(*) FROM "+s.tbl+" WHERE s::text = 'dflt'").Scan(&clear); err != nil {
			t.Fatal(err)
		}
		if clear != 0 {
			t.Errorf("bind %v: %d rows hold the default in clear (the INSERT: %s; COMMIT: %s)", bind, clear, got, end)
		}
		if got != "error 0A000, ready E" {
			t.Errorf("bind %v: %s, want error 0A000, ready E", bind, got)
		}
	}
}

// TestReview41SearchPathAroundReadInBlock: the client's search_path, set
// local and in its savepoint, around reads in its block (which pin the
// catalog's path and put the client's back): as PostgreSQL shows it in
// the block, after ROLLBACK TO, and after COMMIT.
func TestReview41SearchPathAroundReadInBlock(t *testing.T) {
	rv38Compare(t, func(s rv38Side) []string {
		return []string{
			rv38Send(t, s, 1, rv38Simple("BEGIN; SET LOCAL search_path = public, pg_temp; SAVEPOINT a; SET search_path = pg_temp, public")...),
			rv38Send(t, s, 1, rv38Simple("SELECT count(*) FROM public."+rv41Fresh(t, s, "rv41_path"))...),
			rv41Show(t, s, "SHOW search_path"),
			rv38Send(t, s, 1, rv38Simple("ROLLBACK TO a")...),
			rv41Show(t, s, "SHOW search_path"),
			rv38Send(t, s, 1, rv38Simple("SELECT count(*) FROM "+rv41Fresh(t, s, "rv41_path2"))...),
			rv41Show(t, s, "SHOW search_path"),
			rv38Send(t, s, 1, rv38Simple("COMMIT")...),
			rv41Show(t, s, "SHOW search_path"),
		}
	})
}
