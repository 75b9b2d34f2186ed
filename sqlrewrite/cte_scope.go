package sqlrewrite

import (
	"slices"

	pg_query "github.com/pganalyze/pg_query_go/v5"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// boundCTEs returns the names of ctes (the WITH queries a statement
// binds, at any depth) that the statement names, unqualified, only
// inside the scope of a WITH query of that name. A name it also names
// outside such a scope is left out: there PostgreSQL reads the relation
// of that name, which the proxy must check like any other
// (TestRedTeam31cViewNamedLikeOutOfScopeCTE: a view made since, named
// like a WITH query of a subquery, was taken for the WITH query and not
// read before the statement). A scope: the statement that has the WITH
// clause, and in the clause each query sees the names before it (all of
// them under RECURSIVE). An INSERT, UPDATE, DELETE or MERGE target is
// never a WITH query.
func boundCTEs(node protoreflect.Message, ctes []string) []string {
	if len(ctes) == 0 {
		return ctes
	}
	free := map[string]bool{}
	freeRefs(node, nil, ctes, free)
	if len(free) == 0 {
		return ctes
	}
	var out []string
	for _, c := range ctes {
		if !free[c] {
			out = append(out, c)
		}
	}
	return out
}

// freeRefs adds to free the names of ctes that m names outside scope.
func freeRefs(m protoreflect.Message, scope, ctes []string, free map[string]bool) {
	if rv, ok := m.Interface().(*pg_query.RangeVar); ok {
		if rv.Schemaname == "" && slices.Contains(ctes, rv.Relname) && !slices.Contains(scope, rv.Relname) {
			free[rv.Relname] = true
		}
		return
	}
	fields := m.Descriptor().Fields()
	withFD := fields.ByName("with_clause")
	var with *pg_query.WithClause
	inner := scope
	if withFD != nil && withFD.Message() != nil && m.Has(withFD) {
		with, _ = m.Get(withFD).Message().Interface().(*pg_query.WithClause)
		for _, c := range with.GetCtes() {
			inner = append(slices.Clip(inner), c.GetCommonTableExpr().GetCtename())
		}
	}
	_, target := m.Interface().(interface{ GetRelation() *pg_query.RangeVar })
	target = target && isWrite(m)
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.Message() == nil:
		case with != nil && fd == withFD:
			withRefs(with, scope, inner, ctes, free)
		case target && fd.Name() == "relation":
			freeRefs(v.Message(), nil, ctes, free)
		case fd.IsList():
			for i := 0; i < v.List().Len(); i++ {
				freeRefs(v.List().Get(i).Message(), inner, ctes, free)
			}
		default:
			freeRefs(v.Message(), inner, ctes, free)
		}
		return true
	})
}

// withRefs walks a WITH clause's queries: each sees scope and the names
// before it, or all of them (all) under RECURSIVE.
func withRefs(with *pg_query.WithClause, scope, all, ctes []string, free map[string]bool) {
	seen := scope
	for _, c := range with.GetCtes() {
		s := seen
		if with.GetRecursive() {
			s = all
		}
		freeRefs(c.ProtoReflect(), s, ctes, free)
		seen = append(slices.Clip(seen), c.GetCommonTableExpr().GetCtename())
	}
}

func isWrite(m protoreflect.Message) bool {
	switch m.Interface().(type) {
	case *pg_query.InsertStmt, *pg_query.UpdateStmt, *pg_query.DeleteStmt, *pg_query.MergeStmt:
		return true
	}
	return false
}
