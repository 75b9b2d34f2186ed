package integration

import (
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgproto3"
)

// TestRedTeamCursorPortalExecute: a cursor declared in SQL is a portal the
// extended protocol can Execute by name. phiguard knows only portals it saw
// bound (rowFields: s.portals[name] == nil means "no rules to apply"), so
// the rows of `Execute c` pass without the role's column rules: research
// reads the real patient ids it must only see as pseudonyms.
func TestRedTeamCursorPortalExecute(t *testing.T) {
	t.Parallel()
	fx := accessFixture(t)
	p := startAccessProxy(t, fx)
	ctx := testContext(t)
	conn := p.as(t, "researcher")
	for _, q := range []string{"BEGIN", "DECLARE c CURSOR FOR SELECT patient FROM conditions"} {
		if _, err := conn.Exec(ctx, q, pgx.QueryExecModeSimpleProtocol); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	// FETCH in SQL shows pseudonyms, as it should.
	rows, err := queryRows(ctx, conn, simpleMode, "FETCH 1 FROM c")
	if err != nil || len(rows) != 1 || !strings.HasPrefix(rows[0][0], "psn_") {
		t.Fatalf("FETCH: %v %v", rows, err)
	}
	pc := conn.PgConn()
	fe := pc.Frontend()
	fe.Send(&pgproto3.Execute{Portal: "c", MaxRows: 3})
	fe.Send(&pgproto3.Sync{})
	if err := fe.Flush(); err != nil {
		t.Fatal(err)
	}
	var got []string
	for {
		msg, err := pc.ReceiveMessage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		switch m := msg.(type) {
		case *pgproto3.DataRow:
			got = append(got, string(m.Values[0]))
		case *pgproto3.ErrorResponse:
			t.Logf("refused: %s %s", m.Code, m.Message)
		}
		if _, ok := msg.(*pgproto3.ReadyForQuery); ok {
			break
		}
	}
	for _, v := range got {
		if _, real := fx.patients[v]; real {
			t.Fatalf("Execute of a SQL cursor's portal returned a real patient id to research (%d rows, none pseudonymized)", len(got))
		}
	}
}
