package integration

import (
	"encoding/binary"
	"fmt"
	"math"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
)

// TestDeclaredNumberTypes (issue 12): a number declared as another number
// type than its encrypted column's is assigned as PostgreSQL assigns it:
// a double precision 42.5 into an integer is 42, a numeric into a real
// rounds to the nearest real, a double precision too large for a real is
// 22003; in text and binary, with the ParameterDescription PostgreSQL
// gives.
func TestDeclaredNumberTypes(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	tw := newTwin(t, "declnum",
		twinColumn{"id", "int PRIMARY KEY", ""},
		twinColumn{"n", "integer", "{mode: randomized, key: declnum-pii, type: integer}"},
		twinColumn{"r", "real", "{mode: randomized, key: declnum-pii, type: real}"},
		twinColumn{"d", "double precision", "{mode: randomized, key: declnum-pii, type: double precision}"},
		twinColumn{"m", "numeric(10,2)", "{mode: randomized, key: declnum-pii, type: \"numeric(10,2)\"}"})
	f8 := func(f float64) []byte { return binary.BigEndian.AppendUint64(nil, math.Float64bits(f)) }
	f4 := func(f float32) []byte { return binary.BigEndian.AppendUint32(nil, math.Float32bits(f)) }
	cases := []struct {
		oids    []uint32
		formats []int16
		params  [][]byte
	}{
		{[]uint32{701, 1700, 700, 701}, []int16{1, 0, 1, 1}, [][]byte{f8(42.5), []byte("0.1"), f4(0.1), f8(1.0 / 3)}},
		{[]uint32{1700, 701, 1700, 20}, []int16{0, 0, 0, 0}, [][]byte{[]byte("-7.5"), []byte("1e-3"), []byte("2.5"), []byte("123456")}},
		{[]uint32{700, 701, 23, 700}, []int16{1, 1, 1, 0}, [][]byte{f4(-3.5), f8(1e39), binary.BigEndian.AppendUint32(nil, 7), []byte("1.125")}},
		{[]uint32{701, 700, 701, 701}, []int16{1, 0, 1, 1}, [][]byte{f8(-2.5), []byte("1"), f8(math.NaN()), f8(12.345)}},
	}
	run := func(pc *pgconn.PgConn, table string) string {
		fe := pc.Frontend()
		var out string
		for i, c := range cases {
			name := fmt.Sprintf("s%d", i)
			fe.Send(&pgproto3.Parse{Name: name, Query: fmt.Sprintf("INSERT INTO %s (id, n, r, d, m) VALUES (%d, $1, $2, $3, $4)", table, i+1), ParameterOIDs: c.oids})
			fe.Send(&pgproto3.Describe{ObjectType: 'S', Name: name})
			fe.Send(&pgproto3.Bind{PreparedStatement: name, ParameterFormatCodes: c.formats, Parameters: c.params})
			fe.Send(&pgproto3.Execute{})
			fe.Send(&pgproto3.Sync{})
			if err := fe.Flush(); err != nil {
				t.Fatal(err)
			}
			for done := false; !done; {
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
					done = true
				}
			}
		}
		return out
	}
	want := run(tw.dir.PgConn(), tw.plain)
	if got := run(tw.via.PgConn(), tw.enc); got != want {
		t.Fatalf("through phiguard:\n%sdirectly:\n%s", got, want)
	}
	tw.same(t, "SELECT id, n, r, d, m FROM %s ORDER BY id", pgx.QueryExecModeSimpleProtocol, "stored")
	if n := queryInt(t, tw.dir, "SELECT count(*) FROM "+tw.plain); n != 3 {
		t.Fatalf("only %d rows stored directly: the cases test too little", n)
	}
}
