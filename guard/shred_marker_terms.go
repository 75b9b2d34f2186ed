package guard

import (
	"bytes"

	"github.com/phiguard/phiguard/policy"
	"github.com/phiguard/phiguard/sqlrewrite"
)

// Term filters and the shredded marker (docs/shredding.md, "What is left
// after a shred"; docs/search.md, "Through search terms"). With
// keys.subjects.shredded_marker set, a text cell sealed per subject whose
// key is destroyed reads as the marker, while its terms may still be its
// old value's: in the shred's window before `phiguard shred` rewrites
// them, after a shred interrupted between its steps, in a dump restored
// from before the shred, or for good when the marker was changed after
// the rewrite. A term conjunct narrows the candidates in the database by
// those terms, so a WHERE the marker satisfies would not fetch such a
// row and phiguard's re-check would never see it: the answer would lack
// a row the plaintext with the marker has.
//
// So phiguard evaluates, per such column and reference to it (markerKey:
// a self-join's two are two cells of a row), the statement's conjuncts on
// it (its own WHERE's, Group 0, not under OR or NOT) on the marker, with
// the constants the statement gives them: when some conjunct is false
// (or NULL) for the marker, no row whose cell reads as the marker is in
// the answer, and the column's term conjuncts are sent as ever (no
// change to the text); when the marker may satisfy them all, the
// column's filters send no term (`true`, as without terms): the
// database returns every candidate the rest of the WHERE allows, and the
// re-check decides. Where phiguard cannot tell (a constant it could not
// read, a conjunct it does not evaluate here: lower(col), <>, NOT LIKE,
// a column without the term whose collation it would need) it counts the
// conjunct as satisfied. A conjunct whose constant is a parameter is
// decided at each Bind, which then runs a variant of the statement
// without the column's terms when the marker satisfies them
// (protect_search_variants.go).

// markerKey is one cell of a row a WHERE's filters read: a column
// through one reference to it (sqlrewrite.Filter.Ref). A self-join's
// a.name and b.name are two: the verdict on a.name's conjuncts says
// nothing of b.name's cell.
type markerKey struct {
	col *policy.ProtectedColumn
	ref int
}

func markerKeyOf(f sqlrewrite.Filter) markerKey { return markerKey{f.Column, f.Ref} }

// markerVerdict is what a column's conjuncts say of the marker.
type markerVerdict uint8

const (
	markerFails   markerVerdict = iota // a conjunct is not true for the marker: terms stay
	markerHolds                        // the marker may satisfy every conjunct: no term
	markerPending                      // a parameter decides, at each Bind
)

// maxMarkerVariantColumns is how many columns of one statement are
// decided at Bind (2^2 variants of the text); a further column whose
// conjuncts hold a parameter sends no term.
const maxMarkerVariantColumns = 2

// markerColumn: col's shredded cells read as the marker.
func (s *Session) markerColumn(col *policy.ProtectedColumn) bool {
	return s.srv.protect.ShreddedMarker != "" && col != nil && col.PerSubject() && isTextType(col)
}

// markerTerms decides, for each marker column with a term filter in sp
// (per reference to it: markerKey), what its conjuncts say of the
// marker: drop[i] is true for a filter whose term the marker's verdict
// leaves out now, and pending are the columns (at most
// maxMarkerVariantColumns) whose parameters decide at Bind. args are the filters' constants as read (nil: none); bound says
// the parameters' values are in them (a Bind). drop is nil when no
// filter's term is left out.
func (s *Session) markerTerms(sp *sqlrewrite.SortPlan, args []filterArgs, bound bool) (drop []bool, pending []markerKey) {
	if s.srv.protect.ShreddedMarker == "" || sp == nil {
		return nil, nil
	}
	for i, f := range sp.Filters {
		key := markerKeyOf(f)
		if f.Term == sqlrewrite.TermNone || !s.markerColumn(key.col) || firstTermFilter(sp, key) != i {
			continue // one verdict per column reference, at its first term filter
		}
		v := s.markerVerdictOf(sp, key, args, bound)
		if v == markerPending && len(pending) < maxMarkerVariantColumns {
			pending = append(pending, key)
			continue
		}
		if v == markerFails {
			continue
		}
		if drop == nil {
			drop = make([]bool, len(sp.Filters))
		}
		for j, g := range sp.Filters {
			drop[j] = drop[j] || markerKeyOf(g) == key
		}
	}
	return drop, pending
}

// firstTermFilter is the index of the first filter with a term on key.
func firstTermFilter(sp *sqlrewrite.SortPlan, key markerKey) int {
	for i, f := range sp.Filters {
		if markerKeyOf(f) == key && f.Term != sqlrewrite.TermNone {
			return i
		}
	}
	return -1
}

// markerVerdictOf is the verdict on the marker of the conjuncts in sp
// that read key's cell.
func (s *Session) markerVerdictOf(sp *sqlrewrite.SortPlan, key markerKey, args []filterArgs, bound bool) markerVerdict {
	v := markerHolds
	for i, f := range sp.Filters {
		if markerKeyOf(f) != key || f.Group != 0 || f.Tree != 0 || f.Having {
			continue // not a conjunct of the WHERE: it cannot exclude the row
		}
		var fa *filterArgs
		if i < len(args) {
			fa = &args[i]
		}
		switch s.markerFilter(f, fa, bound) {
		case markerFails:
			return markerFails
		case markerPending:
			v = markerPending
		}
	}
	return v
}

// markerFilter is one conjunct's verdict on the marker, given its
// constants fa (nil: not read).
func (s *Session) markerFilter(f sqlrewrite.Filter, fa *filterArgs, bound bool) markerVerdict {
	for _, a := range constants(f) {
		switch {
		case a.Param > 0 && !bound:
			return markerPending
		case a.Fold != sqlrewrite.FoldNone:
			return markerHolds
		}
	}
	if fa == nil || fa.numeric || f.ColumnFold != sqlrewrite.FoldNone {
		return markerHolds
	}
	m := []byte(s.srv.protect.ShreddedMarker)
	a, b := fa.args[0], fa.args[1]
	switch f.Op {
	case sqlrewrite.FilterLike, sqlrewrite.FilterILike:
		return s.markerLike(f, fa, m)
	case sqlrewrite.FilterEq:
		switch {
		case a.null:
			return markerFails
		case a.canon == nil:
			return markerHolds
		}
		return markerVerdictFrom(bytes.Equal(m, a.canon))
	case sqlrewrite.FilterGt, sqlrewrite.FilterGe, sqlrewrite.FilterLt, sqlrewrite.FilterLe, sqlrewrite.FilterBetween:
		if a.null || f.Op == sqlrewrite.FilterBetween && b.null {
			return markerFails
		}
		if a.canon == nil || f.Op == sqlrewrite.FilterBetween && b.canon == nil || !f.Column.Search.Has(policy.SearchOrder) {
			return markerHolds // no order term: the column's collation is not at hand
		}
		loc, pe := s.termLocale(f.Column) // LC_COLLATE's: the order term's
		if pe != nil {
			return markerHolds
		}
		cmp := func(c []byte) int {
			if loc == nil {
				return bytes.Compare(m, c)
			}
			return loc.Compare(m, c)
		}
		var ok bool
		switch f.Op {
		case sqlrewrite.FilterGt:
			ok = cmp(a.canon) > 0
		case sqlrewrite.FilterGe:
			ok = cmp(a.canon) >= 0
		case sqlrewrite.FilterLt:
			ok = cmp(a.canon) < 0
		case sqlrewrite.FilterLe:
			ok = cmp(a.canon) <= 0
		default:
			ok = cmp(a.canon) >= 0 && cmp(b.canon) <= 0
		}
		return markerVerdictFrom(ok)
	}
	return markerHolds // <>, NOT BETWEEN, IS DISTINCT FROM, NOT LIKE, …: not evaluated here
}

// markerLike is a LIKE or ILIKE conjunct's verdict on the marker m: its
// pattern with its ESCAPE applied as like_escape does, and for ILIKE
// both lowered under the column's LC_CTYPE (its match term's locale), as
// PostgreSQL's ILIKE in a UTF8 database and phiguard's re-check do.
func (s *Session) markerLike(f sqlrewrite.Filter, fa *filterArgs, m []byte) markerVerdict {
	if fa.args[0].null {
		return markerFails
	}
	pattern := fa.args[0].pattern
	if f.HasEscape {
		if !fa.hasEscape {
			return markerHolds
		}
		if fa.escapeNull {
			return markerFails
		}
		p, pe := likeEscape(pattern, fa.escape)
		if pe != nil {
			return markerHolds
		}
		pattern = p
	}
	if f.Op == sqlrewrite.FilterILike {
		if !f.Column.Search.Has(policy.SearchMatch) {
			return markerHolds // no match term: the column's LC_CTYPE is not at hand
		}
		loc, pe := s.termLocale(f.Column) // LC_CTYPE's: the match term's
		if pe != nil {
			return markerHolds
		}
		lower := func(b []byte) ([]byte, error) { return asciiLower(new([]byte), b), nil }
		if loc != nil {
			lower = loc.Lower
		}
		var err1, err2 error
		m, err1 = lower(m)
		pattern, err2 = lower(pattern)
		if err1 != nil || err2 != nil {
			return markerHolds
		}
	}
	match, pe := likeMatch(m, pattern)
	if pe != nil {
		return markerHolds
	}
	return markerVerdictFrom(match)
}

func markerVerdictFrom(ok bool) markerVerdict {
	if ok {
		return markerHolds
	}
	return markerFails
}
