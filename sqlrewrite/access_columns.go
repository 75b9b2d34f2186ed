package sqlrewrite

import (
	pg_query "github.com/pganalyze/pg_query_go/v5"
	"github.com/phiguard/phiguard/policy"
)

// The columns of the access rewriter's FROM items by position: a * adds
// every column of the items it expands in order, an alias's column list
// renames them by position, and an ORDER BY or GROUP BY position names
// one. Where an item's columns are not known (a function in FROM, a table
// the catalog does not list), a position at or after it is not known
// either, and a rename or position that could land on a restricted column
// there is refused.

// derivedRel builds the FROM item of a subquery or CTE from its outputs,
// renamed by a column alias list when there is one.
func derivedRel(name string, colnames []*pg_query.Node, outs []accessOutput, w *accessWalker) *accessRel {
	r := &accessRel{name: name, restricted: map[string]*policy.ColumnRule{}, cols: map[string]bool{}, known: true}
	for i, o := range outs {
		if o.unknown && r.known {
			r.known = false
			if i < len(colnames) {
				w.refuseRenameUnknown(outs[i:], name)
			}
		}
		if r.known && i < len(colnames) {
			o.name = colnames[i].GetString_().GetSval()
		}
		o.unknown = false
		if o.name != "" {
			r.cols[o.name] = true
		}
		r.columns = append(r.columns, o)
		if o.rule != nil {
			r.restricted[o.name] = stricter(r.restricted[o.name], o.rule)
		}
	}
	if !r.known {
		r.columns = nil
		if len(colnames) > 0 {
			// The list renames by position past an output whose
			// position is not known: only its own names are certain.
			r.cols, r.renamed = nameSet(colnames), true
		}
	}
	return r
}

// nameSet is the set of an alias's column names.
func nameSet(colnames []*pg_query.Node) map[string]bool {
	out := make(map[string]bool, len(colnames))
	for _, c := range colnames {
		out[c.GetString_().GetSval()] = true
	}
	return out
}

// refuseRenameUnknown refuses an alias column list that reaches outputs
// whose positions are not known, if one of them is restricted: the
// rename would put its rule on a guessed column.
func (w *accessWalker) refuseRenameUnknown(outs []accessOutput, alias string) {
	for _, o := range outs {
		if o.rule != nil {
			w.refuseColumn(o.rule, "under a column list of alias "+policy.QuoteIdentifier(alias)+" that renames it, over a * whose columns phiguard does not know in order")
		}
	}
}

// renameColumns applies an alias's column list (FROM t AS a(x, y)), which
// renames the item's columns by position: a restricted column keeps its
// rule under its new name. Where the item's column order is unknown,
// renaming a restricted column is refused.
func (w *accessWalker) renameColumns(r *accessRel, alias *pg_query.Alias) {
	colnames := alias.GetColnames()
	if len(colnames) == 0 {
		return
	}
	if !r.known {
		if len(r.restricted) > 0 {
			rule := sortedRules(r.restricted)[0]
			w.refuseColumn(rule, "under a column list of alias "+policy.QuoteIdentifier(alias.GetAliasname())+" that renames it")
		}
		r.cols, r.renamed = nameSet(colnames), true
		return
	}
	renamed := map[string]*policy.ColumnRule{}
	columns := make([]accessOutput, len(r.columns))
	for i, c := range r.columns {
		if i < len(colnames) {
			c.name = colnames[i].GetString_().GetSval()
		}
		columns[i] = c
		if c.rule != nil {
			renamed[c.name] = stricter(renamed[c.name], c.rule)
		}
	}
	r.restricted, r.columns = renamed, columns
	if r.cols != nil {
		r.cols = map[string]bool{}
		for _, c := range columns {
			r.cols[c.name] = true
		}
	}
}

// outputAt is the rule of the output an ORDER BY, GROUP BY or DISTINCT ON
// position names, if restricted: past an output of unknown position, any
// restricted output from there on may be the one.
func outputAt(outs []accessOutput, pos int) *policy.ColumnRule {
	if pos < 1 {
		return nil
	}
	for i, o := range outs {
		if o.unknown && i < pos {
			for _, rest := range outs[i:] {
				if rest.rule != nil {
					return rest.rule
				}
			}
			return nil
		}
		if i == pos-1 {
			return o.rule
		}
	}
	return nil
}

// lateralScope is the scope a FROM subquery is walked in: LATERAL, it
// sees the items before it at its level; otherwise only the enclosing
// levels (PostgreSQL skips its siblings, so a name there binds to an
// enclosing level's item; an UPDATE's or DELETE's target is one of the
// siblings). A function in FROM (or XMLTABLE) is LATERAL whether the
// keyword is written or not, and is walked in its level's scope.
func lateralScope(sc *accessScope, lateral bool) *accessScope {
	if lateral {
		return sc
	}
	return newAccessScope(sc.parent)
}

// join walks a JOIN: its members, then its ON condition, which sees the
// members only (and the enclosing levels). The JOIN is one item for a *;
// with an alias it hides its members' names, so outside its ON conditions
// a name of a member binds to an enclosing level's item (PostgreSQL).
func (w *accessWalker) join(j *pg_query.JoinExpr, sc *accessScope) {
	before, itemsBefore := len(sc.rels), len(sc.items)
	w.fromItem(j.GetLarg(), sc)
	w.fromItem(j.GetRarg(), sc)
	joined := append([]*accessRel(nil), sc.rels[before:]...)
	items := append([]*accessRel(nil), sc.items[itemsBefore:]...)
	if j.GetIsNatural() {
		for _, r := range joined {
			for _, rule := range sortedRules(r.restricted) {
				w.refuseColumn(rule, "in a NATURAL JOIN")
			}
		}
	}
	for _, u := range j.GetUsingClause() {
		name := u.GetString_().GetSval()
		for _, r := range joined {
			if rule := r.restricted[name]; rule != nil {
				w.refuseColumn(rule, "in JOIN USING")
			}
		}
	}
	w.expr(j.GetQuals(), &accessScope{parent: sc.parent, rels: joined, items: items})
	merged := &accessRel{restricted: map[string]*policy.ColumnRule{}, parts: joined,
		known: !j.GetIsNatural() && len(j.GetUsingClause()) == 0}
	for _, r := range joined {
		for k, v := range r.restricted {
			merged.restricted[k] = stricter(merged.restricted[k], v)
		}
	}
	for _, it := range items {
		merged.known = merged.known && it.known
		merged.columns = append(merged.columns, it.columns...)
	}
	if !merged.known {
		merged.columns = nil
	}
	sc.items = append(sc.items[:itemsBefore], merged)
	if a := j.GetAlias(); a != nil {
		merged.name = a.GetAliasname()
		w.renameColumns(merged, a)
		sc.rels = append(sc.rels[:before], merged)
	}
}

// fieldStar tells whether an expression is (v).*, which expands to every
// field of v.
func fieldStar(n *pg_query.Node) bool {
	ind := n.GetAIndirection().GetIndirection()
	return len(ind) > 0 && ind[len(ind)-1].GetAStar() != nil
}

// functionRel is a function in FROM: its columns are named by a column
// definition list (f() AS x(a int, b text): all of them, in order) or,
// in part, by an alias's column list (generate_series(1, 2) AS g(n): the
// first ones); the others phiguard cannot tell (the binder then looks
// further out, bind_columns.go). Its values carry no restricted column:
// one in its arguments was checked as used in an expression.
func functionRel(rf *pg_query.RangeFunction) *accessRel {
	r := &accessRel{name: rf.GetAlias().GetAliasname(), restricted: map[string]*policy.ColumnRule{}}
	if defs := rf.GetColdeflist(); len(defs) > 0 && len(rf.GetFunctions()) == 1 && !rf.GetOrdinality() {
		r.known, r.cols = true, map[string]bool{}
		for _, d := range defs {
			name := d.GetColumnDef().GetColname()
			r.cols[name] = true
			r.columns = append(r.columns, accessOutput{name: name})
		}
		return r
	}
	if colnames := rf.GetAlias().GetColnames(); len(colnames) > 0 {
		r.cols, r.renamed = nameSet(colnames), true
	}
	return r
}
