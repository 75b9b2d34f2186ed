package guard

import (
	"bytes"
	"encoding/binary"
	"errors"
)

// The hidden array of a subquery whose filters compare several encrypted
// columns (sqlrewrite/planner_subfilter_cells.go) is two-dimensional: a
// row of width cells (as text) per inner row, {{a,b},{c,NULL}} in text,
// or an empty array when no inner row is tested. cellRows reads either
// format into its cells, row after row; one column keeps cellArray's
// one-dimensional array.

// cellRows reads the hidden array of a group whose rows hold width cells.
func cellRows(v []byte, width int) ([][]byte, error) {
	if width <= 1 {
		return cellArray(v)
	}
	switch {
	case v == nil:
		return nil, errors.New("a NULL array")
	case len(v) > 0 && v[0] == '{':
		return textRows(v, width)
	}
	return binaryRows(v, width)
}

// textRows reads array_out's text of a two-dimensional array: rows in
// braces, separated by commas, each row as textArray reads one.
func textRows(v []byte, width int) ([][]byte, error) {
	if len(v) < 2 || v[len(v)-1] != '}' {
		return nil, errors.New("not an array")
	}
	body := v[1 : len(v)-1]
	var out [][]byte
	for len(body) > 0 {
		end, err := rowEnd(body)
		if err != nil {
			return nil, err
		}
		row, err := textArray(body[:end+1])
		if err != nil {
			return nil, err
		}
		if len(row) != width {
			return nil, errors.New("a row of another width")
		}
		out = append(out, row...)
		body = body[end+1:]
		if len(body) > 0 {
			if body[0] != ',' || len(body) == 1 {
				return nil, errors.New("rows not separated by commas")
			}
			body = body[1:]
		}
	}
	return out, nil
}

// rowEnd is the index of the brace closing the row body starts with,
// past quoted elements (whose backslash escapes the next byte).
func rowEnd(body []byte) (int, error) {
	if body[0] != '{' {
		return 0, errors.New("a row not in braces")
	}
	quoted := false
	for i := 1; i < len(body); i++ {
		switch c := body[i]; {
		case quoted && c == '\\':
			i++
		case c == '"':
			quoted = !quoted
		case !quoted && c == '{':
			return 0, errors.New("an array of more than two dimensions")
		case !quoted && c == '}':
			return i, nil
		}
	}
	return 0, errors.New("an unterminated row")
}

// binaryRows reads array_send's format of a two-dimensional array of
// text: ndim 2 (0 when empty), the has-NULL flag, the element type, the
// rows' count and lower bound, the width and its lower bound, then the
// elements row after row, each a length (-1 for NULL) and its bytes.
func binaryRows(v []byte, width int) ([][]byte, error) {
	if len(v) < 12 {
		return nil, errors.New("a short array header")
	}
	ndim, elem := binary.BigEndian.Uint32(v), binary.BigEndian.Uint32(v[8:])
	switch {
	case elem != oidText:
		return nil, errors.New("an array of another element type")
	case ndim == 0:
		return nil, nil
	case ndim != 2 || len(v) < 28:
		return nil, errors.New("an array not of two dimensions")
	}
	rows, w := binary.BigEndian.Uint32(v[12:]), binary.BigEndian.Uint32(v[20:])
	if int(w) != width {
		return nil, errors.New("rows of another width")
	}
	rest := v[28:]
	n := uint64(rows) * uint64(w)
	if n*4 > uint64(len(rest)) {
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
