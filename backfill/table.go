package backfill

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/phiguard/phiguard/internal/pgcollate"
	"github.com/phiguard/phiguard/policy"
)

// table is what Run learns about a protected table from the catalog.
type table struct {
	pol   *policy.ProtectedTable
	ident string // quoted schema.table for SQL
	// pk lists the primary key's columns with their SQL types, in index
	// order; empty means the table has none and is walked by ctid.
	pk      []keyColumn
	columns []*column
	// subject is the quoted subject column when a column of the run is
	// sealed per subject (its value is read with each row), else "".
	subject string
}

type keyColumn struct {
	ident string // quoted column name
	typ   string // format_type(), for casts from text
}

// column is one protected column taking part in the run.
type column struct {
	pol    *policy.ProtectedColumn
	ident  string
	dbType string // format_type() as found; "text" after conversion
	// indexes lists indexes that use the column (by qualified name), with
	// whether each is on the column alone.
	indexes []string
	// loc is the collation the column's order and match terms are
	// computed under (resolveLocales; nil for C, POSIX or none needed).
	loc *pgcollate.Locale
}

func (t *table) name() string { return t.pol.Name.String() }

// describe reads the primary key, the types of the protected columns and
// the indexes on them. Only columns named in only (all when empty) are
// kept.
func describe(ctx context.Context, conn *pgx.Conn, pt *policy.ProtectedTable, only []string) (*table, error) {
	t := &table{pol: pt, ident: pgx.Identifier{pt.Name.Schema, pt.Name.Name}.Sanitize()}
	var oid uint32
	err := conn.QueryRow(ctx, `SELECT c.oid FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r','p')`, pt.Name.Schema, pt.Name.Name).Scan(&oid)
	if err == pgx.ErrNoRows {
		return nil, fmt.Errorf("table %s does not exist in the database", t.name())
	}
	if err != nil {
		return nil, fmt.Errorf("table %s: %w", t.name(), err)
	}
	rows, err := conn.Query(ctx, `SELECT a.attname, format_type(a.atttypid, a.atttypmod)
		FROM pg_catalog.pg_index i
		CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
		JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
		WHERE i.indrelid = $1 AND i.indisprimary ORDER BY k.ord`, oid)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var name, typ string
		if err := rows.Scan(&name, &typ); err != nil {
			return nil, err
		}
		t.pk = append(t.pk, keyColumn{ident: pgx.Identifier{name}.Sanitize(), typ: typ})
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for _, pc := range pt.Columns {
		if len(only) > 0 && !contains(only, pc.Name) {
			continue
		}
		c := &column{pol: pc, ident: pgx.Identifier{pc.Name}.Sanitize()}
		var attnum int16
		err := conn.QueryRow(ctx, `SELECT attnum, format_type(atttypid, atttypmod) FROM pg_catalog.pg_attribute
			WHERE attrelid = $1 AND attname = $2 AND attnum > 0 AND NOT attisdropped`, oid, pc.Name).Scan(&attnum, &c.dbType)
		if err == pgx.ErrNoRows {
			return nil, fmt.Errorf("column %s does not exist in the database", pc.QualifiedName())
		}
		if err != nil {
			return nil, err
		}
		irows, err := conn.Query(ctx, `SELECT format('%I.%I', n.nspname, ic.relname) FROM pg_catalog.pg_index i
			JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid JOIN pg_catalog.pg_namespace n ON n.oid = ic.relnamespace
			WHERE i.indrelid = $1 AND $2 = ANY(i.indkey::int2[]) ORDER BY 1`, oid, attnum)
		if err != nil {
			return nil, err
		}
		for irows.Next() {
			var ix string
			if err := irows.Scan(&ix); err != nil {
				return nil, err
			}
			c.indexes = append(c.indexes, ix)
		}
		if err := irows.Err(); err != nil {
			return nil, err
		}
		t.columns = append(t.columns, c)
	}
	for _, c := range t.columns {
		if c.pol.PerSubject() {
			t.subject = pgx.Identifier{pt.SubjectColumn}.Sanitize()
		}
	}
	for _, n := range only {
		if _, ok := pt.Column(n); !ok {
			return nil, fmt.Errorf("column %s is not a protected column of %s in the policy", n, t.name())
		}
	}
	return t, nil
}

// holdsCells tells whether the column's type can store cells as they are:
// text, or varchar without a length (cells are longer than values).
func (c *column) holdsCells() bool {
	return c.dbType == "text" || c.dbType == "character varying"
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// keyList returns the primary key columns joined for SQL, or "ctid".
func (t *table) keyList(prefix string) string {
	if len(t.pk) == 0 {
		return prefix + "ctid"
	}
	parts := make([]string, len(t.pk))
	for i, k := range t.pk {
		parts[i] = prefix + k.ident
	}
	return strings.Join(parts, ", ")
}
