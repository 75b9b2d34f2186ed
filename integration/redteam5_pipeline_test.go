package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Red team 5: the catalog read before a request, in transactions,
// prepared statements and pipelines (guard/catalog_fresh.go).

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

// TestRedTeam5NamedPreparedDefaultAdded: a named INSERT whose column
// list leaves the encrypted column out, prepared before another session
// gives that column a plaintext default: the default guard fails it
// (40001), and prepared again at the next Bind it is refused (0A000, the
// column now has a default), never run with the default stored in clear.
func TestRedTeam5NamedPreparedDefaultAdded(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	tw := newTwin(t, "rt5nameddef", rt5DefaultCols("rt5nameddef-k")...)
	pc := tw.via.PgConn()
	if _, err := pc.Prepare(ctx, "ins", "INSERT INTO "+tw.enc+" (id, note) VALUES ($1, $2)", nil); err != nil {
		t.Fatal(err)
	}
	exec := func(id string) error {
		return pc.ExecPrepared(ctx, "ins", [][]byte{[]byte(id), []byte("x")}, nil, nil).Read().Err
	}
	if err := exec("1"); err != nil {
		t.Fatal(err)
	}
	if _, err := superuser(t).Exec(ctx, "ALTER TABLE "+tw.enc+" ALTER COLUMN ssn SET DEFAULT '"+rt5SSN+"'"); err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{"40001", "0A000"} {
		if err := exec(fmt.Sprint(i + 2)); rt4Code(err) != want {
			t.Errorf("execution %d after the DDL: %v; want %s", i+1, err, want)
		}
		rt5NoPlain(t, tw)
	}
	// The session goes on.
	var one int
	if err := tw.via.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil || one != 1 {
		t.Fatalf("SELECT 1 afterwards: %d, %v", one, err)
	}
}

// TestRedTeam5NamedPreparedInFailedTransaction: the guard of a named
// statement fails inside a transaction, which aborts it. phiguard does not
// prepare the statement again there (PostgreSQL would run the Close and
// refuse the Parse with 25P02, and the statement would be gone): the next
// execution gets 25P02 as it would directly, and after ROLLBACK the
// statement, prepared again, runs.
func TestRedTeam5NamedPreparedInFailedTransaction(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	tw := newTwin(t, "rt5namedtx", rt5DefaultCols("rt5namedtx-k")...)
	pc := tw.via.PgConn()
	if _, err := pc.Prepare(ctx, "ins", "INSERT INTO "+tw.enc+" VALUES ($1, $2, $3)", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := superuser(t).Exec(ctx, strings.ReplaceAll(rt5DefaultDDL, "{t}", tw.enc)); err != nil {
		t.Fatal(err)
	}
	exec := func(id string) error { // (id, ssn, note) after the DDL
		return pc.ExecPrepared(ctx, "ins", [][]byte{[]byte(id), []byte(rt5SSN), []byte("x")}, nil, nil).Read().Err
	}
	if _, err := tw.via.Exec(ctx, "BEGIN"); err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{"40001", "25P02"} {
		if err := exec(fmt.Sprint(i + 1)); rt4Code(err) != want {
			t.Fatalf("execution %d in the transaction: %v; want %s", i+1, err, want)
		}
	}
	if _, err := tw.via.Exec(ctx, "ROLLBACK"); err != nil {
		t.Fatal(err)
	}
	if err := exec("3"); err != nil {
		t.Fatalf("after ROLLBACK: %v", err)
	}
	rt5NoPlain(t, tw)
	var ssn, note string
	if err := tw.via.QueryRow(ctx, "SELECT ssn, note FROM "+tw.enc+" WHERE id = 3").Scan(&ssn, &note); err != nil || ssn != rt5SSN || note != "x" {
		t.Fatalf("read back: %q %q %v", ssn, note, err)
	}
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

// TestRedTeam5DDLRolledBack: the session's own DDL inside a transaction
// makes phiguard read its catalog inside that transaction; a ROLLBACK
// undoes the DDL but left the catalog as the transaction saw it. After
// RENAME ssn TO ssn_old, ADD COLUMN ssn, ROLLBACK, the session read ssn
// as stored cells and filled INSERTs without a column list with ssn_old,
// until its next DDL. (RENAME of an encrypted column is refused since
// red team 10: DROP COLUMN ssn, ADD COLUMN ssn, ROLLBACK moves ssn the
// same way.)
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
			for _, q := range []string{"BEGIN", "ALTER TABLE %s DROP COLUMN ssn", "ALTER TABLE %s ADD COLUMN ssn text", "ROLLBACK"} {
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
