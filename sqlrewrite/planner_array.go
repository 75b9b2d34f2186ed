package sqlrewrite

import (
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v5"

	"github.com/phiguard/phiguard/policy"
)

// psycopg2 writes a Python list as an ARRAY[...] constructor of
// constants: ARRAY['a','b'], ARRAY[1,-2], ARRAY['2024-01-01'::date],
// ARRAY[ARRAY[1,2],ARRAY[3,4]] for nested lists. Written into an
// encrypted array column, such a constructor is folded into one value,
// as a cast of a constant is (planner_fold.go): the proxy builds the
// array's text from its elements and replaces the whole constructor
// with the cell. PostgreSQL types the constructor by its elements and
// then assigns it to the column, so it is folded only where that
// assignment is the element type's own input of each element's text:
//
//   - string literals (text[]) into an array of text, varchar(n) or
//     char(n);
//   - numbers (int4[], int8[], numeric[]) into an array of smallint,
//     integer, bigint, numeric, real or double precision (Python ints,
//     floats and Decimals); into an integer array a number with a
//     fraction is rounded half away from zero by the proxy, as
//     PostgreSQL's numeric to integer cast rounds it;
//   - string literals each cast to the column's element type (without
//     a modifier) into that array.
//
// NULL elements go with any of them. Anything else (an empty ARRAY[],
// all NULLs, floats into an integer array, mixed kinds, an expression)
// is left to the caller, which refuses it.

// ArrayConst is an ARRAY[...] constructor of constants: its dimensions
// and its elements in row-major order.
type ArrayConst struct {
	Dims  []int
	Elems []ArrayElem
	// Last is the index of the last element's literal.
	Last int
}

// ArrayElem is an element: a literal (by index, as ValueSlot.Literal;
// -1 for NULL), negated when Negative.
type ArrayElem struct {
	Literal  int
	Negative bool
}

// elemKind is how PostgreSQL types an element constant.
type elemKind int

const (
	kindNull elemKind = iota
	kindString
	kindInteger
	kindNumeric
	kindCast
)

// arrayConst records an ARRAY[...] constructor written into an array
// column.
func (p *planner) arrayConst(ae *pg_query.A_ArrayExpr, col *policy.ProtectedColumn, use Use) bool {
	elem, ok := col.Type.Element()
	if !ok || use != UseWrite {
		return false
	}
	ac := &ArrayConst{}
	kinds := map[elemKind]bool{}
	if !p.arrayElems(ae, 0, ac, kinds, elem) || !foldableKinds(kinds, elem) {
		return false
	}
	first := -1
	for _, e := range ac.Elems {
		if e.Literal >= 0 {
			first = e.Literal
			break
		}
	}
	if first < 0 {
		return false // all NULL: typed text[], which few columns take
	}
	start, end, ok := p.arrayExtent(ae)
	if !ok || !p.onlyLiterals(start, end, ac) {
		return false
	}
	spans := p.spans()
	slot := ValueSlot{Literal: first, Token: -1, Column: col, Use: use, Array: ac,
		Before: spans[first][0] - start, After: end - spans[ac.Last][1]}
	return p.addValue(slot)
}

// arrayElems collects ae's elements at depth d into ac, noting their
// kinds; false for anything it does not fold.
func (p *planner) arrayElems(ae *pg_query.A_ArrayExpr, d int, ac *ArrayConst, kinds map[elemKind]bool, elem policy.LogicalType) bool {
	els := ae.GetElements()
	if len(els) == 0 || d >= 6 {
		return false
	}
	if len(ac.Dims) <= d {
		ac.Dims = append(ac.Dims, len(els))
	} else if ac.Dims[d] != len(els) {
		return false // PostgreSQL: 2202E, sub-arrays of unequal sizes
	}
	nested := els[0].GetAArrayExpr() != nil
	for _, n := range els {
		if sub := n.GetAArrayExpr(); sub != nil != nested {
			return false
		} else if sub != nil {
			if !p.arrayElems(sub, d+1, ac, kinds, elem) {
				return false
			}
			continue
		}
		if len(ac.Dims) != d+1 {
			return false
		}
		e, kind, ok := p.arrayElem(n, elem)
		if !ok {
			return false
		}
		kinds[kind] = true
		ac.Elems = append(ac.Elems, e)
		if e.Literal >= 0 {
			ac.Last = e.Literal
		}
	}
	return true
}

// arrayElem reads one element constant.
func (p *planner) arrayElem(n *pg_query.Node, elem policy.LogicalType) (ArrayElem, elemKind, bool) {
	if tc := n.GetTypeCast(); tc != nil {
		c := tc.GetArg().GetAConst()
		lt, ok := castType(tc.GetTypeName())
		// A modifier of its own ('abc'::char is char(1)) would cut.
		if c == nil || c.GetSval() == nil || !ok || lt.Name != elem.Name || lt.Modifier >= 0 {
			return ArrayElem{}, 0, false
		}
		idx, ok := p.literals[int(c.GetLocation())]
		return ArrayElem{Literal: idx}, kindCast, ok
	}
	c := n.GetAConst()
	switch {
	case c == nil:
		return ArrayElem{}, 0, false
	case c.GetIsnull():
		return ArrayElem{Literal: -1}, kindNull, true
	}
	kind := kindString
	switch {
	case c.GetIval() != nil:
		kind = kindInteger
	case c.GetFval() != nil:
		kind = kindInteger
		if strings.ContainsAny(c.GetFval().GetFval(), ".eE") {
			kind = kindNumeric
		}
	case c.GetSval() == nil:
		return ArrayElem{}, 0, false // a bit string, a boolean keyword
	}
	if idx, ok := p.literals[int(c.GetLocation())]; ok {
		return ArrayElem{Literal: idx}, kind, true
	}
	slot, ok := p.signedLiteral(int(c.GetLocation()))
	if !ok || kind == kindString {
		return ArrayElem{}, 0, false
	}
	return ArrayElem{Literal: slot.Literal, Negative: true}, kind, true
}

// foldableKinds says whether elements of these kinds, assigned to an
// array of elem, are each read by elem's input (see the top of the file).
func foldableKinds(kinds map[elemKind]bool, elem policy.LogicalType) bool {
	delete(kinds, kindNull)
	if len(kinds) == 0 {
		return false
	}
	switch {
	case len(kinds) == 1 && kinds[kindString]:
		switch elem.OID {
		case policy.OIDText, policy.OIDVarchar, policy.OIDBpchar:
			return true
		}
	case len(kinds) == 1 && kinds[kindCast]:
		return true // castType matched elem's name
	case kinds[kindInteger] || kinds[kindNumeric]:
		if kinds[kindString] || kinds[kindCast] {
			return false
		}
		switch elem.OID {
		case policy.OIDNumeric, policy.OIDFloat4, policy.OIDFloat8:
			// numeric to real or double precision is float4in or
			// float8in of its text, and an integer converts exactly or
			// rounds to nearest as they do.
			return true
		case policy.OIDInt2, policy.OIDInt4, policy.OIDInt8:
			// A number with a fraction is rounded half away from zero
			// by the proxy, as numeric to integer does (2.5 and 2 have
			// one shape, so one plan serves both).
			return true
		}
	}
	return false
}

// arrayExtent is where the constructor starts (at ARRAY) and ends
// (after its matching ']').
func (p *planner) arrayExtent(ae *pg_query.A_ArrayExpr) (start, end int, ok bool) {
	toks := p.tokens()
	loc := int(ae.GetLocation())
	for i, tok := range toks {
		if int(tok.Start) != loc {
			continue
		}
		if !strings.EqualFold(p.sql[tok.Start:tok.End], "array") || i+1 >= len(toks) || p.sql[toks[i+1].Start:toks[i+1].End] != "[" {
			return 0, 0, false
		}
		depth := 0
		for _, t := range toks[i+1:] {
			switch p.sql[t.Start:t.End] {
			case "[":
				depth++
			case "]":
				if depth--; depth == 0 {
					return loc, int(t.End), true
				}
			}
		}
		return 0, 0, false
	}
	return 0, 0, false
}

// onlyLiterals checks that the literals within [start, end) are exactly
// the elements', so that the region the cell replaces holds no other
// value.
func (p *planner) onlyLiterals(start, end int, ac *ArrayConst) bool {
	want := map[int]bool{}
	for _, e := range ac.Elems {
		if e.Literal >= 0 {
			want[e.Literal] = true
		}
	}
	n := 0
	for i, sp := range p.spans() {
		if sp[0] < end && sp[1] > start {
			if !want[i] || sp[0] < start || sp[1] > end {
				return false
			}
			n++
		}
	}
	return n == len(want)
}
