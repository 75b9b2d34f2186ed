package integration

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Plain rounds (docs/search.md, "LIMIT through an order term";
// sqlrewrite/sort_rounds_plain.go): a statement whose encrypted columns
// are in its WHERE only, sorting by plaintext keys with a LIMIT, is sent
// with its ORDER BY as written and FETCH FIRST k ROWS ONLY; phiguard
// keeps the database's order, re-checks its filters and cuts, and runs
// it again with 8·k while it keeps fewer than OFFSET + LIMIT rows. With
// ties PostgreSQL's answer is not unique, so the oracle is: the key
// tuples of phiguard's rows, in order, are the plaintext's, and its rows
// are distinct rows of the plaintext's whole answer; with a unique last
// key (id) the answers are equal.

// newPlainRoundsFixture is newRoundsFixture with two plaintext keys
// added to both twins, both with duplicates and NULLs: tag int (5
// values) and note text under en_US (8 values differing in case); and a
// column named text, the name PostgreSQL gives a hidden CAST(... AS
// text) but for phiguard's alias.
func newPlainRoundsFixture(t *testing.T, n, fail int) *roundsFixture {
	t.Helper()
	f := newRoundsFixture(t, n, fail)
	ctx := testContext(t)
	su := superuser(t)
	for _, table := range []string{f.plain, f.enc} {
		if _, err := su.Exec(ctx, fmt.Sprintf(`ALTER TABLE %s ADD COLUMN tag int, ADD COLUMN note text COLLATE "en_US", ADD COLUMN "text" text;
UPDATE %s SET "text" = chr(65 + id %% 3), tag = CASE WHEN id %% 7 = 0 THEN NULL ELSE (id * 37) %% 5 END,
  note = CASE WHEN id %% 11 = 0 THEN NULL ELSE chr(65 + (id * 13) %% 4) || CASE WHEN id %% 3 = 0 THEN 'a' ELSE 'A' END END;
ANALYZE %s`, table, table, table)); err != nil {
			t.Fatal(err)
		}
	}
	f.via = f.p.app(t) // a session that sees the new columns from its start
	f.relay.take()
	return f
}

// plainKeys are the plaintext ORDER BY items genPlainRoundStatement
// picks from, each with the select-list entry (0-based) holding its
// value: names, output names, positions and USING (an expression, such
// as a COLLATE, is refused beside a filter, as before).
var plainKeys = []struct {
	text string
	col  int
}{
	{"grp", 2}, {"g", 2}, {"3", 2},
	{"tag", 3}, {"4", 3}, {"tag USING >", 3},
	{"note", 4}, {"5", 4}, {"note USING ~>~", 4},
}

// genPlainRoundStatement is a statement with a filter on an encrypted
// column, ordered by 1 to 3 plaintext keys (then id when unique), with a
// LIMIT (literal or parameters), sometimes an OFFSET; keys are the
// select-list entries of its keys.
func genPlainRoundStatement(r *rand.Rand, params bool) (q string, args []any, unique bool, keys []int) {
	var items []string
	seen := map[int]bool{}
	for range 1 + r.IntN(3) {
		k := plainKeys[r.IntN(len(plainKeys))]
		if seen[k.col] {
			continue
		}
		seen[k.col] = true
		item := k.text
		if !strings.Contains(item, "USING") {
			item += pick(r, "", " ASC", " DESC")
		}
		item += pick(r, "", "", " NULLS FIRST", " NULLS LAST")
		items, keys = append(items, item), append(keys, k.col)
	}
	if unique = r.IntN(2) == 0; unique {
		items, keys = append(items, pick(r, "id", "1", "id DESC")), append(keys, 0)
	}
	where := pick(r, "name <> 'Smith'", "name >= 'M'", "born > '1952-02-11'", "name LIKE '%%m%%'",
		"name NOT LIKE '%%Fail'", "name ILIKE 'o%%' OR born < '1951-01-01'", "grp <> 2 AND name NOT LIKE '%%Fail'")
	q = fmt.Sprintf("SELECT id, name, grp AS g, tag, note FROM %%s WHERE %s ORDER BY %s", where, strings.Join(items, ", "))
	limit, offset := r.IntN(40), r.IntN(60)
	if params {
		switch r.IntN(3) {
		case 0:
			return q + " LIMIT $1", []any{limit}, unique, keys
		case 1:
			return q + " LIMIT $1 OFFSET $2", []any{limit, offset}, unique, keys
		}
		return q + " OFFSET $2 ROWS FETCH FIRST $1 ROWS ONLY", []any{limit + 1, offset}, unique, keys
	}
	switch r.IntN(3) {
	case 0:
		return q + fmt.Sprintf(" LIMIT %d", limit), nil, unique, keys
	case 1:
		return q + fmt.Sprintf(" LIMIT %d OFFSET %d", limit, offset), nil, unique, keys
	}
	return q + fmt.Sprintf(" OFFSET %d ROWS FETCH FIRST %d ROWS ONLY", offset, limit+1), nil, unique, keys
}

// plainAnswerDiffers says how got (rowsRaw's text) is not an answer the
// plaintext could give to a statement whose want it is: another number
// of rows or tag, another key tuple at some position (keys: the entries
// holding the keys), or a row that the whole answer lacks or repeats.
func plainAnswerDiffers(whole, want, got string, keys []int) string {
	lines := func(s string) []string { return strings.Split(s, "\n") }
	tuple := func(row string) string {
		cells := strings.Split(row, " | ")
		var out []string
		for _, k := range keys {
			if k >= len(cells) {
				return "?"
			}
			out = append(out, cells[k])
		}
		return strings.Join(out, " | ")
	}
	w, g := lines(want), lines(got)
	if len(w) != len(g) || w[len(w)-1] != g[len(g)-1] {
		return "another number of rows or command tag"
	}
	for i := range len(w) - 1 {
		if tuple(w[i]) != tuple(g[i]) {
			return fmt.Sprintf("row %d has the keys %q, the plaintext's %q", i+1, tuple(g[i]), tuple(w[i]))
		}
	}
	return unorderedAnswerDiffers(whole, want, got)
}

// TestPlainRoundsDifferential: 120 generated statements per protocol,
// filters on encrypted columns, ORDER BY plaintext keys only (several,
// DESC, NULLS FIRST/LAST, USING, positions, an output name, keys with
// duplicates and NULLs), LIMIT/OFFSET/FETCH as literals and parameters:
// exact with a unique last key, else by the ties oracle. The text sent
// holds the ORDER BY and FETCH FIRST ... ROWS ONLY, no rank, and some
// statements need further rounds.
func TestPlainRoundsDifferential(t *testing.T) {
	t.Parallel()
	f := newPlainRoundsFixture(t, 600, 40)
	r := rand.New(rand.NewPCG(13, 2026))
	const statements = 120
	differ, exact, withRows := 0, 0, 0
	before := f.p.metric(t, "phiguard_proxy_search_rounds_total")
	for i := range 2 * statements {
		mode := bothModes[i%2]
		q, args, unique, keys := genPlainRoundStatement(r, mode != pgx.QueryExecModeSimpleProtocol)
		whole, werr := rowsRaw(t, f.dir, fmt.Sprintf(q[:strings.LastIndex(q, " ORDER BY")], f.plain), mode, pgx.TextFormatCode)
		want, lerr := rowsRaw(t, f.dir, fmt.Sprintf(q, f.plain), mode, pgx.TextFormatCode, args...)
		got, gerr := rowsRaw(t, f.via, fmt.Sprintf(q, f.enc), mode, pgx.TextFormatCode, args...)
		if werr != nil || lerr != nil || gerr != nil {
			var wp, gp *pgconn.PgError
			if werr != nil || !errors.As(lerr, &wp) || !errors.As(gerr, &gp) || wp.Code != gp.Code {
				differ++
				t.Errorf("%s %v (%v): through phiguard %v, directly %v (whole %v)", q, args, mode, gerr, lerr, werr)
			}
			continue
		}
		why := ""
		if unique {
			exact++
			if got != want {
				why = "another answer"
			}
		} else {
			why = plainAnswerDiffers(whole, want, got, keys)
		}
		if why != "" {
			differ++
			t.Errorf("%s %v (%v): %s\nthrough phiguard\n%s\ndirectly\n%s", q, args, mode, why, got, want)
		}
		if !strings.HasPrefix(want, "(") {
			withRows++
		}
	}
	further := f.p.metric(t, "phiguard_proxy_search_rounds_total") - before
	sent := f.relay.take()
	// k as the database computes it (a CASE), or as phiguard did for a
	// literal LIMIT (a constant, or LEAST with the multiplier).
	onlys := bytes.Count(sent, []byte("END) ROWS ONLY")) + bytes.Count(sent, []byte("pg_catalog.int8) ROWS ONLY"))
	t.Logf("%d statements (%d compared exactly): %d different answers, %d with rows; %d rounds sent with FETCH FIRST k ROWS ONLY, %v of them after a statement's first",
		2*statements, exact, differ, withRows, onlys, further)
	if withRows < statements || onlys < 2*statements || further < 5 || bytes.Contains(sent, []byte("dense_rank")) {
		t.Fatalf("too weak: %d answers with rows, %d rounds for %d statements, %v further rounds, a rank sent: %v",
			withRows, onlys, 2*statements, further, bytes.Contains(sent, []byte("dense_rank")))
	}
}

// TestPlainRoundsSecondRound: the first 240 ids fail the filter, so
// ORDER BY id LIMIT 10 keeps no row of k = 29 nor of k = 232 and reads
// every candidate in a third round, in both protocols; a prepared
// statement run again starts at k = 29 each time; a bare name that is
// also a hidden column's name orders by the client's column. The
// answers are the plaintext's.
func TestPlainRoundsSecondRound(t *testing.T) {
	t.Parallel()
	f := newPlainRoundsFixture(t, 300, 240)
	for _, c := range []struct {
		q      string
		args   []any
		rounds float64 // after the first
	}{
		{"SELECT id, name FROM %s WHERE name NOT LIKE '%%Fail' ORDER BY id LIMIT 10", nil, 2},
		// Of ids 300 down to 228 (k = ceil(1.25*45)+16 = 73), those after
		// 240 with a name pass: more than 45.
		{"SELECT id, tag AS t FROM %s WHERE name NOT LIKE '%%Fail' ORDER BY id DESC NULLS LAST LIMIT 5 OFFSET 40", nil, 0},
		{"SELECT id, name FROM %s WHERE name NOT LIKE '%%Fail' ORDER BY 1 LIMIT $1 OFFSET $2", []any{5, 3}, 2},
		// The 25 first C's (ids 2, 5, ... 74) fail; 200 rows hold every C.
		{"SELECT id FROM %s WHERE name NOT LIKE '%%Fail' ORDER BY text DESC, id LIMIT 7", nil, 1},
	} {
		for _, mode := range bothModes {
			if len(c.args) > 0 && mode == pgx.QueryExecModeSimpleProtocol {
				continue
			}
			for range 2 {
				before := f.p.metric(t, "phiguard_proxy_search_rounds_total")
				f.sameRaw(t, c.q, mode, c.args...)
				if d := f.p.metric(t, "phiguard_proxy_search_rounds_total") - before; d != c.rounds {
					t.Errorf("%s (%v): %v rounds after the first, want %v", c.q, mode, d, c.rounds)
				}
			}
		}
	}
	if sent := f.relay.take(); !bytes.Contains(sent, []byte("ORDER BY 1 FETCH FIRST")) || !bytes.Contains(sent, []byte("ORDER BY 1 DESC NULLS LAST OFFSET")) {
		t.Errorf("the ORDER BY was not sent as the entry's position:\n%.2000s", sent)
	}
}

// TestRoundsKeyNames: the plaintext keys an ordered round sends before
// the order-term key mean the client's: a bare name that is also a
// hidden column's name (text) stays the input column, and an output name
// whose entry is a bare column named like another entry's output name
// (g is grp, and grp names the entry note) stays the entry; under a *
// likewise. Both protocols; the answers are the plaintext's.
func TestRoundsKeyNames(t *testing.T) {
	t.Parallel()
	f := newPlainRoundsFixture(t, 300, 20)
	for _, q := range []string{
		"SELECT id, name FROM %s ORDER BY text DESC, name, id LIMIT 7",
		"SELECT id, note AS grp, grp AS g, name FROM %s ORDER BY g DESC, name, id LIMIT 9 OFFSET 3",
		"SELECT id, note AS grp, grp AS g, name FROM %s WHERE name NOT LIKE '%%Fail' ORDER BY g, id LIMIT 9",
		"SELECT * FROM %s WHERE name NOT LIKE '%%Fail' ORDER BY text, tag DESC NULLS LAST, id LIMIT 6 OFFSET 2",
	} {
		for _, mode := range bothModes {
			f.sameRaw(t, q, mode)
		}
	}
	if sent := f.relay.take(); !bytes.Contains(sent, []byte("ROWS WITH TIES")) || !bytes.Contains(sent, []byte("ROWS ONLY")) {
		t.Errorf("not sent in ordered and plain rounds:\n%.3000s", sent)
	}
}
