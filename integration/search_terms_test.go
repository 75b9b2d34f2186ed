package integration

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"regexp"
	"strings"
	gosync "sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/phiguard/phiguard/cellcipher"
	"github.com/phiguard/phiguard/config"
	"github.com/phiguard/phiguard/guard"
	"github.com/phiguard/phiguard/policy"
	"github.com/phiguard/phiguard/search"
)

// Search through terms (docs/design/search-terms.md §9 row 4): a
// proxy-side filter on a column with `search_state: ready` sends a term
// conjunct (equality term for =, order term for ranges and BETWEEN)
// beside the client's conjunct, which phiguard still evaluates on the
// decrypted values.

// termSortPolicy is sortPolicy with every encrypted column's terms ready.
const termSortPolicy = `version: 1
tables:
  public.%[1]s:
    columns:
      name: {mode: randomized, key: sort-pii, type: text, state: encrypted, search: [equality, order], search_key_version: 1, search_state: ready}
      born: {mode: randomized, key: sort-pii, type: date, state: encrypted, search: [equality, order], search_key_version: 1, search_state: ready}
      score: {mode: randomized, key: sort-pii, type: "numeric(6,2)", state: encrypted, search: [order], search_key_version: 1, search_state: ready}
      tag: {mode: deterministic, key: sort-tag, type: text, state: encrypted, search: [order], search_key_version: 1, search_state: ready}
  public.%[2]s:
    columns:
      city: {mode: randomized, key: sort-pii, type: text, state: encrypted, search: [order], search_key_version: 1, search_state: ready}
`

// installMu serialises phiguard search install in the shared test
// database: two installs creating schema phiguard at once would collide.
var installMu gosync.Mutex

func installSearch(t *testing.T, pol *policy.Policy) {
	t.Helper()
	installMu.Lock()
	defer installMu.Unlock()
	conn := connect(t, directURL(pg.Superuser, pg.Password, appDB))
	if err := search.Install(testContext(t), conn, search.Options{Policy: pol}); err != nil {
		t.Fatalf("search install: %v", err)
	}
}

// newTermSortFixture is the sort fixture under termSortPolicy, phiguard
// connected to PostgreSQL through a byteRelay, with the terms installed.
func newTermSortFixture(t *testing.T, n int) (*sortFixture, *byteRelay) {
	t.Helper()
	relay := startByteRelay(t)
	f := newSortFixtureWith(t, n, func(c *config.Config) {
		c.Backend.Port = relay.port
		c.Backend.TLS.Mode = config.BackendTLSDisable // the relay reads the bytes
	}, termSortPolicy)
	installSearch(t, f.prot.Policy)
	// A session reads phiguard.search_objects with its catalog, at login:
	// the fixture's session logged in before the install recorded the
	// collations its terms were built under, so it would send no order
	// term on text (term_records.go). A session that logs in now does.
	f.via = f.p.app(t)
	relay.take()
	return f, relay
}

// TestTermFilterDifferential: TestFilterEncryptedDifferential's 200
// generated statements (a fixed seed of their own) on columns whose terms
// are ready: both protocols give the plaintext tables' answers, and the
// statements phiguard sent carry equality and order term conjuncts.
// Then = , ranges and BETWEEN with text and binary parameters.
func TestTermFilterDifferential(t *testing.T) {
	t.Parallel()
	f, relay := newTermSortFixture(t, 120)
	r := rand.New(rand.NewPCG(17, 2026))
	const statements = 200
	gen := func() (string, []any, bool) {
		q, args := genSortStatement(r, true)
		return q, args, true
	}
	c := f.runWays(t, twoWays, statements, gen, nil)
	differ, nonEmpty := c.differ, c.withRows
	sent := relay.take()
	eq, ord := bytes.Count(sent, []byte("phiguard.term_eq_v1(")), bytes.Count(sent, []byte("phiguard.term_ord_v1("))
	t.Logf("%d statements, both protocols: %d different answers, %d of %d answers with rows; %d equality and %d order term calls sent (a BETWEEN has two)",
		statements, differ, nonEmpty, 2*statements, eq, ord)
	if nonEmpty < statements/2 {
		t.Fatalf("only %d answers of %d have rows", nonEmpty, 2*statements)
	}
	if eq < 20 || ord < 50 {
		t.Fatalf("%d equality and %d order term conjuncts sent: the statements did not use the terms", eq, ord)
	}
	f.sameWithParams(t, relay)
}

// sameWithParams runs filters with text and binary parameters through
// phiguard and directly: the same rows, and a term conjunct sent for each.
func (f *sortFixture) sameWithParams(t *testing.T, relay *byteRelay) {
	ctx := testContext(t)
	var existing string
	if err := f.dir.QueryRow(ctx, fmt.Sprintf("SELECT born::text FROM %s WHERE born IS NOT NULL ORDER BY id LIMIT 1", f.people[0])).Scan(&existing); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		q      string
		params []string
		oids   []uint32
	}{
		{"SELECT id FROM %[1]s WHERE born = $1 ORDER BY id", []string{existing}, []uint32{1082}},
		{"SELECT id FROM %[1]s WHERE born BETWEEN $1 AND $2 ORDER BY id", []string{"1950-01-01", "1965-06-30"}, []uint32{1082, 1082}},
		{"SELECT id FROM %[1]s WHERE born > $1 AND grp = 2 ORDER BY id", []string{"1980-01-01"}, []uint32{1082}},
		{"SELECT id FROM %[1]s WHERE name = $1 ORDER BY id", []string{"Smith"}, []uint32{25}},
		{"SELECT id FROM %[1]s WHERE name >= $1 AND name < 'b' ORDER BY id", []string{"Adams"}, []uint32{25}},
		{"SELECT id FROM %[1]s WHERE $1 <= name ORDER BY id", []string{"Zhang"}, []uint32{25}},
		{"SELECT id FROM %[1]s WHERE tag < $1 ORDER BY id", []string{"t3"}, []uint32{25}},
	} {
		for _, format := range []int16{0, 1} {
			var got [2]string
			for side, conn := range []*pgx.Conn{f.dir, f.via} {
				vals := make([][]byte, len(c.params))
				formats := make([]int16, len(c.params))
				for i, p := range c.params {
					vals[i], formats[i] = []byte(p), format
					if format == 1 && c.oids[i] == 1082 {
						vals[i] = binaryDate(t, p)
					}
				}
				res := conn.PgConn().ExecParams(ctx, f.sql(c.q, side), vals, c.oids, formats, nil).Read()
				if res.Err != nil {
					t.Fatalf("%s (format %d, side %d): %v", c.q, format, side, res.Err)
				}
				for _, row := range res.Rows {
					got[side] += string(row[0]) + ","
				}
			}
			if got[0] != got[1] || got[0] == "" {
				t.Errorf("%s %v (format %d): through phiguard %q, directly %q", c.q, c.params, format, got[1], got[0])
			}
			if sent := relay.take(); !bytes.Contains(sent, []byte("phiguard.term_")) {
				t.Errorf("%s (format %d): no term conjunct sent", c.q, format)
			}
		}
	}
}

// TestTermConstantsNeverReachDatabase: statements filtering ready
// columns by literals and by text and binary parameters send the terms
// of their constants, never the constants: no constant, in any spelling,
// and no unkeyed sort key of one (as bytes, hex or base64) is in what
// phiguard sent; the answers are the plaintext tables'.
func TestTermConstantsNeverReachDatabase(t *testing.T) {
	t.Parallel()
	f, relay := newTermSortFixture(t, 60)
	ctx := testContext(t)
	names := []string{"Quelvarsen", "Brimwathe", "Oxtrundel"}
	dates := []string{"1931-07-19", "1947-11-03", "1958-02-27"}
	var secrets []string
	born, _ := f.prot.Policy.Column("public", f.people[1], "born")
	for _, v := range append(slices2(names), dates...) {
		secrets = append(secrets, v)
	}
	for _, d := range dates {
		canon, err := cellcipher.Canonical(born, 0, []byte(d))
		if err != nil {
			t.Fatal(err)
		}
		s, err := cellcipher.OrderInput(born, nil, canon)
		if err != nil {
			t.Fatal(err)
		}
		secrets = append(secrets, string(s[:4]), hex.EncodeToString(s[:4]), base64.StdEncoding.EncodeToString(s[:4])[:5])
		secrets = append(secrets, string(binaryDate(t, d)))
	}
	for _, mode := range bothModes {
		for _, q := range []string{
			"SELECT id FROM %[1]s WHERE name = '" + names[0] + "' ORDER BY id",
			"SELECT id FROM %[1]s WHERE name BETWEEN '" + names[1] + "' AND '" + names[2] + "' ORDER BY id",
			"SELECT id FROM %[1]s WHERE born = '" + dates[0] + "' ORDER BY id",
			"SELECT id FROM %[1]s WHERE born >= DATE '" + dates[1] + "' AND born < '" + dates[2] + "'::date ORDER BY id",
		} {
			want, err := rowsRaw(t, f.dir, f.sql(q, 0), mode, pgx.TextFormatCode)
			if err != nil {
				t.Fatal(err)
			}
			if got, err := rowsRaw(t, f.via, f.sql(q, 1), mode, pgx.TextFormatCode); err != nil || got != want {
				t.Errorf("%s (%v): through phiguard %v\n%s\ndirectly\n%s", q, mode, err, got, want)
			}
		}
	}
	for _, format := range []int16{0, 1} {
		for i, d := range dates {
			v := []byte(d)
			if format == 1 {
				v = binaryDate(t, d)
			}
			res := f.via.PgConn().ExecParams(ctx, f.sql("SELECT id FROM %[1]s WHERE born <= $1 AND name <> $2 ORDER BY id", 1),
				[][]byte{v, []byte(names[i])}, []uint32{1082, 25}, []int16{format, format}, nil).Read()
			if res.Err != nil {
				t.Fatal(res.Err)
			}
		}
	}
	noSecretsSent(t, relay.take(), []string{"phiguard.term_eq_v1(", "phiguard.term_ord_v1(", "OPERATOR(pg_catalog.<=) E'\\\\x"}, secrets)
}

func slices2(s []string) []string { return append([]string(nil), s...) }

// TestTermOverwrittenCandidateDropped: a cell whose terms were replaced
// in the database by another row's (its value unchanged) is a candidate
// for that row's value, which the database returns and phiguard's
// re-check drops: the answer is the plaintext table's.
func TestTermOverwrittenCandidateDropped(t *testing.T) {
	t.Parallel()
	f, _ := newTermSortFixture(t, 60)
	ctx := testContext(t)
	su := superuser(t)
	var a, b int
	var aCell, bCell, bBorn string
	err := f.dir.QueryRow(ctx, fmt.Sprintf(`SELECT x.id, y.id, y.born::text FROM %[1]s x, %[1]s y
		WHERE x.born IS NOT NULL AND y.born IS NOT NULL AND x.born <> y.born ORDER BY x.id, y.id LIMIT 1`, f.people[0])).Scan(&a, &b, &bBorn)
	if err != nil {
		t.Fatal(err)
	}
	for id, cell := range map[int]*string{a: &aCell, b: &bCell} {
		if err := su.QueryRow(ctx, fmt.Sprintf("SELECT born FROM %s WHERE id = $1", f.people[1]), id).Scan(cell); err != nil {
			t.Fatal(err)
		}
	}
	// a's cell with b's terms: b's sections, a's body.
	forged := bCell[:strings.LastIndexByte(bCell, '~')] + aCell[strings.LastIndexByte(aCell, '~'):]
	if _, err := su.Exec(ctx, fmt.Sprintf("UPDATE %s SET born = $1 WHERE id = $2", f.people[1]), forged, a); err != nil {
		t.Fatal(err)
	}
	if got := queryInt(t, su, fmt.Sprintf("SELECT count(*) FROM %s WHERE id = $1 AND phiguard.term_eq_v1(born) = phiguard.term_eq_v1($2)", f.people[1]), a, bCell); got != 1 {
		t.Fatalf("the forged cell is not a candidate for b's value (%d)", got)
	}
	for _, mode := range bothModes {
		for _, q := range []string{
			"SELECT id, born FROM %[1]s WHERE born = '" + bBorn + "' ORDER BY id",
			"SELECT id, born FROM %[1]s WHERE born BETWEEN '" + bBorn + "' AND '" + bBorn + "' ORDER BY id",
		} {
			want, err := rowsRaw(t, f.dir, f.sql(q, 0), mode, pgx.TextFormatCode)
			if err != nil {
				t.Fatal(err)
			}
			if got, err := rowsRaw(t, f.via, f.sql(q, 1), mode, pgx.TextFormatCode); err != nil || got != want {
				t.Errorf("%s (%v): through phiguard %v\n%s\ndirectly\n%s", q, mode, err, got, want)
			}
		}
	}
}

// TestTermIndexUsed: on 20,000 rows (ANALYZEd), the text phiguard sends
// for =, a range and BETWEEN on a ready date column is planned by
// PostgreSQL with the column's phiguard term index, and answers as the
// plaintext table does.
func TestTermIndexUsed(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	plain, enc := uniqueName("tix_plain"), uniqueName("tix_enc")
	su := superuser(t)
	for i, typ := range []string{"date", "text"} {
		table := []string{plain, enc}[i]
		if _, err := su.Exec(ctx, fmt.Sprintf("CREATE TABLE %s (id int PRIMARY KEY, born %s); GRANT ALL ON %s TO %s", table, typ, table, appUser)); err != nil {
			t.Fatal(err)
		}
	}
	prot := protection(t, fmt.Sprintf(`version: 1
tables:
  public.%s:
    columns:
      born: {mode: randomized, key: tix-pii, type: date, state: encrypted, search: [equality, order], search_key_version: 1, search_state: ready}
`, enc))
	col, _ := prot.Policy.Column("public", enc, "born")
	cipher := &cellcipher.Cipher{Keyring: prot.Keyring, Subjects: prot.Subjects}
	const n = 20000
	var plainRows, encRows [][]any
	r := rand.New(rand.NewPCG(20, 26))
	for id := 1; id <= n; id++ {
		d := fmt.Sprintf("%d-%02d-%02d", 1930+r.IntN(80), 1+r.IntN(12), 1+r.IntN(28))
		canon, err := cellcipher.Canonical(col, 0, []byte(d))
		if err != nil {
			t.Fatal(err)
		}
		cell, err := cipher.SealWithTerms(context.Background(), col, nil, canon, nil)
		if err != nil {
			t.Fatal(err)
		}
		plainRows = append(plainRows, []any{id, d})
		encRows = append(encRows, []any{id, string(cell)})
	}
	tw, relay := indexedTwin(t, prot, plain, enc, []string{"id", "born"}, plainRows, encRows)
	sentSelect := regexp.MustCompile(`SELECT id, born[^\x00]*FROM ` + enc + `[^\x00]*`)
	for _, q := range []string{
		"SELECT id, born FROM %s WHERE born = '1970-05-05' ORDER BY id",
		"SELECT id, born FROM %s WHERE born >= '2009-12-20' ORDER BY id",
		"SELECT id, born FROM %s WHERE born BETWEEN '1950-03-01' AND '1950-03-09' ORDER BY id",
	} {
		tw.same(t, q, pgx.QueryExecModeSimpleProtocol, "through the term index")
		text := sentSelect.Find(relay.take())
		if text == nil {
			t.Fatalf("%s: the relay did not see the statement", q)
		}
		plan := explainPlan(t, text)
		if !strings.Contains(plan, search.IndexName(col, "e")) && !strings.Contains(plan, search.IndexName(col, "o")) {
			t.Errorf("%s: sent\n%s\nplanned without a phiguard index:\n%s", q, text, plan)
		}
		t.Logf("%s: sent %s\n%s", q, text, plan)
	}
}

// TestTermParamsBesideHiddenParams: a prepared statement comparing a
// deterministic column that has two cell texts per value (search not yet
// ready: hidden parameters, protect_compare_param.go) and filtering a
// ready column by a parameter (an added term parameter, numbered after
// them): Describe shows the client its own parameters only, and eight
// executions (past PostgreSQL's switch to a generic plan) with text and
// binary values give the plaintext table's rows.
func TestTermParamsBesideHiddenParams(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	plain, enc := uniqueName("tph_plain"), uniqueName("tph_enc")
	su := superuser(t)
	for i, typ := range []string{"date", "text"} {
		table := []string{plain, enc}[i]
		if _, err := su.Exec(ctx, fmt.Sprintf("CREATE TABLE %s (id int PRIMARY KEY, mrn text, born %s); GRANT ALL ON %s TO %s", table, typ, table, appUser)); err != nil {
			t.Fatal(err)
		}
	}
	prot := protection(t, fmt.Sprintf(`version: 1
tables:
  public.%s:
    columns:
      mrn:  {mode: deterministic, key: tph-mrn, type: text, search: [order], search_key_version: 1}
      born: {mode: randomized, key: tph-pii, type: date, state: encrypted, search: [equality, order], search_key_version: 1, search_state: ready}
`, enc))
	p := startProxy(t, proxyOptions{protect: prot, quiet: true})
	tw := &twin{plain: plain, enc: enc, via: p.app(t), dir: direct(t)}
	r := rand.New(rand.NewPCG(3, 4))
	for id := 1; id <= 200; id++ {
		mrn, born := fmt.Sprintf("M%d", id%5), fmt.Sprintf("19%02d-%02d-%02d", 40+r.IntN(40), 1+r.IntN(12), 1+r.IntN(28))
		for side, c := range []*pgx.Conn{tw.dir, tw.via} {
			if _, err := c.Exec(ctx, fmt.Sprintf("INSERT INTO %s VALUES ($1, $2, $3)", []string{plain, enc}[side]), id, mrn, born); err != nil {
				t.Fatal(err)
			}
		}
	}
	installSearch(t, prot.Policy)
	q := "SELECT id FROM %s WHERE mrn = $1 AND born >= $2 AND born < $3 ORDER BY id"
	sd, err := tw.via.Prepare(ctx, "tph", fmt.Sprintf(q, enc))
	if err != nil {
		t.Fatal(err)
	}
	if len(sd.ParamOIDs) != 3 || sd.ParamOIDs[1] != 1082 || sd.ParamOIDs[2] != 1082 {
		t.Fatalf("Describe shows parameters %v, want the client's three (text, date, date)", sd.ParamOIDs)
	}
	nonEmpty := 0
	for i := range 8 {
		lo := fmt.Sprintf("19%02d-01-01", 40+4*i)
		hi := fmt.Sprintf("19%02d-06-30", 44+4*i)
		format := int16(i % 2)
		vals := [][]byte{[]byte(fmt.Sprintf("M%d", i%5)), []byte(lo), []byte(hi)}
		if format == 1 {
			vals[1], vals[2] = binaryDate(t, lo), binaryDate(t, hi)
		}
		var got [2]string
		for side, conn := range []*pgx.Conn{tw.dir, tw.via} {
			var res *pgconn.ResultReader
			if side == 1 {
				res = conn.PgConn().ExecPrepared(ctx, "tph", vals, []int16{0, format, format}, nil)
			} else {
				res = conn.PgConn().ExecParams(ctx, fmt.Sprintf(q, plain), vals, []uint32{25, 1082, 1082}, []int16{0, format, format}, nil)
			}
			rr := res.Read()
			if rr.Err != nil {
				t.Fatalf("execution %d side %d: %v", i, side, rr.Err)
			}
			for _, row := range rr.Rows {
				got[side] += string(row[0]) + ","
			}
		}
		if got[0] != got[1] {
			t.Errorf("execution %d (%s, %s, format %d): through phiguard %q, directly %q", i, lo, hi, format, got[1], got[0])
		}
		if got[0] != "" {
			nonEmpty++
		}
	}
	if nonEmpty < 4 {
		t.Fatalf("only %d of 8 executions returned rows", nonEmpty)
	}
}

// TestTermOrderUnderRecordedCollationVersion: phiguard.search_objects
// records the collation and version a text column's order terms were
// built under (design §5.1); a session that reads another version, or
// another collation, or no record at all, sends no order term on that
// column (the statement runs proxy-side, same answer), since terms built
// under another glibc can order values differently and hide rows. The
// records are read with the catalog, at login: each case logs in again.
func TestTermOrderUnderRecordedCollationVersion(t *testing.T) {
	t.Parallel()
	f, relay := newTermSortFixture(t, 30)
	ctx := testContext(t)
	table := "%" + f.people[1]
	const term = "phiguard.term_ord_v1(name)"
	for _, c := range []struct {
		name, update string
		sent         bool
	}{
		{"as installed", "", true},
		{"another version", "UPDATE phiguard.search_objects SET collation_version = '0.0-other' WHERE table_name LIKE $1 AND column_name = 'name' AND kind = 'o'", false},
		{"version back", "UPDATE phiguard.search_objects SET collation_version = NULL WHERE table_name LIKE $1 AND column_name = 'name' AND kind = 'o'", true},
		{"another collation", "UPDATE phiguard.search_objects SET collation_name = 'en_US.utf8' WHERE table_name LIKE $1 AND column_name = 'name' AND kind = 'o'", false},
		{"no record", "DELETE FROM phiguard.search_objects WHERE table_name LIKE $1 AND column_name = 'name' AND kind = 'o'", false},
	} {
		if c.update != "" {
			if _, err := superuser(t).Exec(ctx, c.update, table); err != nil {
				t.Fatal(err)
			}
		}
		f.via = f.p.app(t)
		relay.take()
		for _, q := range []struct {
			sql  string
			mode pgx.QueryExecMode
			args []any
		}{
			{"SELECT id FROM %[1]s WHERE name >= 'M' ORDER BY id", pgx.QueryExecModeSimpleProtocol, nil},
			{"SELECT id FROM %[1]s WHERE name < $1 ORDER BY id", pgx.QueryExecModeCacheDescribe, []any{"K"}},
		} {
			want, err := rowsRaw(t, f.dir, f.sql(q.sql, 0), q.mode, pgx.TextFormatCode, q.args...)
			if err != nil {
				t.Fatal(err)
			}
			if got, err := rowsRaw(t, f.via, f.sql(q.sql, 1), q.mode, pgx.TextFormatCode, q.args...); err != nil || got != want {
				t.Fatalf("%s: %s: through phiguard %v\n%s\ndirectly\n%s", c.name, q.sql, err, got, want)
			}
			if sent := bytes.Contains(relay.take(), []byte(term)); sent != c.sent {
				t.Errorf("%s: %s: order term sent %v, want %v", c.name, q.sql, sent, c.sent)
			}
		}
		// ORDER BY ... LIMIT runs in rounds through the order term, whose
		// text cannot fall back: refused while the terms are not current.
		for _, mode := range bothModes {
			q := "SELECT id, name FROM %[1]s ORDER BY name, id LIMIT 5"
			got, err := rowsRaw(t, f.via, f.sql(q, 1), mode, pgx.TextFormatCode)
			if !c.sent {
				wantCode(t, err, "0A000", "--rebuild-terms")
				continue
			}
			want, derr := rowsRaw(t, f.dir, f.sql(q, 0), mode, pgx.TextFormatCode)
			if err != nil || derr != nil || got != want {
				t.Fatalf("%s: %s: through phiguard %v\n%s\ndirectly %v\n%s", c.name, q, err, got, derr, want)
			}
		}
		relay.take()
	}
}

// indexedTwin loads rows into the plaintext and encrypted twins (columns
// cols; encRows hold the cells), installs the search terms, ANALYZEs the
// encrypted table so that PostgreSQL plans with its term indexes, and
// starts phiguard in front of it through a byteRelay, for the tests that
// read the plan of the text phiguard sent.
func indexedTwin(t *testing.T, prot *guard.Protection, plain, enc string, cols []string, plainRows, encRows [][]any) (*twin, *byteRelay) {
	t.Helper()
	ctx, su := testContext(t), superuser(t)
	for i, rows := range [][][]any{plainRows, encRows} {
		if _, err := su.CopyFrom(ctx, pgx.Identifier{[]string{plain, enc}[i]}, cols, pgx.CopyFromRows(rows)); err != nil {
			t.Fatal(err)
		}
	}
	installSearch(t, prot.Policy)
	if _, err := su.Exec(ctx, "ANALYZE "+enc); err != nil {
		t.Fatal(err)
	}
	relay := startByteRelay(t)
	p := startProxy(t, proxyOptions{protect: prot, quiet: true, configure: func(c *config.Config) {
		c.Backend.Port = relay.port
		c.Backend.TLS.Mode = config.BackendTLSDisable
	}})
	tw := &twin{plain: plain, enc: enc, via: p.app(t), dir: direct(t)}
	relay.take()
	return tw, relay
}

// explainPlan is PostgreSQL's plan of text (a statement phiguard sent, as
// a byteRelay saw it), one line per plan line, read as the superuser.
func explainPlan(t *testing.T, text []byte) string {
	t.Helper()
	rows, err := superuser(t).Query(testContext(t), "EXPLAIN "+string(text))
	if err != nil {
		t.Fatalf("EXPLAIN %s: %v", text, err)
	}
	defer rows.Close()
	var plan strings.Builder
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			t.Fatal(err)
		}
		plan.WriteString(line + "\n")
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return plan.String()
}
