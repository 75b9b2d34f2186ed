package integration

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// TestFilterEncryptedDifferential generates statements as
// TestSortEncryptedDifferential does (random ORDER BY keys, LIMIT and
// OFFSET, joins), each with one to three random WHERE conjuncts on
// encrypted columns (every comparison phiguard evaluates, constants of
// several spellings, parameters, NULL, the column on either side, beside
// plaintext conjuncts and = on a deterministic one), and runs each on
// the plaintext tables directly and on the encrypted ones through
// phiguard, in both protocols: no answer may differ. The seed is fixed.
func TestFilterEncryptedDifferential(t *testing.T) {
	t.Parallel()
	f := newSortFixture(t, 120, nil)
	r := rand.New(rand.NewPCG(13, 2026))
	const statements = 200
	gen := func() (string, []any, bool) {
		q, args := genSortStatement(r, true)
		return q, args, true
	}
	c := f.runWays(t, twoWays, statements, gen, nil)
	differ, nonEmpty := c.differ, c.withRows
	t.Logf("%d statements, both protocols: %d different answers, %d of %d answers with rows", statements, differ, nonEmpty, 2*statements)
	if nonEmpty < statements/2 { // the comparison must be about rows
		t.Fatalf("only %d answers of %d have rows", nonEmpty, 2*statements)
	}
}

// filterColumns are the encrypted columns a conjunct compares, with
// constants of their type as written in SQL and as parameters.
var filterColumns = []struct {
	col    string
	join   bool // of addresses a: only in a join
	consts []string
	params []any
	like   bool // text: LIKE too
}{
	{col: "p.name", consts: []string{"'Smith'", "'smith'", "'S'", "''", "'Zhang'", "'adams'", "'O''Neil'", "'Ölz'", "'Smith'::text", "CAST('b' AS varchar)"},
		params: []any{"Smith", "Adams", "", "a", "Zz"}, like: true},
	{col: "p.born", consts: []string{"'1950-01-01'", "'1970-06-15'::date", "DATE '1990-12-31'", "'1945-03-01'", "CAST('1960-01-01' AS date)"},
		params: []any{"1955-05-05", "1980-01-01", "1999-12-31"}},
	{col: "p.score", consts: []string{"0", "-50", "12.5", "'25.00'", "99.99", "-10.25::numeric", "50", "'-0.5'", "3"},
		params: []any{"0", "-25.25", "60"}},
	{col: "p.tag", consts: []string{"'t1'", "'t3'", "'t0'", "'t6'", "'u'"}, params: []any{"t2", "t4"}, like: true},
	{col: "a.city", join: true, consts: []string{"'Bern'", "'bern'", "'Basel'", "'Zürich'", "'B'"}, params: []any{"Aarau", "Zug"}, like: true},
}

// genFilterConjuncts adds one to three conjuncts on encrypted columns to
// where, numbering their parameters from $1.
func genFilterConjuncts(r *rand.Rand, join bool, where []string) ([]string, []any) {
	var args []any
	constant := func(i int) string {
		c := filterColumns[i]
		switch n := r.IntN(10); {
		case n == 0:
			return "NULL"
		case n < 4:
			args = append(args, c.params[r.IntN(len(c.params))])
			return fmt.Sprintf("$%d", len(args))
		}
		return c.consts[r.IntN(len(c.consts))]
	}
	for range 1 + r.IntN(3) {
		i := r.IntN(len(filterColumns))
		if filterColumns[i].join && !join {
			i = 0
		}
		col := filterColumns[i].col
		var conj string
		switch op := r.IntN(14); {
		case op >= 12 && filterColumns[i].like:
			conj = col + pick(r, " LIKE ", " NOT LIKE ") + likePattern(r, &args)
		case op < 6:
			sym := pick(r, "=", "<>", "!=", "<", "<=", ">", ">=")
			if r.IntN(4) == 0 {
				conj = constant(i) + " " + sym + " " + col
			} else {
				conj = col + " " + sym + " " + constant(i)
			}
		case op < 9:
			kw := pick(r, "BETWEEN", "NOT BETWEEN", "BETWEEN SYMMETRIC", "NOT BETWEEN SYMMETRIC")
			conj = col + " " + kw + " " + constant(i) + " AND " + constant(i)
		case op < 12:
			conj = col + pick(r, " IS DISTINCT FROM ", " IS NOT DISTINCT FROM ") + constant(i)
		default:
			conj = col + " = " + constant(i)
		}
		if r.IntN(5) == 0 {
			conj = "(" + conj + ")"
		}
		where = append(where, conj)
	}
	r.Shuffle(len(where), func(a, b int) { where[a], where[b] = where[b], where[a] })
	return where, args
}

// likePattern is a LIKE's pattern (and ESCAPE): wildcards, literals of
// the fixture's texts, an escaped wildcard, a parameter.
func likePattern(r *rand.Rand, args *[]any) string {
	if r.IntN(5) == 0 {
		*args = append(*args, pick(r, "S%", "%a%", "_e%", "%!_%", "%n"))
		return fmt.Sprintf("$%d", len(*args)) + pick(r, "", " ESCAPE '!'")
	}
	return pick(r, "'S%%'", "'%%th'", "'_mith'", "'%%a%%'", "'Sm_th'", "'%%'", "''", "'O''%%'", "'%%!_%%' ESCAPE '!'",
		"'%%ü%%'", "'_'", "'__%%'", "'%%_'", "'t_'", "'B%%'", "'%%r%%n'", "'!%%%%' ESCAPE '!'", "'_ü%%'", "NULL", "'%%' ESCAPE ''")
}

// TestFilterEncryptedLatency reports (it asserts only identical answers)
// the median latency of statements filtered by encrypted columns over
// 2,000 people through phiguard against the plaintext table directly.
func TestFilterEncryptedLatency(t *testing.T) {
	t.Parallel()
	f := newSortFixture(t, 2000, nil)
	for _, c := range []struct {
		name, q string
		args    []any
	}{
		{"a decade of birth dates, first page", "SELECT id, name, born FROM %[1]s WHERE born BETWEEN $1 AND $2 ORDER BY born, id LIMIT 20", []any{"1950-01-01", "1959-12-31"}},
		{"a name, one group (no ORDER BY)", "SELECT id, born FROM %[1]s WHERE name = $1 AND grp = 1", []any{"Zhang"}},
		{"a name prefix", "SELECT id FROM %[1]s WHERE name LIKE 'Sm%%' ORDER BY id", nil},
		{"a name anywhere, any case (the search box)", "SELECT id, name FROM %[1]s WHERE name ILIKE $1 ESCAPE $2 ORDER BY name, id", []any{"%mit%", `\`}},
		{"lower(name) = lower($1)", "SELECT id FROM %[1]s WHERE lower(name) = lower($1) ORDER BY id", []any{"SMITH"}},
	} {
		mode := pgx.QueryExecModeCacheStatement
		var direct, via []time.Duration
		for range 21 {
			start := time.Now()
			want, err := rowsRaw(t, f.dir, f.sql(c.q, 0), mode, pgx.TextFormatCode, c.args...)
			direct = append(direct, time.Since(start))
			if err != nil {
				t.Fatal(err)
			}
			start = time.Now()
			got, err := rowsRaw(t, f.via, f.sql(c.q, 1), mode, pgx.TextFormatCode, c.args...)
			via = append(via, time.Since(start))
			if err != nil || sortedLines(got) != sortedLines(want) {
				t.Fatalf("%s: answers differ (%v)", c.name, err)
			}
		}
		slices.Sort(direct)
		slices.Sort(via)
		t.Logf("%s: median %v through phiguard (encrypted), %v directly (plaintext): %.1fx",
			c.name, via[10], direct[10], float64(via[10])/float64(direct[10]))
	}
}
