package sqlrewrite

import (
	pg_query "github.com/pganalyze/pg_query_go/v5"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// PostgreSQL computes a volatile expression of the select list after its
// Sort, in the result's order, and, with a LIMIT, a costly one (a
// function of default cost, a set-returning function) after the Limit,
// for the rows returned only (make_sort_input_target). A statement sorted
// in phiguard reaches the database without its ORDER BY and LIMIT, so the
// database would compute such an expression for every row, in scan
// order: other nextval values, side effects on rows never returned, an
// error from a row PostgreSQL never computes. phiguard cannot tell a
// function's volatility or cost from the text, so a sorted statement
// whose select list calls any function but a few built-ins known to be
// cheap and free of side effects is refused (TestRedTeam6PostponedSelectList).
// Operators, casts, CASE, COALESCE and scalar subqueries' own shape stay
// allowed; the functions inside a subquery are checked like the others.

// sortSafeFunctions are pg_catalog functions that are immutable or
// stable, cost one operator, return one row and have no side effects,
// plus the aggregates, which a subquery of the select list may use.
var sortSafeFunctions = map[string]bool{
	"lower": true, "upper": true, "length": true, "char_length": true, "character_length": true, "octet_length": true,
	"btrim": true, "ltrim": true, "rtrim": true, "substr": true, "substring": true, "left": true, "right": true,
	"lpad": true, "rpad": true, "replace": true, "concat": true, "concat_ws": true, "initcap": true, "strpos": true, "position": true,
	"abs": true, "round": true, "trunc": true, "floor": true, "ceil": true, "ceiling": true, "sign": true, "mod": true,
	"date_trunc": true, "date_part": true, "extract": true, "to_char": true, "to_date": true, "to_timestamp": true,
	"now": true, "timezone": true, "array_length": true, "cardinality": true,
	"count": true, "sum": true, "min": true, "max": true, "avg": true, "bool_and": true, "bool_or": true,
	"string_agg": true, "array_agg": true,
}

// postponedCall names the first function in s's select list that is not
// one of sortSafeFunctions (its name as written); "" when there is none.
func postponedCall(s *pg_query.SelectStmt) string {
	name := ""
	for _, t := range s.GetTargetList() {
		walk(t.ProtoReflect(), func(m protoreflect.Message) {
			fc, ok := m.Interface().(*pg_query.FuncCall)
			if !ok || name != "" {
				return
			}
			parts := fc.GetFuncname()
			last := parts[len(parts)-1].GetString_().GetSval()
			qualified := len(parts) > 1 && !(len(parts) == 2 && parts[0].GetString_().GetSval() == "pg_catalog")
			if qualified || !sortSafeFunctions[last] {
				name = funcNameOf(parts)
			}
		})
	}
	return name
}

// opaqueCall says whether a call may be of a function whose body phiguard
// cannot see: one qualified with a schema other than pg_catalog, or not
// one of sortSafeFunctions (MayChangeSettingsUnseen).
func opaqueCall(fc *pg_query.FuncCall) bool {
	parts := fc.GetFuncname()
	if len(parts) == 0 {
		return true
	}
	last := parts[len(parts)-1].GetString_().GetSval()
	qualified := len(parts) > 1 && !(len(parts) == 2 && parts[0].GetString_().GetSval() == "pg_catalog")
	return qualified || !sortSafeFunctions[last]
}

// callsOpaque: the statement calls, anywhere, a function phiguard cannot
// tell is free of side effects (opaqueCall). Such a statement does not
// run in rounds (sort_rounds.go): each round runs the whole statement
// again, so a function in its WHERE would run again for the rows of the
// rounds before, where PostgreSQL runs it once for each row it reads
// (red team 15: nextval in the WHERE of ORDER BY id LIMIT 10 advanced
// 573 times over 300 rows through three rounds; 300 in one, 56 in
// PostgreSQL). It keeps one round without LIMIT, as before rounds: every
// candidate read once.
func callsOpaque(s *pg_query.SelectStmt) bool {
	found := false
	walk(s.ProtoReflect(), func(m protoreflect.Message) {
		if fc, ok := m.Interface().(*pg_query.FuncCall); ok && !found && opaqueCall(fc) && !grammarCall(fc) {
			found = true
		}
	})
	return found
}

// grammarCalls are the pg_catalog functions the grammar writes for SQL
// syntax (LIKE ... ESCAPE is like_escape, SIMILAR TO similar_to_escape,
// OVERLAPS, OVERLAY, IS NORMALIZED), immutable and free of side effects.
var grammarCalls = map[string]bool{"like_escape": true, "similar_to_escape": true, "similar_escape": true,
	"overlaps": true, "overlay": true, "normalize": true, "is_normalized": true}

// grammarCall: fc is pg_catalog.f of grammarCalls, as the grammar
// writes it.
func grammarCall(fc *pg_query.FuncCall) bool {
	parts := fc.GetFuncname()
	return len(parts) == 2 && parts[0].GetString_().GetSval() == "pg_catalog" && grammarCalls[parts[1].GetString_().GetSval()]
}
