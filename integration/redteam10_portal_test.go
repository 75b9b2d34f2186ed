package integration

import (
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
)

// TestRedTeam10AggregatePortalExecutedAgain: a portal runs to its end
// once; PostgreSQL answers a second Execute of it with no row and
// SELECT 0. phiguard computes min/max/count over an encrypted column
// (or under a WHERE it evaluates) itself and sent its one row over no
// input at every CommandComplete: the second Execute got count 0 (or
// NULL) and SELECT 1, a different answer. A new Bind of the same name
// runs again.
func TestRedTeam10AggregatePortalExecutedAgain(t *testing.T) {
	t.Parallel()
	f := newSortFixture(t, 40, nil)
	stmts := []string{
		`SELECT count(*) FROM %[1]s WHERE name < 'M'`,
		`SELECT max(name), min(born), count(DISTINCT score) FROM %[1]s`,
		`SELECT id FROM %[1]s ORDER BY name, id LIMIT 3`,
	}
	for _, q := range stmts {
		var out [2]string
		for side, c := range []*pgconn.PgConn{f.dir.PgConn(), f.via.PgConn()} {
			sql := f.sql(q, side)
			// Twice in one pipeline, and again in the next one (inside a
			// transaction block, where the named portal lives on).
			out[side] = wireRun(t, c, &pgproto3.Query{String: "BEGIN"}) +
				wireRun(t, c, &pgproto3.Parse{Name: "rt10", Query: sql}, &pgproto3.Bind{DestinationPortal: "p", PreparedStatement: "rt10"},
					&pgproto3.Execute{Portal: "p"}, &pgproto3.Execute{Portal: "p"}, &pgproto3.Sync{}) +
				wireRun(t, c, &pgproto3.Execute{Portal: "p"}, &pgproto3.Sync{}) +
				// A new Bind of the same portal name runs again.
				wireRun(t, c, &pgproto3.Close{ObjectType: 'P', Name: "p"}, &pgproto3.Bind{DestinationPortal: "p", PreparedStatement: "rt10"}, &pgproto3.Execute{Portal: "p"}, &pgproto3.Sync{}) +
				wireRun(t, c, &pgproto3.Query{String: "ROLLBACK"}, &pgproto3.Close{ObjectType: 'S', Name: "rt10"}, &pgproto3.Sync{})
		}
		if out[0] != out[1] {
			t.Errorf("%s: through phiguard\n%s\ndirectly\n%s", q, out[1], out[0])
		}
	}
}

// wireRun sends messages as they are and reads the answer up to the
// last ReadyForQuery, one line per message.
func wireRun(t *testing.T, pc *pgconn.PgConn, msgs ...pgproto3.FrontendMessage) string {
	t.Helper()
	fe := pc.Frontend()
	ready := 0
	for _, m := range msgs {
		fe.Send(m)
		switch m.(type) {
		case *pgproto3.Sync, *pgproto3.Query:
			ready++
		}
	}
	if err := fe.Flush(); err != nil {
		t.Fatal(err)
	}
	out := ""
	for ready > 0 {
		msg, err := fe.Receive()
		if err != nil {
			t.Fatal(err)
		}
		switch m := msg.(type) {
		case *pgproto3.DataRow:
			out += "D"
			for _, v := range m.Values {
				out += fmt.Sprintf(" %q", v)
			}
			out += "\n"
		case *pgproto3.CommandComplete:
			out += "C " + string(m.CommandTag) + "\n"
		case *pgproto3.ErrorResponse:
			out += "E " + m.Code + " " + m.Message + "\n"
		case *pgproto3.ReadyForQuery:
			out += "Z " + string(m.TxStatus) + "\n"
			ready--
		default:
			out += fmt.Sprintf("%T\n", m)
		}
	}
	return out
}

// TestRedTeam10PortalDescribeSkipped: phiguard describes a portal before
// its first Execute (to know which result columns to decrypt) and
// remembered it as described even when the backend skipped that Describe
// and Execute after an earlier error in the pipeline. The portal, bound
// before a savepoint, survives ROLLBACK TO SAVEPOINT unrun, and its next
// Execute was refused with XX000 ("cannot tell whether this result holds
// encrypted columns") where PostgreSQL returns its rows.
func TestRedTeam10PortalDescribeSkipped(t *testing.T) {
	t.Parallel()
	f := newSortFixture(t, 20, nil)
	for _, q := range []string{
		`SELECT id, name, born FROM %[1]s WHERE id < 6 ORDER BY id`,
		`SELECT id, name FROM %[1]s ORDER BY name, id LIMIT 4`,
	} {
		var out [2]string
		for side, c := range []*pgconn.PgConn{f.dir.PgConn(), f.via.PgConn()} {
			out[side] = wireRun(t, c, &pgproto3.Query{String: "BEGIN"}) +
				wireRun(t, c, &pgproto3.Parse{Name: "rt10d", Query: f.sql(q, side)}, &pgproto3.Bind{DestinationPortal: "q", PreparedStatement: "rt10d"}, &pgproto3.Sync{}) +
				wireRun(t, c, &pgproto3.Query{String: "SAVEPOINT a"}) +
				wireRun(t, c, &pgproto3.Parse{Query: "SELECT 1/0"}, &pgproto3.Bind{}, &pgproto3.Execute{}, &pgproto3.Execute{Portal: "q"}, &pgproto3.Sync{}) +
				wireRun(t, c, &pgproto3.Query{String: "ROLLBACK TO a"}) +
				wireRun(t, c, &pgproto3.Execute{Portal: "q"}, &pgproto3.Sync{}) +
				wireRun(t, c, &pgproto3.Query{String: "ROLLBACK"}, &pgproto3.Close{ObjectType: 'S', Name: "rt10d"}, &pgproto3.Sync{})
		}
		if out[0] != out[1] {
			t.Errorf("%s: through phiguard\n%s\ndirectly\n%s", q, out[1], out[0])
		}
	}
}
