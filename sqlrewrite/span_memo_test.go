package sqlrewrite

import (
	"fmt"
	"slices"
	"testing"
)

// TestLiteralSpansMemo: the memos answer exactly what finding the spans
// answers, text by text (two texts of one shape, with literals of
// different lengths, get their own spans), and keep what they answered (ParamSpans' too).
func TestLiteralSpansMemo(t *testing.T) {
	texts := []string{
		"SELECT id FROM patients WHERE last ILIKE 'gle%' ORDER BY last LIMIT 50",
		"SELECT id FROM patients WHERE last ILIKE 'gleason%' ORDER BY last LIMIT 5",
		"SELECT id FROM patients WHERE last ILIKE $1 ORDER BY last LIMIT 50",
		"SELECT 'a''b', E'\\x41', $$dollar$$, 1.5e3, B'101' FROM t",
		"SELECT 1 -- 'not a literal'\n, '/* nor */' FROM t",
		"SELECT id FROM t WHERE",
	}
	for round := range 2 {
		for _, sql := range texts {
			want := literalSpans([]byte(sql))
			got := LiteralSpans([]byte(sql))
			if !slices.Equal(got, want) {
				t.Errorf("round %d, %q: %v, want %v", round, sql, got, want)
			}
			if round == 1 {
				if _, ok := literalMemo.lookup([]byte(sql)); !ok {
					t.Errorf("%q: not kept", sql)
				}
			}
		}
	}
	for _, sql := range texts {
		if got, want := ParamSpans([]byte(sql)), paramSpans([]byte(sql)); !slices.Equal(got, want) {
			t.Errorf("%q: parameters %v, want %v", sql, got, want)
		}
	}
	if a, b := LiteralSpans([]byte(texts[0])), LiteralSpans([]byte(texts[1])); slices.Equal(a, b) {
		t.Fatalf("two texts of one shape got the same spans %v", a)
	}
}

// TestLiteralSpansMemoBounded: a stream of new texts does not grow the
// memo past its entry bound.
func TestLiteralSpansMemoBounded(t *testing.T) {
	m := newSpanCache(64, 1<<20)
	for i := range 1000 {
		sql := fmt.Appendf(nil, "SELECT %d, 'x' FROM t", i)
		m.store(sql, literalSpans(sql))
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if n := m.cache.len(); n > 64 {
		t.Fatalf("the memo holds %d texts, bound 64", n)
	}
}

// BenchmarkLiteralSpans: a repeated text (the memo) against finding its
// spans (the shape scanner checked by pg_query's).
func BenchmarkLiteralSpans(b *testing.B) {
	sql := []byte("SELECT id, first, last FROM patients WHERE last ILIKE 'gle%' ORDER BY last, first LIMIT 50")
	b.Run("memo", func(b *testing.B) {
		for b.Loop() {
			LiteralSpans(sql)
		}
	})
	b.Run("scan", func(b *testing.B) {
		for b.Loop() {
			literalSpans(sql)
		}
	})
}

// forgetSpans empties the span memos, for tests that measure the heap
// the analysis cache holds.
func forgetSpans() {
	literalMemo, paramMemo = newSpanCache(1024, 1<<20), newSpanCache(1024, 1<<20)
}
