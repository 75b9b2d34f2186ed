package sqlrewrite

import (
	pg_query "github.com/pganalyze/pg_query_go/v5"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// relationBinding says which relation names of a statement name a WITH
// query: each unqualified RangeVar bound to one maps to that query. Every
// other RangeVar names a relation of the catalog.
//
// It is the one answer to "WITH query or table?" for every reader of a
// statement: the analysis (Statement.CTEs, which tables the guard looks
// up), the encryption planner and the access rewriter each take it from
// bindRelations on their tree rather than keep a scope of WITH names of
// their own. Two such scopes once disagreed: the planner let a FROM
// subquery see only the enclosing levels, so a WITH query named inside
// one was taken for a table, and a constant compared with its encrypted
// column reached the database in clear (TestCTEInFromSubquery).
type relationBinding map[*pg_query.RangeVar]*pg_query.CommonTableExpr

// cte returns the WITH query rv names, or nil for a relation of the
// catalog.
func (b relationBinding) cte(rv *pg_query.RangeVar) *pg_query.CommonTableExpr { return b[rv] }

// cteFrame is one WITH name visible at a point of the tree.
type cteFrame struct {
	name string
	cte  *pg_query.CommonTableExpr
}

// bindRelations binds every unqualified relation name below root the way
// PostgreSQL does (parse_relation.c, scanNameSpaceForCTE): to the
// innermost WITH query of that name whose scope it is in. A WITH clause's
// scope is the statement that carries it, at any depth below (subqueries
// of FROM, LATERAL or not, of expressions, of set operations); inside the
// clause each query sees the queries before it, and under RECURSIVE all
// of them, itself included. An INSERT, UPDATE, DELETE or MERGE target and
// the new table of SELECT INTO are never WITH queries.
func bindRelations(root protoreflect.Message) relationBinding {
	b := relationBinding{}
	b.walk(root, nil)
	return b
}

func (b relationBinding) walk(m protoreflect.Message, scope []cteFrame) {
	switch n := m.Interface().(type) {
	case *pg_query.RangeVar:
		if n.Schemaname == "" && n.Catalogname == "" {
			if c := innermost(scope, n.Relname); c != nil {
				b[n] = c
			}
		}
		return
	case *pg_query.IntoClause:
		return // names the table SELECT INTO makes
	}
	fields := m.Descriptor().Fields()
	withFD := fields.ByName("with_clause")
	var with *pg_query.WithClause
	inner := scope
	if withFD != nil && withFD.Message() != nil && m.Has(withFD) {
		with, _ = m.Get(withFD).Message().Interface().(*pg_query.WithClause)
		inner = withFrames(scope, with.GetCtes())
	}
	target := isWrite(m)
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.Message() == nil:
		case with != nil && fd == withFD:
			b.withQueries(with, scope, inner)
		case target && fd.Name() == "relation":
			// the written table: a RangeVar, never a WITH query
		case fd.IsList():
			for i := 0; i < v.List().Len(); i++ {
				b.walk(v.List().Get(i).Message(), inner)
			}
		default:
			b.walk(v.Message(), inner)
		}
		return true
	})
}

// withQueries binds the names inside a WITH clause's queries: each sees
// scope and the queries before it, or all of them (all) under RECURSIVE.
func (b relationBinding) withQueries(with *pg_query.WithClause, scope, all []cteFrame) {
	seen := scope
	for _, c := range with.GetCtes() {
		see := seen
		if with.GetRecursive() {
			see = all
		}
		b.walk(c.ProtoReflect(), see)
		seen = withFrames(seen, []*pg_query.Node{c})
	}
}

// withFrames returns scope with the WITH queries ctes appended, innermost
// last; scope itself is not changed (its siblings share its array).
func withFrames(scope []cteFrame, ctes []*pg_query.Node) []cteFrame {
	out := make([]cteFrame, len(scope), len(scope)+len(ctes))
	copy(out, scope)
	for _, c := range ctes {
		if cte := c.GetCommonTableExpr(); cte != nil {
			out = append(out, cteFrame{name: cte.GetCtename(), cte: cte})
		}
	}
	return out
}

// innermost returns the WITH query the name binds to in scope, the last
// (innermost) of that name.
func innermost(scope []cteFrame, name string) *pg_query.CommonTableExpr {
	for i := len(scope) - 1; i >= 0; i-- {
		if scope[i].name == name {
			return scope[i].cte
		}
	}
	return nil
}

// boundCTEs returns the names of ctes (the WITH queries a statement
// binds, at any depth) that the statement names, unqualified, only where
// binding makes them a WITH query. A name it also names outside such a
// scope is left out: there PostgreSQL reads the relation of that name,
// which the proxy must check like any other
// (TestRedTeam31cViewNamedLikeOutOfScopeCTE: a view made since, named
// like a WITH query of a subquery, was taken for the WITH query and not
// read before the statement).
func boundCTEs(root protoreflect.Message, ctes []string) []string {
	if len(ctes) == 0 {
		return ctes
	}
	binding := bindRelations(root)
	free := map[string]bool{}
	walk(root, func(m protoreflect.Message) {
		if rv, ok := m.Interface().(*pg_query.RangeVar); ok && rv.Schemaname == "" && binding[rv] == nil {
			free[rv.Relname] = true
		}
	})
	var out []string
	for _, c := range ctes {
		if !free[c] {
			out = append(out, c)
		}
	}
	return out
}

func isWrite(m protoreflect.Message) bool {
	switch m.Interface().(type) {
	case *pg_query.InsertStmt, *pg_query.UpdateStmt, *pg_query.DeleteStmt, *pg_query.MergeStmt:
		return true
	}
	return false
}
