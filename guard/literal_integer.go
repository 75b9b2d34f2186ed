package guard

import (
	"math/big"
	"strings"

	"github.com/phiguard/phiguard/internal/pgerr"
	"github.com/phiguard/phiguard/sqlrewrite"
)

// integerBounds are the ranges of the integer types a protected column can
// have.
var integerBounds = map[string][2]int64{
	"smallint": {-1 << 15, 1<<15 - 1},
	"integer":  {-1 << 31, 1<<31 - 1},
	"bigint":   {-1 << 63, 1<<63 - 1},
}

// numberLiteral applies PostgreSQL's typing of an unquoted number bound
// for an encrypted column. Such a number is an integer, bigint or numeric
// constant, not a value of the column's type as a quoted literal is:
//
//   - into an integer column, one with a fraction or an exponent (1.0,
//     2.5, 1e3) or beyond the type's range is converted as the assignment
//     cast converts numeric to an integer, rounding half away from zero
//     (2.5 is 3; the range check that follows gives 22003 as PostgreSQL
//     does); compared, the column's value is converted instead: 1.0
//     equals 1, and 1.5 or 10000000000 equals no value;
//   - compared with a numeric(p,s) column, the column's value is compared
//     exactly: 5982.124 equals no value of a numeric(14,2) column (the
//     typmod's rounding applies to stored values only), nor does a value
//     beyond its precision; quoted or not;
//   - compared with a column of another type (text, date, ...) it is
//     PostgreSQL's 42883 (no operator text = integer), stored into a date,
//     time or boolean column its 42804.
//
// none says the literal equals no value of the column (the caller compares
// with a text no cell can be). raw is the literal as written (without its
// folded sign), plain its value with the sign. A literal with a cast folded
// with it (to the column's own type) is converted by that cast, as when
// stored.
func numberLiteral(v sqlrewrite.ValueSlot, raw, plain []byte) (out []byte, none bool, pe *pgerr.Error) {
	unquoted := len(raw) > 0 && (raw[0] >= '0' && raw[0] <= '9' || raw[0] == '.')
	compared := v.Use == sqlrewrite.UseCompare && v.After == 0
	t := v.Column.Type
	if t.Name == "numeric" && compared {
		return plain, numericMatchesNothing(t.Modifier, plain), nil
	}
	if !unquoted {
		return plain, false, nil
	}
	if bounds, ok := integerBounds[t.Name]; ok {
		return integerLiteral(bounds, compared, plain)
	}
	floating := t.Name == "real" || t.Name == "double precision"
	switch {
	case t.Name == "numeric" || v.After > 0:
		return plain, false, nil
	case floating && !compared:
		return plain, false, nil // numeric to real or double precision is an assignment by float4in/float8in of its text
	case floating:
		// Which operator PostgreSQL picks (float4 = float8 or the
		// number cast to real) decides the answer: refused, not guessed.
		return nil, false, pgerr.Newf(pgerr.FeatureNotSupported,
			"column %s is encrypted (%s): an unquoted number compared with it cannot run through phiguard; compare it with a quoted literal or a parameter", v.Column.QualifiedName(), t.Name)
	case compared:
		return nil, false, pgerr.Newf(pgerr.UndefinedFunction,
			"operator does not exist: %s = %s (column %s is encrypted; compare it with a quoted literal)", t.Name, numberType(plain), v.Column.QualifiedName())
	case t.Name == "text" || t.Name == "varchar" || t.Name == "char" || t.Name == "bpchar":
		return plain, false, nil // an assignment cast to a string type exists
	}
	return nil, false, pgerr.Newf(pgerr.DatatypeMismatch,
		"column %s is of type %s but expression is of type %s", v.Column.QualifiedName(), t.Name, numberType(plain))
}

func integerLiteral(bounds [2]int64, compared bool, plain []byte) ([]byte, bool, *pgerr.Error) {
	r, ok := new(big.Rat).SetString(string(plain))
	if !ok {
		return plain, false, nil
	}
	if r.IsInt() && r.Num().IsInt64() && r.Num().Int64() >= bounds[0] && r.Num().Int64() <= bounds[1] {
		return []byte(r.Num().String()), false, nil
	}
	if compared {
		return nil, true, nil
	}
	return []byte(roundHalfAway(r).String()), false, nil
}

// numericMatchesNothing: a compared value no numeric column with the
// modifier can hold, having more fractional digits than its scale or more
// integral digits than its precision allows.
func numericMatchesNothing(modifier int32, plain []byte) bool {
	if modifier < 4 {
		return false
	}
	if infinity(plain) {
		return true // numeric(p,s) holds no infinity (22003 when stored)
	}
	r, ok := new(big.Rat).SetString(string(plain))
	if !ok {
		return false
	}
	m := modifier - 4
	prec, scale := int64(m>>16), int64(m&0xffff)
	scaled := new(big.Rat).Mul(r, new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(scale), nil)))
	if !scaled.IsInt() {
		return true
	}
	limit := new(big.Int).Exp(big.NewInt(10), big.NewInt(prec), nil)
	return new(big.Int).Abs(scaled.Num()).Cmp(limit) >= 0
}

// infinity reports whether numeric_in reads v as an infinity: Infinity
// with an optional sign, any case, blanks around.
func infinity(v []byte) bool {
	t := strings.Trim(string(v), " \t\n\r\v\f")
	if t != "" && (t[0] == '+' || t[0] == '-') {
		t = t[1:]
	}
	return strings.EqualFold(t, "infinity")
}

// numberType is the type PostgreSQL gives an unquoted number.
func numberType(plain []byte) string {
	r, ok := new(big.Rat).SetString(string(plain))
	switch {
	case !ok || !r.IsInt() || !r.Num().IsInt64():
		return "numeric"
	case r.Num().Int64() >= -1<<31 && r.Num().Int64() <= 1<<31-1:
		return "integer"
	}
	return "bigint"
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
