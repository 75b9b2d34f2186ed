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
// Each such comparison is sent with a check that runs inside the
// statement (OperatorGuard), placed where PostgreSQL cannot decide the
// comparison without running it first (Placement):
//
//   - a conjunct of the statement's own WHERE, or of an inner join's ON
//     on its way (PlaceAround): `(CASE WHEN <the operator PostgreSQL
//     resolves is pg_catalog's> THEN true ELSE <raise> END AND ssn =
//     '<cell>')`. The check has no column of the statement and only
//     stable functions, so PostgreSQL hoists it into the One-Time Filter
//     of a Result node at the top of the plan: it runs once, before the
//     first row is read or written (an UPDATE or DELETE changes
//     nothing), and the comparison keeps its plan and its estimate (an
//     index scan on the cell, planned for that cell);
//   - anywhere else (under OR or NOT, in an outer join's ON, in a
//     subquery), and wherever a NULL or a parameter stands (a custom
//     plan folds `ssn = $1` bound to NULL as it folds `ssn = NULL`):
//     in the value operand itself. Conjuncts there are not hoisted to
//     the top: an index on the cells serving one arm of a BitmapOr, or
//     a hash join's key, decides the comparison without the AND beside
//     it, and `ssn = NULL` is folded to NULL at planning, check and
//     all. A comparison cannot be decided without its operand, and the
//     check there is a sub-SELECT, an InitPlan run once, when the
//     operand is first computed: by a filter, or by an index scan for
//     its key (which stays an index key: the operand reads no column of
//     the scanned table). A literal or parameter right of the column
//     becomes `ssn = ANY(ARRAY['<cell>', CASE WHEN (SELECT <check or
//     raise>) THEN '<a cell no column holds>' END])` (PlaceArray), its
//     item free to stand for several cells (CompareItem); an IN list
//     gets that item as one more (PlaceItem); NULL, a value left of the
//     column or in parentheses, and the other column of two, `CASE WHEN
//     (SELECT <check or raise>) THEN value END` (PlaceOperand; a
//     parameter left of the column in a hoisted conjunct,
//     PlaceAroundNull's COALESCE).
//
// The raise is current_setting of a name no setting can have (it is no
// valid custom parameter name), whose error the guard turns into a
// 0A000 naming the column (ShadowedOperatorRefusal).
//
// The check is as cheap as the case allows. When pg_catalog has an
// operator of exactly the operand types (every type the policy knows
// but varchar, json and arrays, with a literal, a parameter the client
// did not type, or one of the same type), PostgreSQL's first lookup is
// for exactly those types along search_path (never pg_temp), the one
// regoperator's input makes: the check is one such constant, converted
// by the parser with the statement (exactLookups), compared with
// pg_catalog's operator OID (pgCatalogOperators, fixed since the
// bootstrap catalog). Otherwise PostgreSQL chooses among every visible
// operator of the name the operands can be converted to, and the check
// asks pg_operator whether there is any outside pg_catalog that could
// take the left operand (its type, one it converts to implicitly, or a
// polymorphic one): a sub-SELECT PostgreSQL plans each time, so only
// such statements pay for it. The cells' own operator, = (text, text)
// (or <>), is looked up as well: the cells are text whatever the
// plaintext type, and a schema's = (text, text) changes their
// comparison where the plaintext's = (date, date) stays pg_catalog's
// (TestRedTeam31bShadowedCellOperator). docs/search.md "Shadowed
// operators" gives the measured cost.

// OperatorGuard is one comparison the database evaluates on cells.
type OperatorGuard struct {
	// Open and Close are the points, in the client's text, before and
	// after the comparison: "(", the check and AND go at Open, ")" at
	// Close (PlaceAround, PlaceAroundNull).
	Open, Close TextCut
	// ValueOpen and ValueClose are the points before and after the value
	// operand (for IN, its first item; for two columns, the right one),
	// where PlaceOperand and PlaceAroundNull put theirs.
	ValueOpen, ValueClose TextCut
	Place                 Placement
	// Folds: the value is NULL, or a parameter a custom plan may bind to
	// NULL (an IN list's only item alike), with which PostgreSQL folds
	// the comparison to NULL at planning; not in a plaintext leaf of a
	// WHERE or HAVING tree the proxy evaluates (sortedPlacements).
	Folds  bool
	Slot   int // PlaceArray: the value's slot in Plan.Values
	Column *policy.ProtectedColumn
	Op     string // "=" or "<>"
	Pairs  []OperandPair
	// class is, for an = of a column and a value with its check beside
	// (PlaceAround, PlaceAroundNull), the placement in the operand it
	// takes when PostgreSQL could put two values in one equivalence
	// class (classPlacements); joins: an = of two columns' cells.
	class *classPlace
	joins bool
}

// classPlace is a comparison's placement in its operand, and its slot.
type classPlace struct {
	place Placement
	slot  int
}

// Placement is where a comparison's check goes in the text sent.
type Placement uint8

const (
	// PlaceAround: beside the comparison, `(<check> AND cmp)`, which
	// PostgreSQL hoists into a One-Time Filter; only for a conjunct of
	// the statement's WHERE or of an inner join's ON on its way.
	PlaceAround Placement = iota
	// PlaceOperand: in the value operand, `CASE WHEN (SELECT <check>)
	// THEN value END`, which any plan that decides the comparison
	// computes first.
	PlaceOperand
	// PlaceAroundNull: around, and a parameter operand guarded against a
	// NULL a custom plan would fold: `COALESCE($n, CASE WHEN (SELECT
	// <check>) THEN NULL END)`.
	PlaceAroundNull
	// PlaceArray: a value right of the column, which may have to stand
	// for a list of cells (CompareForm.List), is made an item of an
	// array with the check as a second item that no cell equals: `col =
	// ANY(ARRAY[v, <gate item>])`, `col <> ALL(...)`; its slot
	// (Slot) becomes CompareItem.
	PlaceArray
	// PlaceItem: an IN list gets the check as one more item, `col IN
	// (..., <gate item>)`, at ValueOpen (its closing parenthesis).
	PlaceItem
	// PlaceGate: in the one check GateWhere puts first in the WHERE of
	// the text RewriteSort writes (OperatorGate), and nowhere else.
	PlaceGate
	// PlaceNull: a parameter guarded against a NULL a custom plan would
	// fold, `COALESCE($n, CASE WHEN (SELECT <check>) THEN NULL END)`,
	// beside which there is no check: it is the gate's (PlaceAroundNull
	// in a text RewriteSort writes).
	PlaceNull
)

// NoMatchCell is a cell no column holds (cells are base64url behind a
// fixed prefix): the gate item's value, equal to no cell, so that it
// changes neither = ANY nor <> ALL, nor IN, nor NOT IN, NULL included.
const NoMatchCell = "~phg~!"

func (pl Placement) String() string {
	switch pl {
	case PlaceOperand:
		return "in the operand"
	case PlaceAroundNull:
		return "beside, and the parameter guarded against NULL"
	case PlaceArray:
		return "an item of ARRAY[value, check]"
	case PlaceItem:
		return "an item of the list"
	case PlaceGate:
		return "in the WHERE's gate"
	case PlaceNull:
		return "in the WHERE's gate, and the parameter guarded against NULL"
	}
	return "beside"
}

// OperandPair is the types PostgreSQL resolves an operator for.
type OperandPair struct{ Left, Right Operand }

// Operand is an operand's type as the plaintext statement has it: Type,
// or for a parameter (Param > 0) the type the client declares for it,
// Type when it declares none.
type Operand struct {
	Type  uint32
	Param int
	// cast is a constant's cast to a type named without a schema, which
	// the check tests is pg_catalog's (castCondition,
	// TestRedTeam30DeterministicCastType).
	cast castName
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

// oidTextCells is text, the type of every cell.
const oidTextCells = 25

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
	return out
}

func signature(k opKey) string {
	return k.op + "(pg_catalog." + catalogTypeNames[k.left] + ",pg_catalog." + catalogTypeNames[k.right] + ")"
}

// polymorphicTypes are the pseudo-types an operator's operand may be
// declared as and match any type of its kind.
var polymorphicTypes = []uint32{2276, 2277, 2283, 2776, 3500, 3831, 4537, 4538, 5077, 5078, 5079, 5080}

// exactLookups is true while each operator of ks, all of them
// pg_catalog's of exactly their operand types (catalogOperator), is the
// one the session resolves: one regoperator constant per operator
// compared with pg_catalog's OID. The constant is a quoted literal cast
// to regoperator, which PostgreSQL's parser converts when it parses the
// statement (coerce_type of an unknown literal), under the search_path
// it resolves the statement's own operators with; to_regoperator, or a
// test of current_schemas, ran when the executor reached the check, and
// a function run before it (set_config of search_path in a FROM
// subquery, the check in a scalar subquery) could change the path in
// between (TestRedTeam31eSearchPathChangedMidStatement: 0 rows through
// phiguard, 2 directly). A prepared statement is parsed again when
// search_path changes, its constants with it. Both the checks of
// comparisons on cells and the proxy-side WHERE's gate
// (planner_shadow_exact.go) are written by it.
func exactLookups(ks []opKey) string {
	var checks []string
	for _, k := range ks {
		oid, _ := catalogOperator(k)
		c := "CAST(CAST(" + sqlString(signature(k)) + " AS pg_catalog.regoperator) AS pg_catalog.oid) OPERATOR(pg_catalog.=) CAST(" +
			strconv.FormatUint(uint64(oid), 10) + " AS pg_catalog.oid)"
		if !slices.Contains(checks, c) {
			checks = append(checks, c)
		}
	}
	return "(" + strings.Join(checks, " AND ") + ")"
}

// check is the SQL condition, true while every pair resolves to
// pg_catalog's operator; declared gives a parameter's declared type.
func (g OperatorGuard) check(declared func(int) uint32) string {
	var exact []opKey
	var other []string
	for _, pr := range g.Pairs {
		l, r := pr.Left.resolve(declared), pr.Right.resolve(declared)
		k := opKey{g.Op, l, r}
		if _, ok := pgCatalogOperators[k]; ok {
			exact = append(exact, k)
			continue
		}
		other = append(other, candidatesProbe(g.Op, l))
	}
	// The cells are text whatever the plaintext type, and the statement
	// sent compares them as text (a literal or a parameter phiguard sends
	// as text, an array of text, the other column's cells): PostgreSQL
	// resolves that op as (text, text), along search_path too.
	if cells := (opKey{g.Op, oidTextCells, oidTextCells}); !slices.Contains(exact, cells) {
		exact = append(exact, cells)
	}
	other = append([]string{exactLookups(exact)}, other...)
	// A cast by a type's name alone is pg_temp's type of that name, when
	// the session has one, before pg_catalog's: the operand is then
	// another type, and the operator the user's on it.
	var casts []castName
	for _, pr := range g.Pairs {
		for _, o := range []Operand{pr.Left, pr.Right} {
			if o.cast.name != "" && !slices.Contains(casts, o.cast) {
				casts = append(casts, o.cast)
			}
		}
	}
	if len(casts) > 0 {
		other = append(other, castCondition(casts)) // planner_shadow_exact.go
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

// gate is the check as a boolean expression that is true or fails: the
// raise reads a setting whose name no SET can give (not a valid custom
// parameter name), and appends to it what would make even a value
// unreadable as a boolean, so that it fails whatever happens.
func (g OperatorGuard) gate(declared func(int) uint32) string { return g.gateOf(g.check(declared)) }

// gateItem is the gate as a value no cell equals, or a failure.
func gateItem(gate string) string {
	return "CASE WHEN (SELECT " + gate + ") THEN '" + NoMatchCell + "' END"
}

// gateOf is gate of the condition check, raising for g's column.
func (g OperatorGuard) gateOf(check string) string {
	name := shadowedMarker + g.Op + " on " + g.Column.Type.String() + ":" + g.Column.QualifiedName()
	return "CASE WHEN COALESCE(" + check + ", false) THEN true ELSE CAST(pg_catalog.concat(pg_catalog.current_setting(" +
		sqlString(name) + "), ':') AS pg_catalog.bool) END"
}

// OperatorEdits are the edits that place each of plan's comparisons on
// cells' check (Placement), in sql (the client's text, whose literals
// are at spans); declared gives the type a Parse declared for $n (nil
// or 0: none). false when a point falls outside the text. Edits at one
// point keep their order here (Splice sorts stably): the opening
// parenthesis before the operand's, its end before the closing one.
func OperatorEdits(sql []byte, spans [][2]int, guards []OperatorGuard, declared func(int) uint32) ([]Edit, bool) {
	edits := make([]Edit, 0, 4*len(guards))
	for _, g := range guards {
		open, ok1 := g.Open.Span(sql, spans)
		closeAt, ok2 := g.Close.Span(sql, spans)
		vOpen, ok3 := g.ValueOpen.Span(sql, spans)
		vClose, ok4 := g.ValueClose.Span(sql, spans)
		if !ok1 || !ok2 || open[0] > closeAt[0] {
			return nil, false
		}
		if g.Place != PlaceAround && g.Place != PlaceGate && (!ok3 || !ok4 || vOpen[0] > vClose[0] || vOpen[0] < open[0] || vClose[0] > closeAt[0]) {
			return nil, false
		}
		gate := g.gate(declared)
		switch g.Place {
		case PlaceAround:
			edits = append(edits, Edit{Span: open, Text: "(" + gate + " AND "}, Edit{Span: closeAt, Text: ")"})
		case PlaceOperand:
			edits = append(edits, Edit{Span: vOpen, Text: "CASE WHEN (SELECT " + gate + ") THEN "}, Edit{Span: vClose, Text: " END"})
		case PlaceAroundNull:
			edits = append(edits, Edit{Span: open, Text: "(" + gate + " AND "}, Edit{Span: vOpen, Text: "COALESCE("},
				Edit{Span: vClose, Text: ", CASE WHEN (SELECT " + gate + ") THEN NULL END)"}, Edit{Span: closeAt, Text: ")"})
		case PlaceNull:
			edits = append(edits, Edit{Span: vOpen, Text: "COALESCE("}, Edit{Span: vClose, Text: ", CASE WHEN (SELECT " + gate + ") THEN NULL END)"})
		case PlaceArray:
			quantifier := "ANY(ARRAY["
			if g.Op == "<>" {
				quantifier = "ALL(ARRAY["
			}
			edits = append(edits, Edit{Span: vOpen, Text: quantifier}, Edit{Span: vClose, Text: ", " + gateItem(gate) + "])"})
		case PlaceItem:
			edits = append(edits, Edit{Span: vOpen, Text: ", " + gateItem(gate)})
		default:
			return nil, false
		}
	}
	return edits, true
}

// GuardsNeedSpans says whether the guards' points are placed after a
// literal, so that OperatorEdits needs the text's literal spans.
func GuardsNeedSpans(guards []OperatorGuard) bool {
	for _, g := range guards {
		if g.Open.After >= 0 || g.Close.After >= 0 || g.ValueOpen.After >= 0 || g.ValueClose.After >= 0 {
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
	visible := what
	if op, typ, _ := strings.Cut(what, " on "); typ != "text" {
		visible += ", or " + op + " on text (the type of its cells),"
	}
	return &Refusal{Code: pgerr.FeatureNotSupported, Table: table, Construct: what,
		Message: "column " + column + " is encrypted (deterministic): " + what +
			" cannot run on it through phiguard while an operator " + visible +
			" outside pg_catalog is visible in search_path (a schema listed before pg_catalog, or an operator whose operand types match more exactly): PostgreSQL would call it on the plaintext, and phiguard compares cells with pg_catalog's; nothing was read or written. List pg_catalog first in search_path"}, true
}

// A read phiguard sorts, filters or aggregates itself (a SortPlan) is
// sent as RewriteSort writes it from the places its plan holds: its
// comparisons on cells get one check for all of them, as the first
// conjunct of the top-level WHERE of the final text (GateWhere), where
// PostgreSQL hoists it the same way; one with NULL or a parameter, which
// PostgreSQL folds at planning with the WHERE it stands in, gate and
// all, has its own in its operand too, placed in the client's text
// before RewriteSort reads it (sortedPlacements, Plan.TextGuards).

// OperatorGate is the one check of all the guards, for GateWhere.
func OperatorGate(guards []OperatorGuard, declared func(int) uint32) string {
	checks := make([]string, 0, len(guards))
	for _, g := range guards {
		checks = append(checks, g.check(declared))
	}
	return guards[0].gateOf(strings.Join(checks, " AND "))
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
