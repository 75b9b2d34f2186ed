package guard

import (
	"bytes"
	"encoding/binary"
	"errors"
	"slices"

	"github.com/phiguard/phiguard/internal/pgerr"
	"github.com/phiguard/phiguard/policy"
	"github.com/phiguard/phiguard/sqlrewrite"
)

// Proxy-side WHERE inside IN (SELECT ...) and EXISTS (SELECT ...)
// (docs/search.md, sqlrewrite/planner_subfilter.go): a subquery's filters
// on an encrypted column were replaced by true in the text sent, and a
// hidden column carries, for each row, the array of that column's cells
// over the subquery's rows that the conjunct tests for it (for IN, those
// whose value equals the row's). The row passes when one cell passes
// every filter of its group, as X IN (...) and EXISTS (...) are true
// when one of their rows passes the subquery's WHERE; NOT IN and NOT
// EXISTS (whose array for NOT IN holds the rows where X = k is true or
// NULL) when none does. A NULL cell is
// evaluated as NULL (IS NOT DISTINCT FROM NULL holds on it, a
// comparison does not). With filters on several columns the array holds
// a row of cells per subquery row (protect_subfilter_cells.go), and a
// row of cells passes when each filter passes on its own cell.

// keepRowGroups evaluates each subquery group on its array.
func (s *Session) keepRowGroups(run *sortRun, cells [][]byte, visible int) (bool, *pgerr.Error) {
	for g := 1; ; g++ {
		var idx []int
		for i, f := range run.plan.Filters {
			if f.Group == g {
				idx = append(idx, i)
			}
		}
		if len(idx) == 0 {
			return true, nil
		}
		first := run.plan.Filters[idx[0]]
		width := max(first.GroupCells, 1)
		elems, err := cellRows(cells[visible+first.Value], width) // protect_subfilter_cells.go
		if err != nil || len(elems)%width != 0 {
			return false, pgerr.Newf(pgerr.InternalError, "phiguard could not read the cells of %s it asked for (%v)", first.Column.QualifiedName(), err)
		}
		found, pe := s.someRowPasses(run, idx, elems, width)
		if pe != nil || found == run.plan.Filters[idx[0]].GroupNot { // NOT IN, NOT EXISTS: none may pass
			return false, pe
		}
	}
}

// someRowPasses says whether one row of cells (width each) passes the
// filters idx, each on its cell, evaluated in the order written.
func (s *Session) someRowPasses(run *sortRun, idx []int, elems [][]byte, width int) (bool, *pgerr.Error) {
	for r := 0; r+width <= len(elems); r += width {
		row := elems[r : r+width]
		opened, x := -1, sortValue{}
		all := true
		for _, i := range idx {
			f := run.plan.Filters[i]
			if f.GroupCell < 0 || f.GroupCell >= width {
				return false, pgerr.Newf(pgerr.InternalError, "phiguard's plan of a subquery names no cell of %s", f.Column.QualifiedName())
			}
			if f.GroupCell != opened { // a key is used before the next cell opens
				var pe *pgerr.Error
				if x, pe = s.subCellKey(f.Column, row[f.GroupCell]); pe != nil {
					return false, pe
				}
				opened = f.GroupCell
			}
			ok, pe := run.filterPasses(i, x)
			if pe != nil {
				return false, pe
			}
			if !ok {
				all = false
				break
			}
		}
		if all {
			return true, nil
		}
	}
	return false, nil
}

// subCellKey opens one cell of a subquery's array; a NULL cell is NULL.
func (s *Session) subCellKey(col *policy.ProtectedColumn, cell []byte) (sortValue, *pgerr.Error) {
	if cell == nil {
		return sortValue{null: true}, nil
	}
	return s.transientKey(&resultField{col: col}, cell)
}

// subqueryReads adds to a statement's audited columns those whose cells
// phiguard opened from a subquery's array: they are in no field of the
// result.
func subqueryReads(read []string, sp *sqlrewrite.SortPlan) []string {
	for _, f := range sp.Filters {
		if name := f.Column.QualifiedName(); f.Group > 0 && !slices.Contains(read, name) {
			read = append(slices.Clip(read), name) // read may be readColumns' memo: not written into
		}
	}
	return read
}

// cellArray reads a one-dimensional array of text cells in PostgreSQL's
// text format ({a,"b c",NULL}) or its binary format (which starts with
// the number of dimensions, 0 or 1, as four bytes: a 0 byte, never '{').
// A NULL element is nil.
func cellArray(v []byte) ([][]byte, error) {
	switch {
	case v == nil:
		return nil, errors.New("a NULL array")
	case len(v) > 0 && v[0] == '{':
		return textArray(v)
	}
	return binaryArray(v)
}

// textArray reads array_out's text: elements separated by commas,
// quoted (with backslash escapes) when they hold a special character or
// are empty, NULL unquoted for a NULL element.
func textArray(v []byte) ([][]byte, error) {
	if len(v) < 2 || v[len(v)-1] != '}' {
		return nil, errors.New("not an array")
	}
	body := v[1 : len(v)-1]
	var out [][]byte
	for i := 0; len(body) > 0; {
		var e []byte
		if body[i] == '"' {
			e = []byte{}
			for i++; i < len(body) && body[i] != '"'; i++ {
				if body[i] == '\\' {
					i++
				}
				if i < len(body) {
					e = append(e, body[i])
				}
			}
			if i >= len(body) {
				return nil, errors.New("an unterminated quoted element")
			}
			i++
		} else {
			j := i
			for j < len(body) && body[j] != ',' {
				if bytes.IndexByte([]byte(`"{}\`), body[j]) >= 0 {
					return nil, errors.New("a nested or malformed element")
				}
				j++
			}
			if j == i {
				return nil, errors.New("an empty unquoted element")
			}
			if string(body[i:j]) != "NULL" {
				e = bytes.Clone(body[i:j])
			}
			i = j
		}
		out = append(out, e)
		if i == len(body) {
			break
		}
		if body[i] != ',' || i+1 == len(body) {
			return nil, errors.New("elements not separated by commas")
		}
		i++
	}
	return out, nil
}

// binaryArray reads array_send's format: ndim, a has-NULL flag, the
// element type (text or varchar), per dimension its length and lower
// bound, then each element as a length (-1 for NULL) and its bytes.
func binaryArray(v []byte) ([][]byte, error) {
	if len(v) < 12 {
		return nil, errors.New("a short array header")
	}
	ndim, elem := binary.BigEndian.Uint32(v), binary.BigEndian.Uint32(v[8:])
	if elem != oidText && elem != 1043 {
		return nil, errors.New("an array of another element type")
	}
	switch {
	case ndim == 0:
		return nil, nil
	case ndim != 1 || len(v) < 20:
		return nil, errors.New("an array of more than one dimension")
	}
	n := binary.BigEndian.Uint32(v[12:])
	rest := v[20:]
	if uint64(n)*4 > uint64(len(rest)) {
		return nil, errors.New("an array longer than its message")
	}
	out := make([][]byte, 0, n)
	for range n {
		if len(rest) < 4 {
			return nil, errors.New("a truncated array")
		}
		l := int32(binary.BigEndian.Uint32(rest))
		rest = rest[4:]
		if l < 0 {
			out = append(out, nil)
			continue
		}
		if int(l) > len(rest) {
			return nil, errors.New("a truncated element")
		}
		out = append(out, bytes.Clone(rest[:l]))
		rest = rest[l:]
	}
	if len(rest) != 0 {
		return nil, errors.New("bytes after the last element")
	}
	return out, nil
}
