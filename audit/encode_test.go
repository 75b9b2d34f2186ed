package audit

import (
	"runtime"
	"strings"
	"testing"
	"weak"

	"github.com/phiguard/phiguard/sqlrewrite"
)

// TestEncoderDoesNotPinAnalyses: the encoder's cache must not keep alive
// an analysis the proxy let go of (it holds the whole text: 1.1 MB for a
// big IN-list), nor the whole normalized text behind a truncated one.
func TestEncoderDoesNotPinAnalyses(t *testing.T) {
	enc := &encoder{maxSQL: 256}
	a := sqlrewrite.Analyze("SELECT * FROM patients WHERE id IN (" + strings.Repeat("1,", 50000) + "1)")
	gone := weak.Make(a)
	st := enc.text(a)
	if !st.truncated || len(st.sql) > 256 {
		t.Fatalf("normalized text not truncated: %d bytes", len(st.sql))
	}
	if enc.text(a) != st {
		t.Fatal("the second record of an analysis was not served from the cache")
	}
	a = nil
	runtime.GC()
	runtime.GC()
	if gone.Value() != nil {
		t.Error("the encoder's cache keeps an analysis alive")
	}
	if enc.sqlBytes > 4096 {
		t.Errorf("the cache accounts %d bytes for one truncated text", enc.sqlBytes)
	}
	runtime.KeepAlive(enc)
}
