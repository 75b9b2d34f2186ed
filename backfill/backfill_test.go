package backfill

import (
	"bytes"
	"context"
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/phiguard/phiguard/cellcipher"
	"github.com/phiguard/phiguard/internal/ehrdemo"
	"github.com/phiguard/phiguard/internal/pgcluster"
	"github.com/phiguard/phiguard/keys"
	"github.com/phiguard/phiguard/policy"
)

// testPatients is the size of the generated data set: 5,000 by default so
// that `make test` stays quick; `make test-backfill` sets 100,000.
func testPatients(t *testing.T) int {
	if s := os.Getenv("PHIGUARD_BACKFILL_PATIENTS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			t.Fatalf("PHIGUARD_BACKFILL_PATIENTS: %v", err)
		}
		return n
	}
	// More than 7 batches: the kill test stops after the 3rd is reported,
	// and up to 2*Workers = 4 more may be in flight then (planned ahead,
	// some finished before the 3rd), so at least one is left for the
	// resumed run. With 5000 and then 6000, a loaded machine committed all
	// of them and the resume had nothing to do.
	return 8000
}

// testBatch is the batch size of the tests; the kill test counts on it.
const testBatch = 1000

// threeColumns protects three columns of the generated patients, one of
// them a date that the backfill converts to text. It names no subject
// column, so every cell is under its column key: these tests are about
// batching, resume and rotation; subject_test.go seals per subject.
const threeColumns = `
version: 1
tables:
  public.patients:
    columns:
      ssn:       {mode: deterministic, key: patients-ssn, type: text}
      first:     {mode: randomized,    key: patients-pii, type: text}
      birthdate: {mode: randomized,    key: patients-pii, type: date}
`

type fixture struct {
	conn *pgx.Conn
	url  string
	pol  *policy.Policy
	dks  []keys.DataKey
	n    int
	// orig holds the canonical plaintext of each row's protected columns,
	// by patient id, read before anything was encrypted.
	orig map[string][3]string
}

func (f *fixture) keyring(t *testing.T) *keys.Keyring {
	kr, err := keys.NewKeyring(f.dks)
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

// rotate adds a version to id.
func (f *fixture) rotate(t *testing.T, id string) {
	kr := f.keyring(t)
	w, _ := kr.WriteVersion(id)
	dk, err := keys.GenerateDataKey(id, w+1, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	f.dks = append(f.dks, dk)
}

func start(t *testing.T) *fixture {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cluster, err := pgcluster.Start(ctx, pgcluster.Options{})
	if err != nil {
		t.Fatalf("start PostgreSQL: %v", err)
	}
	t.Cleanup(func() { cluster.Stop() })
	conn, err := pgx.Connect(ctx, cluster.URL(cluster.Superuser, cluster.Password, "postgres"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	f := &fixture{conn: conn, n: testPatients(t), url: cluster.URL(cluster.Superuser, cluster.Password, "postgres")}
	began := time.Now()
	g, err := ehrdemo.Generate(ctx, conn, f.n, 1, 42)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("generated %d patients, %d encounters in %v", g.Patients, g.Encounters, time.Since(began).Round(time.Millisecond))
	f.pol, err = policy.Parse([]byte(threeColumns))
	if err == nil {
		err = f.pol.Validate()
	}
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"patients-ssn", "patients-pii"} {
		dk, err := keys.GenerateDataKey(id, 1, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		f.dks = append(f.dks, dk)
	}
	f.orig = map[string][3]string{}
	_, err = conn.Exec(ctx, "SET DateStyle = ISO")
	if err != nil {
		t.Fatal(err)
	}
	rows, err := conn.Query(ctx, "SELECT id::text, ssn, first, birthdate::text FROM patients")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id, a, b, c string
		if err := rows.Scan(&id, &a, &b, &c); err != nil {
			t.Fatal(err)
		}
		f.orig[id] = [3]string{a, b, c}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fixture) run(t *testing.T, ctx context.Context, op Op, progress func(Progress)) (*Summary, string, error) {
	// Each run has its own connection, as each `phiguard encrypt` has: a
	// killed run's connection is gone with it.
	conn, err := pgx.Connect(context.Background(), f.url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var notes bytes.Buffer
	s, err := Run(ctx, conn, Options{Op: op, Policy: f.pol, Keyring: f.keyring(t), Table: "patients", Batch: testBatch,
		Progress: progress, Notes: &notes, Workers: 2, Connect: func(ctx context.Context) (*pgx.Conn, error) {
			return pgx.Connect(ctx, f.url)
		}})
	return s, notes.String(), err
}

// waitAlone waits until conn is the only client session of its cluster
// (a fixture's cluster is its test's own).
func waitAlone(t *testing.T, conn *pgx.Conn) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		var others int
		err := conn.QueryRow(context.Background(), "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()").Scan(&others)
		if err != nil {
			t.Fatal(err)
		}
		if others == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d other sessions still open 30 s after the run ended", others)
		}
	}
}

// checkCells decrypts every cell and compares it with the original, and
// returns the census of each column.
func (f *fixture) checkCells(t *testing.T, wantVersion map[string]uint32) {
	t.Helper()
	ctx := context.Background()
	kr := f.keyring(t)
	rows, err := f.conn.Query(ctx, "SELECT id::text, ssn, first, birthdate FROM patients")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cols := []*policy.ProtectedColumn{}
	for _, n := range []string{"ssn", "first", "birthdate"} {
		c, _ := f.pol.Column("public", "patients", n)
		cols = append(cols, c)
	}
	seen, bad := 0, 0
	for rows.Next() {
		var id string
		var v [3]string
		if err := rows.Scan(&id, &v[0], &v[1], &v[2]); err != nil {
			t.Fatal(err)
		}
		seen++
		for i, c := range cols {
			info, err := keys.Inspect([]byte(v[i]))
			if err != nil {
				bad++
				if bad < 5 {
					t.Errorf("patient %s: %s is not a cell", id, c.Name)
				}
				continue
			}
			if info.KeyVersion != wantVersion[c.Key] {
				bad++
				if bad < 5 {
					t.Errorf("patient %s: %s is under version %d, want %d", id, c.Name, info.KeyVersion, wantVersion[c.Key])
				}
			}
			pt, err := kr.Decrypt(cellcipher.AssociatedData(c), []byte(v[i]))
			if err != nil || string(pt) != f.orig[id][i] {
				bad++
				if bad < 5 {
					t.Errorf("patient %s: %s decrypts wrong (err %v)", id, c.Name, err)
				}
			}
		}
	}
	if seen != f.n {
		t.Errorf("read %d rows, want %d", seen, f.n)
	}
	if bad > 0 {
		t.Errorf("%d bad cells", bad)
	}
}

func TestEncryptKillResumeReencryptRetireDecrypt(t *testing.T) {
	f := start(t)
	ctx := context.Background()
	n := int64(f.n)

	// Dry run: all plaintext, nothing changed.
	var notes bytes.Buffer
	dry, err := Run(ctx, f.conn, Options{Op: Encrypt, Policy: f.pol, Keyring: f.keyring(t), DryRun: true, Notes: &notes})
	if err != nil {
		t.Fatal(err)
	}
	if got := dry.Tables[0].Census["ssn"].Plaintext; got != n || dry.Tables[0].Pending != n {
		t.Fatalf("dry run: %d plaintext ssn, %d pending rows, want %d", got, dry.Tables[0].Pending, n)
	}
	if dry.Tables[0].Estimate <= 0 || len(dry.Tables[0].Converted) != 1 {
		t.Errorf("dry run: estimate %v, converted %v", dry.Tables[0].Estimate, dry.Tables[0].Converted)
	}
	var typ string
	f.conn.QueryRow(ctx, "SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = 'patients'::regclass AND attname = 'birthdate'").Scan(&typ)
	if typ != "date" {
		t.Fatalf("dry run changed birthdate to %s", typ)
	}

	// Kill after three batches.
	kctx, kill := context.WithCancel(ctx)
	batches := 0
	s1, _, err := f.run(t, kctx, Encrypt, func(p Progress) {
		if batches++; batches == 3 {
			kill()
		}
	})
	kill()
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("killed run: %v", err)
	}
	// A worker's COMMIT the kill cut off may still be running on the
	// server (the client hung up after sending it): count only once every
	// other session of the killed run is gone.
	waitAlone(t, f.conn)
	// Three batches reported; up to 2*Workers more may have committed
	// behind them (runJobs keeps that many in flight).
	var done1 int64
	f.conn.QueryRow(ctx, "SELECT rows_done FROM "+ProgressTable+" WHERE table_name = 'public.patients'").Scan(&done1)
	var cells1 int64
	f.conn.QueryRow(ctx, "SELECT count(*) FROM patients WHERE ssn LIKE '~phg~%'").Scan(&cells1)
	if done1 != 3000 || s1.Tables[0].Changed != 3000 || cells1 < 3000 || cells1 > 7000 {
		t.Fatalf("killed run: progress says %d rows done, run reported %d changed, %d encrypted; want 3000, 3000, 3000 to 7000",
			done1, s1.Tables[0].Changed, cells1)
	}

	// Resume.
	began := time.Now()
	s2, out, err := f.run(t, ctx, Encrypt, nil)
	if err != nil {
		t.Fatal(err)
	}
	el := time.Since(began)
	r := s2.Tables[0]
	if !r.Resumed || r.Changed+cells1 != n || r.Rows != n-3000 {
		t.Errorf("resumed run: resumed %v, changed %d + %d, examined %d; want every row changed exactly once", r.Resumed, s1.Tables[0].Changed, r.Changed, r.Rows)
	}
	t.Logf("kill after 3 batches: %d cells encrypted; resume examined %d rows, encrypted %d", cells1, r.Rows, r.Changed)
	t.Logf("encrypt (resumed part): %d rows, 3 columns: batches %v, %.0f rows/s; %v in all", r.Rows, r.Batches.Round(time.Millisecond),
		float64(r.Rows)/r.Batches.Seconds(), el.Round(time.Millisecond))
	if !strings.Contains(out, "state: encrypted") || !strings.Contains(out, "rebuilt index public.patients_ssn_idx") {
		t.Errorf("notes do not advise the policy change or the reindex:\n%s", out)
	}
	f.checkCells(t, map[string]uint32{"patients-ssn": 1, "patients-pii": 1})

	// A full run again changes nothing: nothing is encrypted twice.
	s3, _, err := f.run(t, ctx, Encrypt, nil)
	if err != nil || s3.Tables[0].Changed != 0 {
		t.Fatalf("second full run: changed %d, err %v", s3.Tables[0].Changed, err)
	}

	// Rotate; retire must refuse while v1 cells remain.
	f.rotate(t, "patients-pii")
	f.rotate(t, "patients-ssn")
	cs, err := KeyCensus(ctx, f.conn, f.pol, "patients-pii")
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckRetire(cs, "patients-pii", 1); err == nil || !strings.Contains(err.Error(), "public.patients.first") {
		t.Fatalf("retire before re-encryption: %v", err)
	}
	began = time.Now()
	s4, _, err := f.run(t, ctx, Reencrypt, nil)
	if err != nil {
		t.Fatal(err)
	}
	el = time.Since(began)
	if s4.Tables[0].Changed != n {
		t.Errorf("reencrypt changed %d rows, want %d", s4.Tables[0].Changed, n)
	}
	t.Logf("reencrypt: %d rows, 3 columns: batches %v, %.0f rows/s; %v in all", n, s4.Tables[0].Batches.Round(time.Millisecond),
		float64(n)/s4.Tables[0].Batches.Seconds(), el.Round(time.Millisecond))
	f.checkCells(t, map[string]uint32{"patients-ssn": 2, "patients-pii": 2})
	cs, err = KeyCensus(ctx, f.conn, f.pol, "patients-pii")
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckRetire(cs, "patients-pii", 1); err != nil {
		t.Fatalf("retire after re-encryption: %v", err)
	}

	// The way out.
	s5, out, err := f.run(t, ctx, Decrypt, nil)
	if err != nil {
		t.Fatal(err)
	}
	if s5.Tables[0].Changed != n || !strings.Contains(out, `ALTER TABLE "public"."patients" ALTER COLUMN "birthdate" TYPE date`) {
		t.Errorf("decrypt changed %d rows; notes:\n%s", s5.Tables[0].Changed, out)
	}
	rows, err := f.conn.Query(ctx, "SELECT id::text, ssn, first, birthdate FROM patients")
	if err != nil {
		t.Fatal(err)
	}
	bad := 0
	for rows.Next() {
		var id string
		var v [3]string
		if err := rows.Scan(&id, &v[0], &v[1], &v[2]); err != nil {
			t.Fatal(err)
		}
		if v != f.orig[id] {
			bad++
		}
	}
	rows.Close()
	if bad > 0 {
		t.Errorf("%d rows differ from the originals after decrypt", bad)
	}
}

func TestNoPrimaryKeyWalksByCtid(t *testing.T) {
	f := start(t)
	ctx := context.Background()
	if _, err := f.conn.Exec(ctx, "ALTER TABLE patients DROP CONSTRAINT patients_pkey CASCADE"); err != nil {
		t.Fatal(err)
	}
	kctx, kill := context.WithCancel(ctx)
	batches := 0
	_, _, err := f.run(t, kctx, Encrypt, func(Progress) {
		if batches++; batches == 2 {
			kill()
		}
	})
	kill()
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("killed run: %v", err)
	}
	// A worker's COMMIT the kill cut off may still be running on the
	// server (the client hung up after sending it): count only once every
	// other session of the killed run is gone.
	waitAlone(t, f.conn)
	s, _, err := f.run(t, ctx, Encrypt, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !s.Tables[0].Resumed {
		t.Error("not resumed")
	}
	f.checkCells(t, map[string]uint32{"patients-ssn": 1, "patients-pii": 1})
}
