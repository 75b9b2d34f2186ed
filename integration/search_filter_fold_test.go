package integration

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

// Case folding in proxy-side WHERE (docs/search.md): ILIKE and
// lower()/upper() of an encrypted text column, or of the constant
// compared with it, give the plaintext table's answers (the test
// cluster's collation is C: only ASCII letters fold), in both protocols.

// foldNames are people added to a sort fixture for these tests: both
// cases of ASCII and non-ASCII letters, and values holding the wildcards
// and the escape.
var foldNames = []string{"SMITH", "sMiTh", "ÖLZ", "ölz", "Straße", "STRASSE", "İlker", "ilker", "100%", "100x",
	"a_b", "A_B", "axb", `back\slash`, "O'NEIL", "mary-ann", "MARY-ANN", "Zoë", "ZOË", "é", "É", "!", "b%"}

// addFoldNames writes foldNames as people n+1, n+2, … on both sides.
func (f *sortFixture) addFoldNames(t *testing.T, n int) {
	t.Helper()
	for side, conn := range []*pgx.Conn{f.dir, f.via} {
		b := &pgx.Batch{}
		for i, name := range foldNames {
			b.Queue(fmt.Sprintf("INSERT INTO %s (id, name, tag, grp) VALUES ($1, $2, $3, $4)", f.people[side]),
				n+1+i, name, fmt.Sprintf("T%d", i%4), i%5)
		}
		if err := conn.SendBatch(testContext(t), b).Close(); err != nil {
			t.Fatalf("side %d: %v", side, err)
		}
	}
}

func TestFilterFoldShapes(t *testing.T) {
	t.Parallel()
	f := newSortFixture(t, 60, nil)
	f.addFoldNames(t, 60)
	// The search box, sorted: the text and binary formats, both protocols.
	f.same(t, `SELECT "a"."id", "a"."name" FROM %[1]s "a" WHERE "a"."name" ILIKE $1 ESCAPE $2 AND "a"."grp" <> $3 ORDER BY "a"."name" ASC, "a"."id" ASC`, "%mit%", `\`, 4)
	f.same(t, `SELECT id, name FROM %[1]s WHERE lower(name) = lower($1) ORDER BY name, id LIMIT 5`, "SMITH")
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{"SELECT id, name FROM %[1]s WHERE name ILIKE '%%ÖL%%'", nil}, // Ö does not fold under C
		{"SELECT id, name FROM %[1]s WHERE name ILIKE '%%öl%%'", nil},
		{"SELECT id, name FROM %[1]s WHERE name ILIKE 'STRA%%' AND name NOT ILIKE '%%ss%%'", nil},
		{"SELECT id, name FROM %[1]s WHERE name ~~* 'smith' AND name !~~* $1", []any{"SMITH"}},
		{"SELECT id, name FROM %[1]s WHERE name ~~ 'S%%' AND name !~~ '%%h'", nil},
		{"SELECT id, name FROM %[1]s WHERE name ILIKE '100!%%' ESCAPE '!'", nil},
		{"SELECT id, name FROM %[1]s WHERE name ILIKE 'A!_B' ESCAPE '!'", nil},
		{`SELECT id, name FROM %[1]s WHERE name ILIKE 'A\_b'`, nil},
		{"SELECT id, name FROM %[1]s WHERE name ILIKE 'B%%' ESCAPE 'B'", nil}, // like_escape before lower(): B escapes %
		{"SELECT id, name FROM %[1]s WHERE name ILIKE '%%a%%' ESCAPE 'A'", nil},
		{"SELECT id, name FROM %[1]s WHERE name ILIKE $1 ESCAPE ''", []any{`BACK\SLASH`}},
		{"SELECT id, name FROM %[1]s WHERE name ILIKE '%%' ESCAPE ''", nil},
		{"SELECT id, name FROM %[1]s WHERE name ILIKE NULL", nil},
		{"SELECT id, name FROM %[1]s WHERE name ILIKE $1 ESCAPE $2", []any{"x", nil}},
		{"SELECT id, name FROM %[1]s WHERE name NOT ILIKE $1 AND grp < 3", []any{"%A%"}},
		{"SELECT id, name FROM %[1]s WHERE upper(name) = 'SMITH'", nil},
		{"SELECT id, name FROM %[1]s WHERE lower(name) <> 'smith' AND name IS NOT NULL", nil},
		{"SELECT id, name FROM %[1]s WHERE pg_catalog.lower(name) LIKE 'sm%%'", nil},
		{"SELECT id, name FROM %[1]s WHERE upper(name) ILIKE 'öl%%'", nil},
		{"SELECT id, name FROM %[1]s WHERE lower(name) BETWEEN 'a' AND $1", []any{"n"}},
		{"SELECT id, name FROM %[1]s WHERE lower(name) >= lower($1) AND upper(name) < 'T'", []any{"MARY"}},
		{"SELECT id, name FROM %[1]s WHERE name = upper($1)", []any{"smith"}},
		{"SELECT id, name FROM %[1]s WHERE upper($1) = upper(name)", []any{"ilker"}},
		{"SELECT id, name FROM %[1]s WHERE lower(name) IS DISTINCT FROM lower($1)", []any{nil}},
		{"SELECT id, name FROM %[1]s WHERE lower(name) IS NOT DISTINCT FROM lower(NULL)", nil},
		{"SELECT id, name FROM %[1]s WHERE name ILIKE lower($1) ESCAPE 'X'", []any{"%X%%"}}, // lower() first: x escapes nothing
		{"SELECT id, name, tag FROM %[1]s WHERE tag ILIKE 't1' AND lower(tag) = 't1' AND tag = upper('t1')", nil},
		{"SELECT a.id, a.city FROM %[2]s a LEFT JOIN %[1]s p ON p.id = a.person WHERE a.city ILIKE 'BERN' AND p.name ILIKE $1", []any{"%M%"}},
	} {
		f.sameRows(t, q.sql, q.args...)
	}
}

// TestFilterFoldErrors: PostgreSQL's errors, with its SQLSTATE, in both
// protocols: a pattern ending in its escape when a match reaches it
// (22025), an ESCAPE of two characters (22025).
func TestFilterFoldErrors(t *testing.T) {
	t.Parallel()
	f := newSortFixture(t, 40, nil)
	f.addFoldNames(t, 40)
	for _, c := range []struct {
		sql  string
		args []any
	}{
		{"SELECT id FROM %[1]s WHERE name ILIKE 'SM!' ESCAPE '!'", nil},
		{`SELECT id FROM %[1]s WHERE name ILIKE $1`, []any{`sm\`}},
		{"SELECT id FROM %[1]s WHERE lower(name) LIKE lower($1) ESCAPE $2", []any{"SMX", "x"}},
		{"SELECT id FROM %[1]s WHERE name ILIKE 'a' ESCAPE '!!'", nil},
	} {
		for _, mode := range bothModes {
			_, werr := rowsRaw(t, f.dir, f.sql(c.sql, 0), mode, pgx.TextFormatCode, c.args...)
			_, gerr := rowsRaw(t, f.via, f.sql(c.sql, 1), mode, pgx.TextFormatCode, c.args...)
			wantCode(t, werr, "22025", "")
			wantCode(t, gerr, "22025", "")
		}
	}
}

// TestFilterFoldDifferential: generated statements as
// TestFilterEncryptedDifferential's, each with one more conjunct that
// folds case (ILIKE and its spelling, NOT, ESCAPE, lower()/upper() of the
// column or of the constant, under every comparison phiguard evaluates,
// literals, parameters and NULL), over the fixture and foldNames, run on
// the plaintext tables directly and through phiguard in both protocols:
// no answer may differ. It runs under the cluster's C collation, and
// again with the text columns under a collation ordering as C whose
// LC_CTYPE is C.utf8 (non-ASCII letters fold, with the C library's
// towlower_l: internal/pgcollate). The seed is fixed (PHIGUARD_FOLD_SEED, 13 unless
// set; PHIGUARD_FOLD_STATEMENTS, 150 unless set).
func TestFilterFoldDifferential(t *testing.T) {
	t.Parallel()
	for _, ctype := range []string{"C", "C.utf8"} {
		t.Run(ctype, func(t *testing.T) {
			t.Parallel()
			f := newSortFixture(t, 300, nil)
			f.addFoldNames(t, 300)
			if ctype != "C" {
				f.collateText(t, ctype)
			}
			foldDifferential(t, f)
		})
	}
}

// collateText puts the fixture's text columns, on both sides, under a
// collation ordering as C whose LC_CTYPE is ctype, and logs in again
// through phiguard.
func (f *sortFixture) collateText(t *testing.T, ctype string) {
	t.Helper()
	coll := uniqueName("fold_ctype")
	sql := fmt.Sprintf("CREATE COLLATION %s (LC_COLLATE = 'C', LC_CTYPE = '%s')", coll, ctype)
	for side := range 2 {
		sql += fmt.Sprintf("; ALTER TABLE %[1]s ALTER COLUMN name TYPE text COLLATE %[3]s, ALTER COLUMN tag TYPE text COLLATE %[3]s"+
			"; ALTER TABLE %[2]s ALTER COLUMN city TYPE text COLLATE %[3]s", f.people[side], f.addresses[side], coll)
	}
	if _, err := superuser(t).Exec(testContext(t), sql); err != nil {
		t.Fatal(err)
	}
	f.via = f.p.app(t)
}

// foldDifferential runs TestFilterFoldDifferential's statements on f.
func foldDifferential(t *testing.T, f *sortFixture) {
	seed := uint64(envInt(t, "PHIGUARD_FOLD_SEED", 13))
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewPCG(seed, 1313))
	statements := envInt(t, "PHIGUARD_FOLD_STATEMENTS", 150)
	differ, nonEmpty := 0, 0
	for i := range statements {
		q, args := genFoldStatement(r)
		for _, mode := range bothModes {
			want, werr := rowsRaw(t, f.dir, f.sql(q, 0), mode, pgx.TextFormatCode, args...)
			got, gerr := rowsRaw(t, f.via, f.sql(q, 1), mode, pgx.TextFormatCode, args...)
			if werr != nil {
				t.Fatalf("statement %d directly: %s %v: %v", i, q, args, werr)
			}
			if gerr != nil || got != want {
				differ++
				t.Errorf("statement %d (%v) %s %v: through phiguard %v\n%s\ndirectly\n%s", i, mode, q, args, gerr, got, want)
			}
			if strings.Count(want, "\n") > 0 {
				nonEmpty++
			}
		}
	}
	t.Logf("%d statements, both protocols: %d different answers, %d of %d answers with rows", statements, differ, nonEmpty, 2*statements)
	if nonEmpty < statements/2 {
		t.Fatalf("only %d answers of %d have rows", nonEmpty, 2*statements)
	}
}

// genFoldStatement is a SELECT of people, or of addresses joined to
// them, with one or two conjuncts that fold case beside a plaintext one,
// sorted by an encrypted or plaintext key and a unique one, with a LIMIT
// and OFFSET or not.
func genFoldStatement(r *rand.Rand) (string, []any) {
	join := r.IntN(3) == 0
	from, unique, sel := "%[1]s p", "p.id", "p.id, p.name"
	if join {
		from, unique, sel = "%[2]s a LEFT JOIN %[1]s p ON p.id = a.person", "a.id", "a.id, p.name, a.city"
	}
	sel += pick(r, "", ", p.tag", ", p.born")
	var args []any
	where := []string{pick(r, "true", "p.grp <> 3", "p.id > 40")}
	for range 1 + r.IntN(2) {
		where = append(where, genFoldConjunct(r, join, &args))
	}
	q := fmt.Sprintf("SELECT %s FROM %s WHERE %s ORDER BY %s%s", sel, from, strings.Join(where, " AND "),
		pick(r, "", "p.name, ", "p.name DESC NULLS FIRST, ", "p.tag, ", "p.grp DESC, "), unique)
	switch r.IntN(4) {
	case 0:
		q += fmt.Sprintf(" LIMIT %d", 1+r.IntN(30))
	case 1:
		q += fmt.Sprintf(" LIMIT $%d OFFSET $%d", len(args)+1, len(args)+2)
		args = append(args, 1+r.IntN(30), r.IntN(10))
	}
	return q, args
}

// genFoldConjunct is one conjunct that folds case, its parameters
// numbered after args.
func genFoldConjunct(r *rand.Rand, join bool, args *[]any) string {
	col := pick(r, "p.name", "p.name", "p.name", "p.tag")
	if join && r.IntN(3) == 0 {
		col = "a.city"
	}
	param := func(vals ...string) string {
		*args = append(*args, vals[r.IntN(len(vals))])
		return fmt.Sprintf("$%d", len(*args))
	}
	constant := func() string {
		c := pick(r, "'SMITH'", "'smith'", "'ölz'", "'ÖLZ'", "'Straße'", "'mary-ann'", "''", "'T1'", "'t2'", "'BERN'", "'m'", "NULL",
			"'ADAMS'", "'zhang'", "'ann-marie'", "'S'", "'o''neil'", "'Zürich'", "'basel'")
		if r.IntN(3) == 0 {
			c = param("SMITH", "adams", "Zürich", "T3", "o'neil", "N")
		}
		if r.IntN(3) == 0 {
			c = pick(r, "lower(", "upper(", "pg_catalog.lower(") + c + ")"
		}
		return c
	}
	// A pattern, with an ESCAPE unless the operator is spelled out.
	pattern := func(escape bool) string {
		if r.IntN(4) == 0 {
			p := param("%mit%", "S%", "%Ö%", "ölz", "MARY%", "%T_", "%!%%", "b%")
			p = pick(r, p, p, "lower("+p+")", "upper("+p+")")
			if escape {
				p += pick(r, "", "", " ESCAPE '!'")
			}
			return p
		}
		p := pick(r, "'%%MIT%%'", "'s%%'", "'%%ö%%'", "'%%Ö%%'", "'_MITH'", "'%%A%%'", "'%%m%%'", "'%%N%%'", "'%%'", "'%%H'", `'%%\%%'`, "'A_B'", "'t_'", "'%%ERN'", "'%%R%%N'",
			"NULL", "upper('%%a%%')")
		if escape && r.IntN(2) == 0 {
			p = pick(r, "'100!%%' ESCAPE '!'", "'%%!_%%' ESCAPE '!'", "'%%' ESCAPE ''", "'%%A%%' ESCAPE 'a'", "'B%%' ESCAPE 'B'",
				"lower('%%MIT%%') ESCAPE 'M'", "$1 ESCAPE '!'")
			if strings.HasPrefix(p, "$") {
				p = param("%!_%", "S%", "%!%%") + " ESCAPE '!'"
			}
		}
		return p
	}
	expr := col
	if r.IntN(2) == 0 {
		expr = pick(r, "lower(", "upper(") + col + ")"
	}
	switch op := r.IntN(10); {
	case op < 2:
		return col + pick(r, " ILIKE ", " NOT ILIKE ") + pattern(true)
	case op < 4:
		return col + pick(r, " ILIKE ", " ~~* ", " !~~* ") + pattern(false)
	case op < 5:
		return expr + pick(r, " LIKE ", " NOT ILIKE ", " ILIKE ") + pattern(true)
	case op < 8:
		c := constant()
		if r.IntN(4) == 0 {
			return c + " " + pick(r, "=", "<>", "<", ">=") + " " + expr
		}
		return expr + " " + pick(r, "=", "=", "<>", "<", "<=", ">", ">=") + " " + c
	case op < 9:
		return expr + pick(r, " BETWEEN ", " NOT BETWEEN SYMMETRIC ") + constant() + " AND " + constant()
	}
	return expr + pick(r, " IS DISTINCT FROM ", " IS NOT DISTINCT FROM ") + constant()
}

// TestFilterFoldCollations: case is mapped under LC_CTYPE C or POSIX, or
// under a libc locale with the C library's own functions (C.utf8 here;
// internal/pgcollate checks them on every code point): a column whose collation orders by
// bytes and maps case under C.utf8, and a constant's lower() in a
// database whose default LC_CTYPE is C.utf8, give PostgreSQL's answers
// (Ö folds to ö there); an ICU collation is refused (0A000), naming the
// column and the collation.
func TestFilterFoldCollations(t *testing.T) {
	t.Parallel()
	f := newSortFixture(t, 30, nil)
	f.addFoldNames(t, 30)
	ctx := testContext(t)
	su := superuser(t)
	coll := uniqueName("ctype_utf8")
	if _, err := su.Exec(ctx, fmt.Sprintf(`CREATE COLLATION %s (LC_COLLATE = 'C', LC_CTYPE = 'C.utf8');
ALTER TABLE %s ALTER COLUMN name TYPE text COLLATE %s; ALTER TABLE %s ALTER COLUMN name TYPE text COLLATE %s`,
		coll, f.people[0], coll, f.people[1], coll)); err != nil {
		t.Fatal(err)
	}
	f.via = f.p.app(t) // a session reading its catalog after the DDL
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{"SELECT id, name FROM %[1]s WHERE name ILIKE '%%ö%%'", nil},
		{"SELECT id, name FROM %[1]s WHERE lower(name) = 'ölz' AND upper(name) LIKE 'ÖL%%'", nil},
		{"SELECT id, name FROM %[1]s WHERE name NOT ILIKE $1 AND name ~~* '%%S%%'", []any{"%STRASSE%"}},
		{"SELECT id, name FROM %[1]s WHERE lower(name) <> lower($1)", []any{"ÖLZ"}}, // lower($1) maps under the default, C
		{"SELECT id, name FROM %[1]s WHERE upper(name) = 'ZOË'", nil},
		{"SELECT id, name FROM %[1]s WHERE lower(name) > 'm' ORDER BY name, id", nil}, // LC_COLLATE C: bytes
	} {
		f.sameRows(t, q.sql, q.args...)
	}
	// A libc collation for both (C.utf8): =, <>, LIKE and ILIKE compare
	// bytes, a range orders with strcoll_l (the collation rule).
	if _, err := su.Exec(ctx, fmt.Sprintf(`ALTER TABLE %s ALTER COLUMN city TYPE text COLLATE "C.utf8"; ALTER TABLE %s ALTER COLUMN city TYPE text COLLATE "C.utf8"`,
		f.addresses[0], f.addresses[1])); err != nil {
		t.Fatal(err)
	}
	f.via = f.p.app(t) // a session reading its catalog after the DDL
	f.sameRows(t, "SELECT id, city FROM %[2]s WHERE city ILIKE 'ZÜ%%' AND city <> 'Bern' AND lower(city) LIKE '%%r%%'")
	f.sameRows(t, "SELECT id, city FROM %[2]s WHERE upper(city) IS DISTINCT FROM $1 AND city = 'Basel'", "BERN")
	f.sameRows(t, "SELECT id, city FROM %[2]s WHERE city > 'B' AND lower(city) < 'zz'")
	// An ICU collation is refused.
	var icu string
	if err := su.QueryRow(ctx, `SELECT l.oid::regcollation::text FROM pg_collation l WHERE l.collprovider = 'i' LIMIT 1`).Scan(&icu); err != nil {
		t.Fatalf("no ICU collation in the test cluster: %v", err)
	}
	if _, err := su.Exec(ctx, fmt.Sprintf(`ALTER TABLE %s ALTER COLUMN city TYPE text COLLATE %s`, f.addresses[1], icu)); err != nil {
		t.Fatal(err)
	}
	f.via = f.p.app(t) // a session reading its catalog after the DDL
	for _, mode := range bothModes {
		_, err := rowsRaw(t, f.via, f.sql("SELECT id FROM %[2]s WHERE city ILIKE 'b%%'", 1), mode, 0)
		wantCode(t, err, "0A000", "public."+f.addresses[1]+".city under collation")
		_, err = rowsRaw(t, f.via, f.sql("SELECT id FROM %[2]s WHERE lower(city) = $1", 1), mode, 0, "bern")
		wantCode(t, err, "0A000", "under collation")
	}
	// A database whose default LC_CTYPE is C.utf8: a constant's upper()
	// maps under it, though the column's collation is C.
	db := uniqueName("ctypedb")
	if _, err := su.Exec(ctx, fmt.Sprintf("CREATE DATABASE %s ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C.utf8' TEMPLATE template0 OWNER %s", db, appUser)); err != nil {
		t.Fatal(err)
	}
	other := connect(t, f.p.url(appUser, appPassword, db))
	if _, err := other.Exec(ctx, fmt.Sprintf(`CREATE TABLE %s (id int PRIMARY KEY, name text COLLATE "C", born text, score text, tag text, grp int);
INSERT INTO %s (id, name, born, score, tag, grp) VALUES (1, 'ÖLZ', NULL, NULL, NULL, NULL), (2, 'Ölz', NULL, NULL, NULL, NULL)`, f.people[1], f.people[1])); err != nil {
		t.Fatal(err)
	}
	for _, mode := range bothModes {
		got, err := rowsRaw(t, other, f.sql("SELECT id FROM %[1]s WHERE name = upper($1) ORDER BY id", 1), mode, 0, "ölz")
		if err != nil || !strings.HasPrefix(got, "1\n(") { // PostgreSQL: upper('ölz') is 'ÖLZ' under C.utf8
			t.Fatalf("upper($1) in a C.utf8 database (%v): %q %v", mode, got, err)
		}
		got, err = rowsRaw(t, other, f.sql("SELECT id FROM %[1]s WHERE name ILIKE 'ölz' ORDER BY id", 1), mode, 0)
		if err != nil || !strings.HasPrefix(got, "(SELECT 0)") { // under the column's C: Ö does not fold
			t.Fatalf("ILIKE on a C column in a C.utf8 database (%v): %q %v", mode, got, err)
		}
	}
}
