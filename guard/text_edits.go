package guard

import (
	"slices"

	"github.com/phiguard/phiguard/policy"
	"github.com/phiguard/phiguard/sqlrewrite"
)

// A plan edits a statement's text in two ways: a literal (widened to its
// cast and sign) is replaced by its cell, and a cut (sqlrewrite.TextCut:
// the CAST around a CASE whose values are encrypted) is removed. Both are
// spans of the text as the client sent it, applied in one pass.

// textEdit replaces sql[span[0]:span[1]] with text.
type textEdit struct {
	span [2]int
	text string
}

// splice applies non-overlapping edits to sql; false if two overlap.
func splice(sql []byte, edits []textEdit) ([]byte, bool) {
	if len(edits) == 0 {
		return sql, true
	}
	slices.SortFunc(edits, func(a, b textEdit) int { return a.span[0] - b.span[0] })
	out := make([]byte, 0, len(sql)+64*len(edits))
	last := 0
	for _, e := range edits {
		if e.span[0] < last {
			return nil, false
		}
		out = append(out, sql[last:e.span[0]]...)
		out = append(out, e.text...)
		last = e.span[1]
	}
	return append(out, sql[last:]...), true
}

// cutSpan is where a planned cut stands in sql (sqlrewrite.TextCut).
func cutSpan(sql []byte, spans [][2]int, c sqlrewrite.TextCut) ([2]int, bool) {
	base := 0
	if c.After >= 0 {
		if c.After >= len(spans) {
			return [2]int{}, false
		}
		base = spans[c.After][1]
	}
	sp := [2]int{base + c.Start, base + c.End}
	return sp, sp[0] >= 0 && sp[0] <= sp[1] && sp[1] <= len(sql)
}

// firstColumn names a column of the plan for an internal refusal.
func firstColumn(plan *sqlrewrite.Plan) *policy.ProtectedColumn {
	if len(plan.Values) > 0 {
		return plan.Values[0].Column
	}
	return nil
}

// explicitCast is what an explicit cast to a varchar(n) or char(n) column's
// type makes of a string: its first n characters (an assignment would
// refuse a longer one, 22001). Other types are unchanged.
func explicitCast(col *policy.ProtectedColumn, v []byte) []byte {
	if col.Type.OID != policy.OIDVarchar && col.Type.OID != policy.OIDBpchar || col.Type.Modifier < 4 {
		return v
	}
	n := int(col.Type.Modifier - 4)
	for i := range string(v) {
		if n == 0 {
			return v[:i]
		}
		n--
	}
	return v
}
