package integration

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	pg_query "github.com/pganalyze/pg_query_go/v5"
)

// tpCase is one case of the transparency check: statements run in order
// on one session, each result compared.
type tpCase struct {
	// source says where the case comes from, to reproduce it: a corpus
	// file and line, or a sqlsmith seed and index.
	source string
	steps  []string
	// tx: the steps run in a transaction that is rolled back, so that
	// writes leave both databases as they were.
	tx bool
}

// tpResult is one statement's outcome on one side: the RowDescription,
// the command tag and the rows, or the error.
type tpResult struct {
	// fields are the RowDescription's columns, each as name, type OID,
	// type modifier, type size and format.
	fields []string
	tag    string
	// rows hold each value as it came on the wire: text in the simple
	// protocol, the format pgx asked for (binary where it can) in the
	// extended one; NULL is "NULL".
	rows [][]string
	err  error
}

// tpRun is a case's outcome on one side: a result per step, up to the
// first error.
type tpRun []tpResult

// Protocols the transparency check runs each case in: the simple one
// (values in text), and the extended one with pgx's defaults (named
// prepared statements, results in binary for every type pgx decodes).
var tpModes = []string{simpleMode, extendedMode}

// runTP runs a case's steps on conn in mode, after the setup statements
// (SET LOCAL of a plan variant, whose results are not kept); setup needs a
// transaction.
func runTP(conn *pgx.Conn, mode string, c tpCase, setup ...string) tpRun {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	tx := c.tx || len(setup) > 0
	if tx {
		if _, err := conn.Exec(ctx, "BEGIN"); err != nil {
			return tpRun{{err: err}}
		}
		defer func() {
			if !conn.IsClosed() {
				_, _ = conn.Exec(ctx, "ROLLBACK")
			}
		}()
	}
	for _, s := range setup {
		if _, err := conn.Exec(ctx, s); err != nil {
			return tpRun{{err: err}}
		}
	}
	var run tpRun
	for _, sql := range c.steps {
		r := queryTP(ctx, conn, mode, sql)
		run = append(run, r)
		if r.err != nil {
			break
		}
	}
	return run
}

func queryTP(ctx context.Context, conn *pgx.Conn, mode, sql string) tpResult {
	var execMode any = pgx.QueryExecModeSimpleProtocol
	if mode == extendedMode {
		execMode = pgx.QueryExecModeCacheStatement
	}
	rs, err := conn.Query(ctx, sql, execMode)
	if err != nil {
		return tpResult{err: err}
	}
	defer rs.Close()
	var r tpResult
	for _, f := range rs.FieldDescriptions() {
		r.fields = append(r.fields, fmt.Sprintf("%s oid %d typmod %d size %d format %d", f.Name, f.DataTypeOID, f.TypeModifier, f.DataTypeSize, f.Format))
	}
	for rs.Next() {
		r.rows = append(r.rows, textRow(rs.RawValues()))
	}
	rs.Close()
	if r.err = rs.Err(); r.err != nil {
		return tpResult{err: r.err}
	}
	r.tag = rs.CommandTag().String()
	return r
}

// phiguardError is an error phiguard made itself: PostgreSQL's errors
// name the source file and routine that raised them, phiguard's do not.
func phiguardError(err error) (*pgconn.PgError, bool) {
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.File == "" && pe.Routine == "" {
		return pe, true
	}
	return nil, false
}

// errKey is what two errors must share to count as the same answer: the
// SQLSTATE, or for an error that is not PostgreSQL's (a client error) its
// text.
func errKey(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return "SQLSTATE " + pe.Code
	}
	return "client error: " + err.Error()
}

// orderedResult says whether a statement's rows come in an order it asks
// for (ORDER BY at its top level), and so are compared in order; any other
// result is compared as a multiset.
func orderedResult(sql string) bool {
	tree, err := pg_query.Parse(sql)
	if err != nil || len(tree.Stmts) != 1 {
		return false
	}
	sel := tree.Stmts[0].Stmt.GetSelectStmt()
	return sel != nil && len(sel.SortClause) > 0
}

// diffTP compares two results of the same statement and says how they
// differ ("" when they do not).
func diffTP(sql string, a, b tpResult) string {
	switch {
	case a.err != nil || b.err != nil:
		if a.err != nil && b.err != nil && errKey(a.err) == errKey(b.err) {
			return ""
		}
		return fmt.Sprintf("phiguard: %s; PostgreSQL: %s", outcomeText(a), outcomeText(b))
	case strings.Join(a.fields, "; ") != strings.Join(b.fields, "; "):
		return fmt.Sprintf("RowDescription: phiguard [%s], PostgreSQL [%s]", strings.Join(a.fields, "; "), strings.Join(b.fields, "; "))
	case a.tag != b.tag:
		return fmt.Sprintf("command tag: phiguard %q, PostgreSQL %q", a.tag, b.tag)
	}
	if orderedResult(sql) {
		for i := range max(len(a.rows), len(b.rows)) {
			if i >= len(a.rows) || i >= len(b.rows) || strings.Join(a.rows[i], "\x1f") != strings.Join(b.rows[i], "\x1f") {
				return fmt.Sprintf("ORDER BY: row %d of %d differs (phiguard %s, PostgreSQL %s)",
					i+1, len(b.rows), preview(a.rows[min(i, len(a.rows)):]), preview(b.rows[min(i, len(b.rows)):]))
			}
		}
		return ""
	}
	missing, extra := diffRows(b.rows, a.rows)
	if len(missing)+len(extra) > 0 {
		return fmt.Sprintf("rows: phiguard %d, PostgreSQL %d; %d only PostgreSQL's %s; %d only phiguard's %s",
			len(a.rows), len(b.rows), len(missing), preview(missing), len(extra), preview(extra))
	}
	return ""
}

func outcomeText(r tpResult) string {
	if r.err != nil {
		return errText(r.err)
	}
	return fmt.Sprintf("%s, %d rows", r.tag, len(r.rows))
}

// diffRuns compares two runs of a case step by step, up to the first
// error, and says where they first differ ("" when they do not).
func diffRuns(c tpCase, a, b tpRun) string {
	for i := range max(len(a), len(b)) {
		if i >= len(a) || i >= len(b) {
			return fmt.Sprintf("step %d: one side stopped (%d steps run by phiguard, %d by PostgreSQL)", i+1, len(a), len(b))
		}
		if d := diffTP(c.steps[i], a[i], b[i]); d != "" {
			if len(c.steps) > 1 {
				d = fmt.Sprintf("step %d: %s", i+1, d)
			}
			return d
		}
	}
	return ""
}
