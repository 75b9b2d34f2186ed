package integration

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgproto3"
)

// setInFunctionFixture is a sort fixture with a function that turns
// standard_conforming_strings off inside (as a legacy application's
// function may run set_config or SET), and the UPDATE that reads as a
// write of grp alone with the setting on (as phiguard reads it) and as a
// write of the encrypted name in clear with it off.
type setInFunctionFixture struct {
	*sortFixture
	fn, update string
}

func newSetInFunctionFixture(t *testing.T) *setInFunctionFixture {
	f := newSortFixture(t, 10, nil)
	fn := uniqueName("rt12_scs")
	if _, err := superuser(t).Exec(testContext(t), fmt.Sprintf(`CREATE FUNCTION %s() RETURNS text LANGUAGE sql AS $$ SELECT pg_catalog.set_config('standard_conforming_strings', 'off', false) $$; GRANT EXECUTE ON FUNCTION %s() TO %s`, fn, fn, appUser)); err != nil {
		t.Fatal(err)
	}
	return &setInFunctionFixture{sortFixture: f, fn: fn,
		update: `UPDATE ` + f.people[1] + ` SET grp = length('a\' || ' ), name = $$RT12PLAIN$$ WHERE id = 1 -- ') WHERE id = 1`}
}

// run sends msgs through phiguard in one write and reads until ready
// ReadyForQuery messages came or the session ended; it fails the test if
// the name was stored in clear.
func (f *setInFunctionFixture) run(t *testing.T, ready int, msgs ...pgproto3.FrontendMessage) {
	t.Helper()
	conn := f.p.app(t)
	defer conn.Close(context.Background())
	pc := conn.PgConn()
	for _, m := range msgs {
		pc.Frontend().Send(m)
	}
	if err := pc.Frontend().Flush(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(testContext(t), 5*time.Second)
	defer cancel()
	for n := 0; n < ready; {
		msg, err := pc.ReceiveMessage(ctx)
		if err != nil {
			t.Logf("receive: %v", err)
			break
		}
		if _, ok := msg.(*pgproto3.ReadyForQuery); ok {
			n++
		}
	}
	time.Sleep(300 * time.Millisecond) // the backend may still be running it
	var n int
	if err := superuser(t).QueryRow(testContext(t), "SELECT count(*) FROM "+f.people[1]+" WHERE name = 'RT12PLAIN'").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("the name was stored in clear in the encrypted column")
		if _, err := superuser(t).Exec(testContext(t), "UPDATE "+f.people[1]+" SET name = NULL WHERE name = 'RT12PLAIN'"); err != nil {
			t.Fatal(err)
		}
	}
}

// TestRedTeam12SettingInFunction: a request pipelined behind one that
// calls a function running set_config('standard_conforming_strings',
// 'off') was forwarded before the backend's report of the change, and
// PostgreSQL lexed it with the setting off: the UPDATE phiguard read as a
// write of grp stored the name in clear in the encrypted column (failing
// before, in both forms). phiguard now reads a request that starts a
// protocol segment only once such a request is answered, and the report
// ends the session first.
func TestRedTeam12SettingInFunction(t *testing.T) {
	t.Parallel()
	f := newSetInFunctionFixture(t)
	t.Run("two queries", func(t *testing.T) {
		f.run(t, 2, &pgproto3.Query{String: "SELECT " + f.fn + "()"}, &pgproto3.Query{String: f.update})
	})
	t.Run("two segments", func(t *testing.T) {
		f.run(t, 2,
			&pgproto3.Parse{Query: "SELECT " + f.fn + "()"}, &pgproto3.Bind{}, &pgproto3.Execute{}, &pgproto3.Sync{},
			&pgproto3.Parse{Query: f.update}, &pgproto3.Bind{}, &pgproto3.Execute{}, &pgproto3.Sync{})
	})
	// In one Query PostgreSQL lexes every statement before it runs the
	// first.
	t.Run("one query", func(t *testing.T) {
		f.run(t, 1, &pgproto3.Query{String: "SELECT " + f.fn + "(); " + f.update})
	})
}

// TestRedTeam12SettingInFunctionSameSegment: the same, with the UPDATE
// in the function's segment (before its Sync), as a Parse or as a Query:
// PostgreSQL reports the change only before the Sync's ReadyForQuery, so
// phiguard cannot know it when it reads the statement, and the name was
// stored in clear (failing before). Such a statement holding a backslash
// or a non-ASCII byte, the only bytes the two settings lex otherwise, is
// refused (0A000) now; one without runs in the same segment.
func TestRedTeam12SettingInFunctionSameSegment(t *testing.T) {
	t.Parallel()
	f := newSetInFunctionFixture(t)
	call := []pgproto3.FrontendMessage{&pgproto3.Parse{Query: "SELECT " + f.fn + "()"}, &pgproto3.Bind{}, &pgproto3.Execute{}}
	t.Run("parse", func(t *testing.T) {
		f.run(t, 1, append(call, &pgproto3.Parse{Query: f.update}, &pgproto3.Bind{}, &pgproto3.Execute{}, &pgproto3.Sync{})...)
	})
	t.Run("query", func(t *testing.T) {
		f.run(t, 2, append(call, &pgproto3.Query{String: f.update}, &pgproto3.Sync{})...)
	})
	// A pipeline of statements without such bytes behind a function runs.
	conn := f.p.app(t)
	defer conn.Close(context.Background())
	b := &pgx.Batch{}
	b.Queue("SELECT upper(md5('x'))")
	b.Queue("SELECT count(*) FROM "+f.people[1]+" WHERE id > $1", 0)
	var n int
	br := conn.SendBatch(testContext(t), b)
	if _, err := br.Exec(); err != nil {
		t.Fatal(err)
	}
	if err := br.QueryRow().Scan(&n); err != nil || n != 10 {
		t.Fatalf("a batch behind a function: %d, %v", n, err)
	}
	if err := br.Close(); err != nil {
		t.Fatal(err)
	}
}
