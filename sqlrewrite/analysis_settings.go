package sqlrewrite

import (
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v5"
	"google.golang.org/protobuf/reflect/protoreflect"
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
//   - a string constant holding a digit and a letter, and a string
//     constant given to timezone (AT TIME ZONE): a date or time input
//     reads a zone abbreviation under timezone_abbreviations (IST is
//     Israel's in Default, India's in India; TestRedTeam33aTimezoneAbbreviations);
//   - a cast to a string type (text, varchar, bpchar, name, "char") of a
//     constant expression (not a bare literal or parameter): PostgreSQL's
//     planner folds it, and float4out, float8out and the geometric types'
//     output (extra_float_digits) and byteaout (bytea_output) are
//     immutable, so a cached plan keeps the text of the moment it was
//     planned (TestRedTeam33aFloatDigits, TestRedTeam33aByteaOutput); a
//     column so cast, when the text has a subquery in FROM or a WITH
//     query, whose constant columns the planner pulls up into the cast.
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
		return len(names) > 0 && (unreportedArgs(names[len(names)-1].GetString_().GetSval()) ||
			names[len(names)-1].GetString_().GetSval() == "timezone" && stringArg(n.GetArgs()))
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
	if strings.ContainsAny(s, "0123456789") && strings.ContainsFunc(s, func(r rune) bool { return 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' }) {
		return true // a zone abbreviation (timezone_abbreviations)
	}
	l := strings.ToLower(s)
	for _, w := range []string{"null", "now", "today", "tomorrow", "yesterday"} {
		if strings.Contains(l, w) {
			return true
		}
	}
	return false
}

// stringArg: one of args is a string constant.
func stringArg(args []*pg_query.Node) bool {
	for _, a := range args {
		if a.GetAConst().GetSval() != nil {
			return true
		}
	}
	return false
}

// noteSettings notes what node n tells of SettingsFree.
func (a *Analysis) noteSettings(n any) {
	a.settingDependent = a.settingDependent || settingDependent(n)
	switch n := n.(type) {
	case *pg_query.TypeCast:
		folded, column := castToText(n)
		a.settingDependent = a.settingDependent || folded
		a.columnText = a.columnText || column
	case *pg_query.RangeSubselect, *pg_query.CommonTableExpr:
		a.derived = true
	}
}

// textTypes are the string types a cast of any type to one is an output
// function's text.
var textTypes = map[string]bool{"text": true, "varchar": true, "bpchar": true, "name": true, "char": true}

// castToText: tc casts to a string type a constant expression the
// planner folds (folded), or an expression of a column (column); a bare
// literal or an expression of a parameter is neither.
func castToText(tc *pg_query.TypeCast) (folded, column bool) {
	names := tc.GetTypeName().GetNames()
	if len(names) == 0 || !textTypes[names[len(names)-1].GetString_().GetSval()] || tc.GetArg().GetAConst() != nil {
		return false, false
	}
	param := false
	walk(tc.GetArg().ProtoReflect(), func(m protoreflect.Message) {
		switch m.Interface().(type) {
		case *pg_query.ColumnRef:
			column = true
		case *pg_query.ParamRef:
			param = true
		}
	})
	return !column && !param, column
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
	return a != nil && a.Err == nil && !a.settingDependent && !(a.columnText && a.derived)
}
