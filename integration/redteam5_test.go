package integration

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

// Red team 5 attacks the column guard of a filled column list
// (sqlrewrite.GuardColumnOrder) and the catalog read before the next
// request of a session whose catalog is known stale
// (guard/catalog_fresh.go). The scenario throughout: a session through
// phiguard has read its catalog; another session, straight to the
// database, changes the table's columns; the first session then writes
// without a column list, meaning the table's new order.

const rt5SSN = "078-05-1120"

// rt5Form is one statement run against a table after the DDL: {t} is the
// table, copyData (when set) makes it a COPY FROM STDIN.
type rt5Form struct {
	what     string
	cols     []twinColumn // nil: id, note, ssn (ssn encrypted)
	ddl      string       // run on both tables, {t} the table; "" for the default
	sql      string
	copyData string
	args     []any  // extended protocol when set
	refused  string // the SQLSTATE phiguard must refuse the form with, if any
	// beforeGuard: PostgreSQL fails the statement at parse analysis,
	// before the guard runs, with its own error (which quotes the value:
	// TestRedTeam5ErrorBeforeGuardQuotesValue); running it again must
	// still work.
	beforeGuard bool
}

const rt5DefaultDDL = "ALTER TABLE {t} DROP COLUMN note; ALTER TABLE {t} ADD COLUMN note text"

func rt5DefaultCols(key string) []twinColumn {
	return []twinColumn{{"id", "int", ""}, {"note", "text", ""}, {"ssn", "text", "{mode: deterministic, key: " + key + ", type: text}"}}
}

func (f rt5Form) run(ctx context.Context, conn *pgx.Conn, table string) error {
	sql := strings.ReplaceAll(f.sql, "{t}", table)
	switch {
	case f.copyData != "":
		_, err := conn.PgConn().CopyFrom(ctx, strings.NewReader(f.copyData), sql)
		return err
	case f.args != nil:
		_, err := conn.Exec(ctx, sql, append([]any{pgx.QueryExecModeExec}, f.args...)...)
		return err
	}
	_, err := conn.Exec(ctx, sql, pgx.QueryExecModeSimpleProtocol)
	return err
}

// rt5AfterDDL runs a form on the encrypted table after the DDL: it must
// succeed or be refused with 40001 (and then succeed when run again), store
// the SSN nowhere in clear, leak it in no error, and leave what the same
// form leaves on the plaintext table.
func rt5AfterDDL(t *testing.T, f rt5Form) {
	ctx := testContext(t)
	cols := f.cols
	if cols == nil {
		cols = rt5DefaultCols("rt5-k")
	}
	tw := newTwin(t, "rt5", cols...)
	if _, err := tw.via.Exec(ctx, "SELECT 1"); err != nil { // the session's catalog is read
		t.Fatal(err)
	}
	ddl := f.ddl
	if ddl == "" {
		ddl = rt5DefaultDDL
	}
	for _, table := range []string{tw.enc, tw.plain} {
		if _, err := superuser(t).Exec(ctx, strings.ReplaceAll(ddl, "{t}", table)); err != nil {
			t.Fatal(err)
		}
	}
	err := f.run(ctx, tw.via, tw.enc)
	t.Logf("first run: %v", err)
	if err != nil && strings.Contains(err.Error(), rt5SSN) && !f.beforeGuard {
		t.Errorf("the error names the SSN: %v", err)
	}
	rt5NoPlain(t, tw)
	if f.refused != "" {
		if rt4Code(err) != f.refused {
			t.Fatalf("after another session's DDL: %v, want %s", err, f.refused)
		}
		return
	}
	if err != nil && rt4Code(err) != "40001" && !f.beforeGuard {
		t.Fatalf("first run after another session's DDL: %v, want success or 40001", err)
	}
	if err != nil {
		if err = f.run(ctx, tw.via, tw.enc); err != nil {
			t.Fatalf("run again after the refusal: %v", err)
		}
	}
	if err := f.run(ctx, tw.dir, tw.plain); err != nil {
		t.Fatal(err)
	}
	rt5NoPlain(t, tw)
	tw.same(t, "SELECT * FROM %s ORDER BY 1", pgx.QueryExecModeSimpleProtocol, f.what)
}

// rt5NoPlain fails if the SSN is stored in clear anywhere in the
// encrypted table.
func rt5NoPlain(t *testing.T, tw *twin) {
	t.Helper()
	var leaked int
	if err := tw.dir.QueryRow(testContext(t), "SELECT count(*) FROM "+tw.enc+" e WHERE e::text LIKE '%"+rt5SSN+"%'").Scan(&leaked); err != nil {
		t.Fatal(err)
	}
	if leaked != 0 {
		t.Fatalf("the SSN is stored in clear in %s", tw.enc)
	}
}

// TestRedTeam5StaleCatalogForms: the statement forms a filled column list
// meets, each after another session dropped and re-added a column before
// the encrypted one.
func TestRedTeam5StaleCatalogForms(t *testing.T) {
	t.Parallel()
	ssn := "{mode: deterministic, key: rt5-k, type: text}"
	forms := []rt5Form{
		{what: "multi-row VALUES", sql: "INSERT INTO {t} VALUES (1, '" + rt5SSN + "', 'x'), (2, '078-05-1121', 'y')"},
		{what: "multi-row VALUES, extended", sql: "INSERT INTO {t} VALUES ($1, $2, $3), ($4, $5, $6)", args: []any{1, rt5SSN, "x", 2, "078-05-1121", "y"}},
		{what: "ON CONFLICT DO NOTHING",
			cols: []twinColumn{{"id", "int PRIMARY KEY", ""}, {"note", "text", ""}, {"ssn", "text", ssn}},
			sql:  "INSERT INTO {t} VALUES (1, '" + rt5SSN + "', 'x') ON CONFLICT (id) DO NOTHING"},
		{what: "ON CONFLICT DO UPDATE",
			cols: []twinColumn{{"id", "int PRIMARY KEY", ""}, {"note", "text", ""}, {"ssn", "text", ssn}},
			sql:  "INSERT INTO {t} VALUES (1, '" + rt5SSN + "', 'x') ON CONFLICT (id) DO UPDATE SET note = 'u'"},
		{what: "RETURNING", sql: "INSERT INTO {t} VALUES (1, '" + rt5SSN + "', 'x') RETURNING id, note"},
		{what: "WITH ... INSERT", sql: "WITH v AS (SELECT 1) INSERT INTO {t} VALUES (1, '" + rt5SSN + "', 'x')"},
		{what: "a table alias", sql: "INSERT INTO {t} AS a VALUES (1, '" + rt5SSN + "', 'x') RETURNING a.id"},
		{what: "a schema-qualified name", sql: "INSERT INTO public.{t} VALUES (1, '" + rt5SSN + "', 'x')"},
		{what: "COPY of a schema-qualified name", sql: "COPY public.{t} FROM STDIN", copyData: "1\t" + rt5SSN + "\tx\n"},
		{what: "a trailing comment", sql: "INSERT INTO {t} VALUES (1, '" + rt5SSN + "', 'x') -- load"},
		{what: "OVERRIDING SYSTEM VALUE",
			cols: []twinColumn{{"id", "int GENERATED ALWAYS AS IDENTITY", ""}, {"note", "text", ""}, {"ssn", "text", ssn}},
			sql:  "INSERT INTO {t} OVERRIDING SYSTEM VALUE VALUES (1, '" + rt5SSN + "', 'x')"},
		{what: "no encrypted column among the values (phiguard appends one)",
			cols: []twinColumn{{"id", "int", ""}, {"note", "text", ""}, {"x", "text", ""}, {"ssn", "text", ssn}},
			sql:  "INSERT INTO {t} VALUES (1, 'a', '" + rt5SSN + "')"},
		{what: "the encrypted column dropped and re-added",
			cols: []twinColumn{{"id", "int", ""}, {"ssn", "text", ssn}, {"note", "text", ""}},
			ddl:  "ALTER TABLE {t} DROP COLUMN ssn; ALTER TABLE {t} ADD COLUMN ssn text",
			sql:  "INSERT INTO {t} VALUES (1, 'x', '" + rt5SSN + "')"},
		{what: "RENAME swap", ddl: "ALTER TABLE {t} RENAME note TO tmp; ALTER TABLE {t} RENAME ssn TO note; ALTER TABLE {t} RENAME tmp TO ssn",
			sql: "INSERT INTO {t} VALUES (1, '" + rt5SSN + "', 'x')"},
		{what: "ALTER COLUMN TYPE", ddl: "ALTER TABLE {t} ALTER COLUMN note TYPE varchar(20)",
			sql: "INSERT INTO {t} VALUES (1, 'x', '" + rt5SSN + "')"},
		{what: "DROP TABLE and CREATE TABLE",
			ddl: "DROP TABLE {t}; CREATE TABLE {t} (id int, ssn text, note text); GRANT ALL ON {t} TO " + appUser,
			sql: "INSERT INTO {t} VALUES (1, '" + rt5SSN + "', 'x')"},
		{what: "quoted names",
			cols: []twinColumn{{`"Id"`, "int", ""}, {`"No,te"`, "text", ""}, {`ssn`, "text", ssn}},
			ddl:  `ALTER TABLE {t} DROP COLUMN "No,te"; ALTER TABLE {t} ADD COLUMN "No,te" text`,
			sql:  "INSERT INTO {t} VALUES (1, '" + rt5SSN + "', 'x')"},
		{what: "COPY CSV", sql: "COPY {t} FROM STDIN (FORMAT csv)", copyData: "1," + rt5SSN + ",x\n"},
		{what: "COPY with its own WHERE ... OR", sql: "COPY {t} FROM STDIN WHERE id = 1 OR id = 2", copyData: "1\t" + rt5SSN + "\tx\n3\t078-05-1121\ty\n"},
		{what: "COPY with a trailing comment", sql: "COPY {t} FROM STDIN -- load", copyData: "1\t" + rt5SSN + "\tx\n"},
		{what: "COPY; with a trailing comment", sql: "COPY {t} FROM STDIN; -- load", copyData: "1\t" + rt5SSN + "\tx\n"},
		{what: "COPY in a multi-statement Query", sql: "COPY {t} FROM STDIN; SELECT 1", copyData: "1\t" + rt5SSN + "\tx\n", refused: "0A000"},
		{what: "COPY binary", sql: "COPY {t} FROM STDIN (FORMAT binary)", copyData: rt5BinaryCopy(1, rt5SSN, "x")},
		{what: "INSERT in a multi-statement Query", sql: "INSERT INTO {t} VALUES (1, '" + rt5SSN + "', 'x'); SELECT 1", refused: "0A000"},
		{what: "INSERT in a writable CTE", sql: "WITH w AS (INSERT INTO {t} VALUES (1, '" + rt5SSN + "', 'x') RETURNING id) SELECT id FROM w", refused: "0A000"},
		{what: "EXPLAIN ANALYZE INSERT", sql: "EXPLAIN ANALYZE INSERT INTO {t} VALUES (1, '" + rt5SSN + "', 'x')", refused: "0A000"},
		{what: "SQL PREPARE of an INSERT", sql: "PREPARE rt5p AS INSERT INTO {t} VALUES ($1, $2, $3)", refused: "0A000"},
		{what: "a value the stale list sends to a column of another type",
			cols: []twinColumn{{"id", "int", ""}, {"note", "text", ""}, {"n", "int", ""}, {"ssn", "text", ssn}},
			sql:  "INSERT INTO {t} VALUES (1, 5, '" + rt5SSN + "', 'x')", beforeGuard: true},
		{what: "a value the stale list sends to a column of another type, extended",
			cols: []twinColumn{{"id", "int", ""}, {"note", "text", ""}, {"n", "int", ""}, {"ssn", "text", ssn}},
			sql:  "INSERT INTO {t} VALUES ($1, $2, $3, $4)", args: []any{1, 5, rt5SSN, "x"}, beforeGuard: true},
		{what: "a generated column",
			cols: []twinColumn{{"id", "int", ""}, {"note", "text", ""}, {"g", "int GENERATED ALWAYS AS (id * 2) STORED", ""}, {"ssn", "text", ssn}},
			sql:  "INSERT INTO {t} VALUES (1, DEFAULT, '" + rt5SSN + "', 'x')", beforeGuard: true},
		{what: "the guard in a branch never evaluated",
			cols: []twinColumn{{"tags", "text[]", ""}, {"note", "text", ""}, {"ssn", "text", ssn}},
			sql:  "INSERT INTO {t} VALUES (CASE WHEN false THEN ARRAY['a', 'b', 'c', 'd'] END, '" + rt5SSN + "', 'x')"},
	}
	for _, f := range forms {
		t.Run(f.what, func(t *testing.T) {
			t.Parallel()
			rt5AfterDDL(t, f)
		})
	}
}

// TestRedTeam5InsertArrayValues: with no DDL at all, the guard of a
// filled list must leave a valid statement valid. Its scan of the VALUES
// row split items at the commas inside ARRAY[...].
func TestRedTeam5InsertArrayValues(t *testing.T) {
	t.Parallel()
	tw := newTwin(t, "rt5arr",
		twinColumn{"id", "int", ""},
		twinColumn{"tags", "text[]", ""},
		twinColumn{"ssn", "text", "{mode: deterministic, key: rt5arr-k, type: text}"},
		twinColumn{"m", "int[]", ""})
	tw.exec(t, "INSERT INTO %s VALUES (1, ARRAY['a', 'b'], '"+rt5SSN+"', ARRAY[[1, 2], [3, 4]])", pgx.QueryExecModeSimpleProtocol)
	tw.exec(t, "INSERT INTO %s VALUES (2, ARRAY['c', 'd', 'e'], $1, ARRAY[5, 6])", pgx.QueryExecModeExec, "078-05-1121")
	tw.same(t, "SELECT * FROM %s ORDER BY 1", pgx.QueryExecModeSimpleProtocol, "rows with arrays")
}

// rt5StaleTwin is the default twin after another session dropped and
// re-added note on both tables; via read its catalog before.
func rt5StaleTwin(t *testing.T, prefix string) *twin {
	t.Helper()
	ctx := testContext(t)
	tw := newTwin(t, prefix, rt5DefaultCols(prefix+"-k")...)
	if _, err := tw.via.Exec(ctx, "SELECT 1"); err != nil {
		t.Fatal(err)
	}
	for _, table := range []string{tw.enc, tw.plain} {
		if _, err := superuser(t).Exec(ctx, strings.ReplaceAll(rt5DefaultDDL, "{t}", table)); err != nil {
			t.Fatal(err)
		}
	}
	return tw
}

// rt5BinaryCopy is a binary COPY stream of one row (int, text, text).
func rt5BinaryCopy(id int, a, b string) string {
	row := []byte{0, 3, 0, 0, 0, 4, byte(id >> 24), byte(id >> 16), byte(id >> 8), byte(id)}
	for _, f := range []string{a, b} {
		row = append(row, byte(len(f)>>24), byte(len(f)>>16), byte(len(f)>>8), byte(len(f)))
		row = append(row, f...)
	}
	return "PGCOPY\n\xff\r\n\x00\x00\x00\x00\x00\x00\x00\x00\x00" + string(row) + "\xff\xff"
}

// TestRedTeam5ErrorBeforeGuardQuotesValue: the guard runs inside the
// statement, after PostgreSQL has parsed and analysed it with the stale
// list; the value meant for the encrypted column travels in clear in the
// statement text, planned for the column the stale list gives it.
func TestRedTeam5ErrorBeforeGuardQuotesValue(t *testing.T) {

	t.Parallel()
	rt5AfterDDL(t, rt5Form{what: "a value sent to a column of another type",
		cols: []twinColumn{{"id", "int", ""}, {"note", "text", ""}, {"n", "int", ""}, {"ssn", "text", "{mode: deterministic, key: rt5-k, type: text}"}},
		sql:  "INSERT INTO {t} VALUES (1, 5, '" + rt5SSN + "', 'x')"})
}

// TestRedTeam5QuotedTableName: the guard names the table in SQL strings
// (to_regclass of the name as written and of the qualified name; the
// unquoted names pg_identify_object_as_address gives): a table whose
// name needs quotes, holding a space, a double quote and capitals.
func TestRedTeam5QuotedTableName(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	name := uniqueName("Rt5 q")
	quoted := `"` + strings.ReplaceAll(name+`"x`, `"`, `""`) + `"`
	su := superuser(t)
	if _, err := su.Exec(ctx, "CREATE TABLE "+quoted+` (id int, "No te" text, ssn text); GRANT ALL ON `+quoted+" TO "+appUser); err != nil {
		t.Fatal(err)
	}
	pol := fmt.Sprintf("version: 1\ntables:\n  'public.%s':\n    columns:\n      ssn: {mode: deterministic, key: rt5q-k, type: text}\n", quoted)
	p := startProxy(t, proxyOptions{protect: protection(t, pol)})
	via := p.app(t)
	if _, err := via.Exec(ctx, "INSERT INTO "+quoted+" VALUES (1, 'a', '"+rt5SSN+"')", pgx.QueryExecModeSimpleProtocol); err != nil {
		t.Fatalf("INSERT before the DDL: %v", err)
	}
	if _, err := su.Exec(ctx, "ALTER TABLE "+quoted+` DROP COLUMN "No te"; ALTER TABLE `+quoted+` ADD COLUMN "No te" text`); err != nil {
		t.Fatal(err)
	}
	// The check before filling (column_check.go) reads the catalog again:
	// the INSERT goes in. The guard's 40001 for this table, whose name
	// needs quotes, is TestGuardColumnOrder's and the pipeline tests'.
	if _, err := via.Exec(ctx, "INSERT INTO "+quoted+" VALUES (2, '078-05-1121', 'b')", pgx.QueryExecModeSimpleProtocol); err != nil {
		t.Fatalf("INSERT after the DDL: %v", err)
	}
	var leaked int
	if err := su.QueryRow(ctx, "SELECT count(*) FROM "+quoted+` e WHERE e::text LIKE '%078-05-112%'`).Scan(&leaked); err != nil || leaked != 0 {
		t.Fatalf("%d row(s) hold an SSN in clear (%v)", leaked, err)
	}
	var ssn, note string
	if err := via.QueryRow(ctx, "SELECT ssn, \"No te\" FROM "+quoted+" WHERE id = 2").Scan(&ssn, &note); err != nil || ssn != "078-05-1121" || note != "b" {
		t.Fatalf("read back: %q %q %v", ssn, note, err)
	}
}

// TestRedTeam5DefaultSetElsewhere: phiguard refuses DEFAULT (and leaving
// a column out of an INSERT) for an encrypted column that has a default,
// which PostgreSQL would store unencrypted, by its catalog's note of
// which columns have one. When another session, straight to the
// database, gives the column a default after that catalog was read, the
// statement's own default guard (sqlrewrite.GuardNoDefaults) fails it
// with 40001 and nothing is written; run again, it is refused by the
// catalog read since (0A000). Simple and extended protocol, INSERT with
// the column left out or given DEFAULT, and UPDATE ... SET ssn = DEFAULT.
func TestRedTeam5DefaultSetElsewhere(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	table := uniqueName("rt5def")
	su := superuser(t)
	if _, err := su.Exec(ctx, "CREATE TABLE "+table+" (id int, note text, ssn text); GRANT ALL ON "+table+" TO "+appUser); err != nil {
		t.Fatal(err)
	}
	p := startProxy(t, proxyOptions{protect: protection(t, "version: 1\ntables:\n  public."+table+":\n    columns:\n      ssn: {mode: deterministic, key: rt5def-k, type: text}\n")})
	tw := &twin{enc: table, dir: direct(t)}
	if _, err := p.app(t).Exec(ctx, "INSERT INTO "+table+" (id, note) VALUES (0, 'before')", pgx.QueryExecModeSimpleProtocol); err != nil {
		t.Fatalf("INSERT leaving ssn out before the DDL: %v", err)
	}
	statements := []string{
		"INSERT INTO %s (id, note) VALUES (1, 'x')",
		"INSERT INTO %s (id, note, ssn) VALUES (2, 'y', DEFAULT)",
		"UPDATE %s SET note = 'z', ssn = DEFAULT WHERE id = 0",
	}
	for _, mode := range []pgx.QueryExecMode{pgx.QueryExecModeSimpleProtocol, pgx.QueryExecModeExec} {
		for _, q := range statements {
			conn := p.app(t)
			// The session reads its catalog now, before the DDL.
			if _, err := conn.Exec(ctx, "SELECT 1"); err != nil {
				t.Fatal(err)
			}
			if _, err := su.Exec(ctx, "ALTER TABLE "+table+" ALTER COLUMN ssn SET DEFAULT '"+rt5SSN+"'"); err != nil {
				t.Fatal(err)
			}
			sql := fmt.Sprintf(q, table)
			_, err := conn.Exec(ctx, sql, mode)
			if code := pgCode(err); code != "40001" {
				t.Errorf("%v %s, the default set elsewhere: %v; want 40001 from the default guard", mode, sql, err)
			}
			if _, err := conn.Exec(ctx, sql, mode); pgCode(err) != "0A000" {
				t.Errorf("%v %s, run again: %v; want 0A000 (the catalog read since has the default)", mode, sql, err)
			}
			rt5NoPlain(t, tw)
			if _, err := su.Exec(ctx, "ALTER TABLE "+table+" ALTER COLUMN ssn DROP DEFAULT"); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// TestRedTeam5ColumnPrivilegeAppend: when a filled VALUES list names no
// encrypted column, the guard appended the table's first encrypted
// column with NULL, which needs INSERT on that column: a role granted
// INSERT (id, note, x) only got 42501 where PostgreSQL accepts the
// INSERT. A column the role may not insert is left out now, its check
// carried by another value (sqlrewrite/guard_slot.go;
// TestColumnPrivilegeOmittedEncrypted has more forms).
func TestRedTeam5ColumnPrivilegeAppend(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	tw := newTwin(t, "rt5priv", twinColumn{"id", "int", ""}, twinColumn{"note", "text", ""}, twinColumn{"x", "text", ""},
		twinColumn{"ssn", "text", "{mode: deterministic, key: rt5priv-k, type: text}"})
	for _, table := range []string{tw.enc, tw.plain} {
		if _, err := superuser(t).Exec(ctx, "REVOKE ALL ON "+table+" FROM "+appUser+"; GRANT SELECT ON "+table+" TO "+appUser+"; GRANT INSERT (id, note, x) ON "+table+" TO "+appUser); err != nil {
			t.Fatal(err)
		}
	}
	tw.exec(t, "INSERT INTO %s VALUES (1, 'a', 'b')", pgx.QueryExecModeSimpleProtocol)
	tw.same(t, "SELECT * FROM %s ORDER BY 1", pgx.QueryExecModeSimpleProtocol, "column privileges")
}
