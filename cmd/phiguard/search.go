package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/jackc/pgx/v5"
	"github.com/phiguard/phiguard/policy"
	"github.com/phiguard/phiguard/search"
	"github.com/phiguard/phiguard/sqlrewrite"
)

const searchUsage = `usage: phiguard search install   --config FILE [--policy FILE] [--table T] [--check] [--dry-run]
       phiguard search uninstall --config FILE [--policy FILE] [--table T [--column C]] [--dry-run]

install creates, as the owner of the protected tables (no superuser: it
works on managed PostgreSQL), what database-side search terms need:
schema phiguard with four immutable SQL functions that read a term out of
a cell, the table phiguard.search_objects recording what was built, and
for each column with search: in the policy its term indexes, built
CONCURRENTLY beside the table (writes go on). It creates no operator
class and no extension. Run again, it leaves what exists alone and
rebuilds an index a failed build left invalid.

  --check    also add and validate each column's CHECK that refuses a
             value without terms (a format-1 cell, or plaintext written
             around phiguard); refused while the census has such values
             (phiguard encrypt writes their terms). Once it is there,
             writes that carry no terms fail: use it when every writer
             (phiguard serve, phiguard encrypt) writes terms.
  --dry-run  print the SQL instead of running it

uninstall drops the indexes and CHECK of the named table (or column); with
no --table it drops every column's, then the functions, the record and
the schema, leaving nothing of phiguard's. Terms stay in the cells until
phiguard encrypt --rebuild-terms with search: removed strips them.
See docs/design/search-terms.md §2.4 and §7.1.
`

func runSearch(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || (args[0] != "install" && args[0] != "uninstall") {
		fmt.Fprint(stderr, searchUsage)
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
			return 0
		}
		return 2
	}
	sub := args[0]
	fs := flag.NewFlagSet("search "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, searchUsage); fs.PrintDefaults() }
	path := fs.String("config", "", "configuration file (backend:, policy_file)")
	policyPath := fs.String("policy", "", "policy file (default: the configuration's policy_file)")
	table := fs.String("table", "", "only this table of the policy (schema.table)")
	dry := fs.Bool("dry-run", false, "print the SQL; change nothing")
	var check *bool
	var column *string
	if sub == "install" {
		check = fs.Bool("check", false, "also add and validate the terms-present CHECK of each column")
	} else {
		column = fs.String("column", "", "only this column of --table")
	}
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 || *path == "" {
		fmt.Fprintf(stderr, "phiguard search %s: --config is required and takes no arguments\n", sub)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	pol, conn, code := openSearchEnv(ctx, sub, *path, *policyPath, stderr)
	if conn == nil {
		return code
	}
	defer conn.Close(context.Background())
	o := search.Options{Policy: pol, Table: *table, DryRun: *dry, Out: stdout}
	var err error
	if sub == "install" {
		o.Check = *check
		err = search.Install(ctx, conn, o)
	} else {
		o.Column = *column
		err = search.Uninstall(ctx, conn, o)
	}
	if err != nil {
		fmt.Fprintf(stderr, "phiguard search %s: %v\n", sub, err)
		return 1
	}
	return 0
}

// openSearchEnv reads the configuration and policy and connects to the
// backend; search needs no key.
func openSearchEnv(ctx context.Context, sub, path, policyPath string, stderr io.Writer) (*policy.Policy, *pgx.Conn, int) {
	cfg, err := loadConfig(path)
	if err != nil {
		fmt.Fprintf(stderr, "phiguard search %s: %s: %v\n", sub, path, err)
		return nil, nil, 1
	}
	if policyPath == "" {
		policyPath = cfg.PolicyFile
	}
	if policyPath == "" {
		fmt.Fprintf(stderr, "phiguard search %s: no policy: set policy_file in %s or give --policy\n", sub, path)
		return nil, nil, 2
	}
	pol, err := sqlrewrite.LoadPolicy(policyPath)
	if err == nil {
		err = pol.Validate()
	}
	if err != nil {
		fmt.Fprintf(stderr, "phiguard search %s: %s: %v\n", sub, policyPath, err)
		return nil, nil, 1
	}
	pgcfg, err := backendConnConfig(cfg.Backend)
	if err != nil {
		fmt.Fprintf(stderr, "phiguard search %s: %v\n", sub, err)
		return nil, nil, 1
	}
	conn, err := pgx.ConnectConfig(ctx, pgcfg)
	if err != nil {
		fmt.Fprintf(stderr, "phiguard search %s: connect to the backend: %v\n", sub, err)
		return nil, nil, 1
	}
	return pol, conn, 0
}
