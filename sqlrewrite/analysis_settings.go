package sqlrewrite

import (
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v5"
)

// Constants PostgreSQL fixes when it analyses a text under settings it
// does not report (guard/plan_reuse.go: a reused plan keeps what they
// were when it was prepared, and a configuration reload or a function of
// the database's own may change them unseen; TestRedTeam32aConfigReload,
// TestRedTeam32aSettingInShadowedBuiltin). A text holding none of them
// is analysed the same under any value of those settings:
//
//   - x = NULL, which transform_null_equals makes x IS NULL;
//   - a string constant holding "null" in any case: an array's input
//     reads an unquoted NULL as null or as a string under array_nulls;
//   - a string constant naming a moment ('now', 'today', 'tomorrow',
//     'yesterday'): a date or time input takes the moment of analysis;
//   - a money constant (lc_monetary reads it): a cast to money, an XML
//     constant (xmloption reads it): a cast to xml or an XML expression,
//     and a call of pg_catalog's functions of a money or xml argument
//     (cash_*, *_cash, xml*, xpath*), which would take a string constant
//     as one; a string compared with a money or xml column is the
//     catalog's to see (guard's labelTypes);
//   - a backslash anywhere in the text: backslash_quote decides whether
//     an escape string may write \'.
//
// DateStyle, IntervalStyle, TimeZone, standard_conforming_strings and
// client_encoding are reported by the backend, and search_path is
// PostgreSQL's own to re-analyse for.
func settingDependent(n any) bool {
	switch n := n.(type) {
	case *pg_query.A_Expr:
		return nullEquals(n)
	case *pg_query.A_Const:
		return momentOrNull(n.GetSval().GetSval())
	case *pg_query.TypeName:
		names := n.GetNames()
		return len(names) > 0 && unreportedInput(names[len(names)-1].GetString_().GetSval())
	case *pg_query.FuncCall:
		names := n.GetFuncname()
		return len(names) > 0 && unreportedArgs(names[len(names)-1].GetString_().GetSval())
	case *pg_query.XmlExpr, *pg_query.XmlSerialize:
		return true
	}
	return false
}

// nullEquals: x = NULL or NULL = x, the form transform_null_equals
// rewrites (PostgreSQL's transformAExprOp).
func nullEquals(e *pg_query.A_Expr) bool {
	if e.GetKind() != pg_query.A_Expr_Kind_AEXPR_OP || len(e.GetName()) != 1 || e.GetName()[0].GetString_().GetSval() != "=" {
		return false
	}
	isNull := func(n *pg_query.Node) bool { return n.GetAConst().GetIsnull() }
	return isNull(e.GetLexpr()) || isNull(e.GetRexpr())
}

// momentOrNull: a string constant an array's input or a date's reads
// differently by a setting or the moment.
func momentOrNull(s string) bool {
	if s == "" {
		return false
	}
	l := strings.ToLower(s)
	for _, w := range []string{"null", "now", "today", "tomorrow", "yesterday"} {
		if strings.Contains(l, w) {
			return true
		}
	}
	return false
}

// unreportedInput: a type whose input reads a setting PostgreSQL does not
// report.
func unreportedInput(typ string) bool { return typ == "money" || typ == "xml" }

// unreportedArgs: a pg_catalog function with an argument of such a type.
func unreportedArgs(fn string) bool {
	return unreportedInput(fn) || strings.HasPrefix(fn, "cash") || strings.HasSuffix(fn, "_cash") ||
		strings.HasPrefix(fn, "xml") || strings.HasPrefix(fn, "xpath")
}

// SettingsFree reports whether the text's analysis reads no setting
// PostgreSQL does not report and no moment (settingDependent): a plan
// PostgreSQL caches for it answers as the text would now.
func (a *Analysis) SettingsFree() bool {
	return a != nil && a.Err == nil && !a.settingDependent && !strings.Contains(a.sql, `\`)
}
