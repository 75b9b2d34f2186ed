package sqlrewrite

import (
	"strconv"

	pg_query "github.com/pganalyze/pg_query_go/v5"
)

// derivedColumns works out the output names of a SELECT or VALUES whose
// FROM is planned into sc, as PostgreSQL names them (FigureColname,
// figureName in planner_sort_names.go): a
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
		if ref := rt.GetVal().GetColumnRef(); ref != nil && starRef(ref) && rt.GetName() == "" {
			out.complete, out.order = false, nil
			out.starFrom = append(out.starFrom, starRelations(ref, sc)...)
			continue
		}
		if name, ok := outputName(rt); ok {
			add(name)
		} else {
			out.complete, out.order, out.unnamed = false, nil, true
		}
	}
	return out
}

// outputName is a select-list entry's column name as PostgreSQL figures
// it (FigureColnameInternal in parse_target.c): its alias, else the name
// its expression implies (figureName, planner_sort_names.go), else
// ?column?. known is false where phiguard cannot tell the name: a node
// kind figureName does not name (?column? is then a guess), or (x).*,
// which is the fields of x's composite type. The planner's ORDER BY
// names and the binding of subquery outputs (both readers) use it.
func outputName(rt *pg_query.ResTarget) (name string, known bool) {
	if rt.GetName() != "" {
		return rt.GetName(), true
	}
	if ind := rt.GetVal().GetAIndirection().GetIndirection(); len(ind) > 0 && ind[len(ind)-1].GetAStar() != nil {
		return "", false
	}
	switch name, strength := figureName(rt.GetVal()); {
	case strength > 0:
		return name, true
	case strength == nameUnknown: // named after a column a * expands to
		return "", false
	}
	return "?column?", namelessExpr(rt.GetVal())
}

// starRef says whether ref is * or q.*.
func starRef(ref *pg_query.ColumnRef) bool {
	f := ref.GetFields()
	return len(f) > 0 && f[len(f)-1].GetAStar() != nil
}

// starRelations are the FROM items a * or [schema.]q.* reads the columns
// of: q is found as the binder finds it (namedItem), at an enclosing
// level too, and with a schema only a table. It took q.* for the
// innermost level's items, or for a subquery called q, so a FROM
// subquery of p.*, p an outer table, had none of p's encrypted columns
// (red team 36: a constant compared with one went in clear).
func starRelations(ref *pg_query.ColumnRef, sc *scope) []*relation {
	f := ref.GetFields()
	if len(f) == 1 {
		return sc.relations
	}
	var names []string
	for _, x := range f[:len(f)-1] {
		names = append(names, x.GetString_().GetSval())
	}
	if r, ok := namedItem[*scope, *relation](sc, qualifierSchema(names, 1), names[len(names)-1]); ok {
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

// namelessExpr says whether PostgreSQL names n ?column? (figureName's
// strength 0 for these node kinds; for others phiguard does not name, it
// cannot tell).
func namelessExpr(n *pg_query.Node) bool {
	return n.GetAConst() != nil || n.GetParamRef() != nil || n.GetBoolExpr() != nil || n.GetNullTest() != nil ||
		n.GetBooleanTest() != nil || n.GetAExpr() != nil
}

// functionRelation is a function (or XMLTABLE) in FROM: its columns are
// known from a column definition list; otherwise they are the
// function's result's, which the catalog tells for one function called
// by name (calledFunction), and nothing does for the rest.
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
		} else if fn, ok := calledFunction(rf); ok {
			rel.columns.function, rel.columns.ordinality = &fn, rf.GetOrdinality()
			rel.columns.scalar = fn.Name
			if alias != nil {
				rel.columns.scalar = alias.GetAliasname()
			}
		}
	case n.GetRangeTableFunc() != nil:
		alias = n.GetRangeTableFunc().GetAlias()
	}
	rel.name = alias.GetAliasname()
	if alias == nil && rel.columns.function != nil {
		// Without an alias PostgreSQL names the item after the
		// function (its refname): a probe that it lacks a name
		// names it so (scope_probe.go; red team 38: none was sent).
		rel.name = rel.columns.function.Name
	}
	for _, c := range alias.GetColnames() {
		rel.columns.names[c.GetString_().GetSval()] = true
	}
	return rel
}

// calledFunction is the one function rf calls, by name, without a column
// definition list (not ROWS FROM, not a special form such as
// CURRENT_DATE, not what may be a projection: mayProject). A call of a
// type's name is a cast (dc('(1,t1)'), dc a domain over a composite
// type), which the catalog lists as a function of that name
// (guard/catalog_functions.go).
func calledFunction(rf *pg_query.RangeFunction) (TableName, bool) {
	fns := rf.GetFunctions()
	if rf.GetIsRowsfrom() || len(fns) != 1 || len(rf.GetColdeflist()) > 0 {
		return TableName{}, false
	}
	items := fns[0].GetList().GetItems()
	if len(items) == 0 || len(items) > 1 && len(items[1].GetList().GetItems()) > 0 {
		return TableName{}, false
	}
	fc := items[0].GetFuncCall()
	names := fc.GetFuncname()
	if fc == nil || len(names) == 0 || len(names) > 2 || mayProject(fc) {
		return TableName{}, false
	}
	fn := TableName{Name: names[len(names)-1].GetString_().GetSval(), Function: true}
	if len(names) == 2 {
		fn.Schema = names[0].GetString_().GetSval()
	}
	return fn, fn.Name != ""
}

// mayProject says whether fc may be a projection: r(h) is h.r when no
// function r takes h (ParseComplexProjection), with the columns of r's
// composite type, which may be a subquery's output that no catalog
// lists (red team 37: LATERAL made(s) WHERE tag = 't1' sent 't1'
// encrypted, compared with made's plain tag). Only an unqualified name
// called with one positional argument that may be of a composite type:
// not a constant, an array, or a cast to an array or to a scalar type
// of pg_catalog's.
func mayProject(fc *pg_query.FuncCall) bool {
	args := fc.GetArgs()
	if len(fc.GetFuncname()) != 1 || len(args) != 1 || fc.GetFuncVariadic() || fc.GetAggStar() ||
		fc.GetAggDistinct() || len(fc.GetAggOrder()) > 0 || fc.GetAggFilter() != nil || fc.GetOver() != nil ||
		args[0].GetNamedArgExpr() != nil {
		return false
	}
	arg := args[0]
	if tc := arg.GetTypeCast(); tc != nil {
		tn := tc.GetTypeName()
		names := tn.GetNames()
		return len(tn.GetArrayBounds()) == 0 && (len(names) != 2 || names[0].GetString_().GetSval() != "pg_catalog" ||
			!scalarCatalogTypes[names[1].GetString_().GetSval()])
	}
	return arg.GetAConst() == nil && arg.GetAArrayExpr() == nil
}

// scalarCatalogTypes are pg_catalog's types a cast in mayProject's
// argument may name: none is composite.
var scalarCatalogTypes = map[string]bool{
	"text": true, "varchar": true, "bpchar": true, "json": true, "jsonb": true, "int2": true, "int4": true,
	"int8": true, "numeric": true, "float4": true, "float8": true, "bool": true, "date": true,
	"timestamp": true, "timestamptz": true, "xml": true, "tsvector": true,
}
