package sqlrewrite

import (
	"fmt"
	"testing"
)

func TestAnalyzerCachesByText(t *testing.T) {
	z := NewAnalyzer(100, 1<<30)
	buf := []byte("SELECT * FROM patients")
	a1, hit := z.Analyze(buf)
	if hit {
		t.Fatal("first analysis reported as cached")
	}
	// The caller may reuse its buffer: the cache must have copied the key.
	copy(buf, "XXXXXX")
	a2, hit := z.Analyze([]byte("SELECT * FROM patients"))
	if !hit || a1 != a2 {
		t.Fatalf("second analysis: hit=%v same=%v", hit, a1 == a2)
	}
	if _, hit := z.Analyze(buf); hit {
		t.Fatal("mutated buffer matched the old entry")
	}
}

func TestAnalyzerIsBounded(t *testing.T) {
	z := NewAnalyzer(10, 1<<30)
	for i := 0; i < 1000; i++ {
		z.Analyze([]byte(fmt.Sprintf("SELECT %d", i)))
	}
	if n := z.Len(); n > 10 {
		t.Fatalf("cache holds %d entries, bound is 10", n)
	}
}

func TestAnalyzerKeepsHotEntries(t *testing.T) {
	z := NewAnalyzer(10, 1<<30)
	hot := []byte("SELECT * FROM hot")
	z.Analyze(hot)
	for i := 0; i < 100; i++ {
		z.Analyze([]byte(fmt.Sprintf("SELECT %d", i)))
		if _, hit := z.Analyze(hot); !hit {
			t.Fatalf("hot statement evicted after %d cold ones", i+1)
		}
	}
}

func BenchmarkAnalyzeCached(b *testing.B) {
	z := NewAnalyzer(1000, 1<<30)
	sql := []byte("SELECT abalance FROM pgbench_accounts WHERE aid = $1")
	z.Analyze(sql)
	b.ReportAllocs()
	for b.Loop() {
		z.Analyze(sql)
	}
}

func BenchmarkAnalyzeUncached(b *testing.B) {
	sql := "SELECT abalance FROM pgbench_accounts WHERE aid = 12345;"
	b.ReportAllocs()
	for b.Loop() {
		Analyze(sql)
	}
}

// BenchmarkAnalyzeShapeHit is the simple-protocol case: each statement
// carries a different literal, so only the shape is found in the cache.
func BenchmarkAnalyzeShapeHit(b *testing.B) {
	z := NewAnalyzer(1000, 1<<30)
	z.Analyze([]byte("SELECT abalance FROM pgbench_accounts WHERE aid = 1;"))
	texts := make([][]byte, 1000)
	for i := range texts {
		texts[i] = []byte(fmt.Sprintf("SELECT abalance FROM pgbench_accounts WHERE aid = %d;", i+2))
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, hit := z.Analyze(texts[i%len(texts)]); !hit {
			b.Fatal("shape miss")
		}
		i++
	}
}

// TestValueDependentTextsDoNotShareAShape: SET and set_config are judged by
// their values (settings.go), so texts of their shape never share an
// analysis or the plan cached on it.
func TestValueDependentTextsDoNotShareAShape(t *testing.T) {
	z := NewAnalyzer(64, 1<<30)
	for _, pair := range [][2]string{
		{"SET client_encoding = 'SJIS'", "SET client_encoding = 'UTF8'"},
		{"SELECT set_config('standard_conforming_strings', 'off', false)", "SELECT set_config('standard_conforming_strings', 'on', false)"},
	} {
		a1, _ := z.Analyze([]byte(pair[0]))
		a2, cached := z.Analyze([]byte(pair[1]))
		if cached || a1 == a2 {
			t.Errorf("%q shared the analysis of %q", pair[1], pair[0])
		}
	}
	a1, _ := z.Analyze([]byte("SELECT 1 WHERE 2 = 3"))
	if a2, cached := z.Analyze([]byte("SELECT 4 WHERE 5 = 6")); !cached || a1 != a2 {
		t.Error("texts of one shape without a value-dependent statement no longer share an analysis")
	}
}

// TestAnalyzerCopyOptionsNotShared: COPY's options are literals that say
// how the proxy cuts the rows; two COPYs differing only in them must not
// share an analysis (and the plan cached on it).
func TestAnalyzerCopyOptionsNotShared(t *testing.T) {
	z := NewAnalyzer(100, 1<<30)
	a, _ := z.Analyze([]byte("COPY t (a, b) FROM STDIN (DELIMITER ',')"))
	b, cached := z.Analyze([]byte("COPY t (a, b) FROM STDIN (DELIMITER '|')"))
	if cached || a == b {
		t.Errorf("COPY with DELIMITER '|' took the analysis of DELIMITER ','")
	}
}
