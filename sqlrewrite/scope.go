package sqlrewrite

import (
	"maps"
	"slices"

	pg_query "github.com/pganalyze/pg_query_go/v5"
	"github.com/phiguard/phiguard/policy"
)

// A scope is the set of relations one query level can name in its
// expressions: its FROM items, and through parent, the enclosing levels'
// (correlated subqueries). Each relation is either a protected table or a
// derived one (subquery, CTE) whose output columns may carry protection
// from the table they came from.
type scope struct {
	parent    *scope
	relations []*relation
	// checks collects what the plan leaves to the catalog (scope_columns.go).
	checks *catalogChecks
	// sel is the level's SELECT, into whose WHERE a probe that an item
	// lacks a name goes (scope_probe.go); home is the level a copy made
	// for a JOIN's ON or a subquery's own FROM stands for (nil: itself).
	sel  *pg_query.SelectStmt
	home *scope
}

type relation struct {
	name    string                             // alias, or the table's own name
	table   *policy.ProtectedTable             // a protected base table, or nil
	outputs map[string]*policy.ProtectedColumn // protected output columns of a derived relation
	// columns is what else the relation has, for binding an unqualified
	// name to the level PostgreSQL binds it to (bindName,
	// scope_columns.go).
	columns relationColumns
}

// newScope is a query level inside parent (nil: a statement's top).
func (p *planner) newScope(parent *scope) *scope {
	return &scope{parent: parent, checks: &p.checks}
}

// column returns the protected column a relation exposes under name.
func (r *relation) column(name string) *policy.ProtectedColumn {
	if r.table != nil {
		if c, ok := r.table.Column(name); ok {
			return c
		}
		return nil
	}
	return r.outputs[name]
}

// protectedColumns lists every protected column a relation exposes, for
// `*` and whole-row references.
func (r *relation) protectedColumns() []*policy.ProtectedColumn {
	if r.table != nil {
		return r.table.Columns
	}
	// In the order of the output names: a refusal names the first, and
	// the same statement must name the same column every time.
	var out []*policy.ProtectedColumn
	for _, name := range slices.Sorted(maps.Keys(r.outputs)) {
		out = append(out, r.outputs[name])
	}
	return out
}

// refKind is what a ColumnRef turned out to name.
type refKind uint8

const (
	refPlain     refKind = iota // not protected (or not resolvable to anything protected)
	refColumn                   // one protected column
	refStar                     // * or t.* over a relation with protected columns
	refWholeRow                 // a bare t: a whole row, as one composite value, with protected columns
	refAmbiguous                // an unqualified name two protected columns of a level, or an inner item phiguard cannot see into, could be
)

// resolve finds what a column reference names. An unqualified name binds
// at the innermost level with an item that has a column of that name
// (bindName, scope_columns.go); the tables' columns, which phiguard does
// not see, are left to the guard's catalog (Plan.Unshadowed).
func (s *scope) resolve(ref *pg_query.ColumnRef) (refKind, *policy.ProtectedColumn) {
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
	case star && len(names) == 0: // *
		for lvl := s; lvl != nil; lvl = lvl.parent {
			for _, r := range lvl.relations {
				if len(r.protectedColumns()) > 0 {
					return refStar, nil
				}
			}
			break // * expands only the innermost level
		}
		return refPlain, nil
	case star:
		if r, ok := namedItem[*scope, *relation](s, qualifierSchema(names, 1), names[len(names)-1]); ok && len(r.protectedColumns()) > 0 {
			return refStar, nil
		}
		return refPlain, nil
	case len(names) == 1:
		return s.bindName(names[0], ref.GetLocation()) // scope_columns.go
	default:
		// [schema.]table.column: the relation the last qualifier names;
		// with a schema, a protected table must be in that schema.
		qual, col := names[len(names)-2], names[len(names)-1]
		r, ok := namedItem[*scope, *relation](s, qualifierSchema(names, 2), qual)
		if bindingTrace != nil {
			traceBinding("planner", s, ref.GetLocation(), r, ok, true)
		}
		if ok {
			return s.qualifiedColumn(r, qual, col) // scope_columns.go
		}
		return refPlain, nil
	}
}

func (s *scope) relationNamed(name string) *relation {
	r, _ := namedItem[*scope, *relation](s, "", name)
	return r
}

// The binder's view of the planner's levels and items (bind_columns.go).
func (s *scope) levelItems() []*relation { return s.relations }
func (s *scope) enclosing() *scope       { return s.parent }
func (r *relation) itemName() string     { return r.name }
func (r *relation) inSchema(schema string) bool {
	switch {
	case r.table != nil:
		return r.table.Name.Schema == schema
	case r.columns.table != nil: // a plain table: where search_path finds it, when unqualified
		return r.columns.table.Schema == "" || r.columns.table.Schema == schema
	}
	return false // a subquery, WITH query or function: no schema names it
}

// level is the query level sc stands for: itself, or the level a copy
// was made of.
func (sc *scope) level() *scope {
	if sc.home != nil {
		return sc.home
	}
	return sc
}

// joinedColumn is the protected column called name of a JOIN's members,
// which its USING list names (no other item's).
func joinedColumn(members []*relation, name string) *policy.ProtectedColumn {
	for _, r := range members {
		if c := r.column(name); c != nil {
			return c
		}
	}
	return nil
}

// onScope is the scope of the ON condition of a JOIN whose items are
// sc.relations[first:]: PostgreSQL lets it see the JOIN's own items and
// the enclosing levels, not the items of its level before the JOIN (FROM
// a, b JOIN c ON x: x is b's, c's, or an enclosing level's column, never
// a's; TestRedTeam36JoinOnScope: a's plain column taken for it sent a
// constant compared with an outer encrypted column in clear). Those items
// are kept as a last level past the outermost, where PostgreSQL finds
// nothing ("cannot be referenced from this part of the query"): a name
// only they have stays theirs, so a constant compared with one of their
// encrypted columns stays encrypted in the text PostgreSQL rejects.
func onScope(sc *scope, first int) *scope {
	if first == 0 {
		return sc
	}
	on := &scope{relations: slices.Clone(sc.relations[first:]), checks: sc.checks, home: sc.level()}
	last := on
	for up := sc.parent; up != nil; up = up.parent {
		last.parent = &scope{relations: up.relations, checks: up.checks, home: up.level()}
		last = last.parent
	}
	last.parent = &scope{relations: slices.Clone(sc.relations[:first]), checks: sc.checks}
	return on
}

func anyColumn(m map[string]*policy.ProtectedColumn) *policy.ProtectedColumn {
	for _, c := range m {
		return c
	}
	return nil
}

func firstColumn(sc *scope) *policy.ProtectedColumn {
	for lvl := sc; lvl != nil; lvl = lvl.parent {
		for _, r := range lvl.relations {
			if cs := r.protectedColumns(); len(cs) > 0 {
				return cs[0]
			}
		}
	}
	return nil
}
