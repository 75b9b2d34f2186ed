package integration

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/phiguard/phiguard/cellcipher"
	"github.com/phiguard/phiguard/config"
	"github.com/phiguard/phiguard/search"
)

// LIKE and ILIKE through match terms (docs/design/search-terms.md §4.5,
// §9 row 6): a LIKE or ILIKE conjunct on a ready column with `match`
// sends the prefix key and/or match tokens of its pattern in the
// pattern's place; phiguard still evaluates the pattern on every
// candidate's decrypted value.

// matchPolicy: last has order and match (so the prefix key X, under
// en_US.utf8), note match only (C), code is deterministic with match.
const matchPolicy = `version: 1
tables:
  public.%s:
    columns:
      last: {mode: randomized, key: match-pii, type: text, state: encrypted, search: [order, match], search_key_version: 1, search_state: ready}
      note: {mode: randomized, key: match-pii, type: text, state: encrypted, search: [match], search_key_version: 1, search_state: ready}
      code: {mode: deterministic, key: match-code, type: text, state: encrypted, search: [match], search_key_version: 1, search_state: ready}
`

// matchValues mix case, accents, ß, LIKE's metacharacters and values
// shorter than a trigram.
var matchValues = []string{"Smith", "smith", "SMITHSON", "Smyth", "Gleason12", "gleason7", "O'Brien", "Müller", "MÜLLER",
	"Straße", "Ölz", "100%", "a_b", `back\slash`, "", "Al", "x", "Zhang", "Éclair", "éclairé", "Ann-Marie", "Quelvarsen", "quelvarsena"}

// matchFixture is the plain and encrypted twins written through phiguard
// (whose writes carry the terms), the terms installed, phiguard behind a
// byte relay.
func newMatchFixture(t *testing.T, n int) (*twin, *byteRelay, func() *pgx.Conn) {
	t.Helper()
	ctx := testContext(t)
	plain, enc := uniqueName("match_plain"), uniqueName("match_enc")
	su := superuser(t)
	for _, table := range []string{plain, enc} {
		if _, err := su.Exec(ctx, fmt.Sprintf(`CREATE TABLE %s (id int PRIMARY KEY, last text COLLATE "en_US.utf8", note text COLLATE "C", code text, grp int);
			GRANT ALL ON %s TO %s`, table, table, appUser)); err != nil {
			t.Fatal(err)
		}
	}
	prot := protection(t, fmt.Sprintf(matchPolicy, enc))
	relay := startByteRelay(t)
	p := startProxy(t, proxyOptions{protect: prot, quiet: true, configure: func(c *config.Config) {
		c.Backend.Port = relay.port
		c.Backend.TLS.Mode = config.BackendTLSDisable // the relay reads the bytes
	}})
	tw := &twin{plain: plain, enc: enc, via: p.app(t), dir: direct(t)}
	r := rand.New(rand.NewPCG(uint64(n), 6))
	val := func() any {
		if r.IntN(12) == 0 {
			return nil
		}
		return matchValues[r.IntN(len(matchValues))]
	}
	for id := 1; id <= n; id++ {
		last, note, code, grp := val(), val(), val(), r.IntN(4)
		for side, c := range []*pgx.Conn{tw.dir, tw.via} {
			if _, err := c.Exec(ctx, fmt.Sprintf("INSERT INTO %s VALUES ($1, $2, $3, $4, $5)", []string{plain, enc}[side]), id, last, note, code, grp); err != nil {
				t.Fatal(err)
			}
		}
	}
	installSearch(t, prot.Policy)
	// A session reads phiguard.search_objects with its catalog, at login
	// (term_records.go): one that logs in after the install sends terms.
	tw.via = p.app(t)
	relay.take()
	return tw, relay, func() *pgx.Conn { return p.app(t) }
}

// genMatchStatement is a LIKE or ILIKE (or NOT, or ~~ / ~~*) on one of
// the columns, with a pattern cut from a value (genPatternFrom), ESCAPE
// sometimes, and a plaintext conjunct sometimes.
func genMatchStatement(r *rand.Rand) string {
	col := pick2(r, "last", "note", "code")
	op := pick2(r, "LIKE", "ILIKE", "LIKE", "ILIKE", "~~", "~~*", "NOT LIKE", "NOT ILIKE")
	p, esc := genPatternFrom(r, matchValues[r.IntN(len(matchValues))])
	p = strings.ReplaceAll(strings.ReplaceAll(p, "'", "''"), "%", "%%") // the statement is a format for the table's name
	cond := fmt.Sprintf("%s %s '%s'", col, op, p)
	if esc != "" && !strings.HasPrefix(op, "~") {
		cond += fmt.Sprintf(" ESCAPE '%s'", esc)
	}
	switch r.IntN(4) {
	case 0:
		cond = "grp <> 1 AND " + cond
	case 1:
		cond += " AND grp < 3"
	}
	return fmt.Sprintf("SELECT id, last, note, code FROM %%s WHERE %s ORDER BY id", cond)
}

func pick2(r *rand.Rand, xs ...string) string { return xs[r.IntN(len(xs))] }

// genPatternFrom cuts a pattern from v: a prefix, infix, suffix or all
// of it, characters replaced by _ or case changed, % around; the
// metacharacters of v escaped with \ or, with ESCAPE '#', by #.
func genPatternFrom(r *rand.Rand, v string) (string, string) {
	cps := []rune(v)
	a, b := 0, len(cps)
	if len(cps) > 0 {
		a = r.IntN(len(cps))
		b = a + r.IntN(len(cps)-a+1)
	}
	if r.IntN(2) == 0 {
		a = 0
	}
	esc := pick2(r, `\`, `\`, "#")
	var p strings.Builder
	if a > 0 || r.IntN(6) == 0 {
		p.WriteString(pick2(r, "%", "_"))
	}
	for _, c := range cps[a:b] {
		switch {
		case r.IntN(12) == 0:
			p.WriteByte('_')
			continue
		case r.IntN(8) == 0:
			c = []rune(strings.ToUpper(string(c)))[0]
		case r.IntN(8) == 0:
			c = []rune(strings.ToLower(string(c)))[0]
		}
		if strings.ContainsRune(`%_\#`, c) {
			p.WriteString(esc)
		}
		p.WriteRune(c)
	}
	if b < len(cps) || r.IntN(6) == 0 {
		p.WriteString("%")
	}
	if esc == `\` && r.IntN(2) == 0 {
		esc = "" // the default escape, no ESCAPE clause
	}
	return p.String(), esc
}

// TestMatchTermDifferential: 150 generated LIKE/ILIKE statements (seed
// fixed) on ready match columns, simple and extended protocol: the
// plaintext twin's answers, and term conjuncts sent for most; then
// patterns as text and binary parameters of unnamed statements (through
// the variants of protect_search_variants.go).
func TestMatchTermDifferential(t *testing.T) {
	t.Parallel()
	tw, relay, _ := newMatchFixture(t, 150)
	r := rand.New(rand.NewPCG(61, 2026))
	const statements = 150
	differ, withRows := 0, 0
	for range statements {
		q := genMatchStatement(r)
		for _, mode := range bothModes {
			want, werr := rowsRaw(t, tw.dir, fmt.Sprintf(q, tw.plain), mode, pgx.TextFormatCode)
			got, gerr := rowsRaw(t, tw.via, fmt.Sprintf(q, tw.enc), mode, pgx.TextFormatCode)
			if got != want || (werr == nil) != (gerr == nil) {
				differ++
				t.Errorf("%s (%v): through phiguard %v\n%s\ndirectly %v\n%s", q, mode, gerr, got, werr, want)
			}
			if werr == nil && !strings.HasPrefix(want, "(") {
				withRows++
			}
		}
	}
	sent := relay.take()
	pre, match := bytes.Count(sent, []byte("phiguard.term_pre_v1(")), bytes.Count(sent, []byte("phiguard.term_match_v1("))
	t.Logf("%d statements, both protocols: %d different answers, %d of %d with rows; %d prefix key and %d match token conjuncts sent",
		statements, differ, withRows, 2*statements, pre, match)
	if withRows < statements/2 || pre < 10 || match < 40 {
		t.Fatalf("too weak: %d answers with rows, %d prefix and %d token conjuncts", withRows, pre, match)
	}
	params := 0
	for range 40 {
		p, esc := genPatternFrom(r, matchValues[r.IntN(len(matchValues))])
		col, op := pick2(r, "last", "note", "code"), pick2(r, "LIKE", "ILIKE")
		q := fmt.Sprintf("SELECT id FROM %%s WHERE %s %s $1 ORDER BY id", col, op)
		vals := [][]byte{[]byte(p)}
		if esc != "" {
			q = fmt.Sprintf("SELECT id FROM %%s WHERE %s %s $1 ESCAPE $2 ORDER BY id", col, op)
			vals = append(vals, []byte(esc))
		}
		for _, format := range []int16{0, 1} {
			var got [2]string
			for side, conn := range []*pgx.Conn{tw.dir, tw.via} {
				formats := []int16{format, format}[:len(vals)]
				res := conn.PgConn().ExecParams(testContext(t), fmt.Sprintf(q, []string{tw.plain, tw.enc}[side]), vals, []uint32{25, 25}[:len(vals)], formats, nil).Read()
				if res.Err != nil {
					got[side] = "error " + res.Err.Error()
				}
				for _, row := range res.Rows {
					got[side] += string(row[0]) + ","
				}
			}
			if got[0] != got[1] {
				t.Errorf("%s %q ESCAPE %q (format %d): through phiguard %q, directly %q", q, p, esc, format, got[1], got[0])
			}
			params++
		}
	}
	t.Logf("%d executions with the pattern as a text or binary parameter: same answers", params)
}

// TestMatchPatternNeverReachesDatabase: LIKE and ILIKE by literals in
// both protocols send term conjuncts and none of the pattern's runs, as
// written or lowered; the answers are the plaintext twin's.
func TestMatchPatternNeverReachesDatabase(t *testing.T) {
	t.Parallel()
	tw, relay, _ := newMatchFixture(t, 60)
	for _, mode := range bothModes {
		for _, q := range []string{
			"SELECT id, last FROM %s WHERE last ILIKE 'Quelv%%' ORDER BY id",
			"SELECT id, last FROM %s WHERE last LIKE '%%elvars%%' ORDER BY id",
			"SELECT id, note FROM %s WHERE note ILIKE 'QUELVARSEN_' ORDER BY id",
			"SELECT id, code FROM %s WHERE grp >= 0 AND code LIKE 'Quel#%%v%%' ESCAPE '#' ORDER BY id",
		} {
			tw.same(t, q, mode, "a LIKE through its terms")
		}
	}
	noSecretsSent(t, relay.take(), []string{"phiguard.term_pre_v1(", "phiguard.term_match_v1("},
		[]string{"Quelv", "quelv", "QUELV", "elvars", "ELVARS", "Quel#", "uelvarsen"})
}

// TestMatchTermIndexUsed: on 20,000 rows (ANALYZEd), PostgreSQL plans
// the text phiguard sends for a prefix pattern with the (X, O) index and
// for an infix pattern with the GIN index; the answers are the plaintext
// table's.
func TestMatchTermIndexUsed(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	plain, enc := uniqueName("mix_plain"), uniqueName("mix_enc")
	su := superuser(t)
	for _, table := range []string{plain, enc} {
		if _, err := su.Exec(ctx, fmt.Sprintf(`CREATE TABLE %s (id int PRIMARY KEY, last text COLLATE "C"); GRANT ALL ON %s TO %s`, table, table, appUser)); err != nil {
			t.Fatal(err)
		}
	}
	prot := protection(t, fmt.Sprintf(`version: 1
tables:
  public.%s:
    columns:
      last: {mode: randomized, key: mix-pii, type: text, state: encrypted, search: [order, match], search_key_version: 1, search_state: ready}
`, enc))
	col, _ := prot.Policy.Column("public", enc, "last")
	cipher := &cellcipher.Cipher{Keyring: prot.Keyring, Subjects: prot.Subjects}
	const n = 20000
	var plainRows, encRows [][]any
	r := rand.New(rand.NewPCG(20, 6))
	syll := []string{"ba", "ko", "ri", "sen", "tal", "mo", "gle", "ash", "ur", "vin", "son", "dre"}
	for id := 1; id <= n; id++ {
		var b strings.Builder
		for range 2 + r.IntN(3) {
			b.WriteString(syll[r.IntN(len(syll))])
		}
		v := strings.ToUpper(b.String()[:1]) + b.String()[1:] + fmt.Sprint(r.IntN(20))
		cell, err := cipher.SealWithTerms(context.Background(), col, nil, []byte(v), nil)
		if err != nil {
			t.Fatal(err)
		}
		plainRows = append(plainRows, []any{id, v})
		encRows = append(encRows, []any{id, string(cell)})
	}
	tw, relay := indexedTwin(t, prot, plain, enc, []string{"id", "last"}, plainRows, encRows)
	sentSelect := regexp.MustCompile(`SELECT id, last[^\x00]*FROM ` + enc + `[^\x00]*`)
	// search.IndexName(col, "") is the prefix both indexes' names share.
	for _, c := range []struct{ q, index string }{
		{"SELECT id, last FROM %s WHERE last ILIKE 'gle%%' ORDER BY id", search.IndexName(col, "p")},
		{"SELECT id, last FROM %s WHERE last LIKE 'Kot%%' ORDER BY id", search.IndexName(col, "p")},
		{"SELECT id, last FROM %s WHERE last LIKE 'Kotalvin%%' ORDER BY id", search.IndexName(col, "")},
		{"SELECT id, last FROM %s WHERE last ILIKE '%%vinson1%%' ORDER BY id", search.IndexName(col, "m")},
		{"SELECT id, last FROM %s WHERE last LIKE '%%dreash_' ORDER BY id", search.IndexName(col, "m")},
	} {
		for _, mode := range bothModes {
			tw.same(t, c.q, mode, "through the match terms' index")
		}
		text := sentSelect.Find(relay.take())
		if text == nil {
			t.Fatalf("%s: the relay did not see the statement", c.q)
		}
		plan := explainPlan(t, text)
		if !strings.Contains(plan, c.index) { // "": either index (prefix key and tokens)
			t.Errorf("%s: sent\n%s\nplanned without %s:\n%s", c.q, text, c.index, plan)
		}
		t.Logf("%s: sent %s\n%s", c.q, text, plan)
	}
}

// TestMatchTermUnderRecordedCollation: a session that reads in
// phiguard.search_objects another collation version, or no record, for a
// column's match terms than its catalog reports sends no match term for
// its LIKE, literal or parameter (same answers, proxy-side): its tokens
// may lower values otherwise than the database now. The records are read
// with the catalog, at login: each case logs in again.
func TestMatchTermUnderRecordedCollation(t *testing.T) {
	t.Parallel()
	tw, relay, login := newMatchFixture(t, 40)
	ctx := testContext(t)
	table := "%" + tw.enc
	for _, c := range []struct {
		name, update string
		sent         bool
	}{
		{"as installed", "", true},
		{"another version", "UPDATE phiguard.search_objects SET collation_version = '0.0-other' WHERE table_name LIKE $1 AND column_name = 'last' AND kind = 'm'", false},
		{"no record", "DELETE FROM phiguard.search_objects WHERE table_name LIKE $1 AND column_name = 'last' AND kind = 'm'", false},
	} {
		if c.update != "" {
			if _, err := superuser(t).Exec(ctx, c.update, table); err != nil {
				t.Fatal(err)
			}
		}
		tw.via = login()
		relay.take()
		for _, q := range []struct {
			sql  string
			mode pgx.QueryExecMode
			args []any
		}{
			{"SELECT id FROM %s WHERE last ILIKE 'smi%%' ORDER BY id", pgx.QueryExecModeSimpleProtocol, nil},
			{"SELECT id FROM %s WHERE last LIKE $1 ORDER BY id", pgx.QueryExecModeCacheStatement, []any{"%ith%"}},
		} {
			want, err := rowsRaw(t, tw.dir, fmt.Sprintf(q.sql, tw.plain), q.mode, pgx.TextFormatCode, q.args...)
			if err != nil {
				t.Fatal(err)
			}
			if got, err := rowsRaw(t, tw.via, fmt.Sprintf(q.sql, tw.enc), q.mode, pgx.TextFormatCode, q.args...); err != nil || got != want {
				t.Fatalf("%s: %s: through phiguard %v\n%s\ndirectly\n%s", c.name, q.sql, err, got, want)
			}
			b := relay.take()
			if sent := bytes.Contains(b, []byte("phiguard.term_match_v1(last)")) || bytes.Contains(b, []byte("phiguard.term_pre_v1(last)")); sent != c.sent {
				t.Errorf("%s: %s: match term sent %v, want %v", c.name, q.sql, sent, c.sent)
			}
		}
	}
}
