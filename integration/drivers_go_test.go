package integration

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/lib/pq"
)

// The driver matrix's workload for the Go drivers, run in the test's
// process: pgx in each of its five QueryExecModes, and lib/pq through
// database/sql with text and binary parameters. The steps and rows are
// those of drivers/workload.py.

// decimal is a numeric parameter written as text: lib/pq sends it so,
// and pgx binds it as the pgtype.Numeric it reads numeric into.
type decimal string

// goRows are the workload's rows in Go's natural types.
func goRows() [][]any {
	day := func(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }
	return [][]any{
		{"123-45-6789", "Alice Smith", day(1980, 2, 29), decimal("1234.56"), int32(3), "first"},
		{"987-65-4321", `O'Brien "Zoë" 日本 \ back`, day(1955, 11, 5), decimal("-0.05"), int32(-5), "quotes"},
		{"555-00-1111", nil, nil, nil, nil, nil},
		{nil, "Nobody", day(2000, 1, 1), decimal("0.00"), int32(0), "no ssn"},
		{"123-45-6789", "Alice Twin", day(1999, 12, 31), decimal("9999999999.99"), int32(2147483647), "dup ssn"},
	}
}

// goStep is one statement of the workload (with $n parameters) and its
// arguments.
type goStep struct {
	name, sql string
	args      []any
}

// goSteps are the workload's statements over table t.
func goSteps(t string) []goStep {
	const cols = "id, ssn, name, birthdate, balance, visits, note"
	insert := "INSERT INTO " + t + " (ssn, name, birthdate, balance, visits, note) VALUES ($1, $2, $3, $4, $5, $6)"
	rows := goRows()
	steps := []goStep{{"insert-returning", insert + " RETURNING id", rows[0]}}
	for _, r := range rows[1:] {
		steps = append(steps, goStep{"insert", insert, r})
	}
	steps = append(steps, goStep{"select-id", "SELECT " + cols + " FROM " + t + " WHERE id = $1", []any{int32(2)}})
	for i := 0; i < 6; i++ {
		steps = append(steps, goStep{fmt.Sprintf("select-ssn-%d", i), "SELECT " + cols + " FROM " + t + " WHERE ssn = $1 ORDER BY id", []any{"123-45-6789"}})
	}
	return append(steps,
		goStep{"update", "UPDATE " + t + " SET name = $1, balance = $2, visits = $3, birthdate = $4 WHERE ssn = $5",
			[]any{"Carol", decimal("-12.30"), int32(7), time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC), "555-00-1111"}},
		goStep{"update-null", "UPDATE " + t + " SET visits = $1, name = $2 WHERE id = $3", []any{nil, "Ann", int32(1)}},
		goStep{"select-null", "SELECT id, visits, name FROM " + t + " WHERE ssn IS NULL OR visits IS NULL ORDER BY id", nil},
		goStep{"delete", "DELETE FROM " + t + " WHERE id = $1", []any{int32(4)}},
		goStep{"select-all", "SELECT " + cols + " FROM " + t + " ORDER BY id", nil})
}

// pgxModes are pgx's QueryExecModes by the names the matrix gives them.
var pgxModes = map[string]pgx.QueryExecMode{
	"cache_statement": pgx.QueryExecModeCacheStatement,
	"cache_describe":  pgx.QueryExecModeCacheDescribe,
	"describe_exec":   pgx.QueryExecModeDescribeExec,
	"exec":            pgx.QueryExecModeExec,
	"simple_protocol": pgx.QueryExecModeSimpleProtocol,
	// The default mode, then CopyFrom (binary COPY FROM STDIN).
	"copy_from": pgx.QueryExecModeCacheStatement,
}

// runPgx runs the workload with pgx, one connection per mode. A balance
// is bound as a pgtype.Numeric, the type pgx reads numeric into.
func runPgx(t *testing.T, cp connParams, prefix string, modes []string) (string, error) {
	var b strings.Builder
	ctx := testContext(t)
	for _, m := range modes {
		fmt.Fprintf(&b, "== %s\n", m)
		cfg, err := pgx.ParseConfig(fmt.Sprintf("host=%s port=%d user=%s password='%s' dbname=%s sslmode=disable",
			cp.host, cp.port, appUser, strings.ReplaceAll(strings.ReplaceAll(appPassword, `\`, `\\`), "'", `\'`), appDB))
		if err != nil {
			return b.String(), err
		}
		cfg.DefaultQueryExecMode = pgxModes[m]
		conn, err := pgx.ConnectConfig(ctx, cfg)
		if err != nil {
			return b.String(), err
		}
		err = pgxWorkload(ctx, conn, prefix+"_"+m, &b)
		if err == nil && m == "copy_from" {
			err = pgxCopyFrom(ctx, conn, prefix+"_"+m, &b)
		}
		conn.Close(ctx)
		if err != nil {
			return b.String(), fmt.Errorf("%s: %w", m, err)
		}
	}
	return b.String(), nil
}

// pgxCopyFrom writes two rows with CopyFrom, which sends each field in
// the binary form of the column's type as the table's description gives
// it, and reads them back.
func pgxCopyFrom(ctx context.Context, conn *pgx.Conn, table string, b *strings.Builder) error {
	var bal pgtype.Numeric
	if err := bal.Scan("-3.50"); err != nil {
		return err
	}
	rows := [][]any{
		{"444-44-4444", "Copy \\ Tab\there", time.Date(1969, 7, 20, 0, 0, 0, 0, time.UTC), bal, int32(-1), "copied"},
		{"444-44-4444", nil, nil, nil, nil, nil},
	}
	n, err := conn.CopyFrom(ctx, pgx.Identifier{table}, []string{"ssn", "name", "birthdate", "balance", "visits", "note"}, pgx.CopyFromRows(rows))
	if err != nil {
		return fmt.Errorf("CopyFrom: %w", err)
	}
	fmt.Fprintf(b, "copy-from %d\n", n)
	return pgxWorkload(ctx, conn, "", b, goStep{"select-copied", "SELECT id, ssn, name, birthdate, balance, visits, note FROM " + table + " WHERE ssn = $1 ORDER BY id", []any{"444-44-4444"}})
}

// pgxWorkload runs steps, or without them the workload's, on table.
func pgxWorkload(ctx context.Context, conn *pgx.Conn, table string, b *strings.Builder, steps ...goStep) error {
	if len(steps) == 0 {
		steps = goSteps(table)
	}
	for _, s := range steps {
		args := make([]any, len(s.args))
		for i, a := range s.args {
			args[i] = a
			if d, ok := a.(decimal); ok {
				var n pgtype.Numeric
				if err := n.Scan(string(d)); err != nil {
					return err
				}
				args[i] = n
			}
		}
		rows, err := conn.Query(ctx, s.sql, args...)
		if err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
		var cols []string
		for _, f := range rows.FieldDescriptions() {
			cols = append(cols, fmt.Sprintf("%s:%d:%d:%d", f.Name, f.DataTypeOID, f.TypeModifier, f.Format))
		}
		fmt.Fprintf(b, "%s %s\n", s.name, strings.Join(cols, " "))
		for rows.Next() {
			vals, err := rows.Values()
			if err != nil {
				rows.Close()
				return err
			}
			b.WriteString("  " + showGo(vals) + "\n")
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
		fmt.Fprintf(b, "  %s\n", rows.CommandTag())
	}
	return nil
}

// showGo tags each value with its Go type.
func showGo(vals []any) string {
	out := make([]string, len(vals))
	for i, v := range vals {
		switch v := v.(type) {
		case nil:
			out[i] = "NULL"
		case []byte:
			out[i] = fmt.Sprintf("[]byte:%q", v)
		case time.Time:
			out[i] = "time:" + v.Format(time.RFC3339)
		case pgtype.Numeric:
			val, _ := v.Value()
			out[i] = fmt.Sprintf("numeric:%v", val)
		default:
			out[i] = fmt.Sprintf("%T:%q", v, fmt.Sprint(v))
		}
	}
	return strings.Join(out, " | ")
}

// runLibpq runs the workload with lib/pq through database/sql, on one
// connection per mode: "default" (text parameters, unnamed prepared
// statements), "binary_parameters" (lib/pq's binary_parameters=yes) and
// "prepared" (sql.Stmt, prepared once and run for each row).
func runLibpq(t *testing.T, cp connParams, prefix string, modes []string) (string, error) {
	var b strings.Builder
	ctx := testContext(t)
	for _, m := range modes {
		fmt.Fprintf(&b, "== %s\n", m)
		dsn := fmt.Sprintf("host=%s port=%d user=%s password='%s' dbname=%s sslmode=disable",
			cp.host, cp.port, appUser, strings.ReplaceAll(strings.ReplaceAll(appPassword, `\`, `\\`), "'", `\'`), appDB)
		if m == "binary_parameters" {
			dsn += " binary_parameters=yes"
		}
		db, err := sql.Open("postgres", dsn)
		if err != nil {
			return b.String(), err
		}
		db.SetMaxOpenConns(1)
		err = libpqWorkload(ctx, db, prefix+"_"+m, m == "prepared", &b)
		if err == nil && m == "copyin" {
			err = libpqCopyIn(ctx, db, prefix+"_"+m, &b)
		}
		db.Close()
		if err != nil {
			return b.String(), fmt.Errorf("%s: %w", m, err)
		}
	}
	return b.String(), nil
}

func libpqWorkload(ctx context.Context, db *sql.DB, table string, prepare bool, b *strings.Builder) error {
	for _, s := range goSteps(table) {
		var rows *sql.Rows
		var err error
		if prepare {
			var st *sql.Stmt
			if st, err = db.PrepareContext(ctx, s.sql); err != nil {
				return fmt.Errorf("%s: %w", s.name, err)
			}
			rows, err = st.QueryContext(ctx, s.args...)
			defer st.Close()
		} else {
			rows, err = db.QueryContext(ctx, s.sql, s.args...)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
		if err := libpqRows(s.name, rows, b); err != nil {
			return err
		}
	}
	return nil
}

// libpqCopyIn writes two rows with lib/pq's CopyIn (COPY FROM STDIN in
// text, each value as lib/pq formats it: a time.Time with its time and
// zone into the date column) and reads the table again.
func libpqCopyIn(ctx context.Context, db *sql.DB, table string, b *strings.Builder) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	st, err := tx.PrepareContext(ctx, pq.CopyIn(table, "ssn", "name", "birthdate", "balance", "visits", "note"))
	if err != nil {
		return fmt.Errorf("copy: %w", err)
	}
	rows := [][]any{
		{"444-44-4444", "Copy \\ Tab\there", time.Date(1969, 7, 20, 0, 0, 0, 0, time.UTC), "-3.50", int32(-1), "copied"},
		{"444-44-4444", nil, nil, nil, nil, nil},
	}
	for _, r := range rows {
		if _, err := st.ExecContext(ctx, r...); err != nil {
			return fmt.Errorf("copy row: %w", err)
		}
	}
	if _, err := st.ExecContext(ctx); err != nil {
		return fmt.Errorf("copy end: %w", err)
	}
	if err := st.Close(); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	res, err := db.QueryContext(ctx, "SELECT id, ssn, name, birthdate, balance, visits, note FROM "+table+" WHERE ssn = $1 ORDER BY id", "444-44-4444")
	if err != nil {
		return fmt.Errorf("after copy: %w", err)
	}
	return libpqRows("copy-in", res, b)
}

// libpqRows prints the column types database/sql reports and the rows.
func libpqRows(step string, rows *sql.Rows, b *strings.Builder) error {
	defer rows.Close()
	types, err := rows.ColumnTypes()
	if err != nil {
		return err
	}
	var cols []string
	for _, ct := range types {
		p, s, _ := ct.DecimalSize()
		cols = append(cols, fmt.Sprintf("%s:%s:%d:%d", ct.Name(), ct.DatabaseTypeName(), p, s))
	}
	fmt.Fprintf(b, "%s %s\n", step, strings.Join(cols, " "))
	for rows.Next() {
		vals := make([]any, len(types))
		ptrs := make([]any, len(types))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return err
		}
		b.WriteString("  " + showGo(vals) + "\n")
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("%s: %w", step, err)
	}
	return nil
}
