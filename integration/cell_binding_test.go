package integration

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/phiguard/phiguard/audit"
	"github.com/phiguard/phiguard/guard"
	"github.com/phiguard/phiguard/keys"
	"github.com/phiguard/phiguard/keys/keysconfig"
	"github.com/phiguard/phiguard/keys/local"
	"github.com/phiguard/phiguard/sqlrewrite"
)

// bindingPolicy seals patients' and encounters' randomized columns per
// patient; the SSN is deterministic (searchable, so not per patient).
const bindingPolicy = `
version: 1
tables:
  public.patients:
    subject_column: id
    columns:
      ssn:   {mode: deterministic, key: bind-ssn, type: text}
      first: {mode: randomized,    key: bind-pii, type: text}
  public.encounters:
    subject_column: patient
    columns:
      reason: {mode: randomized,   key: bind-enc, type: text}
`

// bindingFixture is a database whose patients were written through
// phiguard, a connection through phiguard, one as the owner directly, and
// the audit trail.
type bindingFixture struct {
	via, owner *pgx.Conn
	sink       *lockedBuffer
	p          *phiguard
}

const (
	patientA = "0b9c2e6e-8f4d-4c43-9d1e-6a1f0c3e5a01"
	patientB = "0b9c2e6e-8f4d-4c43-9d1e-6a1f0c3e5a02"
	patientC = "0b9c2e6e-8f4d-4c43-9d1e-6a1f0c3e5a03"
)

func newBindingFixture(t *testing.T) *bindingFixture {
	ctx := testContext(t)
	pol, err := sqlrewrite.ParsePolicy([]byte(bindingPolicy))
	if err == nil {
		err = pol.Validate()
	}
	if err != nil {
		t.Fatal(err)
	}
	provider, err := local.New(filepath.Join(t.TempDir(), "keyring.json"), keys.NewSecret(bytes.Repeat([]byte{7}, local.MasterKeySize)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := provider.Init(ctx, keysconfig.KeyIDs(pol)); err != nil {
		t.Fatal(err)
	}
	kr, err := provider.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	store, _ := keys.SubjectStoreOf(provider)
	sk, err := keys.NewSubjectKeys(kr, store, keys.SubjectKeysOptions{})
	if err != nil {
		t.Fatal(err)
	}
	sink := newLockedBuffer()
	auditor, err := audit.New(audit.Options{Key: audit.MACKey{ID: "audit", Version: 1, Secret: keys.NewSecret(bytes.Repeat([]byte{5}, 32))}, Sink: audit.NewWriterSink(sink)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = auditor.Close(context.Background()) })
	p := startProxy(t, proxyOptions{auditor: auditor, protect: &guard.Protection{Policy: pol, Keyring: kr, Subjects: sk}})

	db := uniqueName("bind")
	if _, err := superuser(t).Exec(ctx, fmt.Sprintf("CREATE DATABASE %s OWNER %s", db, appUser)); err != nil {
		t.Fatal(err)
	}
	owner := connect(t, directURL(appUser, appPassword, db))
	if _, err := owner.Exec(ctx, `CREATE TABLE patients (id uuid PRIMARY KEY, ssn text, first text);
CREATE TABLE encounters (id int PRIMARY KEY, patient uuid REFERENCES patients, reason text)`); err != nil {
		t.Fatal(err)
	}
	via := connect(t, p.url(appUser, appPassword, db))
	for i, id := range []string{patientA, patientB, patientC} {
		// The simple protocol: pgx would send a uuid parameter in binary,
		// and phiguard takes a row's subject in text only.
		if _, err := via.Exec(ctx, "INSERT INTO patients (id, ssn, first) VALUES ($1, $2, $3)", pgx.QueryExecModeSimpleProtocol, id, fmt.Sprintf("999-00-000%d", i), "First"+string(rune('A'+i))); err != nil {
			t.Fatal(err)
		}
		if _, err := via.Exec(ctx, "INSERT INTO encounters (id, patient, reason) VALUES ($1, $2, $3)", pgx.QueryExecModeSimpleProtocol, i, id, "Reason"+string(rune('A'+i))); err != nil {
			t.Fatal(err)
		}
	}
	return &bindingFixture{via: via, owner: owner, sink: sink, p: p}
}

// bindingModes are the ways a client reads: the simple protocol (text),
// and the extended protocol with text and with binary results.
var bindingModes = map[string]pgx.QueryExecMode{
	"simple":          pgx.QueryExecModeSimpleProtocol,
	"extended-binary": pgx.QueryExecModeCacheStatement, // pgx asks uuid and text in binary
	"extended-text":   pgx.QueryExecModeExec,           // unnamed statement, text results
}

// TestSwappedCellIsAnIntegrityError is hole 6 of issue 10: patient A's
// first-name cell copied, in the database, into patient B's row. Read
// through phiguard with the subject column, B's row is an integrity error
// (XX001) naming the column, in every protocol and format and in COPY
// TO; A's and C's rows still read; the audit record and the error carry
// no value.
func TestSwappedCellIsAnIntegrityError(t *testing.T) {
	ctx := testContext(t)
	f := newBindingFixture(t)
	if _, err := f.owner.Exec(ctx, "UPDATE patients SET first = (SELECT first FROM patients WHERE id = $1) WHERE id = $2", patientA, patientB); err != nil {
		t.Fatal(err)
	}
	for name, mode := range bindingModes {
		t.Run(name, func(t *testing.T) {
			var first string
			err := f.via.QueryRow(ctx, "SELECT id, first FROM patients WHERE id = $1", mode, patientB).Scan(new(string), &first)
			pe := wantPgError(t, err, "XX001")
			if !strings.Contains(pe.Message, "public.patients.first") || !strings.Contains(pe.Message, "public.patients.id") || strings.Contains(pe.Message, "FirstA") || strings.Contains(pe.Message, patientA) {
				t.Errorf("message %q: want the column and subject column, no value", pe.Message)
			}
			// The whole table: the statement fails at B's row.
			rows, _ := f.via.Query(ctx, "SELECT first, id FROM patients ORDER BY id", mode)
			for rows.Next() {
			}
			wantPgError(t, rows.Err(), "XX001")
			// Unswapped rows read as before, also with a join and the
			// subject column of another table.
			for id, want := range map[string]string{patientA: "FirstA", patientC: "FirstC"} {
				if err := f.via.QueryRow(ctx, "SELECT p.first, p.id, e.reason FROM patients p JOIN encounters e ON e.patient = p.id WHERE p.id = $1", mode, id).Scan(&first, new(string), new(string)); err != nil || first != want {
					t.Errorf("patient %s: %q %v, want %q", id[len(id)-2:], first, err, want)
				}
			}
			// The session goes on.
			if n := queryInt(t, f.via, "SELECT count(*) FROM patients"); n != 3 {
				t.Errorf("count %d", n)
			}
		})
	}
	var out bytes.Buffer
	_, err := f.via.PgConn().CopyTo(ctx, &out, "COPY patients (id, first) TO STDOUT")
	wantPgError(t, err, "XX001")
	if strings.Contains(out.String(), patientB+"\tFirstA") {
		t.Errorf("COPY TO passed A's name on as B's:\n%s", out.String())
	}

	// Records are written asynchronously.
	waitFor(t, 5*time.Second, "an audit record with sqlstate XX001", func() bool {
		return strings.Contains(f.sink.String(), `"sqlstate":"XX001"`)
	})
	if strings.Contains(f.sink.String(), "FirstA") {
		t.Error("the audit trail holds a plaintext value")
	}
	if got := f.p.metric(t, "phiguard_proxy_moved_cells_total"); got < 7 {
		t.Errorf("phiguard_proxy_moved_cells_total = %v, want at least 7", got)
	}
}

// TestCellBindingLimits shows where a moved cell is not detected, as
// docs/design/crypto-shredding.md says: without the subject column in the
// result, through a self-join, and in deterministic columns; and that a
// cell moved into a row without a subject, or across tables, is caught.
func TestCellBindingLimits(t *testing.T) {
	ctx := testContext(t)
	f := newBindingFixture(t)
	for _, sql := range []string{
		"UPDATE patients SET first = (SELECT first FROM patients WHERE id = $1), ssn = (SELECT ssn FROM patients WHERE id = $1) WHERE id = $2",
		"UPDATE encounters SET reason = (SELECT reason FROM encounters WHERE patient = $1) WHERE patient = $2",
	} {
		if _, err := f.owner.Exec(ctx, sql, patientA, patientB); err != nil {
			t.Fatal(err)
		}
	}
	for name, mode := range bindingModes {
		t.Run(name, func(t *testing.T) {
			var first, ssn string
			// Without the subject column phiguard cannot tell the row's
			// patient: A's name reads as B's.
			if err := f.via.QueryRow(ctx, "SELECT first FROM patients WHERE id = $1", mode, patientB).Scan(&first); err != nil || first != "FirstA" {
				t.Errorf("without the subject column: %q %v", first, err)
			}
			// Two occurrences of the table: not bound.
			if err := f.via.QueryRow(ctx, "SELECT a.first, b.id FROM patients a JOIN patients b ON b.id = a.id WHERE a.id = $1", mode, patientB).Scan(&first, new(string)); err != nil {
				t.Errorf("self-join: %v", err)
			}
			// Deterministic cells are bound to their key, not their row.
			if err := f.via.QueryRow(ctx, "SELECT id, ssn FROM patients WHERE id = $1", mode, patientB).Scan(new(string), &ssn); err != nil || ssn != "999-00-0000" {
				t.Errorf("deterministic: %q %v", ssn, err)
			}
			// Another table's subject column binds that table's cells.
			err := f.via.QueryRow(ctx, "SELECT e.reason, e.patient FROM encounters e WHERE e.id = 1", mode).Scan(new(string), new(string))
			wantPgError(t, err, "XX001")
		})
	}
	// A cell moved into a row whose subject column is NULL.
	if _, err := f.owner.Exec(ctx, "UPDATE encounters SET patient = NULL WHERE id = 2"); err != nil {
		t.Fatal(err)
	}
	err := f.via.QueryRow(ctx, "SELECT patient, reason FROM encounters WHERE id = 2").Scan(new(*string), new(string))
	wantPgError(t, err, "XX001")
}
