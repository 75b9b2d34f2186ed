package integration

import (
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

// TestRedTeam9GroupByPosition: GROUP BY 1 names the first select-list
// entry. phiguard planned GROUP BY only for items written as columns, so
// GROUP BY 1 over a randomized column went to the database, which grouped
// the ciphertexts (every row its own group, NULLs together): a different
// answer. And GROUP BY 1 and GROUP BY 2 share a shape (the literal), so
// the plan of one served the other: GROUP BY 2 naming count(*), which
// PostgreSQL rejects (42803), answered grouped by the first entry.
func TestRedTeam9GroupByPosition(t *testing.T) {
	t.Parallel()
	f := newSortFixture(t, 120, nil)
	groups := func(s string) string { // groups in any order
		lines := strings.Split(s, "\n")
		slices.Sort(lines)
		return strings.Join(lines, "\n")
	}
	for _, q := range []string{
		`SELECT name, count(*) FROM %[1]s GROUP BY 1`,
		`SELECT name AS n, count(*), max(born), min(score) FROM %[1]s GROUP BY 1`,
		`SELECT grp, name, count(*) FROM %[1]s GROUP BY 1, 2`,
		`SELECT grp, name, count(*) FROM %[1]s GROUP BY grp, 2`,
		`SELECT born, count(DISTINCT name) FROM %[1]s GROUP BY 1`,
		`SELECT a.city, count(*) FROM %[2]s a WHERE a.city >= 'B' GROUP BY 1`,
		`SELECT tag, count(*) FROM %[1]s GROUP BY 1`,
	} {
		f.compare(t, q, groups)
	}
	// An output name in GROUP BY means an input column first: phiguard,
	// which cannot see the unprotected columns, refuses it; a grouping set
	// by position over a randomized column too.
	for _, q := range []string{
		`SELECT name AS n, count(*) FROM %[1]s GROUP BY n`,
		`SELECT name, count(*) FROM %[1]s GROUP BY ROLLUP (1)`,
		`SELECT name, count(*) FROM %[1]s GROUP BY GROUPING SETS ((1), ())`,
	} {
		for _, mode := range bothModes {
			_, err := rowsRaw(t, f.via, f.sql(q, 1), mode, pgx.TextFormatCode)
			wantCode(t, err, "0A000", "")
		}
	}
	// Same shape, other position: each statement its own plan.
	for _, mode := range bothModes {
		for _, q := range []string{`SELECT name, count(*) FROM %[1]s GROUP BY 1`, `SELECT name, count(*) FROM %[1]s GROUP BY 2`} {
			want, werr := rowsRaw(t, f.dir, f.sql(q, 0), mode, pgx.TextFormatCode)
			got, gerr := rowsRaw(t, f.via, f.sql(q, 1), mode, pgx.TextFormatCode)
			if pgCode(werr) != pgCode(gerr) || groups(got) != groups(want) {
				t.Errorf("%s (%v): through phiguard %v\n%s\ndirectly %v\n%s", q, mode, gerr, got, werr, want)
			}
		}
	}
}
