package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/phiguard/phiguard/cellcheck"
	"github.com/phiguard/phiguard/policy"
)

// cellCheckReport is check --catalog's look at the cells-only CHECK of
// every protected column that exists in the database (package
// cellcheck): one warning naming the columns without it or with it not
// validated (the database would store plaintext written around phiguard,
// or sent to the column by DDL phiguard's analysis did not see), and a
// problem for each column whose constraint of that name is not phiguard's
// (a CHECK (true) there would pass for the backstop).
func cellCheckReport(ctx context.Context, conn *pgx.Conn, pol *policy.Policy) (warnings, problems []string, err error) {
	var absent, notValid []string
	for _, t := range pol.Tables() {
		for _, c := range t.Columns {
			var exists bool
			if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute
				WHERE attrelid = pg_catalog.to_regclass($1) AND attname = $2 AND attnum > 0 AND NOT attisdropped)`,
				pgx.Identifier{t.Name.Schema, t.Name.Name}.Sanitize(), c.Name).Scan(&exists); err != nil {
				return nil, nil, err
			}
			if !exists {
				continue // CheckCatalog names it
			}
			st, err := cellcheck.Inspect(ctx, conn, c)
			if err != nil {
				return nil, nil, err
			}
			switch st {
			case cellcheck.Absent:
				absent = append(absent, c.QualifiedName())
			case cellcheck.NotValid:
				notValid = append(notValid, c.QualifiedName())
			case cellcheck.Foreign:
				problems = append(problems, fmt.Sprintf("%s: the constraint %s is not phiguard's cells-only CHECK (its definition differs); drop or rename it, then run phiguard encrypt --table %s",
					c.QualifiedName(), cellcheck.Name(c), t.Name))
			}
		}
	}
	if len(absent) > 0 {
		warnings = append(warnings, fmt.Sprintf("no cells-only CHECK on %s: the database would store plaintext written around phiguard in these columns; "+
			"phiguard encrypt adds it to each column it leaves without plaintext (docs/backfill.md)", strings.Join(absent, ", ")))
	}
	if len(notValid) > 0 {
		warnings = append(warnings, fmt.Sprintf("cells-only CHECK not validated on %s: enforced on new writes, but older rows may hold plaintext; run phiguard encrypt",
			strings.Join(notValid, ", ")))
	}
	return warnings, problems, nil
}
