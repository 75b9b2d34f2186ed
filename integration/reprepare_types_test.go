package integration

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
)

// phiguard describes a named statement whose column list or default guard
// it may have to prepare again, and whose parameter types the client left
// unspecified and never asked for, just before its first Bind
// (guard/reprepare_types.go), and keeps the answer.

// rtTypesExchange sends msgs and returns every message the client gets up
// to ReadyForQuery, each encoded again: the bytes on the client's wire.
func rtTypesExchange(t *testing.T, pc *pgconn.PgConn, msgs ...pgproto3.FrontendMessage) []byte {
	t.Helper()
	for _, m := range msgs {
		pc.Frontend().Send(m)
	}
	if err := pc.Frontend().Flush(); err != nil {
		t.Fatal(err)
	}
	var out []byte
	for {
		msg, err := pc.ReceiveMessage(testContext(t))
		if err != nil {
			t.Fatal(err)
		}
		if out, err = msg.(pgproto3.BackendMessage).Encode(out); err != nil {
			t.Fatal(err)
		}
		if _, ok := msg.(*pgproto3.ReadyForQuery); ok {
			return out
		}
	}
}

// TestReprepareTypesDescribeInvisible: the client's wire through phiguard
// is byte for byte the one directly, for a Parse without types and its
// Binds, in separate segments and in one, with and without a result, and
// for a Bind with the wrong number of parameters (the Describe before it
// answers, the Bind fails as PostgreSQL fails it).
func TestReprepareTypesDescribeInvisible(t *testing.T) {
	t.Parallel()
	tw := newTwin(t, "rptinvis", rt5DefaultCols("rptinvis-k")...)
	for i, q := range []string{"INSERT INTO %s VALUES ($1, $2, $3)", "INSERT INTO %s VALUES ($1, $2, $3) RETURNING id, note"} {
		name := fmt.Sprint("s", i)
		bind := func(id string) *pgproto3.Bind {
			return &pgproto3.Bind{PreparedStatement: name, Parameters: [][]byte{[]byte(id), []byte("n"), []byte("078-05-1120")}}
		}
		var wires [2][]byte
		for side, c := range []struct {
			pc    *pgconn.PgConn
			table string
		}{{tw.via.PgConn(), tw.enc}, {tw.dir.PgConn(), tw.plain}} {
			var w []byte
			w = append(w, rtTypesExchange(t, c.pc, &pgproto3.Parse{Name: name, Query: fmt.Sprintf(q, c.table)}, &pgproto3.Sync{})...)
			w = append(w, rtTypesExchange(t, c.pc, &pgproto3.Bind{PreparedStatement: name, Parameters: [][]byte{[]byte("1")}}, &pgproto3.Execute{}, &pgproto3.Sync{})...)
			w = append(w, rtTypesExchange(t, c.pc, bind(fmt.Sprint(10*i+2)), &pgproto3.Execute{}, &pgproto3.Sync{})...)
			w = append(w, rtTypesExchange(t, c.pc, bind(fmt.Sprint(10*i+3)), &pgproto3.Execute{}, &pgproto3.Sync{})...)
			// A new statement of the same name, Parsed and Bound in one segment.
			w = append(w, rtTypesExchange(t, c.pc, &pgproto3.Close{ObjectType: 'S', Name: name},
				&pgproto3.Parse{Name: name, Query: fmt.Sprintf(q, c.table)}, bind(fmt.Sprint(10*i+4)), &pgproto3.Execute{}, &pgproto3.Sync{})...)
			wires[side] = w
		}
		if !bytes.Equal(wires[0], wires[1]) {
			t.Errorf("%s: the client's wire through phiguard\n%q\ndirectly\n%q", q, wires[0], wires[1])
		}
	}
	rt5NoPlain(t, tw)
	tw.same(t, "SELECT * FROM %s ORDER BY 1", pgx.QueryExecModeSimpleProtocol, "statements phiguard described itself")
}

// TestReprepareTypesFirstBindAfterDDL: another session's DDL lands between
// the client's Parse (no types, no Describe) and its first Bind, whose
// guard fails; the statement phiguard prepares again at the next Bind
// declares the types PostgreSQL fixed at the Parse, as PostgreSQL keeps
// them.
func TestReprepareTypesFirstBindAfterDDL(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	tw := newTwin(t, "rptfirst", rt5DefaultCols("rptfirst-k")...)
	for _, side := range []struct {
		pc    *pgconn.PgConn
		table string
	}{{tw.via.PgConn(), tw.enc}, {tw.dir.PgConn(), tw.plain}} {
		rtTypesExchange(t, side.pc, &pgproto3.Parse{Name: "ins", Query: "INSERT INTO " + side.table + " VALUES ($1, $2, $3)"}, &pgproto3.Sync{})
	}
	for _, table := range []string{tw.enc, tw.plain} {
		if _, err := superuser(t).Exec(ctx, "ALTER TABLE "+table+" DROP COLUMN note; ALTER TABLE "+table+" ADD COLUMN note varchar(4)"); err != nil {
			t.Fatal(err)
		}
	}
	dirErr := rt8Exec(t, tw.dir, "ins", "2", rt5SSN, "y")
	var viaErr error
	for attempt := 1; attempt <= 3; attempt++ {
		viaErr = rt8Exec(t, tw.via, "ins", "2", rt5SSN, "y")
		t.Logf("through phiguard, attempt %d: %v", attempt, viaErr)
		rt5NoPlain(t, tw)
		if viaErr == nil || pgCode(viaErr) == pgCode(dirErr) {
			break
		}
	}
	if pgCode(viaErr) != pgCode(dirErr) {
		t.Errorf("after the DDL: through phiguard %v, directly %v", viaErr, dirErr)
	}
	if via, dir := rt8DescribeParams(t, tw.via), rt8DescribeParams(t, tw.dir); via != dir {
		t.Errorf("parameters %s through phiguard after the re-prepare, %s directly", via, dir)
	}
	tw.same(t, "SELECT id, ssn, note FROM %s ORDER BY 1", pgx.QueryExecModeSimpleProtocol, "first Bind after the DDL")
	if strings.Contains(fmt.Sprint(viaErr), rt5SSN) {
		t.Errorf("an error names the value: %v", viaErr)
	}
}
