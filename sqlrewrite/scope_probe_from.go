package sqlrewrite

import (
	"slices"

	pg_query "github.com/pganalyze/pg_query_go/v5"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// fromKeyword is the index in toks of sel's own FROM keyword, -1 when
// it cannot tell. With a select list, it is the first FROM after the
// list's last entry's start at that entry's depth (a FROM inside an
// entry is in parentheses, IS DISTINCT FROM's, or a column's name after
// a dot or AS). Without one (SELECT
// FROM x), it is the keyword before the first FROM item's first place
// outside any SELECT nested in it: the first place of (SELECT FROM y) s
// is y, after the subquery's own FROM, where the lack probe went,
// naming items the subquery does not see or its own items of the same
// names (red team 38b).
func fromKeyword(toks []*pg_query.ScanToken, sel *pg_query.SelectStmt) int {
	if tl := sel.GetTargetList(); len(tl) > 0 {
		start := leftmost(tl[len(tl)-1])
		k := slices.IndexFunc(toks, func(t *pg_query.ScanToken) bool { return t.GetStart() >= start })
		if start < 0 || k < 0 {
			return -1
		}
		depth := 0
		for ; k < len(toks); k++ {
			switch toks[k].GetToken() {
			case pg_query.Token_ASCII_40: // (
				depth++
			case pg_query.Token_ASCII_41: // )
				if depth--; depth < 0 {
					return -1
				}
			case pg_query.Token_FROM:
				prev := pg_query.Token_NUL
				if j := prevReal(toks, k, -1); j >= 0 {
					prev = toks[j].GetToken()
				}
				switch prev {
				case pg_query.Token_DISTINCT, pg_query.Token_ASCII_46, pg_query.Token_AS: // IS DISTINCT FROM, x.from, AS from
				default:
					if depth == 0 {
						return k
					}
				}
			}
		}
		return -1
	}
	var first int32 = -1
	for _, item := range sel.GetFromClause() {
		if loc := firstLocation(item.ProtoReflect(), false); loc >= 0 && (first < 0 || loc < first) {
			first = loc
		}
	}
	return keywordBefore(toks, first, pg_query.Token_FROM)
}

// firstLocation is the first place in the text of m's subtree, -1 when
// none; intoSelects false leaves out any SELECT nested in it (the first
// place of (SELECT FROM y) s outside its subquery).
func firstLocation(m protoreflect.Message, intoSelects bool) int32 {
	if _, ok := m.Interface().(*pg_query.SelectStmt); ok && !intoSelects {
		return -1
	}
	var first int32 = -1
	take := func(loc int32) {
		if loc >= 0 && (first < 0 || loc < first) {
			first = loc
		}
	}
	if fd := m.Descriptor().Fields().ByName("location"); fd != nil && fd.Kind() == protoreflect.Int32Kind {
		take(int32(m.Get(fd).Int()))
	}
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.Message() == nil || fd.IsMap():
		case fd.IsList():
			for i := 0; i < v.List().Len(); i++ {
				take(firstLocation(v.List().Get(i).Message(), intoSelects))
			}
		default:
			take(firstLocation(v.Message(), intoSelects))
		}
		return true
	})
	return first
}
