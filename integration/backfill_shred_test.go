package integration

import (
	"bytes"
	"context"
	"math/rand/v2"
	"path/filepath"
	gosync "sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/phiguard/phiguard/backfill"
	"github.com/phiguard/phiguard/guard"
	"github.com/phiguard/phiguard/internal/ehrdemo"
	"github.com/phiguard/phiguard/keys"
	"github.com/phiguard/phiguard/keys/local"
)

// backfillShredPolicy seals first and birthdate per patient; ssn stays
// deterministic under its column key (docs/shredding.md).
const backfillShredPolicy = `
version: 1
tables:
  public.patients:
    subject_column: id
    columns:
      ssn:       {mode: deterministic, key: bfs-ssn, type: text}
      first:     {mode: randomized,    key: bfs-pii, type: text}
      birthdate: {mode: randomized,    key: bfs-pii, type: date}
`

// TestBackfillShredUnderLoad is issue 6's shred scenario on a backfilled
// table: the generated patients' plaintext is sealed per patient by the
// backfill while an application inserts and updates through phiguard;
// then a pg_dump, a shred of one patient, and the old dump restored into a
// fresh database. Through phiguard, in the live and in the restored
// database, the shredded patient's sealed cells read NULL and the others
// decrypt; no acknowledged write is lost and no protected cell is
// plaintext. `make test-backfill` runs it on 100,000 patients.
func TestBackfillShredUnderLoad(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	db, su, n, orig := generatedDatabase(t, ctx, "bfshred", 77)
	pol := validPolicy(t, backfillShredPolicy)
	prov, err := local.New(filepath.Join(t.TempDir(), "keyring.json"), keys.NewSecret(bytes.Repeat([]byte{9}, local.MasterKeySize)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := prov.Init(ctx, []string{"bfs-ssn", "bfs-pii", keys.SubjectKeyID}); err != nil {
		t.Fatal(err)
	}
	kr, err := prov.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	const ttl = 300 * time.Millisecond // the proxies' shred window
	proxySK, err := keys.NewSubjectKeys(kr, prov, keys.SubjectKeysOptions{TTL: ttl})
	if err != nil {
		t.Fatal(err)
	}
	p := startProxy(t, proxyOptions{protect: &guard.Protection{Policy: pol, Keyring: kr, Subjects: proxySK}})

	w := &writer{n: n, acked: map[string]patientRow{}}
	u := p.url(appUser, appPassword, db)
	w.url.Store(&u)
	var wg gosync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); w.run(ctx) }()
	time.Sleep(200 * time.Millisecond) // let the writer get going

	// The backfill, as `phiguard encrypt` runs it: its own subject keys
	// over the same store (another process).
	bfSK, err := keys.NewSubjectKeys(kr, prov, keys.SubjectKeysOptions{})
	if err != nil {
		t.Fatal(err)
	}
	conn := connect(t, directURL(pg.Superuser, pg.Password, db))
	began := time.Now()
	s, err := backfill.Run(ctx, conn, backfill.Options{Op: backfill.Encrypt, Policy: pol, Keyring: kr, Subjects: bfSK, Batch: 1000,
		Connect: func(ctx context.Context) (*pgx.Conn, error) {
			return pgx.Connect(ctx, directURL(pg.Superuser, pg.Password, db))
		}})
	if err != nil {
		t.Fatalf("encrypt: %v", err)
	}
	tr := s.Tables[0]
	t.Logf("encrypt with subject sealing under load: %d rows examined, %d written, %d cells; batches %v (%.0f rows/s), %v in all; writer: %d writes acknowledged, %d refused so far",
		tr.Rows, tr.Changed, tr.Cells, tr.Batches.Round(time.Millisecond), float64(tr.Rows)/tr.Batches.Seconds(), time.Since(began).Round(time.Millisecond),
		w.ops.Load(), w.fails.Load())
	if tr.NoSubject != 0 || tr.Shredded != 0 {
		t.Errorf("skipped cells: %d without subject, %d shredded", tr.NoSubject, tr.Shredded)
	}
	time.Sleep(100 * time.Millisecond)
	w.stop.Store(true)
	wg.Wait()
	if w.err != nil {
		t.Fatalf("writer: %v", w.err)
	}
	if w.ops.Load() < 10 {
		t.Fatalf("the writer only managed %d writes", w.ops.Load())
	}
	checkSealed(t, ctx, su, "live database")

	// Nothing lost: every row reads back through phiguard as the original
	// or the writer's last acknowledged write.
	want := map[string]patientRow{}
	for id, row := range orig {
		if acked, ok := w.acked[id]; ok {
			row.ssn, row.first = acked.ssn, acked.first
		}
		want[id] = row
	}
	for id, acked := range w.acked {
		if _, ok := orig[id]; !ok {
			want[id] = acked
		}
	}
	app := connect(t, p.url(appUser, appPassword, db))
	got := readPatients(t, ctx, app, "SELECT id, ssn, first, birthdate FROM patients")
	bad := 0
	for id, row := range want {
		if got[id] != row {
			if bad++; bad <= 3 {
				t.Errorf("patient %s: got %+v, want %+v (synthetic data)", id, got[id], row)
			}
		}
	}
	if len(got) != len(want) || bad > 0 {
		t.Fatalf("%d rows through phiguard, want %d; %d differ", len(got), len(want), bad)
	}

	// Backup, then shred the patient the writer never touches.
	dump := filepath.Join(t.TempDir(), "backfilled.dump")
	pgTool(t, "pg_dump", "-Fc", "-f", dump, "-d", db)
	victim := ehrdemo.GeneratedPatientID(n - 1)
	shredder, _ := keys.NewSubjectKeys(kr, prov, keys.SubjectKeysOptions{})
	if _, out, err := shredder.Shred(ctx, victim); err != nil || out != keys.ShredDestroyed {
		t.Fatalf("shred: %v %v", out, err)
	}
	time.Sleep(ttl + 100*time.Millisecond)

	restored := db + "_restored"
	if err := pg.CreateDatabase(ctx, restored, appUser); err != nil {
		t.Fatal(err)
	}
	pgTool(t, "pg_restore", "--no-owner", "--role", appUser, "-d", restored, dump)
	checkSealed(t, ctx, connect(t, directURL(appUser, appPassword, restored)), "restored dump")

	// A sample of the others, and the victim, through phiguard.
	r := rand.New(rand.NewPCG(3, 3))
	sample := []string{}
	for i := 0; i < 200; i++ {
		sample = append(sample, ehrdemo.GeneratedPatientID(r.IntN(n-1)))
	}
	for id := range w.acked {
		if len(sample) >= 250 {
			break
		}
		sample = append(sample, id)
	}
	for _, where := range []string{db, restored} {
		c := connect(t, p.url(appUser, appPassword, where))
		var ssn string
		var first *string
		var birth *time.Time
		if err := c.QueryRow(ctx, "SELECT ssn, first, birthdate FROM patients WHERE id = $1", victim).Scan(&ssn, &first, &birth); err != nil {
			t.Fatalf("%s: %v", where, err)
		}
		if first != nil || birth != nil {
			t.Errorf("%s: the shredded patient is readable", where)
		}
		if ssn != want[victim].ssn {
			t.Errorf("%s: the shredded patient's ssn (deterministic, not shredded) reads wrong", where)
		}
		for _, id := range sample {
			var row patientRow
			var b time.Time
			if err := c.QueryRow(ctx, "SELECT ssn, first, birthdate FROM patients WHERE id = $1", id).Scan(&row.ssn, &row.first, &b); err != nil {
				t.Fatalf("%s: patient %s: %v", where, id, err)
			}
			row.birthdate = b.Format("2006-01-02")
			if row != want[id] {
				t.Errorf("%s: patient %s reads %+v, want %+v (synthetic data)", where, id, row, want[id])
			}
		}
	}
	t.Logf("shred after backfill: patient unreadable in the live database and in the restored dump; %d others decrypt in both", len(sample))
}

// checkSealed fails unless every ssn is a cell of its column key and every
// first and birthdate a cell of a subject key: nothing plaintext, and
// nothing per-subject left where phiguard shred cannot reach it.
func checkSealed(t *testing.T, ctx context.Context, conn *pgx.Conn, where string) {
	t.Helper()
	bad, total := 0, 0
	eachProtectedRow(t, ctx, conn, func(v [3]string) {
		total++
		info, err := keys.Inspect([]byte(v[0]))
		if err != nil || info.KeyID != "bfs-ssn" || !keys.IsSubjectCell([]byte(v[1])) || !keys.IsSubjectCell([]byte(v[2])) {
			bad++
		}
	})
	if bad > 0 || total == 0 {
		t.Fatalf("%s: %d of %d rows hold a protected cell that is plaintext or under the wrong key", where, bad, total)
	}
}
