package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/phiguard/phiguard/guard"
	"github.com/phiguard/phiguard/policy"
	"github.com/phiguard/phiguard/sqlrewrite"
)

const explainUsage = `usage: phiguard explain --config FILE [--policy FILE] --role ROLE [--break-glass] "SQL"

Shows what phiguard makes of one SQL text for a role, without running it:
the decision (allowed, or refused with its SQLSTATE and the rule), the text
phiguard would send instead (row rules injected), every rule that applied,
where each part touching an encrypted column runs (a value phiguard seals
and writes, or compares in the database on deterministic cells; an ORDER BY
key sorted in the database or in phiguard after decryption, with LIMIT and
OFFSET), and, for an allowed SELECT, which output columns the role sees
masked, as pseudonyms or as NULL.

It connects to the backend the configuration names to read the database
objects the rewriter relies on (relations, columns, safe functions) and to
describe the rewritten statement. The login comes from the usual libpq
variables, PGUSER, PGPASSWORD (or ~/.pgpass) and PGDATABASE.

--break-glass explains the text as if the session had lifted its row rules.

Exit status: 0 when the explanation was printed (allowed or refused), 1 when
it could not be made, 2 on a usage error.
`

func runExplain(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("explain", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, explainUsage); fs.PrintDefaults() }
	path := fs.String("config", "", "configuration file (backend and policy_file)")
	policyPath := fs.String("policy", "", "policy file (default: the configuration's policy_file)")
	roleName := fs.String("role", "", "the role to explain the statement for (required)")
	glass := fs.Bool("break-glass", false, "explain as after SET phiguard.break_glass")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if *roleName == "" || fs.NArg() != 1 {
		fmt.Fprint(stderr, explainUsage)
		return 2
	}
	sql := fs.Arg(0)
	cfg, err := loadConfig(*path)
	if err != nil {
		fmt.Fprintf(stderr, "phiguard explain: %v\n", err)
		return 1
	}
	if *policyPath == "" {
		*policyPath = cfg.PolicyFile
	}
	if *policyPath == "" {
		fmt.Fprintln(stderr, "phiguard explain: no policy file (policy_file in the configuration, or --policy)")
		return 2
	}
	pol, err := sqlrewrite.LoadPolicy(*policyPath)
	if err == nil {
		err = pol.Validate()
	}
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", *policyPath, err)
		return 1
	}
	role, ok := pol.Role(*roleName)
	if !ok {
		var names []string
		for _, r := range pol.Roles() {
			names = append(names, r.Name)
		}
		fmt.Fprintf(stderr, "phiguard explain: the policy has no role %q (roles: %s)\n", *roleName, strings.Join(names, ", "))
		return 1
	}
	pgcfg, err := backendConnConfig(cfg.Backend)
	if err != nil {
		fmt.Fprintf(stderr, "phiguard explain: %v\n", err)
		return 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), cfg.Backend.ConnectTimeout.Std()+30*time.Second)
	defer cancel()
	conn, err := pgx.ConnectConfig(ctx, pgcfg)
	if err != nil {
		fmt.Fprintf(stderr, "phiguard explain: connect: %v\n", err)
		return 1
	}
	defer conn.Close(context.Background())
	objs, err := readObjects(ctx, conn)
	if err != nil {
		fmt.Fprintf(stderr, "phiguard explain: reading the database objects: %v\n", err)
		return 1
	}
	explain(ctx, stdout, conn, pol, role, objs, sql, *glass)
	return 0
}

// readObjects reads what the access rewriter needs of the database, the
// same way the proxy does for a session.
func readObjects(ctx context.Context, conn *pgx.Conn) (*guard.Objects, error) {
	res, err := conn.PgConn().Exec(ctx, guard.ObjectsQuery()).ReadAll()
	if err != nil {
		return nil, err
	}
	b := guard.NewObjectsBuilder()
	for _, r := range res {
		if r.Err != nil {
			return nil, r.Err
		}
		for _, row := range r.Rows {
			if err := b.AddRow(row); err != nil {
				return nil, err
			}
		}
	}
	return b.Objects(), nil
}

func explain(ctx context.Context, w io.Writer, conn *pgx.Conn, pol *policy.Policy, role *policy.Role, objs *guard.Objects, sql string, glass bool) {
	a, _ := sqlrewrite.NewAnalyzer(8, 1<<24).Analyze([]byte(sql))
	acc := sqlrewrite.AccessFor(sql, a, pol, role, objs, glass)
	kind := "with rules"
	if role.Unrestricted() {
		kind = "unrestricted: statements pass as written"
	}
	fmt.Fprintf(w, "role:      %s (%s)\n", role.Name, kind)
	if glass {
		fmt.Fprintln(w, "session:   break-glass on (row rules lifted)")
	}
	if r := acc.Refusal; r != nil {
		fmt.Fprintf(w, "decision:  refused, SQLSTATE %s\n", r.Code)
		if r.Rule != "" {
			fmt.Fprintf(w, "rule:      %s\n", r.Rule)
		}
		fmt.Fprintf(w, "message:   %s\n", r.Error())
	} else {
		fmt.Fprintln(w, "decision:  allowed")
	}
	if acc.BreakGlass != nil {
		fmt.Fprintln(w, "break-glass: a permitted request; it lifts the role's row rules for the rest of the session")
	}
	if acc.Refusal == nil {
		if acc.Changed {
			fmt.Fprintf(w, "sql:       %s\n", acc.SQL)
		} else {
			fmt.Fprintln(w, "sql:       unchanged")
		}
	}
	if len(acc.Decisions) > 0 {
		fmt.Fprintln(w, "rules:")
		for _, d := range acc.Decisions {
			what := d.Table
			if d.Column != "" {
				what += "." + d.Column
			}
			fmt.Fprintf(w, "  %-40s %-14s %s\n", what, d.Effect, d.Rule)
		}
	}
	if acc.Refusal != nil {
		return
	}
	planned := a // the text the proxy plans: the client's, or the rewrite's
	if acc.Changed {
		planned, _ = sqlrewrite.NewAnalyzer(8, 1<<24).Analyze([]byte(acc.SQL))
	}
	explainEncryption(w, pol, planned)
	if role.Unrestricted() {
		return
	}
	explainColumns(ctx, w, conn, pol, role, objs, acc.SQL)
}

// explainColumns describes the statement (without running it) and lists
// the output columns a column rule changes.
func explainColumns(ctx context.Context, w io.Writer, conn *pgx.Conn, pol *policy.Policy, role *policy.Role, objs *guard.Objects, sql string) {
	sd, err := conn.Prepare(ctx, "", sql)
	if err != nil {
		fmt.Fprintf(w, "columns:   not described (%v)\n", err)
		return
	}
	var lines []string
	for _, f := range sd.Fields {
		schema, table, column, ok := objs.Column(f.TableOID, int16(f.TableAttributeNumber))
		if !ok {
			continue
		}
		r := pol.EffectiveColumnRule(role, schema, table, column)
		if r == nil || r.Action == policy.ActionPlaintext {
			continue
		}
		how := string(r.Action)
		switch r.Action {
		case policy.ActionMasked:
			how += " " + r.Mask
		case policy.ActionPseudonym:
			how += " (key " + r.Key + ")"
		}
		lines = append(lines, fmt.Sprintf("  %-20s %s.%s.%s: %s   [%s]", f.Name, schema, table, column, how, r.Name))
	}
	if len(lines) == 0 {
		fmt.Fprintln(w, "columns:   every output column in plaintext")
		return
	}
	fmt.Fprintln(w, "columns:")
	for _, l := range lines {
		fmt.Fprintln(w, l)
	}
}
