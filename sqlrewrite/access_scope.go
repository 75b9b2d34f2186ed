package sqlrewrite

import (
	"sort"

	pg_query "github.com/pganalyze/pg_query_go/v5"
	"github.com/phiguard/phiguard/policy"
)

// An accessScope is what one query level can name, for the access
// rewriter: its FROM items and, through parent, the enclosing levels'. It
// mirrors the encryption planner's scope, but tracks the columns a role may
// only see through a column rule (restricted columns) rather than the
// encrypted ones.
type accessScope struct {
	parent *accessScope
	// rels are the items whose names the level can use: a JOIN with an
	// alias stands for the tables it joins, which it hides; the tables of
	// a JOIN without one stay visible by name.
	rels []*accessRel
	// items are the level's FROM items as a * expands them, in order: a
	// JOIN is one item with its columns (with or without an alias).
	items []*accessRel
}

// add appends a FROM item that is both named and expanded by a *.
func (s *accessScope) add(r *accessRel) {
	s.rels = append(s.rels, r)
	s.items = append(s.items, r)
}

// accessRel is one FROM item.
type accessRel struct {
	name string // alias, or the table's own name
	// base is set for a table named in the statement: its schema ("" when
	// search_path decides) and name.
	base    bool
	schema  string
	relname string
	// restricted maps a column the item exposes to the rule that limits
	// what the role sees of it (masked, pseudonym, null or deny).
	restricted map[string]*policy.ColumnRule
	// inj is the row rule injected for the item, if any.
	inj *injection
	// columns lists the item's columns in order, each with its rule, when
	// known is set (a table, a subquery or CTE whose outputs are all
	// known, a JOIN of such items without USING or NATURAL): for a * and
	// ORDER BY positions after it, and for an alias's column list
	// (renameColumns).
	columns []accessOutput
	known   bool
	// parts are the items a join alias joins, whose columns it has.
	parts []*accessRel
	// cols are the output names of a subquery or CTE that it names (those
	// after a * of unknown columns are missing).
	cols map[string]bool
	// renamed says an alias's column list renamed columns whose order is
	// not known: of its names only those in cols are certain.
	renamed bool
}

// hasColumn says whether the item has a column called name, for the
// binder (bind_columns.go): certainly, or not unless a table whose
// columns the catalog does not list has one, or perhaps (opaque). A
// wrong yes would bind a name short of an enclosing level's restricted
// column, so yes comes only from names phiguard reads: the rules, the
// catalog's columns of a table, the outputs a query names.
func (r *accessRel) hasColumn(name string) (yes bool, unless []TableName, opaque bool) {
	switch {
	case r.restricted[name] != nil || r.cols[name]:
		return true, nil, false
	case r.renamed:
		return false, nil, true
	}
	for _, c := range r.columns {
		if c.name == name {
			return true, nil, false
		}
	}
	switch {
	case r.known || (r.base && len(r.columns) > 0):
		return false, nil, false
	case r.base:
		return false, []TableName{{Schema: r.schema, Name: r.relname}}, false
	}
	for _, p := range r.parts {
		y, u, o := p.hasColumn(name)
		if y {
			return true, nil, false
		}
		unless, opaque = append(unless, u...), opaque || o
	}
	return false, unless, opaque || len(r.parts) == 0
}

// The binder's view of the access rewriter's levels and items.
func (s *accessScope) levelItems() []*accessRel { return s.rels }
func (s *accessScope) enclosing() *accessScope  { return s.parent }
func (r *accessRel) itemName() string           { return r.name }
func (r *accessRel) inSchema(schema string) bool {
	return r.base && (r.schema == "" || r.schema == schema)
}

func newAccessScope(parent *accessScope) *accessScope {
	return &accessScope{parent: parent}
}

func (s *accessScope) relNamed(name string) *accessRel {
	r, _ := namedItem[*accessScope, *accessRel](s, "", name)
	return r
}

// colRef is what a column reference turned out to read.
type colRef struct {
	rules    []*policy.ColumnRule // the restricted columns it reads
	wholeRow bool                 // a bare t or t.* used as one value
	star     bool
	outs     []accessOutput // what a * adds to a target list, in order
}

// starOutputs is what a * over the items adds to a target list: each
// item's columns in order, or, where they are not known, its restricted
// columns marked unknown (their position, and every later one's, is not
// known), or one unknown output for an item without restricted columns.
func starOutputs(items []*accessRel) []accessOutput {
	var outs []accessOutput
	for _, r := range items {
		if r.known {
			outs = append(outs, r.columns...)
			continue
		}
		outs = append(outs, accessOutput{unknown: true})
		names := make([]string, 0, len(r.restricted))
		for n := range r.restricted {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			outs = append(outs, accessOutput{name: n, rule: r.restricted[n], unknown: true})
		}
	}
	return outs
}

// resolve finds the restricted columns a reference reads. An unqualified
// name binds where the encryption planner binds it (bindColumnName): at
// the innermost level with an item that has a column of that name; an
// item whose columns phiguard cannot tell does not stop the search, so
// a restricted column further out still applies (fail closed).
func (w *accessWalker) resolve(ref *pg_query.ColumnRef, sc *accessScope) colRef {
	var names []string
	star := false
	for _, f := range ref.GetFields() {
		switch {
		case f.GetString_() != nil:
			names = append(names, f.GetString_().GetSval())
		case f.GetAStar() != nil:
			star = true
		}
	}
	switch {
	case star && len(names) == 0:
		var out colRef
		out.star = true
		for _, r := range sc.rels { // * expands the innermost level only
			out.rules = append(out.rules, sortedRules(r.restricted)...)
		}
		items := sc.items
		if len(items) == 0 {
			items = sc.rels
		}
		out.outs = starOutputs(items)
		return out
	case star:
		if r, ok := namedItem[*accessScope, *accessRel](sc, qualifierSchema(names, 1), names[len(names)-1]); ok {
			w.schemaPastInjection(qualifierSchema(names, 1), r)
			return colRef{rules: sortedRules(r.restricted), star: true, outs: starOutputs([]*accessRel{r})}
		}
		return colRef{star: true, outs: []accessOutput{{unknown: true}}}
	case len(names) == 1:
		w.systemColumn(names[0], nil, sc)
		b := bindColumnName[*accessScope, *accessRel](sc, names[0])
		if bindingTrace != nil {
			traceColumn("access", sc, ref.GetLocation(), b)
		}
		var rule *policy.ColumnRule
		for _, r := range b.items {
			if x := r.restricted[names[0]]; x != nil {
				rule = stricter(rule, x)
			}
		}
		switch {
		case rule != nil:
			return colRef{rules: []*policy.ColumnRule{rule}}
		case len(b.items) > 0:
			return colRef{} // bound to a column the role sees as it is
		}
		if r := sc.relNamed(names[0]); r != nil && len(r.restricted) > 0 && !w.hasColumn(r, names[0]) {
			return colRef{rules: sortedRules(r.restricted), wholeRow: true}
		}
		return colRef{}
	default:
		// q.col or schema.table.col: the item named q (the last qualifier).
		r, ok := namedItem[*accessScope, *accessRel](sc, qualifierSchema(names, 2), names[len(names)-2])
		if bindingTrace != nil {
			traceBinding("access", sc, ref.GetLocation(), r, ok, true)
		}
		if !ok {
			return colRef{}
		}
		col := names[len(names)-1]
		w.schemaPastInjection(qualifierSchema(names, 2), r)
		w.systemColumn(col, r, sc)
		if rule := r.restricted[col]; rule != nil {
			return colRef{rules: []*policy.ColumnRule{rule}}
		}
		if len(r.restricted) > 0 && w.columnNotation(r, col) {
			// Column notation: q.f, where q has no column f, is the
			// function f called on q's whole row (q.row_to_json is
			// row_to_json(q)).
			return colRef{rules: sortedRules(r.restricted), wholeRow: true}
		}
		return colRef{}
	}
}

// schemaPastInjection refuses schema.table.col (or schema.table.*) that
// names a table read through its row rule: the rule puts a subquery in
// its place, which a schema-qualified name does not reach, so PostgreSQL
// would bind it to an enclosing level's table of that name (an UPDATE's
// target: SET city = (SELECT public.patients.city FROM patients WHERE id
// = 'b') wrote the target's own city; red team 36) or fail.
func (w *accessWalker) schemaPastInjection(schema string, r *accessRel) {
	if schema == "" || r.inj == nil {
		return
	}
	rule := w.rowRule(r.schema, r.relname)
	name := policy.QuoteIdentifier(schema) + "." + policy.QuoteIdentifier(r.relname)
	w.refuseConstruct(rule.Name, rule.Table.String(), "a column named with its schema (%s.column) on table %s, which has a row rule, is not supported: name it by the table or its alias", name, rule.Table.String())
}

// hasColumn tells whether a base table is known to have a column of that
// name; unknown tables are taken not to, which makes a bare name that
// matches the item a whole-row reference (the stricter reading).
func (w *accessWalker) hasColumn(r *accessRel, col string) bool {
	if !r.base || w.objs == nil {
		return false
	}
	cols, ok := w.objs.Columns(r.schema, r.relname)
	if !ok {
		return false
	}
	for _, c := range cols {
		if c == col {
			return true
		}
	}
	return false
}

func sortedRules(m map[string]*policy.ColumnRule) []*policy.ColumnRule {
	out := make([]*policy.ColumnRule, 0, len(m))
	for _, r := range m {
		out = append(out, r)
	}
	// deterministic order for messages: by column name
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j].Column < out[j-1].Column; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

// restrictedColumns computes the restricted columns of a table as the
// statement names it. An unqualified name may resolve to a table of that
// name in any schema, so the rules of every such table count, the strictest
// winning.
func (w *accessWalker) restrictedColumns(schema, name string) map[string]*policy.ColumnRule {
	out := map[string]*policy.ColumnRule{}
	for _, sch := range w.candidateSchemas(schema, name) {
		for _, cr := range w.role.ColumnRules() {
			if cr.Table.Schema == sch && cr.Table.Name == name && cr.Action != policy.ActionPlaintext {
				out[cr.Column] = stricter(out[cr.Column], cr)
			}
		}
		if t, ok := w.pol.Table(sch, name); ok {
			for _, c := range t.Columns {
				if rule := w.pol.EffectiveColumnRule(w.role, sch, name, c.Name); rule != nil && rule.Action != policy.ActionPlaintext {
					out[c.Name] = stricter(out[c.Name], rule)
				}
			}
		}
	}
	w.addStatisticsColumns(schema, name, out)
	return out
}

// candidateSchemas lists the schemas a table reference may mean: the one
// written, or, for an unqualified name, every schema the policy knows a
// table of that name in.
func (w *accessWalker) candidateSchemas(schema, name string) []string {
	if schema != "" {
		return []string{schema}
	}
	var out []string
	add := func(s string) {
		for _, o := range out {
			if o == s {
				return
			}
		}
		out = append(out, s)
	}
	for _, t := range w.pol.TablesNamed(name) {
		add(t.Name.Schema)
	}
	for _, cr := range w.role.ColumnRules() {
		if cr.Table.Name == name {
			add(cr.Table.Schema)
		}
	}
	for _, rr := range w.role.RowRulesNamed(name) {
		add(rr.Table.Schema)
	}
	return out
}

var actionStrictness = map[policy.Action]int{
	policy.ActionPlaintext: 0, policy.ActionMasked: 1, policy.ActionPseudonym: 2,
	policy.ActionNull: 3, policy.ActionDeny: 4,
}

func stricter(a, b *policy.ColumnRule) *policy.ColumnRule {
	if a == nil || actionStrictness[b.Action] > actionStrictness[a.Action] {
		return b
	}
	return a
}
