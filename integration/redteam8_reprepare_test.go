package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
)

// Red team 8, the second change: a named statement phiguard prepares
// again after its guard failed (guard/reprepare.go), and the catalog read
// before that Bind (guard/catalog_fresh.go).

// rt8Prepare prepares name as sql (with %s for the table) on both sides.
func rt8Prepare(t *testing.T, tw *twin, name, sql string) {
	t.Helper()
	for _, side := range []struct {
		conn  *pgx.Conn
		table string
	}{{tw.via, tw.enc}, {tw.dir, tw.plain}} {
		if _, err := side.conn.PgConn().Prepare(testContext(t), name, fmt.Sprintf(sql, side.table), nil); err != nil {
			t.Fatal(err)
		}
	}
}

func rt8Exec(t *testing.T, c *pgx.Conn, name string, args ...string) error {
	t.Helper()
	var params [][]byte
	for _, a := range args {
		params = append(params, []byte(a))
	}
	return c.PgConn().ExecPrepared(testContext(t), name, params, nil, nil).Read().Err
}

// TestRedTeam8ReprepareFailsInAbortedTransaction: the guard fails inside
// a transaction, which PostgreSQL then aborts; the next Bind of the
// statement, still in the aborted transaction, has phiguard Close it and
// Parse it again, and the Parse fails (25P02). PostgreSQL keeps a
// prepared statement across the ROLLBACK; through phiguard it was gone
// (26000) for the rest of the session.
func TestRedTeam8ReprepareFailsInAbortedTransaction(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	tw := newTwin(t, "rt8abort", rt5DefaultCols("rt8abort-k")...)
	rt8Prepare(t, tw, "ins", "INSERT INTO %s VALUES ($1, $2, $3)")
	for _, table := range []string{tw.enc, tw.plain} {
		if _, err := superuser(t).Exec(ctx, strings.ReplaceAll(rt5DefaultDDL, "{t}", table)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := tw.via.Exec(ctx, "BEGIN"); err != nil {
		t.Fatal(err)
	}
	if err := rt8Exec(t, tw.via, "ins", "1", rt5SSN, "x"); pgCode(err) != "40001" {
		t.Fatalf("first execution after the DDL: %v; want 40001", err)
	}
	if err := rt8Exec(t, tw.via, "ins", "1", rt5SSN, "x"); pgCode(err) != "25P02" {
		t.Errorf("in the aborted transaction: %v; want 25P02", err)
	}
	if _, err := tw.via.Exec(ctx, "ROLLBACK"); err != nil {
		t.Fatal(err)
	}
	rt5NoPlain(t, tw)
	if err := rt8Exec(t, tw.dir, "ins", "1", rt5SSN, "x"); err != nil {
		t.Fatal(err)
	}
	if err := rt8Exec(t, tw.via, "ins", "1", rt5SSN, "x"); err != nil {
		t.Fatalf("after the ROLLBACK: %v; PostgreSQL still has the statement and runs it", err)
	}
	rt5NoPlain(t, tw)
	tw.same(t, "SELECT * FROM %s ORDER BY 1", pgx.QueryExecModeSimpleProtocol, "after the re-prepare in an aborted transaction")
}

// TestRedTeam8ReprepareRefusedEveryTime: a statement refused when
// phiguard prepares it again (its left-out encrypted column has a
// default now) is refused at every execution after, with the same
// SQLSTATE, and runs again once the default is dropped, as PostgreSQL's
// statement would; the Parse that failed left it unknown (26000).
func TestRedTeam8ReprepareRefusedEveryTime(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	tw := newTwin(t, "rt8again", rt5DefaultCols("rt8again-k")...)
	rt8Prepare(t, tw, "ins", "INSERT INTO %s (id, note) VALUES ($1, $2)")
	if err := rt8Exec(t, tw.via, "ins", "1", "x"); err != nil {
		t.Fatal(err)
	}
	su := superuser(t)
	if _, err := su.Exec(ctx, "ALTER TABLE "+tw.enc+" ALTER COLUMN ssn SET DEFAULT '"+rt5SSN+"'"); err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{"40001", "0A000", "0A000", "0A000"} {
		if err := rt8Exec(t, tw.via, "ins", fmt.Sprint(i+2), "x"); pgCode(err) != want {
			t.Errorf("execution %d after the DDL: %v; want %s", i+1, err, want)
		}
		rt5NoPlain(t, tw)
	}
	if _, err := su.Exec(ctx, "ALTER TABLE "+tw.enc+" ALTER COLUMN ssn DROP DEFAULT"); err != nil {
		t.Fatal(err)
	}
	var err error
	for attempt := 1; attempt <= 2; attempt++ {
		if err = rt8Exec(t, tw.via, "ins", "9", "y"); err == nil {
			break
		}
		t.Logf("after DROP DEFAULT, attempt %d: %v", attempt, err)
	}
	if err != nil {
		t.Errorf("after DROP DEFAULT: %v; want the statement to run", err)
	}
	rt5NoPlain(t, tw)
}

// TestRedTeam8RepreparePipelined: several Binds of the stale statement
// in one pipeline segment, and one in the middle of a segment after
// another statement: every answer lines up, nothing in clear, and the
// rows equal plain PostgreSQL's.
func TestRedTeam8RepreparePipelined(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	tw := newTwin(t, "rt8pipe", rt5DefaultCols("rt8pipe-k")...)
	rt8Prepare(t, tw, "ins", "INSERT INTO %s VALUES ($1, $2, $3) RETURNING id, ssn, note")
	for _, table := range []string{tw.enc, tw.plain} {
		if _, err := superuser(t).Exec(ctx, strings.ReplaceAll(rt5DefaultDDL, "{t}", table)); err != nil {
			t.Fatal(err)
		}
	}
	if err := rt8Exec(t, tw.via, "ins", "1", rt5SSN, "x"); pgCode(err) != "40001" {
		t.Fatalf("first execution after the DDL: %v; want 40001", err)
	}
	rt5NoPlain(t, tw)
	for _, c := range []*pgx.Conn{tw.via, tw.dir} {
		pc := c.PgConn()
		b := &pgconn.Batch{}
		b.ExecParams("SELECT 7", nil, nil, nil, nil)
		b.ExecPrepared("ins", [][]byte{[]byte("2"), []byte("078-05-1121"), []byte("y")}, nil, nil)
		b.ExecPrepared("ins", [][]byte{[]byte("3"), []byte("078-05-1122"), []byte("z")}, nil, nil)
		res, err := pc.ExecBatch(ctx, b).ReadAll()
		if err != nil {
			t.Fatalf("batch: %v", err)
		}
		var got []string
		for _, r := range res {
			if r.Err != nil {
				t.Fatalf("batch result: %v", r.Err)
			}
			for _, row := range r.Rows {
				for _, v := range row {
					got = append(got, string(v))
				}
			}
		}
		if want := "7 2 078-05-1121 y 3 078-05-1122 z"; strings.Join(got, " ") != want {
			t.Errorf("batch answered %q, want %q", strings.Join(got, " "), want)
		}
	}
	rt5NoPlain(t, tw)
	tw.same(t, "SELECT * FROM %s ORDER BY 1", pgx.QueryExecModeSimpleProtocol, "pipelined re-prepare")
}

// TestRedTeam8ReprepareKeepsParameterTypes: after another session's DDL
// moved a column and changed its type (note text -> varchar(4)), a
// statement whose column list phiguard filled fails before its guard
// (22001: the stale list gives note the SSN); it was never prepared
// again, so it failed so at every execution, where PostgreSQL re-plans
// it and runs it. And PostgreSQL fixes a prepared statement's parameter
// types at its Parse and keeps them when it re-plans; phiguard's
// re-Parse sent the client's (unspecified) types, so PostgreSQL inferred
// them anew from the changed table and a Describe answered other types
// than the client had been told.
func TestRedTeam8ReprepareKeepsParameterTypes(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	tw := newTwin(t, "rt8types", rt5DefaultCols("rt8types-k")...)
	rt8Prepare(t, tw, "ins", "INSERT INTO %s VALUES ($1, $2, $3)")
	for _, table := range []string{tw.enc, tw.plain} {
		if _, err := superuser(t).Exec(ctx, "ALTER TABLE "+table+" DROP COLUMN note; ALTER TABLE "+table+" ADD COLUMN note varchar(4)"); err != nil {
			t.Fatal(err)
		}
	}
	dirErr := rt8Exec(t, tw.dir, "ins", "2", rt5SSN, "5")
	var viaErr error
	for attempt := 1; attempt <= 3; attempt++ {
		viaErr = rt8Exec(t, tw.via, "ins", "2", rt5SSN, "5")
		t.Logf("through phiguard, attempt %d: %v", attempt, viaErr)
		rt5NoPlain(t, tw)
		if viaErr == nil {
			break
		}
	}
	if (dirErr == nil) != (viaErr == nil) || pgCode(dirErr) != pgCode(viaErr) {
		t.Errorf("after the column changed type: through phiguard %v, directly %v", viaErr, dirErr)
	}
	if via, dir := rt8DescribeParams(t, tw.via), rt8DescribeParams(t, tw.dir); via != dir {
		t.Errorf("Describe of the statement after the DDL: parameters %s through phiguard, %s directly", via, dir)
	}
	tw.same(t, "SELECT id, ssn, note FROM %s ORDER BY 1", pgx.QueryExecModeSimpleProtocol, "after the column changed type")
}

// rt8DescribeParams describes the statement ins and returns its
// parameter types.
func rt8DescribeParams(t *testing.T, c *pgx.Conn) string {
	t.Helper()
	pc := c.PgConn()
	fe := pc.Frontend()
	fe.Send(&pgproto3.Describe{ObjectType: 'S', Name: "ins"})
	fe.Send(&pgproto3.Sync{})
	if err := fe.Flush(); err != nil {
		t.Fatal(err)
	}
	got := "none"
	for {
		msg, err := pc.ReceiveMessage(testContext(t))
		if err != nil {
			t.Fatal(err)
		}
		switch m := msg.(type) {
		case *pgproto3.ParameterDescription:
			got = fmt.Sprint(m.ParameterOIDs)
		case *pgproto3.ErrorResponse:
			got = "error " + m.Code
		case *pgproto3.ReadyForQuery:
			return got
		}
	}
}

// TestRedTeam8ReprepareAfterErrorInSegment: the stale statement's Bind
// comes after an error in the same pipeline segment, so PostgreSQL skips
// phiguard's Close and Parse with it; the statement must still be there,
// prepared again at its next Bind, and the answers aligned.
func TestRedTeam8ReprepareAfterErrorInSegment(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	tw := newTwin(t, "rt8segerr", rt5DefaultCols("rt8segerr-k")...)
	rt8Prepare(t, tw, "ins", "INSERT INTO %s VALUES ($1, $2, $3)")
	for _, table := range []string{tw.enc, tw.plain} {
		if _, err := superuser(t).Exec(ctx, strings.ReplaceAll(rt5DefaultDDL, "{t}", table)); err != nil {
			t.Fatal(err)
		}
	}
	if err := rt8Exec(t, tw.via, "ins", "1", rt5SSN, "x"); pgCode(err) != "40001" {
		t.Fatalf("first execution after the DDL: %v; want 40001", err)
	}
	for _, c := range []*pgx.Conn{tw.via, tw.dir} {
		b := &pgconn.Batch{}
		b.ExecParams("SELECT 1/0", nil, nil, nil, nil)
		b.ExecPrepared("ins", [][]byte{[]byte("2"), []byte("078-05-1121"), []byte("y")}, nil, nil)
		_, err := c.PgConn().ExecBatch(ctx, b).ReadAll()
		if pgCode(err) != "22012" {
			t.Errorf("the batch: %v; want 22012", err)
		}
	}
	for _, c := range []*pgx.Conn{tw.via, tw.dir} {
		if err := rt8Exec(t, c, "ins", "3", "078-05-1122", "z"); err != nil {
			t.Errorf("after the batch: %v", err)
		}
	}
	var one int
	if err := tw.via.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil || one != 1 {
		t.Fatalf("SELECT 1 afterwards: %d, %v", one, err)
	}
	rt5NoPlain(t, tw)
	tw.same(t, "SELECT * FROM %s ORDER BY 1", pgx.QueryExecModeSimpleProtocol, "re-prepare skipped after an error")
}

// TestRedTeam8SQLPrepare: PREPARE in SQL of an INSERT on a protected
// table is refused outright (0A000), so no SQL-level statement holds a
// guard phiguard cannot prepare again.
func TestRedTeam8SQLPrepare(t *testing.T) {
	t.Parallel()
	tw := newTwin(t, "rt8sqlprep", rt5DefaultCols("rt8sqlprep-k")...)
	for _, q := range []string{"PREPARE ins (int, text, text) AS INSERT INTO %s VALUES ($1, $2, $3)", "PREPARE ins2 AS INSERT INTO %s (id, note) VALUES ($1, $2)"} {
		_, err := tw.via.Exec(testContext(t), fmt.Sprintf(q, tw.enc))
		if pgCode(err) != "0A000" {
			t.Errorf("%s: %v; want 0A000", q, err)
		}
	}
}

// TestRedTeam8ReprepareTypedEncrypted: the re-Parse declares the types
// the client was told, which for an encrypted integer or date column are
// the column's logical type (phiguard sends its parameter as text): the
// statement must run after the DDL and store what PostgreSQL stores.
func TestRedTeam8ReprepareTypedEncrypted(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	tw := newTwin(t, "rt8typed", twinColumn{"id", "int", ""}, twinColumn{"k", "int", ""},
		twinColumn{"n", "integer", "{mode: deterministic, key: rt8typed-n, type: integer}"})
	rt8Prepare(t, tw, "ins", "INSERT INTO %s VALUES ($1, $2, $3)")
	before := rt8DescribeParams(t, tw.via)
	for _, c := range []*pgx.Conn{tw.via, tw.dir} {
		if err := rt8Exec(t, c, "ins", "1", "7", "42"); err != nil {
			t.Fatal(err)
		}
	}
	for _, table := range []string{tw.enc, tw.plain} {
		if _, err := superuser(t).Exec(ctx, "ALTER TABLE "+table+" DROP COLUMN k; ALTER TABLE "+table+" ADD COLUMN k int"); err != nil {
			t.Fatal(err)
		}
	}
	// Now (id, n, k): $2 goes to n.
	if err := rt8Exec(t, tw.dir, "ins", "2", "43", "8"); err != nil {
		t.Fatal(err)
	}
	var err error
	for attempt := 1; attempt <= 3; attempt++ {
		if err = rt8Exec(t, tw.via, "ins", "2", "43", "8"); err == nil {
			break
		}
		t.Logf("attempt %d: %v", attempt, err)
	}
	if err != nil {
		t.Fatalf("after the DDL: %v", err)
	}
	if after, dir := rt8DescribeParams(t, tw.via), rt8DescribeParams(t, tw.dir); after != dir || after != before {
		t.Errorf("parameters %s through phiguard after the re-prepare (%s before), %s directly", after, before, dir)
	}
	tw.same(t, "SELECT id, k, n FROM %s ORDER BY 1", pgx.QueryExecModeSimpleProtocol, "typed encrypted columns re-prepared")
}

// TestRedTeam8ReloadBeforeBind: a named INSERT of a column phiguard does
// not encrypt, prepared before a reload that encrypts it: its next Bind
// must not store the value in clear.
func TestRedTeam8ReloadBeforeBind(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	table := uniqueName("rt8reload")
	if _, err := superuser(t).Exec(ctx, "CREATE TABLE "+table+" (id int, note text, ssn text); GRANT ALL ON "+table+" TO "+appUser); err != nil {
		t.Fatal(err)
	}
	v1 := "version: 1\ntables:\n  public." + table + ":\n    columns:\n      ssn: {mode: deterministic, key: rt8reload-k, type: text}\n"
	v2 := v1 + "      note: {mode: deterministic, key: rt8reload-k, type: text}\n"
	p := startProxy(t, proxyOptions{protect: protection(t, v1)})
	conn := p.app(t)
	reload := func(v string) {
		path := filepath.Join(t.TempDir(), "policy.yml")
		if err := os.WriteFile(path, []byte(v), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := p.srv.ReloadPolicyFile(path); err != nil {
			t.Fatalf("reload: %v", err)
		}
	}
	for i, q := range []string{"INSERT INTO " + table + " VALUES ($1, $2, $3)", "INSERT INTO " + table + " (id, note) VALUES ($1, $2)"} {
		reload(v1)
		name := fmt.Sprint("s", i)
		if _, err := conn.PgConn().Prepare(ctx, name, q, nil); err != nil {
			t.Fatal(err)
		}
		reload(v2)
		args := []string{"1", rt5SSN}
		if strings.Contains(q, "$3") {
			args = append(args, "x")
		}
		err := rt8Exec(t, conn, name, args...)
		t.Logf("%s after the reload: %v", q, err)
		var leaked int
		if err := direct(t).QueryRow(ctx, "SELECT count(*) FROM "+table+" e WHERE e::text LIKE '%"+rt5SSN+"%'").Scan(&leaked); err != nil {
			t.Fatal(err)
		}
		if leaked != 0 {
			t.Fatalf("%s, prepared before the reload that encrypts note: stored in clear", q)
		}
	}
}

// TestRedTeam8UnnamedStatementAcrossDDL: the unnamed statement, prepared
// once and bound again (libpq's PQprepare with "" and PQexecPrepared),
// across another session's DDL: PostgreSQL re-plans it. Through phiguard
// the catalog read before the next Bind, a simple Query, dropped it
// (26000 at every execution after); phiguard now prepares the unnamed
// statement again too.
func TestRedTeam8UnnamedStatementAcrossDDL(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	tw := newTwin(t, "rt8unnamed", rt5DefaultCols("rt8unnamed-k")...)
	rt8Prepare(t, tw, "", "INSERT INTO %s VALUES ($1, $2, $3)")
	for _, c := range []*pgx.Conn{tw.via, tw.dir} {
		if err := rt8Exec(t, c, "", "1", "x", "078-05-1121"); err != nil {
			t.Fatal(err)
		}
	}
	for _, table := range []string{tw.enc, tw.plain} {
		if _, err := superuser(t).Exec(ctx, strings.ReplaceAll(rt5DefaultDDL, "{t}", table)); err != nil {
			t.Fatal(err)
		}
	}
	if err := rt8Exec(t, tw.dir, "", "2", rt5SSN, "y"); err != nil {
		t.Fatal(err)
	}
	var err error
	for attempt := 1; attempt <= 3; attempt++ {
		if err = rt8Exec(t, tw.via, "", "2", rt5SSN, "y"); err == nil {
			break
		}
		t.Logf("attempt %d: %v", attempt, err)
		rt5NoPlain(t, tw)
	}
	rt5NoPlain(t, tw)
	if err != nil {
		t.Fatalf("the unnamed statement across DDL: %v at every execution", err)
	}
	tw.same(t, "SELECT * FROM %s ORDER BY 1", pgx.QueryExecModeSimpleProtocol, "unnamed statement across DDL")
}

// TestRedTeam8BindAfterReload: pgx's describe-exec shape: Parse of the
// unnamed statement and Describe, Sync; then Bind and Execute, Sync. A
// reload that changes the protected tables in between makes the catalog
// stale, and phiguard read it before the Bind (a Bind at the start of a
// segment counts since 50b79b0) with a simple Query, which drops the
// unnamed statement in PostgreSQL: the Bind failed with 26000. The read
// is for a Bind of a statement phiguard prepares again only.
func TestRedTeam8BindAfterReload(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	a, b := uniqueName("rt8bind_a"), uniqueName("rt8bind_b")
	if _, err := superuser(t).Exec(ctx, "CREATE TABLE "+a+" (id int, s text); CREATE TABLE "+b+" (id int, s text); GRANT ALL ON "+a+", "+b+" TO "+appUser); err != nil {
		t.Fatal(err)
	}
	v1 := "version: 1\ntables:\n  public." + a + ":\n    columns:\n      s: {mode: deterministic, key: rt8bind-k, type: text}\n"
	v2 := v1 + "  public." + b + ":\n    columns:\n      s: {mode: deterministic, key: rt8bind-k, type: text}\n"
	p := startProxy(t, proxyOptions{protect: protection(t, v1)})
	conn := p.app(t)
	pc := conn.PgConn()
	fe := pc.Frontend()
	fe.Send(&pgproto3.Parse{Query: "SELECT 41 + 1"})
	fe.Send(&pgproto3.Describe{ObjectType: 'S'})
	fe.Send(&pgproto3.Sync{})
	if err := drainToReady(pc); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "policy.yml")
	if err := os.WriteFile(path, []byte(v2), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := p.srv.ReloadPolicyFile(path); err != nil {
		t.Fatalf("reload: %v", err)
	}
	fe.Send(&pgproto3.Bind{})
	fe.Send(&pgproto3.Execute{})
	fe.Send(&pgproto3.Sync{})
	if err := fe.Flush(); err != nil {
		t.Fatal(err)
	}
	var got string
	for done := false; !done; {
		msg, err := pc.ReceiveMessage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		switch m := msg.(type) {
		case *pgproto3.DataRow:
			got = string(m.Values[0])
		case *pgproto3.ErrorResponse:
			got = m.Code + " " + m.Message
		case *pgproto3.ReadyForQuery:
			done = true
		}
	}
	if got != "42" {
		t.Errorf("Bind of the unnamed statement after a reload: %q; want 42", got)
	}
}

// TestRedTeam8ReprepareUndescribedTypes: a statement the client Parsed
// without a Describe (so phiguard never saw the parameter types
// PostgreSQL fixed for it) was prepared again after DDL with the client's
// unspecified types, which PostgreSQL inferred anew from the changed
// table; phiguard now describes such a statement itself before its first
// Bind (guard/reprepare_types.go) and declares those types.
func TestRedTeam8ReprepareUndescribedTypes(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	tw := newTwin(t, "rt8undesc", rt5DefaultCols("rt8undesc-k")...)
	for _, side := range []struct {
		c     *pgx.Conn
		table string
	}{{tw.via, tw.enc}, {tw.dir, tw.plain}} {
		pc := side.c.PgConn()
		pc.Frontend().Send(&pgproto3.Parse{Name: "ins", Query: "INSERT INTO " + side.table + " VALUES ($1, $2, $3)"})
		pc.Frontend().Send(&pgproto3.Sync{})
		if err := drainToReady(pc); err != nil {
			t.Fatal(err)
		}
		if err := rt8Exec(t, side.c, "ins", "1", "x", "078-05-1121"); err != nil {
			t.Fatal(err)
		}
	}
	for _, table := range []string{tw.enc, tw.plain} {
		if _, err := superuser(t).Exec(ctx, "ALTER TABLE "+table+" DROP COLUMN note; ALTER TABLE "+table+" ADD COLUMN note varchar(4)"); err != nil {
			t.Fatal(err)
		}
	}
	for attempt := 1; attempt <= 3; attempt++ {
		if err := rt8Exec(t, tw.via, "ins", "2", rt5SSN, "y"); err == nil {
			break
		}
	}
	rt5NoPlain(t, tw)
	if via, dir := rt8DescribeParams(t, tw.via), rt8DescribeParams(t, tw.dir); via != dir {
		t.Errorf("a statement Parsed without a Describe and prepared again by phiguard after DDL: parameters %s through phiguard, %s directly (PostgreSQL keeps the types fixed at the client's Parse)", via, dir)
	}
}
