package integration

import (
	"fmt"
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
	extra := ""
	if strings.Contains(create, "ssn2") {
		extra = "      ssn2: {mode: randomized, key: " + prefix + "-k2, type: text}\n"
	}
	if _, err := su.Exec(testContext(t), strings.ReplaceAll(create, "{t}", table)+"; GRANT ALL ON "+table+" TO "+appUser); err != nil {
		t.Fatal(err)
	}
	p := startProxy(t, proxyOptions{protect: protection(t, "version: 1\ntables:\n  public."+table+":\n    columns:\n      ssn: {mode: deterministic, key: "+prefix+"-k, type: text}\n"+extra)})
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
		"INSERT INTO {t} (id, ssn) VALUES (1, NULL), (2, DEFAULT) LIMIT 5",
		"INSERT INTO {t} (id, note) (VALUES (1, 'x'))",
		"INSERT INTO {t} (id, ssn) (VALUES (1, NULL), (2, DEFAULT))",
		"INSERT INTO {t} (id, ssn) VALUES (1, NULL), ((2), DEFAULT)",
	}
	for _, mode := range []pgx.QueryExecMode{pgx.QueryExecModeSimpleProtocol, pgx.QueryExecModeExec} {
		for _, q := range shapes {
			err := rt7StaleRun(t, p, table, ddl, "SELECT 1", q, mode)
			want := "40001"
			if strings.Contains(q, "(VALUES") {
				// No place found for the guard in the text: refused, as
				// it was run with no guard and stored the default in clear.
				want = "0A000"
			}
			if code := pgCode(err); code != want {
				t.Errorf("%v %s, the default set elsewhere: %v; want %s", mode, q, err, want)
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

// TestRedTeam7GuardedAnswersSame: statements the default guard rewrites
// (a column appended, a value wrapped in its CASE, SET ... = DEFAULT
// replaced) answer as the plaintext table does: rows, RETURNING *, the
// parameter and result types a client is told.
func TestRedTeam7GuardedAnswersSame(t *testing.T) {
	t.Parallel()
	tw := newTwin(t, "rt7same", twinColumn{"id", "int PRIMARY KEY", ""}, twinColumn{"note", "text", ""},
		twinColumn{"n", "integer", "{mode: deterministic, key: rt7same-n, type: integer}"},
		twinColumn{"d", "date", "{mode: randomized, key: rt7same-d, type: date}"})
	ctx := testContext(t)
	steps := []struct {
		sql  string
		args []any
	}{
		{"INSERT INTO %s (id, note) VALUES (1, 'a'), (2, 'b') RETURNING *", nil},
		{"INSERT INTO %s (id, note) VALUES ($1, $2) RETURNING *", []any{3, "c"}},
		{"INSERT INTO %s (id, n, d) VALUES ($1, $2, DEFAULT), ($3, DEFAULT, $4) RETURNING *", []any{4, 7, 5, "2020-01-02"}},
		{"INSERT INTO %s (id, d) VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET n = DEFAULT, d = EXCLUDED.d RETURNING *", []any{4, "2021-03-04"}},
		{"INSERT INTO %s (id, note) VALUES (1, 'z') ON CONFLICT (id) DO UPDATE SET note = EXCLUDED.note RETURNING *", nil},
		{"UPDATE %s SET n = DEFAULT, note = $1 WHERE id = $2 RETURNING *", []any{"u", 4}},
		{"UPDATE %s SET d = DEFAULT WHERE id > 100 RETURNING *", nil},
	}
	for _, mode := range bothModes {
		tw.clear(t)
		for _, s := range steps {
			if mode == pgx.QueryExecModeSimpleProtocol || s.args == nil {
				tw.same(t, rt7WithArgs(s.sql, s.args), mode, s.sql)
			} else {
				tw.exec(t, s.sql, mode, s.args...)
			}
		}
		tw.same(t, "SELECT * FROM %s ORDER BY 1", mode, "the rows")
	}
	for _, s := range steps {
		want, err := tw.dir.Prepare(ctx, "", fmt.Sprintf(s.sql, tw.plain))
		if err != nil {
			t.Fatal(err)
		}
		got, err := tw.via.Prepare(ctx, "", fmt.Sprintf(s.sql, tw.enc))
		if err != nil {
			t.Fatalf("%s: prepared through phiguard: %v", s.sql, err)
		}
		if fmt.Sprint(got.ParamOIDs) != fmt.Sprint(want.ParamOIDs) {
			t.Errorf("%s: parameter types %v through phiguard, %v directly", s.sql, got.ParamOIDs, want.ParamOIDs)
		}
		for i := range want.Fields {
			if i >= len(got.Fields) || got.Fields[i].DataTypeOID != want.Fields[i].DataTypeOID || string(got.Fields[i].Name) != string(want.Fields[i].Name) {
				t.Errorf("%s: result columns %+v through phiguard, %+v directly", s.sql, got.Fields, want.Fields)
				break
			}
		}
	}
}

// rt7WithArgs writes args into sql's $n as literals, for tw.same, which
// takes no arguments.
func rt7WithArgs(sql string, args []any) string {
	for i := len(args); i >= 1; i-- {
		v := fmt.Sprint(args[i-1])
		if _, isInt := args[i-1].(int); !isInt {
			v = "'" + v + "'"
		}
		sql = strings.ReplaceAll(sql, fmt.Sprintf("$%d", i), v)
	}
	return sql
}

// TestRedTeam7StaleDDLForms: other DDL that gives an encrypted column a
// default or a generation expression after the session read its catalog:
// the column dropped and added again with one (views over the table
// take no writes through phiguard at all), and a statement prepared
// before the DDL and run after it.
func TestRedTeam7StaleDDLForms(t *testing.T) {
	t.Parallel()
	p, tw, table := rt7Setup(t, "rt7ddl", "CREATE TABLE {t} (id int, note text, ssn text)")
	undo := "ALTER TABLE {t} DROP COLUMN ssn, ADD COLUMN ssn text; DELETE FROM {t}"
	for _, ddl := range []string{
		"ALTER TABLE {t} DROP COLUMN ssn, ADD COLUMN ssn text DEFAULT '" + rt5SSN + "'",
		"ALTER TABLE {t} DROP COLUMN ssn, ADD COLUMN ssn text GENERATED ALWAYS AS ('" + rt5SSN + "' || note) STORED",
	} {
		for _, q := range []string{"INSERT INTO {t} (id, note) VALUES (1, 'x')", "INSERT INTO {t} (id, note, ssn) VALUES (1, 'x', DEFAULT), (2, 'y', DEFAULT)"} {
			for _, mode := range []pgx.QueryExecMode{pgx.QueryExecModeSimpleProtocol, pgx.QueryExecModeExec} {
				err := rt7StaleRun(t, p, table, ddl, undo, q, mode)
				// A generated column refuses any value but DEFAULT as the
				// statement is parsed (428C9), before the guard runs.
				if code := pgCode(err); code != "40001" && !(code == "428C9" && strings.Contains(ddl, "GENERATED")) {
					t.Errorf("%v %s after %s: %v; want 40001", mode, q, ddl, err)
				}
				rt5NoPlain(t, tw)
			}
		}
	}
	// Prepared before the DDL, run after it.
	ctx := testContext(t)
	conn := p.app(t)
	if _, err := conn.Prepare(ctx, "rt7ins", "INSERT INTO "+table+" (id, note, ssn) VALUES ($1, $2, NULL), ($3, $4, DEFAULT)"); err != nil {
		t.Fatal(err)
	}
	if _, err := superuser(t).Exec(ctx, "ALTER TABLE "+table+" ALTER COLUMN ssn SET DEFAULT '"+rt5SSN+"'"); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "rt7ins", 1, "a", 2, "b"); pgCode(err) != "40001" {
		t.Errorf("prepared before the DDL, run after: %v; want 40001", err)
	}
	rt5NoPlain(t, tw)
}

// TestRedTeam7CopyListLeavesOut: COPY ... FROM STDIN with a column list
// that leaves the encrypted column out, on a session whose catalog
// predates another session's SET DEFAULT: the catalog is read before
// such a COPY, and the default refuses it (0A000), as the retry of an
// INSERT is (red team 8: storing NULL where PostgreSQL stores the default
// is a different answer); without a default phiguard adds the column to
// the list with a NULL field in every row (text, CSV with HEADER MATCH,
// binary), which DDL committed between that read and the COPY cannot
// turn into a plaintext default; rows whose field count is not the
// list's get PostgreSQL's own errors.
func TestRedTeam7CopyListLeavesOut(t *testing.T) {
	t.Parallel()
	p, tw, table := rt7Setup(t, "rt7copy", "CREATE TABLE {t} (id int, note text, ssn text)")
	ctx := testContext(t)
	conn := p.app(t)
	if _, err := conn.CopyFrom(ctx, pgx.Identifier{table}, []string{"id", "note"}, pgx.CopyFromRows([][]any{{1, "a"}})); err != nil {
		t.Fatalf("COPY leaving ssn out, no default: %v", err)
	}
	su := superuser(t)
	if _, err := su.Exec(ctx, "ALTER TABLE "+table+" ALTER COLUMN ssn SET DEFAULT '"+rt5SSN+"'"); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.CopyFrom(ctx, pgx.Identifier{table}, []string{"id", "note"}, pgx.CopyFromRows([][]any{{2, "b"}})); pgCode(err) != "0A000" {
		t.Errorf("binary COPY leaving ssn out, a default set elsewhere: %v; want 0A000", err)
	}
	copies := []struct{ sql, data string }{
		{"COPY " + table + " (id, note) FROM STDIN", "3\tc\n4\td\n"},
		{"COPY " + table + " (id, note) FROM STDIN (FORMAT csv, HEADER match)", "id,note\n5,\"e,f\"\n"},
	}
	for _, c := range copies {
		if _, err := conn.PgConn().CopyFrom(ctx, strings.NewReader(c.data), c.sql); pgCode(err) != "0A000" {
			t.Errorf("%s, a default set elsewhere: %v; want 0A000", c.sql, err)
		}
	}
	rt5NoPlain(t, tw)
	if _, err := su.Exec(ctx, "ALTER TABLE "+table+" ALTER COLUMN ssn DROP DEFAULT"); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.CopyFrom(ctx, pgx.Identifier{table}, []string{"id", "note"}, pgx.CopyFromRows([][]any{{2, "b"}})); err != nil {
		t.Errorf("binary COPY leaving ssn out, the default dropped: %v", err)
	}
	for _, c := range copies {
		if _, err := conn.PgConn().CopyFrom(ctx, strings.NewReader(c.data), c.sql); err != nil {
			t.Errorf("%s: %v", c.sql, err)
		}
	}
	rt5NoPlain(t, tw)
	var rows, nulls int
	if err := tw.dir.QueryRow(ctx, "SELECT count(*), count(*) FILTER (WHERE ssn IS NULL) FROM "+table).Scan(&rows, &nulls); err != nil {
		t.Fatal(err)
	}
	if rows != 5 || nulls != 5 {
		t.Errorf("%d rows, %d with ssn NULL; want 5 and 5", rows, nulls)
	}
	var note string
	if err := conn.QueryRow(ctx, "SELECT note FROM "+table+" WHERE id = 5").Scan(&note); err != nil || note != "e,f" {
		t.Errorf("the CSV row reads back as %q (%v)", note, err)
	}
	// A row short of a field, or with one too many (which PostgreSQL would
	// otherwise store in ssn, the next column in the list): refused with
	// PostgreSQL's own errors, nothing stored.
	for data, want := range map[string]string{"6\n": `missing data for column "note"`, "7\tg\t" + rt5SSN + "\n": "extra data after last expected column"} {
		_, err := conn.PgConn().CopyFrom(ctx, strings.NewReader(data), "COPY "+table+" (id, note) FROM STDIN")
		if pgCode(err) != "22P04" || !strings.Contains(err.Error(), want) {
			t.Errorf("COPY row %q: %v; want 22P04 %s", data, err, want)
		}
	}
	rt5NoPlain(t, tw)
}

// TestRedTeam7RepeatableRead: in a REPEATABLE READ (or SERIALIZABLE)
// transaction the guard's read of pg_attribute sees the transaction's
// snapshot, taken before another session's SET DEFAULT committed, while
// the statement takes the default PostgreSQL's catalog holds now.
func TestRedTeam7RepeatableRead(t *testing.T) {
	t.Parallel()
	p, tw, table := rt7Setup(t, "rt7rr", "CREATE TABLE {t} (id int PRIMARY KEY, note text, ssn text, ssn2 text); INSERT INTO {t} VALUES (0, 'zero', NULL, NULL)")
	ctx := testContext(t)
	su := superuser(t)
	shapes := []string{
		"INSERT INTO {t} (id, note) VALUES (1, 'x')",
		"INSERT INTO {t} (id, ssn) VALUES (1, NULL), (2, DEFAULT)",
		"INSERT INTO {t} (id, ssn2) VALUES (1, NULL)",
		"INSERT INTO {t} (id, ssn) VALUES (0, NULL) ON CONFLICT (id) DO UPDATE SET ssn = DEFAULT",
		"UPDATE {t} SET ssn = DEFAULT, ssn2 = DEFAULT WHERE id = 0",
	}
	for _, iso := range []string{"REPEATABLE READ", "SERIALIZABLE"} {
		for _, mode := range []pgx.QueryExecMode{pgx.QueryExecModeSimpleProtocol, pgx.QueryExecModeExec} {
			for _, q := range shapes {
				conn := p.app(t)
				if _, err := conn.Exec(ctx, "BEGIN ISOLATION LEVEL "+iso); err != nil {
					t.Fatal(err)
				}
				if _, err := conn.Exec(ctx, "SELECT count(*) FROM pg_catalog.pg_class"); err != nil {
					t.Fatal(err) // the transaction's snapshot is taken here
				}
				if _, err := su.Exec(ctx, "ALTER TABLE "+table+" ALTER COLUMN ssn SET DEFAULT '"+rt5SSN+"', ALTER COLUMN ssn2 SET DEFAULT '"+rt5SSN+"'"); err != nil {
					t.Fatal(err)
				}
				_, err := conn.Exec(ctx, strings.ReplaceAll(q, "{t}", table), mode)
				if err == nil {
					_, err = conn.Exec(ctx, "COMMIT")
				}
				conn.Close(ctx)
				rt5NoPlain(t, tw)
				if _, err := su.Exec(ctx, "ALTER TABLE "+table+" ALTER COLUMN ssn DROP DEFAULT, ALTER COLUMN ssn2 DROP DEFAULT; DELETE FROM "+table+" WHERE id <> 0"); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
}
