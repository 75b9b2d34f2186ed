package integration

import (
	"encoding/hex"
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgproto3"
)

// rt6Wire sends msgs on conn and describes what comes back until as many
// ReadyForQuery as there are Syncs: message types, RowDescription names
// and formats, DataRow cells (hex), tags and error codes.
func rt6Wire(t *testing.T, conn *pgx.Conn, msgs ...pgproto3.FrontendMessage) string {
	t.Helper()
	pc := conn.PgConn()
	fe := pc.Frontend()
	syncs := 0
	for _, m := range msgs {
		fe.Send(m)
		if _, ok := m.(*pgproto3.Sync); ok {
			syncs++
		}
	}
	if err := fe.Flush(); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for syncs > 0 {
		msg, err := pc.ReceiveMessage(testContext(t))
		if err != nil {
			t.Fatal(err)
		}
		switch m := msg.(type) {
		case *pgproto3.RowDescription:
			b.WriteString("RowDescription")
			for _, f := range m.Fields {
				fmt.Fprintf(&b, " %s/%d/%d", f.Name, f.DataTypeOID, f.Format)
			}
		case *pgproto3.DataRow:
			b.WriteString("DataRow")
			for _, v := range m.Values {
				if v == nil {
					b.WriteString(" NULL")
				} else {
					b.WriteString(" " + hex.EncodeToString(v))
				}
			}
		case *pgproto3.CommandComplete:
			b.WriteString("CommandComplete " + string(m.CommandTag))
		case *pgproto3.ErrorResponse:
			b.WriteString("ErrorResponse " + m.Code)
		case *pgproto3.ReadyForQuery:
			syncs--
			b.WriteString("ReadyForQuery")
		case *pgproto3.ParameterDescription:
			fmt.Fprintf(&b, "ParameterDescription %v", m.ParameterOIDs)
		default:
			fmt.Fprintf(&b, "%T", msg)
		}
		b.WriteString("\n")
	}
	return b.String()
}

// TestRedTeam6Wire: the extended protocol message by message — Describe
// of the statement before Bind and of the portal after it, per-column
// result formats (the hidden columns come after them), a wrong number of
// formats, a portal executed twice, a statement re-bound with other
// parameters: the same messages as PostgreSQL's.
func TestRedTeam6Wire(t *testing.T) {
	t.Parallel()
	f := newSortFixture(t, 40, nil)
	const q = "SELECT id, born, name, score FROM %[1]s WHERE grp <> $1 ORDER BY born DESC NULLS LAST, name, id LIMIT $2"
	withFormats := func(b *pgproto3.Bind, codes ...int16) *pgproto3.Bind {
		b.ResultFormatCodes = codes
		return b
	}
	script := func(side int) []pgproto3.FrontendMessage {
		return []pgproto3.FrontendMessage{
			parse("rt6s", f.sql(q, side)),
			&pgproto3.Describe{ObjectType: 'S', Name: "rt6s"},
			withFormats(bind("rt6p", "rt6s", "1", "7"), 1, 0, 1, 0),
			&pgproto3.Describe{ObjectType: 'P', Name: "rt6p"},
			execute("rt6p", 0),
			execute("rt6p", 0), // the portal is done: no rows
			sync,
			withFormats(bind("", "rt6s", "2", "3"), 0, 1, 1, 1),
			execute("", 0),
			sync,
			withFormats(bind("", "rt6s", "2", "3"), 1),
			&pgproto3.Describe{ObjectType: 'P'},
			execute("", 0),
			sync,
			withFormats(bind("", "rt6s", "2", "3"), 1, 0), // wrong count
			execute("", 0),
			sync,
			parse("", f.sql("SELECT id, name FROM %[1]s ORDER BY name, id LIMIT 4", side)),
			bind("", ""),
			execute("", 0),
			parse("", f.sql("SELECT id, name FROM %[1]s ORDER BY name DESC, id LIMIT 4", side)),
			withFormats(bind("", ""), 1, 1),
			execute("", 0),
			sync,
		}
	}
	want := rt6Wire(t, f.dir, script(0)...)
	got := rt6Wire(t, f.via, script(1)...)
	if got != want {
		t.Fatalf("through phiguard\n%s\ndirectly\n%s", got, want)
	}
}
