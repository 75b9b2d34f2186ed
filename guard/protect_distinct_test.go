package guard

import (
	"slices"
	"testing"

	"github.com/phiguard/phiguard/internal/pgorder"
	"github.com/phiguard/phiguard/policy"
	"github.com/phiguard/phiguard/sqlrewrite"
)

func numericKey(t *testing.T, s string) sortValue {
	t.Helper()
	k, err := pgorder.Parse(policy.LogicalType{Name: "numeric", OID: policy.OIDNumeric, Size: -1, Modifier: -1}, []byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return sortValue{key: k}
}

// TestDistinctRows: the first row of each group of equal rows is kept, in
// arrival order; NULLs are equal; equal rows that print differently fail.
func TestDistinctRows(t *testing.T) {
	col := &policy.ProtectedColumn{Name: "n"}
	run := &sortRun{plan: &sqlrewrite.SortPlan{Distinct: []sqlrewrite.SortKey{{Column: col, Target: 0}, {Target: -1}}}}
	add := func(v string, null bool, rank int64) {
		k := numericKey(t, "0")
		if !null {
			k = numericKey(t, v)
		}
		k.null = null
		var shown []byte
		if !null {
			shown = []byte(v)
		}
		run.rows = append(run.rows, sortedRow{values: [][]byte{shown, []byte{byte('0' + rank)}}, dkeys: []sortValue{k, {rank: rank}}})
	}
	add("2.5", false, 1)
	add("1.5", false, 1)
	add("2.5", false, 1) // a duplicate of row 0
	add("2.5", false, 2) // another plaintext rank
	add("", true, 1)
	add("", true, 1) // NULLs are equal
	got, pe := run.distinctRows()
	if pe != nil || !slices.Equal(got, []int32{0, 1, 3, 4}) {
		t.Fatalf("kept %v (%v), want [0 1 3 4]", got, pe)
	}
	add("2.50", false, 1) // equal to row 0, printed differently
	if _, pe := run.distinctRows(); pe == nil || pe.Code != "0A000" {
		t.Fatalf("2.5 and 2.50: %v, want 0A000", pe)
	}
}

// TestDistinctCount counts values PostgreSQL calls different.
func TestDistinctCount(t *testing.T) {
	var keys []pgorder.Key
	for _, v := range []string{"1.0", "2", "1.00", "1", "-0", "0", "NaN", "NaN"} {
		keys = append(keys, numericKey(t, v).key)
	}
	if n := distinctCount(keys); n != 4 {
		t.Fatalf("distinct numerics: %d, want 4 (1, 2, 0, NaN)", n)
	}
	if n := distinctCount(nil); n != 0 {
		t.Fatalf("no values: %d", n)
	}
}

// TestCheckRankedFields: a result field that is an encrypted column but
// was ranked by the database (not a DISTINCT key) fails the statement.
func TestCheckRankedFields(t *testing.T) {
	col := &policy.ProtectedColumn{Name: "n", Table: &policy.ProtectedTable{Name: policy.TableName{Schema: "public", Name: "t"}}}
	run := &sortRun{plan: &sqlrewrite.SortPlan{Distinct: []sqlrewrite.SortKey{{Column: col, Target: 0}, {Target: -1}}}}
	if pe := run.checkRankedFields([]*resultField{{col: col}, nil}, 2); pe != nil {
		t.Fatalf("a compared column and a plaintext one: %v", pe)
	}
	if pe := run.checkRankedFields([]*resultField{{col: col}, {col: col}}, 2); pe == nil || pe.Code != "0A000" {
		t.Fatalf("an encrypted column ranked in the database: %v, want 0A000", pe)
	}
	if pe := run.checkRankedFields([]*resultField{{col: col}, nil, {col: col}}, 2); pe != nil {
		t.Fatalf("a hidden column: %v", pe)
	}
}
