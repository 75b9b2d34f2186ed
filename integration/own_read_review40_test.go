package integration

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"
)

// Review 40 of phiguard's own reads as the extended protocol
// (guard/own_messages.go): sequences compared with plain PostgreSQL
// (rv38Compare), as in own_read_unnamed_test.go.

// rv40Count is the table's row count, by a simple Query.
func rv40Count(t *testing.T, s rv38Side) string {
	t.Helper()
	return rv38Send(t, s, 1, rv38Simple("SELECT count(*) FROM "+s.tbl)...)
}

// TestReview40ErrorThenQueryThenRead: an extended segment fails, and
// before its Sync the client sends a simple Query (which PostgreSQL skips
// with the rest up to the Sync), then the Parse of a COPY that has
// phiguard read its catalog, then a Bind and Execute of an INSERT, then
// the Sync. PostgreSQL skips all of it up to the Sync: one error, one
// ReadyForQuery, no row written. phiguard took the Query for the end of
// the segment and read its catalog before the Parse; PostgreSQL skipped
// the read up to its Sync, and the client got no ReadyForQuery (a hang,
// with the simple Query read too, 62691dd). A Query leaves a segment not
// yet synced open now (catalog_fresh.go).
func TestReview40ErrorThenQueryThenRead(t *testing.T) {
	t.Parallel()
	rv38Compare(t, func(s rv38Side) []string {

		msgs := seq(
			[]pgproto3.FrontendMessage{&pgproto3.Parse{Name: "rv40_bad", Query: "SELECT 1/0"}, &pgproto3.Bind{PreparedStatement: "rv40_bad"}, &pgproto3.Execute{}},
			rv38Simple("SELECT 1"),
			own40Copy(s)[:1],
			rv38Bind("rv38_s", ""),
			rv38Sync,
		)
		return []string{rv40SendOrHang(t, s, 1, msgs...), rv40DDLCount(t, s)}
	})
}

// TestReview40FlushSegmentsRead: Sync-less segments answered by Flush,
// one with a COPY's Parse, which starts no read (reads start segments
// only), then an error and the Sync: the segment's rows are rolled back
// as in PostgreSQL.
func TestReview40FlushSegmentsRead(t *testing.T) {
	t.Parallel()
	rv38Compare(t, func(s rv38Side) []string {
		return []string{
			rv38Send(t, s, 0, seq(rv38Bind("rv38_s", ""), rv38Flush)...),
			rv38Send(t, s, 0, seq(own40Copy(s)[:1], rv38Bind("rv38_s", ""), rv38Flush)...),
			rv38Send(t, s, 1, &pgproto3.Parse{Name: "rv40_bad", Query: "SELECT 1/0"}, &pgproto3.Bind{PreparedStatement: "rv40_bad"}, &pgproto3.Execute{}, &pgproto3.Sync{}),
			rv40Count(t, s),
			rv38Prepared(t, s),
		}
	})
}

// TestReview40ReadTimesOut: under the client's statement_timeout of 1 ms
// (the catalog read takes more), a named statement bound before any
// other read lists pg_prepared_statements, which must not name
// phiguard's read: the read runs under its own timeout
// (guard/own_messages.go), and one that fails has its names closed
// after (TestOwnReadFailsIdleLeavesNoNames fails it on purpose).
func TestReview40ReadTimesOut(t *testing.T) {
	t.Parallel()
	s := rv38Sides(t)[1]
	rv38Send(t, s, 1, &pgproto3.Parse{Name: "rv40_ps", Query: "SELECT coalesce(string_agg(name, ' ' ORDER BY name), '') FROM pg_prepared_statements"}, &pgproto3.Sync{})
	left := 0
	for i := 0; i < 10; i++ {
		rv38Send(t, s, 1, rv38Simple("SET statement_timeout = '1ms'")...)
		rv38Send(t, s, 1, own40Copy(s)...)
		got := rv40SendOrHang(t, s, 1, &pgproto3.Bind{PreparedStatement: "rv40_ps"}, &pgproto3.Execute{}, &pgproto3.Sync{})
		rv38Send(t, s, 1, rv38Simple("SET statement_timeout = 0")...)
		rv38Send(t, s, 1, &pgproto3.Close{ObjectType: 'S', Name: "own40_copy"}, &pgproto3.Sync{})
		if strings.Contains(got, "phiguard_plan_read") {
			left++
		} else if !strings.HasSuffix(got, " rv38_a rv38_s rv40_ps, SELECT 1, ready I") && !strings.Contains(got, "57014") {
			// own40_copy is listed when its Parse ran, not when refused
			// after the read failed (unreadCopyRefusal).
			t.Errorf("attempt %d: %s", i+1, got)
		}
	}
	if left > 0 {
		// Was a HOLE (9 of 10 attempts at review 40): the read's error
		// skipped its Closes. The read now runs under its own timeout,
		// and a read that fails anyway has its names closed after
		// (guard/own_recover.go).
		t.Errorf("phiguard's read statement listed in pg_prepared_statements after %d of 10 attempts; PostgreSQL lists the client's own statements only", left)
	}
}

// rv40SendOrHang is rv38Send, "hang" when no answer comes in 3 s (the
// session is left unusable).
func rv40SendOrHang(t *testing.T, s rv38Side, rfqs int, msgs ...pgproto3.FrontendMessage) string {
	t.Helper()
	fe := s.c.Frontend()
	for _, m := range msgs {
		fe.Send(m)
	}
	if err := fe.Flush(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	var got []string
	for seen := 0; seen < rfqs; {
		msg, err := s.c.ReceiveMessage(ctx)
		if err != nil {
			return strings.Join(append(got, "hang"), ", ")
		}
		switch m := msg.(type) {
		case *pgproto3.ParseComplete:
			got = append(got, "parsed")
		case *pgproto3.BindComplete:
			got = append(got, "bound")
		case *pgproto3.DataRow:
			got = append(got, "row "+string(m.Values[0]))
		case *pgproto3.CommandComplete:
			got = append(got, string(m.CommandTag))
		case *pgproto3.ErrorResponse:
			got = append(got, "error "+m.Code)
		case *pgproto3.ReadyForQuery:
			got = append(got, "ready "+string(m.TxStatus))
			seen++
		}
	}
	return strings.Join(got, ", ")
}

// rv40DDLCount is the table's row count read by the side's other
// session.
func rv40DDLCount(t *testing.T, s rv38Side) string {
	t.Helper()
	res := s.ddl.ExecParams(testContext(t), "SELECT count(*) FROM "+s.tbl, nil, nil, nil, nil).Read()
	if res.Err != nil {
		t.Fatalf("%s: count: %v", s.name, res.Err)
	}
	return "rows " + string(res.Rows[0][0])
}

// TestReview40ErrorThenQueryNoRead: as TestReview40ErrorThenQueryThenRead
// without the COPY, so without a read.
func TestReview40ErrorThenQueryNoRead(t *testing.T) {
	t.Parallel()
	rv38Compare(t, func(s rv38Side) []string {
		msgs := seq(
			[]pgproto3.FrontendMessage{&pgproto3.Parse{Name: "rv40_bad", Query: "SELECT 1/0"}, &pgproto3.Bind{PreparedStatement: "rv40_bad"}, &pgproto3.Execute{}},
			rv38Simple("SELECT 1"),
			rv38Bind("rv38_s", ""),
			rv38Sync,
		)
		return []string{rv40SendOrHang(t, s, 1, msgs...), rv40DDLCount(t, s)}
	})
}

// TestReview40ReservedNameAnswers: statements naming phiguard's read
// statement or portal that PostgreSQL answers without making either
// (nothing of that name exists for the client) are answered as
// PostgreSQL answers them; a name differing in case (quoted, or in a
// protocol message, where case counts) is another name, not refused.
func TestReview40ReservedNameAnswers(t *testing.T) {
	t.Parallel()
	rv38Compare(t, func(s rv38Side) []string {
		return []string{
			rv38Send(t, s, 1, rv38Simple("FETCH phiguard_plan_read")...),
			rv38Send(t, s, 1, rv38Simple("MOVE phiguard_plan_read")...),
			rv38Send(t, s, 1, rv38Simple("CLOSE phiguard_plan_read")...),
			rv38Send(t, s, 1, rv38Simple("DEALLOCATE phiguard_plan_read")...),
			rv38Send(t, s, 1, &pgproto3.Describe{ObjectType: 'P', Name: "phiguard_plan_read"}, &pgproto3.Sync{}),
			rv38Send(t, s, 1, &pgproto3.Close{ObjectType: 'P', Name: "phiguard_plan_read"}, &pgproto3.Sync{}),
			rv38Send(t, s, 1, rv38Simple(`BEGIN; DECLARE "PHIGUARD_PLAN_READ" CURSOR FOR SELECT 1; FETCH "PHIGUARD_PLAN_READ"; ROLLBACK`)...),
			rv38Send(t, s, 1, &pgproto3.Parse{Name: "rv40_one", Query: "SELECT 1"}, &pgproto3.Bind{DestinationPortal: "PHIGUARD_PLAN_READ", PreparedStatement: "rv40_one"},
				&pgproto3.Execute{Portal: "PHIGUARD_PLAN_READ"}, &pgproto3.Sync{}),
			rv38Prepared(t, s),
		}
	})
}

// TestReview40ReservedNameRefused: a statement of phiguard's read name,
// by Parse or SQL PREPARE in any case of the unquoted name, and an
// EXECUTE of it, are refused (0A000): the next read would close it.
func TestReview40ReservedNameRefused(t *testing.T) {
	t.Parallel()
	s := rv38Sides(t)[1]
	steps := []struct {
		msgs []pgproto3.FrontendMessage
		want string
	}{
		{[]pgproto3.FrontendMessage{&pgproto3.Parse{Name: "phiguard_plan_read", Query: "SELECT 1"}, &pgproto3.Sync{}}, "error 0A000, ready I"},
		{rv38Simple("PREPARE PHIGUARD_PLAN_READ AS SELECT 1"), "error 0A000, ready I"},
		{rv38Simple("EXECUTE phiguard_plan_read"), "error 0A000, ready I"},
		{[]pgproto3.FrontendMessage{&pgproto3.Bind{PreparedStatement: "phiguard_plan_read"}, &pgproto3.Sync{}}, "error 0A000, ready I"},
		{[]pgproto3.FrontendMessage{&pgproto3.Execute{Portal: "phiguard_plan_read"}, &pgproto3.Sync{}}, "error 0A000, ready I"},
		{[]pgproto3.FrontendMessage{&pgproto3.Close{ObjectType: 'S', Name: "phiguard_plan_read"}, &pgproto3.Sync{}}, "error 0A000, ready I"},
		{[]pgproto3.FrontendMessage{&pgproto3.Describe{ObjectType: 'S', Name: "phiguard_plan_read"}, &pgproto3.Sync{}}, "error 0A000, ready I"},
		{own40Copy(s), "parsed, ready I"},
	}
	for i, st := range steps {
		if got := rv38Send(t, s, 1, st.msgs...); got != st.want {
			t.Errorf("step %d: %s, want %s", i+1, got, st.want)
		}
	}
	if got := rv38Prepared(t, s); got != "own40_copy rv38_a rv38_s" {
		t.Errorf("prepared: %s", got)
	}
}

// TestReview40FunctionCursorOfItsName: a cursor of the read portal's
// former name opened by PL/pgSQL, which phiguard does not see, then a
// read, then a FETCH from it. The read's Close of its portal closed the
// cursor (34000, ready E, where PostgreSQL answers FETCH 1); the read's
// name has a random part now (own_messages.go).
func TestReview40FunctionCursorOfItsName(t *testing.T) {
	t.Parallel()
	fn := uniqueName("rv40_open")
	rv38Compare(t, func(s rv38Side) []string {
		if err := s.ddl.Exec(testContext(t), "CREATE OR REPLACE FUNCTION "+fn+"(n text) RETURNS refcursor LANGUAGE plpgsql AS $$DECLARE c refcursor := n; BEGIN OPEN c FOR SELECT 1; RETURN c; END$$").Close(); err != nil {
			t.Fatal(err)
		}
		return []string{
			rv38Send(t, s, 1, rv38Simple("BEGIN; SELECT "+fn+"('phiguard_plan_read')")...),
			rv38Send(t, s, 1, own40Copy(s)...),
			rv38Send(t, s, 1, rv38Simple("FETCH phiguard_plan_read; ROLLBACK")...),
		}
	})
}

// TestReview40CopyAfterFailedRead: another session adds a CHECK on the
// encrypted column; a COPY FROM STDIN is refused (0A000) on the catalog
// read before it (freshBeforeCopy, judgedRefusal). The client's own
// statement_timeout (2 ms) fails that read; the COPY was let through and
// judged its row on the ciphertext (COPY 1, the row 'bad' stored, where
// PostgreSQL answers 23514); it is refused (unreadCopyRefusal), or meets
// the timeout itself.
func TestReview40CopyAfterFailedRead(t *testing.T) {
	t.Parallel()
	s := rv38Sides(t)[1]
	rv38DDL(t, s, "ALTER TABLE %[1]s ADD CONSTRAINT %[1]s_c CHECK (s <> 'bad')")
	for i := 0; i < 3; i++ {
		rv38Send(t, s, 1, rv38Simple("SET statement_timeout = '2ms'")...)
		got := rv40SendOrHang(t, s, 1, &pgproto3.Query{String: "COPY " + s.tbl + " (s) FROM STDIN"}, &pgproto3.CopyData{Data: []byte("bad\n")}, &pgproto3.CopyDone{})
		rv38Send(t, s, 1, rv38Simple("SET statement_timeout = 0")...)
		if got != "error 0A000, ready I" && got != "error 57014, ready I" {
			t.Errorf("attempt %d: %s, want error 0A000 (or 57014)", i+1, got)
		}
	}
	if got := rv40DDLCount(t, s); got != "rows 1" {
		t.Errorf("%s after the COPYs, want rows 1", got)
	}
}

// TestReview40QueryMidSegmentThenRead: an INSERT pipelined without a
// Sync, a simple Query (which commits it in PostgreSQL), the Parse of a
// COPY that has phiguard read its catalog, another INSERT, the Sync:
// the read's Sync commits nothing PostgreSQL would not have, and both
// rows are written.
func TestReview40QueryMidSegmentThenRead(t *testing.T) {
	t.Parallel()
	rv38Compare(t, func(s rv38Side) []string {
		msgs := seq(rv38Bind("rv38_s", ""), rv38Simple("SELECT 1"), own40Copy(s)[:1], rv38Bind("rv38_s", ""), rv38Sync)
		return []string{rv40SendOrHang(t, s, 2, msgs...), rv40DDLCount(t, s)}
	})
}

// TestReview40ReadFailsInBlock: in the client's transaction block, with
// statement_timeout 2 ms, phiguard's read before a COPY's Parse timed
// out, which aborted the client's block: the Parse met 25P02 and the
// COMMIT rolled back the INSERT before it (a HOLE at review 40). The
// read runs under its own timeout now (guard/own_messages.go), and
// PostgreSQL's answers are matched; a read that fails anyway is rolled
// back to its savepoint (TestOwnReadFailsInBlockRecovers).
func TestReview40ReadFailsInBlock(t *testing.T) {
	t.Parallel()
	rv38Compare(t, func(s rv38Side) []string {
		return []string{
			rv38Send(t, s, 1, rv38Simple("BEGIN; INSERT INTO "+s.tbl+" (s) VALUES ('x'); SET LOCAL statement_timeout = '2ms'")...),
			rv38Send(t, s, 1, own40Copy(s)...),
			rv38Send(t, s, 1, rv38Simple("COMMIT")...),
			rv40DDLCount(t, s),
		}
	})
}

// TestReview40ReadKeepsSearchPath: the read sets search_path local to
// its transaction and puts it back: the client's setting, session or
// local, in a block or not, rolled back or committed, is PostgreSQL's
// after it.
func TestReview40ReadKeepsSearchPath(t *testing.T) {
	t.Parallel()
	rv38Compare(t, func(s rv38Side) []string {
		show := func() string { return rv40SendOrHang(t, s, 1, rv38Simple("SHOW search_path")...) }
		copyParse := func() string {
			rv38Send(t, s, 1, &pgproto3.Close{ObjectType: 'S', Name: "own40_copy"}, &pgproto3.Sync{})
			return rv38Send(t, s, 1, own40Copy(s)...)
		}
		return []string{
			rv38Send(t, s, 1, rv38Simple("SET search_path = public, pg_temp")...),
			copyParse(), show(),
			rv38Send(t, s, 1, rv38Simple("BEGIN; SET LOCAL search_path = pg_temp, public")...),
			copyParse(), show(),
			rv38Send(t, s, 1, rv38Simple("SET search_path = \"$user\", public")...),
			copyParse(), show(),
			rv38Send(t, s, 1, rv38Simple("ROLLBACK")...), show(),
			rv38Send(t, s, 1, rv38Simple("BEGIN; SET search_path = public")...),
			copyParse(),
			rv38Send(t, s, 1, rv38Simple("COMMIT")...), show(),
			rv38Send(t, s, 1, rv38Simple("BEGIN; SAVEPOINT a; SET LOCAL search_path = pg_temp, public")...),
			copyParse(),
			rv38Send(t, s, 1, rv38Simple("ROLLBACK TO SAVEPOINT a")...), show(),
			copyParse(),
			rv38Send(t, s, 1, rv38Simple("RELEASE a; SET LOCAL search_path = pg_temp")...),
			copyParse(), show(),
			rv38Send(t, s, 1, rv38Simple("COMMIT")...), show(),
		}
	})
}

// TestReview40DefaultBindAfterFailedRead: a named INSERT ... SELECT of a
// set operation (where the default guard has no place) leaving the
// encrypted column to its default has the catalog read before each Bind
// (bindReprepares), as a Query of it before it (freshBeforeCopy), and
// checkDefaults refuses a default another session set since. The
// client's statement_timeout (2 ms) fails that read: the Bind, and the
// Query, ran on the catalog from before and stored the default in clear
// (INSERT 0 2); they are refused (unreadCopyRefusal), or meet the
// timeout themselves.
func TestReview40DefaultBindAfterFailedRead(t *testing.T) {
	t.Parallel()
	for _, bind := range []bool{true, false} {
		s := rv38Sides(t)[1]
		insert := "INSERT INTO " + s.tbl + " (id) SELECT 5 UNION ALL SELECT 6"
		rv38Send(t, s, 1, &pgproto3.Parse{Name: "rv40_ins", Query: insert}, &pgproto3.Sync{})
		rv38DDL(t, s, "ALTER TABLE %s ALTER COLUMN s SET DEFAULT 'dflt'")
		rv38Send(t, s, 1, rv38Simple("SET statement_timeout = '2ms'")...)
		msgs := rv38Simple(insert)
		if bind {
			msgs = []pgproto3.FrontendMessage{&pgproto3.Bind{PreparedStatement: "rv40_ins"}, &pgproto3.Execute{}, &pgproto3.Sync{}}
		}
		got := rv40SendOrHang(t, s, 1, msgs...)
		rv38Send(t, s, 1, rv38Simple("SET statement_timeout = 0")...)
		if got != "error 0A000, ready I" && got != "error 57014, ready I" {
			t.Errorf("bind %v: %s, want error 0A000 (or 57014)", bind, got)
		}
		if got := rv40DDLCount(t, s); got != "rows 1" {
			t.Errorf("bind %v: %s after the INSERT, want rows 1", bind, got)
		}
	}
}
