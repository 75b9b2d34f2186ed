package pgvalue

import (
	"bytes"
	"github.com/phiguard/phiguard/internal/pgerr"
	"unicode/utf8"

	"github.com/phiguard/phiguard/policy"
)

// array_in of PostgreSQL 15, ported step by step so that the same texts
// are accepted and refused: the optional "[lb:ub]...=" decoration, then
// ArrayCount (the brace structure's dimensions, with its state machine's
// errors) and ReadArrayStr (each element's text, unquoted and
// unescaped, leading and trailing unquoted white space dropped, an
// unquoted NULL in any case for a NULL element), each element read by
// its type's input with the column's modifier.

// arrayParse is ArrayCount's state.
type arrayParse int

const (
	arrayNoLevel arrayParse = iota
	arrayLevelStarted
	arrayElemStarted
	arrayElemCompleted
	arrayQuotedElemStarted
	arrayQuotedElemCompleted
	arrayElemDelimited
	arrayLevelCompleted
	arrayLevelDelimited
)

func (d decoder) malformed(detail string) *Error {
	return d.coded(pgerr.InvalidTextRepresentation, "", "malformed array literal: %s", detail)
}

// arrayText follows array_in; c reads each element as elem.
func (d decoder) arrayText(c Converter, elem policy.LogicalType, in []byte) (value, error) {
	if !utf8.Valid(in) || bytes.IndexByte(in, 0) >= 0 {
		return nil, d.coded(pgerr.CharacterNotInRepertoire, "", "not valid UTF-8")
	}
	p, dims, lbs, err := d.arrayDecoration(in)
	if err != nil {
		return nil, err
	}
	if len(p) == 0 || p[0] != '{' {
		if dims == nil {
			return nil, d.malformed(`Array value must start with "{" or dimension information.`)
		}
		return nil, d.malformed(`Array contents must start with "{".`)
	}
	counted, err := d.arrayCount(p)
	if err != nil {
		return nil, err
	}
	if dims == nil {
		dims = counted
		lbs = make([]int32, len(dims))
		for i := range lbs {
			lbs[i] = 1
		}
	} else if len(dims) != len(counted) || !equalDims(dims, counted) {
		return nil, d.malformed("Specified array dimensions do not match array contents.")
	}
	n, err := d.checkDims(dims, lbs)
	if err != nil {
		return nil, err
	}
	v := arrayValue{elem: elem}
	if n == 0 {
		return v, nil
	}
	v.dims, v.lbs = dims, lbs
	var raw [][]byte
	v.items, raw, err = d.readArrayStr(c, unmodified(elem), p, dims, n)
	if err != nil {
		return nil, err
	}
	return d.withModifier(c, v, FormatText, raw)
}

func equalDims(a, b []int32) bool {
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// arrayDecoration reads "[lb:ub][n]...=": dims is nil without one; p is
// the rest, from the first '{' on (blanks skipped).
func (d decoder) arrayDecoration(in []byte) (p []byte, dims, lbs []int32, err error) {
	p = in
	for {
		for len(p) > 0 && isSpace(p[0]) {
			p = p[1:]
		}
		if len(p) == 0 || p[0] != '[' {
			break
		}
		p = p[1:]
		if len(dims) >= maxDim {
			return nil, nil, nil, d.tooManyDims(len(dims) + 1)
		}
		q := dimDigits(p)
		if q == 0 {
			return nil, nil, nil, d.malformed(`"[" must introduce explicitly-specified array dimensions.`)
		}
		lb := int32(1)
		if q < len(p) && p[q] == ':' {
			lb = atoi(p[:q])
			p = p[q+1:]
			if q = dimDigits(p); q == 0 {
				return nil, nil, nil, d.malformed("Missing array dimension value.")
			}
		}
		if q >= len(p) || p[q] != ']' {
			return nil, nil, nil, d.malformed(`Missing "]" after array dimensions.`)
		}
		ub := atoi(p[:q])
		p = p[q+1:]
		if ub < lb {
			return nil, nil, nil, d.coded(pgerr.ArraySubscriptError, "upper bound cannot be less than lower bound", "upper bound below lower bound")
		}
		dims, lbs = append(dims, ub-lb+1), append(lbs, lb)
	}
	if dims == nil {
		return p, nil, nil, nil
	}
	if len(p) == 0 || p[0] != '=' {
		return nil, nil, nil, d.malformed(`Missing "=" after array dimensions.`)
	}
	p = p[1:]
	for len(p) > 0 && isSpace(p[0]) {
		p = p[1:]
	}
	return p, dims, lbs, nil
}

// dimDigits is how many bytes of digits, '+' and '-' p starts with.
func dimDigits(p []byte) int {
	q := 0
	for q < len(p) && (p[q] >= '0' && p[q] <= '9' || p[q] == '-' || p[q] == '+') {
		q++
	}
	return q
}

// atoi is C's atoi as glibc computes it (strtol, then truncated to int).
func atoi(s []byte) int32 {
	neg := false
	if len(s) > 0 && (s[0] == '+' || s[0] == '-') {
		neg = s[0] == '-'
		s = s[1:]
	}
	var n uint64
	over := false
	for _, c := range s {
		if c < '0' || c > '9' {
			break
		}
		n = n*10 + uint64(c-'0')
		if n > 1<<63 {
			over = true
		}
	}
	var v int64
	switch {
	case over && neg:
		v = -1 << 63
	case over:
		v = 1<<63 - 1
	case neg:
		v = -int64(n)
	default:
		v = int64(n)
	}
	return int32(v)
}

// arrayCount is ArrayCount: the dimensions the braces give (none for an
// empty array).
func (d decoder) arrayCount(s []byte) ([]int32, error) {
	var temp, nelems, nelemsLast [maxDim]int32
	for i := range nelems {
		nelems[i] = 1
	}
	nest, ndim := 0, 1
	inQuotes, empty := false, true
	state := arrayNoLevel
	i := 0
	at := func() byte {
		if i < len(s) {
			return s[i]
		}
		return 0
	}
	for eoArray := false; !eoArray; {
		for itemDone := false; !itemDone; {
			if state == arrayElemStarted || state == arrayQuotedElemStarted {
				empty = false
			}
			switch c := at(); {
			case c == 0:
				return nil, d.malformed("Unexpected end of input.")
			case c == '\\':
				if state != arrayLevelStarted && state != arrayElemStarted && state != arrayQuotedElemStarted && state != arrayElemDelimited {
					return nil, d.malformed(`Unexpected "\" character.`)
				}
				if state != arrayQuotedElemStarted {
					state = arrayElemStarted
				}
				if i+1 >= len(s) {
					return nil, d.malformed("Unexpected end of input.")
				}
				i++
			case c == '"':
				if state != arrayLevelStarted && state != arrayQuotedElemStarted && state != arrayElemDelimited {
					return nil, d.malformed("Unexpected array element.")
				}
				inQuotes = !inQuotes
				state = arrayQuotedElemCompleted
				if inQuotes {
					state = arrayQuotedElemStarted
				}
			case c == '{' && !inQuotes:
				if state != arrayNoLevel && state != arrayLevelStarted && state != arrayLevelDelimited {
					return nil, d.malformed(`Unexpected "{" character.`)
				}
				state = arrayLevelStarted
				if nest >= maxDim {
					return nil, d.tooManyDims(nest + 1)
				}
				temp[nest] = 0
				nest++
				if ndim < nest {
					ndim = nest
				}
			case c == '}' && !inQuotes:
				if state != arrayElemStarted && state != arrayElemCompleted && state != arrayQuotedElemCompleted &&
					state != arrayLevelCompleted && !(nest == 1 && state == arrayLevelStarted) {
					return nil, d.malformed(`Unexpected "}" character.`)
				}
				state = arrayLevelCompleted
				if nest == 0 {
					return nil, d.malformed(`Unmatched "}" character.`)
				}
				nest--
				if nelemsLast[nest] != 0 && nelems[nest] != nelemsLast[nest] {
					return nil, d.malformed("Multidimensional arrays must have sub-arrays with matching dimensions.")
				}
				nelemsLast[nest] = nelems[nest]
				nelems[nest] = 1
				if nest == 0 {
					eoArray, itemDone = true, true
				} else {
					temp[nest-1]++
				}
			case c == ',' && !inQuotes:
				if state != arrayElemStarted && state != arrayElemCompleted && state != arrayQuotedElemCompleted && state != arrayLevelCompleted {
					return nil, d.malformed(`Unexpected "," character.`)
				}
				if state == arrayLevelCompleted {
					state = arrayLevelDelimited
				} else {
					state = arrayElemDelimited
				}
				itemDone = true
				nelems[nest-1]++
			case !inQuotes && !isSpace(c):
				if state != arrayLevelStarted && state != arrayElemStarted && state != arrayElemDelimited {
					return nil, d.malformed("Unexpected array element.")
				}
				state = arrayElemStarted
			}
			if !itemDone {
				i++
			}
		}
		temp[ndim-1]++
		i++
	}
	for ; i < len(s); i++ {
		if !isSpace(s[i]) {
			return nil, d.malformed("Junk after closing right brace.")
		}
	}
	if empty {
		return nil, nil
	}
	return append([]int32(nil), temp[:ndim]...), nil
}

// readArrayStr is ReadArrayStr: each element's text in s (already
// checked by arrayCount), read as elem; nil for a NULL element.
func (d decoder) readArrayStr(c Converter, elem policy.LogicalType, s []byte, dims []int32, n int) ([]value, [][]byte, error) {
	ndim := len(dims)
	prod := make([]int, ndim) // mda_get_prod
	prod[ndim-1] = 1
	for i := ndim - 2; i >= 0; i-- {
		prod[i] = prod[i+1] * int(dims[i+1])
	}
	items, raw := make([]value, n), make([][]byte, n)
	indx := make([]int, ndim)
	nest, inQuotes, pos := 0, false, 0
	for eoArray := false; !eoArray; {
		at := -1
		var item []byte
		leading, quoted, end := true, false, 0
		for itemDone := false; !itemDone; {
			if pos >= len(s) {
				return nil, nil, d.malformed("Unexpected end of input.")
			}
			ch := s[pos]
			switch {
			case ch == '\\':
				pos++
				if pos >= len(s) {
					return nil, nil, d.malformed("Unexpected end of input.")
				}
				item = append(item, s[pos])
				pos++
				leading, quoted, end = false, true, len(item)
			case ch == '"':
				inQuotes = !inQuotes
				if inQuotes {
					leading = false
				} else {
					end = len(item)
				}
				quoted = true
				pos++
			case ch == '{' && !inQuotes:
				if nest >= ndim {
					return nil, nil, d.malformed("Unexpected \"{\" character.")
				}
				nest++
				indx[nest-1] = 0
				pos++
			case ch == '}' && !inQuotes:
				if nest == 0 {
					return nil, nil, d.malformed("Unmatched \"}\" character.")
				}
				if at == -1 {
					at = offset(indx, prod)
				}
				indx[nest-1] = 0
				nest--
				if nest == 0 {
					eoArray, itemDone = true, true
				} else {
					indx[nest-1]++
				}
				pos++
			case inQuotes:
				item = append(item, ch)
				pos++
			case ch == ',':
				if at == -1 {
					at = offset(indx, prod)
				}
				itemDone = true
				indx[ndim-1]++
				pos++
			case isSpace(ch):
				if !leading {
					item = append(item, ch)
				}
				pos++
			default:
				item = append(item, ch)
				leading, end = false, len(item)
				pos++
			}
		}
		item = item[:end]
		if at < 0 || at >= n {
			return nil, nil, d.malformed("Unexpected array element.")
		}
		if !quoted && bytes.EqualFold(item, []byte("NULL")) {
			items[at] = nil
			continue
		}
		e, err := c.decode(elem, FormatText, item)
		if err != nil {
			return nil, nil, d.elemError(err)
		}
		items[at], raw[at] = e, item
	}
	return items, raw, nil
}

// offset is ArrayGetOffset0: the row-major index of indx.
func offset(indx, prod []int) int {
	o := 0
	for i := range indx {
		o += indx[i] * prod[i]
	}
	return o
}
