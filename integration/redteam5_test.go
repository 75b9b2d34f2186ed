package integration

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Red team 5 attacks the column guard of a filled column list
// (sqlrewrite.GuardColumnOrder) and the catalog read before the next
// request of a session whose catalog is known stale
// (proxy/catalog_fresh.go). The scenario throughout: a session through
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

// TestRedTeam5RetryInTransaction: the guard's 40001 says "run the
// statement again". A client that does so the usual way (ROLLBACK, BEGIN,
// the statement) must succeed: the catalog read the refusal schedules
// must not be spent inside the aborted transaction, where it fails and
// leaves the session with the stale catalog, refused again at every retry.
func TestRedTeam5RetryInTransaction(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	tw := rt5StaleTwin(t, "rt5tx")
	insert := "INSERT INTO %s VALUES (1, '" + rt5SSN + "', 'x')"
	for attempt := 1; ; attempt++ {
		tx, err := tw.via.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		_, err = tx.Exec(ctx, fmt.Sprintf(insert, tw.enc), pgx.QueryExecModeSimpleProtocol)
		if err == nil {
			if err := tx.Commit(ctx); err != nil {
				t.Fatal(err)
			}
			break
		}
		if rt4Code(err) != "40001" {
			t.Fatalf("attempt %d: %v, want success or 40001", attempt, err)
		}
		if err := tx.Rollback(ctx); err != nil {
			t.Fatalf("ROLLBACK after the refusal: %v", err)
		}
		rt5NoPlain(t, tw)
		if attempt == 3 {
			t.Fatalf("still refused with 40001 at attempt %d: the retry never succeeds", attempt)
		}
	}
	if _, err := tw.dir.Exec(ctx, fmt.Sprintf(insert, tw.plain)); err != nil {
		t.Fatal(err)
	}
	rt5NoPlain(t, tw)
	tw.same(t, "SELECT * FROM %s ORDER BY 1", pgx.QueryExecModeSimpleProtocol, "retried in a transaction")
}

// TestRedTeam5PreparedAcrossDDL: a driver's statement cache prepares
// the INSERT once (phiguard fills and guards its text) and executes it
// again after the DDL. The guard must check at that execution; and as
// plain PostgreSQL re-plans the statement for the table's new order, a
// client that runs it again after the 40001 must get there.
func TestRedTeam5PreparedAcrossDDL(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	tw := newTwin(t, "rt5prep", rt5DefaultCols("rt5prep-k")...)
	insert := "INSERT INTO %s VALUES ($1, $2, $3)"
	mode := pgx.QueryExecModeCacheStatement
	tw.exec(t, insert, mode, 1, "x", "078-05-1121") // (id, note, ssn)
	for _, table := range []string{tw.enc, tw.plain} {
		if _, err := superuser(t).Exec(ctx, strings.ReplaceAll(rt5DefaultDDL, "{t}", table)); err != nil {
			t.Fatal(err)
		}
	}
	// Now (id, ssn, note).
	var err error
	for attempt := 1; attempt <= 3; attempt++ {
		_, err = tw.via.Exec(ctx, fmt.Sprintf(insert, tw.enc), mode, 2, rt5SSN, "y")
		t.Logf("attempt %d: %v", attempt, err)
		rt5NoPlain(t, tw)
		if err == nil || rt4Code(err) != "40001" {
			break
		}
	}
	if err != nil {
		t.Fatalf("still refused after pgx prepared the statement again: %v", err)
	}
	if _, err := tw.dir.Exec(ctx, fmt.Sprintf(insert, tw.plain), mode, 2, rt5SSN, "y"); err != nil {
		t.Fatal(err)
	}
	tw.same(t, "SELECT * FROM %s ORDER BY 1", pgx.QueryExecModeSimpleProtocol, "prepared across DDL")
}

// TestRedTeam5BatchAfterGuard: the guard fires inside a pgx batch (one
// Sync); the next batch starts with a Parse, before which the session
// reads its catalog: that read's answer must not reach the client, and
// the retried INSERT in the batch must succeed.
func TestRedTeam5BatchAfterGuard(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	tw := rt5StaleTwin(t, "rt5batch")
	insert := "INSERT INTO " + tw.enc + " VALUES ($1, $2, $3)"
	b := &pgx.Batch{}
	b.Queue(insert, 1, rt5SSN, "x")
	b.Queue("SELECT 42")
	err := tw.via.SendBatch(ctx, b).Close()
	t.Logf("first batch: %v", err)
	if err != nil && rt4Code(err) != "40001" {
		t.Fatalf("first batch: %v, want success or 40001", err)
	}
	rt5NoPlain(t, tw)
	b = &pgx.Batch{}
	b.Queue("SELECT 7")
	b.Queue(insert, 2, "078-05-1121", "y")
	b.Queue("SELECT ssn, note FROM " + tw.enc + " WHERE id = 2")
	br := tw.via.SendBatch(ctx, b)
	var seven int
	if err := br.QueryRow().Scan(&seven); err != nil || seven != 7 {
		t.Fatalf("SELECT 7 in the batch after the refusal: %d, %v", seven, err)
	}
	if _, err := br.Exec(); err != nil {
		t.Fatalf("INSERT in the batch after the refusal: %v", err)
	}
	var ssn, note string
	if err := br.QueryRow().Scan(&ssn, &note); err != nil || ssn != "078-05-1121" || note != "y" {
		t.Fatalf("read back: %q %q %v", ssn, note, err)
	}
	if err := br.Close(); err != nil {
		t.Fatal(err)
	}
	rt5NoPlain(t, tw)
	var one int
	if err := tw.via.QueryRow(ctx, "SELECT 1", pgx.QueryExecModeSimpleProtocol).Scan(&one); err != nil || one != 1 {
		t.Fatalf("SELECT 1 afterwards: %d, %v", one, err)
	}
}

// TestRedTeam5NamedPreparedAcrossDDL: a named statement the client
// prepared once and executes again after the DDL (pgjdbc's server-side
// statements, PREPARE in a pool) is checked at each execution, and,
// refused, must not stay refused: plain PostgreSQL re-plans it for the
// table's new order.
func TestRedTeam5NamedPreparedAcrossDDL(t *testing.T) {
	t.Skip("HOLE: a named statement prepared (its column list filled and guarded) before another session's DROP COLUMN note; ADD COLUMN note is refused with 40001 at every execution after it, as the guard in its text checks the attribute numbers of Parse time; 40001 says to run it again, which never succeeds until the client prepares it again (pgx's statement cache does, pgjdbc's server-side statements and SQL PREPARE do not), where plain PostgreSQL re-plans it for the table's new order. Fails closed: nothing is written")
	t.Parallel()
	ctx := testContext(t)
	tw := newTwin(t, "rt5named", rt5DefaultCols("rt5named-k")...)
	for _, side := range []struct {
		conn  *pgx.Conn
		table string
	}{{tw.via, tw.enc}, {tw.dir, tw.plain}} {
		if _, err := side.conn.PgConn().Prepare(ctx, "ins", "INSERT INTO "+side.table+" VALUES ($1, $2, $3)", nil); err != nil {
			t.Fatal(err)
		}
	}
	exec := func(c *pgx.Conn, id, second, third string) error {
		return c.PgConn().ExecPrepared(ctx, "ins", [][]byte{[]byte(id), []byte(second), []byte(third)}, nil, nil).Read().Err
	}
	for _, c := range []*pgx.Conn{tw.via, tw.dir} {
		if err := exec(c, "1", "x", "078-05-1121"); err != nil { // (id, note, ssn)
			t.Fatal(err)
		}
	}
	for _, table := range []string{tw.enc, tw.plain} {
		if _, err := superuser(t).Exec(ctx, strings.ReplaceAll(rt5DefaultDDL, "{t}", table)); err != nil {
			t.Fatal(err)
		}
	}
	if err := exec(tw.dir, "2", rt5SSN, "y"); err != nil { // (id, ssn, note) now
		t.Fatal(err)
	}
	var err error
	for attempt := 1; attempt <= 3; attempt++ {
		err = exec(tw.via, "2", rt5SSN, "y")
		t.Logf("attempt %d: %v", attempt, err)
		rt5NoPlain(t, tw)
		if err == nil || rt4Code(err) != "40001" {
			break
		}
	}
	if err != nil {
		t.Fatalf("a statement prepared before another session's DDL: %v at every execution after it", err)
	}
	tw.same(t, "SELECT * FROM %s ORDER BY 1", pgx.QueryExecModeSimpleProtocol, "prepared across DDL")
}

// TestRedTeam5PipelineSegments: three segments pipelined before any
// answer is read, the first two INSERTs without a column list after the
// DDL. Whatever each is answered, nothing is stored in clear, every
// answer lines up with its request (the catalog reads phiguard adds are
// swallowed), and the INSERT after the pipeline succeeds.
func TestRedTeam5PipelineSegments(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	tw := rt5StaleTwin(t, "rt5pipe")
	insert := "INSERT INTO " + tw.enc + " VALUES ($1, $2, $3)"
	pl := tw.via.PgConn().StartPipeline(ctx)
	pl.SendQueryParams(insert, [][]byte{[]byte("1"), []byte(rt5SSN), []byte("x")}, nil, nil, nil)
	pl.SendPipelineSync()
	pl.SendQueryParams(insert, [][]byte{[]byte("2"), []byte("078-05-1121"), []byte("y")}, nil, nil, nil)
	pl.SendPipelineSync()
	pl.SendQueryParams("SELECT 42", nil, nil, nil, nil)
	if err := pl.Sync(); err != nil {
		t.Fatal(err)
	}
	for seg := 1; seg <= 3; seg++ {
		res, err := pl.GetResults()
		switch r := res.(type) {
		case *pgconn.ResultReader:
			rr := r.Read()
			rows := rr.Rows
			err = rr.Err
			if seg == 3 && (len(rows) != 1 || string(rows[0][0]) != "42") {
				t.Errorf("segment 3 answered %q, want 42", rows)
			}
		case nil:
		default:
			t.Fatalf("segment %d: answered %T", seg, res)
		}
		t.Logf("segment %d: %v", seg, err)
		if err != nil && (seg == 3 || rt4Code(err) != "40001") {
			t.Errorf("segment %d: %v", seg, err)
		}
		if res, err := pl.GetResults(); err != nil {
			t.Fatalf("segment %d's Sync: %v", seg, err)
		} else if _, ok := res.(*pgconn.PipelineSync); !ok {
			t.Fatalf("segment %d: %T where its Sync's answer belongs", seg, res)
		}
	}
	if err := pl.Close(); err != nil {
		t.Fatal(err)
	}
	rt5NoPlain(t, tw)
	if _, err := tw.via.Exec(ctx, insert, 3, "078-05-1122", "z"); err != nil {
		t.Fatalf("INSERT after the pipeline: %v", err)
	}
	rt5NoPlain(t, tw)
	var n int
	if err := tw.via.QueryRow(ctx, "SELECT count(*) FROM "+tw.enc+" WHERE ssn = '078-05-1122' AND note = 'z'").Scan(&n); err != nil || n != 1 {
		t.Fatalf("the INSERT after the pipeline: %d rows, %v", n, err)
	}
}

// TestRedTeam5ReloadMidSegment: a reload encrypts another column while
// a session's protocol segment is open (a Parse went out, no Sync yet).
// The catalog is read before a segment starts, not inside one; a
// statement planned in the rest of that segment returned the new
// column's cells as they are stored. It is refused now (40001), and the
// next segment reads the catalog first.
func TestRedTeam5ReloadMidSegment(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	enc, other := uniqueName("rt5mid_enc"), uniqueName("rt5mid_other")
	su := superuser(t)
	if _, err := su.Exec(ctx, "CREATE TABLE "+enc+" (id int, d text); CREATE TABLE "+other+" (id int, s text); GRANT ALL ON "+enc+", "+other+" TO "+appUser); err != nil {
		t.Fatal(err)
	}
	v1 := fmt.Sprintf("version: 1\ntables:\n  public.%s:\n    columns:\n      s: {mode: randomized, key: rt5mid-k, type: text}\n", other)
	v2 := v1 + fmt.Sprintf("  public.%s:\n    columns:\n      d: {mode: randomized, key: rt5mid-k, type: text}\n", enc)
	p := startProxy(t, proxyOptions{protect: protection(t, v1)})
	old := p.app(t)
	if _, err := old.Exec(ctx, "SELECT 1"); err != nil {
		t.Fatal(err)
	}
	pl := old.PgConn().StartPipeline(ctx)
	pl.SendPrepare("s0", "SELECT 1", nil)
	pl.SendFlushRequest()
	if err := pl.Flush(); err != nil {
		t.Fatal(err)
	}
	if _, err := pl.GetResults(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "policy.yml")
	if err := os.WriteFile(path, []byte(v2), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := p.srv.ReloadPolicyFile(path); err != nil {
		t.Fatalf("reload: %v", err)
	}
	if _, err := p.app(t).Exec(ctx, "INSERT INTO "+enc+" (id, d) VALUES (1, 'secret')"); err != nil {
		t.Fatal(err)
	}
	pl.SendPrepare("s1", "SELECT d FROM "+enc+" WHERE id = 1", nil)
	pl.SendQueryPrepared("s1", nil, nil, nil)
	if err := pl.Sync(); err != nil {
		t.Fatal(err)
	}
	var got string
	var gerr error
	for {
		res, err := pl.GetResults()
		if err != nil {
			gerr = err
			continue
		}
		if rr, ok := res.(*pgconn.ResultReader); ok {
			r := rr.Read()
			if r.Err != nil {
				gerr = r.Err
			} else if len(r.Rows) == 1 {
				got = string(r.Rows[0][0])
			}
		}
		if _, ok := res.(*pgconn.PipelineSync); ok {
			break
		}
	}
	if err := pl.Close(); err != nil {
		t.Fatal(err)
	}
	t.Logf("read in the open segment: %q, %v", got, gerr)
	if strings.HasPrefix(got, "~phg~") {
		t.Errorf("a statement planned in the segment open across the reload returned the stored cell %q", got)
	}
	if gerr == nil && got != "secret" {
		t.Errorf("read %q, want secret or a refusal", got)
	}
	var d string
	if err := old.QueryRow(ctx, "SELECT d FROM "+enc+" WHERE id = 1").Scan(&d); err != nil || d != "secret" {
		t.Errorf("read after the segment: %q, %v", d, err)
	}
}

// TestRedTeam5SameNameTwoSchemas: the policy protects a table of one name
// in two schemas, ssn in public's and dob in the other's (which sorts
// first). An unqualified name goes where search_path says (public);
// phiguard planned it for the policy's first table of that name, where
// ssn is not encrypted, and the SSN went into public's encrypted ssn
// column in clear (INSERT with a column list, UPDATE), or a COPY's fields
// were encrypted for the other table's columns. Now such a name is
// refused; a qualified one works.
func TestRedTeam5SameNameTwoSchemas(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	schema, table := uniqueName("a_rt5s"), uniqueName("rt5same")
	su := superuser(t)
	for _, q := range []string{
		"CREATE SCHEMA " + schema,
		"GRANT USAGE ON SCHEMA " + schema + " TO " + appUser,
		"CREATE TABLE public." + table + " (id int, ssn text, note text)",
		"CREATE TABLE " + schema + "." + table + " (id int, dob text, ssn text)",
		"GRANT ALL ON public." + table + ", " + schema + "." + table + " TO " + appUser,
	} {
		if _, err := su.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	pol := fmt.Sprintf("version: 1\ntables:\n  public.%s:\n    columns:\n      ssn: {mode: deterministic, key: rt5s-k, type: text}\n  %s.%s:\n    columns:\n      dob: {mode: randomized, key: rt5s-r, type: text}\n", table, schema, table)
	p := startProxy(t, proxyOptions{protect: protection(t, pol)})
	via := p.app(t)
	for _, q := range []string{
		"INSERT INTO " + table + " (id, ssn) VALUES (1, '" + rt5SSN + "')",
		"INSERT INTO " + table + " (id, ssn) VALUES ($1, $2)",
		"UPDATE " + table + " SET ssn = '" + rt5SSN + "' WHERE id = 1",
	} {
		var err error
		if strings.Contains(q, "$1") {
			_, err = via.Exec(ctx, q, pgx.QueryExecModeExec, 2, rt5SSN)
		} else {
			_, err = via.Exec(ctx, q, pgx.QueryExecModeSimpleProtocol)
		}
		t.Logf("%s: %v", q, err)
	}
	_, err := via.PgConn().CopyFrom(ctx, strings.NewReader("3\t"+rt5SSN+"\tx\n"), "COPY "+table+" FROM STDIN")
	t.Logf("COPY: %v", err)
	var leaked int
	if err := su.QueryRow(ctx, "SELECT count(*) FROM public."+table+" e WHERE e::text LIKE '%"+rt5SSN+"%' OR ssn NOT LIKE '~phg~AQEGcnQ1cy1r%'").Scan(&leaked); err != nil {
		t.Fatal(err)
	}
	if leaked != 0 {
		t.Fatalf("%d row(s) of public.%s hold the SSN in clear or a cell not sealed with its ssn key", leaked, table)
	}
	if _, err := via.Exec(ctx, "INSERT INTO public."+table+" (id, ssn) VALUES (4, '"+rt5SSN+"')"); err != nil {
		t.Fatalf("a qualified name: %v", err)
	}
	var ssn string
	if err := via.QueryRow(ctx, "SELECT ssn FROM public."+table+" WHERE id = 4").Scan(&ssn); err != nil || ssn != rt5SSN {
		t.Fatalf("read back through the qualified name: %q, %v", ssn, err)
	}
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

// TestRedTeam5TableElsewhere: phiguard fills a missing column list from
// the protected table a bare name matches, but PostgreSQL resolves the
// name under search_path, where a temporary table, or a table in a schema
// earlier in the path created after the session read its catalog, comes
// first. The guard checked the protected table's columns, which had not
// changed, so the statement ran with the protected table's order on the
// other table: the SSN went, in clear, into its note column. The guard
// now also checks that the name resolves to the protected table.
func TestRedTeam5TableElsewhere(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	su := superuser(t)
	for _, c := range []struct {
		what  string
		setup func(tw *twin) (other string)
	}{
		{"a temporary table", func(tw *twin) string {
			if _, err := tw.via.Exec(ctx, "CREATE TEMP TABLE "+tw.enc+" (id int, ssn text, note text)"); err != nil {
				t.Fatal(err)
			}
			return "pg_temp." + tw.enc
		}},
		{"a table in a schema earlier in search_path", func(tw *twin) string {
			schema := uniqueName("rt5else_s")
			if _, err := su.Exec(ctx, "CREATE SCHEMA "+schema+"; GRANT ALL ON SCHEMA "+schema+" TO "+appUser); err != nil {
				t.Fatal(err)
			}
			if _, err := tw.via.Exec(ctx, "SET search_path = "+schema+", public"); err != nil {
				t.Fatal(err)
			}
			if _, err := su.Exec(ctx, "CREATE TABLE "+schema+"."+tw.enc+" (id int, ssn text, note text); GRANT ALL ON "+schema+"."+tw.enc+" TO "+appUser); err != nil {
				t.Fatal(err)
			}
			return schema + "." + tw.enc
		}},
	} {
		t.Run(c.what, func(t *testing.T) {
			tw := newTwin(t, "rt5else", rt5DefaultCols("rt5else-k")...)
			if _, err := tw.via.Exec(ctx, "SELECT 1"); err != nil {
				t.Fatal(err)
			}
			other := c.setup(tw)
			_, ierr := tw.via.Exec(ctx, "INSERT INTO "+tw.enc+" VALUES (1, '"+rt5SSN+"', 'x')", pgx.QueryExecModeSimpleProtocol)
			_, cerr := tw.via.PgConn().CopyFrom(ctx, strings.NewReader("2\t"+rt5SSN+"\tx\n"), "COPY "+tw.enc+" FROM STDIN")
			t.Logf("INSERT: %v; COPY: %v", ierr, cerr)
			var leaked int
			if err := tw.via.QueryRow(ctx, "SELECT count(*) FROM "+other+" WHERE note = '"+rt5SSN+"'", pgx.QueryExecModeSimpleProtocol).Scan(&leaked); err != nil {
				t.Fatal(err)
			}
			if leaked != 0 {
				t.Fatalf("%d row(s) of %s hold the SSN in clear in note, where PostgreSQL's order puts it in ssn", leaked, other)
			}
			for _, err := range []error{ierr, cerr} {
				if err != nil && rt4Code(err) != "0A000" {
					t.Errorf("refused with %v, want 0A000", err)
				}
			}
			if _, err := tw.via.Exec(ctx, "INSERT INTO public."+tw.enc+" VALUES (3, 'y', '"+rt5SSN+"')", pgx.QueryExecModeSimpleProtocol); err != nil {
				t.Fatalf("the qualified name: %v", err)
			}
			rt5NoPlain(t, tw)
		})
	}
}

// TestRedTeam5DDLRolledBack: the session's own DDL inside a transaction
// makes phiguard read its catalog inside that transaction; a ROLLBACK
// undoes the DDL but left the catalog as the transaction saw it. After
// RENAME ssn TO ssn_old, ADD COLUMN ssn, ROLLBACK, the session read ssn
// as stored cells and filled INSERTs without a column list with ssn_old,
// until its next DDL.
func TestRedTeam5DDLRolledBack(t *testing.T) {
	t.Parallel()
	for _, mode := range bothModes {
		t.Run(mode.String(), func(t *testing.T) {
			t.Parallel()
			ctx := testContext(t)
			tw := newTwin(t, "rt5rb", rt5DefaultCols("rt5rb-k")...)
			for _, table := range []string{tw.enc, tw.plain} {
				if _, err := superuser(t).Exec(ctx, "ALTER TABLE "+table+" OWNER TO "+appUser); err != nil {
					t.Fatal(err)
				}
			}
			tw.exec(t, "INSERT INTO %s (id, note, ssn) VALUES (1, 'a', '"+rt5SSN+"')", mode)
			for _, q := range []string{"BEGIN", "ALTER TABLE %s RENAME ssn TO ssn_old", "ALTER TABLE %s ADD COLUMN ssn text", "ROLLBACK"} {
				if strings.Contains(q, "%s") {
					tw.exec(t, q, mode)
				} else {
					tw.both(t, q)
				}
			}
			tw.same(t, "SELECT ssn FROM %s WHERE id = 1", mode, "read after the rolled-back DDL")
			tw.exec(t, "INSERT INTO %s VALUES (2, 'b', '078-05-1121')", mode)
			rt5NoPlain(t, tw)
			tw.same(t, "SELECT * FROM %s ORDER BY 1", mode, "INSERT without a column list after the rolled-back DDL")
		})
	}
}

// TestRedTeam5ErrorBeforeGuardQuotesValue: the guard runs inside the
// statement, after PostgreSQL has parsed and analysed it with the stale
// list; the value meant for the encrypted column travels in clear in the
// statement text, planned for the column the stale list gives it.
func TestRedTeam5ErrorBeforeGuardQuotesValue(t *testing.T) {
	t.Skip("HOLE: after another session's DDL, a filled INSERT whose stale list sends the value meant for the encrypted column to a column of another type fails at parse analysis, before the guard runs, with PostgreSQL's error quoting the value in clear (22P02 invalid input syntax for type integer: \"078-05-1120\"), to the client and into the server log; and in every stale case (guard refusals included) the value reaches the server in clear in the statement text, which the server logs with the error (log_min_error_statement = error). Closing it needs the columns checked before the statement is sent (a round trip per filled statement), not only inside it")
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
	_, err := via.Exec(ctx, "INSERT INTO "+quoted+" VALUES (2, '078-05-1121', 'b')", pgx.QueryExecModeSimpleProtocol)
	if rt4Code(err) != "40001" {
		t.Fatalf("INSERT after the DDL: %v, want 40001", err)
	}
	if !strings.Contains(err.Error(), "Rt5 q") {
		t.Errorf("the refusal does not name the table: %v", err)
	}
	if _, err := via.Exec(ctx, "INSERT INTO "+quoted+" VALUES (2, '078-05-1121', 'b')", pgx.QueryExecModeSimpleProtocol); err != nil {
		t.Fatalf("run again: %v", err)
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
// which columns have one; and refuses SET DEFAULT on one through itself.
func TestRedTeam5DefaultSetElsewhere(t *testing.T) {
	t.Skip("HOLE: phiguard's check that an encrypted column left out of an INSERT (or given DEFAULT) has no default reads the session's catalog; after another session, straight to the database, runs ALTER TABLE t ALTER ssn SET DEFAULT '<plaintext>', INSERT INTO t (id, note) VALUES (...) through a session whose catalog predates it stores that default, unencrypted, in the encrypted column. The plaintext is the DDL author's, not the client's (the same author could write it directly, or with a trigger), but the check exists for this case and a stale catalog defeats it")
	t.Parallel()
	ctx := testContext(t)
	tw := newTwin(t, "rt5def", rt5DefaultCols("rt5def-k")...)
	if _, err := tw.via.Exec(ctx, "SELECT 1"); err != nil {
		t.Fatal(err)
	}
	if _, err := superuser(t).Exec(ctx, "ALTER TABLE "+tw.enc+" ALTER COLUMN ssn SET DEFAULT '"+rt5SSN+"'"); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{"INSERT INTO %s (id, note) VALUES (1, 'x')", "INSERT INTO %s (id, note, ssn) VALUES (2, 'y', DEFAULT)"} {
		_, err := tw.via.Exec(ctx, fmt.Sprintf(q, tw.enc), pgx.QueryExecModeSimpleProtocol)
		t.Logf("%s: %v", q, err)
	}
	rt5NoPlain(t, tw)
}

// TestRedTeam5PartitionsAndChildren: a partition or inheritance child of
// a protected table stores its rows in the protected table, and a
// protected partition stores the rows written through its parent; none
// of those names is in the policy, so phiguard planned writes through
// them as plaintext: the SSN was stored in clear in the protected column,
// and came back in clear through the protected table. Writes and reads
// through them are refused now, as through a view.
func TestRedTeam5PartitionsAndChildren(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	part, inh, up := uniqueName("rt5part"), uniqueName("rt5inh"), uniqueName("rt5up")
	su := superuser(t)
	for _, q := range []string{
		"CREATE TABLE " + part + " (id int, ssn text) PARTITION BY RANGE (id)",
		"CREATE TABLE " + part + "_p1 PARTITION OF " + part + " FOR VALUES FROM (0) TO (100)",
		"CREATE TABLE " + inh + " (id int, ssn text)",
		"CREATE TABLE " + inh + "_c () INHERITS (" + inh + ")",
		"CREATE TABLE " + up + " (id int, ssn text) PARTITION BY RANGE (id)",
		"CREATE TABLE " + up + "_p1 PARTITION OF " + up + " FOR VALUES FROM (0) TO (100)",
		"GRANT ALL ON " + strings.Join([]string{part, part + "_p1", inh, inh + "_c", up, up + "_p1"}, ", ") + " TO " + appUser,
	} {
		if _, err := su.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	col := "    columns:\n      ssn: {mode: deterministic, key: rt5part-k, type: text}\n"
	pol := "version: 1\ntables:\n  public." + part + ":\n" + col + "  public." + inh + ":\n" + col + "  public." + up + "_p1:\n" + col
	p := startProxy(t, proxyOptions{protect: protection(t, pol)})
	via := p.app(t)
	for _, rel := range []string{part + "_p1", inh + "_c", up} {
		for _, q := range []string{
			"INSERT INTO " + rel + " (id, ssn) VALUES (1, '" + rt5SSN + "')",
			"UPDATE " + rel + " SET ssn = '" + rt5SSN + "'",
		} {
			_, err := via.Exec(ctx, q, pgx.QueryExecModeSimpleProtocol)
			t.Logf("%s: %v", q, err)
			if err != nil && rt4Code(err) != "0A000" {
				t.Errorf("%s: %v, want success or 0A000", q, err)
			}
		}
		_, err := via.PgConn().CopyFrom(ctx, strings.NewReader("2\t"+rt5SSN+"\n"), "COPY "+rel+" (id, ssn) FROM STDIN")
		t.Logf("COPY %s: %v", rel, err)
	}
	for _, rel := range []string{part, inh, up} {
		var leaked int
		if err := su.QueryRow(ctx, "SELECT count(*) FROM "+rel+" WHERE ssn = '"+rt5SSN+"'").Scan(&leaked); err != nil {
			t.Fatal(err)
		}
		if leaked != 0 {
			t.Errorf("%d row(s) of %s (or its partitions and children) hold the SSN in clear", leaked, rel)
		}
	}
	// The protected tables themselves work.
	for _, rel := range []string{part, inh, up + "_p1"} {
		if _, err := via.Exec(ctx, "INSERT INTO "+rel+" (id, ssn) VALUES (3, '"+rt5SSN+"')"); err != nil {
			t.Fatalf("INSERT INTO %s: %v", rel, err)
		}
		var ssn string
		if err := via.QueryRow(ctx, "SELECT ssn FROM "+rel+" WHERE id = 3").Scan(&ssn); err != nil || ssn != rt5SSN {
			t.Fatalf("read back from %s: %q, %v", rel, ssn, err)
		}
	}
	// Reading through a partition would return the cells as they are.
	var got string
	err := via.QueryRow(ctx, "SELECT ssn FROM "+part+"_p1 WHERE id = 3", pgx.QueryExecModeSimpleProtocol).Scan(&got)
	if strings.HasPrefix(got, "~phg~") || (err == nil && got != rt5SSN) {
		t.Errorf("read through the partition: %q, %v", got, err)
	}
}

// TestRedTeam5ColumnPrivilegeAppend: when a filled VALUES list names no
// encrypted column, the guard appends the table's first encrypted
// column with NULL, which needs INSERT on that column.
func TestRedTeam5ColumnPrivilegeAppend(t *testing.T) {
	t.Skip("HOLE (a spurious refusal, nothing leaks): a role granted INSERT on some columns only (GRANT INSERT (id, note, x)) runs INSERT INTO t VALUES (1, 'a', 'b') without a column list, which PostgreSQL accepts; the column guard appends the encrypted column ssn (with NULL) to carry its check, and the statement fails with 42501 permission denied for table t. The guard needs a text-typed slot; wrapping another value would change its type inference")
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

// TestRedTeam5ReadAfterOtherSessionReAdds: another session drops the
// encrypted column and adds it again (a migration that recreates it):
// its attribute number changes. The reading session maps result columns
// to protected ones by table OID and attribute number from its catalog,
// which nothing marked stale (no DDL of its own, no reload, no filled
// statement): every read of ssn returned the stored cells. A result
// field of a protected table that the catalog does not know now marks
// it stale, so the next statement is right (the first one is not, nor a
// statement prepared on the stale catalog:
// TestRedTeam5FirstReadAfterOtherSessionReAdds).
func TestRedTeam5ReadAfterOtherSessionReAdds(t *testing.T) {
	t.Parallel()
	for _, mode := range bothModes {
		t.Run(mode.String(), func(t *testing.T) {
			t.Parallel()
			tw := rt5ReAdded(t)
			first, _ := rt4Rows(tw.via, "SELECT id, ssn FROM "+tw.enc, mode)
			t.Logf("first read: %q", first)
			tw.same(t, "SELECT id, ssn FROM %s WHERE id > 0", mode, "the next statement")
		})
	}
}

// TestRedTeam5FirstReadAfterOtherSessionReAdds: the first read after
// that DDL.
func TestRedTeam5FirstReadAfterOtherSessionReAdds(t *testing.T) {
	t.Skip("HOLE (wrong answer, nothing leaks): after another session runs ALTER TABLE t DROP COLUMN ssn; ALTER TABLE t ADD COLUMN ssn text, the first read of ssn by a session whose catalog predates it returns the stored ~phg~ cells: the RowDescription shows a column the catalog does not know, which marks it stale for the next request, but this result is already on its way; and a statement prepared and described on the stale catalog (pgx's statement cache) keeps returning cells at every execution, as its result fields were mapped at its Describe")
	t.Parallel()
	tw := rt5ReAdded(t)
	tw.same(t, "SELECT id, ssn FROM %s", pgx.QueryExecModeSimpleProtocol, "the first read after")
}

// rt5ReAdded is the default twin after another session dropped and
// re-added ssn, with a row written through phiguard after that.
func rt5ReAdded(t *testing.T) *twin {
	t.Helper()
	ctx := testContext(t)
	tw := newTwin(t, "rt5readd", rt5DefaultCols("rt5readd-k")...)
	if _, err := tw.via.Exec(ctx, "SELECT 1"); err != nil {
		t.Fatal(err)
	}
	for _, table := range []string{tw.enc, tw.plain} {
		if _, err := superuser(t).Exec(ctx, "ALTER TABLE "+table+" DROP COLUMN ssn; ALTER TABLE "+table+" ADD COLUMN ssn text"); err != nil {
			t.Fatal(err)
		}
	}
	tw.exec(t, "INSERT INTO %s (id, note, ssn) VALUES (1, 'x', '"+rt5SSN+"')", pgx.QueryExecModeSimpleProtocol)
	rt5NoPlain(t, tw)
	return tw
}
