package integration

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/phiguard/phiguard/cellcipher"
	"github.com/phiguard/phiguard/config"
	"github.com/phiguard/phiguard/guard"
	"github.com/phiguard/phiguard/policy"
	"github.com/phiguard/phiguard/search"
)

// ORDER BY ... LIMIT through an order term, in rounds
// (docs/design/search-terms.md §4.6, §9 row 5): the database orders by
// the keys sent and returns FETCH FIRST k ROWS WITH TIES; phiguard
// re-checks, sorts exactly and cuts, and runs the statement again with a
// larger k when the round kept too few rows.

const roundsPolicy = `version: 1
tables:
  public.%s:
    columns:
      name: {mode: randomized, key: rounds-pii, type: text, state: encrypted, search: [equality, order], search_key_version: 1, search_state: ready}
      born: {mode: randomized, key: rounds-pii, type: date, state: encrypted, search: [order], search_key_version: 1, search_state: ready}
`

// roundNames tie a lot, differ in case and accents only under en_US, and
// share their first 16 sort-key bytes (the long ones): the order term
// ties them, phiguard's exact sort does not.
var roundNames = []string{"Smith", "smith", "SMITH", "Smíth", "Śmith", "Smyth", "Ölz", "olz", "Olz", "Zoë", "zoe", "Adams", "adams", "",
	"Abcdefghijklmnopqrst-a", "Abcdefghijklmnopqrst-B", "abcdefghijklmnopqrst-c", "Abcdéfghijklmnopqrst-a", "O'Neil", "Ann-Marie", "Aaron"}

type roundsFixture struct {
	twin
	col   *policy.ProtectedColumn
	prot  *guard.Protection
	relay *byteRelay
	p     *phiguard
}

// newRoundsFixture writes n rows through phiguard (so with terms) and
// the same directly into the plaintext twin; fail is the number of rows
// named 0001Fail... , which sort first after the empty names (digits
// before letters under en_US) and which a statement's proxy-side
// predicate may drop.
func newRoundsFixture(t *testing.T, n, fail int) *roundsFixture {
	t.Helper()
	requireEnUS(t)
	ctx := testContext(t)
	f := &roundsFixture{twin: twin{plain: uniqueName("rnd_plain"), enc: uniqueName("rnd_enc")}}
	su := superuser(t)
	for i, born := range []string{"date", "text"} {
		table := []string{f.plain, f.enc}[i]
		if _, err := su.Exec(ctx, fmt.Sprintf(`CREATE TABLE %s (id int PRIMARY KEY, name text COLLATE "en_US", born %s, grp int); GRANT ALL ON %s TO %s`,
			table, born, table, appUser)); err != nil {
			t.Fatal(err)
		}
	}
	prot := protection(t, fmt.Sprintf(roundsPolicy, f.enc))
	f.prot = prot
	f.col, _ = prot.Policy.Column("public", f.enc, "name")
	installSearch(t, prot.Policy)
	f.relay = startByteRelay(t)
	f.p = startProxy(t, proxyOptions{protect: prot, quiet: true, configure: func(c *config.Config) {
		c.Backend.Port = f.relay.port
		c.Backend.TLS.Mode = config.BackendTLSDisable
	}})
	f.via, f.dir = f.p.app(t), direct(t)
	r := rand.New(rand.NewPCG(uint64(n), 5))
	var rows, plainRows [][]any
	for id := 1; id <= n; id++ {
		var name, born any
		switch {
		case id <= fail:
			name = fmt.Sprintf("%04dFail", id)
		case r.IntN(12) > 0:
			name = roundNames[r.IntN(len(roundNames))]
		}
		if r.IntN(9) > 0 {
			born = fmt.Sprintf("19%02d-0%d-1%d", 50+r.IntN(6), 1+r.IntN(3), r.IntN(3)) // 54 dates: many ties
		}
		grp := r.IntN(4)
		rows = append(rows, []any{id, name, born, grp})
		var d any
		if born != nil {
			tm, err := time.Parse("2006-01-02", born.(string))
			if err != nil {
				t.Fatal(err)
			}
			d = tm
		}
		plainRows = append(plainRows, []any{id, name, d, grp})
	}
	for _, conn := range []*pgx.Conn{f.dir, f.via} {
		table, src := f.enc, rows
		if conn == f.dir {
			table, src = f.plain, plainRows
		}
		if _, err := conn.CopyFrom(ctx, pgx.Identifier{table}, []string{"id", "name", "born", "grp"}, pgx.CopyFromRows(src)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := su.Exec(ctx, "ANALYZE "+f.enc); err != nil {
		t.Fatal(err)
	}
	f.relay.take()
	return f
}

// genRoundStatement is a sorted statement with a LIMIT whose keys reach
// an order-term column (after a plaintext key or not), with a predicate
// phiguard evaluates or none, its LIMIT and OFFSET as literals (params
// false) or as $1, $2.
func genRoundStatement(r *rand.Rand, params bool) (string, []any) {
	enc := pick(r, "name", "born", "2", "3", "nm")
	keys := []string{enc + pick(r, "", " ASC", " DESC") + pick(r, "", "", " NULLS FIRST", " NULLS LAST")}
	if r.IntN(4) == 0 {
		keys = append([]string{"grp" + pick(r, "", " DESC")}, keys...)
	}
	if r.IntN(3) == 0 {
		keys = append(keys, pick(r, "born", "name")+pick(r, "", " DESC"))
	}
	keys = append(keys, "id"+pick(r, "", " DESC"))
	where := pick(r, "true", "name <> 'Smith'", "grp <> 2", "name >= 'M'", "born > '1952-02-11'", "name LIKE '%%m%%'",
		"born IS NOT NULL", "name NOT LIKE '%%Fail'", "name ILIKE 'o%%' OR born < '1951-01-01'")
	q := fmt.Sprintf("SELECT id, name, born, name AS nm FROM %%s WHERE %s ORDER BY %s", where, strings.Join(keys, ", "))
	limit, offset := r.IntN(40), r.IntN(60)
	if params {
		switch r.IntN(3) {
		case 0:
			return q + " LIMIT $1", []any{limit}
		case 1:
			return q + " LIMIT $1 OFFSET $2", []any{limit, offset}
		}
		return q + " OFFSET $2 ROWS FETCH FIRST $1 ROWS ONLY", []any{limit + 1, offset}
	}
	switch r.IntN(4) {
	case 0:
		return q + fmt.Sprintf(" LIMIT %d", limit), nil
	case 1:
		return q + fmt.Sprintf(" LIMIT %d OFFSET %d", limit, offset), nil
	case 2:
		return q + fmt.Sprintf(" OFFSET %d ROWS FETCH FIRST %d ROWS ONLY", offset, limit+1), nil
	}
	return q + " LIMIT NULL", nil
}

// sameRaw runs q (with %s for the table) through phiguard and directly:
// the same rows, or the same error.
func (f *roundsFixture) sameRaw(t *testing.T, q string, mode pgx.QueryExecMode, args ...any) bool {
	t.Helper()
	want, werr := rowsRaw(t, f.dir, fmt.Sprintf(q, f.plain), mode, pgx.TextFormatCode, args...)
	got, gerr := rowsRaw(t, f.via, fmt.Sprintf(q, f.enc), mode, pgx.TextFormatCode, args...)
	if werr != nil || gerr != nil {
		var wp, gp *pgconn.PgError
		if errors.As(werr, &wp) && errors.As(gerr, &gp) && wp.Code == gp.Code {
			return true
		}
		t.Errorf("%s %v (%v): through phiguard %v, directly %v", q, args, mode, gerr, werr)
		return false
	}
	if got != want {
		t.Errorf("%s %v (%v): through phiguard\n%s\ndirectly\n%s", q, args, mode, got, want)
		return false
	}
	return true
}

// TestTermOrderRoundsDifferential: 150 generated sorted statements with
// LIMIT, OFFSET, FETCH FIRST and ties (many equal names, names equal on
// their first 16 sort-key bytes, case and accents under en_US, 54 dates),
// as literals in the simple protocol and as parameters (binary, then
// text) in the extended one, give the plaintext twin's answers; the text
// sent orders through the order term with FETCH FIRST ... WITH TIES and
// holds none of the statements' constants.
func TestTermOrderRoundsDifferential(t *testing.T) {
	t.Parallel()
	f := newRoundsFixture(t, 600, 40)
	ctx := testContext(t)
	r := rand.New(rand.NewPCG(5, 2026))
	const statements = 150
	differ := 0
	for i := range statements {
		q, _ := genRoundStatement(r, false)
		if !f.sameRaw(t, q, pgx.QueryExecModeSimpleProtocol) {
			differ++
		}
		pq, args := genRoundStatement(r, true)
		if !f.sameRaw(t, pq, pgx.QueryExecModeCacheStatement, args...) {
			differ++
		}
		// Text parameters.
		vals := make([][]byte, len(args))
		for j, a := range args {
			vals[j] = []byte(fmt.Sprint(a))
		}
		var got [2]string
		for side, conn := range []*pgx.Conn{f.dir, f.via} {
			table := map[int]string{0: f.plain, 1: f.enc}[side]
			res := conn.PgConn().ExecParams(ctx, fmt.Sprintf(pq, table), vals, nil, nil, nil).Read()
			got[side] = fmt.Sprint(res.Rows, res.Err)
		}
		if got[0] != got[1] {
			differ++
			t.Errorf("statement %d %s %v (text parameters): through phiguard %s, directly %s", i, pq, args, got[1], got[0])
		}
	}
	sent := f.relay.take()
	withTies := bytes.Count(sent, []byte("ROWS WITH TIES"))
	t.Logf("%d statements, 3 ways: %d different answers; %d statements sent with FETCH FIRST ... WITH TIES; %v further rounds",
		statements, differ, withTies, f.p.metric(t, "phiguard_proxy_search_rounds_total"))
	if withTies < statements/2 {
		t.Errorf("only %d statements sent in rounds", withTies)
	}
	if !bytes.Contains(sent, []byte("ORDER BY phiguard.term_ord_v1(")) {
		t.Error("no statement ordered through the order term")
	}
	for _, secret := range []string{"'Smith'", "Smith", "1952-02-11", "'M'", "%m%", "%Fail"} {
		forms := []string{secret}
		if len(secret) >= 5 {
			// The hex of a three-byte secret is six hex digits, which the
			// hex of the ciphertexts sent holds by chance about once in
			// thirty runs (274d27, "'M'", seen in stop 35).
			forms = append(forms, hex.EncodeToString([]byte(secret)), base64.StdEncoding.EncodeToString([]byte(secret)))
		}
		for _, form := range forms {
			if bytes.Contains(sent, []byte(form)) {
				t.Errorf("the constant %q reached the database (as %q)", secret, form)
			}
		}
	}
}

// TestTermOrderSecondRound: the first 40 names in order fail the
// statement's proxy-side predicate, so the first round (k = 29) keeps
// none and the statement runs again (k = 232, then every candidate): the
// answer is the plaintext one, and the rounds metric counts the rounds
// after the first.
func TestTermOrderSecondRound(t *testing.T) {
	t.Parallel()
	f := newRoundsFixture(t, 300, 240)
	const q = "SELECT id, name FROM %s WHERE name NOT LIKE '%%Fail' ORDER BY name, id LIMIT 10"
	for _, mode := range bothModes {
		before := f.p.metric(t, "phiguard_proxy_search_rounds_total")
		f.sameRaw(t, q, mode)
		after := f.p.metric(t, "phiguard_proxy_search_rounds_total")
		if after-before != 2 {
			t.Errorf("%v: %v rounds after the first, want 2 (k = 29, 232, then every candidate)", mode, after-before)
		}
	}
	var pipelined []string
	// A prepared statement run again: each execution starts at k = 29.
	for range 3 {
		before := f.p.metric(t, "phiguard_proxy_search_rounds_total")
		f.sameRaw(t, "SELECT id, name FROM %s WHERE name NOT LIKE '%%Fail' ORDER BY name NULLS FIRST, id LIMIT $1 OFFSET $2", pgx.QueryExecModeCacheStatement, 5, 3)
		if after := f.p.metric(t, "phiguard_proxy_search_rounds_total"); after-before != 2 {
			t.Errorf("a prepared statement: %v rounds after the first, want 2", after-before)
		}
	}
	// A pipeline (pgx batch: Bind, Execute, ... then one Sync): each
	// statement's rounds end before the next is sent.
	ctx := testContext(t)
	for side, conn := range []*pgx.Conn{f.dir, f.via} {
		table := map[int]string{0: f.plain, 1: f.enc}[side]
		b := &pgx.Batch{}
		for _, lim := range []int{3, 12, 1} {
			b.Queue(fmt.Sprintf("SELECT id, name FROM %s WHERE name NOT LIKE '%%Fail' ORDER BY name, id LIMIT %d", table, lim))
			b.Queue(fmt.Sprintf("SELECT count(*) FROM %s WHERE grp = $1", table), lim%4)
		}
		br := conn.SendBatch(ctx, b)
		var got []string
		for range 6 {
			rows, err := br.Query()
			if err != nil {
				t.Fatal(err)
			}
			vals, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (string, error) {
				v, err := r.Values()
				return fmt.Sprint(v), err
			})
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, strings.Join(vals, ";"))
		}
		br.Close()
		if side == 0 {
			pipelined = got
		} else if fmt.Sprint(got) != fmt.Sprint(pipelined) {
			t.Errorf("a pipeline: through phiguard %v, directly %v", got, pipelined)
		}
	}
	// Inside a transaction, between other statements.
	tx, err := f.via.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := tx.QueryRow(ctx, fmt.Sprintf("SELECT count(*) FROM (SELECT id FROM %s WHERE name NOT LIKE '%%Fail' ORDER BY name LIMIT 7) s", f.enc)).Scan(&n); err == nil {
		t.Log("a subquery sorted by name ran in the database") // refused or not: only the rounds below are checked
	}
	tx.Rollback(ctx)
	tx, err = f.via.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := tx.Query(ctx, fmt.Sprintf("SELECT id FROM %s WHERE name NOT LIKE '%%Fail' ORDER BY name, id LIMIT 3", f.enc))
	if err != nil {
		t.Fatal(err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil || len(ids) != 3 {
		t.Fatalf("in a transaction: %v %v", ids, err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestTermOrderForgedTermFailsXX001: a row's cell is given, in the
// database, the order term its value has under the C collation (the
// column is en_US): the term puts it among the first rows the database
// returns, where phiguard's exact order does not; the statement fails
// with XX001 naming the column rather than answer in a wrong order.
// Then a row given another row's terms likewise.
func TestTermOrderForgedTermFailsXX001(t *testing.T) {
	t.Parallel()
	f := newRoundsFixture(t, 200, 0)
	ctx := testContext(t)
	su := superuser(t)
	const value = "zzzz-late" // last under en_US; its C sort key is its bytes
	col := f.col
	cipher := &cellcipher.Cipher{Keyring: f.prot.Keyring, Subjects: f.prot.Subjects}
	canon, err := cellcipher.Canonical(col, 0, []byte(value))
	if err != nil {
		t.Fatal(err)
	}
	cell, err := cipher.SealWithTerms(context.Background(), col, nil, canon, nil) // under C
	if err != nil {
		t.Fatal(err)
	}
	if _, err := su.Exec(ctx, fmt.Sprintf("INSERT INTO %s VALUES (100001, $1, NULL, 0)", f.enc), string(cell)); err != nil {
		t.Fatal(err)
	}
	if _, err := su.Exec(ctx, fmt.Sprintf("INSERT INTO %s VALUES (100001, $1, NULL, 0)", f.plain), value); err != nil {
		t.Fatal(err)
	}
	below := queryInt(t, su, fmt.Sprintf("SELECT count(*) FROM %[1]s WHERE phiguard.term_ord_v1(name) < (SELECT phiguard.term_ord_v1(name) FROM %[1]s WHERE id = 100001)", f.enc))
	above := queryInt(t, su, fmt.Sprintf("SELECT count(*) FROM %[1]s WHERE phiguard.term_ord_v1(name) > (SELECT phiguard.term_ord_v1(name) FROM %[1]s WHERE id = 100001)", f.enc))
	t.Logf("the forged term has %d terms below it and %d above", below, above)
	if above < 20 {
		t.Fatalf("the forged term sorts among the last %d: the test's value does not land inside the window", above)
	}
	q := fmt.Sprintf("SELECT id, name FROM %s ORDER BY name, id LIMIT %d", f.enc, below+3)
	for _, mode := range bothModes {
		_, err := rowsRaw(t, f.via, q, mode, pgx.TextFormatCode)
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || pe.Code != "XX001" || !strings.Contains(pe.Message, "public."+f.enc+".name") {
			t.Errorf("%v: %v, want XX001 naming the column", mode, err)
		}
	}
	// The session goes on; a window the forged row is not in answers.
	if _, err := su.Exec(ctx, fmt.Sprintf("DELETE FROM %s WHERE id = 100001", f.enc)); err != nil {
		t.Fatal(err)
	}
	if _, err := su.Exec(ctx, fmt.Sprintf("DELETE FROM %s WHERE id = 100001", f.plain)); err != nil {
		t.Fatal(err)
	}
	f.sameRaw(t, "SELECT id, name FROM %s ORDER BY name, id LIMIT 12", pgx.QueryExecModeSimpleProtocol)
	// Another row's terms: the last name's cell with the first name's
	// term sections.
	var first, last int
	var firstCell, lastCell string
	if err := f.dir.QueryRow(ctx, fmt.Sprintf("SELECT (SELECT id FROM %[1]s WHERE name IS NOT NULL ORDER BY name, id LIMIT 1), (SELECT id FROM %[1]s WHERE name IS NOT NULL ORDER BY name DESC, id LIMIT 1)", f.plain)).Scan(&first, &last); err != nil {
		t.Fatal(err)
	}
	for id, c := range map[int]*string{first: &firstCell, last: &lastCell} {
		if err := su.QueryRow(ctx, fmt.Sprintf("SELECT name FROM %s WHERE id = $1", f.enc), id).Scan(c); err != nil {
			t.Fatal(err)
		}
	}
	forged := firstCell[:strings.LastIndexByte(firstCell, '~')] + lastCell[strings.LastIndexByte(lastCell, '~'):]
	if _, err := su.Exec(ctx, fmt.Sprintf("UPDATE %s SET name = $1 WHERE id = $2", f.enc), forged, last); err != nil {
		t.Fatal(err)
	}
	for _, mode := range bothModes {
		_, err := rowsRaw(t, f.via, fmt.Sprintf("SELECT id, name FROM %s ORDER BY name LIMIT 30", f.enc), mode, pgx.TextFormatCode)
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || pe.Code != "XX001" {
			t.Errorf("another row's terms (%v): %v, want XX001", mode, err)
		}
	}
}

// TestTermOrderIndexUsed: on 20,000 rows (ANALYZEd), the text phiguard
// sends for ORDER BY born LIMIT 20 is planned with a Limit over an index
// scan of the column's order-term index, and answers as the plaintext
// table does.
func TestTermOrderIndexUsed(t *testing.T) {
	t.Parallel()
	f := newRoundsFixture(t, 20000, 0)
	born, _ := f.prot.Policy.Column("public", f.enc, "born")
	sentSelect := regexp.MustCompile(`SELECT born[^\x00]*FROM ` + f.enc + `[^\x00]*`)
	for _, q := range []string{
		"SELECT born FROM %s ORDER BY born LIMIT 20",
		"SELECT born FROM %s WHERE born > '1951-01-01' ORDER BY born DESC LIMIT 20 OFFSET 5",
	} {
		f.sameRaw(t, q, pgx.QueryExecModeSimpleProtocol)
		text := sentSelect.Find(f.relay.take())
		if text == nil {
			t.Fatalf("%s: the relay did not see the statement", q)
		}
		p := explainPlan(t, text)
		if !strings.HasPrefix(strings.TrimSpace(p), "Limit") || !strings.Contains(p, "Index Scan") || !strings.Contains(p, search.IndexName(born, "o")) {
			t.Errorf("%s: sent\n%s\nplanned without a Limit over the order-term index:\n%s", q, text, p)
		}
		t.Logf("%s:\n%s", q, p)
	}
}

// TestTermOrderMinMax: min and max of ready order-term columns, alone in
// the select list, run as ordered rounds: with and without predicates
// phiguard re-checks, over NULLs, ties and en_US case and accents, in
// both protocols, they answer as the plaintext twin; a min whose first
// candidates all fail the predicate takes further rounds; the sent text
// of min(born) plans as a Limit over the _o index.
func TestTermOrderMinMax(t *testing.T) {
	t.Parallel()
	f := newRoundsFixture(t, 3000, 100)
	for _, q := range []string{
		"SELECT min(name) FROM %s",
		"SELECT max(name) AS m FROM %s",
		"SELECT min(born) FROM %s WHERE grp = 1",
		"SELECT max(born) FROM %s WHERE born < '1953-01-01' AND name <> 'Smith'",
		"SELECT min(name) FROM %s WHERE name ILIKE 's%%' OR born IS NULL",
		"SELECT max(name) FROM %s WHERE name < 'Ö'",
		"SELECT min(name) FROM %s WHERE id < 0",
		"SELECT min(name) FROM %s WHERE name IS NULL",
	} {
		for _, mode := range bothModes {
			f.sameRaw(t, q, mode)
		}
	}
	sent := f.relay.take()
	if n := bytes.Count(sent, []byte("NULLS LAST FETCH FIRST CAST(LEAST(18 ")); n < 8 {
		t.Errorf("only %d min/max statements sent as ordered rounds", n)
	}
	before := f.p.metric(t, "phiguard_proxy_search_rounds_total")
	for _, mode := range bothModes {
		f.sameRaw(t, "SELECT min(name) FROM %s WHERE name NOT LIKE '%%Fail' AND name <> ''", mode)
	}
	if after := f.p.metric(t, "phiguard_proxy_search_rounds_total"); after-before < 4 {
		t.Errorf("min past 100 failing candidates: %v further rounds in two runs, want at least 4 (k = 18, 144, ...)", after-before)
	}
	f.sameRaw(t, "SELECT min(born) FROM %s", pgx.QueryExecModeSimpleProtocol)
	text := regexp.MustCompile(`SELECT born[^\x00]*FROM ` + f.enc + `[^\x00]*`).Find(f.relay.take())
	if text == nil {
		t.Fatal("the relay did not see min(born)'s statement")
	}
	plan := explainPlan(t, text)
	born, _ := f.prot.Policy.Column("public", f.enc, "born")
	if p := plan; !strings.HasPrefix(strings.TrimSpace(p), "Limit") || !strings.Contains(p, search.IndexName(born, "o")) {
		t.Errorf("min(born): sent\n%s\nplanned\n%s", text, p)
	}
}

// TestTermOrderRoundsOneSnapshot: while another session swaps the names
// of two rows in one transaction, over and over, every answer of a
// statement that needs three rounds is the names of one snapshot: the
// swaps keep the multiset of names, so every snapshot's first 30 names
// in order are the same list. A round that continued from the last one
// under a new snapshot (instead of running whole again) could repeat or
// miss a swapped name.
func TestTermOrderRoundsOneSnapshot(t *testing.T) {
	t.Parallel()
	f := newRoundsFixture(t, 400, 240)
	ctx := testContext(t)
	const q = "SELECT name FROM %s WHERE name NOT LIKE '%%Fail' ORDER BY name LIMIT 30"
	want, err := rowsRaw(t, f.dir, fmt.Sprintf(q, f.plain), pgx.QueryExecModeSimpleProtocol, pgx.TextFormatCode)
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		ID   int
		Name *string
	}
	rows, err := f.dir.Query(ctx, fmt.Sprintf("SELECT id, name FROM %s WHERE id > 240 ORDER BY id", f.plain))
	if err != nil {
		t.Fatal(err)
	}
	all, err := pgx.CollectRows(rows, pgx.RowToStructByPos[row])
	if err != nil {
		t.Fatal(err)
	}
	writer := f.p.app(t)
	stop := make(chan struct{})
	done := make(chan error, 1)
	var swaps atomic.Int64
	go func() {
		r := rand.New(rand.NewPCG(9, 9))
		for {
			select {
			case <-stop:
				done <- nil
				return
			default:
			}
			a, b := r.IntN(len(all)), r.IntN(len(all))
			err := pgx.BeginFunc(ctx, writer, func(tx pgx.Tx) error {
				for _, u := range [][2]int{{a, b}, {b, a}} {
					if _, err := tx.Exec(ctx, fmt.Sprintf("UPDATE %s SET name = $1 WHERE id = $2", f.enc), all[u[1]].Name, all[u[0]].ID); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				done <- err
				return
			}
			all[a].Name, all[b].Name = all[b].Name, all[a].Name
			swaps.Add(1)
		}
	}()
	before := f.p.metric(t, "phiguard_proxy_search_rounds_total")
	// At least 40 answers, and on until 20 swaps ran beside them (the
	// reads can outrun the writer on a loaded machine), at most 400.
	answers := 0
	for i := 0; i < 40 || swaps.Load() < 20 && i < 400; i++ {
		answers++
		mode := bothModes[i%2]
		got, err := rowsRaw(t, f.via, fmt.Sprintf(q, f.enc), mode, pgx.TextFormatCode)
		if err != nil || got != want {
			t.Errorf("answer %d (%v) under concurrent swaps: %v\n%s\nwant\n%s", i, mode, err, got, want)
			break
		}
	}
	close(stop)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	t.Logf("%d answers during %d committed swaps", answers, swaps.Load())
	if swaps.Load() < 20 {
		t.Errorf("only %d swaps ran beside the reads", swaps.Load())
	}
	if rounds := f.p.metric(t, "phiguard_proxy_search_rounds_total") - before; rounds < 40 {
		t.Errorf("%v further rounds over 40 statements: the statement did not run in rounds", rounds)
	}
}
