package integration

import (
	"encoding/binary"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
)

// TestDeclaredParameterTypes (issue 12, "the client's declared types are
// honoured"): a parameter the client declared in Parse keeps that type in
// ParameterDescription, as PostgreSQL reports it for the plaintext table
// (pgjdbc declares varchar for a String and fails with "Can't change
// resolved type" when told text), and a binary value of a narrower
// integer type than the column's (psycopg 3 binds 42 as binary int2) is
// stored as PostgreSQL would store it.
func TestDeclaredParameterTypes(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	tw := newTwin(t, "declared",
		twinColumn{"id", "int PRIMARY KEY", ""},
		twinColumn{"ssn", "text", "{mode: deterministic, key: declared-ssn, type: text}"},
		twinColumn{"visits", "integer", "{mode: randomized, key: declared-pii, type: integer}"})
	int2 := binary.BigEndian.AppendUint16(nil, 42)
	int8 := binary.BigEndian.AppendUint64(nil, 7)
	run := func(pc *pgconn.PgConn, table string) string {
		fe := pc.Frontend()
		// $2 declared varchar for a text column, $3 int2 and $4 int8 for
		// an integer column, sent in binary.
		fe.Send(&pgproto3.Parse{Name: "ins", Query: "INSERT INTO " + table + " (id, ssn, visits) VALUES ($1, $2, $3), ($1 + 1, $2, $4)",
			ParameterOIDs: []uint32{23, 1043, 21, 20}})
		fe.Send(&pgproto3.Describe{ObjectType: 'S', Name: "ins"})
		fe.Send(&pgproto3.Bind{PreparedStatement: "ins", ParameterFormatCodes: []int16{0, 0, 1, 1},
			Parameters: [][]byte{[]byte("1"), []byte("078-05-1120"), int2, int8}})
		fe.Send(&pgproto3.Execute{})
		fe.Send(&pgproto3.Sync{})
		if err := fe.Flush(); err != nil {
			t.Fatal(err)
		}
		var out string
		for {
			msg, err := pc.ReceiveMessage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			switch m := msg.(type) {
			case *pgproto3.ParameterDescription:
				out += fmt.Sprintf("params %v\n", m.ParameterOIDs)
			case *pgproto3.ErrorResponse:
				out += fmt.Sprintf("error %s %s\n", m.Code, m.Message)
			case *pgproto3.CommandComplete:
				out += fmt.Sprintf("%s\n", m.CommandTag)
			case *pgproto3.ReadyForQuery:
				return out
			}
		}
	}
	want := run(tw.dir.PgConn(), tw.plain)
	got := run(tw.via.PgConn(), tw.enc)
	if got != want {
		t.Fatalf("through phiguard:\n%sdirectly:\n%s", got, want)
	}
	tw.same(t, "SELECT id, ssn, visits FROM %s ORDER BY id", pgx.QueryExecModeSimpleProtocol, "stored")
}
