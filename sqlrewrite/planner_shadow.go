package sqlrewrite

import (
	"slices"
	"strconv"
	"strings"

	"github.com/phiguard/phiguard/policy"
)

// PostgreSQL resolves an operator (ILIKE is ~~*, BETWEEN is >= and <=)
// and an aggregate (min, max, count) by name: one of a schema in
// search_path before pg_catalog, or one whose argument types match more
// exactly than pg_catalog's, is the one it calls. phiguard evaluates
// pg_catalog's in its WHERE and aggregates, so a statement that could
// call another is refused: a hidden probe (ShadowProbe) says whether any
// operator of the names phiguard evaluates, or any aggregate min, max or
// count, in a schema of search_path other than pg_catalog takes the column's type (or, for text, text,
// varchar or char) as its first operand. lower() and upper() have their
// own probe (ctypeProbe). An extension's operators on its own types
// (citext's, hstore's) take another first operand and do not count.

// ShadowProbe is the hidden index of such a probe, with the column and
// construct a refusal names.
type ShadowProbe struct {
	Value     int
	Column    *policy.ProtectedColumn
	Construct string
}

// shadowOperators are the operators a proxy-side WHERE evaluates.
var shadowOperators = []string{"=", "<>", "<", "<=", ">", ">=", "~~", "!~~", "~~*", "!~~*"}

// shadowTypes are the first-operand types under which PostgreSQL may
// pick another operator or aggregate for a value of col's type.
func shadowTypes(cols []*policy.ProtectedColumn) []uint32 {
	var out []uint32
	for _, c := range cols {
		ts := []uint32{c.Type.OID}
		if textType(c.Type) {
			ts = []uint32{policy.OIDText, policy.OIDVarchar, policy.OIDBpchar}
		}
		for _, t := range ts {
			if !slices.Contains(out, t) {
				out = append(out, t)
			}
		}
	}
	return out
}

// addShadowProbe adds a probe over the operators (aggregates false) or
// the aggregates of cols, naming the first column.
func (sp *SortPlan) addShadowProbe(cols []*policy.ProtectedColumn, aggregates bool, construct string) {
	if len(cols) == 0 {
		return
	}
	sp.hidden = append(sp.hidden, hiddenColumn{kind: hiddenShadow, aggregates: aggregates, types: shadowTypes(cols)})
	sp.Shadow = append(sp.Shadow, ShadowProbe{Value: len(sp.hidden) - 1, Column: cols[0], Construct: construct})
}

// shadowProbe is the probe's text: 'shadowed', or empty. PostgreSQL runs it
// once per statement.
func shadowProbe(h hiddenColumn) string {
	types := make([]string, len(h.types))
	for i, t := range h.types {
		types[i] = strconv.FormatUint(uint64(t), 10)
	}
	in := "(" + strings.Join(types, ", ") + ")"
	// Only a schema of the session's search_path holds a candidate: one
	// elsewhere is called only by OPERATOR(schema.op) or schema.func(),
	// which phiguard refuses on encrypted columns.
	path := " IN (SELECT n.oid FROM pg_catalog.pg_namespace n WHERE n.nspname = ANY (pg_catalog.current_schemas(true)) AND n.nspname <> 'pg_catalog')"
	cond := "EXISTS (SELECT 1 FROM pg_catalog.pg_operator o WHERE o.oprname IN ('" + strings.Join(shadowOperators, "', '") +
		"') AND o.oprleft IN " + in + " AND o.oprnamespace" + path + ")"
	if h.aggregates {
		cond = "EXISTS (SELECT 1 FROM pg_catalog.pg_proc f WHERE f.proname IN ('min', 'max', 'count') AND f.prokind = 'a'" +
			" AND (f.pronargs = 0 OR f.proargtypes[0] IN " + in + ") AND f.pronamespace" + path + ")"
	}
	return "(SELECT CASE WHEN " + cond + " THEN 'shadowed' ELSE '' END)"
}
