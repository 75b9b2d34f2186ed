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

// TestSuspendedPortalReexecuted: a portal over an encrypted column,
// never described, executed a few rows at a time across Syncs inside a
// transaction (as pgjdbc's setFetchSize does): every batch after each
// PortalSuspended comes back decrypted, in order.
func TestSuspendedPortalReexecuted(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	table := uniqueName("suspended")
	if _, err := superuser(t).Exec(ctx, fmt.Sprintf("CREATE TABLE %s (id int PRIMARY KEY, ssn text); GRANT ALL ON %s TO %s", table, table, appUser)); err != nil {
		t.Fatal(err)
	}
	p := startProxy(t, proxyOptions{protect: protection(t, fmt.Sprintf(`
version: 1
tables:
  public.%s:
    columns:
      ssn: {mode: randomized, key: suspended-ssn, type: text}
`, table))})
	conn := p.app(t)
	for i := 1; i <= 7; i++ {
		if _, err := conn.Exec(ctx, fmt.Sprintf("INSERT INTO %s (id, ssn) VALUES (%d, 'ssn-%d')", table, i, i)); err != nil {
			t.Fatal(err)
		}
	}
	pc := conn.PgConn()
	fe := pc.Frontend()
	fe.Send(&pgproto3.Query{String: "BEGIN"})
	if err := drainToReady(pc); err != nil {
		t.Fatal(err)
	}
	fe.Send(&pgproto3.Parse{Query: "SELECT ssn FROM " + table + " ORDER BY id"})
	fe.Send(&pgproto3.Bind{DestinationPortal: "cur"})
	var got []string
	for _, max := range []uint32{3, 3, 0} {
		fe.Send(&pgproto3.Execute{Portal: "cur", MaxRows: max})
		fe.Send(&pgproto3.Sync{})
		rows, suspended := readBatch(t, pc)
		if want := max == 3; suspended != want {
			t.Fatalf("batch of %d: suspended %v, want %v", max, suspended, want)
		}
		got = append(got, rows...)
	}
	want := []string{"ssn-1", "ssn-2", "ssn-3", "ssn-4", "ssn-5", "ssn-6", "ssn-7"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("rows %q, want %q", got, want)
	}
	fe.Send(&pgproto3.Query{String: "COMMIT"})
	if err := drainToReady(pc); err != nil {
		t.Fatal(err)
	}
}

// readBatch reads one Execute's rows up to ReadyForQuery and whether the
// portal was suspended.
func readBatch(t *testing.T, pc *pgconn.PgConn) (rows []string, suspended bool) {
	t.Helper()
	if err := pc.Frontend().Flush(); err != nil {
		t.Fatal(err)
	}
	for {
		msg, err := pc.ReceiveMessage(testContext(t))
		if err != nil {
			t.Fatal(err)
		}
		switch m := msg.(type) {
		case *pgproto3.DataRow:
			rows = append(rows, string(m.Values[0]))
		case *pgproto3.PortalSuspended:
			suspended = true
		case *pgproto3.ErrorResponse:
			t.Fatalf("%s %s", m.Code, m.Message)
		case *pgproto3.ReadyForQuery:
			return rows, suspended
		}
	}
}
