package search_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/phiguard/phiguard/cellcipher"
	"github.com/phiguard/phiguard/internal/pgcluster"
	"github.com/phiguard/phiguard/keys"
	"github.com/phiguard/phiguard/policy"
	"github.com/phiguard/phiguard/search"
)

const testPolicy = `
version: 1
tables:
  public.people:
    columns:
      last:  {mode: randomized, key: k-pii, type: text, search: [order, match], search_key_version: 1}
      birth: {mode: randomized, key: k-pii, type: date, search: [equality, order], search_key_version: 1}
`

type env struct {
	super, owner *pgx.Conn
	pol          *policy.Policy
	cipher       *cellcipher.Cipher
}

// setup starts PostgreSQL 15 with a NOSUPERUSER login that owns
// public.people and may create in the database and in schema public,
// nothing more: the privileges of a table owner on managed PostgreSQL.
func setup(t *testing.T, ctx context.Context) *env {
	t.Helper()
	if testing.Short() {
		t.Skip("starts PostgreSQL")
	}
	cluster, err := pgcluster.Start(ctx, pgcluster.Options{})
	if err != nil {
		t.Fatalf("start PostgreSQL: %v", err)
	}
	t.Cleanup(func() { cluster.Stop() })
	super, err := pgx.Connect(ctx, cluster.URL(cluster.Superuser, cluster.Password, "postgres"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { super.Close(context.Background()) })
	for _, s := range []string{
		"CREATE ROLE app_owner LOGIN PASSWORD 'owner-pw' NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS",
		"GRANT CREATE ON DATABASE postgres TO app_owner",
		// An index is a relation in its table's schema: CREATE INDEX asks
		// for CREATE there (which whoever created the table had).
		"GRANT CREATE ON SCHEMA public TO app_owner",
		`CREATE TABLE public.people (id int PRIMARY KEY, last text COLLATE "C", birth text)`,
		"ALTER TABLE public.people OWNER TO app_owner",
	} {
		if _, err := super.Exec(ctx, s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
	owner, err := pgx.Connect(ctx, cluster.URL("app_owner", "owner-pw", "postgres"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { owner.Close(context.Background()) })
	var su bool
	if err := owner.QueryRow(ctx, "SELECT rolsuper FROM pg_roles WHERE rolname = current_user").Scan(&su); err != nil || su {
		t.Fatalf("the owner is a superuser (%v, %v)", su, err)
	}
	pol := mustParse(t, testPolicy)
	dk, err := keys.GenerateDataKey("k-pii", 1, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	kr, err := keys.NewKeyring([]keys.DataKey{dk})
	if err != nil {
		t.Fatal(err)
	}
	return &env{super: super, owner: owner, pol: pol, cipher: &cellcipher.Cipher{Keyring: kr}}
}

func mustParse(t *testing.T, src string) *policy.Policy {
	t.Helper()
	pol, err := policy.Parse([]byte(src))
	if err == nil {
		err = pol.Validate()
	}
	if err != nil {
		t.Fatal(err)
	}
	return pol
}

// cell seals a value of a column of public.people with its terms.
func (e *env) cell(t *testing.T, column, v string) string {
	col, _ := e.pol.Column("public", "people", column)
	canon, err := cellcipher.Canonical(col, 0, []byte(v))
	if err != nil {
		t.Fatal(err)
	}
	c, err := e.cipher.SealWithTerms(context.Background(), col, nil, canon, nil)
	if err != nil {
		t.Fatal(err)
	}
	return string(c)
}

// v1 seals a value without terms (a format-1 cell).
func (e *env) v1(t *testing.T, column, v string) string {
	col, _ := e.pol.Column("public", "people", column)
	c, err := e.cipher.SealColumnKey(col, []byte(v))
	if err != nil {
		t.Fatal(err)
	}
	return string(c)
}

func count(t *testing.T, ctx context.Context, conn *pgx.Conn, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := conn.QueryRow(ctx, sql, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

// TestInstallAsTableOwner: install as a NOSUPERUSER table owner creates
// the schema, the four functions, the record and the five term indexes
// of the policy (valid), and no operator class; run again it changes
// nothing; --check refuses while a value lacks terms, then holds: a
// format-1 cell or plaintext written straight to the database fails on
// the CHECK; uninstall leaves nothing of phiguard's.
func TestInstallAsTableOwner(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	e := setup(t, ctx)
	for i, v := range []struct{ last, birth string }{{"Gleason", "1980-02-29"}, {"O'Brien", "1975-12-31"}, {"ab", "2001-01-01"}} {
		if _, err := e.owner.Exec(ctx, "INSERT INTO people VALUES ($1, $2, $3)", i+1, e.cell(t, "last", v.last), e.cell(t, "birth", v.birth)); err != nil {
			t.Fatal(err)
		}
	}
	opclasses := count(t, ctx, e.super, "SELECT count(*) FROM pg_opclass")

	var out bytes.Buffer
	if err := search.Install(ctx, e.owner, search.Options{Policy: e.pol, Out: &out}); err != nil {
		t.Fatalf("install as the table owner: %v\n%s", err, out.String())
	}
	if n := count(t, ctx, e.super, "SELECT count(*) FROM pg_opclass"); n != opclasses {
		t.Errorf("install created %d operator classes", n-opclasses)
	}
	if n := count(t, ctx, e.super, "SELECT count(*) FROM pg_opclass c JOIN pg_roles r ON r.oid = c.opcowner WHERE r.rolname = 'app_owner'"); n != 0 {
		t.Errorf("the owner owns %d operator classes", n)
	}
	if n := count(t, ctx, e.super, `SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
		WHERE n.nspname = 'phiguard' AND p.provolatile = 'i' AND p.prolang = (SELECT oid FROM pg_language WHERE lanname = 'sql')`); n != 4 {
		t.Errorf("%d immutable SQL functions in schema phiguard, want 4", n)
	}
	wantIx := []string{"phiguard_people_birth_e", "phiguard_people_birth_o", "phiguard_people_last_m", "phiguard_people_last_o", "phiguard_people_last_p"}
	rows, _ := e.super.Query(ctx, `SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
		WHERE i.indrelid = 'public.people'::regclass AND i.indisvalid AND c.relname LIKE 'phiguard%' ORDER BY 1`)
	got, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil || strings.Join(got, ",") != strings.Join(wantIx, ",") {
		t.Errorf("valid term indexes %v (%v), want %v", got, err, wantIx)
	}
	if n := count(t, ctx, e.super, "SELECT count(*) FROM phiguard.search_objects WHERE collation_name IS NOT DISTINCT FROM (CASE WHEN column_name = 'last' THEN 'C' END)"); n != 5 {
		t.Errorf("search_objects records %d of 5 indexes with their collation", n)
	}
	// The indexes serve a query on the terms (the planner matches the
	// inlined expression).
	if _, err := e.super.Exec(ctx, "SET enable_seqscan = off"); err != nil {
		t.Fatal(err)
	}
	rows, _ = e.super.Query(ctx, "EXPLAIN SELECT id FROM people WHERE phiguard.term_match_v1(last) @> ARRAY['x'::bytea]")
	plan, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil || !strings.Contains(strings.Join(plan, "\n"), "Bitmap Index Scan on phiguard_people_last_m") {
		t.Errorf("match query plan does not use the GIN index: %q (%v)", plan, err)
	}

	// Again: everything exists.
	out.Reset()
	if err := search.Install(ctx, e.owner, search.Options{Policy: e.pol, Out: &out}); err != nil || strings.Contains(out.String(), "CREATE INDEX") ||
		strings.Contains(out.String(), "CREATE FUNCTION") {
		t.Errorf("second install: %v\n%s", err, out.String())
	}

	// The CHECK: refused while a format-1 cell is there.
	if _, err := e.owner.Exec(ctx, "INSERT INTO people VALUES (10, $1, NULL)", e.v1(t, "last", "Smith")); err != nil {
		t.Fatal(err)
	}
	err = search.Install(ctx, e.owner, search.Options{Policy: e.pol, Check: true})
	if err == nil || !strings.Contains(err.Error(), "public.people.last: 1 values carry no terms") {
		t.Fatalf("CHECK with a format-1 cell present: %v", err)
	}
	if _, err := e.owner.Exec(ctx, "DELETE FROM people WHERE id = 10"); err != nil {
		t.Fatal(err)
	}
	if err := search.Install(ctx, e.owner, search.Options{Policy: e.pol, Check: true}); err != nil {
		t.Fatalf("CHECK: %v", err)
	}
	if n := count(t, ctx, e.super, `SELECT count(*) FROM pg_constraint WHERE conrelid = 'public.people'::regclass AND contype = 'c'
		AND convalidated AND conname IN ('phiguard_last_terms', 'phiguard_birth_terms')`); n != 2 {
		t.Errorf("%d validated CHECKs, want 2", n)
	}
	for _, w := range []struct{ what, last, birth string }{
		{"a format-1 cell", e.v1(t, "last", "Smith"), e.cell(t, "birth", "1990-01-01")},
		{"plaintext", "Smith", e.cell(t, "birth", "1990-01-01")},
		{"plaintext date", e.cell(t, "last", "Smith"), "1990-01-01"},
		{"a format-1 date cell", e.cell(t, "last", "Smith"), e.v1(t, "birth", "1990-01-01")},
	} {
		_, err := e.super.Exec(ctx, "INSERT INTO people VALUES (20, $1, $2)", w.last, w.birth)
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || pe.Code != "23514" || !strings.HasPrefix(pe.ConstraintName, "phiguard_") {
			t.Errorf("%s written around phiguard: %v, want a check violation of phiguard's CHECK", w.what, err)
		}
		_, err = e.super.Exec(ctx, "UPDATE people SET last = $1, birth = $2 WHERE id = 1", w.last, w.birth)
		if !errors.As(err, &pe) || pe.Code != "23514" {
			t.Errorf("%s updated around phiguard: %v, want a check violation", w.what, err)
		}
	}
	if _, err := e.super.Exec(ctx, "INSERT INTO people VALUES (21, $1, NULL)", e.cell(t, "last", "Smith")); err != nil {
		t.Errorf("a cell with terms and a NULL: %v", err)
	}

	// Uninstall: nothing left.
	if err := search.Uninstall(ctx, e.owner, search.Options{Policy: e.pol}); err != nil {
		t.Fatalf("uninstall: %v", err)
	}
	for what, q := range map[string]string{
		"schema":      "SELECT count(*) FROM pg_namespace WHERE nspname = 'phiguard'",
		"functions":   "SELECT count(*) FROM pg_proc WHERE proname LIKE 'term\\_%\\_v1'",
		"indexes":     "SELECT count(*) FROM pg_class WHERE relname LIKE 'phiguard\\_%'",
		"constraints": "SELECT count(*) FROM pg_constraint WHERE conname LIKE 'phiguard\\_%'",
	} {
		if n := count(t, ctx, e.super, q); n != 0 {
			t.Errorf("after uninstall: %d %s left", n, what)
		}
	}
	if _, err := e.super.Exec(ctx, "INSERT INTO people VALUES (30, 'Smith', '1990-01-01')"); err != nil {
		t.Errorf("after uninstall the table still refuses plaintext: %v", err)
	}
}

// TestInstallOneColumnAndRefusals: uninstall of one column drops its
// objects only; a column under an ICU collation is refused by name; a
// server older than 14 is refused (not testable here: PostgreSQL 15).
func TestInstallOneColumnAndRefusals(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	e := setup(t, ctx)
	if err := search.Install(ctx, e.owner, search.Options{Policy: e.pol}); err != nil {
		t.Fatal(err)
	}
	if err := search.Uninstall(ctx, e.owner, search.Options{Policy: e.pol, Table: "people", Column: "last"}); err != nil {
		t.Fatal(err)
	}
	rows, _ := e.super.Query(ctx, "SELECT relname FROM pg_class WHERE relname LIKE 'phiguard\\_%' ORDER BY 1")
	got, _ := pgx.CollectRows(rows, pgx.RowTo[string])
	if strings.Join(got, ",") != "phiguard_people_birth_e,phiguard_people_birth_o" {
		t.Errorf("after uninstalling last: %v", got)
	}
	if n := count(t, ctx, e.super, "SELECT count(*) FROM phiguard.search_objects"); n != 2 {
		t.Errorf("search_objects holds %d records, want birth's 2", n)
	}

	if _, err := e.super.Exec(ctx, `CREATE COLLATION icu_en (provider = icu, locale = 'en-US')`); err != nil {
		t.Fatalf("this PostgreSQL has no ICU: %v", err)
	}
	if _, err := e.super.Exec(ctx, `ALTER TABLE people ALTER COLUMN last TYPE text COLLATE icu_en`); err != nil {
		t.Fatal(err)
	}
	err := search.Install(ctx, e.owner, search.Options{Policy: e.pol})
	if err == nil || !strings.Contains(err.Error(), "public.people.last") || !strings.Contains(err.Error(), "ICU") {
		t.Errorf("install over an ICU column: %v", err)
	}
	if _, err := e.super.Exec(ctx, `ALTER TABLE people ALTER COLUMN last TYPE text COLLATE "C"`); err != nil {
		t.Fatal(err)
	}

	// A column not yet converted to text, and one missing, are refused
	// by name before anything is built for them.
	other := mustParse(t, `
version: 1
tables:
  public.other:
    columns:
      d: {mode: randomized, key: k-pii, type: date, search: [order], search_key_version: 1}
  public.missing:
    columns:
      d: {mode: randomized, key: k-pii, type: date, search: [order], search_key_version: 1}
`)
	if _, err := e.owner.Exec(ctx, "CREATE TABLE public.other (d date)"); err != nil {
		t.Fatal(err)
	}
	for table, want := range map[string]string{"other": "public.other.d is date in the database, not text", "missing": "public.missing.d does not exist"} {
		err := search.Install(ctx, e.owner, search.Options{Policy: other, Table: table})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("install of %s: %v, want %q", table, err, want)
		}
	}
	if n := count(t, ctx, e.super, "SELECT count(*) FROM pg_class WHERE relname LIKE 'phiguard\\_other%'"); n != 0 {
		t.Errorf("%d indexes built on the refused table", n)
	}

	// A name longer than PostgreSQL's 63 bytes is cut with a hash.
	long := strings.Repeat("x", 70)
	col := &policy.ProtectedColumn{Name: long, Table: &policy.ProtectedTable{Name: policy.TableName{Schema: "public", Name: long}}}
	a, b := search.IndexName(col, "o"), search.IndexName(col, "m")
	if len(a) > 63 || len(b) > 63 || a == b {
		t.Errorf("long names: %q, %q", a, b)
	}
}
