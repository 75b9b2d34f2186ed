package integration

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/phiguard/phiguard/audit"
	"github.com/phiguard/phiguard/config"
	"github.com/phiguard/phiguard/keys"
)

// TestSubqueryFilterDifferential generates statements whose WHERE holds
// X IN (SELECT k ...), X = ANY (SELECT k ...) or EXISTS (SELECT ...), or
// NOT IN or NOT EXISTS, with one or two conjuncts on an encrypted column of the subquery's table
// (on people, in one statement of four, also on one or two more columns
// or the same one named without its table: several cells per inner row)
// (every comparison phiguard evaluates, ILIKE with ESCAPE, `_` and `%`,
// ranges on a randomized date, IS [NOT] DISTINCT FROM, lower()), beside
// plaintext conjuncts inside and outside, ORDER BY and LIMIT outside, NULL
// in X, in k and in the cells, duplicates (several addresses per person),
// and runs each on the plaintext tables directly and on the encrypted
// ones through phiguard: simple protocol, extended with text results and
// extended with binary results. No answer may differ. The seed is fixed.
func TestSubqueryFilterDifferential(t *testing.T) {
	t.Parallel()
	f := newSortFixture(t, 120, nil)
	r := rand.New(rand.NewPCG(13, 2027))
	const statements = 200
	c := f.runThreeWays(t, statements, func() (string, []any, bool) { return genSubqueryStatement(r) }, nil)
	differ, nonEmpty, answers := c.differ, c.withRows, c.answers
	t.Logf("%d statements, 3 ways each: %d different answers, %d of %d answers with rows", statements, differ, nonEmpty, answers)
	if nonEmpty < answers/2 { // the comparison must be about rows
		t.Fatalf("only %d answers of %d have rows", nonEmpty, answers)
	}
}

// subqueryShapes are the conjuncts generated: the outer table and the
// conjunct, %[3]s standing for the subquery's WHERE; people says the
// subquery reads people (else addresses).
var subqueryShapes = []struct {
	outer, conj string
	people      bool // the subquery reads people (else addresses)
}{
	{"%[1]s o", "o.id IN (SELECT s.person FROM %[2]s s WHERE %[3]s)", false},
	{"%[1]s o", "NULLIF(o.grp, 1) = ANY (SELECT s.grp FROM %[1]s s WHERE %[3]s)", true},
	{"%[1]s o", "o.grp IN (SELECT s.sequence FROM %[2]s s WHERE %[3]s)", false},
	{"%[2]s o", "o.person IN (SELECT s.id FROM %[1]s s WHERE %[3]s)", true},
	{"%[2]s o", "o.sequence IN (SELECT s.grp AS k FROM %[1]s s WHERE %[3]s)", true},
	{"%[1]s o", "EXISTS (SELECT 1 FROM %[2]s s WHERE s.person = o.id AND %[3]s)", false},
	{"%[1]s o", "EXISTS (SELECT s.id FROM %[1]s s WHERE s.grp = o.grp AND s.id <> o.id AND %[3]s)", true},
	{"%[2]s o", "EXISTS (SELECT 1 FROM %[1]s s WHERE %[3]s)", true},
	// Negated: NULL in X (NULLIF) or k (sequence) makes NOT IN NULL.
	{"%[1]s o", "o.id NOT IN (SELECT s.person FROM %[2]s s WHERE %[3]s)", false},
	{"%[1]s o", "o.grp NOT IN (SELECT s.sequence FROM %[2]s s WHERE %[3]s)", false},
	{"%[1]s o", "NOT NULLIF(o.grp, 1) IN (SELECT s.grp FROM %[1]s s WHERE s.id < 40 AND %[3]s)", true},
	{"%[1]s o", "NOT EXISTS (SELECT 1 FROM %[2]s s WHERE s.person = o.id AND %[3]s)", false},
	{"%[2]s o", "NOT EXISTS (SELECT 1 FROM %[1]s s WHERE s.id = o.person AND %[3]s)", true},
}

// genSubqueryStatement is one statement, its parameters, and whether its
// rows come in a defined order.
func genSubqueryStatement(r *rand.Rand) (string, []any, bool) {
	sh := subqueryShapes[r.IntN(len(subqueryShapes))]
	var args []any
	cols := []int{0, 1, 2, 3} // filterColumns of people: name, born, score, tag
	if !sh.people {
		cols = []int{4}
	}
	i := cols[r.IntN(len(cols))]
	col := "s." + strings.Split(filterColumns[i].col, ".")[1]
	inner := genInnerConjuncts(r, i, col, &args)
	for n := r.IntN(4); sh.people && n >= 2; n-- { // filters on a second (third) column of the same rows
		j := cols[r.IntN(len(cols))]
		other := "s." + strings.Split(filterColumns[j].col, ".")[1]
		if j == i && r.IntN(2) == 0 {
			other = strings.TrimPrefix(other, "s.") // the same column named another way: another cell
		}
		inner = append(inner, genInnerConjuncts(r, j, other, &args)...)
		r.Shuffle(len(inner), func(a, b int) { inner[a], inner[b] = inner[b], inner[a] })
	}
	if r.IntN(2) == 0 {
		plain := "s.active"
		if sh.people {
			plain = "s.grp <> 2"
		}
		inner = append(inner, pick(r, "s.id %% 3 <> 0", "s.id > 10", plain))
		r.Shuffle(len(inner), func(a, b int) { inner[a], inner[b] = inner[b], inner[a] })
	}
	conj := fmt.Sprintf(sh.conj, "%[1]s", "%[2]s", strings.Join(inner, " AND "))
	where := []string{conj}
	if strings.HasPrefix(sh.outer, "%[1]s") && r.IntN(4) == 0 { // a second subquery with filters
		where = append(where, pick(r, "", "NOT ")+"EXISTS (SELECT 1 FROM %[2]s t WHERE t.person = o.id AND t.city "+
			pick(r, "LIKE 'B%%'", "ILIKE '%%r%%'", ">= 'Bern'", "IS NOT DISTINCT FROM NULL")+")")
	}
	if r.IntN(2) == 0 {
		where = append(where, pick(r, "o.id > 7", "o.id %% 5 <> 1"))
		r.Shuffle(len(where), func(a, b int) { where[a], where[b] = where[b], where[a] })
	}
	sel := "o.id"
	if strings.HasPrefix(sh.outer, "%[2]s") {
		sel += pick(r, "", ", o.person, o.sequence")
	} else {
		sel += pick(r, "", ", o.grp", ", o.name")
	}
	q := "SELECT " + sel + " FROM " + sh.outer + " WHERE " + strings.Join(where, " AND ")
	switch r.IntN(3) {
	case 0:
		return q, args, false
	case 1:
		return q + " ORDER BY o.id", args, true
	}
	return q + fmt.Sprintf(" ORDER BY o.id DESC LIMIT %d", 1+r.IntN(15)), args, true
}

// genInnerConjuncts is one or two conjuncts on the encrypted column
// col (filterColumns[i]), numbering their parameters after args.
func genInnerConjuncts(r *rand.Rand, i int, col string, args *[]any) []string {
	c := filterColumns[i]
	constant := func() string {
		switch n := r.IntN(10); {
		case n == 0:
			return "NULL"
		case n < 4:
			*args = append(*args, c.params[r.IntN(len(c.params))])
			return fmt.Sprintf("$%d", len(*args))
		}
		return c.consts[r.IntN(len(c.consts))]
	}
	var out []string
	for range 1 + r.IntN(3)/2 {
		var conj string
		switch op := r.IntN(16); {
		case op >= 11 && c.like:
			if r.IntN(4) == 0 { // the search box's
				*args = append(*args, pick(r, "%S%", "%_%", `%\_%`, "sm%", "%MI_H"))
				conj = col + " ILIKE $" + fmt.Sprint(len(*args)) + " ESCAPE '\\'"
			} else {
				conj = col + pick(r, " LIKE ", " NOT LIKE ", " ILIKE ", " ILIKE ", " NOT ILIKE ") + likePattern(r, args)
			}
		case op >= 11 && i == 1:
			conj = col + pick(r, " BETWEEN '1950-01-01' AND '1970-12-31'", " >= '1985-06-01'", " < DATE '1960-01-01'")
		case op < 5:
			sym := pick(r, "=", "<>", "<", "<=", ">", ">=")
			if r.IntN(4) == 0 {
				conj = constant() + " " + sym + " " + col
			} else {
				conj = col + " " + sym + " " + constant()
			}
		case op < 8:
			conj = col + " " + pick(r, "BETWEEN", "NOT BETWEEN", "BETWEEN SYMMETRIC") + " " + constant() + " AND " + constant()
		default:
			conj = col + pick(r, " IS DISTINCT FROM ", " IS NOT DISTINCT FROM ") + constant()
		}
		out = append(out, conj)
	}
	return out
}

// TestSubqueryFilterRefusals: the shapes around a filter inside a
// subquery that phiguard does not evaluate are refused (0A000) naming
// the column and the construct, in both protocols.
func TestSubqueryFilterRefusals(t *testing.T) {
	t.Parallel()
	f := newSortFixture(t, 20, nil)
	const in = "SELECT o.id FROM %[2]s o WHERE o.person "
	for _, c := range []struct{ sql, words string }{
		{in + "NOT IN (SELECT s.id FROM %[1]s s WHERE s.name LIKE 'S%%' LIMIT 3)", "NOT IN (SELECT ...) with LIMIT"},
		{"SELECT o.id FROM %[1]s o WHERE NOT EXISTS (SELECT 1 FROM %[2]s s WHERE s.person = o.id AND s.city ILIKE 'b%%' GROUP BY s.id)", "NOT EXISTS (SELECT ...) with GROUP BY"},
		{in + "> ANY (SELECT s.id FROM %[1]s s WHERE s.name LIKE 'S%%')", "> ANY (SELECT ...)"},
		{in + "= ALL (SELECT s.id FROM %[1]s s WHERE s.name LIKE 'S%%')", "= ALL (SELECT ...)"},
		{in + "IN (SELECT s.id FROM %[1]s s WHERE s.name LIKE 'S%%' GROUP BY s.id)", "with GROUP BY"},
		{in + "IN (SELECT max(s.id) FROM %[1]s s WHERE s.name LIKE 'S%%' HAVING count(*) > 1)", "with GROUP BY, HAVING"},
		{in + "IN (SELECT s.id FROM %[1]s s WHERE s.name LIKE 'S%%' LIMIT 5)", "with LIMIT or OFFSET"},
		{in + "IN (SELECT s.id FROM %[1]s s WHERE s.name LIKE 'S%%' OFFSET 1)", "with LIMIT or OFFSET"},
		{in + "IN (SELECT s.id FROM %[1]s s WHERE s.name LIKE 'S%%' ORDER BY s.id)", "with ORDER BY"},
		{in + "IN (SELECT DISTINCT ON (s.grp) s.id FROM %[1]s s WHERE s.name LIKE 'S%%')", "with DISTINCT"},
		{in + "IN (SELECT s.id + 0 * row_number() OVER () FROM %[1]s s WHERE s.name LIKE 'S%%')", "with window functions"},
		{in + "IN (SELECT s.id FROM %[1]s s WHERE s.name LIKE 'S%%' UNION SELECT 1)", "LIKE"},
		{in + "IN (SELECT s.id FROM %[1]s s WHERE s.born > '1950-01-01' AND (s.name > 'S' OR s.id > 3))", "operator >"},
		{in + "IN (SELECT s.id FROM %[1]s s WHERE s.born > '1950-01-01' AND s.name = s.tag)", "comparing two encrypted columns"},
		{"SELECT o.id FROM %[2]s o WHERE person IN (SELECT s.id FROM %[1]s s WHERE s.name LIKE 'S%%')", "without its table"},
		{"SELECT s.id FROM %[2]s s WHERE s.person IN (SELECT s.id FROM %[1]s s WHERE s.name LIKE 'S%%')", "the subquery's FROM also defines"},
		{in + "IN (SELECT s.id FROM %[1]s s WHERE s.name LIKE 'S%%' AND s.id IN (SELECT t.id FROM %[1]s t WHERE t.name LIKE 'A%%'))", "LIKE"},
		{in + "IN (SELECT t.id FROM %[1]s t WHERE t.id IN (SELECT s.id FROM %[1]s s WHERE s.name LIKE 'S%%'))", "LIKE"},
		{"SELECT o.id FROM %[2]s o WHERE o.id = 1 OR o.person IN (SELECT s.id FROM %[1]s s WHERE s.name LIKE 'S%%')", "LIKE"},
		{"SELECT count(*) FROM %[2]s o WHERE o.person IN (SELECT s.id FROM %[1]s s WHERE s.name LIKE 'S%%')", "beside aggregates"},
		{in + "IN (SELECT s.id / s.grp FROM %[1]s s WHERE s.name LIKE 'S%%')", "select list computing operator /"},
		{in + "IN (SELECT s.id FROM %[1]s s WHERE s.name LIKE 'S%%' AND random() < 0.5)", "beside the function random()"},
	} {
		for _, mode := range bothModes {
			_, err := rowsRaw(t, f.via, f.sql(c.sql, 1), mode, pgx.TextFormatCode)
			wantCode(t, err, "0A000", c.words)
			col := "name"
			if strings.Contains(c.sql, "s.city") {
				col = "city"
			}
			wantCode(t, err, "0A000", "."+col+" ")
		}
	}
}

// TestSubqueryFilterUnderAccessRules: a filter inside a subquery runs
// within the role's row rules there too (dr_alice's answer is the
// admin's with her care team's rule written into both levels); a role
// that sees the column masked, pseudonymized or nulled cannot filter by
// it (42501).
func TestSubqueryFilterUnderAccessRules(t *testing.T) {
	t.Parallel()
	fx := accessFixture(t)
	p := startAccessProxy(t, fx)
	alice, admin := p.as(t, "dr_alice"), p.as(t, "admin_ann")
	for _, mode := range bothModes {
		for _, c := range []struct{ mine, admins string }{
			{"SELECT o.id, o.last FROM patients o WHERE o.id IN (SELECT p.id FROM patients p WHERE p.last ILIKE $1 ESCAPE '\\') ORDER BY o.id",
				"SELECT o.id, o.last FROM patients o WHERE o.id IN " + aliceSees + " AND o.id IN (SELECT p.id FROM patients p WHERE p.id IN " + aliceSees + " AND p.last ILIKE $1 ESCAPE '\\') ORDER BY o.id"},
			{"SELECT o.id FROM patients o WHERE EXISTS (SELECT 1 FROM patients p WHERE p.id <> o.id AND p.last ILIKE $1) ORDER BY o.id",
				"SELECT o.id FROM patients o WHERE o.id IN " + aliceSees + " AND EXISTS (SELECT 1 FROM patients p WHERE p.id IN " + aliceSees + " AND p.id <> o.id AND p.last ILIKE $1) ORDER BY o.id"},
			// ESCAPE in the statement's own WHERE, which the row rules'
			// rewrite deparses as pg_catalog.like_escape(pattern, e).
			{"SELECT o.id FROM patients o WHERE o.last ILIKE $1 ESCAPE '\\' ORDER BY o.id",
				"SELECT o.id FROM patients o WHERE o.id IN " + aliceSees + " AND o.last ILIKE $1 ESCAPE '\\' ORDER BY o.id"},
		} {
			got, err := rowsRaw(t, alice, c.mine, mode, pgx.TextFormatCode, "%a%")
			if err != nil {
				t.Fatalf("%v: %v", mode, err)
			}
			want, err := rowsRaw(t, admin, c.admins, mode, pgx.TextFormatCode, "%a%")
			if err != nil {
				t.Fatalf("%v: %v", mode, err)
			}
			if got != want || strings.Count(got, "\n") < 2 {
				t.Fatalf("%v: dr_alice\n%s\nadmin's filter\n%s", mode, got, want)
			}
		}
	}
	biller, research := p.as(t, "biller"), p.as(t, "researcher")
	wantCodes(t, []codeCase{
		{biller, "SELECT o.id FROM patients o WHERE o.id IN (SELECT p.id FROM patients p WHERE p.ssn ILIKE '5%')", "42501"},
		{biller, "SELECT o.id FROM patients o WHERE EXISTS (SELECT 1 FROM patients p WHERE p.id = o.id AND p.zip LIKE '9%')", "42501"}, // masked
		{research, "SELECT o.id FROM patients o WHERE o.id IN (SELECT p.id FROM patients p WHERE p.first >= 'M')", "42501"},
		{research, "SELECT o.id FROM patients o WHERE o.id IN (SELECT p.id FROM patients p WHERE p.birthplace ILIKE '%a%')", "42501"}, // nulled
		{biller, "SELECT o.id FROM patients o WHERE o.id IN (SELECT p.id FROM patients p WHERE p.last ILIKE '%a%')", ""},
	})
}

// TestSubqueryFilterAudited: the column a subquery's filter opens is in
// the statement's audit record (read), though no field of the result is
// that column, in both protocols.
func TestSubqueryFilterAudited(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	outer, inner := uniqueName("sqa_o"), uniqueName("sqa_i")
	if _, err := superuser(t).Exec(ctx, fmt.Sprintf(`CREATE TABLE %[1]s (id int PRIMARY KEY); CREATE TABLE %[2]s (id int PRIMARY KEY, person int, code text);
		GRANT ALL ON %[1]s, %[2]s TO %[3]s`, outer, inner, appUser)); err != nil {
		t.Fatal(err)
	}
	var sink bytes.Buffer
	key := audit.MACKey{ID: "audit", Version: 1, Secret: keys.NewSecret(bytes.Repeat([]byte{7}, 32))}
	a, err := audit.New(audit.Options{Key: key, Sink: audit.NewWriterSink(&sink)})
	if err != nil {
		t.Fatal(err)
	}
	p := startProxy(t, proxyOptions{auditor: a, quiet: true, protect: protection(t, fmt.Sprintf(`
version: 1
tables:
  public.%s:
    columns:
      code: {mode: randomized, key: sqa-code, type: text}
`, inner))})
	conn := p.app(t)
	for _, q := range []string{"INSERT INTO " + outer + " VALUES (1), (2)", "INSERT INTO " + inner + " VALUES (1, 1, 'MRN-1'), (2, 2, 'X')"} {
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	q := "SELECT o.id FROM " + outer + " o WHERE o.id IN (SELECT s.person FROM " + inner + " s WHERE s.code ILIKE 'mrn%')"
	for _, mode := range bothModes {
		if got, err := rowsRaw(t, conn, q, mode, pgx.TextFormatCode); err != nil || got != "1\n(SELECT 1)" {
			t.Fatalf("%v: %q %v", mode, got, err)
		}
	}
	conn.Close(ctx)
	if err := a.Close(ctx); err != nil {
		t.Fatal(err)
	}
	found := 0
	for _, line := range strings.Split(strings.TrimSpace(sink.String()), "\n") {
		var r struct {
			Event, SQL string
			Read       []string
		}
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatal(err)
		}
		if r.Event == "statement" && strings.Contains(r.SQL, "ILIKE") {
			found++
			if !slices.Equal(r.Read, []string{"public." + inner + ".code"}) {
				t.Errorf("%s: read %v", r.SQL, r.Read)
			}
		}
	}
	if found != 2 {
		t.Fatalf("%d records of the statement, want 2:\n%s", found, sink.String())
	}
}

// TestSubqueryFilterLatency reports (it asserts only identical answers)
// the median latency of statements with a filter inside IN (SELECT ...)
// or EXISTS (SELECT ...) over 2,000 people and 4,000 addresses through
// phiguard against the plaintext tables directly: without an index on
// addresses.person, then with one (the hidden array's subquery runs once
// per row the database returns, correlated on that column).
func TestSubqueryFilterLatency(t *testing.T) {
	t.Parallel()
	f := newSortFixture(t, 2000, nil)
	f.subqueryLatency(t, "no index", 5) // each run about 2 s through phiguard
	for _, table := range f.addresses {
		if _, err := superuser(t).Exec(testContext(t), "CREATE INDEX ON "+table+" (person); ANALYZE "+table); err != nil {
			t.Fatal(err)
		}
	}
	f.subqueryLatency(t, "an index on addresses.person", 21)
}

func (f *sortFixture) subqueryLatency(t *testing.T, what string, runs int) {
	t.Helper()
	for _, c := range []struct {
		name, q string
		args    []any
	}{
		{"people with an address in a city like $1 (the search box, IN)", "SELECT o.id FROM %[1]s o WHERE o.id IN (SELECT s.person FROM %[2]s s WHERE s.city ILIKE $1 ESCAPE $2) ORDER BY o.id LIMIT 20", []any{"%ür%", `\`}},
		{"the same, EXISTS", "SELECT o.id FROM %[1]s o WHERE EXISTS (SELECT 1 FROM %[2]s s WHERE s.person = o.id AND s.city ILIKE $1 ESCAPE $2) ORDER BY o.id LIMIT 20", []any{"%ür%", `\`}},
		{"one group's addresses of people born in a decade", "SELECT o.id FROM %[2]s o WHERE o.person IN (SELECT s.id FROM %[1]s s WHERE s.grp = 1 AND s.born BETWEEN $1 AND $2) ORDER BY o.id", []any{"1950-01-01", "1959-12-31"}},
	} {
		mode := pgx.QueryExecModeCacheStatement
		var direct, via []time.Duration
		for range runs {
			start := time.Now()
			want, err := rowsRaw(t, f.dir, f.sql(c.q, 0), mode, pgx.TextFormatCode, c.args...)
			direct = append(direct, time.Since(start))
			if err != nil {
				t.Fatal(err)
			}
			start = time.Now()
			got, err := rowsRaw(t, f.via, f.sql(c.q, 1), mode, pgx.TextFormatCode, c.args...)
			via = append(via, time.Since(start))
			if err != nil || got != want || !strings.Contains(want, "\n") {
				t.Fatalf("%s: answers differ or are empty (%v)", c.name, err)
			}
		}
		slices.Sort(direct)
		slices.Sort(via)
		t.Logf("%s, %s: median %v through phiguard (encrypted), %v directly (plaintext): %.1fx",
			c.name, what, via[runs/2], direct[runs/2], float64(via[runs/2])/float64(direct[runs/2]))
	}
}

// TestSubqueryFilterConstantsNeverReachDatabase: the constants of a
// filter inside IN or EXISTS (SELECT ...), literals and parameters, are
// in no byte phiguard sends the database, and the answers are the
// plaintext tables'.
func TestSubqueryFilterConstantsNeverReachDatabase(t *testing.T) {
	t.Parallel()
	relay := startByteRelay(t)
	f := newSortFixture(t, 80, func(c *config.Config) {
		c.Backend.Port = relay.port
		c.Backend.TLS.Mode = config.BackendTLSDisable // the relay reads the bytes
	})
	relay.take() // the fixture's own writes
	secrets := []string{"Subqleak", "1938-04-26", "Subpleak", "Cityleak", "1943-06-22", "Existleak"}
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{"SELECT o.id FROM %[2]s o WHERE o.person IN (SELECT s.id FROM %[1]s s WHERE s.name <> 'Subqleak' AND s.name > 'B' AND s.grp <> 3) ORDER BY o.id", nil},
		{"SELECT o.id FROM %[2]s o WHERE o.person = ANY (SELECT s.id FROM %[1]s s WHERE s.name NOT ILIKE $1 ESCAPE '#')", []any{"Subpleak#%"}},
		{"SELECT o.id FROM %[1]s o WHERE EXISTS (SELECT 1 FROM %[2]s s WHERE s.person = o.id AND s.city NOT LIKE $1 AND s.city IS DISTINCT FROM 'Existleak') ORDER BY o.id LIMIT 9", []any{"Cityleak%"}},
		{"SELECT o.id FROM %[2]s o WHERE o.person IN (SELECT s.id FROM %[1]s s WHERE s.born NOT BETWEEN $1 AND '1943-06-22')", []any{"1938-04-26"}},
	} {
		f.sameRows(t, q.sql, q.args...)
	}
	noSecretsSent(t, relay.take(), []string{f.people[1], "ARRAY(SELECT s."}, secrets)
}

// TestSubqueryFilterParameterTypes: a parameter of a filter inside a
// subquery, which the text sent no longer holds, is declared by phiguard
// as PostgreSQL would infer it (or as the client declared it): the
// ParameterDescription and the answers are the plaintext tables'.
func TestSubqueryFilterParameterTypes(t *testing.T) {
	t.Parallel()
	f := newSortFixture(t, 60, nil)
	ctx := testContext(t)
	for _, c := range []struct {
		sql    string
		oids   []uint32
		values []string
	}{
		{"SELECT o.id FROM %[2]s o WHERE o.person IN (SELECT s.id FROM %[1]s s WHERE s.born > $1) ORDER BY o.id", nil, []string{"1960-01-01"}},
		{"SELECT o.id FROM %[1]s o WHERE EXISTS (SELECT 1 FROM %[1]s s WHERE s.grp = o.grp AND s.name >= $1 AND s.name ILIKE $2) ORDER BY o.id", nil, []string{"B", "%m%"}},
		{"SELECT o.id FROM %[1]s o WHERE o.id NOT IN (SELECT s.person FROM %[2]s s WHERE s.city >= $2 AND s.sequence = $1) ORDER BY o.id", []uint32{20}, []string{"1", "B"}},
	} {
		answer := func(conn *pgx.Conn, side int) ([]uint32, string) {
			sd, err := conn.PgConn().Prepare(ctx, "", f.sql(c.sql, side), c.oids)
			if err != nil {
				t.Fatalf("%s (side %d): %v", c.sql, side, err)
			}
			vals := make([][]byte, len(c.values))
			for i, v := range c.values {
				vals[i] = []byte(v)
			}
			res := conn.PgConn().ExecParams(ctx, f.sql(c.sql, side), vals, sd.ParamOIDs, nil, nil).Read()
			if res.Err != nil {
				t.Fatalf("%s (side %d): %v", c.sql, side, res.Err)
			}
			var rows []string
			for _, r := range res.Rows {
				rows = append(rows, string(r[0]))
			}
			return sd.ParamOIDs, strings.Join(rows, ",")
		}
		wantOIDs, want := answer(f.dir, 0)
		gotOIDs, got := answer(f.via, 1)
		if !slices.Equal(gotOIDs, wantOIDs) || got != want || want == "" {
			t.Fatalf("%s: through phiguard %v %q, directly %v %q", c.sql, gotOIDs, got, wantOIDs, want)
		}
	}
}
