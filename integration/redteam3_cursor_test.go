package integration

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/jackc/pgx/v5"
)

// TestRedTeam3CursorMapDesync: guard/cursors.go noteCursors records a
// DECLARE (and judges a FETCH) when the Query or Parse carrying it passes
// through the client pump, not when PostgreSQL runs it. A DECLARE that
// never runs (a Parse never executed, or a DECLARE PostgreSQL rejects
// because the cursor exists, 42P03) still overwrites the session's entry
// for the cursor name, while PostgreSQL keeps the old cursor. The entry
// now says "declared under the current policy", so staleCursor lets the
// FETCH of a cursor declared under the old policy through: after a reload
// set dr_alice's clinical_notes rule to false, she still reads the notes
// rows the old rule let through. A cursor phiguard forgot (a CLOSE that
// never runs, or CLOSE "*", taken for CLOSE ALL) is never stale either.
func TestRedTeam3CursorMapDesync(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	fx := accessFixture(t)
	p := startAccessProxy(t, fx)
	ways := map[string]func(conn *pgx.Conn, name string) error{
		// PostgreSQL refuses it (42P03) and keeps the old cursor.
		"failed re-DECLARE": func(conn *pgx.Conn, name string) error {
			_, err := multiRows(ctx, conn, "DECLARE "+name+" CURSOR WITH HOLD FOR SELECT 1")
			return expectErr(err)
		},
		// Parsed (and described) only: never bound nor executed.
		"Parse-only DECLARE": func(conn *pgx.Conn, name string) error {
			_, err := conn.Prepare(ctx, "s_"+name, "DECLARE "+name+" CURSOR WITH HOLD FOR SELECT 1")
			return err
		},
		// The DECLARE is after a failing statement of the same Query.
		"DECLARE after a failing statement": func(conn *pgx.Conn, name string) error {
			_, err := multiRows(ctx, conn, "SELECT 1/0; DECLARE "+name+" CURSOR WITH HOLD FOR SELECT 1")
			return expectErr(err)
		},
	}
	// A cursor phiguard forgot is read as PHI but never as stale: a CLOSE
	// that never runs forgets it.
	ways["Parse-only CLOSE"] = func(conn *pgx.Conn, name string) error {
		_, err := conn.Prepare(ctx, "close_"+name, "CLOSE "+name)
		return err
	}
	// CLOSE "*" closes the cursor named * (here: none, 34000), and phiguard
	// takes it for CLOSE ALL.
	ways[`CLOSE "*"`] = func(conn *pgx.Conn, name string) error {
		_, err := multiRows(ctx, conn, `CLOSE "*"`)
		return expectErr(err)
	}
	// Control: without a desync the FETCH is refused (staleCursor).
	ways["control (nothing)"] = func(*pgx.Conn, string) error { return nil }
	conns := map[string]*pgx.Conn{}
	for way := range ways {
		conn := p.as(t, "dr_alice")
		conns[way] = conn
		if _, err := multiRows(ctx, conn, "DECLARE c CURSOR WITH HOLD FOR SELECT id FROM clinical_notes"); err != nil {
			t.Fatal(err)
		}
	}
	reloadNotesFalse(t, p, fx)
	for way, desync := range ways {
		conn := conns[way]
		if err := desync(conn, "c"); err != nil {
			t.Fatalf("%s: %v", way, err)
		}
		rows, err := multiRows(ctx, conn, "FETCH ALL FROM c")
		if way == "control (nothing)" && err == nil {
			t.Fatalf("control: the FETCH ran without a desync (%d rows)", len(rows))
		}
		if err == nil && len(rows) > 0 {
			t.Errorf("%s: after the reload set dr_alice's clinical_notes rule to false, FETCH from a cursor declared before it returned %d notes", way, len(rows))
		}
	}
}

// expectErr turns the error a step must raise into success.
func expectErr(err error) error {
	if err == nil {
		return errString("the step was expected to fail in PostgreSQL")
	}
	return nil
}

type errString string

func (e errString) Error() string { return string(e) }

// reloadNotesFalse reloads the fixture's policy with the clinicians'
// clinical_notes rule set to false.
func reloadNotesFalse(t *testing.T, p *phiguard, fx *accessEHR) {
	t.Helper()
	y := bytes.Replace(fx.policyYAML, []byte(`clinical_notes: "patient IN (SELECT ct.patient FROM care_teams ct WHERE ct.clinician = current_user)"`), []byte(`clinical_notes: "false"`), 1)
	path := filepath.Join(t.TempDir(), "policy.yml")
	if err := os.WriteFile(path, y, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := p.srv.ReloadPolicyFile(path); err != nil {
		t.Fatalf("reload: %v", err)
	}
}
