package ehrdemo

import (
	"bufio"
	"bytes"
	"context"
	"embed"
	"encoding/csv"
	"fmt"
	"regexp"
	"strings"

	"github.com/jackc/pgx/v5"
)

//go:embed schema.sql
var schemaSQL string

//go:embed data/*.csv
var dataFS embed.FS

// tables is the load order: every table comes after the tables its foreign
// keys point at. The unit tests check this against schema.sql.
var tables = []string{
	"patients",
	"organizations",
	"providers",
	"payers",
	"encounters",
	"allergies",
	"careplans",
	"conditions",
	"immunizations",
	"medications",
}

// Counts maps a table name to the number of rows loaded into it.
type Counts map[string]int64

// Tables returns the demo tables in load order (referenced tables first).
// The caller may modify the returned slice.
func Tables() []string {
	return append([]string(nil), tables...)
}

// Schema returns the DDL that Load runs: the tables in schema public, their
// foreign keys and indexes. It is for callers that want the empty schema,
// for instance to load their own generated rows in the same shape.
func Schema() string {
	return schemaSQL
}

// CSV returns the embedded Synthea CSV file of a demo table, header row
// included, for tests that feed the same rows through another path (COPY
// through the proxy, INSERTs). It returns an error for an unknown table.
func CSV(table string) ([]byte, error) {
	for _, t := range tables {
		if t == table {
			return dataFS.ReadFile("data/" + table + ".csv")
		}
	}
	return nil, fmt.Errorf("ehrdemo: no table %q", table)
}

// columnName accepts the lower-cased Synthea headers; anything else means the
// embedded data and the schema have drifted apart.
var columnName = regexp.MustCompile(`^[a-z_][a-z0-9_]*$`)

// Columns returns the table columns that the CSV file of table fills, in
// file order: its header row, lower-cased. A table whose CSV has no Id
// column also has a generated "id" column, which is not included.
func Columns(table string) ([]string, error) {
	data, err := CSV(table)
	if err != nil {
		return nil, err
	}
	return headerColumns(data)
}

func headerColumns(data []byte) ([]string, error) {
	line, _, err := bufio.NewReader(bytes.NewReader(data)).ReadLine()
	if err != nil {
		return nil, fmt.Errorf("read header: %w", err)
	}
	// Synthea headers are bare words: no quoting, so a plain split is exact.
	fields := strings.Split(string(line), ",")
	cols := make([]string, len(fields))
	for i, f := range fields {
		c := strings.ToLower(strings.TrimSpace(f))
		if !columnName.MatchString(c) {
			return nil, fmt.Errorf("header field %d %q is not a plain column name", i+1, f)
		}
		cols[i] = c
	}
	return cols, nil
}

// Load creates the demo schema in the connected database and fills every
// table from the embedded CSV files, all in one transaction: either the
// whole demo database exists afterwards or nothing was changed. The tables
// must not exist yet; Load never drops anything, so pointing it at a real
// database by mistake fails instead of destroying data.
//
// Rows go in with COPY ... FROM STDIN (FORMAT csv, HEADER), which streams
// each file as it is and turns every unquoted empty field into NULL, the
// meaning of an empty field in Synthea's export. The column list of each
// COPY comes from the file's header, so a drift between data and schema is
// an error rather than shifted columns.
func Load(ctx context.Context, conn *pgx.Conn) (counts Counts, err error) {
	tx, err := conn.Begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("ehrdemo: begin: %w", err)
	}
	defer func() {
		if err != nil {
			// The load error is the one worth reporting; a failed rollback
			// leaves the connection broken, which the caller will see.
			_ = tx.Rollback(ctx)
		}
	}()

	if counts, err = fill(ctx, schemaSQL, conn, func(string) *pgx.Conn { return conn }); err != nil {
		return nil, err
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, fmt.Errorf("ehrdemo: commit: %w", err)
	}
	return counts, nil
}

// CopyTable copies the embedded CSV file of one demo table into its
// (existing) table over conn, and returns the number of rows copied. conn
// may be a connection through phiguard, which then encrypts the protected
// columns in the stream.
func CopyTable(ctx context.Context, conn *pgx.Conn, table string) (int64, error) {
	data, err := CSV(table)
	if err != nil {
		return 0, err
	}
	cols, err := headerColumns(data)
	if err != nil {
		return 0, err
	}
	quoted := make([]string, len(cols))
	for i, c := range cols {
		quoted[i] = pgx.Identifier{c}.Sanitize()
	}
	sql := fmt.Sprintf("COPY %s (%s) FROM STDIN WITH (FORMAT csv, HEADER true)",
		pgx.Identifier{"public", table}.Sanitize(), strings.Join(quoted, ", "))
	tag, err := conn.PgConn().CopyFrom(ctx, bytes.NewReader(data), sql)
	if err != nil {
		return 0, err
	}
	return tag.RowsAffected(), nil
}

// fill runs schema over direct, copies every table in load order over the
// connection connFor names, then analyzes over direct.
func fill(ctx context.Context, schema string, direct *pgx.Conn, connFor func(table string) *pgx.Conn) (Counts, error) {
	// Simple protocol: the schema is several statements in one string.
	if _, err := direct.PgConn().Exec(ctx, schema).ReadAll(); err != nil {
		return nil, fmt.Errorf("ehrdemo: create schema: %w", err)
	}
	counts := make(Counts, len(tables))
	for _, table := range tables {
		n, err := CopyTable(ctx, connFor(table), table)
		if err != nil {
			return nil, fmt.Errorf("ehrdemo: load %s: %w", table, err)
		}
		counts[table] = n
	}
	// Fresh statistics, so the demo's first queries get the plans they will
	// get later, before autovacuum has had a look at the new tables.
	if _, err := direct.PgConn().Exec(ctx, "ANALYZE "+qualifiedTables()).ReadAll(); err != nil {
		return nil, fmt.Errorf("ehrdemo: analyze: %w", err)
	}
	return counts, nil
}

func qualifiedTables() string {
	names := make([]string, len(tables))
	for i, t := range tables {
		names[i] = pgx.Identifier{"public", t}.Sanitize()
	}
	return strings.Join(names, ", ")
}

// Records returns the rows of a demo table's embedded CSV file, each as a
// map from column (as Columns names it) to the field's text ("" for an
// empty field, which Load turns into NULL).
func Records(table string) ([]map[string]string, error) {
	data, err := CSV(table)
	if err != nil {
		return nil, err
	}
	cols, err := headerColumns(data)
	if err != nil {
		return nil, err
	}
	records, err := csv.NewReader(bytes.NewReader(data)).ReadAll()
	if err != nil {
		return nil, fmt.Errorf("ehrdemo: %s.csv: %w", table, err)
	}
	out := make([]map[string]string, 0, len(records)-1)
	for _, r := range records[1:] {
		m := make(map[string]string, len(cols))
		for i, c := range cols {
			m[c] = r[i]
		}
		out = append(out, m)
	}
	return out, nil
}
