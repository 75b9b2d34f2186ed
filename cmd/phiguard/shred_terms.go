package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/phiguard/phiguard/backfill"
	"github.com/phiguard/phiguard/config"
	"github.com/phiguard/phiguard/keys/keysconfig"
	"github.com/phiguard/phiguard/policy"
	"github.com/phiguard/phiguard/sqlrewrite"
)

// shredTermsStep is shred's second step (docs/design/search-terms.md
// §5.2): after the key is destroyed, the subject's cells in per-subject
// columns with `search` get the terms of what they now read as
// (backfill.ShredTerms). It runs after the key's destruction, never
// before: the erasure must not wait on the database, and terms rewritten
// while the key still opens the cells would give a readable value the
// terms of another (a row a term search and an ordered window miss,
// with nothing in phiguard to see it). It first waits pause (the
// subject keys' cache TTL): a proxy holding the key cached still reads
// the value, and may still write a cell with its terms, until then.
// Meanwhile the cells read as shredded with their old terms, which the
// proxy's reads allow for (guard/rounds_shredded.go). A policy without
// such a column needs no database and no wait, and nothing is printed.
// With --terms-only it is the whole command, to finish a shred whose
// database step failed; running it again changes nothing.
func shredTermsStep(cfg config.Config, subject string, pause time.Duration, stdout, stderr io.Writer) int {
	if cfg.PolicyFile == "" {
		return 0
	}
	pol, err := sqlrewrite.LoadPolicy(cfg.PolicyFile)
	if err == nil {
		err = pol.Validate()
	}
	if err != nil {
		fmt.Fprintf(stderr, "phiguard shred: search terms not rewritten: %s: %v\n", cfg.PolicyFile, err)
		return 1
	}
	need := false
	for _, t := range pol.Tables() {
		need = need || len(backfill.ShredTermColumns(t)) > 0
	}
	if !need {
		return 0
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if pause > 0 {
		fmt.Fprintf(stdout, "waiting %v (keys.subjects.cache_ttl) until no running proxy holds the key, then rewriting the search terms\n", pause)
		select {
		case <-time.After(pause):
		case <-ctx.Done():
			err = ctx.Err()
		}
	}
	var n int64
	if err == nil {
		n, err = shredTerms(ctx, cfg, pol, subject)
	}
	if err != nil {
		fmt.Fprintf(stderr, "phiguard shred: the subject key is destroyed, but the search terms of the subject's cells were not rewritten (%v); "+
			"they still describe the old values: run phiguard shred --config F --subject ID --terms-only to finish\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "terms rewritten: %d cells (the subject's per-subject columns with search now carry the terms of what they read as)\n", n)
	return 0
}

// shredTerms connects to the database and runs backfill.ShredTerms with
// subject keys loaded afresh (no cache that held the destroyed key).
func shredTerms(ctx context.Context, cfg config.Config, pol *policy.Policy, subject string) (int64, error) {
	p, err := keysconfig.Provider(cfg.Keys, nil)
	if err != nil {
		return 0, err
	}
	kctx, cancel := context.WithTimeout(ctx, keysTimeout)
	defer cancel()
	kr, err := keysconfig.Load(kctx, p)
	if err != nil {
		return 0, keysconfig.Explain(p, err)
	}
	sk, err := keysconfig.SubjectKeys(cfg.Keys, p, kr, pol)
	if err != nil {
		return 0, err
	}
	pgcfg, err := backendConnConfig(cfg.Backend)
	if err != nil {
		return 0, err
	}
	conn, err := pgx.ConnectConfig(ctx, pgcfg)
	if err != nil {
		return 0, fmt.Errorf("connect to the backend: %w", err)
	}
	defer conn.Close(context.Background())
	res, err := backfill.ShredTerms(ctx, conn, backfill.Options{
		Policy: pol, Keyring: kr, Subjects: sk, ShreddedMarker: cfg.Keys.Subjects.ShreddedMarker,
	}, subject)
	return res.Cells, err
}
