package main

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/phiguard/phiguard/policy"
)

// checkRolesCatalog checks the roles of a policy against the live
// database: every table and column a column or row rule names must exist,
// and every row rule must run (`EXPLAIN SELECT 1 FROM t WHERE (expr)`, so
// a misspelt column or a missing care-team table shows now, not as a
// refusal of every statement later). Bound users missing from pg_roles are
// warnings only: the user may be created after the policy. So is linkage
// (check_linkage.go): an identifier a role sees restricted in one column
// and in clear in another it can join to it.
func checkRolesCatalog(ctx context.Context, conn *pgx.Conn, pol *policy.Policy) (problems, warnings []string, err error) {
	if !pol.HasRoles() {
		return nil, nil, nil
	}
	objs, err := readObjects(ctx, conn)
	if err != nil {
		return nil, nil, fmt.Errorf("reading the database objects: %w", err)
	}
	for _, r := range pol.Roles() {
		if r.Builtin {
			continue
		}
		for _, c := range r.ColumnRules() {
			path := fmt.Sprintf("roles.%s.columns[%s.%s]", r.Name, c.Table, c.Column)
			cols, ok := objs.Columns(c.Table.Schema, c.Table.Name)
			switch {
			case !ok:
				problems = append(problems, fmt.Sprintf("%s: table %s does not exist in the database", path, c.Table))
			case !slices.Contains(cols, c.Column):
				problems = append(problems, fmt.Sprintf("%s: column %s does not exist in table %s", path, c.Column, c.Table))
			}
		}
		for _, rr := range r.RowRules() {
			path := fmt.Sprintf("roles.%s.rows[%s]", r.Name, rr.Table)
			if _, ok := objs.Columns(rr.Table.Schema, rr.Table.Name); !ok {
				problems = append(problems, fmt.Sprintf("%s: table %s does not exist in the database", path, rr.Table))
				continue
			}
			q := fmt.Sprintf("EXPLAIN SELECT 1 FROM %s WHERE (%s\n)", rr.Table, rr.Using)
			if _, err := conn.Exec(ctx, q, pgx.QueryExecModeSimpleProtocol); err != nil {
				problems = append(problems, fmt.Sprintf("%s: the row rule does not run: %v", path, err))
			}
		}
		for _, u := range r.Users {
			var n int
			if err := conn.QueryRow(ctx, "SELECT count(*) FROM pg_catalog.pg_roles WHERE rolname = $1", u).Scan(&n); err != nil {
				return nil, nil, err
			}
			if n == 0 {
				warnings = append(warnings, fmt.Sprintf("roles.%s.users: user %q does not exist in the database (yet)", r.Name, u))
			}
		}
	}
	families, err := readIdentifierFamilies(ctx, conn, pol)
	if err != nil {
		return nil, nil, fmt.Errorf("reading foreign keys and column types: %w", err)
	}
	return problems, append(warnings, linkageWarnings(pol, families)...), nil
}

// escalationWarnings names, for each role, every table its policy lets it
// write although its own row rules read it (writes_rule_tables): by
// writing it the role changes which rows those rules let it see.
func escalationWarnings(pol *policy.Policy) []string {
	var out []string
	for _, r := range pol.Roles() {
		for _, t := range r.WritesRuleTables {
			var names []string
			for _, rr := range r.RulesThatRead(t) {
				names = append(names, fmt.Sprintf("%q", rr.Name))
			}
			out = append(out, fmt.Sprintf("roles.%s.writes_rule_tables: role %s may write %s, which its row rules %s read: an escalation path, the role can change which rows those rules let it see",
				r.Name, r.Name, t, strings.Join(names, ", ")))
		}
	}
	return out
}
