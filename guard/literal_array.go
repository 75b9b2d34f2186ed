package guard

import (
	"github.com/phiguard/phiguard/internal/pgerr"
	"github.com/phiguard/phiguard/sqlrewrite"
)

// arrayLiteral is foldedLiteral for an ARRAY[...] constructor of
// constants (sqlrewrite's planner_array.go): the region from the
// constructor's start to its end, and the array's text built from its
// elements' values, each quoted as array_in reads it, so that the
// column's type reads each element's value as its own input would.
func arrayLiteral(sql []byte, spans [][2]int, v sqlrewrite.ValueSlot) ([2]int, []byte, *pgerr.Error) {
	ac := v.Array
	if v.Literal >= len(spans) || ac.Last >= len(spans) || ac.Last < v.Literal {
		return [2]int{}, nil, internalRefusal(v.Column, "literal positions disagree")
	}
	sp := [2]int{spans[v.Literal][0] - v.Before, spans[ac.Last][1] + v.After}
	if sp[0] < 0 || sp[1] > len(sql) || sp[0] > sp[1] {
		return [2]int{}, nil, internalRefusal(v.Column, "a folded array's extent disagrees with the text")
	}
	elems, null := make([][]byte, len(ac.Elems)), make([]bool, len(ac.Elems))
	for i, e := range ac.Elems {
		if null[i] = e.Literal < 0; null[i] {
			continue
		}
		_, plain, pe := foldedLiteral(sql, spans, sqlrewrite.ValueSlot{Literal: e.Literal, Token: -1, Column: v.Column, Negative: e.Negative})
		if pe != nil {
			return [2]int{}, nil, pe
		}
		if elems[i], pe = arrayNumber(v, sql[spans[e.Literal][0]:spans[e.Literal][1]], plain); pe != nil {
			return [2]int{}, nil, pe
		}
	}
	k := 0
	var out []byte
	var level func(d int)
	level = func(d int) {
		out = append(out, '{')
		for i := 0; i < ac.Dims[d]; i++ {
			if i > 0 {
				out = append(out, ',')
			}
			if d+1 < len(ac.Dims) {
				level(d + 1)
				continue
			}
			out = appendArrayElement(out, elems[k], null[k])
			k++
		}
		out = append(out, '}')
	}
	if len(ac.Dims) == 0 || product(ac.Dims) != len(elems) {
		return [2]int{}, nil, internalRefusal(v.Column, "a folded array's dimensions disagree with its elements")
	}
	level(0)
	return sp, out, nil
}

// arrayNumber converts an unquoted number into an integer array's
// element as PostgreSQL's numeric to integer cast does (2.5 is 3, -0.5
// is -1: a constructor with such a number is a numeric[], cast element
// by element); any other element is its value.
func arrayNumber(v sqlrewrite.ValueSlot, raw, plain []byte) ([]byte, *pgerr.Error) {
	elem, _ := v.Column.Type.Element()
	bounds, ok := integerBounds[elem.Name]
	if !ok || len(raw) == 0 || !(raw[0] >= '0' && raw[0] <= '9' || raw[0] == '.') {
		return plain, nil
	}
	out, _, pe := integerLiteral(bounds, false, plain)
	return out, pe
}

func product(dims []int) int {
	n := 1
	for _, d := range dims {
		n *= d
	}
	return n
}

// appendArrayElement writes an element as array_in reads it back
// exactly: NULL, else double-quoted with quotes and backslashes escaped.
func appendArrayElement(out, e []byte, null bool) []byte {
	if null {
		return append(out, "NULL"...)
	}
	out = append(out, '"')
	for _, c := range e {
		if c == '"' || c == '\\' {
			out = append(out, '\\')
		}
		out = append(out, c)
	}
	return append(out, '"')
}
