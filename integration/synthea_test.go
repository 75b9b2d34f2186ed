package integration

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/phiguard/phiguard/internal/ehrdemo"
	"github.com/phiguard/phiguard/keys"
)

// syntheaProtected are the columns examples/policy.yml protects.
var syntheaProtected = []string{"ssn", "drivers", "passport", "first", "last", "maiden", "address", "birthdate"}

// TestSyntheaEndToEnd loads the Synthea patients through phiguard with the
// example policy (SSN, names, birthdate, address, passport, drivers
// protected), checks PostgreSQL holds only ciphertext in those columns and
// the rest unchanged, and reads everything back with three clients: pgx,
// psql and Python's psycopg2.
func TestSyntheaEndToEnd(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	db := uniqueName("synthea")
	if _, err := superuser(t).Exec(ctx, fmt.Sprintf("CREATE DATABASE %s OWNER %s", db, appUser)); err != nil {
		t.Fatal(err)
	}
	setup := connect(t, directURL(appUser, appPassword, db))
	// The protected date column is stored as text cells (phiguard encrypt
	// converts existing columns; this schema starts empty).
	if _, err := setup.Exec(ctx, ehrdemo.Schema()+"; ALTER TABLE patients ALTER COLUMN birthdate TYPE text", pgx.QueryExecModeSimpleProtocol); err != nil {
		t.Fatalf("schema: %v", err)
	}
	example, err := os.ReadFile("../examples/policy.yml")
	if err != nil {
		t.Fatal(err)
	}
	p := startProxy(t, proxyOptions{protect: protection(t, string(example))})

	// Write: COPY the sample in through phiguard.
	data, _ := ehrdemo.CSV("patients")
	cols, _ := ehrdemo.Columns("patients")
	conn := connect(t, p.url(appUser, appPassword, db))
	tag, err := conn.PgConn().CopyFrom(ctx, bytes.NewReader(data), fmt.Sprintf("COPY patients (%s) FROM STDIN WITH (FORMAT csv, HEADER true)", strings.Join(cols, ", ")))
	if err != nil || tag.RowsAffected() != 111 {
		t.Fatalf("COPY patients through phiguard: %v %v", tag, err)
	}
	records, _ := csv.NewReader(bytes.NewReader(data)).ReadAll()
	header, rows := records[0], records[1:]
	index := map[string]int{}
	for i, h := range header {
		index[strings.ToLower(h)] = i
	}
	want := func(row []string, col string) string { return row[index[col]] }

	// At rest: ciphertext in every protected cell, the rest as in the CSV.
	direct := connect(t, directURL(appUser, appPassword, db))
	for _, row := range rows {
		var vals [8]*string
		var city string
		args := []any{&city}
		for i := range vals {
			args = append(args, &vals[i])
		}
		if err := direct.QueryRow(ctx, "SELECT city, "+strings.Join(syntheaProtected, ", ")+" FROM patients WHERE id = $1", want(row, "id")).Scan(args...); err != nil {
			t.Fatal(err)
		}
		if city != want(row, "city") {
			t.Fatalf("unprotected column changed: %q vs %q", city, want(row, "city"))
		}
		for i, v := range vals {
			if v != nil && !keys.IsCell([]byte(*v)) {
				t.Fatalf("patient %s: %s is plaintext at rest", want(row, "id"), syntheaProtected[i])
			}
			if (v == nil) != (want(row, syntheaProtected[i]) == "") {
				t.Fatalf("patient %s: %s NULL-ness changed", want(row, "id"), syntheaProtected[i])
			}
		}
	}

	// Read with pgx (extended protocol, binary date): original values and types.
	sample := rows[17]
	var ssn, first, last, passport string
	var born time.Time
	if err := conn.QueryRow(ctx, "SELECT ssn, first, last, passport, birthdate FROM patients WHERE ssn = $1", want(sample, "ssn")).
		Scan(&ssn, &first, &last, &passport, &born); err != nil {
		t.Fatalf("pgx: %v", err)
	}
	if ssn != want(sample, "ssn") || first != want(sample, "first") || last != want(sample, "last") ||
		passport != want(sample, "passport") || born.Format("2006-01-02") != want(sample, "birthdate") {
		t.Fatalf("pgx read %q %q %q %q %s", ssn, first, last, passport, born)
	}

	// Read with psql (libpq, simple protocol, text).
	cmd := exec.Command("psql", "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c",
		fmt.Sprintf("SELECT ssn, first, birthdate FROM patients WHERE ssn = '%s'", want(sample, "ssn")), p.url(appUser, "", db))
	cmd.Env = append(os.Environ(), "PGPASSWORD="+appPassword)
	out, err := cmd.CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != want(sample, "ssn")+"|"+want(sample, "first")+"|"+want(sample, "birthdate") {
		t.Fatalf("psql: %v\n%s", err, out)
	}

	// Write and read with psycopg2 (Python, libpq, client-side parameters).
	script := `
import json, os, sys, psycopg2
conn = psycopg2.connect(os.environ["PHIGUARD_URL"])
cur = conn.cursor()
cur.execute("INSERT INTO patients (id, ssn, first, last, birthdate, gender) VALUES (%s, %s, %s, %s, %s, %s)",
            ("00000000-0000-0000-0000-00000000abcd", "999-00-1234", "Py", "O'Thon", "1991-08-24", "F"))
# patients names a subject column, so an UPDATE of a sealed column names the patient.
cur.execute("UPDATE patients SET address = %s WHERE id = %s AND ssn = %s", ("1 Main St", "00000000-0000-0000-0000-00000000abcd", "999-00-1234"))
conn.commit()
cur.execute("SELECT ssn, first, last, birthdate, address FROM patients WHERE ssn IN (%s, %s) ORDER BY id", ("999-00-1234", sys.argv[1]))
rows = [[r[0], r[1], r[2], r[3].isoformat(), r[4]] for r in cur.fetchall()]
print(json.dumps({"rows": rows, "type": type(cur.description[3]).__name__, "oid": cur.description[3].type_code}))
`
	py := exec.Command("/usr/bin/python3", "-c", script, want(sample, "ssn"))
	py.Env = append(os.Environ(), "PHIGUARD_URL="+p.url(appUser, appPassword, db))
	out, err = py.CombinedOutput()
	if err != nil {
		t.Fatalf("psycopg2: %v\n%s", err, out)
	}
	var res struct {
		Rows [][]string
		OID  int
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("psycopg2 output: %v\n%s", err, out)
	}
	wantRows := [][]string{ // ordered by id: the new all-zero uuid first
		{"999-00-1234", "Py", "O'Thon", "1991-08-24", "1 Main St"},
		{want(sample, "ssn"), want(sample, "first"), want(sample, "last"), want(sample, "birthdate"), want(sample, "address")},
	}
	if fmt.Sprint(res.Rows) != fmt.Sprint(wantRows) || res.OID != 1082 {
		t.Fatalf("psycopg2 read %v (birthdate type %d), want %v (1082)", res.Rows, res.OID, wantRows)
	}
	var cell string
	if err := direct.QueryRow(ctx, "SELECT address FROM patients WHERE id = '00000000-0000-0000-0000-00000000abcd'").Scan(&cell); err != nil || !keys.IsCell([]byte(cell)) {
		t.Fatalf("psycopg2's UPDATE left %q at rest (%v)", cell, err)
	}
}
