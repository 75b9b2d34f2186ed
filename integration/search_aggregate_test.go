package integration

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/phiguard/phiguard/config"
)

// TestAggregateEncryptedShapes: min, max, count(col), count(*) and
// count(DISTINCT col) over encrypted columns, alone or with a proxy-side
// WHERE, against the plaintext tables in both protocols and result
// formats, NULLs and empty inputs included.
func TestAggregateEncryptedShapes(t *testing.T) {
	t.Parallel()
	f := newSortFixture(t, 150, nil)
	for _, q := range []string{
		`SELECT min(name), max(name), count(name), count(*), count(DISTINCT name) FROM %[1]s`,
		`SELECT min(born) AS first_born, max(born), min(score), max(score), count(DISTINCT score) FROM %[1]s WHERE grp = 2`,
		`SELECT count(*) FROM %[1]s WHERE name LIKE 'S%%'`,
		`SELECT count(*), count(born), max(name) FROM %[1]s WHERE born >= '1970-01-01' AND grp <> 1`,
		`SELECT min(name), count(*), count(DISTINCT born), max(score) FROM %[1]s WHERE id < 0`,
		`SELECT count(*) FROM %[1]s WHERE name > 'zzz'`,
		`SELECT max(a.city), count(DISTINCT p.name), count(a.city) FROM %[2]s a JOIN %[1]s p ON p.id = a.person WHERE a.active`,
		`SELECT min(tag), max(tag), count(DISTINCT tag) FROM %[1]s`,
		`SELECT pg_catalog.min(p.born), pg_catalog.count(p.grp) FROM %[1]s p WHERE p.name = 'Smith'`,
	} {
		f.same(t, q)
	}
	f.same(t, `SELECT count(*), min(born), max(name) FROM %[1]s WHERE born BETWEEN $1 AND $2 AND grp = $3`, "1950-01-01", "1969-12-31", 3)
	// PostgreSQL's description of the result, to a Describe of the
	// statement and in the result itself.
	f.sameDescription(t, `SELECT min(name), max(born) AS b, count(*), count(DISTINCT score), max(score) FROM %[1]s WHERE name >= $1`,
		"count table=0 attnum=0 type=20 size=8 mod=-1")
}

// sameDescription compares the description of q (one parameter, given
// "A") directly and through phiguard: to a Describe of the statement,
// and of the result in the binary format; want is a field it must hold.
func (f *sortFixture) sameDescription(t *testing.T, q, want string) {
	t.Helper()
	ctx := testContext(t)
	var described [2]string
	for side, conn := range []*pgx.Conn{f.dir, f.via} {
		sd, err := conn.Prepare(ctx, "", f.sql(q, side))
		if err != nil {
			t.Fatal(err)
		}
		got := fmt.Sprint(fieldsOf(sd.Fields))
		rows, err := conn.Query(ctx, f.sql(q, side), pgx.QueryExecModeDescribeExec, "A")
		if err != nil {
			t.Fatal(err)
		}
		rows.Close()
		described[side] = got + "\n" + fmt.Sprint(fieldsOf(rows.FieldDescriptions()))
	}
	if described[1] != described[0] || !strings.Contains(described[0], want) {
		t.Errorf("described through phiguard\n%s\ndirectly\n%s", described[1], described[0])
	}
}

// fieldsOf is a description as comparable text.
func fieldsOf(fds []pgconn.FieldDescription) []string {
	var out []string
	for _, f := range fds {
		table := "0" // the twins' tables have different OIDs
		if f.TableOID != 0 {
			table = "T"
		}
		out = append(out, fmt.Sprintf("%s table=%s attnum=%d type=%d size=%d mod=%d format=%d",
			f.Name, table, f.TableAttributeNumber, f.DataTypeOID, f.DataTypeSize, f.TypeModifier, f.Format))
	}
	return out
}

// TestAggregateEncryptedDifferential generates aggregate statements over
// the sort fixture (random min, max, count(col), count(*) and
// count(DISTINCT col) over encrypted and plaintext columns, with random
// proxy-side WHERE conjuncts) and runs each on the plaintext tables
// directly and on the encrypted ones through phiguard, in both protocols:
// no answer may differ. Other samples: PHIGUARD_SORT_SEED.
func TestAggregateEncryptedDifferential(t *testing.T) {
	t.Parallel()
	f := newSortFixture(t, 120, nil)
	seed := uint64(envInt(t, "PHIGUARD_SORT_SEED", 1))
	r := rand.New(rand.NewPCG(seed, 17))
	const statements = 120
	differ := 0
	for i := range statements {
		q, args := genAggregateStatement(r)
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

// genAggregateStatement is one random aggregate statement and its
// parameters.
func genAggregateStatement(r *rand.Rand) (string, []any) {
	join := r.IntN(3) == 0
	enc := []string{"p.name", "p.born", "p.score", "p.tag"}
	plain := []string{"p.grp", "p.id"}
	if join {
		enc, plain = append(enc, "a.city"), append(plain, "a.sequence")
	}
	var sel []string
	for range 1 + r.IntN(4) {
		switch r.IntN(6) {
		case 0:
			sel = append(sel, "count(*)")
		case 1:
			sel = append(sel, "count("+pick(r, append(enc, plain...)...)+")")
		case 2:
			sel = append(sel, "count(DISTINCT "+pick(r, enc...)+")")
		default:
			sel = append(sel, pick(r, "min", "max")+"("+pick(r, enc...)+")")
		}
	}
	from := "%[1]s p"
	if join {
		from = "%[2]s a LEFT JOIN %[1]s p ON p.id = a.person"
	}
	where := []string{pick(r, "true", "p.grp <> 3", "p.id > 40")}
	var args []any
	if r.IntN(3) > 0 {
		where, args = genFilterConjuncts(r, join, where)
	}
	return fmt.Sprintf("SELECT %s FROM %s WHERE %s", strings.Join(sel, ", "), from, strings.Join(where, " AND ")), args
}

// TestAggregateEncryptedRefusals: equal values printed differently, a
// text column not under the C collation, and aggregates beside a
// plaintext one.
func TestAggregateEncryptedRefusals(t *testing.T) {
	t.Parallel()
	tw := newTwin(t, "aggn", twinColumn{"id", "int", ""},
		twinColumn{"amount", "numeric", "{mode: randomized, key: aggn, type: numeric}"},
		twinColumn{"name", "text", "{mode: randomized, key: aggn, type: text}"})
	tw.exec(t, "INSERT INTO %s (id, amount, name) VALUES (1, 1.5, 'a'), (2, 2.0, 'b'), (3, NULL, NULL)", pgx.QueryExecModeSimpleProtocol)
	for _, mode := range bothModes {
		tw.same(t, "SELECT min(amount), max(amount), count(amount), count(DISTINCT amount), max(name) FROM %s", mode, "aggregates")
	}
	tw.exec(t, "INSERT INTO %s (id, amount, name) VALUES (4, 2.00, 'c')", pgx.QueryExecModeSimpleProtocol)
	for _, mode := range bothModes {
		tw.same(t, "SELECT min(amount), count(DISTINCT amount) FROM %s", mode, "count(DISTINCT) of equal values")
		_, err := rowsRaw(t, tw.via, fmt.Sprintf("SELECT max(amount) FROM %s", tw.enc), mode, 0)
		wantCode(t, err, "0A000", "print differently")
		_, err = rowsRaw(t, tw.via, fmt.Sprintf("SELECT max(name), max(id) FROM %s", tw.enc), mode, 0)
		wantCode(t, err, "0A000", "max()")
	}
	ctx := testContext(t)
	if _, err := superuser(t).Exec(ctx, fmt.Sprintf(`ALTER TABLE %s ALTER COLUMN name TYPE text COLLATE "und-x-icu"`, tw.enc)); err != nil {
		t.Fatal(err)
	}
	_, err := rowsAfterCollationDDL(t, tw.via, fmt.Sprintf("SELECT min(name) FROM %s", tw.enc))
	wantCode(t, err, "0A000", "under collation")
	// count(DISTINCT) is equality only: bytes, under any deterministic collation.
	tw.same(t, "SELECT count(DISTINCT name) FROM %s", pgx.QueryExecModeSimpleProtocol, "count(DISTINCT) under ICU")
	su := superuser(t)
	if _, err := su.Exec(ctx, `CREATE COLLATION IF NOT EXISTS phiguard_ci (provider = icu, locale = 'und-u-ks-level2', deterministic = false)`); err != nil {
		t.Fatal(err)
	}
	if _, err := su.Exec(ctx, fmt.Sprintf(`ALTER TABLE %s ALTER COLUMN name TYPE text COLLATE phiguard_ci`, tw.enc)); err != nil {
		t.Fatal(err)
	}
	_, err = rowsAfterCollationDDL(t, tw.via, fmt.Sprintf("SELECT count(DISTINCT name) FROM %s", tw.enc))
	wantCode(t, err, "0A000", "nondeterministic collation")
}

// TestAggregateEncryptedUnderAccessRules: row rules narrow the rows the
// aggregates see; a role that sees the column masked, pseudonymized or
// nulled cannot aggregate it.
func TestAggregateEncryptedUnderAccessRules(t *testing.T) {
	t.Parallel()
	fx := accessFixture(t)
	p := startAccessProxy(t, fx)
	alice, admin := p.as(t, "dr_alice"), p.as(t, "admin_ann")
	for _, mode := range bothModes {
		got, err := rowsRaw(t, alice, "SELECT min(p.last), max(p.birthdate), count(DISTINCT p.first), count(*) FROM patients p", mode, pgx.TextFormatCode)
		if err != nil {
			t.Fatalf("%v: %v", mode, err)
		}
		want, err := rowsRaw(t, admin, "SELECT min(p.last), max(p.birthdate), count(DISTINCT p.first), count(*) FROM patients p WHERE p.id IN "+aliceSees, mode, pgx.TextFormatCode)
		if err != nil {
			t.Fatalf("%v: %v", mode, err)
		}
		all, err := rowsRaw(t, admin, "SELECT min(p.last), max(p.birthdate), count(DISTINCT p.first), count(*) FROM patients p", mode, pgx.TextFormatCode)
		if err != nil {
			t.Fatalf("%v: %v", mode, err)
		}
		if got != want || got == all {
			t.Fatalf("%v: dr_alice\n%s\nadmin's filter\n%s\nadmin, all rows\n%s", mode, got, want, all)
		}
	}
	biller, research := p.as(t, "biller"), p.as(t, "researcher")
	wantCodes(t, []codeCase{
		{biller, "SELECT min(ssn) FROM patients", "42501"},
		{research, "SELECT max(birthdate) FROM patients", "42501"},
		{research, "SELECT count(DISTINCT first) FROM patients", "42501"},
		{biller, "SELECT min(first), max(last) FROM patients", ""},
	})
}

// TestAggregateEncryptedLatency reports (it asserts only identical
// answers) the median latency of aggregates and a DISTINCT over 2,000
// people through phiguard, encrypted, against the plaintext table
// directly.
func TestAggregateEncryptedLatency(t *testing.T) {
	t.Parallel()
	f := newSortFixture(t, 2000, nil)
	for _, c := range []struct{ name, q string }{
		{"min, max, count(DISTINCT) over 2,000 rows", "SELECT min(name), max(born), count(DISTINCT name), count(*) FROM %[1]s"},
		{"count(*) under a proxy-side WHERE", "SELECT count(*) FROM %[1]s WHERE born BETWEEN '1950-01-01' AND '1959-12-31'"},
		{"DISTINCT name ORDER BY name over 2,000 rows", "SELECT DISTINCT name FROM %[1]s ORDER BY name"},
	} {
		var direct, via []time.Duration
		for range 21 {
			start := time.Now()
			want, err := rowsRaw(t, f.dir, f.sql(c.q, 0), pgx.QueryExecModeCacheStatement, pgx.TextFormatCode)
			direct = append(direct, time.Since(start))
			if err != nil {
				t.Fatal(err)
			}
			start = time.Now()
			got, err := rowsRaw(t, f.via, f.sql(c.q, 1), pgx.QueryExecModeCacheStatement, pgx.TextFormatCode)
			via = append(via, time.Since(start))
			if err != nil || got != want {
				t.Fatalf("%s: answers differ (%v)\n%s\n%s", c.name, err, got, want)
			}
		}
		slices.Sort(direct)
		slices.Sort(via)
		t.Logf("%s: median %v through phiguard (encrypted), %v directly (plaintext): %.1fx",
			c.name, via[10], direct[10], float64(via[10])/float64(direct[10]))
	}
}

// TestAggregateEncryptedCapped: DISTINCT, GROUP BY and count(DISTINCT)
// hold what they must and are refused past limits.proxy_sort_rows (54000);
// min, max and count fold the rows and hold none.
func TestAggregateEncryptedCapped(t *testing.T) {
	t.Parallel()
	f := newSortFixture(t, 40, func(c *config.Config) { c.Limits.ProxySortRows = 20 })
	for _, q := range []string{
		"SELECT DISTINCT name, id FROM %[1]s",
		"SELECT id, name, count(*) FROM %[1]s GROUP BY id, name",
		"SELECT count(DISTINCT born) FROM %[1]s",
	} {
		for _, mode := range bothModes {
			_, err := rowsRaw(t, f.via, f.sql(q, 1), mode, pgx.TextFormatCode)
			wantCode(t, err, "54000", "limits.proxy_sort_rows")
		}
	}
	f.same(t, "SELECT min(name), max(born), count(*), count(score) FROM %[1]s")
}
