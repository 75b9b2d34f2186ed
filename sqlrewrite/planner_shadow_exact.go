package sqlrewrite

import (
	"bytes"
	"slices"
	"strconv"
	"strings"

	"github.com/phiguard/phiguard/policy"
)

// The WHERE probe's cheap form. PostgreSQL resolves `col op constant`
// first by an exact lookup: the operator named op of exactly the two
// operand types (an untyped literal or NULL takes the other side's),
// the first along search_path, with pg_catalog searched first unless
// search_path names it later. Only when that finds none does it choose
// among every visible operator the operands convert to. So when
// pg_catalog has op of exactly the operand types, the operator the
// plaintext statement calls is the one regoperator's input finds for
// that signature (both go through the same lookup), and the probe is one
// regoperator constant per operator, converted by the parser with the
// statement, compared with pg_catalog's OID (exactLookups,
// operator_guard.go, as the deterministic-equality check does). The
// scan below reads search_path when it runs: a function that changes
// it during the statement, before the scan, is a known hole
// (docs/search.md). bench-search's first and third queries: 0.08 and
// 0.06 ms of planning and execution less than with the pg_operator scan
// it replaces (docs/search.md).
// A parameter is looked up as PostgreSQL types one the Parse leaves
// unspecified (the other side's type); the guard widens the gate back to
// the scan for a Parse that declared it otherwise (WidenGate). A filter
// that has no exact pg_catalog operator (varchar, a bit string) or whose
// operands phiguard cannot tell here (a column right of its operator)
// keeps the scan for the whole WHERE. What the text says of a type must
// hold for every text that shares the plan (cache.go's shapes: a
// number's marker says its type, shape.go) and for the session: a cast's
// type named without a schema is checked to be pg_catalog's, and a sign
// the grammar does not fold is a prefix operator the gate checks too
// (argChecks; TestRedTeam30NumberShapes, TestRedTeam30OperandTypes,
// TestRedTeam30PrefixOperators).

// pgCatalogOrderOperators are pg_catalog's ordering and LIKE operators
// of exactly the operand types, by OID (the bootstrap catalog,
// TestShadowedOperatorCatalog checks them); = and <> are in
// pgCatalogOperators.
var pgCatalogOrderOperators = map[opKey]uint32{
	{"<", 16, 16}: 58, {"<=", 16, 16}: 1694, {">", 16, 16}: 59, {">=", 16, 16}: 1695,
	{"<", 17, 17}: 1957, {"<=", 17, 17}: 1958, {">", 17, 17}: 1959, {">=", 17, 17}: 1960, {"~~", 17, 17}: 2016, {"!~~", 17, 17}: 2017,
	{"<", 20, 20}: 412, {"<=", 20, 20}: 414, {">", 20, 20}: 413, {">=", 20, 20}: 415,
	{"<", 20, 21}: 1870, {"<=", 20, 21}: 1872, {">", 20, 21}: 1871, {">=", 20, 21}: 1873,
	{"<", 20, 23}: 418, {"<=", 20, 23}: 420, {">", 20, 23}: 419, {">=", 20, 23}: 430,
	{"<", 21, 20}: 1864, {"<=", 21, 20}: 1866, {">", 21, 20}: 1865, {">=", 21, 20}: 1867,
	{"<", 21, 21}: 95, {"<=", 21, 21}: 522, {">", 21, 21}: 520, {">=", 21, 21}: 524,
	{"<", 21, 23}: 534, {"<=", 21, 23}: 540, {">", 21, 23}: 536, {">=", 21, 23}: 542,
	{"<", 23, 20}: 37, {"<=", 23, 20}: 80, {">", 23, 20}: 76, {">=", 23, 20}: 82,
	{"<", 23, 21}: 535, {"<=", 23, 21}: 541, {">", 23, 21}: 537, {">=", 23, 21}: 543,
	{"<", 23, 23}: 97, {"<=", 23, 23}: 523, {">", 23, 23}: 521, {">=", 23, 23}: 525,
	{"<", 25, 25}: 664, {"<=", 25, 25}: 665, {">", 25, 25}: 666, {">=", 25, 25}: 667,
	{"~~", 25, 25}: 1209, {"!~~", 25, 25}: 1210, {"~~*", 25, 25}: 1627, {"!~~*", 25, 25}: 1628,
	{"<", 700, 700}: 622, {"<=", 700, 700}: 624, {">", 700, 700}: 623, {">=", 700, 700}: 625,
	{"<", 700, 701}: 1122, {"<=", 700, 701}: 1124, {">", 700, 701}: 1123, {">=", 700, 701}: 1125,
	{"<", 701, 700}: 1132, {"<=", 701, 700}: 1134, {">", 701, 700}: 1133, {">=", 701, 700}: 1135,
	{"<", 701, 701}: 672, {"<=", 701, 701}: 673, {">", 701, 701}: 674, {">=", 701, 701}: 675,
	{"~~", 1042, 25}: 1211, {"!~~", 1042, 25}: 1212, {"~~*", 1042, 25}: 1629, {"!~~*", 1042, 25}: 1630,
	{"<", 1042, 1042}: 1058, {"<=", 1042, 1042}: 1059, {">", 1042, 1042}: 1060, {">=", 1042, 1042}: 1061,
	{"<", 1082, 1082}: 1095, {"<=", 1082, 1082}: 1096, {">", 1082, 1082}: 1097, {">=", 1082, 1082}: 1098,
	{"<", 1082, 1114}: 2345, {"<=", 1082, 1114}: 2346, {">", 1082, 1114}: 2349, {">=", 1082, 1114}: 2348,
	{"<", 1082, 1184}: 2358, {"<=", 1082, 1184}: 2359, {">", 1082, 1184}: 2362, {">=", 1082, 1184}: 2361,
	{"<", 1083, 1083}: 1110, {"<=", 1083, 1083}: 1111, {">", 1083, 1083}: 1112, {">=", 1083, 1083}: 1113,
	{"<", 1114, 1082}: 2371, {"<=", 1114, 1082}: 2372, {">", 1114, 1082}: 2375, {">=", 1114, 1082}: 2374,
	{"<", 1114, 1114}: 2062, {"<=", 1114, 1114}: 2063, {">", 1114, 1114}: 2064, {">=", 1114, 1114}: 2065,
	{"<", 1114, 1184}: 2534, {"<=", 1114, 1184}: 2535, {">", 1114, 1184}: 2538, {">=", 1114, 1184}: 2537,
	{"<", 1184, 1082}: 2384, {"<=", 1184, 1082}: 2385, {">", 1184, 1082}: 2388, {">=", 1184, 1082}: 2387,
	{"<", 1184, 1114}: 2540, {"<=", 1184, 1114}: 2541, {">", 1184, 1114}: 2544, {">=", 1184, 1114}: 2543,
	{"<", 1184, 1184}: 1322, {"<=", 1184, 1184}: 1323, {">", 1184, 1184}: 1324, {">=", 1184, 1184}: 1325,
	{"<", 1186, 1186}: 1332, {"<=", 1186, 1186}: 1333, {">", 1186, 1186}: 1334, {">=", 1186, 1186}: 1335,
	{"<", 1266, 1266}: 1552, {"<=", 1266, 1266}: 1553, {">", 1266, 1266}: 1554, {">=", 1266, 1266}: 1555,
	{"<", 1700, 1700}: 1754, {"<=", 1700, 1700}: 1755, {">", 1700, 1700}: 1756, {">=", 1700, 1700}: 1757,
	{"<", 2950, 2950}: 2974, {"<=", 2950, 2950}: 2976, {">", 2950, 2950}: 2975, {">=", 2950, 2950}: 2977,
	{"<", 3802, 3802}: 3242, {"<=", 3802, 3802}: 3244, {">", 3802, 3802}: 3243, {">=", 3802, 3802}: 3245,
}

// catalogOperator is pg_catalog's operator of exactly k's operand types.
func catalogOperator(k opKey) (uint32, bool) {
	if oid, ok := pgCatalogOperators[k]; ok {
		return oid, true
	}
	oid, ok := pgCatalogOrderOperators[k]
	return oid, ok
}

// filterOperators are the operators PostgreSQL makes of a filter's
// operator, each compared with the argument at the same index of args
// (BETWEEN is >= and <=, NOT BETWEEN < and >, SYMMETRIC both ways, IS
// [NOT] DISTINCT FROM is =, LIKE and ILIKE are ~~ and ~~*).
func filterOperators(op FilterOp) (names []string, args []int) {
	switch op {
	case FilterBetween:
		return []string{">=", "<="}, []int{0, 1}
	case FilterNotBetween:
		return []string{"<", ">"}, []int{0, 1}
	case FilterBetweenSym:
		return []string{">=", "<=", ">=", "<="}, []int{0, 1, 1, 0}
	case FilterNotBetweenSym:
		return []string{"<", ">", "<", ">"}, []int{0, 1, 1, 0}
	case FilterDistinct, FilterNotDistinct:
		return []string{"="}, []int{0}
	}
	name, ok := map[FilterOp]string{FilterEq: "=", FilterNe: "<>", FilterLt: "<", FilterLe: "<=", FilterGt: ">", FilterGe: ">=",
		FilterLike: "~~", FilterNotLike: "!~~", FilterILike: "~~*", FilterNotILike: "!~~*"}[op]
	if !ok {
		return nil, nil
	}
	return []string{name}, []int{0}
}

// exactOp is one operator of the probe by its exact operand types;
// param > 0 when its right operand is that parameter, written without a
// cast: the lookup assumes the Parse left its type unspecified (the
// other side's, as an untyped literal) or declared it key.right, and a
// Parse that declared another type gets the pg_operator scan instead
// (WidenGate).
type exactOp struct {
	key   opKey
	param int
}

// exactOperators are the operators a filter calls in the plaintext
// statement, by their exact operand types, when pg_catalog has each; false
// when one's types cannot be told here or pg_catalog has none exactly.
func exactOperators(c filterCand) ([]exactOp, bool) {
	if c.colRight {
		return nil, false // its operator was turned round (1 < col is col > 1)
	}
	left := c.col.Type.OID
	if c.fold != FoldNone {
		left = policy.OIDText // lower() and upper() return text
	}
	names, args := filterOperators(c.op)
	if names == nil {
		return nil, false
	}
	out := make([]exactOp, 0, len(names))
	for i, name := range names {
		a := c.args[args[i]]
		right, param := argType(a, left)
		if c.escape {
			right, param = policy.OIDText, 0 // like_escape(pattern, escape) returns text
		}
		k := opKey{name, left, right}
		if _, ok := catalogOperator(k); !ok {
			return nil, false
		}
		out = append(out, exactOp{key: k, param: param})
	}
	return out, true
}

// argType is the type PostgreSQL gives a filter's constant compared with
// an operand of type left: a cast's type, text for lower() or upper(),
// a number's or a boolean's own, left for a quoted literal or NULL
// (unknown) and for a parameter, whose number it also returns (its type
// is the Parse's to declare).
func argType(a FilterArg, left uint32) (uint32, int) {
	switch {
	case a.Fold != FoldNone: // whatever its argument's type (text or varchar)
		return policy.OIDText, 0
	case a.Type != 0:
		return a.Type, 0
	case a.Param > 0:
		return left, a.Param
	case a.Bool != "":
		return policy.OIDBool, 0
	case a.litType != 0:
		return a.litType, 0
	}
	return left, 0
}

// exactWhereOperators are the operators of every filter in cands, each
// once, or nil when one filter's are not all exact.
func exactWhereOperators(cands []filterCand) []exactOp {
	var out []exactOp
	for _, c := range cands {
		ops, ok := exactOperators(c)
		if !ok {
			return nil
		}
		for _, o := range ops {
			if !slices.Contains(out, o) {
				out = append(out, o)
			}
		}
	}
	return out
}

// exactPassCondition is true when each operator of ops resolves to
// pg_catalog's (exactLookups, operator_guard.go).
func exactPassCondition(ops []exactOp) string {
	ks := make([]opKey, len(ops))
	for i, o := range ops {
		ks[i] = o.key
	}
	return exactLookups(ks)
}

// ExactGateHolds says whether the plan's gate, as RewriteSort writes it,
// assumed of the parameters what the Parse gives them: paramType is the
// type $n has in the plaintext statement (the one the Parse declared, or
// for one it left unspecified the column's, as PostgreSQL infers it),
// and each parameter an exact lookup compares must have the type the
// lookup names (0, not known, does not).
func (sp *SortPlan) ExactGateHolds(paramType func(int) uint32) bool {
	for _, sh := range sp.Shadow {
		for _, o := range sp.hidden[sh.Value].exact {
			if o.param != 0 && paramType(o.param) != o.key.right {
				return false
			}
		}
	}
	return true
}

// WidenGate is sql, a text RewriteSort wrote for the plan, with its gate's
// exact lookups replaced by the pg_operator scan, for a Parse of which
// ExactGateHolds is false; false when the gate is not in sql.
func (sp *SortPlan) WidenGate(sql []byte) ([]byte, bool) {
	exact, broad := sp.shadowGateWith(true), sp.shadowGateWith(false)
	if exact == broad {
		return sql, true
	}
	if bytes.Count(sql, []byte(exact)) != 1 {
		return nil, false
	}
	return bytes.Replace(sql, []byte(exact), []byte(broad), 1), true
}

// oidBit is the type PostgreSQL gives a bit-string literal (B'101',
// X'1F').
const oidBit = 1560

// castName is a cast's type named without a schema, and the OID of
// pg_catalog's type of that name.
type castName struct {
	name  string
	oid   uint32
	array bool // name[]: oid is the array type's
}

// argChecks are what the gate checks of the constants args beyond the
// operators. casts: the types they are cast to by a name without a
// schema ('1960-01-01'::date, date '1960-01-01', '5'::int4; the grammar
// qualifies its own keywords, int and numeric, itself), each once.
// PostgreSQL takes the first type of the name along search_path, and
// pg_temp's before pg_catalog's when search_path does not name pg_temp:
// a session's own date (an enum whose label is '1960-01-01') makes the
// constant another type, the operator another one (the user's on it),
// and phiguard's reading of the value wrong; the operator probe knew
// neither (TestRedTeam30OperandTypes: 20 rows directly, 9 through
// phiguard, also with search_path not naming pg_catalog). signs: one is
// under a prefix + or - (TestRedTeam30PrefixOperators).
func argChecks(args []FilterArg) (casts []castName, signs bool) {
	for _, a := range args {
		signs = signs || a.sign
		if n := (castName{name: a.typeName, oid: a.Type}); a.typeName != "" && !slices.Contains(casts, n) {
			casts = append(casts, n)
		}
	}
	return casts, signs
}

// prefixCondition is true when no prefix + or - outside pg_catalog is
// visible: PostgreSQL then calls pg_catalog's for a sign it does not fold
// (+5, -'5'::int4, -$1), the one phiguard applies. Neither probe looked
// at prefix operators (oprleft 0): a user's + (int4) earlier in
// search_path decided the plaintext's answer (13 rows through phiguard,
// none directly).
const prefixCondition = "NOT EXISTS (SELECT 1 FROM pg_catalog.pg_operator o WHERE o.oprname OPERATOR(pg_catalog.=) ANY (CAST(ARRAY['+', '-'] AS pg_catalog.name[]))" +
	" AND o.oprleft OPERATOR(pg_catalog.=) CAST(0 AS pg_catalog.oid) AND o.oprnamespace OPERATOR(pg_catalog.<>) CAST(11 AS pg_catalog.oid)" +
	" AND pg_catalog.pg_operator_is_visible(o.oid))"

// castCondition is true when each name of casts is pg_catalog's type of
// the OID phiguard read it as, by the lookup PostgreSQL's parser makes
// (a regtype constant the parser converts with the statement, under its
// search_path).
func castCondition(casts []castName) string {
	checks := make([]string, len(casts))
	for i, c := range casts {
		quoted := `"` + strings.ReplaceAll(c.name, `"`, `""`) + `"`
		if c.array {
			quoted += "[]"
		}
		checks[i] = "CAST(CAST(" + sqlString(quoted) + " AS pg_catalog.regtype) AS pg_catalog.oid) OPERATOR(pg_catalog.=) CAST(" +
			strconv.FormatUint(uint64(c.oid), 10) + " AS pg_catalog.oid)"
	}
	return strings.Join(checks, " AND ")
}
