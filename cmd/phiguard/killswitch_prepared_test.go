package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/phiguard/phiguard/keys"
)

// What a session made while the keys were held and uses after they were
// withdrawn: a prepared statement whose literals were sealed at its
// Parse, a portal whose parameters were sealed at its Bind. The database
// would compare or store those cells without phiguard holding the keys;
// the kill switch promises no statement starting after the withdrawal
// does either.

// TestKillSwitchPreparedBeforeWithdrawal: statements prepared and portals
// bound before the master key file is removed are refused with 58000
// after it, by Bind, Execute and SQL FETCH alike, and write nothing.
func TestKillSwitchPreparedBeforeWithdrawal(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	srv, masterFile := startLocalKillSwitch(t, ctx, killSwitchSchema, killSwitchPolicy)
	conn := srv.connect(t, ctx)
	mustExec(t, ctx, conn, "INSERT INTO people (id, ssn, first) VALUES ($1, $2, $3)", 1, "078-05-1120", "Hilda")

	// Literals sealed at Parse.
	if _, err := conn.Prepare(ctx, "by_ssn", "SELECT id FROM people WHERE ssn = '078-05-1120'"); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Prepare(ctx, "add_row", "INSERT INTO people (id, ssn, first) VALUES (3, '078-05-1123', 'Olga')"); err != nil {
		t.Fatal(err)
	}
	var id int
	if err := conn.QueryRow(ctx, "by_ssn").Scan(&id); err != nil || id != 1 {
		t.Fatalf("by_ssn before the withdrawal: %d, %v", id, err)
	}
	// Parameters sealed at Bind, into portals left open in a transaction.
	fetched := bindPortal(t, ctx, srv, "SELECT id FROM people WHERE ssn = $1", "078-05-1120")
	executed := bindPortal(t, ctx, srv, "SELECT id FROM people WHERE ssn = $1", "078-05-1120")
	inserted := bindPortal(t, ctx, srv, "INSERT INTO people (id, ssn, first) VALUES (4, $1, 'Pia')", "078-05-1124")

	master, err := os.ReadFile(masterFile)
	if err != nil {
		t.Fatal(err)
	}
	removed := time.Now()
	if err := os.Remove(masterFile); err != nil {
		t.Fatal(err)
	}
	waitWithdrawn(t, ctx, conn, removed, killSwitchBound)

	err = conn.QueryRow(ctx, "by_ssn").Scan(&id)
	expectKeyRefusal(t, err)
	_, err = conn.Exec(ctx, "add_row")
	expectKeyRefusal(t, err)
	expectKeyRefusal(t, fetched.run(t, &pgproto3.Query{String: "FETCH ALL FROM p"}))
	expectKeyRefusal(t, executed.run(t, &pgproto3.Execute{Portal: "p"}, &pgproto3.Sync{}))
	expectKeyRefusal(t, inserted.run(t, &pgproto3.Execute{Portal: "p"}, &pgproto3.Sync{}))
	inserted.run(t, &pgproto3.Query{String: "COMMIT"})

	var n int
	if err := srv.direct(t, ctx).QueryRow(ctx, "SELECT count(*) FROM people WHERE id IN (3, 4)").Scan(&n); err != nil || n != 0 {
		t.Fatalf("a statement prepared before the withdrawal wrote %d rows after it (%v)", n, err)
	}

	// Given back, the keys serve the statements prepared before again.
	if err := os.WriteFile(masterFile, master, 0o600); err != nil {
		t.Fatal(err)
	}
	waitServing(t, ctx, conn)
	if err := conn.QueryRow(ctx, "by_ssn").Scan(&id); err != nil || id != 1 {
		t.Fatalf("by_ssn after the keys were restored: %d, %v", id, err)
	}
}

// rawSession is a session through phiguard driven message by message, to
// keep a portal open across the withdrawal.
type rawSession struct {
	hc *pgconn.HijackedConn
}

// bindPortal opens a transaction and binds portal "p" of sql with one
// text parameter, described so that phiguard knows its result.
func bindPortal(t *testing.T, ctx context.Context, srv *served, sql, param string) *rawSession {
	t.Helper()
	pc, err := pgconn.Connect(ctx, fmt.Sprintf("postgres://%s:%s@%s/postgres?sslmode=disable", srv.pg.Superuser, srv.pg.Password, srv.addr))
	if err != nil {
		t.Fatal(err)
	}
	hc, err := pc.Hijack()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { hc.Conn.Close() })
	r := &rawSession{hc: hc}
	if err := r.run(t, &pgproto3.Query{String: "BEGIN"}); err != nil {
		t.Fatal(err)
	}
	err = r.run(t, &pgproto3.Parse{Name: "s", Query: sql}, &pgproto3.Describe{ObjectType: 'S', Name: "s"},
		&pgproto3.Bind{DestinationPortal: "p", PreparedStatement: "s", Parameters: [][]byte{[]byte(param)}},
		&pgproto3.Describe{ObjectType: 'P', Name: "p"}, &pgproto3.Sync{})
	if err != nil {
		t.Fatalf("bind %q: %v", sql, err)
	}
	return r
}

// run sends msgs and reads up to ReadyForQuery; it returns the first
// error the server sent.
func (r *rawSession) run(t *testing.T, msgs ...pgproto3.FrontendMessage) error {
	t.Helper()
	for _, m := range msgs {
		r.hc.Frontend.Send(m)
	}
	if err := r.hc.Frontend.Flush(); err != nil {
		t.Fatal(err)
	}
	r.hc.Conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	var first error
	for {
		msg, err := r.hc.Frontend.Receive()
		if err != nil {
			t.Fatal(err)
		}
		switch m := msg.(type) {
		case *pgproto3.ErrorResponse:
			if first == nil {
				first = pgconn.ErrorResponseToPgError(m)
			}
		case *pgproto3.DataRow:
			if first == nil {
				first = fmt.Errorf("a row: %q", strings.Join(rowStrings(m), ","))
			}
		case *pgproto3.ReadyForQuery:
			return first
		}
	}
}

func rowStrings(m *pgproto3.DataRow) []string {
	var out []string
	for _, v := range m.Values {
		out = append(out, string(v))
	}
	return out
}

// TestKillSwitchPreparedBeforeRotation: a rotation picked up while
// serving changes what a statement prepared before would have been
// planned with: the equality candidates of its compared parameters (one
// live version at its Parse, two now) and the cells of its literals
// (sealed under a version that `keys retire` may remove next). Such a
// statement must not silently miss the rows sealed under the old version,
// nor write cells under it: it is refused once with 0A000 and works when
// prepared again.
func TestKillSwitchPreparedBeforeRotation(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	srv, _ := startLocalKillSwitch(t, ctx, killSwitchSchema, killSwitchPolicy)
	conn := srv.connect(t, ctx)
	mustExec(t, ctx, conn, "INSERT INTO people (id, ssn, first) VALUES ($1, $2, $3)", 1, "078-05-1120", "Hilda")
	const byParam = "SELECT id FROM people WHERE ssn = $1"
	const addRow = "INSERT INTO people (id, ssn, first) VALUES (3, '078-05-1123', 'Olga')"
	for name, sql := range map[string]string{"by_param": byParam, "add_row": addRow} {
		if _, err := conn.Prepare(ctx, name, sql); err != nil {
			t.Fatal(err)
		}
	}
	if code, _, errOut := runKeysArgs("rotate", "--config", srv.configFile, "--key", "people-ssn"); code != 0 {
		t.Fatalf("keys rotate: exit %d: %s", code, errOut)
	}
	deadline := time.Now().Add(killSwitchBound)
	for id := 10; storedColumnVersion(t, ctx, srv, "ssn", id-1) != 2; id++ {
		mustExec(t, ctx, conn, "INSERT INTO people (id, ssn, first) VALUES ($1, $2, $3)", id, "078-05-1121", "Ida")
		if time.Now().After(deadline) {
			t.Fatalf("the rotation was not picked up within %s", killSwitchBound)
		}
		time.Sleep(50 * time.Millisecond)
	}

	var id int
	err := conn.QueryRow(ctx, "by_param", "078-05-1120").Scan(&id)
	expectPrepareAgain(t, "by_param", err)
	_, err = conn.Exec(ctx, "add_row")
	expectPrepareAgain(t, "add_row", err)
	for name, sql := range map[string]string{"by_param": byParam, "add_row": addRow} {
		if err := conn.Deallocate(ctx, name); err != nil {
			t.Fatal(err)
		}
		if _, err := conn.Prepare(ctx, name, sql); err != nil {
			t.Fatal(err)
		}
	}
	if err := conn.QueryRow(ctx, "by_param", "078-05-1120").Scan(&id); err != nil || id != 1 {
		t.Fatalf("by_param prepared again: %d, %v", id, err)
	}
	mustExec(t, ctx, conn, "add_row")
	if v := storedColumnVersion(t, ctx, srv, "ssn", 3); v != 2 {
		t.Errorf("add_row prepared again wrote a cell of version %d, want 2", v)
	}
}

// expectPrepareAgain: 0A000 asking to prepare the statement again.
func expectPrepareAgain(t *testing.T, what string, err error) {
	t.Helper()
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "0A000" || !strings.Contains(pe.Message, "prepare it again") {
		t.Errorf("%s after the rotation: %v, want 0A000 asking to prepare it again", what, err)
	}
}

// storedColumnVersion is the key version of a cell at rest, 0 when the
// row is not there.
func storedColumnVersion(t *testing.T, ctx context.Context, srv *served, column string, id int) uint32 {
	t.Helper()
	var cell string
	err := srv.direct(t, ctx).QueryRow(ctx, "SELECT "+column+" FROM people WHERE id = $1", id).Scan(&cell)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	info, err := keys.Inspect([]byte(cell))
	if err != nil {
		t.Fatalf("row %d: %v", id, err)
	}
	return info.KeyVersion
}
