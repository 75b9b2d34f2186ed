package integration

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

// multiset makes rowsRaw answers comparable when PostgreSQL's row order
// is unspecified (no ORDER BY): the rows sorted, the tag kept last.
func multiset(s string) string {
	lines := strings.Split(s, "\n")
	tag := lines[len(lines)-1]
	rows := slices.Clone(lines[:len(lines)-1])
	slices.Sort(rows)
	return strings.Join(append(rows, tag), "\n")
}

// TestDistinctEncryptedShapes: SELECT DISTINCT over randomized columns,
// with and without ORDER BY, LIMIT/OFFSET and a proxy-side WHERE, against
// the plaintext tables, in both protocols and result formats.
func TestDistinctEncryptedShapes(t *testing.T) {
	t.Parallel()
	f := newSortFixture(t, 150, nil)
	unordered := []string{
		`SELECT DISTINCT name FROM %[1]s`,
		`SELECT DISTINCT name, grp FROM %[1]s`,
		`SELECT DISTINCT born, score FROM %[1]s WHERE grp > 1`,
		`SELECT DISTINCT p.name, a.city FROM %[2]s a JOIN %[1]s p ON p.id = a.person`,
		`SELECT DISTINCT tag, name FROM %[1]s WHERE name >= 'S'`,
		`SELECT DISTINCT mod(grp, 2) AS odd, name, 'x' AS c FROM %[1]s`,
		`SELECT DISTINCT tag FROM %[1]s WHERE born < '1970-01-01'`, // deterministic, with a proxy-side WHERE
		`SELECT DISTINCT tag FROM %[1]s`,                           // deterministic alone: the database's DISTINCT
		`SELECT DISTINCT name FROM %[1]s WHERE id < 0`,
	}
	for _, q := range unordered {
		f.compare(t, q, multiset)
	}
	ordered := []string{
		`SELECT DISTINCT name FROM %[1]s ORDER BY name`,
		`SELECT DISTINCT name FROM %[1]s ORDER BY name DESC NULLS LAST LIMIT 3 OFFSET 1`,
		`SELECT DISTINCT name, grp FROM %[1]s ORDER BY grp DESC, name LIMIT 7`,
		`SELECT DISTINCT born AS b, name FROM %[1]s WHERE born BETWEEN '1950-01-01' AND '1975-12-31' ORDER BY b, 2 NULLS FIRST OFFSET 4`,
		`SELECT DISTINCT a.city, p.tag FROM %[2]s a LEFT JOIN %[1]s p ON p.id = a.person ORDER BY a.city, p.tag`,
		`SELECT DISTINCT score FROM %[1]s ORDER BY score DESC FETCH FIRST 5 ROWS ONLY`,
		`SELECT DISTINCT tag FROM %[1]s ORDER BY tag`,
	}
	for _, q := range ordered {
		f.same(t, q)
	}
	f.same(t, `SELECT DISTINCT name, grp FROM %[1]s WHERE grp = $1 ORDER BY name, grp LIMIT $2 OFFSET $3`, 2, 4, 1)
}

// TestDistinctEncryptedDifferential generates SELECT DISTINCT statements
// over the sort fixture (random select lists of encrypted and plaintext
// columns and expressions, with or without proxy-side WHERE conjuncts,
// ORDER BY over the whole select list, LIMIT and OFFSET) and runs each
// on the plaintext tables directly and on the encrypted ones through
// phiguard in both protocols: no answer may differ. Without ORDER BY the
// rows are compared as multisets. Other samples: PHIGUARD_SORT_SEED.
func TestDistinctEncryptedDifferential(t *testing.T) {
	t.Parallel()
	f := newSortFixture(t, 120, nil)
	seed := uint64(envInt(t, "PHIGUARD_SORT_SEED", 1))
	r := rand.New(rand.NewPCG(seed, 11))
	const statements = 120
	differ := 0
	for i := range statements {
		q, args, ordered := genDistinctStatement(r)
		key := multiset
		if ordered {
			key = func(s string) string { return s }
		}
		for _, mode := range bothModes {
			want, werr := rowsRaw(t, f.dir, f.sql(q, 0), mode, pgx.TextFormatCode, args...)
			got, gerr := rowsRaw(t, f.via, f.sql(q, 1), mode, pgx.TextFormatCode, args...)
			if werr != nil {
				t.Fatalf("statement %d directly: %s: %v", i, q, werr)
			}
			if gerr != nil || key(got) != key(want) {
				differ++
				t.Errorf("statement %d (%v) %s %v: through phiguard %v\n%s\ndirectly\n%s", i, mode, q, args, gerr, got, want)
			}
		}
	}
	t.Logf("seed %d, %d statements, both protocols: %d different answers", seed, statements, differ)
}

// genDistinctStatement is one random SELECT DISTINCT, its parameters, and
// whether its order is determined (an ORDER BY of every entry).
func genDistinctStatement(r *rand.Rand) (string, []any, bool) {
	join := r.IntN(3) == 0
	pool := []string{"p.name", "p.born", "p.score", "p.tag", "p.grp", "mod(p.grp, 2)", "p.name IS NULL"}
	if join {
		pool = append(pool, "a.city", "a.sequence", "a.active")
	}
	var sel []string
	for range 1 + r.IntN(3) {
		sel = append(sel, pool[r.IntN(len(pool))])
	}
	from := "%[1]s p"
	if join {
		from = "%[2]s a LEFT JOIN %[1]s p ON p.id = a.person"
	}
	where := []string{pick(r, "true", "p.grp <> 3", "p.id > 40")}
	var args []any
	filtered := r.IntN(2) == 0
	if filtered {
		where, args = genFilterConjuncts(r, join, where)
		for i, s := range sel { // a computed entry beside a proxy-side WHERE is refused
			if strings.Contains(s, "(") || strings.Contains(s, " IS ") {
				sel[i] = "p.grp"
			}
		}
	}
	q := fmt.Sprintf("SELECT DISTINCT %s FROM %s WHERE %s", strings.Join(sel, ", "), from, strings.Join(where, " AND "))
	if r.IntN(3) == 0 {
		return q, args, false
	}
	var keys []string
	for _, i := range r.Perm(len(sel)) {
		keys = append(keys, fmt.Sprint(i+1)+pick(r, "", " DESC")+pick(r, "", " NULLS FIRST", " NULLS LAST"))
	}
	q += " ORDER BY " + strings.Join(keys, ", ")
	switch r.IntN(3) {
	case 0:
		q += fmt.Sprintf(" LIMIT %d", r.IntN(20))
	case 1:
		q += fmt.Sprintf(" LIMIT $%d OFFSET $%d", len(args)+1, len(args)+2)
		args = append(args, r.IntN(20), r.IntN(30))
	}
	return q, args, true
}

// TestDistinctEncryptedRefusals: values PostgreSQL calls equal that print
// differently, a nondeterministic collation, DISTINCT ON, and a role that
// sees the column masked.
func TestDistinctEncryptedRefusals(t *testing.T) {
	t.Parallel()
	tw := newTwin(t, "distn", twinColumn{"id", "int", ""},
		twinColumn{"amount", "numeric", "{mode: randomized, key: distn, type: numeric}"},
		twinColumn{"name", "text", "{mode: randomized, key: distn, type: text}"})
	tw.exec(t, "INSERT INTO %s (id, amount, name) VALUES (1, 1.5, 'a'), (2, 2.0, 'a'), (3, 1.5, 'b')", pgx.QueryExecModeSimpleProtocol)
	for _, mode := range bothModes {
		tw.same(t, "SELECT DISTINCT amount FROM %s ORDER BY amount", mode, "distinct numeric")
		tw.same(t, "SELECT DISTINCT name, amount FROM %s ORDER BY 1, 2", mode, "distinct pairs")
	}
	tw.exec(t, "INSERT INTO %s (id, amount, name) VALUES (4, 2.00, 'c')", pgx.QueryExecModeSimpleProtocol)
	for _, mode := range bothModes {
		_, err := rowsRaw(t, tw.via, fmt.Sprintf("SELECT DISTINCT amount FROM %s", tw.enc), mode, 0)
		wantCode(t, err, "0A000", "print differently")
		_, err = rowsRaw(t, tw.via, fmt.Sprintf("SELECT DISTINCT ON (id) name FROM %s", tw.enc), mode, 0)
		wantCode(t, err, "0A000", "DISTINCT")
	}
	ctx := testContext(t)
	var coll string
	if err := tw.dir.QueryRow(ctx, `SELECT collname FROM pg_collation WHERE collname = 'und-x-icu'`).Scan(&coll); err != nil {
		t.Fatalf("no ICU collation in the test cluster (pg_collation): %v", err)
	}
	su := superuser(t)
	if _, err := su.Exec(ctx, `CREATE COLLATION IF NOT EXISTS phiguard_ci (provider = icu, locale = 'und-u-ks-level2', deterministic = false)`); err != nil {
		t.Fatal(err)
	}
	if _, err := su.Exec(ctx, fmt.Sprintf(`ALTER TABLE %s ALTER COLUMN name TYPE text COLLATE phiguard_ci`, tw.enc)); err != nil {
		t.Fatal(err)
	}
	_, err := rowsAfterCollationDDL(t, tw.via, fmt.Sprintf("SELECT DISTINCT name FROM %s", tw.enc))
	wantCode(t, err, "0A000", "nondeterministic collation")
}

// TestDistinctEncryptedUnderAccessRules: a proxy-side DISTINCT composes
// with row rules (dr_alice's distinct names are the administrator's over
// her rows) and column rules (a role that sees a column masked,
// pseudonymized or nulled cannot have its duplicates removed).
func TestDistinctEncryptedUnderAccessRules(t *testing.T) {
	t.Parallel()
	fx := accessFixture(t)
	p := startAccessProxy(t, fx)
	alice, admin := p.as(t, "dr_alice"), p.as(t, "admin_ann")
	for _, mode := range bothModes {
		got, err := rowsRaw(t, alice, "SELECT DISTINCT p.last FROM patients p ORDER BY p.last DESC LIMIT 40", mode, pgx.TextFormatCode)
		if err != nil {
			t.Fatalf("%v: %v", mode, err)
		}
		want, err := rowsRaw(t, admin, "SELECT DISTINCT p.last FROM patients p WHERE p.id IN "+aliceSees+" ORDER BY p.last DESC LIMIT 40", mode, pgx.TextFormatCode)
		if err != nil {
			t.Fatalf("%v: %v", mode, err)
		}
		if got != want || strings.Count(got, "\n") < 2 {
			t.Fatalf("%v: dr_alice\n%s\nadmin's filter\n%s", mode, got, want)
		}
	}
	biller, research := p.as(t, "biller"), p.as(t, "researcher")
	wantCodes(t, []codeCase{
		{biller, "SELECT DISTINCT ssn FROM patients", "42501"},
		{research, "SELECT DISTINCT first FROM patients", "42501"},
		{research, "SELECT DISTINCT birthdate FROM patients ORDER BY 1", "42501"},
		{biller, "SELECT DISTINCT first, last FROM patients ORDER BY last, first", ""},
	})
}
