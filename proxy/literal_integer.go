package proxy

import (
	"math/big"

	"github.com/phiguard/phiguard/sqlrewrite"
)

// integerBounds are the ranges of the integer types a protected column can
// have.
var integerBounds = map[string][2]int64{
	"smallint": {-1 << 15, 1<<15 - 1},
	"integer":  {-1 << 31, 1<<31 - 1},
	"bigint":   {-1 << 63, 1<<63 - 1},
}

// integerLiteral applies PostgreSQL's typing of an unquoted number bound
// for an integer column. Such a number with a fraction or an exponent
// (1.0, 2.5, 1e3) is a numeric constant, and one beyond int4 an int8 or
// numeric constant, not a value of the column's type:
//
//   - stored (or cast to the column's type, which fold folds with it), it
//     is converted as the assignment cast converts numeric to an integer,
//     rounding half away from zero (2.5 is 3; the range check that
//     follows gives 22003 as PostgreSQL does);
//   - compared, the column's value is converted instead: 1.0 equals 1, and
//     1.5 or 10000000000 equals no value of an integer column (none is
//     true then, and the caller compares with a text no cell can be).
//
// raw is the literal as written (without its folded sign), plain its
// value with the sign. A quoted literal, or a column of another type, is
// left as it is ('2.5' into an integer column is 22P02 in PostgreSQL too).
func integerLiteral(v sqlrewrite.ValueSlot, raw, plain []byte) (out []byte, none bool) {
	bounds, ok := integerBounds[v.Column.Type.Name]
	if !ok || len(raw) == 0 || !(raw[0] >= '0' && raw[0] <= '9' || raw[0] == '.') {
		return plain, false
	}
	r, ok := new(big.Rat).SetString(string(plain))
	if !ok {
		return plain, false
	}
	fits := r.IsInt() && r.Num().IsInt64() && r.Num().Int64() >= bounds[0] && r.Num().Int64() <= bounds[1]
	if fits {
		return []byte(r.Num().String()), false
	}
	if v.Use == sqlrewrite.UseCompare && v.After == 0 {
		return nil, true
	}
	return []byte(roundHalfAway(r).String()), false
}

// roundHalfAway rounds as PostgreSQL's numeric to integer casts do.
func roundHalfAway(r *big.Rat) *big.Int {
	num := new(big.Int).Abs(r.Num())
	q, m := new(big.Int).QuoRem(num, r.Denom(), new(big.Int))
	if m.Lsh(m, 1).Cmp(r.Denom()) >= 0 {
		q.Add(q, big.NewInt(1))
	}
	if r.Sign() < 0 {
		q.Neg(q)
	}
	return q
}
