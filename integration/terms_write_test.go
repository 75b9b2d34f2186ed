package integration

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/phiguard/phiguard/cellcipher"
	"github.com/phiguard/phiguard/config"
	"github.com/phiguard/phiguard/internal/pgcollate"
	"github.com/phiguard/phiguard/keys"
	"github.com/phiguard/phiguard/policy"
)

// termFunctionsSQL are the extraction functions of
// docs/design/search-terms.md §2.3 (as cellcipher's
// TestTermFunctionsReadSealedCells writes them), in schema %[1]s.
const termFunctionsSQL = `
CREATE SCHEMA %[1]s;
CREATE FUNCTION %[1]s.term_eq_v1(c text) RETURNS bytea LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE WHEN pg_catalog.left(c, 5) OPERATOR(pg_catalog.=) '~phs~'
  THEN pg_catalog.decode(NULLIF(pg_catalog.split_part(c, '~', 4), ''), 'base64') END;
CREATE FUNCTION %[1]s.term_ord_v1(c text) RETURNS bytea LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE WHEN pg_catalog.left(c, 5) OPERATOR(pg_catalog.=) '~phs~'
  THEN pg_catalog.decode(NULLIF(pg_catalog.split_part(c, '~', 5), ''), 'base64') END;
CREATE FUNCTION %[1]s.term_pre_v1(c text) RETURNS bytea LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE WHEN pg_catalog.left(c, 5) OPERATOR(pg_catalog.=) '~phs~'
  THEN CAST(NULLIF(pg_catalog.split_part(c, '~', 6), '') AS bytea) END;
CREATE FUNCTION %[1]s.term_match_v1(c text) RETURNS bytea[] LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE WHEN pg_catalog.left(c, 5) OPERATOR(pg_catalog.=) '~phs~'
  THEN CAST(pg_catalog.string_to_array(NULLIF(pg_catalog.split_part(c, '~', 7), ''), '.') AS bytea[]) END;
`

// termWriteFixture: a plaintext table and its twin whose columns have
// search terms (last: order and match under the database's C; first:
// all three under en_US; born: a date with equality and order; mrn:
// deterministic with order and match; note: encrypted without search),
// phiguard connected to PostgreSQL through a byteRelay.
type termWriteFixture struct {
	twin
	relay   *byteRelay
	pol     *policy.Policy
	cipher  *cellcipher.Cipher
	enUS    *pgcollate.Locale
	fn, icu string // the extraction functions' schema; the refusals' table
	subj    string // a table sealed per subject, with search on name
}

var termWriteColumns = []string{"last", "first", "born", "mrn", "note"}

func newTermWriteFixture(t *testing.T) *termWriteFixture {
	t.Helper()
	requireEnUS(t)
	ctx := testContext(t)
	su := superuser(t)
	f := &termWriteFixture{twin: twin{plain: uniqueName("tw_plain"), enc: uniqueName("tw_enc")}, fn: uniqueName("twfn"), icu: uniqueName("tw_icu"), subj: uniqueName("tw_subj")}
	var collate string
	if err := su.QueryRow(ctx, `SELECT collcollate FROM pg_collation WHERE collname = 'en_US' AND collprovider = 'c'`).Scan(&collate); err != nil {
		t.Fatal(err)
	}
	var err error
	if f.enUS, err = pgcollate.Open(collate); err != nil {
		t.Fatal(err)
	}
	for _, sql := range []string{
		fmt.Sprintf(`CREATE TABLE %s (id int PRIMARY KEY, last text, first text COLLATE "en_US", born date, mrn text, note text)`, f.plain),
		fmt.Sprintf(`CREATE TABLE %s (id int PRIMARY KEY, last text, first text COLLATE "en_US", born text, mrn text, note text)`, f.enc),
		`CREATE COLLATION IF NOT EXISTS phiguard_icu_und (provider = icu, locale = 'und')`,
		`CREATE COLLATION IF NOT EXISTS phiguard_mixed_libc (lc_collate = 'C', lc_ctype = '` + collate + `')`,
		fmt.Sprintf(`CREATE TABLE %s (id int PRIMARY KEY, ord text COLLATE phiguard_icu_und, eq text COLLATE phiguard_icu_und, mixed text COLLATE phiguard_mixed_libc)`, f.icu),
		fmt.Sprintf(`CREATE TABLE %s (id text PRIMARY KEY, name text COLLATE "en_US")`, f.subj),
		fmt.Sprintf("GRANT ALL ON %s, %s, %s, %s TO %s", f.plain, f.enc, f.icu, f.subj, appUser),
		fmt.Sprintf(termFunctionsSQL, f.fn),
	} {
		if _, err := su.Exec(ctx, sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	pol := fmt.Sprintf(`version: 1
tables:
  public.%s:
    columns:
      last:  {mode: randomized, key: tw-pii, type: text, search: [order, match], search_key_version: 1}
      first: {mode: randomized, key: tw-pii, type: text, search: [equality, order, match], search_key_version: 1}
      born:  {mode: randomized, key: tw-pii, type: date, search: [equality, order], search_key_version: 1}
      mrn:   {mode: deterministic, key: tw-mrn, type: text, search: [order, match], search_key_version: 1}
      note:  {mode: randomized, key: tw-pii, type: text}
  public.%s:
    columns:
      ord:   {mode: randomized, key: tw-pii, type: text, search: [order], search_key_version: 1}
      eq:    {mode: randomized, key: tw-pii, type: text, search: [equality], search_key_version: 1}
      mixed: {mode: randomized, key: tw-pii, type: text, search: [order, match], search_key_version: 1}
  public.%s:
    subject_column: id
    columns:
      name:  {mode: randomized, key: tw-pii, type: text, search: [equality, order, match], search_key_version: 1}
`, f.enc, f.icu, f.subj)
	prot := protection(t, pol)
	f.pol, f.cipher = prot.Policy, &cellcipher.Cipher{Keyring: prot.Keyring, Subjects: prot.Subjects}
	f.relay = startByteRelay(t)
	p := startProxy(t, proxyOptions{protect: prot, quiet: true, configure: func(c *config.Config) {
		c.Backend.Port = f.relay.port
		c.Backend.TLS.Mode = config.BackendTLSDisable // the relay reads the bytes
	}})
	f.via, f.dir = p.app(t), direct(t)
	f.relay.take()
	return f
}

// termRow is one row's values as a client writes them.
type termRow struct {
	id                           int
	last, first, born, mrn, note string
}

func (r termRow) values() []string { return []string{r.last, r.first, r.born, r.mrn, r.note} }

// termRows are distinctive values (none may reach the database), with
// accents and case for en_US's sort keys and lower().
func termRows(from, n int, tag string) []termRow {
	var out []termRow
	for i := range n {
		id := from + i
		out = append(out, termRow{id: id,
			last:  fmt.Sprintf("Quorv%sLeak%d", tag, id),
			first: fmt.Sprintf("Émilie Zänskar%s%d", tag, id),
			born:  fmt.Sprintf("19%02d-%02d-%02d", 20+id, 1+id%12, 1+id%28),
			mrn:   fmt.Sprintf("MRN-Vexa%s%d", tag, id),
			note:  fmt.Sprintf("notesecret%s%d", tag, id)})
	}
	return out
}

// onBoth runs write on the plaintext table's connection and on phiguard's.
func (f *termWriteFixture) onBoth(t *testing.T, what string, write func(conn *pgx.Conn, table string) error) {
	t.Helper()
	if err := write(f.dir, f.plain); err != nil {
		t.Fatalf("%s directly: %v", what, err)
	}
	if err := write(f.via, f.enc); err != nil {
		t.Fatalf("%s through phiguard: %v", what, err)
	}
}

const termInsert = "INSERT INTO %s (id, last, first, born, mrn, note) VALUES "

// writeEveryForm writes rows through every write form on both sides and
// returns the values written (the secrets).
func (f *termWriteFixture) writeEveryForm(t *testing.T) []termRow {
	ctx := testContext(t)
	var all []termRow
	literal := func(r termRow) string {
		return fmt.Sprintf("(%d, '%s', '%s', '%s', '%s', '%s')", r.id, r.last, r.first, r.born, r.mrn, r.note)
	}
	// Simple protocol: INSERT of literals, then an UPDATE SET of another
	// row, and ON CONFLICT DO UPDATE with literals.
	simple := termRows(1, 3, "Sim")
	all = append(all, simple...)
	f.onBoth(t, "simple INSERT", func(c *pgx.Conn, table string) error {
		_, err := c.Exec(ctx, fmt.Sprintf(termInsert, table)+literal(simple[0])+", "+literal(simple[1]), pgx.QueryExecModeSimpleProtocol)
		return err
	})
	upd := termRows(2, 1, "Upd")[0]
	all = append(all, upd)
	f.onBoth(t, "simple UPDATE", func(c *pgx.Conn, table string) error {
		_, err := c.Exec(ctx, fmt.Sprintf("UPDATE %s SET last = '%s', first = '%s', born = '%s', mrn = '%s' WHERE id = 2", table, upd.last, upd.first, upd.born, upd.mrn), pgx.QueryExecModeSimpleProtocol)
		return err
	})
	onc := termRows(3, 1, "Onc")[0]
	all = append(all, onc)
	f.onBoth(t, "simple ON CONFLICT", func(c *pgx.Conn, table string) error {
		_, err := c.Exec(ctx, fmt.Sprintf(termInsert, table)+literal(simple[2])+" ON CONFLICT (id) DO NOTHING", pgx.QueryExecModeSimpleProtocol)
		if err == nil {
			_, err = c.Exec(ctx, fmt.Sprintf(termInsert, table)+literal(simple[2])+fmt.Sprintf(" ON CONFLICT (id) DO UPDATE SET last = '%s', mrn = '%s', born = '%s'", onc.last, onc.mrn, onc.born), pgx.QueryExecModeSimpleProtocol)
		}
		return err
	})

	// Extended protocol, parameters in text and in binary.
	for k, format := range []int16{0, 1} {
		rows := termRows(10+10*k, 3, []string{"Ext", "Bin"}[k])
		all = append(all, rows...)
		params := func(r termRow) ([][]byte, []uint32, []int16) {
			vals := [][]byte{fmt.Appendf(nil, "%d", r.id), []byte(r.last), []byte(r.first), []byte(r.born), []byte(r.mrn), []byte(r.note)}
			oids := []uint32{23, 25, 25, 1082, 25, 25}
			if format == 1 {
				vals[0] = binary.BigEndian.AppendUint32(nil, uint32(r.id))
				vals[3] = binaryDate(t, r.born)
			}
			return vals, oids, []int16{format, format, format, format, format, format}
		}
		f.onBoth(t, "extended INSERT", func(c *pgx.Conn, table string) error {
			v, o, fm := params(rows[0])
			return c.PgConn().ExecParams(ctx, fmt.Sprintf(termInsert, table)+"($1, $2, $3, $4, $5, $6)", v, o, fm, nil).Read().Err
		})
		f.onBoth(t, "extended INSERT of the row to update", func(c *pgx.Conn, table string) error {
			v, o, fm := params(rows[2])
			return c.PgConn().ExecParams(ctx, fmt.Sprintf(termInsert, table)+"($1, $2, $3, $4, $5, $6)", v, o, fm, nil).Read().Err
		})
		f.onBoth(t, "extended UPDATE", func(c *pgx.Conn, table string) error {
			v, o, fm := params(rows[1])
			target, _, _ := params(rows[2])
			return c.PgConn().ExecParams(ctx, fmt.Sprintf("UPDATE %s SET last = $2, first = $3, born = $4, mrn = $5, note = $6 WHERE id = $1", table),
				append([][]byte{target[0]}, v[1:]...), o, fm, nil).Read().Err
		})
		f.onBoth(t, "extended ON CONFLICT", func(c *pgx.Conn, table string) error {
			v, o, fm := params(rows[0])
			r := rows[0]
			r.first, r.born = "Ôncé Zänskar"+rows[0].first, fmt.Sprintf("18%02d-01-02", 50+k)
			v2, _, _ := params(r)
			v[2], v[3] = v2[2], v2[3]
			return c.PgConn().ExecParams(ctx, fmt.Sprintf(termInsert, table)+"($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO UPDATE SET first = EXCLUDED.first, born = $4, last = $2",
				v, o, fm, nil).Read().Err
		})
		all = append(all, termRow{id: rows[0].id, first: "Ôncé Zänskar" + rows[0].first, born: fmt.Sprintf("18%02d-01-02", 50+k)})
	}

	// COPY FROM in text, csv and binary.
	text, csv, bin := termRows(40, 2, "Txt"), termRows(50, 2, "Csv"), termRows(60, 2, "Cpb")
	all = append(append(append(all, text...), csv...), bin...)
	var textData, csvData strings.Builder
	for _, r := range text {
		fmt.Fprintf(&textData, "%d\t%s\n", r.id, strings.Join(r.values(), "\t"))
	}
	for _, r := range csv {
		fmt.Fprintf(&csvData, "%d,\"%s\"\n", r.id, strings.Join(r.values(), `","`))
	}
	cols := "(id, last, first, born, mrn, note)"
	f.onBoth(t, "COPY text", func(c *pgx.Conn, table string) error {
		_, err := c.PgConn().CopyFrom(ctx, strings.NewReader(textData.String()), "COPY "+table+" "+cols+" FROM STDIN")
		return err
	})
	f.onBoth(t, "COPY csv", func(c *pgx.Conn, table string) error {
		_, err := c.PgConn().CopyFrom(ctx, strings.NewReader(csvData.String()), "COPY "+table+" "+cols+" FROM STDIN WITH (FORMAT csv)")
		return err
	})
	var binRows [][]any
	for _, r := range bin {
		born, err := time.Parse("2006-01-02", r.born)
		if err != nil {
			t.Fatal(err)
		}
		binRows = append(binRows, []any{r.id, r.last, r.first, born, r.mrn, r.note})
	}
	f.onBoth(t, "COPY binary", func(c *pgx.Conn, table string) error {
		_, err := c.CopyFrom(ctx, pgx.Identifier{table}, []string{"id", "last", "first", "born", "mrn", "note"}, pgx.CopyFromRows(binRows))
		return err
	})
	return all
}

// binaryDate is a date's binary form: days since 2000-01-01.
func binaryDate(t *testing.T, s string) []byte {
	d, err := time.Parse("2006-01-02", s)
	if err != nil {
		t.Fatal(err)
	}
	days := int32(d.Sub(time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)).Hours() / 24)
	return binary.BigEndian.AppendUint32(nil, uint32(days))
}

// TestWritesCarrySearchTerms: every write form through phiguard (INSERT
// of literals and of text and binary parameters, UPDATE SET, ON CONFLICT
// DO UPDATE, COPY FROM in text, csv and binary) stores a column with
// `search` as a format-2 cell and one without as a format-1 cell; both
// protocols read back the plaintext table's answers; the design's four
// extraction functions read, in PostgreSQL, exactly the terms Go computes
// for each stored value (under C for last, under en_US for first); and
// no byte phiguard sent the database holds a written value, its lowered
// form or its unkeyed sort key.
func TestWritesCarrySearchTerms(t *testing.T) {
	t.Parallel()
	f := newTermWriteFixture(t)
	written := f.writeEveryForm(t)
	sent := f.relay.take()

	for _, mode := range bothModes {
		f.same(t, "SELECT id, last, first, born, mrn, note FROM %s ORDER BY id", mode, "rows written with terms")
	}
	n := f.checkStoredTerms(t)
	if n != 13*4 {
		t.Fatalf("only %d cells with terms checked", n)
	}
	t.Logf("%d cells written by phiguard: the extraction functions read Go's terms from each", n)

	var secrets []string
	for _, r := range written {
		for i, v := range r.values() {
			if v == "" {
				continue
			}
			secrets = append(secrets, v, strings.ToLower(v))
			if i == 2 {
				low, err := f.enUS.Lower([]byte(v))
				if err != nil {
					t.Fatal(err)
				}
				secrets = append(secrets, string(low))
			}
			if i < 4 {
				secrets = append(secrets, f.sortKeyForms(t, termWriteColumns[i], v)...)
			}
		}
	}
	noSecretsSent(t, sent, []string{f.enc, "~phs~", "COPY"}, secrets)
	t.Logf("%d bytes sent by phiguard hold none of %d secrets", len(sent), len(secrets))
}

// sortKeyForms are the unkeyed sort key of v (the order term's input,
// cut of its zero padding) as raw bytes, hex and base64, when long
// enough to be told from chance.
func (f *termWriteFixture) sortKeyForms(t *testing.T, name, v string) []string {
	col := f.column(t, name)
	if !col.Search.Has(policy.SearchOrder) {
		return nil
	}
	canon, err := cellcipher.Canonical(col, 0, []byte(v))
	if err != nil {
		t.Fatal(err)
	}
	s, err := cellcipher.OrderInput(col, f.locale(name), canon)
	if err != nil {
		t.Fatal(err)
	}
	s = []byte(strings.TrimRight(string(s), "\x00"))
	if len(s) < 4 {
		return nil
	}
	out := []string{string(s)}
	if len(s) >= 8 {
		out = append(out, hex.EncodeToString(s), strings.TrimRight(base64.StdEncoding.EncodeToString(s), "="), base64.RawURLEncoding.EncodeToString(s))
	}
	return out
}

func (f *termWriteFixture) column(t *testing.T, name string) *policy.ProtectedColumn {
	col, ok := f.pol.Column("public", f.enc, name)
	if !ok {
		t.Fatalf("no column %s", name)
	}
	return col
}

// locale is the column's collation as phiguard computes terms under it.
func (f *termWriteFixture) locale(name string) *pgcollate.Locale {
	if name == "first" {
		return f.enUS
	}
	return nil // C
}

// checkStoredTerms compares, for every stored cell of every column with
// `search`, what the extraction functions read in the database with the
// terms Go computes from the plaintext twin's value; a column without
// `search` holds format-1 cells. It returns the number of cells checked.
func (f *termWriteFixture) checkStoredTerms(t *testing.T) int {
	ctx := testContext(t)
	n := 0
	for _, name := range termWriteColumns {
		col := f.column(t, name)
		q := fmt.Sprintf(`SELECT e.id, p.%[1]s::text, e.%[1]s,
			encode(%[2]s.term_eq_v1(e.%[1]s), 'hex'), encode(%[2]s.term_ord_v1(e.%[1]s), 'hex'), encode(%[2]s.term_pre_v1(e.%[1]s), 'hex'),
			array_to_string(ARRAY(SELECT encode(x, 'hex') FROM unnest(%[2]s.term_match_v1(e.%[1]s)) WITH ORDINALITY AS u(x, k) ORDER BY k), ',')
			FROM %[3]s e JOIN %[4]s p USING (id) ORDER BY e.id`, name, f.fn, f.enc, f.plain)
		res := superuser(t).PgConn().ExecParams(ctx, q, nil, nil, nil, nil).Read()
		if res.Err != nil {
			t.Fatal(res.Err)
		}
		if len(res.Rows) != 13 { // 3 simple, 2 × 2 extended, 3 × 2 COPY
			t.Fatalf("%s: %d rows, want 13", name, len(res.Rows))
		}
		for _, r := range res.Rows {
			id, plain, cell := string(r[0]), r[1], r[2]
			if plain == nil {
				if cell != nil {
					t.Errorf("%s row %s: a cell for NULL", name, id)
				}
				continue
			}
			if col.Search == 0 {
				if !strings.HasPrefix(string(cell), keys.Prefix) {
					t.Errorf("%s row %s: a column without search stored %.5q, want a format-1 cell", name, id, cell)
				}
				continue
			}
			if !strings.HasPrefix(string(cell), keys.TermsPrefix) {
				t.Errorf("%s row %s: stored %.5q, want a format-2 cell", name, id, cell)
				continue
			}
			canon, err := cellcipher.Canonical(col, 0, plain)
			if err != nil {
				t.Fatal(err)
			}
			want, err := f.cipher.CellTerms(col, f.locale(name), canon)
			if err != nil {
				t.Fatal(err)
			}
			var toks []string
			for _, tok := range want.Match {
				toks = append(toks, hex.EncodeToString([]byte(tok)))
			}
			got := []string{string(r[3]), string(r[4]), string(r[5]), string(r[6])}
			exp := []string{hex.EncodeToString(want.Eq), hex.EncodeToString(want.Ord), hex.EncodeToString([]byte(want.Prefix)), strings.Join(toks, ",")}
			if !slices.Equal(got, exp) {
				t.Errorf("%s row %s: the database extracts\n %q\nGo computed\n %q", name, id, got, exp)
			}
			n++
		}
	}
	return n
}

// TestDeterministicSearchMatchesBothFormats: a deterministic column that
// gained `search` holds format-1 cells written before (here written by
// the owner as phiguard wrote them then) beside format-2 cells phiguard
// writes now; `=`, `<>`, IN and NOT IN, as literals and as text and
// binary parameters, find both, as on the plaintext table.
func TestDeterministicSearchMatchesBothFormats(t *testing.T) {
	t.Parallel()
	f := newTermWriteFixture(t)
	ctx := testContext(t)
	rows := termRows(1, 3, "Det")
	for _, r := range rows {
		f.onBoth(t, "INSERT", func(c *pgx.Conn, table string) error {
			_, err := c.Exec(ctx, fmt.Sprintf(termInsert, table)+"($1, $2, $3, $4, $5, $6)", r.id, r.last, r.first, r.born, r.mrn, r.note)
			return err
		})
	}
	// Rows 101 and 102 hold row 1's and row 2's MRN as format-1 cells.
	mrn := f.column(t, "mrn")
	su := superuser(t)
	for i, r := range rows[:2] {
		canon, err := cellcipher.Canonical(mrn, 0, []byte(r.mrn))
		if err != nil {
			t.Fatal(err)
		}
		v1, err := f.cipher.Seal(ctx, mrn, canon, nil)
		if err != nil || !strings.HasPrefix(string(v1), keys.Prefix) {
			t.Fatalf("format-1 cell: %v", err)
		}
		if _, err := su.Exec(ctx, fmt.Sprintf("INSERT INTO %s (id, mrn) VALUES ($1, $2)", f.enc), 101+i, string(v1)); err != nil {
			t.Fatal(err)
		}
		if _, err := su.Exec(ctx, fmt.Sprintf("INSERT INTO %s (id, mrn) VALUES ($1, $2)", f.plain), 101+i, r.mrn); err != nil {
			t.Fatal(err)
		}
	}
	if got := queryInt(t, su, fmt.Sprintf("SELECT count(*) FROM %s WHERE left(mrn, 5) = '~phs~'", f.enc)); got != 3 {
		t.Fatalf("%d format-2 MRN cells, want 3", got)
	}
	a, b := rows[0].mrn, rows[1].mrn
	for _, mode := range bothModes {
		for _, q := range []string{
			"SELECT id FROM %s WHERE mrn = '" + a + "' ORDER BY id",
			"SELECT id FROM %s WHERE mrn <> '" + a + "' ORDER BY id",
			"SELECT id FROM %s WHERE mrn IN ('" + a + "', '" + b + "') ORDER BY id",
			"SELECT id FROM %s WHERE mrn NOT IN ('" + a + "', '" + b + "') ORDER BY id",
		} {
			f.same(t, q, mode, "deterministic comparison with cells of both formats")
		}
	}
	for _, format := range []int16{0, 1} {
		for _, q := range []string{
			"SELECT id FROM %s WHERE mrn = $1 ORDER BY id",
			"SELECT id FROM %s WHERE mrn <> $1 ORDER BY id",
			"SELECT id FROM %s WHERE mrn IN ($1, 'none') ORDER BY id",
		} {
			var got [2]string
			for side, conn := range []*pgx.Conn{f.dir, f.via} {
				res := conn.PgConn().ExecParams(ctx, fmt.Sprintf(q, []string{f.plain, f.enc}[side]), [][]byte{[]byte(a)}, []uint32{25}, []int16{format}, nil).Read()
				if res.Err != nil {
					t.Fatalf("%s (format %d, side %d): %v", q, format, side, res.Err)
				}
				for _, r := range res.Rows {
					got[side] += string(r[0]) + ","
				}
			}
			if got[0] != got[1] || got[0] == "" {
				t.Errorf("%s (format %d): through phiguard %q, directly %q", q, format, got[1], got[0])
			}
		}
	}
	if got := queryInt(t, f.via, fmt.Sprintf("SELECT count(*) FROM %s WHERE mrn = $1", f.enc), a); got != 2 {
		t.Errorf("mrn = $1 counts %d rows, want 2 (one cell of each format)", got)
	}
}

// TestSearchTermsUnderUnsupportedCollation: a write of a column whose
// order or match terms would be computed under an ICU collation, or a
// libc one whose LC_COLLATE and LC_CTYPE differ, is refused with 0A000
// naming the column, in both protocols and COPY; nothing is stored. A
// column with only an equality term depends on no collation and is
// written under ICU with its term.
func TestSearchTermsUnderUnsupportedCollation(t *testing.T) {
	t.Parallel()
	f := newTermWriteFixture(t)
	ctx := testContext(t)
	for _, c := range []struct{ col, words string }{{"ord", "ICU"}, {"mixed", "LC_CTYPE"}} {
		what := fmt.Sprintf("encrypted column public.%s.%s", f.icu, c.col)
		for _, mode := range bothModes {
			_, err := f.via.Exec(ctx, fmt.Sprintf("INSERT INTO %s (id, %s) VALUES (1, 'Abc')", f.icu, c.col), mode)
			wantCode(t, err, "0A000", what)
			wantCode(t, err, "0A000", c.words)
		}
		_, err := f.via.PgConn().CopyFrom(ctx, strings.NewReader("2\tAbc\n"), fmt.Sprintf("COPY %s (id, %s) FROM STDIN", f.icu, c.col))
		wantCode(t, err, "0A000", what)
	}
	if got := queryInt(t, superuser(t), "SELECT count(*) FROM "+f.icu); got != 0 {
		t.Fatalf("%d rows stored by refused writes", got)
	}
	for i, mode := range bothModes {
		if _, err := f.via.Exec(ctx, fmt.Sprintf("INSERT INTO %s (id, eq) VALUES ($1, 'Abc')", f.icu), mode, 10+i); err != nil {
			t.Fatalf("equality only, under ICU: %v", err)
		}
	}
	if got := queryInt(t, superuser(t), fmt.Sprintf("SELECT count(*) FROM %s WHERE left(eq, 5) = '~phs~'", f.icu)); got != 2 {
		t.Fatalf("%d equality-term cells under ICU, want 2", got)
	}
}

// TestDeterministicSearchLiteralLeftOfColumn: a value compared where the
// rewrite cannot list the candidates ('x' = col, col = ('x'), $1 = col)
// would be sealed once, as the cell a write stores now (with terms): the
// rows whose cells were written before the column gained `search` would
// not be found, where the plaintext table finds them (ids 1 and 101
// directly, 1 through phiguard, before the refusal). While the column
// has several candidates such a comparison is refused (0A000 naming the
// column); the forms the rewrite lists stay the plaintext's answer.
func TestDeterministicSearchLiteralLeftOfColumn(t *testing.T) {
	t.Parallel()
	f := newTermWriteFixture(t)
	ctx := testContext(t)
	r, mrn := f.twoFormatMRN(t, "Left")
	for _, mode := range bothModes {
		f.same(t, "SELECT id FROM %s WHERE mrn = '"+r.mrn+"' ORDER BY id", mode, "the column left of the literal")
		for _, q := range []string{
			"SELECT id FROM %s WHERE '" + r.mrn + "' = mrn ORDER BY id",
			"SELECT id FROM %s WHERE mrn = ('" + r.mrn + "') ORDER BY id",
			"SELECT id FROM %s WHERE '" + r.mrn + "' <> mrn ORDER BY id",
		} {
			_, err := f.via.Exec(ctx, fmt.Sprintf(q, f.enc), mode)
			wantCode(t, err, "0A000", mrn.QualifiedName())
		}
		_, err := f.via.Exec(ctx, fmt.Sprintf("SELECT id FROM %s WHERE $1 = mrn ORDER BY id", f.enc), mode, r.mrn)
		wantCode(t, err, "0A000", "value left of it")
	}
}

// TestSubjectWritesCarrySearchTerms: a column sealed per subject with
// `search` is written, by literal and by text and binary parameter, as a
// subject cell carrying terms keyed by the column (not the subject: the
// front desk searches every patient, design §5.2), which the extraction
// functions read as Go computes them, and reads back as written.
func TestSubjectWritesCarrySearchTerms(t *testing.T) {
	t.Parallel()
	f := newTermWriteFixture(t)
	ctx := testContext(t)
	names := map[string]string{"p-1": "Ölga Quorvsubj", "p-2": "Zänskar Subjbin", "p-3": "Émile Subjtext"}
	if _, err := f.via.Exec(ctx, fmt.Sprintf("INSERT INTO %s VALUES ('p-1', '%s')", f.subj, names["p-1"]), pgx.QueryExecModeSimpleProtocol); err != nil {
		t.Fatal(err)
	}
	for k, id := range []string{"p-2", "p-3"} {
		format := int16(1 - k)
		err := f.via.PgConn().ExecParams(ctx, fmt.Sprintf("INSERT INTO %s VALUES ($1, $2)", f.subj),
			[][]byte{[]byte(id), []byte(names[id])}, []uint32{25, 25}, []int16{0, format}, nil).Read().Err // the subject in text, as phiguard asks
		if err != nil {
			t.Fatalf("%s (format %d): %v", id, format, err)
		}
	}
	col, ok := f.pol.Column("public", f.subj, "name")
	if !ok {
		t.Fatal("no column")
	}
	res := superuser(t).PgConn().ExecParams(ctx, fmt.Sprintf(`SELECT id, name, encode(%[1]s.term_eq_v1(name), 'hex'), encode(%[1]s.term_ord_v1(name), 'hex'),
		encode(%[1]s.term_pre_v1(name), 'hex') FROM %[2]s ORDER BY id`, f.fn, f.subj), nil, nil, nil, nil).Read()
	if res.Err != nil || len(res.Rows) != 3 {
		t.Fatalf("%d rows: %v", len(res.Rows), res.Err)
	}
	for _, r := range res.Rows {
		id, cell := string(r[0]), r[1]
		if !strings.HasPrefix(string(cell), keys.TermsPrefix) || !keys.IsSubjectCell(cell) {
			t.Errorf("%s: stored %.5q, want a subject cell with terms", id, cell)
			continue
		}
		want, err := f.cipher.CellTerms(col, f.enUS, []byte(names[id]))
		if err != nil {
			t.Fatal(err)
		}
		got := []string{string(r[2]), string(r[3]), string(r[4])}
		exp := []string{hex.EncodeToString(want.Eq), hex.EncodeToString(want.Ord), hex.EncodeToString([]byte(want.Prefix))}
		if !slices.Equal(got, exp) {
			t.Errorf("%s: the database extracts %q, Go computed %q", id, got, exp)
		}
	}
	for _, mode := range bothModes {
		var got []string
		rows, err := f.via.Query(ctx, fmt.Sprintf("SELECT id, name FROM %s ORDER BY id", f.subj), mode)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var id, name string
			if err := rows.Scan(&id, &name); err != nil {
				t.Fatal(err)
			}
			if names[id] != name {
				t.Errorf("%v: %s reads %q", mode, id, name)
			}
			got = append(got, id)
		}
		if rows.Err() != nil || len(got) != 3 {
			t.Fatalf("%v: %v, %d rows", mode, rows.Err(), len(got))
		}
	}
}

// twoFormatMRN writes one row of termRows through phiguard on both
// sides, then row 101 with the same MRN as the plaintext and, on the
// encrypted side, as a cell without search terms (written before the
// column had search), so that a value has two cells in the column.
func (f *termWriteFixture) twoFormatMRN(t *testing.T, label string) (termRow, *policy.ProtectedColumn) {
	t.Helper()
	ctx := testContext(t)
	r := termRows(1, 1, label)[0]
	f.onBoth(t, "INSERT", func(c *pgx.Conn, table string) error {
		_, err := c.Exec(ctx, fmt.Sprintf(termInsert, table)+"($1, $2, $3, $4, $5, $6)", r.id, r.last, r.first, r.born, r.mrn, r.note)
		return err
	})
	mrn := f.column(t, "mrn")
	v1, err := f.cipher.Seal(ctx, mrn, []byte(r.mrn), nil)
	if err != nil {
		t.Fatal(err)
	}
	su := superuser(t)
	for table, v := range map[string]string{f.enc: string(v1), f.plain: r.mrn} {
		if _, err := su.Exec(ctx, fmt.Sprintf("INSERT INTO %s (id, mrn) VALUES (101, $1)", table), v); err != nil {
			t.Fatal(err)
		}
	}
	return r, mrn
}
