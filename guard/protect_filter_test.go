package guard

import (
	"testing"

	"github.com/phiguard/phiguard/internal/pgorder"
	"github.com/phiguard/phiguard/policy"
	"github.com/phiguard/phiguard/sqlrewrite"
)

// TestFilterHolds: each comparison under SQL's three-valued logic, where
// a NULL on either side drops the row except for IS [NOT] DISTINCT FROM,
// and BETWEEN's bounds are not swapped unless SYMMETRIC.
func TestFilterHolds(t *testing.T) {
	intType := policy.LogicalType{Name: "integer", OID: policy.OIDInt4, Size: 4, Modifier: -1}
	val := func(v any) sortValue {
		if v == nil {
			return sortValue{null: true}
		}
		k, err := pgorder.Parse(intType, []byte(v.(string)))
		if err != nil {
			t.Fatal(err)
		}
		return sortValue{key: k}
	}
	arg := func(v any) filterArg {
		x := val(v)
		return filterArg{null: x.null, key: x.key}
	}
	type c struct {
		op   sqlrewrite.FilterOp
		x    any
		a, b any
		want bool
	}
	cases := []c{
		{sqlrewrite.FilterEq, "2", "2", nil, true}, {sqlrewrite.FilterEq, "2", "3", nil, false},
		{sqlrewrite.FilterEq, nil, "2", nil, false}, {sqlrewrite.FilterEq, "2", nil, nil, false},
		{sqlrewrite.FilterNe, "2", "3", nil, true}, {sqlrewrite.FilterNe, "2", "2", nil, false}, {sqlrewrite.FilterNe, nil, "2", nil, false},
		{sqlrewrite.FilterLt, "-10", "2", nil, true}, {sqlrewrite.FilterLt, "2", "2", nil, false},
		{sqlrewrite.FilterLe, "2", "2", nil, true}, {sqlrewrite.FilterLe, "3", "2", nil, false},
		{sqlrewrite.FilterGt, "3", "2", nil, true}, {sqlrewrite.FilterGt, "2", "2", nil, false}, {sqlrewrite.FilterGt, nil, nil, nil, false},
		{sqlrewrite.FilterGe, "2", "2", nil, true}, {sqlrewrite.FilterGe, "1", "2", nil, false},
		{sqlrewrite.FilterBetween, "2", "1", "3", true}, {sqlrewrite.FilterBetween, "2", "3", "1", false},
		{sqlrewrite.FilterBetween, "1", "1", "1", true}, {sqlrewrite.FilterBetween, "2", nil, "3", false},
		{sqlrewrite.FilterNotBetween, "5", "1", "3", true}, {sqlrewrite.FilterNotBetween, "2", "1", "3", false},
		// x < NULL OR x > 1: NULL OR true is true.
		{sqlrewrite.FilterNotBetween, "5", nil, "1", true}, {sqlrewrite.FilterNotBetween, "0", nil, "1", false},
		{sqlrewrite.FilterNotBetween, "2", "3", "1", true},
		{sqlrewrite.FilterBetweenSym, "2", "3", "1", true}, {sqlrewrite.FilterBetweenSym, "4", "3", "1", false},
		{sqlrewrite.FilterBetweenSym, "2", nil, "1", false},
		{sqlrewrite.FilterNotBetweenSym, "2", "3", "1", false}, {sqlrewrite.FilterNotBetweenSym, "4", "3", "1", true},
		{sqlrewrite.FilterNotBetweenSym, "4", nil, "1", false}, // (4<NULL OR 4>1) AND (4<1 OR 4>NULL): true AND NULL
		{sqlrewrite.FilterDistinct, nil, nil, nil, false}, {sqlrewrite.FilterDistinct, "1", nil, nil, true},
		{sqlrewrite.FilterDistinct, "1", "1", nil, false}, {sqlrewrite.FilterDistinct, "1", "2", nil, true},
		{sqlrewrite.FilterNotDistinct, nil, nil, nil, true}, {sqlrewrite.FilterNotDistinct, nil, "1", nil, false},
		{sqlrewrite.FilterNotDistinct, "1", "1", nil, true},
	}
	for _, tc := range cases {
		if got := filterHolds(tc.op, val(tc.x), [2]filterArg{arg(tc.a), arg(tc.b)}, keyOrder{}) == triTrue; got != tc.want {
			t.Errorf("%v %s %v (and %v): %v, want %v", tc.x, tc.op, tc.a, tc.b, got, tc.want)
		}
	}
}

// TestIntAsNumeric: an integer column compared with a numeric constant
// compares in numeric, as PostgreSQL does: 2 < 2.5 < 3.
func TestIntAsNumeric(t *testing.T) {
	intType := policy.LogicalType{Name: "integer", OID: policy.OIDInt4, Size: 4, Modifier: -1}
	two, _ := pgorder.Parse(intType, []byte("2"))
	three, _ := pgorder.Parse(intType, []byte("3"))
	half, err := pgorder.Parse(numericType, []byte("2.5"))
	if err != nil {
		t.Fatal(err)
	}
	n2, err1 := pgorder.IntAsNumeric(two)
	n3, err2 := pgorder.IntAsNumeric(three)
	if err1 != nil || err2 != nil || pgorder.Compare(n2, half) >= 0 || pgorder.Compare(n3, half) <= 0 {
		t.Fatalf("2 and 3 against 2.5: %d %d (%v %v)", pgorder.Compare(n2, half), pgorder.Compare(n3, half), err1, err2)
	}
	if _, err := pgorder.IntAsNumeric(half); err == nil {
		t.Fatal("a numeric key read as an integer's")
	}
}
