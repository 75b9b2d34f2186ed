package backfill

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/phiguard/phiguard/cellcipher"
	"github.com/phiguard/phiguard/keys"
	"github.com/phiguard/phiguard/keys/local"
	"github.com/phiguard/phiguard/policy"
)

// subjectColumns is threeColumns with the patient id as subject column:
// first and birthdate are sealed per patient, ssn stays deterministic
// under its column key.
const subjectColumns = `
version: 1
tables:
  public.patients:
    subject_column: id
    columns:
      ssn:       {mode: deterministic, key: patients-ssn, type: text}
      first:     {mode: randomized,    key: patients-pii, type: text}
      birthdate: {mode: randomized,    key: patients-pii, type: date}
`

// TestSubjectSealing: cells written under the column key before the table
// named its subject column move to the subject keys on --reencrypt,
// plaintext goes straight to them, the dry run counts them apart, and
// after a shred decrypt turns every other patient back to plaintext while
// the shredded patient's cells stay sealed.
func TestSubjectSealing(t *testing.T) {
	f := start(t)
	ctx := context.Background()
	n := int64(f.n)
	sp, err := policy.Parse([]byte(subjectColumns))
	if err == nil {
		err = sp.Validate()
	}
	if err != nil {
		t.Fatal(err)
	}
	prov, err := local.New(filepath.Join(t.TempDir(), "keyring.json"), keys.NewSecret(bytes.Repeat([]byte{7}, local.MasterKeySize)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := prov.Init(ctx, []string{"patients-ssn", "patients-pii", keys.SubjectKeyID}); err != nil {
		t.Fatal(err)
	}
	kr, err := prov.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var store keys.SubjectStore = prov
	if os.Getenv("PHIGUARD_SUBJECT_NOBATCH") != "" {
		store = oneByOne{prov} // to measure what batched key creation saves
	}
	newSK := func() *keys.SubjectKeys { // one per run, as each phiguard encrypt has
		sk, err := keys.NewSubjectKeys(kr, store, keys.SubjectKeysOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return sk
	}
	run := func(op Op, pol *policy.Policy, sk *keys.SubjectKeys, cols []string, dry bool) (TableResult, string) {
		t.Helper()
		var notes bytes.Buffer
		conn, err := pgx.Connect(ctx, f.url) // each run its own connection, as each phiguard encrypt has
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		s, err := Run(ctx, conn, Options{Op: op, Policy: pol, Keyring: kr, Subjects: sk, Table: "patients", Columns: cols,
			Batch: testBatch, DryRun: dry, Notes: &notes, Workers: 2, Connect: func(ctx context.Context) (*pgx.Conn, error) {
				return pgx.Connect(ctx, f.url)
			}})
		if err != nil {
			t.Fatalf("%v: %v\n%s", op, err, notes.String())
		}
		if r := s.Tables[0]; !dry {
			t.Logf("%v (%s): %d rows, %d written, batches %v, %.0f rows/s", op, pol.Tables()[0].SubjectColumn, r.Rows, r.Changed,
				r.Batches.Round(time.Millisecond), float64(r.Rows)/r.Batches.Seconds())
		}
		return s.Tables[0], notes.String()
	}

	// Without subject keys, a per-subject column is refused, not sealed
	// under the column key.
	if _, err := Run(ctx, f.conn, Options{Op: Encrypt, Policy: sp, Keyring: kr, Table: "patients"}); err == nil ||
		!strings.Contains(err.Error(), "public.patients.first is sealed per subject") {
		t.Fatalf("run without subject keys: %v", err)
	}

	// Before the table named its subject: first under the column key.
	run(Encrypt, f.pol, nil, []string{"first"}, false)

	// Now sealed per subject: birthdate's plaintext goes to the subject
	// keys, first's column-key cells are left (and reported) by encrypt.
	r, notes := run(Encrypt, sp, newSK(), nil, false)
	if r.Census["birthdate"].Subject != n || r.Census["first"].Versions[1] != n || r.Census["ssn"].Versions[1] != n {
		t.Fatalf("after encrypt: %v / %v / %v", r.Census["birthdate"], r.Census["first"], r.Census["ssn"])
	}
	if !strings.Contains(notes, "public.patients.first: "+itoa(n)+" cells are under the column key") {
		t.Errorf("notes do not point at --reencrypt:\n%s", notes)
	}
	dry, _ := run(Reencrypt, sp, newSK(), nil, true)
	if dry.Pending != n || dry.Census["birthdate"].String() != "plaintext 0, subject keys "+itoa(n)+", null 0" {
		t.Errorf("dry run: pending %d, birthdate %s", dry.Pending, dry.Census["birthdate"])
	}
	r, _ = run(Reencrypt, sp, newSK(), nil, false)
	for _, c := range []string{"first", "birthdate"} {
		if cs := r.Census[c]; cs.Subject != n || len(cs.Versions) != 0 || cs.Plaintext != 0 {
			t.Fatalf("after reencrypt, %s: %v", c, cs)
		}
	}
	if r.Census["ssn"].Versions[1] != n {
		t.Errorf("ssn left its column key: %v", r.Census["ssn"])
	}
	// Retiring the column key's versions is no concern of subject cells.
	cs, err := KeyCensus(ctx, f.conn, sp, "patients-pii")
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckRetire(cs, "patients-pii", 1); err != nil {
		t.Errorf("subject cells counted as column key cells: %v", err)
	}
	// A second pass changes nothing.
	if r, _ := run(Reencrypt, sp, newSK(), nil, false); r.Changed != 0 {
		t.Errorf("second reencrypt changed %d rows", r.Changed)
	}

	// Every sealed cell opens with its row's subject key to the original.
	sk := newSK()
	var victim string
	rows, err := f.conn.Query(ctx, "SELECT id::text, first, birthdate FROM patients ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id, first, birth string
		if err := rows.Scan(&id, &first, &birth); err != nil {
			t.Fatal(err)
		}
		if victim == "" {
			victim = id
		}
		pf, err1 := sk.Decrypt(ctx, cellcipher.AssociatedData(col(t, sp, "first")), []byte(first))
		pb, err2 := sk.Decrypt(ctx, cellcipher.AssociatedData(col(t, sp, "birthdate")), []byte(birth))
		if err1 != nil || err2 != nil || string(pf) != f.orig[id][1] || string(pb) != f.orig[id][2] {
			t.Fatalf("patient %s does not decrypt to the original: %v %v", id, err1, err2)
		}
	}
	rows.Close()
	// The cell names the row's own subject key.
	var first string
	f.conn.QueryRow(ctx, "SELECT first FROM patients WHERE id = $1", victim).Scan(&first)
	if info, _ := keys.Inspect([]byte(first)); info.KeyID != keys.SubjectKeyIDOf(sk.Tag(victim)) {
		t.Fatalf("cell key %s, want the subject's", info.KeyID)
	}

	// Shred one patient; decrypt: the others are plaintext again, the
	// shredded patient's cells stay sealed and are reported.
	if _, out, err := newSK().Shred(ctx, victim); err != nil || out != keys.ShredDestroyed {
		t.Fatalf("shred: %v %v", out, err)
	}
	r, notes = run(Decrypt, sp, newSK(), nil, false)
	if r.Shredded != 2 || r.Changed != n || r.Census["first"].Subject != 1 || r.Census["birthdate"].Subject != 1 {
		t.Fatalf("decrypt: %d shredded, %d changed, first %v", r.Shredded, r.Changed, r.Census["first"])
	}
	if !strings.Contains(notes, "2 cells belong to shredded subjects and stay sealed") {
		t.Errorf("notes:\n%s", notes)
	}
	rows, err = f.conn.Query(ctx, "SELECT id::text, ssn, first, birthdate FROM patients")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var v [3]string
		if err := rows.Scan(&id, &v[0], &v[1], &v[2]); err != nil {
			t.Fatal(err)
		}
		if id == victim {
			if v[0] != f.orig[id][0] || !keys.IsSubjectCell([]byte(v[1])) || !keys.IsSubjectCell([]byte(v[2])) {
				t.Errorf("the shredded patient after decrypt: ssn back %v, first sealed %v, birthdate sealed %v",
					v[0] == f.orig[id][0], keys.IsSubjectCell([]byte(v[1])), keys.IsSubjectCell([]byte(v[2])))
			}
			continue
		}
		if v != f.orig[id] {
			t.Fatalf("patient %s differs from the original after decrypt", id)
		}
	}

	// Encrypting again: the shredded patient gets nothing new.
	r, _ = run(Encrypt, sp, newSK(), nil, false)
	if r.Shredded != 0 || r.Census["first"].Subject != n {
		t.Errorf("encrypt after decrypt: %d shredded, first %v", r.Shredded, r.Census["first"])
	}

	// A cell copied in the database from one patient's row into another's
	// is an integrity error for decrypt, which would otherwise write the
	// first patient's name into the second's row as plaintext.
	var a, b string
	if err := f.conn.QueryRow(ctx, "SELECT min(id::text), max(id::text) FROM patients WHERE id::text <> $1", victim).Scan(&a, &b); err != nil {
		t.Fatal(err)
	}
	if _, err := f.conn.Exec(ctx, "UPDATE patients SET first = (SELECT first FROM patients WHERE id::text = $1) WHERE id::text = $2", a, b); err != nil {
		t.Fatal(err)
	}
	_, err = Run(ctx, f.conn, Options{Op: Decrypt, Policy: sp, Keyring: kr, Subjects: newSK(), Table: "patients", Columns: []string{"first"}, Batch: testBatch})
	if !errors.Is(err, keys.ErrIntegrity) || !strings.Contains(err.Error(), "column public.patients.first, row at ctid") ||
		!strings.Contains(err.Error(), "sealed for another subject than the row's public.patients.id") || strings.Contains(err.Error(), f.orig[a][1]) {
		t.Errorf("decrypt of a moved cell: %v", err)
	}
}

// oneByOne hides a store's batch creation.
type oneByOne struct{ keys.SubjectStore }

func col(t *testing.T, p *policy.Policy, name string) *policy.ProtectedColumn {
	c, ok := p.Column("public", "patients", name)
	if !ok {
		t.Fatalf("no column %s", name)
	}
	return c
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
