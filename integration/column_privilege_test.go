package integration

import (
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

// A role granted INSERT on some columns of a table only: the guards leave
// an encrypted column it may not insert to its default and check in the
// statement that it has none (sqlrewrite/guard_slot.go), instead of
// appending it with NULL, which PostgreSQL refused (42501).

func privTwin(t *testing.T, prefix string) *twin {
	t.Helper()
	tw := newTwin(t, prefix, twinColumn{"id", "int", ""}, twinColumn{"note", "text", ""}, twinColumn{"x", "int", ""},
		twinColumn{"ssn", "text", "{mode: deterministic, key: " + prefix + "-k, type: text}"})
	for _, table := range []string{tw.enc, tw.plain} {
		if _, err := superuser(t).Exec(testContext(t), "REVOKE ALL ON "+table+" FROM "+appUser+"; GRANT SELECT ON "+table+" TO "+appUser+"; GRANT INSERT (id, note, x) ON "+table+" TO "+appUser); err != nil {
			t.Fatal(err)
		}
	}
	return tw
}

// TestColumnPrivilegeOmittedEncrypted: INSERTs that leave the encrypted
// column out run as PostgreSQL runs them, in both protocols, with the
// check carried by a quoted literal, NULL or a parameter of another
// column; one with no such value is refused (0A000), as is one outside
// READ COMMITTED; nothing is ever stored in clear.
func TestColumnPrivilegeOmittedEncrypted(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	tw := privTwin(t, "colpriv")
	// The session read its catalog before the GRANT: its first INSERT
	// may meet 42501 (the appended column), after which it reads it again.
	var err error
	for attempt := 1; attempt <= 2; attempt++ {
		if _, err = tw.via.Exec(ctx, "INSERT INTO "+tw.enc+" (id, note) VALUES (1, 'a')", pgx.QueryExecModeSimpleProtocol); err == nil {
			break
		}
		t.Logf("attempt %d: %v", attempt, err)
		if pgCode(err) != "42501" {
			break
		}
	}
	if err != nil {
		t.Fatalf("INSERT leaving the encrypted column out: %v", err)
	}
	if _, err := tw.dir.Exec(ctx, "INSERT INTO "+tw.plain+" (id, note) VALUES (1, 'a')"); err != nil {
		t.Fatal(err)
	}
	tw.exec(t, "INSERT INTO %s (id, note) VALUES (2, NULL)", pgx.QueryExecModeSimpleProtocol)
	tw.exec(t, "INSERT INTO %s (id, x) VALUES (3, '7')", pgx.QueryExecModeSimpleProtocol)
	tw.exec(t, "INSERT INTO %s VALUES (4, 'b', '8')", pgx.QueryExecModeSimpleProtocol)
	for _, mode := range []pgx.QueryExecMode{pgx.QueryExecModeExec, pgx.QueryExecModeCacheStatement, pgx.QueryExecModeDescribeExec} {
		id := 10 + int(mode)
		tw.exec(t, "INSERT INTO %s (id, note) VALUES ($1, $2)", mode, id, "p") // $2 untyped, or declared text
		if mode != pgx.QueryExecModeExec {                                     // which declares $1 and $2 int8
			tw.exec(t, "INSERT INTO %s (id, x) VALUES ($1, $2)", mode, id+100, 9)
		}
	}
	tw.same(t, "SELECT * FROM %s ORDER BY 1", pgx.QueryExecModeSimpleProtocol, "INSERTs leaving out a column the role may not insert")
	rt5NoPlain(t, tw)

	// No value can carry the check: an integer constant is typed.
	if _, err := tw.via.Exec(ctx, "INSERT INTO "+tw.enc+" (id, x) VALUES (30, 7)", pgx.QueryExecModeSimpleProtocol); pgCode(err) != "0A000" || !strings.Contains(err.Error(), "may not insert") {
		t.Errorf("INSERT with no value to carry the check: %v; want 0A000", err)
	}
	// Outside READ COMMITTED the check's snapshot may predate a default.
	for _, level := range []string{"REPEATABLE READ", "SERIALIZABLE"} {
		if _, err := tw.via.Exec(ctx, "BEGIN ISOLATION LEVEL "+level); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.via.Exec(ctx, "INSERT INTO "+tw.enc+" (id, note) VALUES (31, 'rr')", pgx.QueryExecModeSimpleProtocol); pgCode(err) != "0A000" || !strings.Contains(err.Error(), "READ COMMITTED") {
			t.Errorf("%s: %v; want 0A000 naming READ COMMITTED", level, err)
		}
		if _, err := tw.via.Exec(ctx, "ROLLBACK"); err != nil {
			t.Fatal(err)
		}
	}
	rt5NoPlain(t, tw)
}

// TestColumnPrivilegeDefaultSetElsewhere: another session gives the
// encrypted column a default after this session read its catalog; an
// INSERT leaving it out, which PostgreSQL would fill with the default in
// clear, is refused, in a REPEATABLE READ transaction whose snapshot
// predates the default and in READ COMMITTED, prepared or not; nothing
// is stored in clear. TestColumnPrivilegeDefaultRace has the default
// land after the session's last catalog read.
func TestColumnPrivilegeDefaultSetElsewhere(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	tw := privTwin(t, "colprivdef")
	for attempt := 1; attempt <= 2; attempt++ {
		if _, err := tw.via.Exec(ctx, "INSERT INTO "+tw.enc+" (id, note) VALUES (1, 'a')", pgx.QueryExecModeSimpleProtocol); err == nil {
			break
		}
	}
	if _, err := tw.via.PgConn().Prepare(ctx, "ins", "INSERT INTO "+tw.enc+" (id, note) VALUES ($1, $2)", nil); err != nil {
		t.Fatal(err)
	}
	if err := rt8Exec(t, tw.via, "ins", "2", "b"); err != nil {
		t.Fatal(err)
	}
	if _, err := tw.via.Exec(ctx, "BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT 1", pgx.QueryExecModeSimpleProtocol); err != nil {
		t.Fatal(err)
	}
	if _, err := superuser(t).Exec(ctx, "ALTER TABLE "+tw.enc+" ALTER COLUMN ssn SET DEFAULT '"+rt5SSN+"'"); err != nil {
		t.Fatal(err)
	}
	if _, err := tw.via.Exec(ctx, "INSERT INTO "+tw.enc+" (id, note) VALUES (3, 'c')", pgx.QueryExecModeSimpleProtocol); err == nil {
		t.Error("REPEATABLE READ, snapshot before the default: INSERT ran")
	}
	if _, err := tw.via.Exec(ctx, "ROLLBACK"); err != nil {
		t.Fatal(err)
	}
	rt5NoPlain(t, tw)
	// The refusal above had the session read its catalog again: the
	// default is known now (without it, the guard fails first, 40001).
	for i := range 2 {
		if _, err := tw.via.Exec(ctx, "INSERT INTO "+tw.enc+" (id, note) VALUES (4, 'd')", pgx.QueryExecModeSimpleProtocol); pgCode(err) != "0A000" {
			t.Errorf("simple INSERT %d after the default: %v; want 0A000", i+1, err)
		}
		rt5NoPlain(t, tw)
	}
	for i := range 3 {
		if err := rt8Exec(t, tw.via, "ins", "5", "e"); err == nil || (pgCode(err) != "40001" && pgCode(err) != "0A000") {
			t.Errorf("prepared INSERT %d after the default: %v; want 40001 or 0A000", i+1, err)
		}
		rt5NoPlain(t, tw)
	}
}

// TestColumnPrivilegeDefaultRace: the default lands after the session's
// catalog read, in READ COMMITTED: the check in the statement refuses it
// (40001), then the catalog read again (0A000).
func TestColumnPrivilegeDefaultRace(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	tw := privTwin(t, "colprivrace")
	for attempt := 1; attempt <= 2; attempt++ {
		if _, err := tw.via.Exec(ctx, "INSERT INTO "+tw.enc+" (id, note) VALUES (1, 'a')", pgx.QueryExecModeSimpleProtocol); err == nil {
			break
		}
	}
	if _, err := superuser(t).Exec(ctx, "ALTER TABLE "+tw.enc+" ALTER COLUMN ssn SET DEFAULT '"+rt5SSN+"'"); err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{"40001", "0A000"} {
		if _, err := tw.via.Exec(ctx, "INSERT INTO "+tw.enc+" (id, note) VALUES (2, 'b')", pgx.QueryExecModeSimpleProtocol); pgCode(err) != want {
			t.Errorf("INSERT %d after the default: %v; want %s", i+1, err, want)
		}
		rt5NoPlain(t, tw)
	}
}
