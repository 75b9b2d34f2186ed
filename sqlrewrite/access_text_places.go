package sqlrewrite

import (
	pg_query "github.com/pganalyze/pg_query_go/v5"
)

// Where, in the client's text, the access rewriter's edits go
// (access_text.go). Each place is found from a location the parser gave
// and the tokens around it; a place not found loses the text (the
// statement is then written whole from its tree), and the edited text
// is checked against the tree in any case.

// nameEnd is the index of the last token of the dotted name starting at
// token i (a, a.b, a.b.c; a part may be U&"..." UESCAPE '!').
func (t *accessText) nameEnd(i int) int {
	for {
		if t.is(i+1, pg_query.Token_UESCAPE) && i+2 < len(t.toks) {
			i += 2
		}
		if !t.is(i+1, pg_query.Token_ASCII_46) || i+2 >= len(t.toks) { // .
			return i
		}
		i += 2
	}
}

// relationSpan is the text of a table named in a FROM clause: ONLY, the
// name, a *, and its alias with its column names. table says the name
// is TABLE name's, whose span starts at TABLE: that query is SELECT *
// FROM name, and a subquery in name's place must be written so.
func (t *accessText) relationSpan(rv *pg_query.RangeVar) (span [2]int, table, ok bool) {
	first := t.tokenAt(rv.GetLocation())
	if first < 0 {
		return [2]int{}, false, false
	}
	start, last := first, t.nameEnd(first)
	if p := prevReal(t.toks, first, -1); t.is(p, pg_query.Token_ONLY) {
		start = p
	} else if q := prevReal(t.toks, p, -1); t.is(p, pg_query.Token_ASCII_40) && t.is(q, pg_query.Token_ONLY) {
		// ONLY (name): the parenthesis closes after the name.
		start, last = q, t.nextReal(last)
		if !t.is(last, pg_query.Token_ASCII_41) {
			return [2]int{}, false, false
		}
	}
	if p := prevReal(t.toks, start, -1); t.is(p, pg_query.Token_TABLE) {
		start, table = p, true
	}
	if n := t.nextReal(last); t.is(n, pg_query.Token_ASCII_42) { // name *
		last = n
	}
	if a := rv.GetAlias(); a != nil {
		last = t.aliasEnd(last, a)
	}
	span, ok = t.span(start, last)
	return span, table, ok
}

// aliasEnd is the index of the last token of the alias written after
// token last: [AS] name [(column, ...)]; -1 when it is not there.
func (t *accessText) aliasEnd(last int, a *pg_query.Alias) int {
	n := t.nextReal(last)
	if t.is(n, pg_query.Token_AS) {
		n = t.nextReal(n)
	}
	if n < 0 {
		return -1
	}
	last = n
	if len(a.GetColnames()) > 0 {
		open := t.nextReal(last)
		if !t.is(open, pg_query.Token_ASCII_40) {
			return -1
		}
		last = t.closing(open)
	}
	return last
}

// clauseStop is the index of the first token after i, outside
// parentheses and brackets, that ends an UPDATE's, DELETE's or INSERT's
// last clauses: RETURNING, the ";" or closing parenthesis after the
// statement (in a WITH query), or stop (a clause the caller knows, such
// as ON CONFLICT); len(toks) at the text's end. where is the index of
// the first WHERE on the way at that depth, -1 when none.
func (t *accessText) clauseStop(i int, stop int32) (end, where int) {
	depth, where := 0, -1
	for i++; i < len(t.toks); i++ {
		tok := t.toks[i]
		switch tok.GetToken() {
		case pg_query.Token_ASCII_40, pg_query.Token_ASCII_91: // ( [
			depth++
			continue
		case pg_query.Token_ASCII_41, pg_query.Token_ASCII_93: // ) ]
			if depth--; depth >= 0 {
				continue
			}
			return i, where
		}
		if depth > 0 || keeps(t.toks, i) {
			continue
		}
		switch {
		case tok.GetStart() == stop, tok.GetToken() == pg_query.Token_RETURNING, tok.GetToken() == pg_query.Token_ASCII_59: // ;
			return i, where
		case tok.GetToken() == pg_query.Token_WHERE && where < 0:
			where = i
		}
	}
	return len(t.toks), where
}

// dmlWhere is where an UPDATE's or DELETE's condition is, its target
// named at rv: the span of the condition after WHERE, or without one the
// empty span where a WHERE clause would go; has says which.
func (t *accessText) dmlWhere(rv *pg_query.RangeVar) (span [2]int, has, ok bool) {
	first := t.tokenAt(rv.GetLocation())
	if first < 0 {
		return [2]int{}, false, false
	}
	stop, where := t.clauseStop(first, -1)
	if where < 0 {
		end := prevEnd(t.toks, stop, first)
		return [2]int{end, end}, false, true
	}
	cond := t.nextReal(where)
	if cond < 0 || cond >= stop {
		return [2]int{}, false, false
	}
	return [2]int{int(t.toks[cond].GetStart()), prevEnd(t.toks, stop, cond)}, true, true
}

// insertSource is the span of an INSERT's source query: after the target,
// its alias, its column list and OVERRIDING ... VALUE, up to ON CONFLICT,
// RETURNING or the statement's end.
func (t *accessText) insertSource(ins *pg_query.InsertStmt) ([2]int, bool) {
	rv := ins.GetRelation()
	first := t.tokenAt(rv.GetLocation())
	if first < 0 {
		return [2]int{}, false
	}
	last := t.nameEnd(first)
	if a := rv.GetAlias(); a != nil {
		last = t.aliasEnd(last, a)
	}
	if len(ins.GetCols()) > 0 {
		open := t.nextReal(last)
		if !t.is(open, pg_query.Token_ASCII_40) {
			return [2]int{}, false
		}
		last = t.closing(open)
	}
	if ins.GetOverride() == pg_query.OverridingKind_OVERRIDING_USER_VALUE || ins.GetOverride() == pg_query.OverridingKind_OVERRIDING_SYSTEM_VALUE {
		last = t.nextReal(t.nextReal(t.nextReal(last))) // OVERRIDING USER|SYSTEM VALUE
	}
	start := t.nextReal(last)
	if last < 0 || start < 0 {
		return [2]int{}, false
	}
	var stop int32 = -1
	if oc := ins.GetOnConflictClause(); oc != nil {
		stop = oc.GetLocation()
	}
	end, _ := t.clauseStop(start-1, stop)
	return [2]int{int(t.toks[start].GetStart()), prevEnd(t.toks, end, start)}, true
}
