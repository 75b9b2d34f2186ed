package search

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/phiguard/phiguard/policy"
)

// Options say what Install and Uninstall do.
type Options struct {
	Policy *policy.Policy
	// Table restricts the run to one table of the policy ("schema.table");
	// "" is every table with a search column.
	Table string
	// Column restricts Uninstall to one column of Table.
	Column string
	// Check adds and validates each column's terms-present CHECK (Install)
	// when the database holds no cell of it without terms of its
	// search_key_version. The policy's search_state: ready asks for it as
	// well (design §7.1).
	Check bool
	// DryRun prints the statements instead of running them.
	DryRun bool
	// Out receives each statement run (or, on a dry run, to run) and what
	// was left alone; nil discards it.
	Out io.Writer
}

// minServer is PostgreSQL 14: the SQL-standard function bodies (RETURN)
// the extraction functions need to be parsed at creation.
const minServer = 140000

// runner runs or prints statements.
type runner struct {
	conn *pgx.Conn
	o    Options
}

func (r *runner) exec(ctx context.Context, sql string, args ...any) error {
	fmt.Fprintf(r.o.Out, "%s;\n", sql)
	if r.o.DryRun {
		return nil
	}
	_, err := r.conn.Exec(ctx, sql, args...)
	return err
}

// Install creates schema phiguard, the extraction functions, the record
// of objects, and the term indexes (and, with Options.Check or
// search_state ready, the CHECK) of every column with `search` in the
// selected tables. It is idempotent: what exists and is valid is left
// alone; an invalid index a failed concurrent build left is dropped and
// built again.
func Install(ctx context.Context, conn *pgx.Conn, o Options) error {
	if o.Out == nil {
		o.Out = io.Discard
	}
	r := &runner{conn: conn, o: o}
	cols, err := searchColumns(o)
	if err != nil {
		return err
	}
	var ver int
	if err := conn.QueryRow(ctx, "SELECT current_setting('server_version_num')::int").Scan(&ver); err != nil {
		return err
	}
	if ver < minServer {
		return fmt.Errorf("search install: PostgreSQL %d is older than 14, whose SQL-standard function bodies the term functions need", ver)
	}
	if err := installBase(ctx, r); err != nil {
		return err
	}
	for _, col := range cols {
		if err := installColumn(ctx, r, col); err != nil {
			return err
		}
	}
	return nil
}

// installBase creates the schema, the functions that are missing, and the
// record table, and grants PUBLIC what the serving role needs.
func installBase(ctx context.Context, r *runner) error {
	if err := r.exec(ctx, "CREATE SCHEMA IF NOT EXISTS "+Schema); err != nil {
		return fmt.Errorf("search install: %w (the login needs CREATE on the database)", err)
	}
	for _, f := range Functions {
		var exists bool
		if err := r.conn.QueryRow(ctx, "SELECT pg_catalog.to_regproc($1) IS NOT NULL", f.Name).Scan(&exists); err != nil {
			return err
		}
		if exists {
			if err := sameFunction(ctx, r.conn, f); err != nil {
				return err
			}
			fmt.Fprintf(r.o.Out, "-- %s exists\n", f.Name)
			continue
		}
		if err := r.exec(ctx, f.SQL); err != nil {
			return fmt.Errorf("search install: %s: %w", f.Name, err)
		}
	}
	stmts := []string{objectsSQL, "GRANT USAGE ON SCHEMA " + Schema + " TO PUBLIC", "GRANT SELECT ON " + ObjectsTable + " TO PUBLIC"}
	for _, f := range Functions {
		stmts = append(stmts, "GRANT EXECUTE ON FUNCTION "+f.Name+"(text) TO PUBLIC")
	}
	for _, s := range stmts {
		if err := r.exec(ctx, s); err != nil {
			return fmt.Errorf("search install: %w", err)
		}
	}
	return nil
}

// installColumn builds col's indexes and, when asked and the cells allow
// it, its CHECK.
func installColumn(ctx context.Context, r *runner, col *policy.ProtectedColumn) error {
	coll, typ, err := describeColumn(ctx, r.conn, col)
	if err != nil {
		return fmt.Errorf("search install: %w", err)
	}
	if typ != "text" && typ != "character varying" {
		return fmt.Errorf("search install: column %s is %s in the database, not text: run phiguard encrypt first (it converts the column and writes the terms)",
			col.QualifiedName(), typ)
	}
	if _, err := coll.Locale(col); err != nil {
		return fmt.Errorf("search install: %w", err)
	}
	record := func(kind, name string) error {
		// The collation the kind's terms depend on (the proxy compares it
		// with the catalog's before it uses them): LC_COLLATE for the
		// order and prefix terms, LC_CTYPE for the match term, none for
		// the equality term.
		collName, collVersion := any(nil), any(nil)
		switch {
		case !NeedsLocale(col) || kind == "e":
		case kind == "m":
			collName, collVersion = coll.Ctype, coll.Version
		case kind == "check":
			collName, collVersion = coll.TermLocale(col), coll.Version
		default:
			collName, collVersion = coll.Collate, coll.Version
		}
		return r.exec(ctx, `INSERT INTO `+ObjectsTable+` (table_name, column_name, kind, object_name, search_key_version, collation_name, collation_version)
VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (table_name, column_name, kind) DO UPDATE SET object_name = EXCLUDED.object_name,
search_key_version = EXCLUDED.search_key_version, collation_name = EXCLUDED.collation_name, collation_version = EXCLUDED.collation_version, built_at = pg_catalog.now()`,
			col.Table.Name.String(), col.Name, kind, name, int64(col.SearchKeyVersion), collName, collVersion)
	}
	for _, ix := range Indexes(col) {
		valid, exists, err := indexState(ctx, r.conn, col, ix.Name)
		if err != nil {
			return err
		}
		if exists && !valid {
			if err := r.exec(ctx, "DROP INDEX CONCURRENTLY IF EXISTS "+pgx.Identifier{col.Table.Name.Schema, ix.Name}.Sanitize()); err != nil {
				return fmt.Errorf("search install: drop invalid index %s: %w", ix.Name, err)
			}
		}
		if !exists || !valid {
			sql := fmt.Sprintf("CREATE INDEX CONCURRENTLY %s ON %s USING %s (%s)", pgx.Identifier{ix.Name}.Sanitize(), tableIdent(col), ix.Method, ix.Expr)
			if err := r.exec(ctx, sql); err != nil {
				return fmt.Errorf("search install: column %s: %w (the login must own the table and have CREATE on its schema)", col.QualifiedName(), err)
			}
		} else {
			fmt.Fprintf(r.o.Out, "-- index %s exists and is valid\n", ix.Name)
		}
		if err := record(ix.Kind, ix.Name); err != nil {
			return err
		}
	}
	if !r.o.Check && col.SearchState != policy.SearchReady {
		return nil
	}
	if err := installCheck(ctx, r, col); err != nil {
		return err
	}
	return record("check", CheckName(col))
}

// installCheck adds col's terms-present CHECK NOT VALID (a short lock)
// and validates it (SHARE UPDATE EXCLUSIVE: reads and writes go on),
// only when no cell of the column lacks terms of its search_key_version,
// which the census counts in the database.
func installCheck(ctx context.Context, r *runner, col *policy.ProtectedColumn) error {
	cs, err := CountTerms(ctx, r.conn, col)
	if err != nil {
		return err
	}
	if cs.Without > 0 || cs.OldVersion > 0 {
		return fmt.Errorf("search install: column %s: %d values carry no terms and %d carry terms of another version than search_key_version %d; "+
			"run phiguard encrypt (which writes them) before the CHECK", col.QualifiedName(), cs.Without, cs.OldVersion, col.SearchKeyVersion)
	}
	name := CheckName(col)
	var validated, exists bool
	var def string
	err = r.conn.QueryRow(ctx, `SELECT convalidated, pg_catalog.pg_get_constraintdef(oid) FROM pg_catalog.pg_constraint
		WHERE conrelid = $1::regclass AND conname = $2`, tableIdent(col), name).Scan(&validated, &def)
	switch {
	case err == nil:
		exists = true
	case !errors.Is(err, pgx.ErrNoRows):
		return err
	}
	ident := pgx.Identifier{name}.Sanitize()
	if exists {
		if err := sameCheck(ctx, r.conn, col, def); err != nil {
			return err
		}
	}
	if !exists {
		if err := r.exec(ctx, fmt.Sprintf("ALTER TABLE %s ADD CONSTRAINT %s CHECK (%s) NOT VALID", tableIdent(col), ident, CheckExpr(col))); err != nil {
			return fmt.Errorf("search install: column %s: %w", col.QualifiedName(), err)
		}
	}
	if exists && validated {
		fmt.Fprintf(r.o.Out, "-- CHECK %s exists and is validated\n", name)
		return nil
	}
	if err := r.exec(ctx, fmt.Sprintf("ALTER TABLE %s VALIDATE CONSTRAINT %s", tableIdent(col), ident)); err != nil {
		return fmt.Errorf("search install: column %s: %w", col.QualifiedName(), err)
	}
	return nil
}

func indexState(ctx context.Context, conn *pgx.Conn, col *policy.ProtectedColumn, name string) (valid, exists bool, err error) {
	err = conn.QueryRow(ctx, `SELECT i.indisvalid FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid
		JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = $2`,
		col.Table.Name.Schema, name).Scan(&valid)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, false, nil
	}
	return valid, err == nil, err
}

// searchColumns are the policy's columns with `search` in the selected
// table (every table when none is named).
func searchColumns(o Options) ([]*policy.ProtectedColumn, error) {
	tables := o.Policy.Tables()
	if o.Table != "" {
		name, err := policy.ParseTableName(o.Table)
		if err != nil {
			return nil, fmt.Errorf("search: table %q: %w", o.Table, err)
		}
		pt, ok := o.Policy.Table(name.Schema, name.Name)
		if !ok {
			return nil, fmt.Errorf("search: table %s is not in the policy", name)
		}
		tables = []*policy.ProtectedTable{pt}
	} else if o.Column != "" {
		return nil, errors.New("search: a column is given without a table")
	}
	var out []*policy.ProtectedColumn
	for _, pt := range tables {
		for _, c := range pt.Columns {
			if o.Column != "" && c.Name != o.Column {
				continue
			}
			if c.Search != 0 {
				out = append(out, c)
			}
		}
	}
	if o.Column != "" && len(out) == 0 {
		return nil, fmt.Errorf("search: %s.%s is not a column with search in the policy", o.Table, o.Column)
	}
	return out, nil
}

// sameCheck refuses a constraint named as col's terms-present CHECK whose
// definition is not CheckExpr's: found by name only, a CHECK (true) left
// there would be taken for phiguard's, and cells without terms written
// around phiguard would go in under search_state ready. The expected
// definition is PostgreSQL's own deparse of CheckExpr, read from a
// constraint added NOT VALID in a transaction rolled back (a short lock,
// as installCheck's). The existing definition is not printed: it is the
// table owner's text.
func sameCheck(ctx context.Context, conn *pgx.Conn, col *policy.ProtectedColumn, def string) error {
	tx, err := conn.Begin(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback(ctx) }()
	const probe = "phiguard_terms_check_probe"
	if _, err := tx.Exec(ctx, fmt.Sprintf("ALTER TABLE %s ADD CONSTRAINT %s CHECK (%s) NOT VALID", tableIdent(col), probe, CheckExpr(col))); err != nil {
		return fmt.Errorf("search install: column %s: %w", col.QualifiedName(), err)
	}
	var want string
	if err := tx.QueryRow(ctx, `SELECT pg_catalog.pg_get_constraintdef(oid) FROM pg_catalog.pg_constraint WHERE conrelid = $1::regclass AND conname = $2`,
		tableIdent(col), probe).Scan(&want); err != nil {
		return err
	}
	// NOT VALID is a state, not the definition: the existing CHECK may be
	// phiguard's own from an interrupted install, validated below.
	if strings.TrimSuffix(def, " NOT VALID") != strings.TrimSuffix(want, " NOT VALID") {
		return fmt.Errorf("search install: column %s: table %s already has a constraint named %s that is not phiguard's terms-present CHECK; "+
			"drop or rename it, then run install again", col.QualifiedName(), tableIdent(col), CheckName(col))
	}
	return nil
}

// sameFunction refuses an existing extraction function whose definition
// is not f.SQL's: found by name only, a phiguard.term_eq_v1 made before
// (RETURN NULL, another field of the cell, a side effect) would be left in
// place, indexed and called by every query through terms, and the
// database would drop rows phiguard's re-check never sees. The expected
// definition is PostgreSQL's deparse of f.SQL created in pg_temp inside a
// transaction rolled back; the two are compared past their first line
// (which names the schema).
func sameFunction(ctx context.Context, conn *pgx.Conn, f Function) error {
	tx, err := conn.Begin(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback(ctx) }()
	probe := "pg_temp." + strings.TrimPrefix(f.Name, Schema+".")
	if _, err := tx.Exec(ctx, strings.Replace(f.SQL, f.Name+"(", probe+"(", 1)); err != nil {
		return fmt.Errorf("search install: %s: %w", f.Name, err)
	}
	const def = "SELECT pg_catalog.pg_get_functiondef(CAST($1 AS pg_catalog.regprocedure))"
	var got, want string
	if err := tx.QueryRow(ctx, def, f.Name+"(text)").Scan(&got); err != nil {
		return fmt.Errorf("search install: %s: %w", f.Name, err)
	}
	if err := tx.QueryRow(ctx, def, probe+"(text)").Scan(&want); err != nil {
		return err
	}
	_, got, _ = strings.Cut(got, "\n")
	_, want, _ = strings.Cut(want, "\n")
	if got != want {
		return fmt.Errorf("search install: function %s(text) exists with another definition than phiguard's; drop it (and the indexes on it), then run install again", f.Name)
	}
	return nil
}
