package integration

import (
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Red team: a Parse that names an existing prepared statement fails in
// PostgreSQL (42P05, the old statement stays), but phiguard has already
// replaced what it knows of the name (protectParse stores clientStmts
// before the backend answers). The next Bind/Execute of the name runs the
// OLD statement under the NEW statement's plan: its parameters are not
// encrypted, and its audit reservation and record describe the new text.

// TestRedTeamReparsePlaintextWrite: plaintext reaches an encrypted column.
func TestRedTeamReparsePlaintextWrite(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	table, prot := ssnTable(t, "rtw")
	p := startProxy(t, proxyOptions{protect: prot})
	pc := p.app(t).PgConn()
	if _, err := pc.Prepare(ctx, "w", "INSERT INTO "+table+" (id, ssn) VALUES ($1, $2)", nil); err != nil {
		t.Fatal(err)
	}
	// Same name, harmless text, no protected parameter: PostgreSQL refuses it.
	_, err := pc.Prepare(ctx, "w", "SELECT $1::text, $2::text", nil)
	wantPgError(t, err, "42P05")
	res := pc.ExecPrepared(ctx, "w", [][]byte{[]byte("1"), []byte("999-88-7777")}, nil, nil).Read()
	if res.Err != nil {
		t.Logf("execute refused: %v", res.Err)
	}
	var stored string
	if err := superuser(t).QueryRow(ctx, "SELECT coalesce((SELECT ssn FROM "+table+" WHERE id = 1), '~phg~none')").Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(stored, "~phg~") {
		t.Fatalf("an encrypted column holds plaintext (%d chars) after a re-Parse of the statement's name", len(stored))
	}
}

// TestRedTeamReparseUnaudited: a statement prepared while the trail worked
// reads PHI after it broke, once its name is re-Parsed with harmless text.
func TestRedTeamReparseUnaudited(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	table, prot := ssnTable(t, "rta")
	a, sink := breakableAuditor(t)
	p := startProxy(t, proxyOptions{auditor: a, protect: prot})
	conn := p.app(t)
	if _, err := conn.Exec(ctx, "INSERT INTO "+table+" (id, ssn) VALUES ($1, $2)", 1, "111-22-3333"); err != nil {
		t.Fatal(err)
	}
	pc := conn.PgConn()
	if _, err := pc.Prepare(ctx, "r", "SELECT ssn FROM "+table+" WHERE id = $1", nil); err != nil {
		t.Fatal(err)
	}
	sink.set(true)
	waitFor(t, 10*time.Second, "the auditor to notice the broken sink", func() bool {
		conn.Exec(ctx, "SELECT 1", pgx.QueryExecModeSimpleProtocol)
		return a.Healthy() != nil
	})
	res := pc.ExecPrepared(ctx, "r", [][]byte{[]byte("1")}, nil, nil).Read()
	wantPgError(t, res.Err, "58030") // the fixed hole 3 holds for the plain path
	_, err := pc.Prepare(ctx, "r", "SELECT $1::int", nil)
	wantPgError(t, err, "42P05")
	res = pc.ExecPrepared(ctx, "r", [][]byte{[]byte("1")}, nil, nil).Read()
	if res.Err == nil {
		t.Fatalf("PHI read while the audit trail is down, with no record: %d rows", len(res.Rows))
	}
	wantPgError(t, res.Err, "58030")
}
