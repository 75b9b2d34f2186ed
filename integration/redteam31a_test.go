package integration

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/phiguard/phiguard/keys"
)

// redTeam31aCase is a statement on the shredded twin, its table written
// %[1]s, with its parameters.
type redTeam31aCase struct {
	q    string
	args []any
}

// sameShredded runs each case on the plaintext twin and through
// phiguard in both protocols: the same answer, or a refusal with a
// SQLSTATE; it returns the cases that differed.
func (tw *shreddedTwin) sameShredded(t *testing.T, label string, cases []redTeam31aCase, modes ...pgx.QueryExecMode) (differed []string) {
	t.Helper()
	if modes == nil {
		modes = bothModes
	}
	for _, c := range cases {
		for _, mode := range modes {
			want, werr := rowsRaw(t, tw.dir, fmt.Sprintf(c.q, tw.plain), mode, pgx.TextFormatCode, c.args...)
			got, gerr := rowsRaw(t, tw.via, fmt.Sprintf(c.q, tw.enc), mode, pgx.TextFormatCode, c.args...)
			var pe *pgconn.PgError
			switch {
			case werr != nil:
				t.Fatalf("%s: %s: plaintext: %v", label, c.q, werr)
			case gerr == nil && got == want:
			case errors.As(gerr, &pe) && pe.Code != "08P01" && pe.Code != "XX000":
				t.Logf("%s: %s %v (%v): refused %s %s", label, c.q, c.args, mode, pe.Code, pe.Message)
			default:
				differed = append(differed, c.q)
				t.Errorf("%s: %s %v (%v): through phiguard %v\n%s\nthe plaintext with the marker\n%s",
					label, c.q, c.args, mode, gerr, got, want)
			}
		}
	}
	return differed
}

// TestRedTeam31aSelfJoin: a self-join reads the name column through
// two references, a.name and b.name, of one protected column. The
// marker's verdict was made per column: a.name = 'N05' is false for the
// marker, so every term conjunct of the column was sent, b.name's too,
// and b's shredded rows, whose terms are still their old names', were
// not fetched for a b.name conjunct the marker satisfies (0 rows through
// phiguard, 20 in the plaintext with the marker). The verdict is now
// per reference (sqlrewrite.Filter.Ref): b.name's terms are left out.
func TestRedTeam31aSelfJoin(t *testing.T) {
	t.Parallel()
	tw := newShreddedTwinWith(t, shredTwinOptions{marker: "[shredded]", search: "equality, order, match"},
		func(i int) string { return fmt.Sprintf("Z%02d", i) })
	tw.shredKeys(t)
	cases := []redTeam31aCase{
		{"SELECT a.id, b.id FROM %[1]s a, %[1]s b WHERE a.name = 'N05' AND b.name >= 'S' AND b.name < 'T' ORDER BY 1, 2", nil},
		{"SELECT a.id, b.id FROM %[1]s a JOIN %[1]s b ON true WHERE a.name = 'N05' AND b.name = '[shredded]' ORDER BY 1, 2", nil},
		{"SELECT a.id, b.id FROM %[1]s a JOIN %[1]s b ON true WHERE a.name = $1 AND b.name = $2 ORDER BY 1, 2", []any{"N05", "[shredded]"}},
		{"SELECT a.id, b.id FROM %[1]s a JOIN %[1]s b ON true WHERE a.name = $1 AND b.name = $2 ORDER BY 1, 2", []any{"[shredded]", "N05"}},
		{"SELECT a.id, b.id FROM %[1]s a JOIN %[1]s b ON true WHERE a.name = $1 AND b.name = $2 ORDER BY 1, 2", []any{"N05", "N06"}},
		{"SELECT a.id, b.id FROM %[1]s a, %[1]s b WHERE b.name LIKE '[shred%%' AND a.name ILIKE 'n0%%' AND a.name < 'N03' ORDER BY 1, 2", nil},
		{"SELECT count(*) FROM %[1]s a, %[1]s b WHERE a.name > $1 AND b.name <= $2", []any{"N58", "T"}},
		{"SELECT a.id, b.id, b.name FROM %[1]s a, %[1]s b WHERE a.name = 'N05' AND b.name >= 'S' ORDER BY b.name, b.id LIMIT 3", nil},
		{"SELECT a.id, b.id, b.name FROM %[1]s a, %[1]s b WHERE a.name = $1 AND b.name >= $2 ORDER BY b.name DESC, b.id LIMIT 3", []any{"N05", "S"}},
		{"SELECT max(b.name), min(a.name) FROM %[1]s a, %[1]s b WHERE a.name = 'N05' AND b.name LIKE '[%%'", nil},
		{"SELECT a.id, b.id FROM %[1]s a LEFT JOIN %[1]s b ON a.id = b.id WHERE a.name >= 'S' AND b.name < 'T' AND a.name < 'N07' ORDER BY 1, 2", nil},
		{"SELECT a.id, b.id FROM %[1]s a, %[1]s b, %[1]s c WHERE a.name = $1 AND b.name >= $2 AND c.name = $3 AND a.id = c.id ORDER BY 1, 2", []any{"N05", "S", "N05"}},
		{"SELECT a.id, b.id FROM %[1]s a, %[1]s b, %[1]s c WHERE a.name = $1 AND b.name >= $2 AND c.name = $3 AND b.id = c.id ORDER BY 1, 2", []any{"N05", "S", "[shredded]"}},
	}
	if d := tw.sameShredded(t, "self-join", cases); len(d) > 0 {
		t.Errorf("%d of %d answers differed", len(d), 2*len(cases))
	}
}

// TestRedTeam31aMarkerVerdicts: statements whose conjuncts on the
// shredded twin's name the marker "[shredded]" satisfies or not, in
// forms the marker's verdict might misjudge (casts, E'...' and $$ strings,
// equal bounds, SYMMETRIC, NOT BETWEEN, ESCAPE, _ and backslashes,
// lower() and upper(), NOT, OR, CASE, NULL parameters, subqueries,
// COLLATE, IN and ANY, rounds and aggregates): each answers as the
// plaintext twin with the marker, or is refused (all held on 8eea773).
func TestRedTeam31aMarkerVerdicts(t *testing.T) {
	t.Parallel()
	tw := newShreddedTwinWith(t, shredTwinOptions{marker: "[shredded]", search: "equality, order, match"},
		func(i int) string { return fmt.Sprintf("Z%02d", i) })
	tw.shredKeys(t)
	cases := []redTeam31aCase{
		{"SELECT a.id, b.id FROM %[1]s a JOIN %[1]s b ON b.name ILIKE '%%shred%%' WHERE a.name = 'N05' ORDER BY 1, 2", nil},
		{"SELECT id FROM %[1]s WHERE name = 'N05' AND EXISTS (SELECT 1 FROM %[1]s t2 WHERE t2.name = '[shredded]')", nil},
		{"SELECT id FROM %[1]s WHERE name = 'N05' AND 'v-03' IN (SELECT id FROM %[1]s t2 WHERE t2.name ILIKE '%%shred%%')", nil},
		{"WITH s AS (SELECT id FROM %[1]s WHERE name >= 'S' AND name < 'T') SELECT id FROM %[1]s WHERE name = 'N05' OR id IN (SELECT id FROM s) ORDER BY id", nil},
		{"SELECT x.id FROM (SELECT id, name FROM %[1]s WHERE name = '[shredded]') x ORDER BY 1", nil},
		{"SELECT id FROM %[1]s WHERE name >= '[' COLLATE \"C\" AND name < '\\' COLLATE \"C\" ORDER BY id", nil},
		{"SELECT id FROM %[1]s WHERE name COLLATE \"C\" >= '[' AND name COLLATE \"C\" < '\\' ORDER BY id", nil},
		{"SELECT id FROM %[1]s WHERE name >= 'S' COLLATE \"C\" AND name < 'T' ORDER BY id", nil},
		{"SELECT id FROM %[1]s WHERE name = '[shredded]'::varchar ORDER BY id", nil},
		{"SELECT id FROM %[1]s WHERE name = $1::varchar ORDER BY id", []any{"[shredded]"}},
		{"SELECT id FROM %[1]s WHERE name = $1::text ORDER BY id", []any{"[shredded]"}},
		{"SELECT id FROM %[1]s WHERE name = '[shredded]'::char(12) ORDER BY id", nil},
		{"SELECT id FROM %[1]s WHERE name = '[shredded]  '::char(12) ORDER BY id", nil},
		{"SELECT id FROM %[1]s WHERE name = E'[shredded]' ORDER BY id", nil},
		{"SELECT id FROM %[1]s WHERE name = U&'[shredded]' ORDER BY id", nil},
		{"SELECT id FROM %[1]s WHERE name = $$[shredded]$$ ORDER BY id", nil},
		{"SELECT id FROM %[1]s WHERE name IN ('[shredded]', 'N05') ORDER BY id", nil},
		{"SELECT id FROM %[1]s WHERE name = ANY(ARRAY['[shredded]', 'N05']) ORDER BY id", nil},
		{"SELECT id FROM %[1]s WHERE name = ANY($1) ORDER BY id", []any{[]string{"[shredded]", "N05"}}},
		{"SELECT id FROM %[1]s WHERE name IS NOT DISTINCT FROM '[shredded]' ORDER BY id", nil},
		{"SELECT id FROM %[1]s WHERE name BETWEEN '[shredded]' AND '[shredded]' ORDER BY id", nil},
		{"SELECT id FROM %[1]s WHERE name BETWEEN $1 AND $1 ORDER BY id", []any{"[shredded]"}},
		{"SELECT id FROM %[1]s WHERE name >= 'shredded' AND name <= 'shredded' ORDER BY id", nil},
		{"SELECT id FROM %[1]s WHERE name >= '[shredded]' AND name <= '[shredded]' ORDER BY id", nil},
		{"SELECT id FROM %[1]s WHERE name > 'shredded' AND name < 'shreddee' ORDER BY id", nil},
		{"SELECT id FROM %[1]s WHERE name > '(shredded)' AND name < '{shredded}' ORDER BY id", nil},
		{"SELECT id FROM %[1]s WHERE name > 'SHREDDED' ORDER BY id", nil},
		{"SELECT id FROM %[1]s WHERE name BETWEEN SYMMETRIC 'T' AND 'R' ORDER BY id", nil},
		{"SELECT id FROM %[1]s WHERE name NOT BETWEEN 'A' AND 'R' AND name >= 'M' ORDER BY id", nil},
		{"SELECT id FROM %[1]s WHERE name LIKE '[shredded!]' ESCAPE '!' ORDER BY id", nil},
		{"SELECT id FROM %[1]s WHERE name LIKE $1 ESCAPE '!' ORDER BY id", []any{"[shredded!]"}},
		{"SELECT id FROM %[1]s WHERE name ILIKE '[SHREDDED!]' ESCAPE '!' ORDER BY id", nil},
		{"SELECT id FROM %[1]s WHERE name ILIKE '\\[SHRE_DED\\]' ORDER BY id", nil},
		{"SELECT id FROM %[1]s WHERE name LIKE E'\\\\[shredded%%' ORDER BY id", nil},
		{"SELECT id FROM %[1]s WHERE name LIKE '[shredded]' ESCAPE '' ORDER BY id", nil},
		{"SELECT id FROM %[1]s WHERE name LIKE '_shredded_' ORDER BY id", nil},
		{"SELECT id FROM %[1]s WHERE name ILIKE $1 ESCAPE $2 ORDER BY id", []any{"[SHRED#%%", "#"}},
		{"SELECT id FROM %[1]s WHERE lower(name) = '[shredded]' ORDER BY id", nil},
		{"SELECT id FROM %[1]s WHERE upper(name) LIKE '[SHRED%%' ORDER BY id", nil},
		{"SELECT id FROM %[1]s WHERE name = lower('[SHREDDED]') ORDER BY id", nil},
		{"SELECT id FROM %[1]s WHERE (name = '[shredded]') = true ORDER BY id", nil},
		{"SELECT id FROM %[1]s WHERE NOT (name <> '[shredded]') ORDER BY id", nil},
		{"SELECT id FROM %[1]s WHERE CASE WHEN name = '[shredded]' THEN true ELSE false END ORDER BY id", nil},
		{"SELECT id FROM %[1]s WHERE name = '[shredded]' OR name = 'N05' ORDER BY id", nil},
		{"SELECT id FROM %[1]s WHERE name = $1 ORDER BY id", []any{nil}},
		{"SELECT id FROM %[1]s WHERE name >= $1 AND name < $2 ORDER BY name, id LIMIT 4", []any{"S", "T"}},
		{"SELECT min(name), max(name), count(*) FROM %[1]s WHERE name >= $1", []any{"O"}},
		{"SELECT min(name), count(name) FROM %[1]s WHERE name LIKE '[%%'", nil},
		{"SELECT id FROM %[1]s WHERE name = '[shredded]' AND name >= 'S' AND name LIKE '%%d]' ORDER BY id", nil},
		{"SELECT id FROM %[1]s WHERE name = '[shredded]' AND name < 'S' ORDER BY id", nil},
		{"SELECT id, name FROM %[1]s WHERE name >= 'S' GROUP BY id, name HAVING max(name) < 'T' ORDER BY id", nil},
	}
	if d := tw.sameShredded(t, "verdicts", cases); len(d) > 0 {
		t.Errorf("%d of %d answers differed", len(d), 2*len(cases))
	}
}

// newShredded3Twin is a shredded twin with three text columns a, b, c
// sealed per subject (en_US, equality, order and match terms): 30
// patients p-00..p-29 (A00, B00, C00, …) and 10 v-00..v-09 (Q00, R00,
// S00, …) whose keys are destroyed with their terms left old, the
// plaintext twin's cells set to the marker.
func newShredded3Twin(t *testing.T, marker string) *shreddedTwin {
	t.Helper()
	requireEnUS(t)
	ctx := testContext(t)
	su := superuser(t)
	tw := &shreddedTwin{twin: twin{plain: uniqueName("shr3_plain"), enc: uniqueName("shr3_enc")}, marker: marker}
	for _, table := range []string{tw.plain, tw.enc} {
		if _, err := su.Exec(ctx, fmt.Sprintf(`CREATE TABLE %s (id text PRIMARY KEY, a text COLLATE "en_US", b text COLLATE "en_US", c text COLLATE "en_US"); GRANT ALL ON %s TO %s`, table, table, appUser)); err != nil {
			t.Fatal(err)
		}
	}
	col := "{mode: randomized, key: shr-pii, type: text, state: encrypted, search: [equality, order, match], search_key_version: 1, search_state: ready}"
	tw.prot = protection(t, fmt.Sprintf("version: 1\ntables:\n  public.%s:\n    subject_column: id\n    columns:\n      a: %s\n      b: %s\n      c: %s\n", tw.enc, col, col, col))
	tw.prot.ShreddedMarker = marker
	installSearch(t, tw.prot.Policy)
	p := startProxy(t, proxyOptions{protect: tw.prot, quiet: true})
	tw.via, tw.dir = p.app(t), direct(t)
	for i := range 40 {
		id, v := fmt.Sprintf("p-%02d", i), [3]string{fmt.Sprintf("A%02d", i), fmt.Sprintf("B%02d", i), fmt.Sprintf("C%02d", i)}
		if i >= 30 {
			id, v = fmt.Sprintf("v-%02d", i-30), [3]string{fmt.Sprintf("Q%02d", i), fmt.Sprintf("R%02d", i), fmt.Sprintf("S%02d", i)}
		}
		for _, conn := range []*pgx.Conn{tw.via, tw.dir} {
			table := map[bool]string{true: tw.enc, false: tw.plain}[conn == tw.via]
			if _, err := conn.Exec(ctx, fmt.Sprintf("INSERT INTO %s VALUES ($1, $2, $3, $4)", table), id, v[0], v[1], v[2]); err != nil {
				t.Fatal(err)
			}
		}
	}
	for i := range 10 {
		if _, out, err := tw.prot.Subjects.Shred(ctx, fmt.Sprintf("v-%02d", i)); err != nil || out != keys.ShredDestroyed {
			t.Fatalf("shred: %v %v", out, err)
		}
	}
	if _, err := tw.dir.Exec(ctx, fmt.Sprintf("UPDATE %s SET a = $1, b = $1, c = $1 WHERE id LIKE 'v-%%'", tw.plain), marker); err != nil {
		t.Fatal(err)
	}
	return tw
}

// TestRedTeam31aThreeColumns: one prepared statement with parameters on
// three marker columns (two decided at each Bind, in variants; the third
// sends no term), bound with ranges that hold the marker, the live
// values, or both, in every combination and back and forth: the
// plaintext twin's answers.
func TestRedTeam31aThreeColumns(t *testing.T) {
	t.Parallel()
	tw := newShredded3Twin(t, "[shredded]")
	ranges := [][2]string{{"S", "T"}, {"A", "T"}, {"A", "D"}}
	var cases []redTeam31aCase
	for _, x := range ranges {
		for _, y := range ranges {
			for _, z := range ranges {
				cases = append(cases, redTeam31aCase{"SELECT id FROM %[1]s WHERE a >= $1 AND a < $2 AND b >= $3 AND b < $4 AND c >= $5 AND c < $6 ORDER BY id",
					[]any{x[0], x[1], y[0], y[1], z[0], z[1]}})
			}
		}
	}
	for _, p := range [][3]string{{"[shr%", "%SHRED%", "[shredded]"}, {"A%", "%b0%", "C05"}, {"[shr%", "%b0%", "[shredded]"}, {"%", "%", "C07"}, {"[shr%", "%SHRED%", "[shredded]"}} {
		cases = append(cases,
			redTeam31aCase{"SELECT id FROM %[1]s WHERE a LIKE $1 AND b ILIKE $2 AND c = $3 ORDER BY id", []any{p[0], p[1], p[2]}},
			redTeam31aCase{"SELECT id, a FROM %[1]s WHERE a LIKE $1 AND b ILIKE $2 AND c >= $3 ORDER BY a, id LIMIT 4", []any{p[0], p[1], p[2]}},
			redTeam31aCase{"SELECT count(*), max(b) FROM %[1]s WHERE c = $3 AND a LIKE $1 AND b ILIKE $2", []any{p[0], p[1], p[2]}})
	}
	if d := tw.sameShredded(t, "three columns", cases); len(d) > 0 {
		t.Errorf("%d of %d answers differed", len(d), 2*len(cases))
	}
}

// sameDeclared prepares q on both sides with the parameter types oids
// (0: unspecified, 1043: varchar as JDBC declares a string) and
// executes it with each set of values: the plaintext twin's answer or a
// refusal.
func (tw *shreddedTwin) sameDeclared(t *testing.T, q string, oids []uint32, binds [][]string, stmt ...string) int {
	t.Helper()
	ctx := testContext(t)
	differed := 0
	run := func(conn *pgx.Conn, table, name string, vals []string) (string, error) {
		params := make([][]byte, len(vals))
		for i, v := range vals {
			if v != "\x00NULL" {
				params[i] = []byte(v)
			}
		}
		res := conn.PgConn().ExecPrepared(ctx, name, params, nil, nil).Read()
		if res.Err != nil {
			return "", res.Err
		}
		var b strings.Builder
		for _, r := range res.Rows {
			for _, v := range r {
				b.Write(v)
				b.WriteString("|")
			}
			b.WriteString("\n")
		}
		return b.String(), nil
	}
	name := uniqueName("rt31a")
	if stmt != nil {
		name = stmt[0] // the same name again (after DEALLOCATE ALL)
	}
	for _, side := range []struct {
		conn  *pgx.Conn
		table string
	}{{tw.dir, tw.plain}, {tw.via, tw.enc}} {
		if _, err := side.conn.PgConn().Prepare(ctx, name, fmt.Sprintf(q, side.table), oids); err != nil {
			t.Fatalf("prepare %s: %v", q, err)
		}
	}
	for _, vals := range binds {
		want, werr := run(tw.dir, tw.plain, name, vals)
		got, gerr := run(tw.via, tw.enc, name, vals)
		var pe *pgconn.PgError
		switch {
		case werr != nil:
			t.Fatalf("%s %q: plaintext: %v", q, vals, werr)
		case gerr == nil && got == want:
		case errors.As(gerr, &pe) && pe.Code != "08P01" && pe.Code != "XX000":
			t.Logf("%s %q: refused %s %s", q, vals, pe.Code, pe.Message)
		default:
			differed++
			t.Errorf("%s %v %q: through phiguard %v\n%s\nthe plaintext with the marker\n%s", q, oids, vals, gerr, got, want)
		}
	}
	return differed
}

// TestRedTeam31aDeclaredParams: a prepared statement whose parameters
// the Parse declares varchar (JDBC), unknown or bpchar or leaves
// unspecified, bound with
// values that flip the marker's verdict back and forth, and NULL.
func TestRedTeam31aDeclaredParams(t *testing.T) {
	t.Parallel()
	tw := newShreddedTwinWith(t, shredTwinOptions{marker: "[shredded]", search: "equality, order, match"},
		func(i int) string { return fmt.Sprintf("Z%02d", i) })
	tw.shredKeys(t)
	null := "\x00NULL"
	for _, oids := range [][]uint32{{1043, 1043}, {0, 0}, {25, 1043}, {705, 705}, {1042, 25}} {
		d := tw.sameDeclared(t, "SELECT id FROM %s WHERE name >= $1 AND name < $2 ORDER BY id", oids,
			[][]string{{"S", "T"}, {"N1", "N3"}, {"S", "T"}, {null, "T"}, {"A", "T"}, {"S", "T"}})
		d += tw.sameDeclared(t, "SELECT id FROM %s WHERE name = $1 OR id = $2 ORDER BY id", oids,
			[][]string{{"[shredded]", "p-01"}, {"N05", "v-01"}})
		d += tw.sameDeclared(t, "SELECT id, name FROM %s WHERE name ILIKE $1 AND name <> $2 ORDER BY name, id LIMIT 3", oids,
			[][]string{{"%SHRED%", "x"}, {"n0%", "N01"}, {"[%", "[shredded]"}, {"%ed]", "N00"}})
		d += tw.sameDeclared(t, "SELECT count(*) FROM %s WHERE name = $1 AND name LIKE $2", oids,
			[][]string{{"[shredded]", "[%"}, {"[shredded]", "N%"}, {"N05", "N%"}, {"[shredded]", "%]"}, {null, "%"}})
		if d > 0 {
			t.Errorf("declared %v: %d answers differed", oids, d)
		}
	}
}

// TestRedTeam31aMarkerCharacters: a marker with a backslash, an
// underscore, a percent sign, an umlaut and capitals (Gelöscht\_50%),
// against LIKE and ILIKE patterns that match it only through their
// escapes, E'...' strings, an empty ESCAPE, and ranges around it under
// en_US (standard_conforming_strings off is refused by phiguard as a
// whole).
func TestRedTeam31aMarkerCharacters(t *testing.T) {
	t.Parallel()
	const marker = `Gelöscht\_50%`
	tw := newShreddedTwinWith(t, shredTwinOptions{marker: marker, search: "equality, order, match"},
		func(i int) string { return fmt.Sprintf("Z%02d", i) })
	tw.shredKeys(t)
	cases := []redTeam31aCase{
		{`SELECT id FROM %[1]s WHERE name LIKE 'Gelöscht\\\_50\%%' ORDER BY id`, nil},
		{`SELECT id FROM %[1]s WHERE name LIKE 'Gelöscht_\_50%%' ORDER BY id`, nil},
		{`SELECT id FROM %[1]s WHERE name LIKE 'Gelöscht\_50%%' ORDER BY id`, nil},
		{`SELECT id FROM %[1]s WHERE name ILIKE 'GELÖSCHT%%' ORDER BY id`, nil},
		{`SELECT id FROM %[1]s WHERE name ILIKE 'gelÖscht\\\_5_\%%' ORDER BY id`, nil},
		{`SELECT id FROM %[1]s WHERE name = E'Gelöscht\\_50%%' ORDER BY id`, nil},
		{`SELECT id FROM %[1]s WHERE name LIKE E'Gelöscht\\\\%%' ORDER BY id`, nil},
		{`SELECT id FROM %[1]s WHERE name LIKE 'Gelöscht\_50%%' ESCAPE '' ORDER BY id`, nil},
		{`SELECT id FROM %[1]s WHERE name LIKE 'Gelöscht#\#_50#%%' ESCAPE '#' ORDER BY id`, nil},
		{`SELECT id FROM %[1]s WHERE name LIKE 'Gelöscht\#_50#%%' ESCAPE '#' ORDER BY id`, nil},
		{`SELECT id FROM %[1]s WHERE name LIKE $1 ESCAPE $2 ORDER BY id`, []any{`Gelöscht\#_50#%`, "#"}},
		{`SELECT id FROM %[1]s WHERE name LIKE $1 ESCAPE $2 ORDER BY id`, []any{`Gelöscht\_50%`, ""}},
		{`SELECT id FROM %[1]s WHERE name ILIKE $1 ORDER BY id`, []any{`%ö%`}},
		{`SELECT id FROM %[1]s WHERE name = $1 ORDER BY id`, []any{marker}},
		{`SELECT id FROM %[1]s WHERE name >= 'gelöscht' AND name < 'gelöscht\_51' ORDER BY id`, nil},
		{`SELECT id FROM %[1]s WHERE name > 'Gelöscht' AND name <= $1 ORDER BY id`, []any{marker}},
		{`SELECT id FROM %[1]s WHERE name BETWEEN 'Geloscht' AND 'Gelöscht\_50%%' ORDER BY id`, nil},
		{`SELECT id FROM %[1]s WHERE name > 'GELÖSCHT\_50%%' ORDER BY id`, nil},
		{`SELECT id FROM %[1]s WHERE name < 'GELÖSCHT\_50%%' AND name > 'F' ORDER BY id`, nil},
	}
	if d := tw.sameShredded(t, "characters", cases); len(d) > 0 {
		t.Errorf("%d of %d answers differed", len(d), 2*len(cases))
	}
}

// TestRedTeam31aUnnamedStatement: statements parsed one after another
// as the unnamed statement (pgx's describe-exec and exec modes), whose
// parameters flip the marker's verdict, each with variants of its own:
// a variant of the previous text must not answer for the next.
func TestRedTeam31aUnnamedStatement(t *testing.T) {
	t.Parallel()
	tw := newShreddedTwinWith(t, shredTwinOptions{marker: "[shredded]", search: "equality, order, match"},
		func(i int) string { return fmt.Sprintf("Z%02d", i) })
	tw.shredKeys(t)
	var cases []redTeam31aCase
	for _, r := range [][2]string{{"S", "T"}, {"N1", "N2"}, {"R", "U"}, {"N0", "N1"}} {
		cases = append(cases,
			redTeam31aCase{"SELECT id FROM %[1]s WHERE name >= $1 AND name < $2 ORDER BY id", []any{r[0], r[1]}},
			redTeam31aCase{"SELECT id, name FROM %[1]s WHERE name >= $1 AND name < $2 ORDER BY name, id LIMIT 3", []any{r[0], r[1]}},
			redTeam31aCase{"SELECT count(*) FROM %[1]s WHERE name > $1 AND name <= $2 AND id > 'a'", []any{r[0], r[1]}},
			redTeam31aCase{"SELECT id FROM %[1]s WHERE name LIKE $1 ORDER BY id", []any{r[0] + "%"}})
	}
	modes := []pgx.QueryExecMode{pgx.QueryExecModeDescribeExec, pgx.QueryExecModeExec}
	if d := tw.sameShredded(t, "unnamed", cases, modes...); len(d) > 0 {
		t.Errorf("%d of %d answers differed", len(d), len(modes)*len(cases))
	}
}

// TestRedTeam31aStatementForms: the marker's verdict through other
// statement forms: casts with a length, DML, FOR UPDATE, CTEs,
// DISTINCT, GROUP BY, UNION, derived tables, IN, NOT IN and EXISTS
// subqueries of the same table (their filters send no term), one table
// written with and without its schema or an alias, a constant left of
// the column, ~~ and ~~*, parentheses: each the plaintext twin's answer
// or refused (all held).
func TestRedTeam31aStatementForms(t *testing.T) {
	t.Parallel()
	tw := newShreddedTwinWith(t, shredTwinOptions{marker: "[shredded]", search: "equality, order, match"},
		func(i int) string { return fmt.Sprintf("Z%02d", i) })
	tw.shredKeys(t)
	cases := []redTeam31aCase{
		{"SELECT id FROM %[1]s WHERE name = '[shredded]'::varchar(3) ORDER BY 1", nil},
		{"SELECT id FROM %[1]s WHERE name = 'N051'::varchar(3) ORDER BY 1", nil},
		{"SELECT id FROM %[1]s WHERE name = $1::varchar(3) ORDER BY 1", []any{"N051"}},
		{"SELECT id FROM %[1]s WHERE name = $1::varchar(3) ORDER BY 1", []any{"[shredded]"}},
		{"SELECT id FROM %[1]s WHERE name >= 'T0'::varchar(1) AND name < 'T' ORDER BY 1", nil},
		{"SELECT id FROM %[1]s WHERE name LIKE 'N0%%'::varchar(2) ORDER BY 1", nil},
		{"SELECT id FROM %[1]s WHERE name LIKE '[shredded]xx'::varchar(10) ORDER BY 1", nil},
		{"SELECT id FROM %[1]s WHERE name = 'N05'::varchar(10)::text ORDER BY 1", nil},
		{"SELECT id FROM %[1]s WHERE name = CAST('[shredded]x' AS varchar(10)) ORDER BY 1", nil},
		{"SELECT id FROM %[1]s WHERE name = varchar(10) '[shredded]x' ORDER BY 1", nil},
		{"UPDATE %[1]s SET id = id WHERE name = '[shredded]'", nil},
		{"UPDATE %[1]s SET id = id WHERE name >= 'S' AND name < 'T'", nil},
		{"UPDATE %[1]s SET id = id WHERE name = $1", []any{"[shredded]"}},
		{"UPDATE %[1]s SET id = id WHERE name ILIKE '%%shred%%' RETURNING id", nil},
		{"DELETE FROM %[1]s WHERE name = 'nobody' AND id = 'x'", nil},
		{"SELECT id FROM %[1]s WHERE name = '[shredded]' ORDER BY id FOR UPDATE", nil},
		{"WITH x AS (SELECT 1) SELECT id FROM %[1]s WHERE name = '[shredded]' ORDER BY id", nil},
		{"SELECT DISTINCT name FROM %[1]s WHERE name >= 'S' AND name < 'T'", nil},
		{"SELECT name, count(*) FROM %[1]s WHERE name >= 'S' AND name < 'T' GROUP BY name", nil},
		{"SELECT id FROM %[1]s WHERE name >= 'S' AND name < 'T' UNION ALL SELECT 'x' ORDER BY 1", nil},
		{"SELECT * FROM (SELECT id FROM %[1]s WHERE name = '[shredded]') s ORDER BY 1", nil},
		{"SELECT id FROM %[1]s WHERE name = '[shredded]' AND id IN (SELECT id FROM %[1]s WHERE name = '[shredded]') ORDER BY 1", nil},
		{"SELECT id FROM %[1]s WHERE id IN (SELECT id FROM %[1]s WHERE name = '[shredded]') AND name = 'N05' ORDER BY 1", nil},
		{"SELECT id FROM %[1]s WHERE name = 'N05' AND EXISTS (SELECT 1 FROM %[1]s t2 WHERE t2.name = '[shredded]' AND t2.id = 'v-01')", nil},
		{"SELECT id FROM %[1]s WHERE name = 'N05' AND EXISTS (SELECT 1 FROM %[1]s t2 WHERE t2.id = %[1]s.id AND t2.name = '[shredded]')", nil},
		{"SELECT id FROM %[1]s p WHERE name >= 'S' AND name < 'T' AND p.name LIKE '[%%' ORDER BY 1", nil},
		{"SELECT id FROM %[1]s p WHERE p.name = 'N05' AND p.id IN (SELECT t2.id FROM %[1]s t2 WHERE t2.name >= 'S' AND t2.name < 'T') ORDER BY 1", nil},
		{"SELECT id FROM %[1]s p WHERE p.name >= 'S' AND p.id IN (SELECT t2.id FROM %[1]s t2 WHERE t2.name = 'N05') ORDER BY 1", nil},
		{"SELECT id FROM %[1]s p WHERE p.name < 'T' AND p.id NOT IN (SELECT t2.id FROM %[1]s t2 WHERE t2.name >= 'S') ORDER BY 1", nil},
		{"SELECT id FROM %[1]s WHERE %[1]s.name = 'N05' AND public.%[1]s.name >= 'S' ORDER BY 1", nil},
		{"SELECT id FROM public.%[1]s WHERE %[1]s.name >= 'S' AND name < 'T' AND public.%[1]s.name LIKE '[%%' ORDER BY 1", nil},
		{"SELECT id FROM %[1]s WHERE (name) >= 'S' AND (name < 'T') ORDER BY 1", nil},
		{"SELECT id FROM %[1]s WHERE 'S' <= name AND 'T' > name ORDER BY 1", nil},
		{"SELECT id FROM %[1]s WHERE name ~~ '[shr%%' ORDER BY 1", nil},
		{"SELECT id FROM %[1]s WHERE name ~~* '[SHR%%' ORDER BY 1", nil},
		{"SELECT id FROM %[1]s WHERE name OPERATOR(pg_catalog.>=) 'S' AND name < 'T' ORDER BY 1", nil},
		{"SELECT id FROM %[1]s WHERE name >= 'S' AND name < 'T' AND true ORDER BY 1", nil},
		{"SELECT id FROM %[1]s WHERE (name >= 'S' AND name < 'T') ORDER BY 1", nil},
		{"SELECT id FROM %[1]s WHERE ((name >= 'S') AND (name < 'T' AND name <> 'x')) ORDER BY 1", nil},
	}
	modes := []pgx.QueryExecMode{pgx.QueryExecModeSimpleProtocol, pgx.QueryExecModeCacheStatement}
	if d := tw.sameShredded(t, "forms", cases, modes...); len(d) > 0 {
		t.Errorf("%d of %d answers differed", len(d), len(modes)*len(cases))
	}
}

// TestRedTeam31aAbortedTransaction: a prepared statement whose Bind
// needs a variant phiguard has not prepared yet (the marker holds for
// its values), bound inside a failed transaction: PostgreSQL's 25P02,
// as directly; after the ROLLBACK the same Bind answers as the
// plaintext (the variant prepared then).
func TestRedTeam31aAbortedTransaction(t *testing.T) {
	t.Parallel()
	tw := newShreddedTwinWith(t, shredTwinOptions{marker: "[shredded]", search: "equality, order, match"},
		func(i int) string { return fmt.Sprintf("Z%02d", i) })
	tw.shredKeys(t)
	ctx := testContext(t)
	q := "SELECT id FROM %[1]s WHERE name >= $1 AND name < $2 ORDER BY id"
	miss := []redTeam31aCase{{q, []any{"N1", "N2"}}}
	hit := []redTeam31aCase{{q, []any{"S", "T"}}}
	mode := pgx.QueryExecModeCacheStatement
	if d := tw.sameShredded(t, "prepared", miss, mode); len(d) > 0 {
		t.Fatal("differed before the transaction")
	}
	for _, conn := range []*pgx.Conn{tw.dir, tw.via} {
		if _, err := conn.Exec(ctx, "BEGIN"); err != nil {
			t.Fatal(err)
		}
		if _, err := conn.Exec(ctx, "SELECT 1/0"); err == nil {
			t.Fatal("1/0 answered")
		}
	}
	for _, args := range [][]any{hit[0].args, miss[0].args, hit[0].args} {
		_, werr := rowsRaw(t, tw.dir, fmt.Sprintf(q, tw.plain), mode, pgx.TextFormatCode, args...)
		_, gerr := rowsRaw(t, tw.via, fmt.Sprintf(q, tw.enc), mode, pgx.TextFormatCode, args...)
		var wpe, gpe *pgconn.PgError
		if !errors.As(werr, &wpe) || !errors.As(gerr, &gpe) || wpe.Code != "25P02" || gpe.Code != wpe.Code {
			t.Errorf("in the failed transaction %v: directly %v, through phiguard %v", args, werr, gerr)
		}
	}
	for _, conn := range []*pgx.Conn{tw.dir, tw.via} {
		if _, err := conn.Exec(ctx, "ROLLBACK"); err != nil {
			t.Fatal(err)
		}
	}
	if d := tw.sameShredded(t, "after the rollback", append(hit, miss[0], hit[0]), mode); len(d) > 0 {
		t.Errorf("%d answers differed after the rollback", len(d))
	}
}

// TestRedTeam31aPipelinedAfterError: in one pipeline (one Sync), a
// statement that fails and then Binds that need marker variants (which
// the backend skips until the Sync): the same errors as directly, and
// the connection answers as the plaintext afterwards.
func TestRedTeam31aPipelinedAfterError(t *testing.T) {
	t.Parallel()
	tw := newShreddedTwinWith(t, shredTwinOptions{marker: "[shredded]", search: "equality, order, match"},
		func(i int) string { return fmt.Sprintf("Z%02d", i) })
	tw.shredKeys(t)
	ctx := testContext(t)
	q := "SELECT id FROM %[1]s WHERE name >= $1 AND name < $2 ORDER BY id"
	lq := "SELECT count(*) FROM %[1]s WHERE name LIKE $1 AND name >= $2"
	run := func(conn *pgx.Conn, table string) string {
		b := &pgx.Batch{}
		b.Queue("SELECT 1/0")
		b.Queue(fmt.Sprintf(q, table), "S", "T")
		b.Queue(fmt.Sprintf(lq, table), "[shr%", "S")
		b.Queue(fmt.Sprintf(q, table), "N1", "N2")
		res := conn.SendBatch(ctx, b)
		var out []string
		for range 4 {
			rows, err := res.Query()
			n := 0
			for err == nil && rows.Next() {
				n++
			}
			if err == nil {
				rows.Close()
				err = rows.Err()
			}
			var pe *pgconn.PgError
			if errors.As(err, &pe) {
				out = append(out, fmt.Sprintf("%s/%d", pe.Code, n))
			} else {
				out = append(out, fmt.Sprintf("%v/%d", err, n))
			}
		}
		if err := res.Close(); err != nil {
			out = append(out, "close: "+err.Error())
		}
		return strings.Join(out, " ")
	}
	for range 2 {
		want, got := run(tw.dir, tw.plain), run(tw.via, tw.enc)
		t.Logf("pipeline: %s", want)
		if got != want {
			t.Errorf("pipeline: directly %s, through phiguard %s", want, got)
		}
	}
	cases := []redTeam31aCase{{q, []any{"S", "T"}}, {lq, []any{"[shr%", "S"}}, {q, []any{"N1", "N2"}}}
	if d := tw.sameShredded(t, "after the pipeline", cases); len(d) > 0 {
		t.Errorf("%d answers differed after the pipeline", len(d))
	}
}

// TestRedTeam31aVariantConstantsNotSent: the constants of conjuncts the
// marker satisfies (whose terms phiguard leaves out, in a variant or in
// the text), as literals and parameters, self-join and all, are in no
// byte phiguard sends the database, while the answers are the
// plaintext's.
func TestRedTeam31aVariantConstantsNotSent(t *testing.T) {
	t.Parallel()
	relay := startByteRelay(t)
	tw := newShreddedTwinWith(t, shredTwinOptions{marker: "[shredded]", search: "equality, order, match", relay: relay},
		func(i int) string { return fmt.Sprintf("Z%02d", i) })
	tw.shredKeys(t)
	cases := []redTeam31aCase{
		{"SELECT id FROM %[1]s WHERE name >= $1 AND name < $2 ORDER BY id", []any{"Sa-qqq", "Sz-qqq"}},
		{"SELECT id FROM %[1]s WHERE name >= 'Sa-qqq' AND name < 'Sz-qqq' ORDER BY id", nil},
		{"SELECT id FROM %[1]s WHERE name ILIKE $1 ORDER BY id", []any{"%SHREDDED%"}},
		{"SELECT id FROM %[1]s WHERE name LIKE $1 ESCAPE $2 ORDER BY id", []any{"[shred#d#e%", "#"}},
		{"SELECT a.id, b.id FROM %[1]s a, %[1]s b WHERE a.name = $1 AND b.name < $2 ORDER BY 1, 2", []any{"N05", "Sz-qqq"}},
		{"SELECT id, name FROM %[1]s WHERE name BETWEEN $1 AND $2 ORDER BY name, id LIMIT 3", []any{"Sa-qqq", "Sz-qqq"}},
	}
	relay.take()
	modes := []pgx.QueryExecMode{pgx.QueryExecModeSimpleProtocol, pgx.QueryExecModeCacheStatement, pgx.QueryExecModeDescribeExec}
	for _, c := range cases {
		if d := tw.sameShredded(t, "constants", []redTeam31aCase{c}, modes...); len(d) > 0 {
			t.Errorf("%s: answers differed", c.q)
		}
		sent := relay.take()
		for _, s := range []string{"qqq", "SHREDDED", "shred#d", "N05"} {
			if bytes.Contains(sent, []byte(s)) {
				t.Errorf("%s %v: %q sent to the database", c.q, c.args, s)
			}
		}
	}
}

// TestRedTeam31aVariantsAfterDeallocateAll: DEALLOCATE ALL and DISCARD
// ALL drop phiguard's marker variants with the client's statements; the
// statement prepared again under the same name answers as the plaintext.
func TestRedTeam31aVariantsAfterDeallocateAll(t *testing.T) {
	t.Parallel()
	tw := newShreddedTwinWith(t, shredTwinOptions{marker: "[shredded]", search: "equality, order, match"},
		func(i int) string { return fmt.Sprintf("Z%02d", i) })
	tw.shredKeys(t)
	ctx := testContext(t)
	q := "SELECT id FROM %s WHERE name >= $1 AND name < $2 ORDER BY id"
	binds := [][]string{{"S", "T"}, {"N1", "N2"}, {"S", "T"}}
	for _, reset := range []string{"DEALLOCATE ALL", "DISCARD ALL", "DEALLOCATE ALL"} {
		if d := tw.sameDeclared(t, q, []uint32{0, 0}, binds, "rt31a_again"); d > 0 {
			t.Errorf("before %s: %d answers differed", reset, d)
		}
		for _, conn := range []*pgx.Conn{tw.dir, tw.via} {
			if err := conn.PgConn().Exec(ctx, reset).Close(); err != nil {
				t.Fatalf("%s: %v", reset, err)
			}
		}
	}
	if d := tw.sameDeclared(t, q, []uint32{0, 0}, binds, "rt31a_again"); d > 0 {
		t.Errorf("at the end: %d answers differed", d)
	}
}
