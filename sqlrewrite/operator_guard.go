package sqlrewrite

import (
	"slices"
	"strconv"
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v5"

	"github.com/phiguard/phiguard/internal/pgerr"
	"github.com/phiguard/phiguard/policy"
)

// Shadowed operators on cells. An equality on a deterministic column
// runs in the database on the cells: `ssn = '123'` is sent as
// `ssn = '<cell>'`, IN and <> alike, and a join of two deterministic
// columns compares cells with cells. PostgreSQL resolves that `=` by
// name through search_path, the plaintext statement's too: a schema
// listed before pg_catalog with its own `= (text, text)`, or one whose
// operand types match more exactly than pg_catalog's (there is no
// pg_catalog `= (varchar, varchar)`; an operand the client typed as
// varchar), is the one it calls on the plaintext, where phiguard's
// answer is pg_catalog's equality of cells. Such a statement must be
// refused.
//
// Each such comparison is sent wrapped with a check that runs inside
// the statement (OperatorGuard): `(CASE WHEN <the operator PostgreSQL
// resolves is pg_catalog's> THEN true ELSE <raise> END AND ssn =
// '<cell>')`. The check has no column of the statement and only stable
// functions, so PostgreSQL evaluates it once, as the One-Time Filter of
// a Result node, before the first row is read or written (an UPDATE or
// DELETE changes nothing), and the comparison itself keeps its plan
// (an index scan on the cell). Where the comparison does not stand in a
// conjunct of the WHERE or ON (under OR or NOT) the check runs with it,
// per row, before it (AND evaluates in order, and stops at false), on
// the rows the scan returns: an index condition taken from an OR arm
// (a BitmapOr) compares the cells without it (a HOLE, docs/search.md,
// TestRedTeam29ShadowedEqualityUnderOr). The
// raise is current_setting of a name no setting can have (it is no
// valid custom parameter name), whose error the guard turns into a
// 0A000 naming the column (ShadowedOperatorRefusal).
//
// The check is as cheap as the case allows. When pg_catalog has an
// operator of exactly the operand types (every type the policy knows
// but varchar, json and arrays, with a literal, a parameter the client
// did not type, or one of the same type), PostgreSQL's first lookup is
// for exactly those types along search_path (never pg_temp), the one
// to_regoperator makes: the check is one call of it, compared with
// pg_catalog's operator OID (pgCatalogOperators, fixed since the
// bootstrap catalog), after a cheaper test that search_path does not
// name pg_catalog at all (then it is searched first, and an exact lookup
// cannot find another). Otherwise PostgreSQL chooses among every visible
// operator of the name the operands can be converted to, and the check
// asks pg_operator whether there is any outside pg_catalog that could
// take the left operand (its type, one it converts to implicitly, or a
// polymorphic one): a sub-SELECT PostgreSQL plans each time, so only
// such statements pay for it. docs/search.md "Shadowed operators"
// gives the measured cost. A constant cast to a type named without its
// schema ('x'::text) adds a to_regtype check of the name: pg_temp is
// searched for types first (planner_shadow_casts.go).

// OperatorGuard is one comparison the database evaluates on cells.
type OperatorGuard struct {
	// Open and Close are the points, in the client's text, before and
	// after the comparison: "(", the check and AND go at Open, ")" at Close.
	Open, Close TextCut
	Column      *policy.ProtectedColumn
	Op          string // "=" or "<>"
	Pairs       []OperandPair
}

// OperandPair is the types PostgreSQL resolves an operator for.
type OperandPair struct{ Left, Right Operand }

// Operand is an operand's type as the plaintext statement has it: Type,
// or for a parameter (Param > 0) the type the client declares for it,
// Type when it declares none.
type Operand struct {
	Type  uint32
	Param int
	// cast is a constant's cast to a type named without its schema,
	// which the check also looks up (planner_shadow_casts.go).
	cast castCheck
}

func (o Operand) resolve(declared func(int) uint32) uint32 {
	if o.Param > 0 && declared != nil {
		if t := declared(o.Param); t != 0 {
			return t
		}
	}
	return o.Type
}

// shadowedMarker begins the name of the setting the check reads when the
// operator is not pg_catalog's: "<marker><op> on <type>:<column>".
const shadowedMarker = "phiguard_shadowed_operator:"

// catalogTypeNames are the policy's types by OID, as to_regoperator
// reads them (pg_catalog-qualified: a type of the same name earlier in
// search_path cannot stand in).
var catalogTypeNames = map[uint32]string{
	16: "bool", 17: "bytea", 20: "int8", 21: "int2", 23: "int4", 25: "text",
	700: "float4", 701: "float8", 1042: "bpchar", 1082: "date", 1083: "time",
	1114: "timestamp", 1184: "timestamptz", 1186: "interval", 1266: "timetz",
	1700: "numeric", 2950: "uuid", 3802: "jsonb",
}

type opKey struct {
	op          string
	left, right uint32
}

// pgCatalogOperators are pg_catalog's = and <> of exactly the operand
// types, by OID (PostgreSQL's bootstrap catalog, the same in every
// release phiguard supports; TestShadowedOperatorCatalog checks them).
var pgCatalogOperators = map[opKey]uint32{
	{"=", 16, 16}: 91, {"<>", 16, 16}: 85,
	{"=", 17, 17}: 1955, {"<>", 17, 17}: 1956,
	{"=", 20, 20}: 410, {"<>", 20, 20}: 411,
	{"=", 20, 21}: 1868, {"<>", 20, 21}: 1869,
	{"=", 20, 23}: 416, {"<>", 20, 23}: 417,
	{"=", 21, 20}: 1862, {"<>", 21, 20}: 1863,
	{"=", 21, 21}: 94, {"<>", 21, 21}: 519,
	{"=", 21, 23}: 532, {"<>", 21, 23}: 538,
	{"=", 23, 20}: 15, {"<>", 23, 20}: 36,
	{"=", 23, 21}: 533, {"<>", 23, 21}: 539,
	{"=", 23, 23}: 96, {"<>", 23, 23}: 518,
	{"=", 25, 25}: 98, {"<>", 25, 25}: 531,
	{"=", 700, 700}: 620, {"<>", 700, 700}: 621,
	{"=", 700, 701}: 1120, {"<>", 700, 701}: 1121,
	{"=", 701, 700}: 1130, {"<>", 701, 700}: 1131,
	{"=", 701, 701}: 670, {"<>", 701, 701}: 671,
	{"=", 1042, 1042}: 1054, {"<>", 1042, 1042}: 1057,
	{"=", 1082, 1082}: 1093, {"<>", 1082, 1082}: 1094,
	{"=", 1082, 1114}: 2347, {"<>", 1082, 1114}: 2350,
	{"=", 1082, 1184}: 2360, {"<>", 1082, 1184}: 2363,
	{"=", 1083, 1083}: 1108, {"<>", 1083, 1083}: 1109,
	{"=", 1114, 1082}: 2373, {"<>", 1114, 1082}: 2376,
	{"=", 1114, 1114}: 2060, {"<>", 1114, 1114}: 2061,
	{"=", 1114, 1184}: 2536, {"<>", 1114, 1184}: 2539,
	{"=", 1184, 1082}: 2386, {"<>", 1184, 1082}: 2389,
	{"=", 1184, 1114}: 2542, {"<>", 1184, 1114}: 2545,
	{"=", 1184, 1184}: 1320, {"<>", 1184, 1184}: 1321,
	{"=", 1186, 1186}: 1330, {"<>", 1186, 1186}: 1331,
	{"=", 1266, 1266}: 1550, {"<>", 1266, 1266}: 1551,
	{"=", 1700, 1700}: 1752, {"<>", 1700, 1700}: 1753,
	{"=", 2950, 2950}: 2972, {"<>", 2950, 2950}: 2973,
	{"=", 3802, 3802}: 3240, {"<>", 3802, 3802}: 3241,
}

// PgCatalogOperatorSignatures lists the exact signatures the cheap check
// relies on, as to_regoperator reads them, with the OID it expects: for
// the test that checks them against a real catalog.
func PgCatalogOperatorSignatures() map[string]uint32 {
	out := make(map[string]uint32, len(pgCatalogOperators)+len(pgCatalogOrderOperators))
	for _, m := range []map[opKey]uint32{pgCatalogOperators, pgCatalogOrderOperators} {
		for k, oid := range m {
			out[signature(k)] = oid
		}
	}
	for t, oid := range pgCatalogPrefixMinus {
		out[prefixMinusSignature(t)] = oid
	}
	return out
}

func signature(k opKey) string {
	return k.op + "(pg_catalog." + catalogTypeNames[k.left] + ",pg_catalog." + catalogTypeNames[k.right] + ")"
}

// polymorphicTypes are the pseudo-types an operator's operand may be
// declared as and match any type of its kind.
var polymorphicTypes = []uint32{2276, 2277, 2283, 2776, 3500, 3831, 4537, 4538, 5077, 5078, 5079, 5080}

// implicitCatalog is true while search_path does not name pg_catalog,
// which PostgreSQL then searches first (pg_temp it never searches for
// operators): an exact lookup then finds pg_catalog's. It costs less than
// a to_regoperator call, which parses its signature.
const implicitCatalog = "NOT (CAST('pg_catalog' AS pg_catalog.name) OPERATOR(pg_catalog.=) ANY (pg_catalog.current_schemas(false)))"

// check is the SQL condition, true while every pair resolves to
// pg_catalog's operator; declared gives a parameter's declared type.
func (g OperatorGuard) check(declared func(int) uint32) string {
	var exact, other []string
	for _, pr := range g.Pairs {
		l, r := pr.Left.resolve(declared), pr.Right.resolve(declared)
		k := opKey{g.Op, l, r}
		if oid, ok := pgCatalogOperators[k]; ok {
			exact = append(exact, "CAST(pg_catalog.to_regoperator("+sqlString(signature(k))+") AS pg_catalog.oid) OPERATOR(pg_catalog.=) CAST("+
				strconv.FormatUint(uint64(oid), 10)+" AS pg_catalog.oid)")
			continue
		}
		other = append(other, candidatesProbe(g.Op, l))
	}
	if len(exact) > 0 {
		other = append([]string{"(" + implicitCatalog + " OR " + strings.Join(exact, " AND ") + ")"}, other...)
	}
	var casts []castCheck
	for _, pr := range g.Pairs {
		for _, c := range []castCheck{pr.Left.cast, pr.Right.cast} {
			if c.name != "" && !slices.Contains(casts, c) {
				casts = append(casts, c)
			}
		}
	}
	if len(casts) > 0 {
		other = append([]string{castsCondition(casts)}, other...)
	}
	return strings.Join(other, " AND ")
}

// candidatesProbe is true when no operator op outside pg_catalog is
// visible that could take a left operand of type left: of that type,
// one it converts to implicitly (pg_cast), or a polymorphic one.
func candidatesProbe(op string, left uint32) string {
	poly := make([]string, 0, len(polymorphicTypes)+1)
	poly = append(poly, strconv.FormatUint(uint64(left), 10))
	for _, t := range polymorphicTypes {
		poly = append(poly, strconv.FormatUint(uint64(t), 10))
	}
	l := "CAST(" + strconv.FormatUint(uint64(left), 10) + " AS pg_catalog.oid)"
	return "NOT EXISTS (SELECT 1 FROM pg_catalog.pg_operator o WHERE o.oprname OPERATOR(pg_catalog.=) CAST(" + sqlString(op) + " AS pg_catalog.name)" +
		" AND o.oprnamespace OPERATOR(pg_catalog.<>) CAST(11 AS pg_catalog.oid)" +
		" AND (o.oprleft OPERATOR(pg_catalog.=) ANY (CAST(ARRAY[" + strings.Join(poly, ", ") + "] AS pg_catalog.oid[]))" +
		" OR EXISTS (SELECT 1 FROM pg_catalog.pg_cast c WHERE c.castsource OPERATOR(pg_catalog.=) " + l +
		" AND c.casttarget OPERATOR(pg_catalog.=) o.oprleft AND c.castcontext OPERATOR(pg_catalog.=) CAST('i' AS pg_catalog.\"char\")))" +
		" AND pg_catalog.pg_operator_is_visible(o.oid))"
}

// opening is the text inserted at Open: the check, and the raise when it
// fails, before the comparison, so that AND evaluates it first wherever
// the comparison is evaluated (under OR or NOT, where it is not hoisted).
// The raise reads a setting whose name no SET can give (not a valid
// custom parameter name), and appends to it what would make even a value
// unreadable as a boolean: it fails whatever happens.
func (g OperatorGuard) opening(declared func(int) uint32) string {
	name := shadowedMarker + g.Op + " on " + g.Column.Type.String() + ":" + g.Column.QualifiedName()
	return "(CASE WHEN COALESCE(" + g.check(declared) + ", false) THEN true ELSE CAST(pg_catalog.concat(pg_catalog.current_setting(" +
		sqlString(name) + "), ':') AS pg_catalog.bool) END AND "
}

// OperatorEdits are the edits that wrap each of plan's comparisons on
// cells with its check, in sql (the client's text, whose literals are at
// spans); declared gives the type a Parse declared for $n (nil or 0:
// none). false when a point falls outside the text.
func OperatorEdits(sql []byte, spans [][2]int, guards []OperatorGuard, declared func(int) uint32) ([]Edit, bool) {
	edits := make([]Edit, 0, 2*len(guards))
	for _, g := range guards {
		open, ok1 := g.Open.Span(sql, spans)
		closeAt, ok2 := g.Close.Span(sql, spans)
		if !ok1 || !ok2 || open[0] > closeAt[0] {
			return nil, false
		}
		edits = append(edits, Edit{Span: open, Text: g.opening(declared)}, Edit{Span: closeAt, Text: ")"})
	}
	return edits, true
}

// GuardsNeedSpans says whether the guards' points are placed after a
// literal, so that OperatorEdits needs the text's literal spans.
func GuardsNeedSpans(guards []OperatorGuard) bool {
	for _, g := range guards {
		if g.Open.After >= 0 || g.Close.After >= 0 {
			return true
		}
	}
	return false
}

// ShadowedOperatorRefusal recognises the check's error (by its marker)
// and returns the refusal to send the client instead.
func ShadowedOperatorRefusal(message string) (*Refusal, bool) {
	what, column, table, ok := markedColumn(message, shadowedMarker)
	if !ok {
		return nil, false
	}
	return &Refusal{Code: pgerr.FeatureNotSupported, Table: table, Construct: what,
		Message: "column " + column + " is encrypted (deterministic): " + what +
			" cannot run on it through phiguard while an operator " + what +
			" outside pg_catalog is visible in search_path (a schema listed before pg_catalog, or an operator whose operand types match more exactly): PostgreSQL would call it on the plaintext, and phiguard compares cells with pg_catalog's; nothing was read or written. List pg_catalog first in search_path"}, true
}

// A read phiguard sorts, filters or aggregates itself (a SortPlan) is
// sent as RewriteSort writes it from the places its plan holds, which
// the checks' own literals would move: its comparisons on cells get one
// check for all of them, as the first conjunct of the top-level WHERE of
// the final text (GateWhere), where PostgreSQL hoists it the same way.

// OperatorGate is the one check of all the guards, for GateWhere.
func OperatorGate(guards []OperatorGuard, declared func(int) uint32) string {
	checks := make([]string, 0, len(guards))
	for _, g := range guards {
		checks = append(checks, g.check(declared))
	}
	g := guards[0]
	name := shadowedMarker + g.Op + " on " + g.Column.Type.String() + ":" + g.Column.QualifiedName()
	return "CASE WHEN COALESCE(" + strings.Join(checks, " AND ") + ", false) THEN true ELSE CAST(pg_catalog.concat(pg_catalog.current_setting(" +
		sqlString(name) + "), ':') AS pg_catalog.bool) END"
}

// whereEnders are the keywords that end a SELECT's WHERE; reserved, so
// never a bare name.
var whereEnders = map[string]bool{"group": true, "having": true, "window": true, "order": true, "limit": true,
	"offset": true, "fetch": true, "for": true, "union": true, "intersect": true, "except": true, ";": true}

// GateWhere makes gate the first conjunct of the top-level SELECT's
// WHERE in sql, `WHERE gate AND (...)`, or adds `WHERE gate` after its
// FROM list; false when sql has no FROM at the top level or does not
// scan. Its FROM is the first at parenthesis depth 0 not after DISTINCT
// (IS DISTINCT FROM); its WHERE, the first after it; the WHERE ends at
// the first keyword of whereEnders at depth 0, or at the last token that
// is not a comment.
func GateWhere(sql []byte, gate string) ([]byte, bool) {
	res, err := pg_query.Scan(string(sql))
	if err != nil {
		return nil, false
	}
	depth, from, where, stop, ended, prev := 0, -1, -1, 0, false, ""
	for _, t := range res.GetTokens() {
		if isComment(t) {
			continue
		}
		text := strings.ToLower(string(sql[t.GetStart():t.GetEnd()]))
		switch text {
		case "(", "[":
			depth++
		case ")", "]":
			depth--
		}
		if depth == 0 && text != ")" && text != "]" {
			switch {
			case text == "from" && prev != "distinct" && from < 0:
				from = int(t.GetEnd())
			case text == "where" && from >= 0 && where < 0:
				where = int(t.GetEnd())
			case whereEnders[text] && from >= 0:
				ended = true
			}
		}
		if ended {
			break
		}
		stop, prev = int(t.GetEnd()), text
	}
	if from < 0 {
		return nil, false
	}
	out := make([]byte, 0, len(sql)+len(gate)+16)
	if where >= 0 {
		out = append(append(append(out, sql[:where]...), " "+gate+" AND ("...), sql[where:stop]...)
		return append(append(out, ')'), sql[stop:]...), true
	}
	out = append(append(out, sql[:stop]...), " WHERE "+gate...)
	return append(out, sql[stop:]...), true
}
