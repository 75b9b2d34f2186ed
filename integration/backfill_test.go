package integration

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	gosync "sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/phiguard/phiguard/backfill"
	"github.com/phiguard/phiguard/guard"
	"github.com/phiguard/phiguard/internal/ehrdemo"
	"github.com/phiguard/phiguard/keys"
	"github.com/phiguard/phiguard/policy"
)

// backfillPolicy names no subject column: this test is about column keys
// and their rotation; TestBackfillShredUnderLoad seals per subject.
const backfillPolicy = `
version: 1
tables:
  public.patients:
    columns:
      ssn:       {mode: deterministic, key: bf-ssn, type: text}
      first:     {mode: randomized,    key: bf-pii, type: text}
      birthdate: {mode: randomized,    key: bf-pii, type: date}
`

// patientRow is what the test compares: the three protected columns as
// the application reads them through phiguard.
type patientRow struct{ ssn, first, birthdate string }

// writer inserts and updates patients through phiguard until stopped, and
// remembers every write phiguard acknowledged.
type writer struct {
	url   atomic.Pointer[string] // which phiguard to write through
	n     int                    // generated patients, the ids it updates
	mu    gosync.Mutex
	acked map[string]patientRow
	stop  atomic.Bool // checked between writes, so none is cut off unacknowledged
	ops   atomic.Int64
	fails atomic.Int64
	err   error
	last  atomic.Pointer[string] // the last refusal or failure, for a stuck test's message
}

func (w *writer) run(ctx context.Context) {
	r := rand.New(rand.NewPCG(7, 7))
	var conn *pgx.Conn
	var connURL string
	defer func() {
		if conn != nil {
			conn.Close(context.Background())
		}
	}()
	for k := 0; !w.stop.Load() && ctx.Err() == nil; k++ {
		if u := *w.url.Load(); conn == nil || u != connURL {
			if conn != nil {
				conn.Close(context.Background())
			}
			var err error
			if conn, err = pgx.Connect(ctx, u); err != nil {
				if ctx.Err() == nil {
					w.err = err
				}
				return
			}
			connURL = u
		}
		var id string
		row := patientRow{ssn: fmt.Sprintf("888-%02d-%04d", k/10000%100, k%10000), first: "Writer" + strconv.Itoa(k)}
		var err error
		if k%2 == 0 {
			id = fmt.Sprintf("00000000-0000-4000-a000-%012d", k)
			row.birthdate = fmt.Sprintf("19%02d-0%d-1%d", k%100, 1+k%9, k%10)
			_, err = conn.Exec(ctx, "INSERT INTO patients (id, birthdate, ssn, first, last, gender) VALUES ($1, $2, $3, $4, 'Doe', 'F')",
				pgx.QueryExecModeSimpleProtocol, id, row.birthdate, row.ssn, row.first)
		} else {
			id = ehrdemo.GeneratedPatientID(r.IntN(w.n - 1)) // the last patient is the test's to search
			_, err = conn.Exec(ctx, "UPDATE patients SET ssn = $1, first = $2 WHERE id = $3",
				pgx.QueryExecModeSimpleProtocol, row.ssn, row.first, id)
		}
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			// Refused or failed writes were reported to the client: they are
			// not expected to persist, and a broken connection is reopened.
			w.fails.Add(1)
			msg := err.Error()
			w.last.Store(&msg)
			if conn.IsClosed() {
				conn = nil
			}
			continue
		}
		w.ops.Add(1)
		w.mu.Lock()
		if k%2 == 0 {
			w.acked[id] = row
		} else {
			prev, ok := w.acked[id]
			if !ok {
				prev.birthdate = "" // unchanged by the writer; checked against the original
			}
			prev.ssn, prev.first = row.ssn, row.first
			w.acked[id] = prev
		}
		w.mu.Unlock()
		time.Sleep(time.Millisecond)
	}
}

func backfillPatients(t *testing.T) int {
	if s := os.Getenv("PHIGUARD_BACKFILL_PATIENTS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	return 5000
}

// TestBackfillUnderConcurrentWrites: encrypt the generated patients while
// an application writes through phiguard, then rotate, re-encrypt under
// the same load and retire the old version. Nothing is lost, no plaintext
// is left, and every cell reads back through phiguard as its original.
func TestBackfillUnderConcurrentWrites(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	db, su, n, orig := generatedDatabase(t, ctx, "backfill", 99)
	pol := validPolicy(t, backfillPolicy)
	dks := []keys.DataKey{newDataKey(t, "bf-ssn", 1), newDataKey(t, "bf-pii", 1)}
	kr1 := mustKeyring(t, dks)
	p1 := startProxy(t, proxyOptions{protect: &guard.Protection{Policy: pol, Keyring: kr1}})

	w := &writer{n: n, acked: map[string]patientRow{}}
	u1 := p1.url(appUser, appPassword, db)
	w.url.Store(&u1)
	var wg gosync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); w.run(ctx) }()

	runOp := func(op backfill.Op, kr *keys.Keyring) *backfill.Summary {
		t.Helper()
		conn := connect(t, directURL(pg.Superuser, pg.Password, db))
		began := time.Now()
		s, err := backfill.Run(ctx, conn, backfill.Options{Op: op, Policy: pol, Keyring: kr, Batch: 1000,
			Connect: func(ctx context.Context) (*pgx.Conn, error) {
				return pgx.Connect(ctx, directURL(pg.Superuser, pg.Password, db))
			}})
		if err != nil {
			t.Fatalf("%v: %v", op, err)
		}
		tr := s.Tables[0]
		t.Logf("%v under load: %d rows examined, %d written; batches %v (%.0f rows/s), %v in all; writer: %d writes acknowledged, %d refused so far",
			op, tr.Rows, tr.Changed, tr.Batches.Round(time.Millisecond), float64(tr.Rows)/tr.Batches.Seconds(), time.Since(began).Round(time.Millisecond),
			w.ops.Load(), w.fails.Load())
		return s
	}
	time.Sleep(200 * time.Millisecond) // let the writer get going
	runOp(backfill.Encrypt, kr1)
	checkNoPlaintext(t, ctx, su, 1)

	// Rotate: phiguard instances reload the keyring (here: a new instance
	// with it), new writes use version 2 at once; retire of 1 is refused.
	dks = append(dks, newDataKey(t, "bf-ssn", 2), newDataKey(t, "bf-pii", 2))
	kr2 := mustKeyring(t, dks)
	p2 := startProxy(t, proxyOptions{protect: &guard.Protection{Policy: pol, Keyring: kr2}})
	u2 := p2.url(appUser, appPassword, db)
	w.url.Store(&u2)
	for before, deadline := w.ops.Load(), time.Now().Add(time.Minute); w.ops.Load() < before+3; {
		if time.Now().After(deadline) || ctx.Err() != nil {
			last := "none"
			if p := w.last.Load(); p != nil {
				last = *p
			}
			t.Fatalf("the writer made no progress through the new instance: %d writes failed, the last with: %s", w.fails.Load(), last)
		}
		time.Sleep(10 * time.Millisecond) // the writer is on the new instance
	}
	cs, err := backfill.KeyCensus(ctx, su, pol, "bf-pii")
	if err != nil {
		t.Fatal(err)
	}
	if err := backfill.CheckRetire(cs, "bf-pii", 1); err == nil {
		t.Fatal("retire of version 1 allowed while its cells remain")
	}
	searchAllVersions(t, ctx, p2.url(appUser, appPassword, db), orig[ehrdemo.GeneratedPatientID(n-1)].ssn)
	runOp(backfill.Reencrypt, kr2)
	searchAllVersions(t, ctx, p2.url(appUser, appPassword, db), orig[ehrdemo.GeneratedPatientID(n-1)].ssn)
	time.Sleep(100 * time.Millisecond)
	w.stop.Store(true)
	wg.Wait()
	if w.err != nil {
		t.Fatalf("writer: %v", w.err)
	}
	if w.ops.Load() < 10 {
		t.Fatalf("the writer only managed %d writes", w.ops.Load())
	}
	checkNoPlaintext(t, ctx, su, 2)
	for _, id := range []string{"bf-pii", "bf-ssn"} {
		cs, err := backfill.KeyCensus(ctx, su, pol, id)
		if err != nil {
			t.Fatal(err)
		}
		if err := backfill.CheckRetire(cs, id, 1); err != nil {
			t.Errorf("retire after re-encryption: %v", err)
		}
	}

	// Every row reads back through phiguard as the original or as the
	// writer's last acknowledged write.
	app := connect(t, p2.url(appUser, appPassword, db))
	got := readPatients(t, ctx, app, "SELECT id, ssn, first, birthdate FROM patients")
	bad := 0
	for id, row := range orig {
		want := row
		if acked, ok := w.acked[id]; ok {
			want.ssn, want.first = acked.ssn, acked.first
		}
		if got[id] != want {
			if bad++; bad <= 3 {
				t.Errorf("patient %s: got %+v, want %+v (synthetic data)", id, got[id], want)
			}
		}
	}
	for id, acked := range w.acked {
		if _, ok := orig[id]; ok {
			continue
		}
		if got[id] != acked {
			if bad++; bad <= 3 {
				t.Errorf("new patient %s: got %+v, want %+v (synthetic data)", id, got[id], acked)
			}
		}
	}
	if len(got) != len(orig)+countNew(w.acked, orig) || bad > 0 {
		t.Errorf("%d rows read through phiguard, want %d; %d differ from the original or the last acknowledged write",
			len(got), len(orig)+countNew(w.acked, orig), bad)
	}
	t.Logf("writer: %d writes acknowledged, %d refused (birthdate cannot take a cell before its conversion to text)", w.ops.Load(), w.fails.Load())
}

// searchAllVersions checks that an equality search through phiguard finds
// a patient whatever key version its ssn cell is under (before, during and
// after the re-encryption), in the forms that are rewritten.
func searchAllVersions(t *testing.T, ctx context.Context, url, ssn string) {
	t.Helper()
	conn := connect(t, url)
	var total int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM patients", pgx.QueryExecModeSimpleProtocol).Scan(&total); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		sql  string
		want int
	}{
		{"SELECT count(*) FROM patients WHERE ssn = '" + ssn + "'", 1},
		{"SELECT count(*) FROM patients WHERE ssn IN ('000-00-0000', '" + ssn + "')", 1},
		{"SELECT count(*) FROM patients WHERE ssn <> '" + ssn + "'", total - 1},
		{"SELECT count(*) FROM patients WHERE ssn NOT IN ('" + ssn + "')", total - 1},
	} {
		var got int
		for _, mode := range []pgx.QueryExecMode{pgx.QueryExecModeSimpleProtocol, pgx.QueryExecModeExec} {
			if err := conn.QueryRow(ctx, c.sql, mode).Scan(&got); err != nil {
				t.Fatalf("%s: %v", c.sql, err)
			}
			// Rows the writer inserts meanwhile change the <> counts by a few.
			if got != c.want && (c.want == 1 || got < c.want-50 || got > c.want+50) {
				t.Errorf("%s (%v): %d rows, want %d", c.sql, mode, got, c.want)
			}
		}
	}
}

func countNew(acked, orig map[string]patientRow) int {
	n := 0
	for id := range acked {
		if _, ok := orig[id]; !ok {
			n++
		}
	}
	return n
}

func readPatients(t *testing.T, ctx context.Context, conn *pgx.Conn, sql string) map[string]patientRow {
	t.Helper()
	rows, err := conn.Query(ctx, sql, pgx.QueryExecModeSimpleProtocol)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]patientRow{}
	for rows.Next() {
		// Through phiguard, id is a uuid and birthdate a date again.
		vals, err := rows.Values()
		if err != nil {
			t.Fatal(err)
		}
		var r patientRow
		r.ssn, _ = vals[1].(string)
		r.first, _ = vals[2].(string)
		switch b := vals[3].(type) {
		case string:
			r.birthdate = b
		case time.Time:
			r.birthdate = b.Format("2006-01-02")
		}
		id := fmt.Sprint(vals[0])
		if u, ok := vals[0].([16]byte); ok {
			id = fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
		}
		out[id] = r
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// checkNoPlaintext fails unless every protected cell is a cell of version.
func checkNoPlaintext(t *testing.T, ctx context.Context, conn *pgx.Conn, version uint32) {
	t.Helper()
	bad, total := 0, 0
	eachProtectedRow(t, ctx, conn, func(v [3]string) {
		for _, c := range v {
			total++
			info, err := keys.Inspect([]byte(c))
			if err != nil || info.KeyVersion != version {
				bad++
			}
		}
	})
	if bad > 0 {
		t.Fatalf("%d of %d protected cells are plaintext or not of version %d", bad, total, version)
	}
}

// eachProtectedRow calls f with the stored ssn, first and birthdate of
// every patient, read straight from PostgreSQL.
func eachProtectedRow(t *testing.T, ctx context.Context, conn *pgx.Conn, f func(v [3]string)) {
	t.Helper()
	rows, err := conn.Query(ctx, "SELECT ssn, first, birthdate FROM patients")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var v [3]string
		if err := rows.Scan(&v[0], &v[1], &v[2]); err != nil {
			t.Fatal(err)
		}
		f(v)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
}

func newDataKey(t *testing.T, id string, v uint32) keys.DataKey {
	dk, err := keys.GenerateDataKey(id, v, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return dk
}

func mustKeyring(t *testing.T, dks []keys.DataKey) *keys.Keyring {
	kr, err := keys.NewKeyring(dks)
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

// generatedDatabase creates a database holding backfillPatients generated
// patients (seeded), open to the application user, and returns it with a
// superuser connection and the patients' original protected values.
func generatedDatabase(t *testing.T, ctx context.Context, prefix string, seed uint64) (db string, su *pgx.Conn, n int, orig map[string]patientRow) {
	t.Helper()
	n = backfillPatients(t)
	db = uniqueName(prefix)
	if err := pg.CreateDatabase(ctx, db, appUser); err != nil {
		t.Fatal(err)
	}
	su = connect(t, directURL(pg.Superuser, pg.Password, db))
	if _, err := ehrdemo.Generate(ctx, su, n, 1, seed); err != nil {
		t.Fatal(err)
	}
	if _, err := su.Exec(ctx, "GRANT ALL ON ALL TABLES IN SCHEMA public TO "+appUser); err != nil {
		t.Fatal(err)
	}
	orig = readPatients(t, ctx, su, "SELECT id::text, ssn, first, to_char(birthdate, 'YYYY-MM-DD') FROM patients")
	return db, su, n, orig
}

// validPolicy parses and validates a test's policy.
func validPolicy(t *testing.T, yaml string) *policy.Policy {
	t.Helper()
	pol, err := parsePolicy([]byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	return pol
}
