package integration

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

// Unordered rounds (docs/design/search-terms.md §4.6): a statement with a
// LIMIT and no ORDER BY whose WHERE phiguard evaluates on an encrypted
// column is sent with FETCH FIRST k ROWS ONLY, k from the LIMIT and the
// OFFSET, and again with 8·k while phiguard keeps too few rows. Without
// ORDER BY PostgreSQL may return any LIMIT rows that pass the WHERE, so
// the oracle is the plaintext twin's whole answer: phiguard's rows must
// be distinct rows of it, as many as the plaintext's LIMIT returns.

// TestUnorderedRoundsDifferential: 120 generated LIKE/ILIKE statements
// (genMatchStatement, seed fixed: term conjuncts, and NOT LIKE with
// none) with a LIMIT, sometimes an OFFSET, and no ORDER BY, both
// protocols.
func TestUnorderedRoundsDifferential(t *testing.T) {
	t.Parallel()
	tw, relay, _ := newMatchFixture(t, 150)
	r := rand.New(rand.NewPCG(67, 2026))
	const statements = 120
	differ, withRows := 0, 0
	for range statements {
		where := strings.TrimSuffix(genMatchStatement(r), " ORDER BY id")
		limit := []int{1, 2, 3, 5, 10, 40}[r.IntN(6)]
		tail := fmt.Sprintf(" LIMIT %d", limit)
		if r.IntN(3) == 0 {
			tail += fmt.Sprintf(" OFFSET %d", r.IntN(6))
		}
		for _, mode := range bothModes {
			whole, werr := rowsRaw(t, tw.dir, fmt.Sprintf(where, tw.plain), mode, 0)
			want, lerr := rowsRaw(t, tw.dir, fmt.Sprintf(where+tail, tw.plain), mode, 0)
			got, gerr := rowsRaw(t, tw.via, fmt.Sprintf(where+tail, tw.enc), mode, 0)
			if werr != nil || lerr != nil || gerr != nil {
				if (lerr == nil) != (gerr == nil) {
					differ++
					t.Errorf("%s%s (%v): through phiguard %v, directly %v", where, tail, mode, gerr, lerr)
				}
				continue
			}
			if why := unorderedAnswerDiffers(whole, want, got); why != "" {
				differ++
				t.Errorf("%s%s (%v): %s\nthrough phiguard\n%s\ndirectly\n%s", where, tail, mode, why, got, want)
			}
			if !strings.HasPrefix(want, "(") {
				withRows++
			}
		}
	}
	sent := relay.take()
	onlys := bytes.Count(sent, []byte("ROWS ONLY"))
	t.Logf("%d statements, both protocols: %d different answers, %d of %d with rows; %d rounds sent",
		statements, differ, withRows, 2*statements, onlys)
	// Every statement runs in at least one round, and some need more.
	if withRows < statements/2 || onlys <= 2*statements {
		t.Fatalf("too weak: %d answers with rows, %d rounds for %d executions", withRows, onlys, 2*statements)
	}
}

// unorderedAnswerDiffers says how got (rowsRaw's text) is not an answer
// the plaintext could give: rows that the whole answer lacks or repeats,
// or another number of rows or command tag than want's.
func unorderedAnswerDiffers(whole, want, got string) string {
	lines := func(s string) []string { return strings.Split(s, "\n") }
	w, g := lines(want), lines(got)
	if len(w) != len(g) || w[len(w)-1] != g[len(g)-1] {
		return "another number of rows or command tag"
	}
	left := map[string]int{}
	for _, row := range lines(whole) {
		left[row]++
	}
	for _, row := range g[:len(g)-1] {
		if left[row] == 0 {
			return "a row the plaintext's whole answer does not hold (or holds fewer times): " + row
		}
		left[row]--
	}
	return ""
}
