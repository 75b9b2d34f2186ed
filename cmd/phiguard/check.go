package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/phiguard/phiguard/config"
	"github.com/phiguard/phiguard/policy"
	"github.com/phiguard/phiguard/policy/pgcatalog"
	"github.com/phiguard/phiguard/sqlrewrite"
)

const checkUsage = `usage: phiguard check --config FILE [--policy FILE] [--catalog]

Validates the configuration and, when it names one (policy_file) or --policy
gives one, the policy file, printing every problem with its key path.

With --catalog it also connects to the backend the configuration names and
checks the policy against the live catalog: every table and column must
exist and each protected column's type must be able to hold encrypted cells;
every table and column a role's column or row rule names must exist, and
every row rule must run (EXPLAIN SELECT 1 FROM table WHERE (rule)). Users
bound to a role but missing from pg_roles are warnings, and so is linkage: a
column a role reads in clear that references, by foreign key or by the same
name and type as a subject column, an identifier the role sees pseudonymized,
masked, nulled or denied. An encrypted column without its cells-only CHECK
(docs/backfill.md), or with it not validated, is a warning; a constraint of
its name that is not phiguard's is a problem.

Warnings never change the exit status. Without --catalog, check warns of
every table a role may write although its own row rules read it
(writes_rule_tables): the role can change which rows its rules let through.
The login comes from the usual libpq variables, PGUSER, PGPASSWORD (or
~/.pgpass) and PGDATABASE; host, port and TLS come from the configuration.
--catalog is explicit, never "when the backend is reachable", so that a check
that could not reach the database fails instead of passing quietly.

Exit status: 0 when everything checked is valid, 1 on any problem, 2 on a
usage error.
`

func runCheck(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, checkUsage); fs.PrintDefaults() }
	path := fs.String("config", "", "configuration file to validate (required unless --policy is given)")
	policyPath := fs.String("policy", "", "policy file to validate (default: the configuration's policy_file)")
	catalog := fs.Bool("catalog", false, "also check the policy against the backend's live catalog")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if *path == "" && *policyPath == "" {
		fmt.Fprintln(stderr, "phiguard check: --config is required")
		return 2
	}
	code := 0
	cfg, err := loadConfig(*path)
	switch {
	case err != nil:
		fmt.Fprintf(stderr, "%s: %v\n", *path, err)
		code = 1
	case *path != "":
		fmt.Fprintf(stdout, "%s: OK\n", *path)
	}
	if *policyPath == "" {
		*policyPath = cfg.PolicyFile
	}
	if *policyPath == "" {
		if *catalog {
			fmt.Fprintln(stderr, "phiguard check: --catalog needs a policy file (policy_file in the configuration, or --policy)")
			return 2
		}
		return code
	}
	pol, err := sqlrewrite.LoadPolicy(*policyPath)
	if err == nil {
		err = pol.Validate()
	}
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", *policyPath, err)
		return 1
	}
	fmt.Fprintf(stdout, "%s: OK (%s; version %.12s)\n", *policyPath, summarize(pol), pol.Version())
	for _, w := range escalationWarnings(pol) {
		fmt.Fprintf(stderr, "%s: warning: %s\n", *policyPath, w)
	}
	lines, warnings := searchLines(pol) // check_search.go
	for _, l := range lines {
		fmt.Fprintf(stdout, "  %s\n", l)
	}
	for _, w := range warnings {
		fmt.Fprintf(stderr, "%s: warning: %s\n", *policyPath, w)
	}
	if !*catalog {
		return code
	}
	if code != 0 {
		fmt.Fprintln(stderr, "phiguard check: the configuration is invalid, so the catalog was not checked")
		return code
	}
	where, warnings, err := checkCatalog(cfg, pol)
	for _, w := range warnings {
		fmt.Fprintf(stderr, "%s: warning: %s\n", *policyPath, w)
	}
	if err != nil {
		fmt.Fprintf(stderr, "%s: against %s: %v\n", *policyPath, where, err)
		return 1
	}
	fmt.Fprintf(stdout, "%s: matches %s\n", *policyPath, where)
	return 0
}

func summarize(p *policy.Policy) string {
	cols := 0
	for _, t := range p.Tables() {
		cols += len(t.Columns)
	}
	return fmt.Sprintf("%d tables, %d protected columns", len(p.Tables()), cols)
}

// checkCatalog reads the live catalog of the configured backend and checks
// the policy against it. where names the database for messages.
func checkCatalog(cfg config.Config, pol *policy.Policy) (where string, warnings []string, err error) {
	where = "the backend at " + net.JoinHostPort(cfg.Backend.Host, strconv.Itoa(cfg.Backend.Port))
	pgcfg, err := backendConnConfig(cfg.Backend)
	if err != nil {
		return where, nil, err
	}
	db := pgcfg.Database
	if db == "" {
		db = pgcfg.User
	}
	where = fmt.Sprintf("database %s at %s", db, net.JoinHostPort(pgcfg.Host, strconv.Itoa(int(pgcfg.Port))))
	ctx, cancel := context.WithTimeout(context.Background(), cfg.Backend.ConnectTimeout.Std()+30*time.Second)
	defer cancel()
	conn, err := pgx.ConnectConfig(ctx, pgcfg)
	if err != nil {
		return where, nil, fmt.Errorf("connect: %w", err)
	}
	defer conn.Close(context.Background())
	cat, err := pgcatalog.Read(ctx, conn, pol.Schemas()...)
	if err != nil {
		return where, nil, err
	}
	tablesErr := pol.CheckCatalog(cat)
	roleProblems, warnings, err := checkRolesCatalog(ctx, conn, pol)
	if err != nil {
		return where, warnings, err
	}
	cellWarnings, cellProblems, err := cellCheckReport(ctx, conn, pol) // check_cells.go
	warnings = append(warnings, cellWarnings...)
	if err != nil {
		return where, warnings, err
	}
	var msgs []string
	if tablesErr != nil {
		msgs = append(msgs, tablesErr.Error())
	}
	if len(roleProblems) > 0 {
		msgs = append(msgs, "invalid roles:\n  "+strings.Join(roleProblems, "\n  "))
	}
	if len(cellProblems) > 0 {
		msgs = append(msgs, "cells-only CHECK:\n  "+strings.Join(cellProblems, "\n  "))
	}
	if len(msgs) == 0 {
		return where, warnings, nil
	}
	return where, warnings, errors.New(strings.Join(msgs, "\n"))
}

// backendConnConfig builds a pgx configuration for the configured backend:
// host, port, timeout and TLS from the configuration (TLS modes as the proxy
// applies them: require with root_ca checks the chain, as libpq's
// verify-ca), and the login from libpq's environment variables.
func backendConnConfig(b config.Backend) (*pgx.ConnConfig, error) {
	kv := map[string]string{
		"host":            b.Host,
		"port":            strconv.Itoa(b.Port),
		"connect_timeout": strconv.Itoa(max(1, int(b.ConnectTimeout.Std().Seconds()))),
		"sslmode":         b.TLS.Mode,
	}
	if b.TLS.Mode == config.BackendTLSRequire && b.TLS.RootCA != "" {
		kv["sslmode"] = "verify-ca"
	}
	if b.TLS.RootCA != "" {
		kv["sslrootcert"] = b.TLS.RootCA
	}
	if b.TLS.Cert != "" {
		kv["sslcert"], kv["sslkey"] = b.TLS.Cert, b.TLS.Key
	}
	var dsn []string
	for _, k := range []string{"host", "port", "connect_timeout", "sslmode", "sslrootcert", "sslcert", "sslkey"} {
		if v, ok := kv[k]; ok {
			dsn = append(dsn, k+"="+dsnQuote(v))
		}
	}
	pgcfg, err := pgx.ParseConfig(strings.Join(dsn, " "))
	if err != nil {
		return nil, err
	}
	if b.TLS.ServerName != "" && pgcfg.TLSConfig != nil {
		pgcfg.TLSConfig.ServerName = b.TLS.ServerName
	}
	return pgcfg, nil
}

func dsnQuote(v string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(v) + "'"
}

// loadConfig reads and validates a configuration; an empty path means the
// defaults. Every problem is in the returned error, one per line.
func loadConfig(path string) (config.Config, error) {
	cfg := config.Default()
	if path != "" {
		var err error
		if cfg, err = config.Load(path); err != nil {
			return cfg, err
		}
	}
	if err := cfg.Validate(); err != nil {
		var ps config.Problems
		if errors.As(err, &ps) {
			return cfg, ps
		}
		return cfg, err
	}
	return cfg, nil
}
