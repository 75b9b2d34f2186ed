package integration

import (
	"testing"

	"github.com/jackc/pgx/v5/pgproto3"
)

// TestRedTeam3FetchProtocolPortal: a portal bound through the extended
// protocol is also a cursor SQL can FETCH from. Red team 2 made an Execute
// of a portal bound before a reload a recheck (onExecute), and a FETCH of
// a SQL cursor declared before it a refusal (staleCursor); but a FETCH
// naming a protocol portal finds no cursor entry (noteCursors: "not
// declared through phiguard", counted as PHI), and staleCursor passes a
// name it does not know. dr_alice binds "SELECT id FROM clinical_notes" to
// portal p in a transaction, a reload sets her clinical_notes rule to
// false, and FETCH ALL FROM p serves the rows of the old rewrite.
func TestRedTeam3FetchProtocolPortal(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	fx := accessFixture(t)
	p := startAccessProxy(t, fx)
	conn := p.as(t, "dr_alice")
	pc := conn.PgConn()
	if _, err := pc.Exec(ctx, "BEGIN").ReadAll(); err != nil {
		t.Fatal(err)
	}
	if _, err := segment(ctx, pc, &pgproto3.Parse{Name: "s", Query: "SELECT id FROM clinical_notes"},
		&pgproto3.Bind{DestinationPortal: "p", PreparedStatement: "s"}, &pgproto3.Describe{ObjectType: 'P', Name: "p"}); err != nil {
		t.Fatal(err)
	}
	reloadNotesFalse(t, p, fx)
	if rows, err := multiRows(ctx, conn, "FETCH ALL FROM p"); err == nil && len(rows) > 0 {
		t.Errorf("after a reload set dr_alice's clinical_notes rule to false, FETCH from a portal bound before it returned %d notes", len(rows))
	}
	pc.Exec(ctx, "ROLLBACK").ReadAll()
}
