package sqlrewrite

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/phiguard/phiguard/internal/pgcluster"
)

// startPostgres starts a throwaway PostgreSQL for a test that runs the
// rewriter's output, and connects to it as the superuser; both end with
// the test.
func startPostgres(t *testing.T) (context.Context, *pgcluster.Cluster, *pgx.Conn) {
	t.Helper()
	if testing.Short() {
		t.Skip("starts PostgreSQL")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	pg, err := pgcluster.Start(ctx, pgcluster.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pg.Stop() })
	admin, err := pgx.Connect(ctx, pg.URL(pg.Superuser, pg.Password, "postgres"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Close(context.Background()) })
	return ctx, pg, admin
}

// TestAccessRewritesRunInPostgreSQL runs the rewriter's output against a
// real PostgreSQL, as the clinician's database user, and compares the rows
// with a hand-written filter: the rewrites must be valid SQL, filter exactly
// the rows the rule allows, and never evaluate a user's condition on a
// hidden row.
func TestAccessRewritesRunInPostgreSQL(t *testing.T) {
	ctx, pg, admin := startPostgres(t)
	var err error
	setup := `
CREATE TABLE patients (id uuid PRIMARY KEY, ssn text, first text, city text);
CREATE INDEX ON patients (ssn);
CREATE TABLE care_teams (clinician text, patient uuid);
CREATE TABLE notes (id integer PRIMARY KEY, patient uuid, body text);
CREATE TABLE providers (id uuid, name text);
CREATE ROLE dr_alice LOGIN PASSWORD 'alice-pw';
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO dr_alice;
INSERT INTO patients SELECT ('00000000-0000-0000-0000-' || lpad(i::text, 12, '0'))::uuid, 'ssn-' || i, 'first-' || i, 'city-' || i FROM generate_series(1, 20) i;
INSERT INTO care_teams SELECT 'dr_alice', id FROM patients WHERE ssn IN ('ssn-1', 'ssn-2', 'ssn-3');
INSERT INTO notes SELECT i, id, 'note-' || i FROM patients p, generate_series(1, 2) g(j), LATERAL (SELECT (substr(p.ssn, 5)::int * 10 + j) AS i) x;
`
	if _, err := admin.Exec(ctx, setup); err != nil {
		t.Fatal(err)
	}
	alice, err := pgx.Connect(ctx, pg.URL("dr_alice", "alice-pw", "postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer alice.Close(ctx)
	pol := loadAccessPolicy(t)
	role, _ := pol.Role("clinician")
	run := func(sql string, args ...any) ([]string, error) {
		acc := AccessFor(sql, Analyze(sql), pol, role, newFakeObjects(), false)
		if acc.Refusal != nil {
			return nil, acc.Refusal
		}
		rows, err := alice.Query(ctx, acc.SQL, append([]any{pgx.QueryExecModeSimpleProtocol}, args...)...)
		if err != nil {
			return nil, err
		}
		var out []string
		for rows.Next() {
			vals, _ := rows.Values()
			out = append(out, fmt.Sprint(vals...))
		}
		return out, rows.Err()
	}
	want := func(sql string) []string {
		rows, err := admin.Query(ctx, sql)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for rows.Next() {
			vals, _ := rows.Values()
			out = append(out, fmt.Sprint(vals...))
		}
		return out
	}
	same := func(name, sql, filter string, args ...any) {
		t.Helper()
		got, err := run(sql, args...)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			return
		}
		exp := want(filter)
		slices.Sort(got)
		slices.Sort(exp)
		if !slices.Equal(got, exp) {
			t.Errorf("%s: got %v, want %v", name, got, exp)
		}
	}
	mine := "(SELECT patient FROM care_teams WHERE clinician = 'dr_alice')"
	same("all patients", "SELECT ssn FROM patients", "SELECT ssn FROM patients WHERE id IN "+mine)
	same("by ssn", "SELECT city FROM patients WHERE ssn = 'ssn-2'", "SELECT city FROM patients WHERE ssn = 'ssn-2'")
	same("hidden ssn", "SELECT city FROM patients WHERE ssn = 'ssn-9'", "SELECT 1 WHERE false")
	same("join", "SELECT n.body FROM notes n JOIN patients p ON p.id = n.patient", "SELECT body FROM notes WHERE patient IN "+mine)
	same("subquery depth", "SELECT count(*) FROM (SELECT * FROM (SELECT id FROM Patients) a) b", "SELECT count(*) FROM patients WHERE id IN "+mine)
	same("union", "SELECT ssn FROM patients UNION ALL SELECT body FROM notes", "SELECT ssn FROM patients WHERE id IN "+mine+" UNION ALL SELECT body FROM notes WHERE patient IN "+mine)
	same("scalar subquery", "SELECT (SELECT count(*) FROM patients)", "SELECT count(*) FROM patients WHERE id IN "+mine)
	same("exists", "SELECT name FROM providers WHERE EXISTS (SELECT 1 FROM patients)", "SELECT name FROM providers")
	same("recursive cte", "WITH RECURSIVE r(n, id) AS (SELECT 1, id FROM patients UNION ALL SELECT n+1, id FROM r WHERE n < 2) SELECT count(*) FROM r",
		"SELECT 2 * count(*) FROM patients WHERE id IN "+mine)
	// The oracle: a condition that divides by zero on one hidden row must
	// not run on it.
	same("oracle", "SELECT ssn FROM patients WHERE 1/(CASE WHEN ssn = 'ssn-9' THEN 0 ELSE 1 END) = 1", "SELECT ssn FROM patients WHERE id IN "+mine)
	if _, err := run("UPDATE patients SET city = 'x' WHERE 1/(CASE WHEN ssn = 'ssn-9' THEN 0 ELSE 1 END) = 1 RETURNING ssn"); err != nil {
		t.Errorf("UPDATE oracle: %v", err)
	}
	if got := want("SELECT count(*) FROM patients WHERE city = 'x'"); got[0] != "3" {
		t.Errorf("UPDATE reached %s rows, want the 3 of the care team", got[0])
	}
	if _, err := run("DELETE FROM notes WHERE id = 91"); err != nil {
		t.Fatal(err)
	}
	if got := want("SELECT count(*) FROM notes WHERE id = 91"); got[0] != "1" {
		t.Error("DELETE removed a note of a patient outside the care team")
	}
	// Write checks: a note for one's own patient goes in, one for another
	// patient is refused with the rule's marker.
	if _, err := run("INSERT INTO notes (id, patient, body) VALUES (1001, $1, 'ok')", "00000000-0000-0000-0000-000000000001"); err != nil {
		t.Errorf("insert for own patient: %v", err)
	}
	_, err = run("INSERT INTO notes (id, patient, body) VALUES (1002, $1, 'no')", "00000000-0000-0000-0000-000000000009")
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		t.Fatalf("insert for another patient: %v", err)
	}
	if r, ok := WriteCheckRefusal(pgErr.Message); !ok || r.Code != "42501" {
		t.Errorf("insert for another patient failed with %q, not the rule's check", pgErr.Message)
	}
	_, err = run("INSERT INTO notes (id, patient, body) SELECT 2000 + id, patient, body FROM notes UNION ALL SELECT 3000, '00000000-0000-0000-0000-000000000009', 'x'")
	if !errors.As(err, &pgErr) || !strings.Contains(pgErr.Message, "phiguard_rowcheck_") {
		t.Errorf("INSERT ... SELECT of a hidden patient's row: %v", err)
	}
	if got := want("SELECT count(*) FROM notes WHERE id >= 1002"); got[0] != "0" {
		t.Errorf("a refused insert left %s rows", got[0])
	}
}
