package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

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
// before: the erasure must not wait on the database. A policy without
// such a column needs no database, and nothing is printed. With
// --terms-only it is the whole command, to finish a shred whose database
// step failed; running it again changes nothing.
func shredTermsStep(cfg config.Config, subject string, stdout, stderr io.Writer) int {
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
	n, err := shredTerms(ctx, cfg, pol, subject)
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
