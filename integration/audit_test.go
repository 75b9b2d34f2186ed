package integration

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

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
	if _, err := conn.Exec(ctx, "SELECT id FROM "+table+" WHERE ssn LIKE '4%'", pgx.QueryExecModeSimpleProtocol); err == nil {
		t.Fatal("LIKE was not refused")
	}
	run("SELECT 1", pgx.QueryExecModeSimpleProtocol)
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
	if len(stmts) != 5 || refusals != 1 {
		t.Fatalf("%d statement and %d refusal records, want 5 and 1:\n%s", len(stmts), refusals, sink.String())
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
	for _, phi := range []string{"410-00-0041", "420-00-0042"} {
		if strings.Contains(sink.String(), phi) {
			t.Errorf("the audit trail holds %s", phi)
		}
	}
	res, err := audit.Verify(audit.StaticKey(key.Secret), writeTemp(t, sink.Bytes()))
	if err != nil || res.Problem != nil {
		t.Fatalf("verify: %+v %v", res, err)
	}
}
