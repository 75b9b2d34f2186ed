package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/phiguard/phiguard/backfill"
	"github.com/phiguard/phiguard/internal/ehrdemo"
	"github.com/phiguard/phiguard/internal/pgcluster"
	"github.com/phiguard/phiguard/keys"
	"github.com/phiguard/phiguard/keys/local"
	"github.com/phiguard/phiguard/policy"
	"github.com/phiguard/phiguard/search"
	"github.com/phiguard/phiguard/sqlrewrite"
)

// The policy encrypts the columns a patient search reads, with the search
// terms of docs/design/search-terms.md §8: order and match on last, order
// on first and birthdate. buildingYAML is what `phiguard encrypt` and the
// first `phiguard search install` run under (terms written, not used);
// readyYAML is what the second install (the CHECK) and phiguard serve
// under, once the backfill's census has found every cell with terms.
const (
	buildingYAML = `version: 1
tables:
  public.patients:
    columns:
      ssn:       {mode: deterministic, key: search-ssn, type: text}
      first:     {mode: randomized,    key: search-pii, type: text, search: [order], search_key_version: 1}
      last:      {mode: randomized,    key: search-pii, type: text, search: [order, match], search_key_version: 1}
      birthdate: {mode: randomized,    key: search-pii, type: date, search: [order], search_key_version: 1}
`
	readyYAML = `version: 1
tables:
  public.patients:
    state: encrypted
    columns:
      ssn:       {mode: deterministic, key: search-ssn, type: text}
      first:     {mode: randomized,    key: search-pii, type: text, search: [order], search_key_version: 1, search_state: ready}
      last:      {mode: randomized,    key: search-pii, type: text, search: [order, match], search_key_version: 1, search_state: ready}
      birthdate: {mode: randomized,    key: search-pii, type: date, search: [order], search_key_version: 1, search_state: ready}
`
)

// searchColumns are the columns with terms, in the report's order.
var searchColumns = []string{"last", "first", "birthdate"}

// plainIndexes are what an application has on the plaintext columns the
// queries search; the encrypted copy keeps only those on plaintext ones
// and gets phiguard's term indexes.
const (
	sharedSetup = `CREATE INDEX ON public.encounters (patient);
CREATE TABLE public.care_teams (clinician text NOT NULL, patient uuid NOT NULL REFERENCES public.patients (id));
INSERT INTO public.care_teams SELECT 'dr_alice', id FROM public.patients ORDER BY pg_catalog.md5(id::text) LIMIT 2000;
CREATE INDEX ON public.care_teams (clinician);
ANALYZE public.care_teams`
	plainIndexes = `CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX ON public.patients (last, first);
CREATE INDEX ON public.patients USING gin (last gin_trgm_ops);
CREATE INDEX ON public.patients (birthdate);
ANALYZE public.patients`
)

// loadFigures are what loading a dataset measured, kept with it (in
// stateFile) so that a run on a kept dataset reports them too.
type loadFigures struct {
	Patients int    `json:"patients"`
	Seed     uint64 `json:"seed"`
	Password string `json:"password"` // the throwaway cluster's superuser
	Made     string `json:"made"`
	// Backfill is patients per second over the whole `phiguard encrypt`
	// (type conversion, batches, REINDEX, VACUUM, census); Batches over
	// its batches alone.
	Backfill float64 `json:"backfill_per_second"`
	Batches  float64 `json:"batches_per_second"`
	// Install and Check are the two `phiguard search install` runs: the
	// term indexes (built concurrently), then the CHECK under ready.
	Install time.Duration `json:"install_ns"`
	Check   time.Duration `json:"check_ns"`
}

// stateFile, in BENCH_KEEP's directory, says a dataset is complete.
const stateFile = "bench.json"

// dataset is the cluster with its two databases, and its keyring.
type dataset struct {
	pg      *pgcluster.Cluster
	kr      *keys.Keyring
	fig     loadFigures
	reused  bool
	cleanup func()
}

// openDataset starts the cluster in s.keep (a new temporary directory
// when unset, removed at cleanup) and loads the two databases, or, when
// s.keep already holds a complete dataset of the same size and seed,
// starts that one.
func openDataset(ctx context.Context, s settings) (*dataset, error) {
	dir, temp := s.keep, s.keep == ""
	if temp {
		d, err := os.MkdirTemp("", "searchbench-")
		if err != nil {
			return nil, err
		}
		dir = d
	}
	d := &dataset{cleanup: func() {}}
	done := func() {
		if d.pg != nil {
			d.pg.Stop()
		}
		if temp {
			os.RemoveAll(dir)
		}
	}
	ds, err := startDataset(ctx, s, dir, d)
	if err != nil {
		done()
		return nil, err
	}
	ds.cleanup = done
	return ds, nil
}

func startDataset(ctx context.Context, s settings, dir string, d *dataset) (*dataset, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	raw, err := os.ReadFile(filepath.Join(dir, stateFile))
	switch {
	case err == nil:
		if err := json.Unmarshal(raw, &d.fig); err != nil {
			return nil, fmt.Errorf("%s: %w", stateFile, err)
		}
		if d.fig.Patients != s.patients || d.fig.Seed != s.seed {
			return nil, fmt.Errorf("BENCH_KEEP=%s holds %d patients of seed %d, not %d of seed %d: use another directory", dir, d.fig.Patients, d.fig.Seed, s.patients, s.seed)
		}
		d.reused = true
	case errors.Is(err, fs.ErrNotExist):
		d.fig = loadFigures{Patients: s.patients, Seed: s.seed, Made: time.Now().UTC().Format("2006-01-02 15:04")}
		if d.fig.Password, err = randomHex(16); err != nil {
			return nil, err
		}
	default:
		return nil, err
	}
	if d.kr, err = keyring(ctx, dir); err != nil {
		return nil, err
	}
	d.pg, err = pgcluster.Start(ctx, pgcluster.Options{Dir: filepath.Join(dir, "pg"), Password: d.fig.Password, Reuse: d.reused,
		Settings: map[string]string{"max_connections": "50", "shared_buffers": "256MB"}})
	if err != nil {
		return nil, err
	}
	if d.reused {
		// `search install` again, as after an upgrade: what exists is
		// left, and phiguard.search_objects gets this phiguard's records
		// (a phiguard that reads more of them than the one that loaded
		// the dataset would otherwise not use its terms).
		return d, reinstall(ctx, d)
	}
	if err := load(ctx, d); err != nil {
		return nil, err
	}
	out, err := json.Marshal(d.fig)
	if err != nil {
		return nil, err
	}
	return d, os.WriteFile(filepath.Join(dir, stateFile), out, 0o600)
}

// keyring is the dataset's keyring file (keys/local), made with its
// master key on first use: a kept dataset's cells open in later runs.
func keyring(ctx context.Context, dir string) (*keys.Keyring, error) {
	mk := filepath.Join(dir, "master.key")
	if _, err := os.Stat(mk); errors.Is(err, fs.ErrNotExist) {
		text, err := local.GenerateMasterKey()
		if err != nil {
			return nil, err
		}
		if err := os.WriteFile(mk, []byte(text), 0o600); err != nil {
			return nil, err
		}
	}
	master, err := local.MasterKeyFromFile(mk)
	if err != nil {
		return nil, err
	}
	p, err := local.New(filepath.Join(dir, "keyring.json"), master)
	if err != nil {
		return nil, err
	}
	if _, err := p.Init(ctx, []string{"search-ssn", "search-pii"}); err != nil {
		return nil, err
	}
	return p.Load(ctx)
}

// load fills the two databases from the same seed, indexes the plaintext
// one, and makes the encrypted one searchable as the commands would:
// `phiguard encrypt` (cells with terms; timed), `phiguard search install`
// (functions and term indexes), then, the census having found no cell
// without terms, `search_state: ready` and install again (the CHECK).
// (The design's §7.1 installs before encrypting, for columns already
// text; these are date and text columns of plaintext, which encrypt
// converts first, and install refuses a column that is not text.)
func load(ctx context.Context, d *dataset) error {
	pg := d.pg
	for _, db := range []string{"plain", "enc"} {
		if err := pg.CreateDatabase(ctx, db, pg.Superuser); err != nil {
			return err
		}
		c, err := d.connect(ctx, db)
		if err != nil {
			return err
		}
		defer c.Close(ctx)
		if _, err := ehrdemo.Generate(ctx, c, d.fig.Patients, 2, d.fig.Seed); err != nil {
			return err
		}
		if _, err := c.Exec(ctx, sharedSetup); err != nil {
			return err
		}
		if db == "plain" {
			if _, err := c.Exec(ctx, plainIndexes); err != nil {
				return err
			}
			continue
		}
		if err := makeSearchable(ctx, d, c); err != nil {
			return err
		}
	}
	return nil
}

// makeSearchable encrypts enc with terms and installs their objects.
func makeSearchable(ctx context.Context, d *dataset, enc *pgx.Conn) error {
	building, err := parsePolicy(buildingYAML)
	if err != nil {
		return err
	}
	start := time.Now()
	sum, err := backfill.Run(ctx, enc, backfill.Options{Op: backfill.Encrypt, Policy: building, Keyring: d.kr, Workers: 2,
		Connect: func(ctx context.Context) (*pgx.Conn, error) { return d.connect(ctx, "enc") }})
	if err != nil {
		return fmt.Errorf("backfill: %w", err)
	}
	n := float64(d.fig.Patients)
	d.fig.Backfill = n / time.Since(start).Seconds()
	for _, t := range sum.Tables {
		if t.Table == "public.patients" && t.Batches > 0 {
			d.fig.Batches = n / t.Batches.Seconds()
		}
		for _, col := range searchColumns {
			if c, ok := t.Census[col]; t.Table == "public.patients" && (!ok || !c.Terms.Complete()) {
				return fmt.Errorf("backfill: column %s is not complete with terms: %v", col, c.Terms)
			}
		}
	}
	start = time.Now()
	if err := search.Install(ctx, enc, search.Options{Policy: building}); err != nil {
		return err
	}
	d.fig.Install = time.Since(start)
	ready, err := parsePolicy(readyYAML)
	if err != nil {
		return err
	}
	start = time.Now()
	if err := search.Install(ctx, enc, search.Options{Policy: ready}); err != nil {
		return err
	}
	d.fig.Check = time.Since(start)
	_, err = enc.Exec(ctx, "VACUUM ANALYZE public.patients")
	return err
}

// reinstall runs `phiguard search install` under the ready policy on a
// kept dataset.
func reinstall(ctx context.Context, d *dataset) error {
	ready, err := parsePolicy(readyYAML)
	if err != nil {
		return err
	}
	enc, err := d.connect(ctx, "enc")
	if err != nil {
		return err
	}
	defer enc.Close(ctx)
	return search.Install(ctx, enc, search.Options{Policy: ready})
}

func (d *dataset) connect(ctx context.Context, db string) (*pgx.Conn, error) {
	return pgx.Connect(ctx, d.pg.URL(d.pg.Superuser, d.pg.Password, db))
}

func parsePolicy(src string) (*policy.Policy, error) {
	pol, err := sqlrewrite.ParsePolicy([]byte(src))
	if err == nil {
		err = pol.Validate()
	}
	return pol, err
}

func randomHex(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}
