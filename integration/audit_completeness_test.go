package integration

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/phiguard/phiguard/audit"
	"github.com/phiguard/phiguard/keys"
)

// want is the part of a record the completeness test checks.
type want struct {
	Event    string `json:"event"`
	Kind     string `json:"kind,omitempty"`
	Protocol string `json:"protocol,omitempty"`
	Decision string `json:"decision,omitempty"`
	SQLState string `json:"sqlstate,omitempty"`
	Rows     *int64 `json:"rows,omitempty"`
}

func (w want) String() string {
	rows := "-"
	if w.Rows != nil {
		rows = fmt.Sprint(*w.Rows)
	}
	return fmt.Sprintf("%s/%s/%s/%s/%s/rows=%s", w.Event, w.Kind, w.Protocol, w.Decision, w.SQLState, rows)
}

func stmtRec(kind, protocol, sqlstate string, rows int64) want {
	return want{Event: "statement", Kind: kind, Protocol: protocol, Decision: "allow", SQLState: sqlstate, Rows: &rows}
}

func refusalRec(kind, protocol, sqlstate string) want {
	return want{Event: "refusal", Kind: kind, Protocol: protocol, Decision: "deny", SQLState: sqlstate}
}

// TestAuditCompleteness runs a scripted session of every statement kind
// through phiguard with a file sink, in both protocols, with COPY in and
// out, backend errors (at Execute, at Bind, mid-Query, mid-pipeline),
// refusals and a multi-statement Query, and checks
// that the trail holds exactly one record per statement, in order, with
// the right kind, protocol, decision, SQLSTATE and row count, framed by
// the connection's open and close records, and that the chain verifies.
func TestAuditCompleteness(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	table, scratch := uniqueName("acp"), uniqueName("acs")
	if _, err := superuser(t).Exec(ctx, fmt.Sprintf("CREATE TABLE %[1]s (id int PRIMARY KEY, ssn text, note text); GRANT ALL ON %[1]s TO %[2]s", table, appUser)); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	key := audit.MACKey{ID: "audit", Version: 1, Secret: keys.NewSecret(bytes.Repeat([]byte{5}, 32))}
	a, err := audit.New(audit.Options{Key: key, Sink: audit.NewFileSink(audit.FileOptions{Dir: dir, Prefix: "audit", MaxBytes: 1 << 20})})
	if err != nil {
		t.Fatal(err)
	}
	p := startProxy(t, proxyOptions{auditor: a, protect: protection(t, fmt.Sprintf(`
version: 1
tables:
  public.%s:
    subject_column: id
    columns:
      ssn: {mode: deterministic, key: acp-ssn, type: text}
`, table))})
	conn := p.app(t)
	pc := conn.PgConn()

	var expect []want
	expect = append(expect, want{Event: "connection_open"})
	// simple runs one simple-protocol Query and expects its records.
	simple := func(sql, code string, recs ...want) {
		t.Helper()
		_, err := pc.Exec(ctx, sql).ReadAll()
		checkCode(t, sql, err, code)
		expect = append(expect, recs...)
	}
	// extended runs sql with Parse/Bind/Describe/Execute/Sync.
	extended := func(sql string, args []string, code string, rec want) {
		t.Helper()
		params := make([][]byte, len(args))
		for i, a := range args {
			params[i] = []byte(a)
		}
		err := pc.ExecParams(ctx, sql, params, nil, nil, nil).Read().Err
		checkCode(t, sql, err, code)
		expect = append(expect, rec)
	}
	const S, E, C = "simple", "extended", "copy"
	ok := "00000"

	simple("INSERT INTO "+table+" (id, ssn, note) VALUES (1, '100-00-0001', 'a'), (2, '100-00-0002', 'b')", "", stmtRec("insert", S, ok, 2))
	simple("SELECT id, ssn FROM "+table+" ORDER BY id", "", stmtRec("select", S, ok, 2))
	simple("UPDATE "+table+" SET note = 'c' WHERE id = 1", "", stmtRec("update", S, ok, 1))
	simple("DELETE FROM "+table+" WHERE id = 2", "", stmtRec("delete", S, ok, 1))
	simple("CREATE TABLE "+scratch+" (id int)", "", stmtRec("ddl", S, ok, 0))
	simple("ALTER TABLE "+scratch+" ADD COLUMN v text", "", stmtRec("ddl", S, ok, 0))
	simple("SET application_name = 'audit_completeness'", "", stmtRec("set", S, ok, 0))
	simple("SHOW application_name", "", stmtRec("set", S, ok, 1))
	simple("BEGIN", "", stmtRec("transaction", S, ok, 0))
	simple("INSERT INTO "+scratch+" VALUES (1, 'x')", "", stmtRec("insert", S, ok, 1))
	simple("COMMIT", "", stmtRec("transaction", S, ok, 0))
	simple("BEGIN", "", stmtRec("transaction", S, ok, 0))
	simple("DELETE FROM "+scratch, "", stmtRec("delete", S, ok, 1))
	simple("ROLLBACK", "", stmtRec("transaction", S, ok, 0))
	simple("SELECT 1/0", "22012", stmtRec("select", S, "22012", 0))
	simple("SELECT id FROM "+table+" WHERE ssn ~ '^1'", "0A000", refusalRec("select", S, "0A000"))
	simple("INSERT INTO "+scratch+" VALUES (2, 'y'); SELECT * FROM "+scratch+"; UPDATE "+scratch+" SET v = 'z'", "",
		stmtRec("insert", S, ok, 1), stmtRec("select", S, ok, 2), stmtRec("update", S, ok, 2))
	simple("DROP TABLE "+scratch, "", stmtRec("ddl", S, ok, 0))
	// An error ends a multi-statement Query: the statements after it never
	// run and leave no record.
	simple("SELECT 1; SELECT 1/0; SELECT 2", "22012", stmtRec("select", S, ok, 1), stmtRec("select", S, "22012", 0))

	if _, err := pc.CopyFrom(ctx, strings.NewReader("3\t100-00-0003\td\n4\t100-00-0004\te\n"), "COPY "+table+" (id, ssn, note) FROM STDIN"); err != nil {
		t.Fatal(err)
	}
	expect = append(expect, stmtRec("copy", C, ok, 2))
	var out bytes.Buffer
	if _, err := pc.CopyTo(ctx, &out, "COPY "+table+" (id, ssn) TO STDOUT"); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "100-00-0003") {
		t.Fatalf("COPY TO did not decrypt: %q", out.String())
	}
	expect = append(expect, stmtRec("copy", C, ok, 3))

	extended("SELECT id, ssn FROM "+table+" WHERE id = $1", []string{"1"}, "", stmtRec("select", E, ok, 1))
	extended("INSERT INTO "+table+" (id, ssn) VALUES ($1, $2)", []string{"5", "100-00-0005"}, "", stmtRec("insert", E, ok, 1))
	extended("UPDATE "+table+" SET note = $1 WHERE id = $2", []string{"f", "5"}, "", stmtRec("update", E, ok, 1))
	extended("DELETE FROM "+table+" WHERE id = $1", []string{"5"}, "", stmtRec("delete", E, ok, 1))
	extended("INSERT INTO "+table+" (id, ssn) VALUES ($1, $2)", []string{"1", "100-00-0009"}, "23505", stmtRec("insert", E, "23505", 0))
	extended("SELECT id FROM "+table+" WHERE ssn ~ $1", []string{"^1"}, "0A000", refusalRec("select", E, "0A000"))
	// A parameter the backend rejects fails the statement at Bind: its
	// Execute is skipped, and the Bind error is the statement's record.
	extended("SELECT id FROM "+table+" WHERE id = $1", []string{"not a number"}, "22P02", stmtRec("select", E, "22P02", 0))

	// A pipeline of three Executes before one Sync whose second fails:
	// the third is skipped by the backend and leaves no record.
	batch := &pgx.Batch{}
	batch.Queue("SELECT id FROM "+table+" WHERE id = $1", 1)
	batch.Queue("SELECT 1/$1::int", 0)
	batch.Queue("SELECT id FROM "+table+" WHERE id = $1", 3)
	br := conn.SendBatch(ctx, batch)
	if _, err := br.Exec(); err != nil {
		t.Fatal(err)
	}
	_, err = br.Exec()
	checkCode(t, "batch 2", err, "22012")
	br.Close()
	expect = append(expect, stmtRec("select", E, ok, 1), stmtRec("select", E, "22012", 0))

	// pgx's own way: a cached prepared statement, and a transaction whose
	// BEGIN and COMMIT go as simple Queries around an extended UPDATE.
	var ssn string
	if err := conn.QueryRow(ctx, "SELECT ssn FROM "+table+" WHERE id = $1", 3).Scan(&ssn); err != nil || ssn != "100-00-0003" {
		t.Fatalf("pgx QueryRow: %q %v", ssn, err)
	}
	expect = append(expect, stmtRec("select", E, ok, 1))
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, "UPDATE "+table+" SET note = $1 WHERE id = $2", "g", 3); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	expect = append(expect, stmtRec("transaction", S, ok, 0), stmtRec("update", E, ok, 1), stmtRec("transaction", S, ok, 0))

	if err := conn.Close(ctx); err != nil {
		t.Fatal(err)
	}
	expect = append(expect, want{Event: "connection_close"})
	waitFor(t, 10e9, "the session to end", func() bool { return p.metric(t, "phiguard_proxy_connections_active") == 0 })
	if err := a.Close(context.Background()); err != nil {
		t.Fatal(err)
	}

	files, err := audit.Files(dir, "audit")
	if err != nil || len(files) != 1 {
		t.Fatalf("audit files: %v %v", files, err)
	}
	got, statements := readWants(t, files[0])
	if raw, _ := os.ReadFile(files[0]); os.Getenv("AUDIT_DUMP") != "" {
		t.Logf("%s", raw)
	}
	for i := 0; i < max(len(got), len(expect)); i++ {
		var g, w string
		if i < len(got) {
			g = got[i].String()
		}
		if i < len(expect) {
			w = expect[i].String()
		}
		if g != w {
			t.Errorf("record %d: got %s, want %s", i, g, w)
		}
	}
	wantStmts := 0
	for _, w := range expect {
		if w.Event == "statement" {
			wantStmts++
		}
	}
	if statements != int64(wantStmts) {
		t.Errorf("connection_close counts %d statements, want %d", statements, wantStmts)
	}
	res, err := audit.Verify(audit.StaticKey(key.Secret), files...)
	if err != nil || res.Problem != nil {
		t.Fatalf("verify: %+v %v", res, err)
	}
	trail, _ := os.ReadFile(files[0])
	for _, phi := range []string{"100-00-0001", "100-00-0002", "100-00-0003", "100-00-0004", "100-00-0005", "100-00-0009"} {
		if bytes.Contains(trail, []byte(phi)) {
			t.Errorf("the audit trail holds %s", phi)
		}
	}
}

// checkCode fails unless err carries SQLSTATE code ("" means no error).
func checkCode(t *testing.T, sql string, err error, code string) {
	t.Helper()
	if code == "" {
		if err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
		return
	}
	pe, _ := err.(*pgconn.PgError)
	if pe == nil || pe.Code != code {
		t.Fatalf("%s: got %v, want SQLSTATE %s", sql, err, code)
	}
}

// readWants reads the session's records from an audit file (skipping the
// auditor's own audit_start and audit_stop) and the statement count of
// its connection_close.
func readWants(t *testing.T, file string) ([]want, int64) {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var out []want
	var statements int64
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var w want
		var extra struct {
			Statements int64 `json:"statements"`
		}
		if err := json.Unmarshal(sc.Bytes(), &w); err != nil {
			t.Fatalf("record %q: %v", sc.Text(), err)
		}
		switch w.Event {
		case "audit_start", "audit_stop":
			continue
		case "connection_close":
			json.Unmarshal(sc.Bytes(), &extra)
			statements = extra.Statements
		}
		out = append(out, w)
	}
	return out, statements
}
