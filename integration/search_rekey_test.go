package integration

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/phiguard/phiguard/cellcipher"
	"github.com/phiguard/phiguard/config"
	"github.com/phiguard/phiguard/guard"
	"github.com/phiguard/phiguard/keys"
	"github.com/phiguard/phiguard/keys/keysconfig"
	"github.com/phiguard/phiguard/search"
	"github.com/phiguard/phiguard/sqlrewrite"
)

// A change of the term key (docs/design/search-terms.md §5.3,
// `search_state: rekeying`): the columns' search_key_version moved from
// 1 to 2 and the backfill has rewritten half the cells' terms.

// rekeySortPolicy is termSortPolicy during the change to version 2.
var rekeySortPolicy = strings.NewReplacer("search_key_version: 1, search_state: ready", "search_key_version: 2, search_state: rekeying").Replace(termSortPolicy)

// rekeyProtection is protection with versions 1 and 2 of every key.
func rekeyProtection(t *testing.T, policyYAML string) *guard.Protection {
	t.Helper()
	pol, err := sqlrewrite.ParsePolicy([]byte(policyYAML))
	if err == nil {
		err = pol.Validate()
	}
	if err != nil {
		t.Fatal(err)
	}
	var dks []keys.DataKey
	for _, id := range keysconfig.KeyIDs(pol) {
		for v := uint32(1); v <= 2; v++ {
			dk, err := keys.GenerateDataKey(id, v, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			dks = append(dks, dk)
		}
	}
	kr, err := keys.NewKeyring(dks)
	if err != nil {
		t.Fatal(err)
	}
	return &guard.Protection{Policy: pol, Keyring: kr}
}

// newRekeyFixture is the sort fixture under rekeySortPolicy: every cell
// written through phiguard with terms of version 2, then the odd ids'
// cells given the terms of version 1 in the database (the cells the
// backfill has not reached yet), ciphertext kept.
func newRekeyFixture(t *testing.T, n int) (*sortFixture, *byteRelay) {
	t.Helper()
	return newRekeyFixtureWith(t, n, rekeySortPolicy)
}

// newRekeyFixtureWith is newRekeyFixture under another policy template
// (the people and addresses tables' names for %[1]s and %[2]s).
func newRekeyFixtureWith(t *testing.T, n int, policyTemplate string) (*sortFixture, *byteRelay) {
	t.Helper()
	ctx := testContext(t)
	relay := startByteRelay(t)
	f := &sortFixture{
		people:    [2]string{uniqueName("rekp_plain"), uniqueName("rekp_enc")},
		addresses: [2]string{uniqueName("reka_plain"), uniqueName("reka_enc")},
	}
	su := superuser(t)
	for i := range 2 {
		pc, ac := sortPeopleCols, sortAddressCols
		if i == 1 {
			pc = "id int PRIMARY KEY, name text, born text, score text, tag text, grp int"
			ac = "id int PRIMARY KEY, person int, sequence int, active boolean, city text"
		}
		if _, err := su.Exec(ctx, fmt.Sprintf("CREATE TABLE %s (%s); CREATE TABLE %s (%s); GRANT ALL ON %s, %s TO %s",
			f.people[i], pc, f.addresses[i], ac, f.people[i], f.addresses[i], appUser)); err != nil {
			t.Fatal(err)
		}
	}
	f.prot = rekeyProtection(t, fmt.Sprintf(policyTemplate, f.people[1], f.addresses[1]))
	f.p = startProxy(t, proxyOptions{protect: f.prot, quiet: true, configure: func(c *config.Config) {
		c.Backend.Port = relay.port
		c.Backend.TLS.Mode = config.BackendTLSDisable
	}})
	f.via, f.dir = f.p.app(t), direct(t)
	f.fill(t, n)
	installSearch(t, f.prot.Policy)
	old := 0
	// tag, deterministic, is given version 1 terms later (tagHalf).
	for _, tc := range []struct{ table, cols string }{{f.people[1], "name, born, score"}, {f.addresses[1], "city"}} {
		old += f.retermOdd(t, tc.table, strings.Split(tc.cols, ", "))
	}
	if old < n {
		t.Fatalf("only %d cells given version 1 terms", old)
	}
	relay.take()
	return f, relay
}

// retermOdd gives the cells of table's odd ids the terms of version 1.
func (f *sortFixture) retermOdd(t *testing.T, table string, cols []string) int {
	t.Helper()
	ctx := testContext(t)
	su := superuser(t)
	c := &cellcipher.Cipher{Keyring: f.prot.Keyring}
	n := 0
	for _, name := range cols {
		col, ok := f.prot.Policy.Column("public", table, name)
		if !ok {
			t.Fatalf("no column %s", name)
		}
		coll, err := search.ColumnCollation(ctx, su, col)
		if err != nil {
			t.Fatal(err)
		}
		loc, err := coll.Locale(col)
		if err != nil {
			t.Fatal(err)
		}
		rows, err := su.Query(ctx, fmt.Sprintf("SELECT id, %s FROM %s WHERE id %% 2 = 1 AND %s IS NOT NULL", name, table, name))
		if err != nil {
			t.Fatal(err)
		}
		cells := map[int]string{}
		for rows.Next() {
			var id int
			var v string
			if err := rows.Scan(&id, &v); err != nil {
				t.Fatal(err)
			}
			cells[id] = v
		}
		rows.Close()
		for id, v := range cells {
			canon, err := f.prot.Keyring.Decrypt(cellcipher.AssociatedData(col), []byte(v))
			if err != nil {
				t.Fatalf("%s row %d: %v", name, id, err)
			}
			terms, err := c.CellTermsAt(col, loc, canon, 1)
			if err != nil {
				t.Fatal(err)
			}
			cell, err := keys.WithTerms([]byte(v), terms)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := su.Exec(ctx, fmt.Sprintf("UPDATE %s SET %s = $1 WHERE id = $2", table, name), string(cell), id); err != nil {
				t.Fatal(err)
			}
			n++
		}
	}
	return n
}

// TestTermRekeyingDifferential: during a term-key change with half the
// table's cells carrying terms of each version, the filter generator's
// 200 statements (seed 31) give the plaintext tables' answers in both
// protocols; = sends its equality term under both versions (= ANY) and no
// order term is sent (ranges and BETWEEN run in phiguard); = with text
// and binary parameters finds the rows of both halves. The control: the
// new version's term alone finds fewer rows than the plaintext has.
func TestTermRekeyingDifferential(t *testing.T) {
	t.Parallel()
	f, relay := newRekeyFixture(t, 120)
	ctx := testContext(t)
	r := rand.New(rand.NewPCG(31, 2026))
	const statements = 200
	gen := func() (string, []any, bool) {
		q, args := genSortStatement(r, true)
		return q, args, true
	}
	c, refused := f.runRekeyWays(t, statements, gen)
	sent := relay.take()
	eq, ord := bytes.Count(sent, []byte("phiguard.term_eq_v1(")), bytes.Count(sent, []byte("phiguard.term_ord_v1("))
	anyEq := len(eqAnyRe.FindAll(sent, -1))
	t.Logf("%d statements, both protocols: %d different answers, %d refused (0A000: a value left of the deterministic tag), %d of %d answers with rows; %d equality term calls sent (%d as = ANY of both versions, %d of NULL), %d order term calls",
		statements, c.differ, refused, c.withRows, 2*statements, eq, anyEq, bytes.Count(sent, []byte("OPERATOR(pg_catalog.=) NULL::pg_catalog.bytea")), ord)
	if c.withRows < statements/2 || c.differ > 0 || refused > statements/10 {
		t.Fatalf("%d different answers, %d with rows", c.differ, c.withRows)
	}
	nullEq := bytes.Count(sent, []byte("OPERATOR(pg_catalog.=) NULL::pg_catalog.bytea")) // a NULL constant: no term
	if eq < 10 || anyEq+nullEq != eq || anyEq < eq/2 || ord != 0 {
		t.Fatalf("%d equality term calls (%d with both versions), %d order term calls sent", eq, anyEq, ord)
	}

	// The deterministic tag's odd half gets version 1 terms too: = and IN
	// with the literal right of the column, and parameters, look for the
	// cell under every term version.
	if n := f.retermOdd(t, f.people[1], []string{"tag"}); n < 20 {
		t.Fatalf("%d tag cells given version 1 terms", n)
	}
	for _, q := range []string{
		"SELECT id FROM %[1]s WHERE tag = 't3' ORDER BY id",
		"SELECT id FROM %[1]s WHERE tag IN ('t1', 't3') ORDER BY id",
		"SELECT id FROM %[1]s WHERE tag <> 't3' ORDER BY id",
		"SELECT id FROM %[1]s WHERE tag NOT IN ('t1', 't3') ORDER BY id",
		"SELECT tag, count(*) FROM %[1]s GROUP BY tag ORDER BY tag",
	} {
		for _, m := range twoWays {
			want, werr := rowsRaw(t, f.dir, f.sql(q, 0), m.mode, m.format)
			got, gerr := rowsRaw(t, f.via, f.sql(q, 1), m.mode, m.format)
			if werr != nil || gerr != nil || got != want {
				t.Errorf("%s (%v): through phiguard %v\n%s\ndirectly %v\n%s", q, m.mode, gerr, got, werr, want)
			}
		}
	}

	// Text and binary parameters; each finds rows of both halves.
	var bornOdd, bornEven string
	for _, b := range []struct {
		dst *string
		odd int
	}{{&bornOdd, 1}, {&bornEven, 0}} {
		if err := f.dir.QueryRow(ctx, fmt.Sprintf("SELECT born::text FROM %s WHERE born IS NOT NULL AND id %% 2 = $1 ORDER BY id LIMIT 1", f.people[0]), b.odd).Scan(b.dst); err != nil {
			t.Fatal(err)
		}
	}
	found := map[string]string{}
	for _, q := range []struct {
		sql   string
		param string
		oid   uint32
	}{
		{"SELECT id FROM %[1]s WHERE name = $1 ORDER BY id", "Smith", 25},
		{"SELECT id FROM %[1]s WHERE born = $1 ORDER BY id", bornOdd, 1082},
		{"SELECT id FROM %[1]s WHERE born = $1 ORDER BY id", bornEven, 1082},
		{"SELECT id FROM %[1]s WHERE tag = $1 ORDER BY id", "t3", 25},
	} {
		for _, format := range []int16{0, 1} {
			var got [2]string
			for side, conn := range []*pgx.Conn{f.dir, f.via} {
				v := []byte(q.param)
				if format == 1 && q.oid == 1082 {
					v = binaryDate(t, q.param)
				}
				res := conn.PgConn().ExecParams(ctx, f.sql(q.sql, side), [][]byte{v}, []uint32{q.oid}, []int16{format}, nil).Read()
				if res.Err != nil {
					t.Fatalf("%s (format %d, side %d): %v", q.sql, format, side, res.Err)
				}
				for _, row := range res.Rows {
					got[side] += string(row[0]) + ","
				}
			}
			if got[0] != got[1] || got[0] == "" {
				t.Errorf("%s $1=%s format %d: through phiguard %s, directly %s", q.sql, q.param, format, got[1], got[0])
			}
			found[q.sql] += got[1]
		}
	}
	for q, ids := range found {
		if !hasOddAndEven(ids) {
			t.Errorf("%s found rows of one half only: %s", q, ids)
		}
	}
	if sent := relay.take(); !bytes.Contains(sent, []byte("ANY ($1::pg_catalog.bytea[])")) && !bytes.Contains(sent, []byte("::pg_catalog.bytea[])")) {
		t.Error("no bytea[] term parameter was sent")
	}

	// The control: version 2's term alone misses the odd half.
	name, _ := f.prot.Policy.Column("public", f.people[1], "name")
	tk, err := cellcipher.TermKeys(f.prot.Keyring, name, 2)
	if err != nil {
		t.Fatal(err)
	}
	var plain, byNew int
	f.dir.QueryRow(ctx, fmt.Sprintf("SELECT count(*) FROM %s WHERE name = 'Smith'", f.people[0])).Scan(&plain)
	superuser(t).QueryRow(ctx, fmt.Sprintf("SELECT count(*) FROM %s WHERE phiguard.term_eq_v1(name) = $1", f.people[1]), tk.Eq([]byte("Smith"))).Scan(&byNew)
	if plain == 0 || byNew >= plain {
		t.Errorf("control: %d rows named Smith, %d found by version 2's term alone (want fewer)", plain, byNew)
	}
}

// runRekeyWays is runWays (two ways) where a statement comparing a
// value left of the deterministic tag may be refused with 0A000 naming
// the column (protect_compare.go: while rekeying each value has several
// cells, which phiguard lists only right of the column); every other
// answer must be the plaintext's. It returns the counts and the number
// of refusals.
func (f *sortFixture) runRekeyWays(t *testing.T, statements int, gen func() (string, []any, bool)) (differentialCounts, int) {
	t.Helper()
	var c differentialCounts
	refused := 0
	for i := range statements {
		q, args, _ := gen()
		for _, m := range twoWays {
			want, werr := rowsRaw(t, f.dir, f.sql(q, 0), m.mode, m.format, args...)
			got, gerr := rowsRaw(t, f.via, f.sql(q, 1), m.mode, m.format, args...)
			if werr != nil {
				t.Fatalf("statement %d directly: %s %v: %v", i, q, args, werr)
			}
			c.answers++
			var pe *pgconn.PgError
			switch {
			case errors.As(gerr, &pe) && pe.Code == "0A000" && leftOfTag.MatchString(q) &&
				strings.Contains(pe.Message, "comparing encrypted column public."+f.people[1]+".tag with a value left of it"):
				refused++
			case gerr != nil || got != want:
				c.differ++
				t.Errorf("statement %d (%v, format %d) %s %v: through phiguard %v\n%s\ndirectly\n%s", i, m.mode, m.format, q, args, gerr, got, want)
			}
			if strings.Count(want, "\n") > 0 {
				c.withRows++
			}
		}
	}
	return c, refused
}

// leftOfTag: a constant compared left of the tag column.
var leftOfTag = regexp.MustCompile(`(\$\d+|'[^']*') = p\.tag`)

// eqAnyRe is an equality term conjunct under several versions.
var eqAnyRe = regexp.MustCompile(`phiguard\.term_eq_v1\([a-z.]+\) OPERATOR\(pg_catalog\.=\) ANY \(`)

func hasOddAndEven(ids string) bool {
	var odd, even bool
	for _, s := range strings.Split(strings.TrimSuffix(ids, ","), ",") {
		if s == "" {
			continue
		}
		if (s[len(s)-1]-'0')%2 == 1 {
			odd = true
		} else {
			even = true
		}
	}
	return odd && even
}

// TestTermRekeyingDeterministicValueLeft: a value left of a
// deterministic column with `search` ('t1' = tag, tag = ('t1'), $1 =
// tag) while rekeying is refused with 0A000 naming the column, since its
// value has a cell per cell version x term version and phiguard lists
// them only right of the column; the same statement written col = value
// gives the plaintext's answer, with the odd half's terms of version 1.
func TestTermRekeyingDeterministicValueLeft(t *testing.T) {
	t.Parallel()
	f, _ := newRekeyFixture(t, 60)
	if n := f.retermOdd(t, f.people[1], []string{"tag"}); n < 10 {
		t.Fatalf("%d tag cells given version 1 terms", n)
	}
	for _, q := range []string{
		"SELECT id FROM %[1]s WHERE 't3' = tag ORDER BY id",
		"SELECT id FROM %[1]s WHERE tag = ('t3') ORDER BY id",
		"SELECT id FROM %[1]s WHERE $1::text = tag ORDER BY id",
	} {
		for _, m := range twoWays {
			var args []any
			if strings.Contains(q, "$1") {
				args = []any{"t3"}
			}
			_, err := rowsRaw(t, f.via, f.sql(q, 1), m.mode, m.format, args...)
			var pe *pgconn.PgError
			if !errors.As(err, &pe) || pe.Code != "0A000" || !strings.Contains(pe.Message, "public."+f.people[1]+".tag") {
				t.Errorf("%s (%v): %v, want 0A000 naming the column", q, m.mode, err)
			}
		}
	}
	q := "SELECT id FROM %[1]s WHERE tag = 't3' ORDER BY id"
	want, _ := rowsRaw(t, f.dir, f.sql(q, 0), pgx.QueryExecModeSimpleProtocol, 0)
	got, err := rowsRaw(t, f.via, f.sql(q, 1), pgx.QueryExecModeSimpleProtocol, 0)
	if err != nil || got != want || strings.Count(want, "\n") < 2 {
		t.Errorf("tag = 't3': through phiguard %v\n%s\ndirectly\n%s", err, got, want)
	}
}

// TestTermRekeyingMatch: LIKE and ILIKE through the match terms of every
// loaded version while rekeying (design §5.3): a literal pattern's
// conjunct is the OR of each version's prefix key and tokens, so the
// cells the backfill has not reached (odd ids, version 1 terms) are
// found beside the rewritten ones; the answers are the plaintext's in
// both protocols. A parameter pattern runs in phiguard, as before.
func TestTermRekeyingMatch(t *testing.T) {
	t.Parallel()
	pol := strings.Replace(rekeySortPolicy, "type: text, state: encrypted, search: [equality, order]",
		"type: text, state: encrypted, search: [equality, order, match]", 1)
	f, relay := newRekeyFixtureWith(t, 120, pol)
	// A session reads phiguard.search_objects at login: one that logs in
	// after the install sends match terms (guard/term_records.go).
	f.via = f.p.app(t)
	relay.take()
	both := 0
	for _, q := range []string{
		"SELECT id, name FROM %[1]s WHERE name LIKE 'Smi%%' ORDER BY id",
		"SELECT id, name FROM %[1]s WHERE name ILIKE 'smi%%' ORDER BY id",
		"SELECT id, name FROM %[1]s WHERE name ILIKE '%%mit%%' ORDER BY id",
		"SELECT id, name FROM %[1]s WHERE grp <> 2 AND name LIKE '%%dams' ORDER BY id",
		"SELECT id, name FROM %[1]s WHERE name ILIKE 'ann-m_rie' ORDER BY id",
		"SELECT id FROM %[1]s WHERE name ILIKE 'zha%%' LIMIT 3",
	} {
		for _, mode := range bothModes {
			want, werr := rowsRaw(t, f.dir, f.sql(q, 0), mode, 0)
			got, gerr := rowsRaw(t, f.via, f.sql(q, 1), mode, 0)
			if strings.Contains(q, "LIMIT") {
				if werr != nil || gerr != nil || strings.Count(got, "\n") != strings.Count(want, "\n") {
					t.Errorf("%s (%v): through phiguard %v\n%s\ndirectly %v\n%s", q, mode, gerr, got, werr, want)
				}
				continue
			}
			if werr != nil || gerr != nil || got != want {
				t.Errorf("%s (%v): through phiguard %v\n%s\ndirectly %v\n%s", q, mode, gerr, got, werr, want)
			}
			var ids []string
			for _, line := range strings.Split(want, "\n") {
				if id, _, ok := strings.Cut(line, " | "); ok {
					ids = append(ids, id)
				}
			}
			if hasOddAndEven(strings.Join(ids, ",")) {
				both++
			}
		}
	}
	sent := relay.take()
	ors := bytes.Count(sent, []byte(") OR (phiguard.term_")) + bytes.Count(sent, []byte(" OR phiguard.term_"))
	t.Logf("%d answers held rows of both halves; %d match conjuncts over two versions sent (%d prefix, %d token calls)",
		both, ors, bytes.Count(sent, []byte("term_pre_v1(")), bytes.Count(sent, []byte("term_match_v1(")))
	if both < 6 || ors < 10 {
		t.Fatalf("too weak: %d answers with both halves, %d two-version conjuncts", both, ors)
	}
	// A parameter pattern: no match term (one version's would miss half).
	q := "SELECT id FROM %[1]s WHERE name ILIKE $1 ORDER BY id"
	want, werr := rowsRaw(t, f.dir, f.sql(q, 0), pgx.QueryExecModeCacheStatement, 0, "%mi%")
	got, gerr := rowsRaw(t, f.via, f.sql(q, 1), pgx.QueryExecModeCacheStatement, 0, "%mi%")
	if werr != nil || gerr != nil || got != want {
		t.Errorf("%s: through phiguard %v\n%s\ndirectly %v\n%s", q, gerr, got, werr, want)
	}
	if sent := relay.take(); bytes.Contains(sent, []byte("term_match_v1(")) {
		t.Errorf("a parameter pattern on a rekeying column sent a match term")
	}
}
