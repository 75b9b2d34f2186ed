package cellcheck

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/phiguard/phiguard/internal/pgerr"
	"github.com/phiguard/phiguard/policy"
)

// Pattern is the whole-value syntax of a cell (keys/doc.go), as a
// regular expression PostgreSQL's ARE and Go's RE2 read alike:
//
//	~phg~ B                      format 1
//	~phs~ tv ~ E ~ O ~ X ~ M ~ B format 2
//
// with B base64url, tv a decimal without leading zero, E and O standard
// base64 with padding, X one base64url token and M tokens joined by '.',
// each possibly empty. Ranges are by code point in both engines, and the
// CHECK evaluates it under the "C" collation besides.
const Pattern = `^~ph(g|s~[1-9][0-9]*~[A-Za-z0-9+/=]*~[A-Za-z0-9+/=]*~[A-Za-z0-9_-]*~[A-Za-z0-9_.-]*)~[A-Za-z0-9_-]+$`

// Name is the name of col's cells-only CHECK.
func Name(col *policy.ProtectedColumn) string {
	return policy.ShortIdentifier("phiguard_" + col.Name + "_cells")
}

// Expr is the CHECK's expression on col. Every name in it is
// schema-qualified (the operator, the collation), so it means the same
// whatever search_path the session that adds it has, and, bound by OID,
// whatever one a writer has later.
func Expr(col *policy.ProtectedColumn) string {
	c := pgx.Identifier{col.Name}.Sanitize()
	return fmt.Sprintf(`%s IS NULL OR (%s COLLATE pg_catalog."C") OPERATOR(pg_catalog.~) '%s'`, c, c, Pattern)
}

// Column returns the column of pt whose cells-only CHECK is named
// constraint, for the guard to name it in the error a refused write gets.
func Column(pt *policy.ProtectedTable, constraint string) (*policy.ProtectedColumn, bool) {
	if pt == nil || !strings.HasPrefix(constraint, "phiguard_") {
		return nil, false
	}
	for _, c := range pt.Columns {
		if Name(c) == constraint {
			return c, true
		}
	}
	return nil, false
}

// State is what a column has under the CHECK's name.
type State int

const (
	// Absent: no constraint of that name.
	Absent State = iota
	// NotValid: phiguard's CHECK, enforced on writes but not validated
	// against the rows already there.
	NotValid
	// Valid: phiguard's CHECK, validated.
	Valid
	// Foreign: a constraint of that name whose definition is not Expr's.
	Foreign
)

func (s State) String() string {
	return [...]string{"absent", "not validated", "valid", "not phiguard's"}[s]
}

// Inspect reads col's constraint of the CHECK's name and compares its
// definition with Expr's.
func Inspect(ctx context.Context, conn *pgx.Conn, col *policy.ProtectedColumn) (State, error) {
	var validated bool
	var def, typ string
	err := conn.QueryRow(ctx, `SELECT c.convalidated, pg_catalog.pg_get_constraintdef(c.oid), pg_catalog.format_type(a.atttypid, a.atttypmod)
		FROM pg_catalog.pg_constraint c JOIN pg_catalog.pg_attribute a ON a.attrelid = c.conrelid AND a.attname = $3
		WHERE c.conrelid = $1::regclass AND c.conname = $2 AND c.contype = 'c'`,
		tableIdent(col), Name(col), col.Name).Scan(&validated, &def, &typ)
	if errors.Is(err, pgx.ErrNoRows) {
		return Absent, nil
	}
	if err != nil {
		return Absent, fmt.Errorf("column %s: %w", col.QualifiedName(), err)
	}
	want, err := expectedDef(ctx, conn, col, typ)
	if err != nil {
		return Absent, err
	}
	// NOT VALID is a state, not the definition: an interrupted install
	// leaves phiguard's own CHECK not validated.
	if strings.TrimSuffix(def, " NOT VALID") != want {
		return Foreign, nil
	}
	if validated {
		return Valid, nil
	}
	return NotValid, nil
}

// expectedDef is PostgreSQL's deparse of Expr for a column of type typ,
// read from the same CHECK on a temporary table made in a transaction
// that is rolled back: the deparse depends on the server's version and
// on the column's type (a varchar column gets a cast), and a probe on the
// user's table would lock it.
func expectedDef(ctx context.Context, conn *pgx.Conn, col *policy.ProtectedColumn, typ string) (string, error) {
	tx, err := conn.Begin(ctx)
	if err != nil {
		return "", err
	}
	defer func() { _ = tx.Rollback(ctx) }()
	const probe = "phiguard_cells_probe"
	c := pgx.Identifier{col.Name}.Sanitize()
	// typ is format_type()'s output, a type name PostgreSQL reads back.
	if _, err := tx.Exec(ctx, fmt.Sprintf("CREATE TEMPORARY TABLE %s (%s %s, CONSTRAINT %s CHECK (%s)) ON COMMIT DROP",
		probe, c, typ, probe, Expr(col))); err != nil {
		return "", fmt.Errorf("column %s: probe of the cells-only CHECK: %w", col.QualifiedName(), err)
	}
	var want string
	err = tx.QueryRow(ctx, `SELECT pg_catalog.pg_get_constraintdef(oid) FROM pg_catalog.pg_constraint
		WHERE conrelid = 'pg_temp.phiguard_cells_probe'::regclass AND conname = $1`, probe).Scan(&want)
	return want, err
}

// Install adds col's CHECK NOT VALID when it is absent and validates it
// when it is not validated; a constraint of its name that is not
// phiguard's is an error. out receives each statement run and what was
// left alone. A validation that finds a value that is not a cell leaves
// the CHECK in place, enforced on every new write, and says so.
func Install(ctx context.Context, conn *pgx.Conn, col *policy.ProtectedColumn, out io.Writer) error {
	st, err := Inspect(ctx, conn, col)
	if err != nil {
		return err
	}
	ident := pgx.Identifier{Name(col)}.Sanitize()
	switch st {
	case Foreign:
		return fmt.Errorf("column %s: table %s already has a constraint named %s that is not phiguard's cells-only CHECK; drop or rename it, then run phiguard encrypt again",
			col.QualifiedName(), tableIdent(col), Name(col))
	case Valid:
		fmt.Fprintf(out, "%s: CHECK %s exists and is validated\n", col.QualifiedName(), Name(col))
		return nil
	case Absent:
		add := fmt.Sprintf("ALTER TABLE %s ADD CONSTRAINT %s CHECK (%s) NOT VALID", tableIdent(col), ident, Expr(col))
		if _, err := conn.Exec(ctx, add); err != nil {
			return fmt.Errorf("column %s: add the cells-only CHECK: %w (the login must own the table)", col.QualifiedName(), err)
		}
	}
	if _, err := conn.Exec(ctx, fmt.Sprintf("ALTER TABLE %s VALIDATE CONSTRAINT %s", tableIdent(col), ident)); err != nil {
		var pe *pgconn.PgError
		if errors.As(err, &pe) && pgerr.Code(pe.Code) == pgerr.CheckViolation {
			// PostgreSQL's message names the constraint only; its row is
			// not echoed (no DETAIL on VALIDATE), but say it in our words.
			return fmt.Errorf("column %s: the cells-only CHECK %s is enforced on new writes but not validated: the column holds a value that is not a cell "+
				"(written around phiguard since the census); run phiguard encrypt again", col.QualifiedName(), Name(col))
		}
		return fmt.Errorf("column %s: validate the cells-only CHECK: %w", col.QualifiedName(), err)
	}
	fmt.Fprintf(out, "%s: CHECK %s added and validated: the database refuses any value but phiguard's cells in this column\n", col.QualifiedName(), Name(col))
	return nil
}

// Drop removes col's CHECK when it is phiguard's (validated or not), for
// a decrypt, whose plaintext it would refuse. A foreign constraint of its
// name is left alone and reported.
func Drop(ctx context.Context, conn *pgx.Conn, col *policy.ProtectedColumn, out io.Writer) error {
	st, err := Inspect(ctx, conn, col)
	if err != nil {
		return err
	}
	switch st {
	case Absent:
		return nil
	case Foreign:
		fmt.Fprintf(out, "%s: a constraint named %s that is not phiguard's is left in place\n", col.QualifiedName(), Name(col))
		return nil
	}
	drop := fmt.Sprintf("ALTER TABLE %s DROP CONSTRAINT %s", tableIdent(col), pgx.Identifier{Name(col)}.Sanitize())
	if _, err := conn.Exec(ctx, drop); err != nil {
		return fmt.Errorf("column %s: drop the cells-only CHECK: %w (the login must own the table)", col.QualifiedName(), err)
	}
	fmt.Fprintf(out, "%s: CHECK %s dropped: the column takes plaintext again\n", col.QualifiedName(), Name(col))
	return nil
}

// tableIdent is the quoted schema.table of col's table.
func tableIdent(col *policy.ProtectedColumn) string {
	return pgx.Identifier{col.Table.Name.Schema, col.Table.Name.Name}.Sanitize()
}
