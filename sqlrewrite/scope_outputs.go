package sqlrewrite

import (
	"strconv"

	pg_query "github.com/pganalyze/pg_query_go/v5"
)

// derivedColumns works out the output names of a SELECT or VALUES whose
// FROM is planned into sc, as PostgreSQL names them (FigureColname): a
// FROM subquery or WITH query of it has those columns, which bind an
// unqualified name inside before any outer level's (bindName).
func derivedColumns(s *pg_query.SelectStmt, sc *scope) relationColumns {
	out := relationColumns{names: map[string]bool{}, complete: true}
	add := func(name string) {
		out.names[name] = true
		out.order = append(out.order, name)
	}
	if rows := s.GetValuesLists(); len(rows) > 0 {
		for i := range rows[0].GetList().GetItems() {
			add("column" + strconv.Itoa(i+1))
		}
		return out
	}
	for _, t := range s.GetTargetList() {
		rt := t.GetResTarget()
		if rt.GetName() != "" {
			add(rt.GetName())
			continue
		}
		if ref := rt.GetVal().GetColumnRef(); ref != nil && starRef(ref) {
			out.complete, out.order = false, nil
			out.starFrom = append(out.starFrom, starRelations(ref, sc)...)
			continue
		}
		if ind := rt.GetVal().GetAIndirection().GetIndirection(); len(ind) > 0 && ind[len(ind)-1].GetAStar() != nil {
			// (x).* is the fields of x's composite type
			out.complete, out.order, out.unnamed = false, nil, true
			continue
		}
		if name, strength := figureColname(rt.GetVal()); strength >= 0 {
			add(name)
		} else {
			out.complete, out.order, out.unnamed = false, nil, true
		}
	}
	return out
}

// starRef says whether ref is * or q.*.
func starRef(ref *pg_query.ColumnRef) bool {
	f := ref.GetFields()
	return len(f) > 0 && f[len(f)-1].GetAStar() != nil
}

// starRelations are the FROM items a * or q.* reads the columns of.
func starRelations(ref *pg_query.ColumnRef, sc *scope) []*relation {
	f := ref.GetFields()
	if len(f) == 1 {
		return sc.relations
	}
	if r := sc.relationNamed(f[len(f)-2].GetString_().GetSval()); r != nil {
		return []*relation{r}
	}
	return nil
}

// renamed is cols under an alias's column list: the first columns take
// its names, the rest keep theirs where their order is known.
func renamed(cols relationColumns, colnames []*pg_query.Node) relationColumns {
	if len(colnames) == 0 {
		return cols
	}
	out := relationColumns{names: map[string]bool{}, complete: cols.complete}
	for _, n := range colnames {
		out.names[n.GetString_().GetSval()] = true
		out.order = append(out.order, n.GetString_().GetSval())
	}
	if !cols.complete {
		out.unnamed = true // the rest: which, phiguard cannot tell
		return out
	}
	for i := len(colnames); i < len(cols.order); i++ {
		out.names[cols.order[i]] = true
		out.order = append(out.order, cols.order[i])
	}
	return out
}

// figureColname is the name PostgreSQL gives an output column computed
// by n without an AS (parser/parse_target.c, FigureColnameInternal), and
// its strength there: 2 a name taken from the expression, 1 a weak one a
// cast's type replaces, 0 "?column?"; -1 for a node phiguard does not
// work out the name of.
func figureColname(n *pg_query.Node) (string, int) {
	switch {
	case n.GetColumnRef() != nil: // the last field that is a name: q.*::text is named q
		f := n.GetColumnRef().GetFields()
		for i := len(f) - 1; i >= 0; i-- {
			if s := f[i].GetString_(); s != nil {
				return s.GetSval(), 2
			}
		}
		return "?column?", 0
	case n.GetAIndirection() != nil:
		ind := n.GetAIndirection().GetIndirection()
		for i := len(ind) - 1; i >= 0; i-- {
			if s := ind[i].GetString_(); s != nil {
				return s.GetSval(), 2
			}
		}
		return figureColname(n.GetAIndirection().GetArg())
	case n.GetFuncCall() != nil:
		name := n.GetFuncCall().GetFuncname()
		return name[len(name)-1].GetString_().GetSval(), 2
	case n.GetTypeCast() != nil:
		name, strength := figureColname(n.GetTypeCast().GetArg())
		if strength < 0 || strength > 1 {
			return name, strength
		}
		tn := n.GetTypeCast().GetTypeName().GetNames()
		return tn[len(tn)-1].GetString_().GetSval(), 1
	case n.GetCollateClause() != nil:
		return figureColname(n.GetCollateClause().GetArg())
	case n.GetCaseExpr() != nil: // named after its ELSE when that has a name
		if d := n.GetCaseExpr().GetDefresult(); d != nil {
			if name, strength := figureColname(d); strength < 0 || strength > 1 {
				return name, strength
			}
		}
		return "case", 1
	case n.GetAArrayExpr() != nil:
		return "array", 2
	case n.GetRowExpr() != nil:
		return "row", 2
	case n.GetCoalesceExpr() != nil:
		return "coalesce", 2
	case n.GetAExpr() != nil && n.GetAExpr().GetKind() == pg_query.A_Expr_Kind_AEXPR_NULLIF:
		return "nullif", 2
	case n.GetAConst() != nil, n.GetParamRef() != nil, n.GetBoolExpr() != nil, n.GetNullTest() != nil,
		n.GetBooleanTest() != nil, n.GetAExpr() != nil:
		return "?column?", 0
	}
	return "", -1
}

// functionRelation is a function (or XMLTABLE) in FROM: its columns are
// known only from a column definition list; otherwise they are the
// function's, which phiguard does not read.
func functionRelation(n *pg_query.Node) *relation {
	rel := &relation{columns: relationColumns{names: map[string]bool{}, unnamed: true}}
	var alias *pg_query.Alias
	switch {
	case n.GetRangeFunction() != nil:
		rf := n.GetRangeFunction()
		alias = rf.GetAlias()
		if len(rf.GetColdeflist()) > 0 && len(rf.GetFunctions()) == 1 && !rf.GetOrdinality() {
			rel.columns.unnamed, rel.columns.complete = false, true
			for _, d := range rf.GetColdeflist() {
				rel.columns.names[d.GetColumnDef().GetColname()] = true
			}
		}
	case n.GetRangeTableFunc() != nil:
		alias = n.GetRangeTableFunc().GetAlias()
	}
	rel.name = alias.GetAliasname()
	for _, c := range alias.GetColnames() {
		rel.columns.names[c.GetString_().GetSval()] = true
	}
	return rel
}
