package cellcipher_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/phiguard/phiguard/cellcipher"
	"github.com/phiguard/phiguard/internal/pgcluster/pgclustertest"
	"github.com/phiguard/phiguard/keys"
	"github.com/phiguard/phiguard/search"
)

// termFunctions are the extraction functions of
// docs/design/search-terms.md §2.3 as `phiguard search install` creates
// them (search.Functions), so this test checks the cell layout against
// exactly what is installed.
func termFunctions() string {
	out := "CREATE SCHEMA IF NOT EXISTS phiguard;\n"
	for _, f := range search.Functions {
		out += f.SQL + ";\n"
	}
	return out
}

// TestTermFunctionsReadSealedCells: cells sealed with terms, of every
// type with terms, both modes and per subject, stored in PostgreSQL 15:
// the design's four extraction functions give exactly the Go-computed
// terms (E and O as their bytes, X and each M token as its characters),
// NULL for a term the column lacks and for format-1 cells and plaintext;
// ORDER BY the order term is Go's byte order of the terms; and the
// terms-present CHECK of §2.4 admits the cells.
func TestTermFunctionsReadSealedCells(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	conn := pgclustertest.Conn(t, ctx)
	if _, err := conn.Exec(ctx, termFunctions()+`
		CREATE TABLE cells (id int PRIMARY KEY, col text NOT NULL, cell text
			CHECK (cell IS NULL OR pg_catalog.left(cell, 5) = '~phs~'));
`).ReadAll(); err != nil {
		t.Fatal(err)
	}
	pol, c := searchSetup(t)
	type row struct {
		col  string
		want keys.CellTerms
		kind string // which terms the column has, for NULL checks
	}
	var rows []row
	for _, tab := range pol.Tables() {
		for _, col := range tab.Columns {
			if col.Search == 0 {
				continue
			}
			for _, raw := range searchSamples[col.Type.Name] {
				canon, err := cellcipher.Canonical(col, 0, []byte(raw))
				if err != nil {
					t.Fatal(err)
				}
				cell, err := c.SealWithTerms(ctx, col, nil, canon, []byte("patient-3"))
				if err != nil {
					t.Fatal(err)
				}
				id := len(rows) + 1
				if _, err := conn.ExecParams(ctx, "INSERT INTO cells VALUES ($1, $2, $3)",
					[][]byte{fmt.Appendf(nil, "%d", id), []byte(col.QualifiedName()), cell}, nil, nil, nil).Close(); err != nil {
					t.Fatalf("%s: insert: %v", col.QualifiedName(), err)
				}
				rows = append(rows, row{col.QualifiedName(), expectedTerms(t, c, col, canon), col.Search.String()})
			}
		}
	}
	res := conn.ExecParams(ctx, `
		SELECT id,
		       encode(phiguard.term_eq_v1(cell), 'hex'),
		       encode(phiguard.term_ord_v1(cell), 'hex'),
		       encode(phiguard.term_pre_v1(cell), 'hex'),
		       array_to_string(ARRAY(SELECT encode(x, 'hex') FROM unnest(phiguard.term_match_v1(cell)) WITH ORDINALITY AS u(x, n) ORDER BY n), ','),
		       phiguard.term_match_v1(cell) IS NULL,
		       cell
		FROM cells ORDER BY id`, nil, nil, nil, nil).Read()
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	if len(res.Rows) != len(rows) {
		t.Fatalf("%d rows back, %d written", len(res.Rows), len(rows))
	}
	hexOr := func(b []byte) string { return hex.EncodeToString(b) }
	for i, r := range res.Rows {
		w := rows[i]
		var toks []string
		for _, tok := range w.want.Match {
			toks = append(toks, hex.EncodeToString([]byte(tok)))
		}
		got := []string{string(r[1]), string(r[2]), string(r[3]), string(r[4])}
		want := []string{hexOr(w.want.Eq), hexOr(w.want.Ord), hex.EncodeToString([]byte(w.want.Prefix)), strings.Join(toks, ",")}
		if !slices.Equal(got, want) {
			t.Errorf("%s (%s) row %d: the database extracts\n %q\nGo computed\n %q", w.col, w.kind, i+1, got, want)
		}
		// A term the column lacks, or an empty token set, is NULL.
		for k, v := range [][]byte{r[1], r[2], r[3]} {
			if (v == nil) != (len(want[k]) == 0) {
				t.Errorf("%s row %d: term %d NULL %v, Go's empty %v", w.col, i+1, k, v == nil, len(want[k]) == 0)
			}
		}
		// The proxy reads a round's order terms from the cells it holds
		// (keys.AppendOrderTerm): what the database's function reads.
		if ord, ok, err := keys.AppendOrderTerm(nil, r[6]); err != nil || ok != (r[2] != nil) || hexOr(ord) != string(r[2]) {
			t.Errorf("%s row %d: keys.AppendOrderTerm gives %x (%v, %v), the database %s", w.col, i+1, ord, ok, err, r[2])
		}
		if (string(r[5]) == "t") != (len(w.want.Match) == 0) {
			t.Errorf("%s row %d: match NULL %s with %d tokens", w.col, i+1, r[5], len(w.want.Match))
		}
	}
	t.Logf("%d cells with terms read back by the extraction functions", len(rows))
	checkOrderTermOrder(t, ctx, conn)
	checkNoTermsOutsideFormat2(t, ctx, conn, c)
}

// checkOrderTermOrder: the database's ORDER BY term_ord_v1 (bytea, memcmp)
// is Go's bytes.Compare of the same terms, within each column.
func checkOrderTermOrder(t *testing.T, ctx context.Context, conn *pgconn.PgConn) {
	res := conn.ExecParams(ctx, `
		SELECT col, phiguard.term_ord_v1(cell) FROM cells
		WHERE phiguard.term_ord_v1(cell) IS NOT NULL
		ORDER BY col, phiguard.term_ord_v1(cell), id`, nil, nil, nil, []int16{0, 1}).Read()
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	for i := 1; i < len(res.Rows); i++ {
		a, b := res.Rows[i-1], res.Rows[i]
		if string(a[0]) == string(b[0]) && bytes.Compare(a[1], b[1]) > 0 {
			t.Errorf("%s: the database orders order terms unlike memcmp at row %d", a[0], i)
		}
	}
	if len(res.Rows) < 30 {
		t.Fatalf("only %d order terms", len(res.Rows))
	}
}

// checkNoTermsOutsideFormat2: a format-1 cell and plaintext give no term
// (NULL), so they are never a candidate; the CHECK refuses them.
func checkNoTermsOutsideFormat2(t *testing.T, ctx context.Context, conn *pgconn.PgConn, c *cellcipher.Cipher) {
	v1, err := c.Keyring.Encrypt("k-pii", keys.Randomized, keys.Column{Schema: "public", Table: "visits", Name: "t_text"}, []byte("Gleason"))
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range [][]byte{v1, []byte("Gleason"), []byte("~phs~")} {
		res := conn.ExecParams(ctx, `SELECT phiguard.term_eq_v1($1) IS NULL AND phiguard.term_ord_v1($1) IS NULL
			AND phiguard.term_pre_v1($1) IS NULL AND phiguard.term_match_v1($1) IS NULL`, [][]byte{v}, nil, nil, nil).Read()
		if res.Err != nil || len(res.Rows) != 1 || string(res.Rows[0][0]) != "t" {
			t.Errorf("value %d: terms of a value without them: %v %q", i, res.Err, res.Rows)
		}
		if i == 2 {
			continue // "~phs~" passes the CHECK, which asks only the prefix
		}
		err := conn.ExecParams(ctx, "INSERT INTO cells VALUES (100000 + $1, 'x', $2)", [][]byte{fmt.Appendf(nil, "%d", i), v}, nil, nil, nil).Read().Err
		if err == nil || !strings.Contains(err.Error(), "check constraint") {
			t.Errorf("value %d: the terms-present CHECK admits it: %v", i, err)
		}
	}
}
