package sqlrewrite

import (
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v5"

	"github.com/phiguard/phiguard/policy"
)

// INSERT ... SELECT and INSERT ... DEFAULT VALUES have no VALUES row to
// carry the default guard, so the proxy reads its catalog before each such
// statement (Plan.DefaultsUnguarded) and refuses it if an encrypted column
// it leaves out has a default now. DDL another session commits between
// that read and the statement would still have the default stored in
// clear. So where the shape allows, the encrypted columns left out are
// written into the statement as well, with NULL (what they store while
// the guard holds), the first carrying the guard:
//
//	INSERT INTO t (a) SELECT x FROM s
//	→ INSERT INTO t (a, "enc") SELECT x, CASE WHEN <no defaults> THEN NULL ELSE <raise> END FROM s
//	INSERT INTO t DEFAULT VALUES
//	→ INSERT INTO t ("enc") VALUES (CASE WHEN <no defaults> THEN NULL ELSE <raise> END)
//
// A non-correlated CASE over pg_attribute in a select list is evaluated
// once per row; the rows of one statement share its snapshot, so they
// agree. A SELECT that is a set operation, VALUES or has no select list,
// and a statement leaving out a column the role may not insert (it takes
// its default, which only READ COMMITTED can check: guard_slot.go), stay
// as they are, checked by the catalog read alone.

// insertSelect guards an INSERT ... SELECT with a column list (see above);
// sql unchanged with false when the shape has no place for the guard.
func (g defaultGuard) insertSelect(sql string, ins *pg_query.InsertStmt) (string, bool) {
	sel := ins.GetSelectStmt().GetSelectStmt()
	targets := sel.GetTargetList()
	if len(ins.GetCols()) == 0 || sel == nil || sel.GetOp() != pg_query.SetOperation_SETOP_NONE || len(targets) == 0 || g.leavesUninsertable(ins) {
		return sql, false
	}
	omitted := g.omitted(ins)
	if len(omitted) == 0 {
		return sql, false
	}
	listClose, ok := firstParenClose(sql, int(ins.GetRelation().GetLocation()))
	if !ok {
		return sql, false
	}
	end, ok := selectListEnd(sql, int(targets[len(targets)-1].GetResTarget().GetLocation()))
	if !ok || end <= listClose {
		return sql, false
	}
	var names, values strings.Builder
	for i, c := range omitted {
		names.WriteString(", " + policy.QuoteIdentifier(c.Name))
		values.WriteString(", " + g.nullValue(i))
	}
	return applyEdits(sql, []textEdit{{at: listClose, end: listClose, text: names.String()}, {at: end, end: end, text: values.String()}}), true
}

// defaultValues guards an INSERT ... DEFAULT VALUES by naming the
// encrypted columns (see above): every other column still takes its
// default; sql unchanged with false when it cannot.
func (g defaultGuard) defaultValues(sql string, ins *pg_query.InsertStmt) (string, bool) {
	if len(ins.GetCols()) != 0 || ins.GetSelectStmt() != nil || g.leavesUninsertable(ins) {
		return sql, false
	}
	omitted := g.omitted(ins)
	at, end, ok := defaultValuesSpan(sql, int(ins.GetRelation().GetLocation()))
	if len(omitted) == 0 || !ok {
		return sql, false
	}
	names, values := make([]string, len(omitted)), make([]string, len(omitted))
	for i, c := range omitted {
		names[i], values[i] = policy.QuoteIdentifier(c.Name), g.nullValue(i)
	}
	text := "(" + strings.Join(names, ", ") + ") VALUES (" + strings.Join(values, ", ") + ")"
	return applyEdits(sql, []textEdit{{at: at, end: end, text: text}}), true
}

// omitted is the encrypted columns of g.cols the INSERT's list leaves out.
func (g defaultGuard) omitted(ins *pg_query.InsertStmt) []*policy.ProtectedColumn {
	listed := map[string]bool{}
	for _, c := range ins.GetCols() {
		listed[c.GetResTarget().GetName()] = true
	}
	var out []*policy.ProtectedColumn
	for _, c := range g.cols {
		if !listed[c.Name] {
			out = append(out, c)
		}
	}
	return out
}

// nullValue is the i-th appended column's value: the first carries the
// guard.
func (g defaultGuard) nullValue(i int) string {
	if i == 0 {
		return g.wrap("NULL", "")
	}
	return "NULL"
}

// firstParenClose is where the first parenthesis opened after from closes
// (an INSERT's or a COPY's column list, after its relation).
func firstParenClose(sql string, from int) (int, bool) {
	toks, ok := tokensFrom(sql, from)
	if !ok {
		return 0, false
	}
	depth := 0
	for _, tok := range toks {
		switch sql[tok.GetStart():tok.GetEnd()] {
		case "(":
			depth++
		case ")":
			if depth--; depth == 0 {
				return int(tok.GetStart()), true
			}
		}
	}
	return 0, false
}

// selectListEnds are the words that end a select list at its own level.
var selectListEnds = map[string]bool{
	"FROM": true, "INTO": true, "WHERE": true, "GROUP": true, "HAVING": true, "WINDOW": true,
	"ORDER": true, "LIMIT": true, "OFFSET": true, "FETCH": true, "FOR": true, "UNION": true,
	"INTERSECT": true, "EXCEPT": true, "RETURNING": true, "ON": true, ";": true,
}

// selectListEnd is the end of the select list whose last entry starts at
// last: the end of the last token before a word that ends the list at
// the entry's own level, a parenthesis closing around it, or the text's
// end. Words inside parentheses or brackets (array_agg(x ORDER BY y),
// OVER (ORDER BY ...)), after AS (a label) or the FROM of IS [NOT]
// DISTINCT FROM (an operator at the entry's level) do not end it.
func selectListEnd(sql string, last int) (int, bool) {
	toks, ok := tokensFrom(sql, last)
	if !ok || last < 0 {
		return 0, false
	}
	depth, end, afterAS, afterDistinct := 0, -1, false, false
	for _, tok := range toks {
		text := sql[tok.GetStart():tok.GetEnd()]
		label := afterAS // x AS from: any keyword may be a column's label
		operator := afterDistinct && strings.EqualFold(text, "FROM")
		afterAS, afterDistinct = strings.EqualFold(text, "AS"), tok.GetToken() == pg_query.Token_DISTINCT
		switch {
		case label, operator:
		case text == "(" || text == "[":
			depth++
		case text == ")" || text == "]":
			if depth--; depth < 0 {
				return end, end > last
			}
		case depth == 0 && tok.GetKeywordKind() != pg_query.KeywordKind_NO_KEYWORD && selectListEnds[strings.ToUpper(text)], text == ";":
			return end, end > last
		}
		end = int(tok.GetEnd())
	}
	return end, end > last
}

// defaultValuesSpan is where DEFAULT VALUES is in an INSERT whose relation
// starts at from.
func defaultValuesSpan(sql string, from int) (at, end int, ok bool) {
	toks, ok := tokensFrom(sql, from)
	if !ok {
		return 0, 0, false
	}
	for i := 0; i+1 < len(toks); i++ {
		a, b := toks[i], toks[i+1]
		if strings.EqualFold(sql[a.GetStart():a.GetEnd()], "DEFAULT") && strings.EqualFold(sql[b.GetStart():b.GetEnd()], "VALUES") {
			return int(a.GetStart()), int(b.GetEnd()), true
		}
	}
	return 0, 0, false
}

// tokensFrom is sql's tokens from offset from on, comments left out.
func tokensFrom(sql string, from int) ([]*pg_query.ScanToken, bool) {
	res, err := pg_query.Scan(sql)
	if err != nil {
		return nil, false
	}
	var out []*pg_query.ScanToken
	for _, tok := range res.GetTokens() {
		if int(tok.GetStart()) >= from && !isComment(tok) {
			out = append(out, tok)
		}
	}
	return out, true
}
