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
	plain, enc := uniqueName("declared_plain"), uniqueName("declared_enc")
	su := superuser(t)
	for table, kinds := range map[string][2]string{plain: {"text", "integer"}, enc: {"text", "text"}} {
		if _, err := su.Exec(ctx, fmt.Sprintf("CREATE TABLE %s (id int PRIMARY KEY, ssn %s, visits %s); GRANT ALL ON %s TO %s",
			table, kinds[0], kinds[1], table, appUser)); err != nil {
			t.Fatal(err)
		}
	}
	p := startProxy(t, proxyOptions{protect: protection(t, fmt.Sprintf(`
version: 1
tables:
  public.%s:
    columns:
      ssn:    {mode: deterministic, key: declared-ssn, type: text}
      visits: {mode: randomized,    key: declared-pii, type: integer}
`, enc))})
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
	want := run(direct(t).PgConn(), plain)
	got := run(p.app(t).PgConn(), enc)
	if got != want {
		t.Fatalf("through phiguard:\n%sdirectly:\n%s", got, want)
	}
	const read = "SELECT id, ssn, visits FROM %s ORDER BY id"
	if g, w := tableText(t, p.app(t), fmt.Sprintf(read, enc), pgx.QueryExecModeSimpleProtocol), tableText(t, direct(t), fmt.Sprintf(read, plain), pgx.QueryExecModeSimpleProtocol); g != w {
		t.Fatalf("stored through phiguard:\n%sdirectly:\n%s", g, w)
	}
}
