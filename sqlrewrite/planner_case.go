package sqlrewrite

import (
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v5"

	"github.com/phiguard/phiguard/policy"
)

// Django's bulk_update sets each column to one CASE over the rows' ids,
// cast to the column's type:
//
//	UPDATE t SET name = CAST(CASE WHEN (t.id = 1) THEN 'a' WHEN (t.id = 2)
//	THEN 'b' ELSE NULL END AS varchar(100)) WHERE t.id IN (1, 2)
//
// On an encrypted column each THEN value is a constant for it, and the
// WHEN conditions are the database's to evaluate. So the planner folds the
// values as any other written constant, and plans a cut of the CAST
// around the CASE (Plan.Cuts): left in, it would cast the chosen cell —
// text — to varchar(100), truncating it, or to date, failing. The CAST
// must be to the column's own type, modifier included; it is explicit, so
// PostgreSQL truncates a longer string to a varchar(n) or char(n) where an
// assignment would fail: the values carry ValueSlot.Explicit for the proxy
// to do the same. For every other type an explicit cast of a constant to
// the column's type and the assignment compute the same value.

// TextCut is text the proxy replaces in a statement before sending it:
// the bytes [Start, End) counted from the end of literal After (from the
// start of the text when After is -1), with Text ("" removes them; an
// empty span with Text inserts it). Counting from the nearest literal
// before the cut keeps the plan valid for every text of the shape, whose
// non-literal text is the same. A Last insertion goes after every other
// edit at its point (Edit.Last).
type TextCut struct {
	After      int
	Start, End int
	Text       string
	Last       bool
}

// castCase plans CAST(CASE ... END AS type) written into col; false when
// v is not that form (the caller then refuses a computed value).
func (p *planner) castCase(v *pg_query.Node, col *policy.ProtectedColumn, sc *scope, stmt string) bool {
	tc := v.GetTypeCast()
	c := tc.GetArg().GetCaseExpr()
	if c == nil || c.GetArg() != nil || !p.castToColumnType(tc, col) {
		return false
	}
	loc, caseLoc := int(tc.GetLocation()), int(c.GetLocation())
	if loc < 0 || len(p.sql) < loc+4 || !strings.EqualFold(p.sql[loc:loc+4], "cast") || caseLoc <= loc {
		return false
	}
	caseEnd, castEnd, ok := p.caseAndCastEnd(caseLoc)
	if !ok {
		return false
	}
	for _, w := range c.GetArgs() {
		cw := w.GetCaseWhen()
		p.expr(cw.GetExpr(), sc, ctxOther("CASE WHEN"))
		if !p.caseValue(cw.GetResult(), col, sc, stmt) {
			return false
		}
	}
	if d := c.GetDefresult(); d != nil && !p.caseValue(d, col, sc, stmt) {
		return false
	}
	p.cut(loc, caseLoc)
	p.cut(caseEnd, castEnd)
	return true
}

// caseValue plans one THEN or ELSE value: NULL or a constant.
func (p *planner) caseValue(n *pg_query.Node, col *policy.ProtectedColumn, sc *scope, stmt string) bool {
	if n.GetAConst() != nil && n.GetAConst().GetIsnull() {
		return true
	}
	if n.GetTypeCast() != nil && n.GetTypeCast().GetArg().GetCaseExpr() != nil {
		return false
	}
	at := len(p.plan.Values)
	if !p.value(n, col, UseWrite) {
		return false
	}
	for i := at; i < len(p.plan.Values); i++ {
		p.plan.Values[i].Explicit = true
	}
	return true
}

// castToColumnType: the cast's type, as written, is the column's.
func (p *planner) castToColumnType(tc *pg_query.TypeCast, col *policy.ProtectedColumn) bool {
	tn := tc.GetTypeName()
	end, ok := p.typeEnd(tn)
	if !ok || len(tn.GetArrayBounds()) > 0 {
		return false
	}
	text := strings.Join(strings.Fields(p.sql[tn.GetLocation():end]), "")
	text = strings.TrimPrefix(strings.ToLower(text), "pg_catalog.")
	lt, err := policy.ParseType(text)
	return err == nil && lt.OID == col.Type.OID && lt.Modifier == col.Type.Modifier
}

// caseAndCastEnd finds, from the CASE at caseLoc, where its END ends and
// where the CAST's closing parenthesis after it ends.
func (p *planner) caseAndCastEnd(caseLoc int) (caseEnd, castEnd int, ok bool) {
	depth, parens := 0, 0
	for _, tok := range p.tokens() {
		start, end := int(tok.GetStart()), int(tok.GetEnd())
		if start < caseLoc {
			continue
		}
		word := strings.ToUpper(p.sql[start:end])
		switch {
		case caseEnd == 0 && word == "CASE":
			depth++
		case caseEnd == 0 && word == "END":
			if depth--; depth == 0 {
				caseEnd = end
			}
		case caseEnd > 0 && word == "(":
			parens++
		case caseEnd > 0 && word == ")":
			if parens == 0 {
				return caseEnd, end, true
			}
			parens--
		}
	}
	return 0, 0, false
}

// cut plans the removal of [start, end), anchored on the last literal
// ending at or before start.
func (p *planner) cut(start, end int) {
	anchor, base := -1, 0
	for i, sp := range p.spans() {
		if sp[1] <= start {
			anchor, base = i, sp[1]
		}
	}
	p.plan.Cuts = append(p.plan.Cuts, TextCut{After: anchor, Start: start - base, End: end - base})
}
