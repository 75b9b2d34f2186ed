package sqlrewrite

import (
	pg_query "github.com/pganalyze/pg_query_go/v5"
	"github.com/phiguard/phiguard/policy"
)

// Case folding in proxy-side WHERE (issue 13, docs/search.md): ILIKE
// (and its ~~* / !~~* spelling), and lower() or upper() around the
// encrypted column or around the constant it is compared with
// (lower(name) = lower($1)). PostgreSQL's ILIKE in a UTF8 database is
// LIKE on lower() of both sides under the ILIKE's collation
// (like.c, Generic_Text_IC_like); lower() and upper() map case under
// their argument's collation: ASCII only when its LC_CTYPE is C or POSIX
// (lc_ctype_is_c), towlower_l/towupper_l under another libc locale,
// ICU's full mapping under an ICU one. The proxy maps case only where it
// knows PostgreSQL's mapping (C and POSIX), so each such filter carries
// a hidden probe of the LC_CTYPE that applies: the column's collation
// for the column side and the ILIKE itself, the database's default for a
// folded constant (a literal or parameter has the default collation);
// anything else is refused when the first row arrives (0A000).

// Fold is a lower() or upper() call around a filter's column or constant.
type Fold uint8

const (
	FoldNone Fold = iota
	FoldLower
	FoldUpper
)

// Wrap writes the call around s (a column or constant), for messages.
func (f Fold) Wrap(s string) string {
	switch f {
	case FoldLower:
		return "lower(" + s + ")"
	case FoldUpper:
		return "upper(" + s + ")"
	}
	return s
}

// ILike reports whether the comparison is [NOT] ILIKE.
func (op FilterOp) ILike() bool { return op == FilterILike || op == FilterNotILike }

// likeOps are the pattern-matching operators by their name in the tree:
// LIKE and ILIKE (AEXPR_LIKE, AEXPR_ILIKE) and the same operators
// spelled out (AEXPR_OP).
var likeOps = map[string]FilterOp{"~~": FilterLike, "!~~": FilterNotLike, "~~*": FilterILike, "!~~*": FilterNotILike}

// foldOf is the Fold of a call to lower() or upper() (as written or
// pg_catalog-qualified) of one plain argument, and that argument.
func foldOf(n *pg_query.Node) (Fold, *pg_query.Node) {
	fc := n.GetFuncCall()
	if fc == nil || len(fc.GetArgs()) != 1 || fc.GetAggStar() || fc.GetAggDistinct() || fc.GetFuncVariadic() ||
		fc.GetOver() != nil || fc.GetAggFilter() != nil || len(fc.GetAggOrder()) > 0 || fc.GetArgs()[0].GetNamedArgExpr() != nil {
		return FoldNone, nil
	}
	fold := map[string]Fold{"lower": FoldLower, "upper": FoldUpper, "pg_catalog.lower": FoldLower,
		"pg_catalog.upper": FoldUpper}[funcName(fc)]
	if fold == FoldNone {
		return FoldNone, nil
	}
	return fold, fc.GetArgs()[0]
}

// filterTarget is the encrypted column n names, bare or inside lower()
// or upper().
func (p *planner) filterTarget(n *pg_query.Node, sc *scope) (*policy.ProtectedColumn, Fold) {
	if fold, arg := foldOf(n); fold != FoldNone {
		return p.filterColumn(arg, sc), fold
	}
	return p.filterColumn(n, sc), FoldNone
}

// foldedArg is filterArg for lower(c) or upper(c) of a constant c that
// PostgreSQL types text: a quoted literal or a parameter, cast to text
// or varchar or not, without a sign (nothing else has a lower()).
func (p *planner) foldedArg(fold Fold, inner *pg_query.Node) (FilterArg, bool) {
	if c := inner.GetAConst(); c != nil && (c.GetIval() != nil || c.GetFval() != nil || c.GetBoolval() != nil) {
		return FilterArg{}, false
	}
	a, ok := p.filterArg(inner)
	if !ok || a.Negative || a.Bool != "" || a.Fold != FoldNone ||
		a.Type != 0 && a.Type != policy.OIDText && a.Type != policy.OIDVarchar {
		return a, false
	}
	a.Fold = fold
	return a, true
}

// folds reports whether a filter maps case anywhere: on its column, an
// ILIKE, or on a constant.
func (f *filterCand) folds() bool {
	if f.fold != FoldNone || f.op.ILike() {
		return true
	}
	for _, a := range f.args {
		if a.Fold != FoldNone {
			return true
		}
	}
	return false
}

// foldable: a filter that maps case compares text (text or varchar; a
// bpchar would lose its padding to a cast first). Either it is that, or
// it is no filter, and the expression planner refuses it as before.
func (f *filterCand) foldable() bool {
	return !f.folds() || f.col.Type.OID == policy.OIDText || f.col.Type.OID == policy.OIDVarchar
}

// addFoldProbes lays out the hidden LC_CTYPE probes of a filter that
// maps case (ctypeProbe): the column's for its lower()/upper() and an
// ILIKE, the database default's for a folded constant.
func (f *Filter) addFoldProbes(c filterCand, add func(hiddenColumn) int) {
	f.Ctype, f.DefaultCtype = -1, -1
	if c.fold != FoldNone || c.op.ILike() {
		f.Ctype = add(hiddenColumn{kind: hiddenCtype, col: c.col, calls: c.fold != FoldNone})
	}
	for _, a := range c.args {
		if a.Fold != FoldNone {
			f.DefaultCtype = add(hiddenColumn{kind: hiddenCtype, calls: true})
			break
		}
	}
}

// ctypeProbe is the hidden column telling the collation under which
// PostgreSQL maps the case of col's values: col's collation's OID
// (collationProbe), or for col nil (a constant) the database default's,
// 100; the proxy reads its LC_CTYPE from its catalog. With calls, a
// function named lower or upper that the session can see outside
// pg_catalog makes it "shadowed":
// the statement's lower() might be that one (an exact match on a varchar
// argument, or earlier in search_path). PostgreSQL runs it once per
// statement.
func ctypeProbe(col *policy.ProtectedColumn, calls, analysed bool) string {
	probe := "CAST('100' AS pg_catalog.text)"
	if col != nil {
		probe = collationProbe(col, analysed)
	}
	if !calls {
		return probe
	}
	// A function the session can see outside pg_catalog, compared with
	// pg_catalog's = and <> by name: the probe runs under the client's
	// search_path (planner_shadow.go).
	return "(SELECT CASE WHEN EXISTS (SELECT 1 FROM pg_catalog.pg_proc f WHERE f.proname OPERATOR(pg_catalog.=) ANY (CAST(ARRAY['lower', 'upper'] AS pg_catalog.name[])) AND " +
		"f.pronamespace OPERATOR(pg_catalog.<>) CAST(11 AS pg_catalog.oid) AND pg_catalog.pg_function_is_visible(f.oid)) THEN 'shadowed' ELSE " + probe + " END)"
}

// filterOperandConst: a filter's constant operand as the text cut finds
// it: a constant (filterConst) or lower()/upper() of one.
func filterOperandConst(n *pg_query.Node) bool {
	if fold, arg := foldOf(n); fold != FoldNone {
		return filterConst(arg)
	}
	return filterConst(n)
}

// unfold is the span of the column inside lower( … ) or upper( … ) in
// tokens [a, b): the tokens between the call's parentheses.
func (c *sortCut) unfold(a, b int) ([2]int, bool) {
	for i := a; i < b; i++ {
		if c.depth[i] == c.depth[a] && c.tok(i) == pg_query.Token_ASCII_40 {
			if c.closing(i, b) != b-1 {
				return [2]int{}, false
			}
			return [2]int{i + 1, b - 1}, true
		}
	}
	return [2]int{}, false
}
