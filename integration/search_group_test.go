package integration

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

// TestGroupEncryptedShapes: GROUP BY encrypted (and plaintext) columns
// with min, max and count of others, with and without a proxy-side
// WHERE, against the plaintext tables in both protocols and result
// formats; groups compared as multisets (no ORDER BY).
func TestGroupEncryptedShapes(t *testing.T) {
	t.Parallel()
	f := newSortFixture(t, 150, nil)
	for _, q := range []string{
		`SELECT name, count(*) FROM %[1]s GROUP BY name`,
		`SELECT name AS n, grp, count(born), min(born), max(score), count(DISTINCT tag) FROM %[1]s GROUP BY name, grp`,
		`SELECT born, count(*) FROM %[1]s WHERE name >= 'S' GROUP BY born`,
		`SELECT tag, count(*), max(name) FROM %[1]s GROUP BY tag`,
		`SELECT tag, count(*) FROM %[1]s WHERE born < '1970-01-01' GROUP BY tag`,
		`SELECT grp, count(DISTINCT name) FROM %[1]s GROUP BY grp`,
		`SELECT a.city, count(*), count(DISTINCT p.name) FROM %[2]s a JOIN %[1]s p ON p.id = a.person GROUP BY a.city`,
		`SELECT name FROM %[1]s GROUP BY name`,
		`SELECT name, count(*) FROM %[1]s WHERE id < 0 GROUP BY name`,
	} {
		f.compare(t, q, multiset)
	}
	f.sameDescription(t, `SELECT name AS n, born, count(*), max(score) AS top FROM %[1]s WHERE name >= $1 GROUP BY name, born`,
		"top table=0 attnum=0 type=1700 size=-1 mod=-1")
}

// TestGroupEncryptedDifferential generates GROUP BY statements over the
// sort fixture (one or two group columns among encrypted and plaintext
// ones, one to three aggregates, random proxy-side WHERE conjuncts) and
// runs each on the plaintext tables directly and on the encrypted ones
// through phiguard, in both protocols, comparing the groups as
// multisets: no answer may differ. Other samples: PHIGUARD_SORT_SEED.
func TestGroupEncryptedDifferential(t *testing.T) {
	t.Parallel()
	f := newSortFixture(t, 120, nil)
	seed := uint64(envInt(t, "PHIGUARD_SORT_SEED", 1))
	r := rand.New(rand.NewPCG(seed, 19))
	const statements = 100
	differ := 0
	for i := range statements {
		q, args := genGroupStatement(r)
		for _, mode := range bothModes {
			want, werr := rowsRaw(t, f.dir, f.sql(q, 0), mode, pgx.TextFormatCode, args...)
			got, gerr := rowsRaw(t, f.via, f.sql(q, 1), mode, pgx.TextFormatCode, args...)
			if werr != nil {
				t.Fatalf("statement %d directly: %s: %v", i, q, werr)
			}
			if gerr != nil || multiset(got) != multiset(want) {
				differ++
				t.Errorf("statement %d (%v) %s %v: through phiguard %v\n%s\ndirectly\n%s", i, mode, q, args, gerr, got, want)
			}
		}
	}
	t.Logf("seed %d, %d statements, both protocols: %d different answers", seed, statements, differ)
}

// genGroupStatement is one random GROUP BY statement and its parameters.
func genGroupStatement(r *rand.Rand) (string, []any) {
	join := r.IntN(3) == 0
	cols := []string{"p.name", "p.born", "p.score", "p.tag", "p.grp"}
	if join {
		cols = append(cols, "a.city", "a.sequence")
	}
	perm := r.Perm(len(cols))
	groups := []string{cols[perm[0]]}
	if r.IntN(2) == 0 {
		groups = append(groups, cols[perm[1]])
	}
	sel := append([]string(nil), groups...)
	for range r.IntN(4) {
		switch r.IntN(4) {
		case 0:
			sel = append(sel, "count(*)")
		case 1:
			sel = append(sel, "count("+pick(r, cols...)+")")
		case 2:
			sel = append(sel, "count(DISTINCT "+pick(r, cols[:4]...)+")")
		default:
			sel = append(sel, pick(r, "min", "max")+"("+pick(r, cols[:4]...)+")")
		}
	}
	from := "%[1]s p"
	if join {
		from = "%[2]s a LEFT JOIN %[1]s p ON p.id = a.person"
	}
	where := []string{pick(r, "true", "p.grp <> 3", "p.id > 40")}
	var args []any
	if r.IntN(2) == 0 {
		where, args = genFilterConjuncts(r, join, where)
	}
	return fmt.Sprintf("SELECT %s FROM %s WHERE %s GROUP BY %s", strings.Join(sel, ", "), from,
		strings.Join(where, " AND "), strings.Join(groups, ", ")), args
}

// TestGroupEncryptedUnderAccessRules: a row rule narrows the rows phiguard
// groups; a role that sees the column pseudonymized or nulled cannot
// group by it.
func TestGroupEncryptedUnderAccessRules(t *testing.T) {
	t.Parallel()
	fx := accessFixture(t)
	p := startAccessProxy(t, fx)
	alice, admin := p.as(t, "dr_alice"), p.as(t, "admin_ann")
	for _, mode := range bothModes {
		got, err := rowsRaw(t, alice, "SELECT p.last, count(*), max(p.birthdate) FROM patients p GROUP BY p.last", mode, pgx.TextFormatCode)
		if err != nil {
			t.Fatalf("%v: %v", mode, err)
		}
		want, err := rowsRaw(t, admin, "SELECT p.last, count(*), max(p.birthdate) FROM patients p WHERE p.id IN "+aliceSees+" GROUP BY p.last", mode, pgx.TextFormatCode)
		if err != nil {
			t.Fatalf("%v: %v", mode, err)
		}
		if multiset(got) != multiset(want) || strings.Count(got, "\n") < 2 {
			t.Fatalf("%v: dr_alice\n%s\nadmin's filter\n%s", mode, got, want)
		}
	}
	research := p.as(t, "researcher")
	wantCodes(t, []codeCase{
		{research, "SELECT first, count(*) FROM patients GROUP BY first", "42501"},
		{research, "SELECT birthdate, count(*) FROM patients GROUP BY birthdate", "42501"},
	})
}

// TestGroupOrderedShapes: GROUP BY with ORDER BY (the group columns, the
// aggregates, by position, output name or as written) and LIMIT/OFFSET,
// the ORM's "count per value" screen, against the plaintext tables in
// both protocols and result formats.
func TestGroupOrderedShapes(t *testing.T) {
	t.Parallel()
	f := newSortFixture(t, 150, nil)
	for _, q := range []string{
		`SELECT name, count(*) FROM %[1]s GROUP BY name ORDER BY name`,
		`SELECT name, count(*) FROM %[1]s GROUP BY name ORDER BY count(*) DESC, name LIMIT 10`,
		`SELECT name AS n, count(*) AS c FROM %[1]s GROUP BY name ORDER BY c, n DESC NULLS LAST OFFSET 2`,
		`SELECT grp, min(name), max(born), count(DISTINCT score) FROM %[1]s GROUP BY grp ORDER BY 2 DESC NULLS FIRST, 3, 4 DESC, 1`,
		`SELECT born, tag, count(*) FROM %[1]s WHERE name >= 'S' GROUP BY born, tag ORDER BY tag NULLS FIRST, born DESC`,
		`SELECT a.city, count(DISTINCT p.name) AS d FROM %[2]s a JOIN %[1]s p ON p.id = a.person GROUP BY a.city ORDER BY d DESC, a.city FETCH FIRST 3 ROWS ONLY`,
		`SELECT grp, count(*) FROM %[1]s WHERE born < '1970-01-01' GROUP BY grp ORDER BY grp DESC`,
		`SELECT name, count(*) FROM %[1]s WHERE id < 0 GROUP BY name ORDER BY name`,
	} {
		f.same(t, q)
	}
	f.same(t, `SELECT name, count(*) FROM %[1]s WHERE grp <> $1 GROUP BY name ORDER BY count(*) DESC, name LIMIT $2 OFFSET $3`, 2, 5, 1)
}

// TestGroupOrderedDifferential generates GROUP BY statements as
// TestGroupEncryptedDifferential does, with an ORDER BY of their
// select-list entries (aggregates and group columns, by position, output
// name or as written, every direction and NULLS order; every group column
// among them, so that the order is determined) and LIMIT/OFFSET, and runs
// each on the plaintext tables directly and on the encrypted ones through
// phiguard in both protocols: no answer may differ, row order included.
// Other samples: PHIGUARD_SORT_SEED.
func TestGroupOrderedDifferential(t *testing.T) {
	t.Parallel()
	f := newSortFixture(t, 120, nil)
	seed := uint64(envInt(t, "PHIGUARD_SORT_SEED", 1))
	r := rand.New(rand.NewPCG(seed, 23))
	const statements = 150
	differ := 0
	for i := range statements {
		q, args := genOrderedGroupStatement(r)
		for _, mode := range bothModes {
			want, werr := rowsRaw(t, f.dir, f.sql(q, 0), mode, pgx.TextFormatCode, args...)
			got, gerr := rowsRaw(t, f.via, f.sql(q, 1), mode, pgx.TextFormatCode, args...)
			if werr != nil {
				t.Fatalf("statement %d directly: %s: %v", i, q, werr)
			}
			if gerr != nil || got != want {
				differ++
				t.Errorf("statement %d (%v) %s %v: through phiguard %v\n%s\ndirectly\n%s", i, mode, q, args, gerr, got, want)
			}
		}
	}
	t.Logf("seed %d, %d statements, both protocols: %d different answers", seed, statements, differ)
}

// genOrderedGroupStatement is genGroupStatement's shape with an ORDER BY
// that determines the order, and maybe LIMIT and OFFSET.
func genOrderedGroupStatement(r *rand.Rand) (string, []any) {
	q, args := genGroupStatement(r)
	head, groupBy, _ := strings.Cut(q, " GROUP BY ")
	sel, from, _ := strings.Cut(strings.TrimPrefix(head, "SELECT "), " FROM ")
	entries := strings.Split(sel, ", ")
	groups := strings.Split(groupBy, ", ")
	var order, named []string
	for i, e := range entries {
		named = append(named, e)
		if r.IntN(3) == 0 {
			named[i] = fmt.Sprintf("%s AS c%d", e, i)
		}
	}
	for _, i := range r.Perm(len(entries)) {
		isGroup := i < len(groups)
		if !isGroup && r.IntN(2) == 0 {
			continue // not every aggregate
		}
		var ref string
		switch {
		case strings.Contains(named[i], " AS ") && r.IntN(2) == 0:
			ref = fmt.Sprintf("c%d", i)
		case r.IntN(2) == 0:
			ref = fmt.Sprint(i + 1)
		default:
			ref = entries[i]
		}
		order = append(order, ref+pick(r, "", " ASC", " DESC")+pick(r, "", "", " NULLS FIRST", " NULLS LAST"))
	}
	q = fmt.Sprintf("SELECT %s FROM %s GROUP BY %s ORDER BY %s", strings.Join(named, ", "), from, groupBy, strings.Join(order, ", "))
	switch r.IntN(4) {
	case 0:
		q += fmt.Sprintf(" LIMIT %d", r.IntN(8))
	case 1:
		q += fmt.Sprintf(" LIMIT %d OFFSET %d", 1+r.IntN(8), r.IntN(5))
	case 2:
		q += fmt.Sprintf(" OFFSET %d", r.IntN(10))
	}
	return q, args
}
