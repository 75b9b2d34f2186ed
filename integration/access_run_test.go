package integration

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// accessCase is one attempt of the adversarial suite: a user's statements
// and what phiguard must make of them.
type accessCase struct {
	name string
	user string
	// steps run in order on one session, inside a transaction that is
	// rolled back (so a write phiguard wrongly lets through changes
	// nothing); the first error, or else the last step's rows, is the
	// outcome.
	steps []string
	// multi: the step holds several statements, sent as one simple Query
	// message; the outcome is every result's rows together.
	multi bool
	// copy: the (single) step is COPY ... TO STDOUT, whose lines are the
	// rows, or COPY ... FROM STDIN, which is sent copyIn.
	copy   bool
	copyIn string
	// noTx: no surrounding transaction (break-glass lasts for the session).
	noTx bool
	// extendedOnly: run in the extended protocol only (pgx refuses its own
	// simple protocol under a client_encoding other than UTF8; write a
	// multi case for the simple protocol instead).
	extendedOnly bool
	want         outcome
}

// outcome is what a case must end in: a refusal, or rows.
type outcome struct {
	// code is the SQLSTATE of a refusal ("42501", or alternatives
	// "42501|22023"); empty when rows are expected.
	code string
	// msg is a case-insensitive regexp the refusal's message (and detail)
	// must match: it names the table, column or rule.
	msg string
	// byAnyone accepts a refusal by PostgreSQL itself (a privilege the
	// fixture's grants withhold, a syntax error) as well as by phiguard.
	byAnyone bool
	// filter is the hand-written query, run as the superuser on
	// PostgreSQL, that gives exactly the rows expected.
	filter string
	// check judges rows no filter can give (EXPLAIN output, pseudonyms).
	check func(rows [][]string) error
	// orRefused, with check or filter: a refusal by phiguard (code, 42501
	// when empty) is also right.
	orRefused bool
}

func refused(msg string) outcome { return outcome{code: "42501", msg: msg} }

// encRefused accepts, besides the access rules' 42501, the encryption
// layer's 0A000 for a construct it cannot run on an encrypted column:
// either way the statement does not run.
func encRefused(msg string) outcome            { return outcome{code: "42501|0A000", msg: msg} }
func refusedBy(code, msg string) outcome       { return outcome{code: code, msg: msg, byAnyone: true} }
func rowsOf(filter string) outcome             { return outcome{filter: filter} }
func checked(f func([][]string) error) outcome { return outcome{check: f, orRefused: true} }

// rowsOrRefused: the filter's rows, or a refusal (a construct phiguard may
// decline rather than rewrite).
func rowsOrRefused(filter, msg string) outcome {
	return outcome{filter: filter, orRefused: true, msg: msg}
}

// Protocols a case runs in. copyMode is COPY's own sub-protocol, started
// by a simple Query.
const (
	simpleMode   = "simple"
	extendedMode = "extended"
	copyMode     = "copy"
)

func (c accessCase) modes() []string {
	switch {
	case c.copy:
		return []string{copyMode}
	case c.multi:
		return []string{simpleMode}
	case c.extendedOnly:
		return []string{extendedMode}
	}
	return []string{simpleMode, extendedMode}
}

// runAccessCases runs every case in each of its protocols, each on a fresh
// session, and compares the outcome.
func runAccessCases(t *testing.T, p *phiguard, cases []accessCase) {
	su := accessSuperuser(t)
	seen := map[string]bool{}
	for _, c := range cases {
		if seen[c.name] {
			t.Fatalf("two cases named %q", c.name)
		}
		seen[c.name] = true
		for _, mode := range c.modes() {
			var want [][]string
			if c.want.filter != "" {
				var err error
				filter := accessCase{multi: c.multi, copy: c.copy, steps: []string{c.want.filter}}
				if want, err = runSteps(testContext(t), su, mode, filter); err != nil {
					t.Fatalf("%s: the hand-written filter fails: %v", c.name, err)
				}
			}
			t.Run(c.name+"/"+mode, func(t *testing.T) {
				t.Parallel()
				runAccessCase(t, p, c, mode, want)
			})
		}
	}
}

func runAccessCase(t *testing.T, p *phiguard, c accessCase, mode string, want [][]string) {
	ctx := testContext(t)
	conn := p.as(t, c.user)
	if !c.noTx {
		if _, err := conn.Exec(ctx, "BEGIN"); err != nil {
			t.Fatalf("BEGIN: %v", err)
		}
	}
	got, err := runSteps(ctx, conn, mode, c)
	if !c.noTx {
		if _, rerr := conn.Exec(ctx, "ROLLBACK"); rerr != nil {
			t.Fatalf("ROLLBACK: %v", rerr)
		}
	}
	// Every refusal ends only the statement: the session goes on.
	if n := queryInt(t, conn, "SELECT 1"); n != 1 {
		t.Fatalf("session after the case: SELECT 1 gave %d", n)
	}
	w := c.want
	switch {
	case err != nil && (w.code != "" || w.orRefused):
		code := w.code
		if code == "" {
			code = "42501"
		}
		checkRefusal(t, err, code, w.msg, w.byAnyone)
	case err != nil:
		t.Fatalf("want rows, got error: %v", err)
	case w.code != "" && !w.orRefused:
		t.Fatalf("want refusal %s /%s/, got %d rows: %s", w.code, w.msg, len(got), preview(got))
	case w.check != nil:
		if cerr := w.check(got); cerr != nil {
			t.Fatalf("%v\nrows: %s", cerr, preview(got))
		}
	default:
		if missing, extra := diffRows(want, got); len(missing)+len(extra) > 0 {
			t.Fatalf("rows differ from the hand-written filter (%d expected, %d returned): %d missing %s, %d extra %s",
				len(want), len(got), len(missing), preview(missing), len(extra), preview(extra))
		}
	}
}

// checkRefusal fails unless err is a refusal with one of the codes, whose
// message matches msg, made by phiguard itself: PostgreSQL's own errors
// name the source file and routine that raised them, phiguard's do not.
func checkRefusal(t *testing.T, err error, codes, msg string, byAnyone bool) {
	t.Helper()
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		t.Fatalf("want refusal %s, got %v (%T)", codes, err, err)
	}
	if !slices.Contains(strings.Split(codes, "|"), pgErr.Code) {
		t.Fatalf("SQLSTATE %s (%s), want %s", pgErr.Code, pgErr.Message, codes)
	}
	if !regexp.MustCompile("(?i)" + msg).MatchString(pgErr.Message + "\n" + pgErr.Detail) {
		t.Fatalf("refusal %q (detail %q) does not match /%s/", pgErr.Message, pgErr.Detail, msg)
	}
	if !byAnyone && (pgErr.File != "" || pgErr.Routine != "") {
		t.Fatalf("refused by PostgreSQL (%s, %s: %s), not by phiguard's rules", pgErr.Routine, pgErr.Code, pgErr.Message)
	}
}

// runSteps runs statements in order and returns the last one's rows, every
// value in PostgreSQL's text form (NULL as "NULL"), so that a result read
// through phiguard compares with one read straight from PostgreSQL in the
// same protocol.
func runSteps(ctx context.Context, conn *pgx.Conn, mode string, c accessCase) ([][]string, error) {
	var rows [][]string
	var err error
	for _, sql := range c.steps {
		switch {
		case mode == copyMode:
			rows, err = copyRows(ctx, conn, sql, c.copyIn)
		case c.multi:
			rows, err = multiRows(ctx, conn, sql)
		default:
			rows, err = queryRows(ctx, conn, mode, sql)
		}
		if err != nil {
			return nil, err
		}
	}
	return rows, nil
}

func queryRows(ctx context.Context, conn *pgx.Conn, mode, sql string) ([][]string, error) {
	args := []any{pgx.QueryExecModeSimpleProtocol}
	if mode == extendedMode {
		// Named prepared statements, as pgx does by default; results in
		// text so that they read like the simple protocol's.
		args = []any{pgx.QueryExecModeCacheStatement, pgx.QueryResultFormats{pgx.TextFormatCode}}
	}
	rs, err := conn.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	defer rs.Close()
	var out [][]string
	for rs.Next() {
		out = append(out, textRow(rs.RawValues()))
	}
	return out, rs.Err()
}

func multiRows(ctx context.Context, conn *pgx.Conn, sql string) ([][]string, error) {
	results, err := conn.PgConn().Exec(ctx, sql).ReadAll()
	if err != nil {
		return nil, err
	}
	var out [][]string
	for _, r := range results {
		if r.Err != nil {
			return nil, r.Err
		}
		for _, row := range r.Rows {
			out = append(out, textRow(row))
		}
	}
	return out, nil
}

// copyRows runs COPY ... TO STDOUT (text format) and splits its lines, or
// COPY ... FROM STDIN with data; any other statement (a filter) is a query.
func copyRows(ctx context.Context, conn *pgx.Conn, sql, data string) ([][]string, error) {
	switch upper := strings.ToUpper(sql); {
	case strings.Contains(upper, "FROM STDIN"):
		_, err := conn.PgConn().CopyFrom(ctx, strings.NewReader(data), sql)
		return nil, err
	case !strings.Contains(upper, "TO STDOUT"):
		return queryRows(ctx, conn, simpleMode, sql)
	}
	var buf bytes.Buffer
	if _, err := conn.PgConn().CopyTo(ctx, &buf, sql); err != nil {
		return nil, err
	}
	var out [][]string
	for _, line := range strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n") {
		if line != "" {
			out = append(out, strings.Split(strings.ReplaceAll(line, `\N`, "NULL"), "\t"))
		}
	}
	return out, nil
}

func textRow(raw [][]byte) []string {
	row := make([]string, len(raw))
	for i, v := range raw {
		if v == nil {
			row[i] = "NULL"
		} else {
			row[i] = string(v)
		}
	}
	return row
}

// diffRows compares two results as multisets of rows.
func diffRows(want, got [][]string) (missing, extra [][]string) {
	count := map[string]int{}
	for _, r := range want {
		count[strings.Join(r, "\x1f")]++
	}
	for _, r := range got {
		k := strings.Join(r, "\x1f")
		if count[k] > 0 {
			count[k]--
		} else {
			extra = append(extra, r)
		}
	}
	for _, r := range want {
		k := strings.Join(r, "\x1f")
		if count[k] > 0 {
			count[k]--
			missing = append(missing, r)
		}
	}
	return missing, extra
}

// plainValue is what a failure message may show of a value: ids,
// numbers, booleans, masks and pseudonyms. Anything else may be PHI that
// phiguard wrongly let through, and is shown by its length only.
var plainValue = regexp.MustCompile(`^([0-9a-f-]{36}|-?[0-9.]+|NULL|[tf]|psn_\S*|\*\*\*-\*\*-\d{4})$`)

// preview shows the first rows of a result for a failure message.
func preview(rows [][]string) string {
	const n = 3
	var parts []string
	for i, r := range rows {
		if i == n {
			parts = append(parts, fmt.Sprintf("... (%d more)", len(rows)-n))
			break
		}
		shown := make([]string, len(r))
		for j, v := range r {
			if shown[j] = v; !plainValue.MatchString(v) {
				shown[j] = fmt.Sprintf("<%d chars>", len(v))
			}
		}
		parts = append(parts, "["+strings.Join(shown, ", ")+"]")
	}
	return strings.Join(parts, " ")
}
