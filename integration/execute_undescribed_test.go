package integration

import (
	"context"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
)

// TestExecuteWithoutDescribe (issue 12, "the proxy always knows a
// result's shape"): a statement executed without a Describe of itself or
// of its portal is still decrypted. pgjdbc, past prepareThreshold, binds
// and executes its server-prepared statement without Describe (it
// described only the portal, once); other clients never describe at all.
func TestExecuteWithoutDescribe(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	table := uniqueName("undescribed")
	if _, err := superuser(t).Exec(ctx, fmt.Sprintf("CREATE TABLE %s (id int PRIMARY KEY, ssn text); GRANT ALL ON %s TO %s", table, table, appUser)); err != nil {
		t.Fatal(err)
	}
	p := startProxy(t, proxyOptions{protect: protection(t, fmt.Sprintf(`
version: 1
tables:
  public.%s:
    columns:
      ssn: {mode: deterministic, key: undescribed-ssn, type: text}
`, table))})
	conn := p.app(t)
	if _, err := conn.Exec(ctx, "INSERT INTO "+table+" (id, ssn) VALUES (1, '078-05-1120')"); err != nil {
		t.Fatal(err)
	}
	pc := conn.PgConn()
	sql := "SELECT ssn FROM " + table + " WHERE id = $1"
	one := [][]byte{[]byte("1")}

	// pgjdbc's 5th execution: Parse S_1, Bind, Describe portal, Execute.
	fe := pc.Frontend()
	fe.Send(&pgproto3.Parse{Name: "S_1", Query: sql})
	fe.Send(&pgproto3.Bind{PreparedStatement: "S_1", Parameters: one})
	fe.Send(&pgproto3.Describe{ObjectType: 'P'})
	fe.Send(&pgproto3.Execute{})
	fe.Send(&pgproto3.Sync{})
	expectSSN(t, pc, "5th execution, portal described")
	// Its 6th: Bind and Execute, no Describe.
	fe.Send(&pgproto3.Bind{PreparedStatement: "S_1", Parameters: one})
	fe.Send(&pgproto3.Execute{})
	fe.Send(&pgproto3.Sync{})
	expectSSN(t, pc, "6th execution, no Describe")

	// A statement never described at all, executed twice.
	fe.Send(&pgproto3.Parse{Name: "never", Query: sql})
	fe.Send(&pgproto3.Sync{})
	if err := drainToReady(pc); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		fe.Send(&pgproto3.Bind{PreparedStatement: "never", Parameters: one})
		fe.Send(&pgproto3.Execute{})
		fe.Send(&pgproto3.Sync{})
		expectSSN(t, pc, fmt.Sprintf("never described, execution %d", i+1))
	}
}

// expectSSN reads a pipeline's answers up to ReadyForQuery: exactly one
// DataRow holding the plaintext, and no row description the client did
// not ask for.
func expectSSN(t *testing.T, pc *pgconn.PgConn, what string) {
	t.Helper()
	if err := pc.Frontend().Flush(); err != nil {
		t.Fatal(err)
	}
	var rows []string
	for {
		msg, err := pc.ReceiveMessage(testContext(t))
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		switch m := msg.(type) {
		case *pgproto3.DataRow:
			rows = append(rows, string(m.Values[0]))
		case *pgproto3.ErrorResponse:
			t.Fatalf("%s: %s %s", what, m.Code, m.Message)
		case *pgproto3.ReadyForQuery:
			if len(rows) != 1 || rows[0] != "078-05-1120" {
				t.Fatalf("%s: rows %q", what, rows)
			}
			return
		}
	}
}

func drainToReady(pc *pgconn.PgConn) error {
	if err := pc.Frontend().Flush(); err != nil {
		return err
	}
	for {
		msg, err := pc.ReceiveMessage(context.Background())
		if err != nil {
			return err
		}
		if _, ok := msg.(*pgproto3.ReadyForQuery); ok {
			return nil
		}
	}
}
