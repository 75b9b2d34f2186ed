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
