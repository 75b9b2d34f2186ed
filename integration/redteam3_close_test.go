package integration

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
)

// TestRedTeam3CloseSkippedAfterError: guard/protect_client.go
// onDescribeOrClose forgets a statement when the Close ('C' 'S') passes the
// client pump, and reparse.go only tracks a Parse that reuses a name it
// still knows. After an error PostgreSQL skips every message up to Sync,
// Close and Parse included, and keeps the old statement. So in the segment
//
//	Parse/Bind/Execute "SELECT 1/0", Close S, Parse S "SELECT 1", Sync
//
// phiguard takes S for "SELECT 1" while PostgreSQL still has the S parsed
// before: a Bind of S is checked (recheckPrepared), planned and recorded
// as "SELECT 1", and PostgreSQL runs the old text. Here S was parsed (and
// rewritten) under a rule that a reload then set to false: dr_alice still
// reads clinical_notes under the old rule, and no record names the read.
func TestRedTeam3CloseSkippedAfterError(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	fx := accessFixture(t)
	p := startAccessProxy(t, fx)
	conns := map[bool]*pgconn.PgConn{}
	for _, closeFirst := range []bool{false, true} {
		conns[closeFirst] = p.as(t, "dr_alice").PgConn()
		if _, err := segment(ctx, conns[closeFirst], &pgproto3.Parse{Name: "s", Query: "SELECT id FROM clinical_notes"}); err != nil {
			t.Fatal(err)
		}
	}
	reloadNotesFalse(t, p, fx)
	for _, closeFirst := range []bool{false, true} {
		pc := conns[closeFirst]
		var msgs []pgproto3.FrontendMessage
		msgs = append(msgs, &pgproto3.Parse{Query: "SELECT 1/0"}, &pgproto3.Bind{}, &pgproto3.Describe{ObjectType: 'P'}, &pgproto3.Execute{})
		if closeFirst {
			msgs = append(msgs, &pgproto3.Close{ObjectType: 'S', Name: "s"})
		}
		msgs = append(msgs, &pgproto3.Parse{Name: "s", Query: "SELECT 1"})
		if _, err := segment(ctx, pc, msgs...); err == nil {
			t.Fatal("SELECT 1/0 did not fail")
		}
		rows, err := segment(ctx, pc, &pgproto3.Bind{PreparedStatement: "s"}, &pgproto3.Describe{ObjectType: 'P'}, &pgproto3.Execute{})
		if !closeFirst {
			// Control (no Close): reparse.go restores s, and the reload's
			// recheck refuses it or runs it under the new rule.
			if err == nil && rows > 1 {
				t.Fatalf("control: Bind s after the reload returned %d notes", rows)
			}
			continue
		}
		if err == nil && rows > 1 {
			t.Errorf("after a reload set dr_alice's clinical_notes rule to false, a statement phiguard believed closed and replaced returned %d notes", rows)
		}
	}
}

// segment sends msgs and a Sync, and counts the DataRows until
// ReadyForQuery; err is the first ErrorResponse.
func segment(ctx context.Context, pc *pgconn.PgConn, msgs ...pgproto3.FrontendMessage) (int, error) {
	fe := pc.Frontend()
	for _, m := range msgs {
		fe.Send(m)
	}
	fe.Send(&pgproto3.Sync{})
	if err := fe.Flush(); err != nil {
		return 0, err
	}
	rows := 0
	var first error
	for {
		msg, err := pc.ReceiveMessage(ctx)
		if err != nil {
			return rows, err
		}
		switch m := msg.(type) {
		case *pgproto3.DataRow:
			rows++
		case *pgproto3.ErrorResponse:
			if first == nil {
				first = pgconn.ErrorResponseToPgError(m)
			}
		case *pgproto3.ReadyForQuery:
			return rows, first
		}
	}
}

// TestRedTeam3CloseSkippedPlaintextWrite: the same skipped Close and
// re-Parse make phiguard plan a Bind of S for "SELECT $1::text, $2::text"
// (no parameter to encrypt) while PostgreSQL runs the UPDATE of
// patients.ssn S was: admin_ann's SSN reaches the encrypted column in
// plaintext, where an (encrypted) equality lookup no longer finds it.
func TestRedTeam3CloseSkippedPlaintextWrite(t *testing.T) {
	// Not parallel: it writes to the shared fixture (restored at the end),
	// which the parallel suites read.
	ctx := testContext(t)
	fx := accessFixture(t)
	p := startAccessProxy(t, fx)
	for _, closeFirst := range []bool{false, true} {
		conn := p.as(t, "admin_ann")
		pc := conn.PgConn()
		if _, err := pc.Exec(ctx, "BEGIN").ReadAll(); err != nil {
			t.Fatal(err)
		}
		if _, err := segment(ctx, pc, &pgproto3.Parse{Name: "s", Query: "UPDATE patients SET ssn = $1 WHERE id = $2"}, &pgproto3.Describe{ObjectType: 'S', Name: "s"}); err != nil {
			t.Fatal(err)
		}
		msgs := []pgproto3.FrontendMessage{&pgproto3.Parse{Query: "SELECT 1/0"}, &pgproto3.Bind{}, &pgproto3.Describe{ObjectType: 'P'}, &pgproto3.Execute{}}
		if closeFirst {
			msgs = append(msgs, &pgproto3.Close{ObjectType: 'S', Name: "s"})
		}
		msgs = append(msgs, &pgproto3.Parse{Name: "s", Query: "SELECT $1::text, $2::text"}, &pgproto3.Describe{ObjectType: 'S', Name: "s"})
		if n, err := segment(ctx, pc, msgs...); err == nil {
			t.Fatalf("SELECT 1/0 did not fail (%d rows)", n)
		}
		// The error aborted the transaction: start a new one.
		pc.Exec(ctx, "ROLLBACK").ReadAll()
		pc.Exec(ctx, "BEGIN").ReadAll()
		// The UPDATE answers no row ("SELECT $1, $2" would answer one).
		if rows, err := segment(ctx, pc, &pgproto3.Bind{PreparedStatement: "s", Parameters: [][]byte{[]byte("999-00-0003"), []byte(fx.aliceOnly)}},
			&pgproto3.Describe{ObjectType: 'P'}, &pgproto3.Execute{}); err != nil || rows != 0 {
			t.Fatalf("closeFirst=%v: Bind s: %d rows, %v", closeFirst, rows, err)
		}
		n := queryInt(t, conn, "SELECT count(*) FROM patients WHERE id = $1 AND ssn = $2", fx.aliceOnly, "999-00-0003")
		pc.Exec(ctx, "ROLLBACK").ReadAll()
		switch {
		case !closeFirst && n != 1:
			t.Fatalf("control: the SSN written through s is not found (%d)", n)
		case closeFirst && n != 1:
			t.Errorf("after a skipped Close and re-Parse, the UPDATE of patients.ssn wrote a value an encrypted lookup does not find (plaintext at rest)")
		}
	}
}

// TestRedTeam3UnnamedParseSkipped: reparse.go tracks only named
// statements (noteParse: name != ""). A Parse of the unnamed statement
// that PostgreSQL skips after an error leaves the old unnamed statement in
// place, while phiguard takes "" for the new text: after a reload set
// dr_alice's clinical_notes rule to false, a Bind of "" checked as
// "SELECT 1" runs the old, pre-reload rewrite of SELECT id FROM
// clinical_notes.
func TestRedTeam3UnnamedParseSkipped(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	fx := accessFixture(t)
	p := startAccessProxy(t, fx)
	conns := map[bool]*pgconn.PgConn{}
	for _, reparse := range []bool{false, true} {
		conns[reparse] = p.as(t, "dr_alice").PgConn()
		if _, err := segment(ctx, conns[reparse], &pgproto3.Parse{Query: "SELECT id FROM clinical_notes"}, &pgproto3.Parse{Name: "z", Query: "SELECT 1/0"}); err != nil {
			t.Fatal(err)
		}
	}
	reloadNotesFalse(t, p, fx)
	for _, reparse := range []bool{false, true} {
		pc := conns[reparse]
		msgs := []pgproto3.FrontendMessage{&pgproto3.Bind{PreparedStatement: "z"}, &pgproto3.Describe{ObjectType: 'P'}, &pgproto3.Execute{}}
		if reparse {
			msgs = append(msgs, &pgproto3.Parse{Query: "SELECT 1"})
		}
		if _, err := segment(ctx, pc, msgs...); err == nil {
			t.Fatal("SELECT 1/0 did not fail")
		}
		rows, err := segment(ctx, pc, &pgproto3.Bind{}, &pgproto3.Describe{ObjectType: 'P'}, &pgproto3.Execute{})
		if !reparse {
			// Control: the unnamed statement is checked again after the reload.
			if err == nil && rows > 1 {
				t.Fatalf("control: Bind of the unnamed statement after the reload returned %d notes", rows)
			}
			continue
		}
		if err == nil && rows > 1 {
			t.Errorf("after a reload set dr_alice's clinical_notes rule to false, Bind of the unnamed statement (phiguard: SELECT 1) returned %d notes", rows)
		}
	}
}
