package guard

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/phiguard/phiguard/sqlrewrite"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
)

const holdBenchPolicy = `
version: 1
tables:
  public.patients:
    columns:
      first: {mode: randomized, key: k, type: text, search: [order], search_key_version: 1}
      last:  {mode: randomized, key: k, type: text, search: [order, match], search_key_version: 1}
`

// BenchmarkHoldSorted holds and flushes, as the backend pump does without
// PostgreSQL, bench/search's first query: `SELECT id, first, last FROM
// patients WHERE last ILIKE 'gle%' ORDER BY last, first, id LIMIT 50`,
// 111 candidate rows, each a format-2 cell of last (order and match
// terms) and of first (order), all "Gleason0" so that every row is kept
// and the sort compares by first, then id; 50 rows sent. One statement
// per op, one session throughout (what a session keeps between
// statements counts). The plan is written by hand (the LIMIT and the
// LC_CTYPE probe hidden), not by sqlrewrite.
func BenchmarkHoldSorted(b *testing.B) {
	s, plan, rows, fields := holdBenchSession(b, 111)
	b.ReportAllocs()
	for b.Loop() {
		if err := holdBenchStatement(s, plan, rows, fields); err != nil {
			b.Fatal(err)
		}
	}
}

func holdBenchStatement(s *Session, plan *sqlrewrite.SortPlan, rows [][]byte, fields []*resultField) error {
	head := &expectation{kind: expQuery, sort: newSortRun(plan)}
	head.sort.filterArgs = []filterArgs{{args: [2]filterArg{{pattern: []byte("gle%")}}}}
	for _, body := range rows {
		if err := s.holdSortedRow(head, body, fields); err != nil {
			return err
		}
		if head.sort == nil {
			return fmt.Errorf("the statement failed")
		}
	}
	tag, err := s.flushSorted(head)
	if err == nil && string(tag) != "SELECT 50" {
		err = fmt.Errorf("tag %q", tag)
	}
	return err
}

// holdBenchSession is a session over holdBenchPolicy writing to nowhere,
// the plan, n DataRow bodies and their fields.
func holdBenchSession(b testing.TB, n int) (*Session, *sqlrewrite.SortPlan, [][]byte, []*resultField) {
	pol, kr := policyAndKeyring(b, holdBenchPolicy)
	s := &Session{srv: &Shared{protect: &Protection{Policy: pol, Keyring: kr}, metrics: NewMetrics(prometheus.NewRegistry())}, log: zap.NewNop()}
	s.cw = bufio.NewWriter(io.Discard)
	s.catalog.Store(&catalog{collations: map[uint32]collationEntry{950: {collate: []byte("c::C"), ctype: []byte("c::C")}}})
	first, _ := pol.Column("public", "patients", "first")
	last, _ := pol.Column("public", "patients", "last")
	plan := &sqlrewrite.SortPlan{
		Keys: []sqlrewrite.SortKey{
			{Column: last, Target: 2, Collation: -1},
			{Column: first, Target: 1, Collation: -1},
			{Target: 0, Collation: -1},
		},
		Hidden: 2, Limit: 0, Offset: -1,
		Filters: []sqlrewrite.Filter{{Column: last, Op: sqlrewrite.FilterILike, Selected: 3, Value: -1, Collation: -1, Encoding: -1, Ctype: 1, DefaultCtype: -1}},
	}
	c := s.srv.protect.cipher()
	fields := []*resultField{nil, {col: first}, {col: last}, nil, nil}
	var rows [][]byte
	for i := range n {
		fc, err := c.SealWithTerms(context.Background(), first, nil, fmt.Appendf(nil, "Name%d", (i*37)%101), nil)
		if err != nil {
			b.Fatal(err)
		}
		lc, err := c.SealWithTerms(context.Background(), last, nil, []byte("Gleason0"), nil)
		if err != nil {
			b.Fatal(err)
		}
		rows = append(rows, appendRowBody(nil, [][]byte{strconv.AppendInt(nil, int64(1000+i), 10), fc, lc, []byte("50"), []byte("950")}))
	}
	if err := holdBenchStatement(s, plan, rows, fields); err != nil {
		b.Fatal(err)
	}
	return s, plan, rows, fields
}

// TestHoldSortedAnswer runs BenchmarkHoldSorted's statement three times
// in one session, the second and third on the buffers the first left
// (sort_spare.go): each answers the same 50 rows, decrypted, ordered by
// first and then id (last ties), as PostgreSQL would.
func TestHoldSortedAnswer(t *testing.T) {
	s, plan, rows, fields := holdBenchSession(t, 111)
	var want []byte
	for i := range 3 {
		var out bytes.Buffer
		s.cw = bufio.NewWriter(&out)
		if err := holdBenchStatement(s, plan, rows, fields); err != nil {
			t.Fatal(err)
		}
		s.cw.Flush()
		if i == 0 {
			want = out.Bytes()
			checkHoldAnswer(t, want)
		} else if !bytes.Equal(out.Bytes(), want) {
			t.Fatalf("statement %d on the kept buffers answered otherwise", i+1)
		}
	}
}

// checkHoldAnswer reads the DataRows and CommandComplete written.
func checkHoldAnswer(t *testing.T, out []byte) {
	type row struct {
		id    int
		first string
	}
	var got []row
	for len(out) >= 5 {
		typ, n := out[0], int(binary.BigEndian.Uint32(out[1:5]))
		body := out[5 : 1+n]
		out = out[1+n:]
		if typ != 'D' {
			if typ != 'C' || string(body) != "SELECT 50\x00" {
				t.Fatalf("message %c %q", typ, body)
			}
			continue
		}
		vals, ok := decodeRowInto(nil, body)
		if !ok || len(vals) != 3 || string(vals[2]) != "Gleason0" {
			t.Fatalf("row %q", vals)
		}
		id, _ := strconv.Atoi(string(vals[0]))
		got = append(got, row{id, string(vals[1])})
	}
	if len(got) != 50 {
		t.Fatalf("%d rows, want 50", len(got))
	}
	// Every candidate: ids 1000.. with first "Name" (i*37)%101, sorted
	// by first as bytes (C), then id.
	var all []row
	for i := range 111 {
		all = append(all, row{1000 + i, fmt.Sprintf("Name%d", (i*37)%101)})
	}
	slices.SortStableFunc(all, func(a, b row) int {
		if c := strings.Compare(a.first, b.first); c != 0 {
			return c
		}
		return a.id - b.id
	})
	if !slices.Equal(got, all[:50]) {
		t.Fatalf("rows %v, want %v", got[:5], all[:5])
	}
}
