package integration

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/phiguard/phiguard/audit"
	"github.com/phiguard/phiguard/keys"
)

// TestAuditRecordsStatementsAndSubjects runs statements of several kinds
// through phiguard with an auditor and checks the trail: one record per
// statement and refusal in both protocols, the protected columns read and
// written, the patient ids returned, "not in result" when the result lacks
// them, and a chain that verifies.
func TestAuditRecordsStatementsAndSubjects(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	table := uniqueName("apt")
	if _, err := superuser(t).Exec(ctx, fmt.Sprintf("CREATE TABLE %[1]s (id int PRIMARY KEY, ssn text, note text); GRANT ALL ON %[1]s TO %[2]s", table, appUser)); err != nil {
		t.Fatal(err)
	}
	var sink bytes.Buffer
	key := audit.MACKey{ID: "audit", Version: 1, Secret: keys.NewSecret(bytes.Repeat([]byte{7}, 32))}
	a, err := audit.New(audit.Options{Key: key, Sink: audit.NewWriterSink(&sink)})
	if err != nil {
		t.Fatal(err)
	}
	p := startProxy(t, proxyOptions{auditor: a, protect: protection(t, fmt.Sprintf(`
version: 1
tables:
  public.%s:
    subject_column: id
    columns:
      ssn: {mode: deterministic, key: audit-ssn, type: text}
`, table))})
	conn := p.app(t)
	run := func(sql string, args ...any) {
		t.Helper()
		if _, err := conn.Exec(ctx, sql, args...); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	run("INSERT INTO "+table+" (id, ssn) VALUES ($1, $2), ($3, $4)", 41, "410-00-0041", 42, "420-00-0042")
	run("SELECT id, ssn FROM "+table+" ORDER BY id", pgx.QueryExecModeSimpleProtocol)
	run("SELECT ssn FROM "+table+" WHERE ssn = $1", "420-00-0042")
	run("UPDATE "+table+" SET note = 'x' WHERE id = 41", pgx.QueryExecModeSimpleProtocol)
	if _, err := conn.Exec(ctx, "SELECT id FROM "+table+" WHERE ssn ~ '^4'", pgx.QueryExecModeSimpleProtocol); err == nil {
		t.Fatal("a regular expression was not refused")
	}
	run("SELECT 1", pgx.QueryExecModeSimpleProtocol)
	if _, err := conn.PgConn().CopyFrom(ctx, strings.NewReader("43\t430-00-0043\n"), "COPY "+table+" (id, ssn) FROM STDIN"); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "SELECT 1/0 FROM "+table); err == nil {
		t.Fatal("division by zero succeeded")
	}
	conn.Close(ctx)
	if err := a.Close(ctx); err != nil {
		t.Fatal(err)
	}

	type subjects struct {
		Table       string   `json:"table"`
		IDs         []string `json:"ids"`
		NotInResult bool     `json:"not_in_result"`
	}
	type record struct {
		Event    string     `json:"event"`
		SQL      string     `json:"sql"`
		Read     []string   `json:"read"`
		Written  []string   `json:"written"`
		Rows     int64      `json:"rows"`
		SQLState string     `json:"sqlstate"`
		Subjects []subjects `json:"subjects"`
	}
	var stmts []record
	var refusals int
	sc := bufio.NewScanner(bytes.NewReader(sink.Bytes()))
	for sc.Scan() {
		var r record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("record %q: %v", sc.Text(), err)
		}
		switch r.Event {
		case "statement":
			stmts = append(stmts, r)
		case "refusal":
			refusals++
		}
	}
	if len(stmts) != 7 || refusals != 1 {
		t.Fatalf("%d statement and %d refusal records, want 7 and 1:\n%s", len(stmts), refusals, sink.String())
	}
	if stmts[5].Rows != 1 || len(stmts[5].Written) != 1 || stmts[5].SQLState != "00000" {
		t.Errorf("COPY record: %+v", stmts[5])
	}
	if stmts[6].SQLState != "22012" {
		t.Errorf("failed statement recorded with SQLSTATE %q, want 22012", stmts[6].SQLState)
	}
	col := "public." + table + ".ssn"
	checks := []struct {
		i       int
		read    bool
		written bool
		rows    int64
		ids     string
		notIn   bool
	}{
		{0, false, true, 2, "", true}, // INSERT: no result rows carry the id
		{1, true, false, 2, "41,42", false},
		{2, true, false, 1, "", true},  // SELECT ssn: the id column is not in the result
		{3, false, false, 1, "", true}, // UPDATE
	}
	for _, c := range checks {
		r := stmts[c.i]
		if (len(r.Read) > 0 && r.Read[0] == col) != c.read || (len(r.Written) > 0 && r.Written[0] == col) != c.written || r.Rows != c.rows || r.SQLState != "00000" {
			t.Errorf("record %d (%s): read %v written %v rows %d sqlstate %s", c.i, r.SQL, r.Read, r.Written, r.Rows, r.SQLState)
		}
		if len(r.Subjects) != 1 || strings.Join(r.Subjects[0].IDs, ",") != c.ids || r.Subjects[0].NotInResult != c.notIn {
			t.Errorf("record %d (%s): subjects %+v, want ids %q not_in_result %v", c.i, r.SQL, r.Subjects, c.ids, c.notIn)
		}
	}
	if len(stmts[4].Subjects) != 0 {
		t.Errorf("SELECT 1 names subjects: %+v", stmts[4].Subjects)
	}
	for _, phi := range []string{"410-00-0041", "420-00-0042", "430-00-0043"} {
		if strings.Contains(sink.String(), phi) {
			t.Errorf("the audit trail holds %s", phi)
		}
	}
	file := writeTemp(t, sink.Bytes())
	res, err := audit.Verify(audit.StaticKey(key.Secret), file)
	if err != nil || res.Problem != nil {
		t.Fatalf("verify: %+v %v", res, err)
	}

	// The accounting of disclosures for patient 41 lists the SELECT that
	// returned it, and with Possible, also the statements on the table whose
	// results did not carry the patient id.
	rep, err := audit.Report(audit.ReportQuery{Subject: "41"}, file)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Accesses) != 1 || !strings.Contains(strings.Join(rep.Accesses[0].Read, ","), col) {
		t.Fatalf("report for subject 41: %+v", rep.Accesses)
	}
	rep, err = audit.Report(audit.ReportQuery{Subject: "41", Possible: true}, file)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Accesses) < 2 {
		t.Fatalf("report with possible accesses for subject 41: %+v", rep.Accesses)
	}
}

// TestAuditFailsClosed: while the audit trail cannot be written, statements
// on protected tables are refused with 58030 and nothing is lost; other
// statements go on, and protected ones resume once the sink recovers.
func TestAuditFailsClosed(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	table, prot := ssnTable(t, "afc")
	a, sink := breakableAuditor(t)
	p := startProxy(t, proxyOptions{auditor: a, protect: prot})
	conn := p.app(t)
	if _, err := conn.Exec(ctx, "INSERT INTO "+table+" (id, ssn) VALUES (1, $1)", "111-22-3333"); err != nil {
		t.Fatal(err)
	}
	sink.set(true)
	// The writer notices on its next write; wait until the auditor says so.
	deadline := time.Now().Add(10 * time.Second)
	for a.Healthy() == nil && time.Now().Before(deadline) {
		conn.Exec(ctx, "SELECT 1", pgx.QueryExecModeSimpleProtocol)
		time.Sleep(20 * time.Millisecond)
	}
	if a.Healthy() == nil {
		t.Fatal("the auditor never noticed the broken sink")
	}
	_, err := conn.Exec(ctx, "SELECT ssn FROM "+table+" WHERE id = 1")
	pe := wantPgError(t, err, "58030")
	if !strings.Contains(pe.Message, "audit trail") {
		t.Fatalf("message: %q", pe.Message)
	}
	var one int
	if err := conn.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil {
		t.Fatalf("an unprotected statement was refused too: %v", err)
	}
	sink.set(false)
	deadline = time.Now().Add(10 * time.Second)
	for a.Healthy() != nil && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	var ssn string
	if err := conn.QueryRow(ctx, "SELECT ssn FROM "+table+" WHERE id = 1").Scan(&ssn); err != nil || ssn != "111-22-3333" {
		t.Fatalf("after recovery: %q %v", ssn, err)
	}
}
