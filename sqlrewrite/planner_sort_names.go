package sqlrewrite

import (
	pg_query "github.com/pganalyze/pg_query_go/v5"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// An ORDER BY item that is a bare name names the select-list entry of
// that output name before any input column (PostgreSQL's SQL-92 rule), so
// the planner must figure each entry's name exactly as PostgreSQL does
// (FigureColnameInternal in parse_target.c): an entry it names wrongly
// would have the proxy sort by an encrypted input column where
// PostgreSQL sorts by the entry, and answer in a different order.

// nameUnknown is figureName's strength for an expression PostgreSQL
// names after a column phiguard does not see: a scalar subquery whose
// output is a * ((SELECT * FROM (VALUES (1)) z(tag)) is named tag), or a
// cast or CASE named after one.
const nameUnknown = -1

// figureName is PostgreSQL's name for an expression and how strongly it
// holds (2: a column or function name, 1: a type or construct name, 0:
// none), which decides whether a cast or CASE names its result after
// its argument or after itself.
func figureName(n *pg_query.Node) (string, int) {
	switch {
	case n.GetColumnRef() != nil:
		return lastString(n.GetColumnRef().GetFields())
	case n.GetAIndirection() != nil:
		if name, s := lastString(n.GetAIndirection().GetIndirection()); s > 0 {
			return name, s
		}
		return figureName(n.GetAIndirection().GetArg())
	case n.GetFuncCall() != nil:
		f := n.GetFuncCall().GetFuncname()
		return f[len(f)-1].GetString_().GetSval(), 2
	case n.GetAExpr() != nil && n.GetAExpr().GetKind() == pg_query.A_Expr_Kind_AEXPR_NULLIF:
		return "nullif", 2
	case n.GetTypeCast() != nil:
		if name, s := figureName(n.GetTypeCast().GetArg()); s > 1 || s == nameUnknown {
			return name, s
		}
		if names := n.GetTypeCast().GetTypeName().GetNames(); len(names) > 0 {
			return names[len(names)-1].GetString_().GetSval(), 1
		}
	case n.GetCollateClause() != nil:
		return figureName(n.GetCollateClause().GetArg())
	case n.GetGroupingFunc() != nil:
		return "grouping", 2
	case n.GetSubLink() != nil:
		return subLinkName(n.GetSubLink())
	case n.GetCaseExpr() != nil:
		if name, s := figureName(n.GetCaseExpr().GetDefresult()); s > 1 || s == nameUnknown {
			return name, s
		}
		return "case", 1
	case n.GetAArrayExpr() != nil:
		return "array", 2 // ARRAY[1]::text is named array, as a function would be
	case n.GetRowExpr() != nil:
		return "row", 2
	case n.GetXmlExpr() != nil:
		return xmlName(n.GetXmlExpr().GetOp())
	case n.GetXmlSerialize() != nil:
		return "xmlserialize", 2
	case n.GetCoalesceExpr() != nil:
		return "coalesce", 2
	case n.GetMinMaxExpr() != nil:
		if n.GetMinMaxExpr().GetOp() == pg_query.MinMaxOp_IS_GREATEST {
			return "greatest", 2
		}
		return "least", 2
	case n.GetSqlvalueFunction() != nil:
		return sqlValueName(n.GetSqlvalueFunction().GetOp()), 2
	}
	return "", 0
}

// lastString is the last name among fields (ignoring * and subscripts).
func lastString(fields []*pg_query.Node) (string, int) {
	name := ""
	for _, f := range fields {
		if f.GetString_() != nil {
			name = f.GetString_().GetSval()
		}
	}
	if name == "" {
		return "", 0
	}
	return name, 2
}

// subLinkName: EXISTS and ARRAY are named so, a scalar subquery after its
// single output column (of its leftmost branch): column1 of a VALUES,
// and, of a * (or q.*, or (x).*), the column it expands to, which
// phiguard does not see (nameUnknown; it took it for ?column?, or q, and
// a FROM subquery of it seemed to lack the column: red team 36).
func subLinkName(sl *pg_query.SubLink) (string, int) {
	switch sl.GetSubLinkType() {
	case pg_query.SubLinkType_EXISTS_SUBLINK:
		return "exists", 2
	case pg_query.SubLinkType_ARRAY_SUBLINK:
		return "array", 2
	case pg_query.SubLinkType_EXPR_SUBLINK:
		s := sl.GetSubselect().GetSelectStmt()
		for s != nil && s.GetOp() != pg_query.SetOperation_SETOP_NONE {
			s = s.GetLarg()
		}
		switch {
		case s == nil:
		case len(s.GetValuesLists()) > 0:
			return "column1", 2
		case len(s.GetTargetList()) > 0:
			rt := s.GetTargetList()[0].GetResTarget()
			val := rt.GetVal()
			if rt.GetName() == "" && ((val.GetColumnRef() != nil && starRef(val.GetColumnRef())) || fieldStar(val)) {
				return "", nameUnknown
			}
			if name, _ := outputName(rt); name != "" {
				return name, 2
			}
			return "", nameUnknown
		}
	}
	return "", 0
}

// xmlName names an XML construct as PostgreSQL does (IS DOCUMENT has
// none).
func xmlName(op pg_query.XmlExprOp) (string, int) {
	name := map[pg_query.XmlExprOp]string{
		pg_query.XmlExprOp_IS_XMLCONCAT: "xmlconcat", pg_query.XmlExprOp_IS_XMLELEMENT: "xmlelement",
		pg_query.XmlExprOp_IS_XMLFOREST: "xmlforest", pg_query.XmlExprOp_IS_XMLPARSE: "xmlparse",
		pg_query.XmlExprOp_IS_XMLPI: "xmlpi", pg_query.XmlExprOp_IS_XMLROOT: "xmlroot",
		pg_query.XmlExprOp_IS_XMLSERIALIZE: "xmlserialize",
	}[op]
	if name == "" {
		return "", 0
	}
	return name, 2
}

func sqlValueName(op pg_query.SQLValueFunctionOp) string {
	switch op {
	case pg_query.SQLValueFunctionOp_SVFOP_CURRENT_DATE:
		return "current_date"
	case pg_query.SQLValueFunctionOp_SVFOP_CURRENT_TIME, pg_query.SQLValueFunctionOp_SVFOP_CURRENT_TIME_N:
		return "current_time"
	case pg_query.SQLValueFunctionOp_SVFOP_CURRENT_TIMESTAMP, pg_query.SQLValueFunctionOp_SVFOP_CURRENT_TIMESTAMP_N:
		return "current_timestamp"
	case pg_query.SQLValueFunctionOp_SVFOP_LOCALTIME, pg_query.SQLValueFunctionOp_SVFOP_LOCALTIME_N:
		return "localtime"
	case pg_query.SQLValueFunctionOp_SVFOP_LOCALTIMESTAMP, pg_query.SQLValueFunctionOp_SVFOP_LOCALTIMESTAMP_N:
		return "localtimestamp"
	case pg_query.SQLValueFunctionOp_SVFOP_CURRENT_ROLE:
		return "current_role"
	case pg_query.SQLValueFunctionOp_SVFOP_CURRENT_USER:
		return "current_user"
	case pg_query.SQLValueFunctionOp_SVFOP_USER:
		return "user"
	case pg_query.SQLValueFunctionOp_SVFOP_SESSION_USER:
		return "session_user"
	case pg_query.SQLValueFunctionOp_SVFOP_CURRENT_CATALOG:
		return "current_catalog"
	case pg_query.SQLValueFunctionOp_SVFOP_CURRENT_SCHEMA:
		return "current_schema"
	}
	return ""
}

// sameExpr: two expressions written alike (where they were written
// aside). PostgreSQL calls an ORDER BY name matching two entries
// ambiguous unless their expressions are equal; this is stricter (it
// compares them as written, not as resolved), which can only refuse.
func sameExpr(a, b *pg_query.Node) bool {
	strip := func(n *pg_query.Node) proto.Message {
		c := proto.Clone(n)
		walk(c.ProtoReflect(), func(m protoreflect.Message) {
			if fd := m.Descriptor().Fields().ByName("location"); fd != nil {
				m.Clear(fd)
			}
		})
		return c
	}
	return proto.Equal(strip(a), strip(b))
}
