package integration

import (
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

// Red team 7: the default guard (sqlrewrite/default_guard.go) against a
// default set by another session after this session read its catalog.

// rt7Setup creates a table (create holds {t} for its name) with ssn
// encrypted, and a proxy protecting it.
func rt7Setup(t *testing.T, prefix, create string) (*phiguard, *twin, string) {
	t.Helper()
	table := uniqueName(prefix)
	su := superuser(t)
	if _, err := su.Exec(testContext(t), strings.ReplaceAll(create, "{t}", table)+"; GRANT ALL ON "+table+" TO "+appUser); err != nil {
		t.Fatal(err)
	}
	p := startProxy(t, proxyOptions{protect: protection(t, "version: 1\ntables:\n  public."+table+":\n    columns:\n      ssn: {mode: deterministic, key: "+prefix+"-k, type: text}\n")})
	return p, &twin{enc: table, dir: direct(t)}, table
}

// rt7StaleRun runs sql ({t}: the table) on a session that read its catalog
// before ddl ran straight to the database, then undoes ddl with undo. It
// returns the statement's error; the caller asserts on it.
func rt7StaleRun(t *testing.T, p *phiguard, table, ddl, undo, sql string, mode pgx.QueryExecMode) error {
	t.Helper()
	ctx := testContext(t)
	su := superuser(t)
	conn := p.app(t)
	if _, err := conn.Exec(ctx, "SELECT 1"); err != nil {
		t.Fatal(err)
	}
	if _, err := su.Exec(ctx, strings.ReplaceAll(ddl, "{t}", table)); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if _, err := su.Exec(ctx, strings.ReplaceAll(undo, "{t}", table)); err != nil {
			t.Fatal(err)
		}
	}()
	_, err := conn.Exec(ctx, strings.ReplaceAll(sql, "{t}", table), mode)
	return err
}

// TestRedTeam7StaleDefaultShapes: statement shapes the guard must hold
// for: each either fails or stores no plaintext default.
func TestRedTeam7StaleDefaultShapes(t *testing.T) {
	t.Parallel()
	p, tw, table := rt7Setup(t, "rt7shape", "CREATE TABLE {t} (id int PRIMARY KEY, note text, ssn text); INSERT INTO {t} VALUES (0, 'zero', NULL)")
	ddl := "ALTER TABLE {t} ALTER COLUMN ssn SET DEFAULT '" + rt5SSN + "'"
	undo := "ALTER TABLE {t} ALTER COLUMN ssn DROP DEFAULT; DELETE FROM {t} WHERE id <> 0"
	shapes := []string{
		"INSERT INTO public.{t} (id, note) VALUES (1, 'x')",
		"INSERT INTO public . {t} (id, note) VALUES (1, 'x')",
		"INSERT INTO \"public\".\"{t}\" (id, note) VALUES (1, 'x')",
		"INSERT INTO {t} AS x (id, note) VALUES (1, 'x')",
		"INSERT INTO {t} (id, note) VALUES (1, 'x'), (2, 'y')",
		"INSERT INTO {t} (id, note, ssn) VALUES (1, 'x', NULL), (2, 'y', DEFAULT)",
		"INSERT INTO {t} (id, note) OVERRIDING USER VALUE VALUES (1, 'x')",
		"WITH c AS (SELECT 1) INSERT INTO {t} (id, note) VALUES (1, 'x')",
		"INSERT INTO {t} (id, note) VALUES (0, 'x') ON CONFLICT (id) DO UPDATE SET ssn = DEFAULT",
		"INSERT INTO {t} (id, note, ssn) VALUES (0, 'x', NULL) ON CONFLICT (id) DO UPDATE SET ssn = DEFAULT",
		"UPDATE ONLY {t} SET ssn = DEFAULT WHERE id = 0",
		"UPDATE public.{t} AS x SET ssn = DEFAULT WHERE x.id = 0",
		"/* c */ INSERT /* c */ INTO /* c */ {t} /* c */ (id, note) VALUES (1, 'x') -- c",
	}
	for _, mode := range []pgx.QueryExecMode{pgx.QueryExecModeSimpleProtocol, pgx.QueryExecModeExec} {
		for _, q := range shapes {
			err := rt7StaleRun(t, p, table, ddl, "SELECT 1", q, mode)
			if code := pgCode(err); code != "40001" {
				t.Errorf("%v %s, the default set elsewhere: %v; want 40001", mode, q, err)
			}
			rt5NoPlain(t, tw)
			if _, err := superuser(t).Exec(testContext(t), strings.ReplaceAll(undo, "{t}", table)); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// TestRedTeam7NameNotResolved: the guard looked its table up by the
// relation's text as written (to_regclass); a comment inside a qualified
// name or a Unicode-escaped identifier made that text resolve to nothing,
// and the guard then passed whatever the catalog held: the second row's
// DEFAULT stored the default set elsewhere in clear.
func TestRedTeam7NameNotResolved(t *testing.T) {
	t.Parallel()
	p, tw, table := rt7Setup(t, "rt7name", "CREATE TABLE {t} (id int, note text, ssn text)")
	ddl := "ALTER TABLE {t} ALTER COLUMN ssn SET DEFAULT '" + rt5SSN + "'"
	for _, mode := range []pgx.QueryExecMode{pgx.QueryExecModeSimpleProtocol, pgx.QueryExecModeExec} {
		for _, q := range []string{
			"INSERT INTO public/**/.{t} (id, ssn) VALUES (1, NULL), (2, DEFAULT)",
			"INSERT INTO U&\"{t}\" (id, ssn) VALUES (1, NULL), (2, DEFAULT)",
			"INSERT INTO public./**/{t} (id, ssn) VALUES (1, NULL), (2, DEFAULT)",
		} {
			err := rt7StaleRun(t, p, table, ddl, "ALTER TABLE {t} ALTER COLUMN ssn DROP DEFAULT", q, mode)
			if code := pgCode(err); code != "40001" {
				t.Errorf("%v %s, the default set elsewhere: %v; want 40001", mode, q, err)
			}
			rt5NoPlain(t, tw)
		}
	}
}

// TestRedTeam7DomainDefault: a column whose type is a domain takes the
// domain's default when left out or given DEFAULT; neither the catalog
// (atthasdef) nor the guard looked at it, so the domain's default was
// stored in clear, even by a session whose catalog is fresh.
func TestRedTeam7DomainDefault(t *testing.T) {
	t.Parallel()
	dom := uniqueName("rt7dom")
	p, tw, table := rt7Setup(t, "rt7dom", "CREATE DOMAIN "+dom+" AS text; CREATE TABLE {t} (id int, note text, ssn "+dom+")")
	ctx := testContext(t)
	if _, err := p.app(t).Exec(ctx, "INSERT INTO "+table+" (id, note) VALUES (0, 'x')"); err != nil {
		t.Fatalf("INSERT leaving ssn out, no default: %v", err)
	}
	ddl := "ALTER DOMAIN " + dom + " SET DEFAULT '" + rt5SSN + "'"
	undo := "ALTER DOMAIN " + dom + " DROP DEFAULT"
	for _, mode := range []pgx.QueryExecMode{pgx.QueryExecModeSimpleProtocol, pgx.QueryExecModeExec} {
		for _, q := range []string{
			"INSERT INTO {t} (id, ssn) VALUES (1, NULL), (2, DEFAULT)",
			"INSERT INTO {t} (id, note) VALUES (1, 'x')",
		} {
			err := rt7StaleRun(t, p, table, ddl, undo, q, mode)
			if code := pgCode(err); code != "40001" {
				t.Errorf("%v %s, a domain default set elsewhere: %v; want 40001", mode, q, err)
			}
			rt5NoPlain(t, tw)
		}
	}
	// A session whose catalog is read after the domain got its default.
	if _, err := superuser(t).Exec(ctx, ddl); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{"INSERT INTO {t} (id, note) SELECT 3, 'z'", "INSERT INTO {t} (id, ssn) VALUES (1, NULL), (2, DEFAULT)"} {
		_, err := p.app(t).Exec(ctx, strings.ReplaceAll(q, "{t}", table))
		if code := pgCode(err); code != "0A000" {
			t.Errorf("%s, the domain has a default: %v; want 0A000", q, err)
		}
		rt5NoPlain(t, tw)
	}
}
