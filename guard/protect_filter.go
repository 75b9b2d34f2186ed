package guard

import (
	"github.com/phiguard/phiguard/internal/pgerr"
	"github.com/phiguard/phiguard/internal/pgorder"
	"github.com/phiguard/phiguard/policy"
	"github.com/phiguard/phiguard/sqlrewrite"
)

// Proxy-side WHERE (docs/search.md, sqlrewrite/planner_filter.go): the
// conjuncts of a statement's WHERE that compare an encrypted column with
// constants are evaluated here, on each held row of a sortRun, before it
// is held (so a row the WHERE drops costs no memory) and so before the
// sort, OFFSET and LIMIT. The constants never reach the database: they
// are read by phiguard from the client's text and Bind (filter_args.go).

// filterArg is one constant of a filter, as a key of the column's type
// (or of numeric, for an integer column compared with a numeric).
type filterArg struct {
	null    bool
	key     pgorder.Key
	pattern []byte // a LIKE's, with \ as its escape
	canon   []byte // for a filter with a search term, the value in the column's type (protect_search.go)
}

// filterArgs are a filter's constants; numeric says the column's values
// are compared as numeric; escape is a LIKE's ESCAPE until
// finishFilterArgs applies it (or prepareFolds, escapeLater, to a
// pattern in lower() or upper()); colFold and ilike map the case of the
// column's values (protect_fold.go), set at the first row.
type filterArgs struct {
	args        [2]filterArg
	numeric     bool
	escape      []byte
	escapeNull  bool
	hasEscape   bool
	escapeLater bool
	colFold     caseMap
	ilike       caseMap
}

var numericType = policy.LogicalType{Name: "numeric", OID: policy.OIDNumeric, Size: -1, Modifier: -1}

// finishFilterArgs completes the constants once all are read: a LIKE's
// ESCAPE applies to its pattern, as like_escape (a NULL one makes the
// pattern NULL).
func finishFilterArgs(sp *sqlrewrite.SortPlan, args []filterArgs) *pgerr.Error {
	if len(args) != len(sp.Filters) {
		return internalRefusal(sp.Filters[0].Column, "the WHERE's constants disagree with its plan")
	}
	for i, f := range sp.Filters {
		fa := &args[i]
		if !f.HasEscape || fa.args[0].null {
			continue
		}
		if !fa.hasEscape {
			return internalRefusal(f.Column, "a LIKE's ESCAPE was not read")
		}
		if fa.escapeNull {
			fa.args[0] = filterArg{null: true}
			continue
		}
		p, pe := likeEscape(fa.args[0].pattern, fa.escape)
		if pe != nil {
			return pe
		}
		if f.Args[0].Fold != sqlrewrite.FoldNone {
			fa.escapeLater = true // like_escape(lower(p), e): after the fold
			continue
		}
		fa.args[0].pattern = p
	}
	return nil
}

// queryFilterArgs reads the constants of a simple Query's filters from
// its text. A parameter has no value there: PostgreSQL's error.
func (s *Session) queryFilterArgs(sql []byte, sp *sqlrewrite.SortPlan) ([]filterArgs, *pgerr.Error) {
	if sp == nil || len(sp.Filters) == 0 {
		return nil, nil
	}
	for _, f := range sp.Filters {
		for _, a := range constants(f) {
			if a.Param > 0 {
				return nil, pgerr.Newf(pgerr.UndefinedParameter, "there is no parameter $%d", a.Param)
			}
		}
	}
	args, pe := s.literalFilterArgs(sql, sp)
	if pe == nil {
		pe = finishFilterArgs(sp, args)
	}
	return args, pe
}

func textFamily(oid uint32) bool {
	return oid == policy.OIDText || oid == policy.OIDVarchar || oid == policy.OIDBpchar
}

func integer(oid uint32) bool {
	return oid == policy.OIDInt2 || oid == policy.OIDInt4 || oid == policy.OIDInt8
}

// keepRow evaluates the filters on a row's cells; visible is the count
// of the client's columns, after which the hidden ones are. The filters
// of a subquery's WHERE are evaluated on their hidden array
// (keepRowGroups, protect_subfilter.go).
func (s *Session) keepRow(run *sortRun, fields []*resultField, cells [][]byte, visible int) (bool, *pgerr.Error) {
	for i, f := range run.plan.Filters {
		if f.Group > 0 || f.Tree > 0 || f.Having { // a HAVING's: per group (protect_having.go)
			continue
		}
		x, pe := s.filterValue(f, fields, cells, visible)
		if pe != nil {
			return false, pe
		}
		if ok, pe := run.filterPasses(i, x); pe != nil || !ok {
			return false, pe
		}
	}
	if keep, pe := s.keepRowTrees(run, fields, cells, visible); pe != nil || !keep { // protect_filter_tree.go
		return false, pe
	}
	return s.keepRowGroups(run, cells, visible)
}

// filterValue opens the cell of filter f's column in a row.
func (s *Session) filterValue(f sqlrewrite.Filter, fields []*resultField, cells [][]byte, visible int) (sortValue, *pgerr.Error) {
	at := visible + f.Value
	if f.Selected > 0 {
		at = f.Selected - 1 // the select list's own entry (sqlrewrite.Filter.Selected)
	}
	if cells[at] == nil {
		return sortValue{null: true}, nil
	}
	field := fields[at]
	if field == nil || field.col == nil || field.col.Type != f.Column.Type || field.rule != nil {
		return sortValue{}, pgerr.Newf(pgerr.FeatureNotSupported,
			"phiguard cannot tell that the WHERE operand %s arrives as that encrypted column, so it cannot compare it", f.Column.QualifiedName())
	}
	return s.transientKey(field, cells[at])
}

// filterPasses evaluates filter i on one opened value: true, or the row
// is dropped.
func (run *sortRun) filterPasses(i int, x sortValue) (bool, *pgerr.Error) {
	r, pe := run.filterTruth(i, x)
	return r == triTrue, pe
}

// filterTruth is filter i's three-valued truth on one opened value.
func (run *sortRun) filterTruth(i int, x sortValue) (tri, *pgerr.Error) {
	f, fa := run.plan.Filters[i], &run.filterArgs[i] // not a copy per row
	x, err := fa.foldValue(x, &run.folded)
	if err != nil {
		return triNull, pgerr.Newf(pgerr.InternalError, "phiguard could not map the case of %s", f.Column.QualifiedName())
	}
	if fa.numeric && !x.null {
		k, err := pgorder.IntAsNumeric(x.key)
		if err != nil {
			return triNull, pgerr.Newf(pgerr.InternalError, "phiguard could not compare %s as numeric", f.Column.QualifiedName())
		}
		x.key = k
	}
	if f.Op.Like() {
		if x.null || fa.args[0].null {
			return triNull, nil
		}
		match, pe := likeMatch(x.key.Text(), fa.args[0].pattern)
		if pe != nil {
			return triNull, pe
		}
		return truth(match != f.Op.Not()), nil
	}
	return filterHolds(f.Op, x, fa.args, run.filterOrders[i]), nil
}

func truth(b bool) tri {
	if b {
		return triTrue
	}
	return triFalse
}

// tri is SQL's three-valued truth.
type tri uint8

const (
	triFalse tri = iota
	triTrue
	triNull
)

func and3(a, b tri) tri {
	switch {
	case a == triFalse || b == triFalse:
		return triFalse
	case a == triNull || b == triNull:
		return triNull
	}
	return triTrue
}

func or3(a, b tri) tri {
	switch {
	case a == triTrue || b == triTrue:
		return triTrue
	case a == triNull || b == triNull:
		return triNull
	}
	return triFalse
}

// cmp3 is x op a under strict NULL semantics; holds says whether the
// comparison's result (-1, 0, 1) satisfies op.
func cmp3(x sortValue, a filterArg, o keyOrder, holds func(int) bool) tri {
	if x.null || a.null {
		return triNull
	}
	if holds(o.compare(x.key, a.key)) {
		return triTrue
	}
	return triFalse
}

var (
	lt = func(c int) bool { return c < 0 }
	le = func(c int) bool { return c <= 0 }
	gt = func(c int) bool { return c > 0 }
	ge = func(c int) bool { return c >= 0 }
)

// filterHolds is one filter's three-valued truth on a row (a WHERE
// keeps the row when it is true; under NOT, NULL stays NULL). BETWEEN is PostgreSQL's
// expansion: a <= x AND x <= b, and its negation x < a OR x > b;
// SYMMETRIC also tries the bounds swapped.
func filterHolds(op sqlrewrite.FilterOp, x sortValue, args [2]filterArg, o keyOrder) tri {
	a, b := args[0], args[1]
	c3 := func(x sortValue, a filterArg, holds func(int) bool) tri { return cmp3(x, a, o, holds) }
	var r tri
	switch op {
	case sqlrewrite.FilterEq:
		r = c3(x, a, func(c int) bool { return c == 0 })
	case sqlrewrite.FilterNe:
		r = c3(x, a, func(c int) bool { return c != 0 })
	case sqlrewrite.FilterLt:
		r = c3(x, a, lt)
	case sqlrewrite.FilterLe:
		r = c3(x, a, le)
	case sqlrewrite.FilterGt:
		r = c3(x, a, gt)
	case sqlrewrite.FilterGe:
		r = c3(x, a, ge)
	case sqlrewrite.FilterBetween:
		r = and3(c3(x, a, ge), c3(x, b, le))
	case sqlrewrite.FilterNotBetween:
		r = or3(c3(x, a, lt), c3(x, b, gt))
	case sqlrewrite.FilterBetweenSym:
		r = or3(and3(c3(x, a, ge), c3(x, b, le)), and3(c3(x, b, ge), c3(x, a, le)))
	case sqlrewrite.FilterNotBetweenSym:
		r = and3(or3(c3(x, a, lt), c3(x, b, gt)), or3(c3(x, b, lt), c3(x, a, gt)))
	case sqlrewrite.FilterDistinct, sqlrewrite.FilterNotDistinct:
		same := x.null == a.null && (x.null || o.compare(x.key, a.key) == 0)
		return truth(same == (op == sqlrewrite.FilterNotDistinct))
	}
	return r
}

// checkFilterCollations finds how each text filter compares under its
// column's collation, or refuses the statement; and refuses a LIKE
// outside a UTF8 database, where PostgreSQL matches by other rules.
// Equality and LIKE compare bytes under any libc collation (they are
// deterministic), so only an order comparison needs orderFor's locale. Then it
// prepares the filters' case mappings (prepareFolds), which refuse an
// LC_CTYPE phiguard cannot fold as PostgreSQL does.
func (run *sortRun) checkFilterCollations(hidden [][]byte) *pgerr.Error {
	for i, f := range run.plan.Filters {
		if enc := f.Encoding; enc >= 0 && string(hidden[enc]) != "UTF8" {
			return pgerr.Newf(pgerr.FeatureNotSupported,
				"LIKE on encrypted column %s in a database encoded %s: phiguard matches LIKE as PostgreSQL does in a UTF8 database only", f.Column.QualifiedName(), hidden[enc])
		}
		if f.Collation < 0 {
			continue
		}
		if p, ok := readProbe(hidden[f.Collation]); ok && p.provider == "c" && !f.Op.Orders() {
			continue
		}
		o, pe := orderFor(f.Column, "WHERE", hidden[f.Collation])
		if pe != nil {
			return pe
		}
		run.filterOrders[i] = o
	}
	for i := range run.plan.Filters {
		if pe := run.prepareFolds(i, hidden); pe != nil {
			return pe
		}
	}
	return nil
}
