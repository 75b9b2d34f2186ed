package pgcopy

import (
	"bytes"
	"fmt"
	"strconv"
)

// Decode splits a row into field values; a NULL field is nil.
func (f Format) Decode(row []byte) ([][]byte, error) {
	if f.CSV {
		return f.decodeCSV(row)
	}
	return f.decodeText(row)
}

// Encode joins field values into a row (no line ending); nil is NULL.
func (f Format) Encode(fields [][]byte) []byte {
	var out []byte
	for i, v := range fields {
		if i > 0 {
			out = append(out, f.Delimiter)
		}
		switch {
		case v == nil:
			out = append(out, f.Null...)
		case f.CSV:
			out = f.appendCSV(out, v)
		default:
			out = f.appendTextField(out, v)
		}
	}
	return out
}

func (f Format) decodeText(row []byte) ([][]byte, error) {
	var fields [][]byte
	var cur []byte
	raw := 0 // start of the current field in row, to compare with Null
	for i := 0; i <= len(row); i++ {
		if i == len(row) || row[i] == f.Delimiter {
			if string(row[raw:i]) == f.Null {
				fields = append(fields, nil)
			} else {
				fields = append(fields, append([]byte{}, cur...))
			}
			cur, raw = cur[:0], i+1
			continue
		}
		c := row[i]
		if c != '\\' {
			cur = append(cur, c)
			continue
		}
		if i+1 >= len(row) {
			return nil, fmt.Errorf("COPY text row ends with a lone backslash")
		}
		i++
		switch e := row[i]; e {
		case 'b':
			cur = append(cur, '\b')
		case 'f':
			cur = append(cur, '\f')
		case 'n':
			cur = append(cur, '\n')
		case 'r':
			cur = append(cur, '\r')
		case 't':
			cur = append(cur, '\t')
		case 'v':
			cur = append(cur, '\v')
		case 'x':
			j := i + 1
			for j < len(row) && j < i+3 && isHex(row[j]) {
				j++
			}
			if j == i+1 {
				cur = append(cur, 'x')
				continue
			}
			n, _ := strconv.ParseUint(string(row[i+1:j]), 16, 8)
			cur = append(cur, byte(n))
			i = j - 1
		case '0', '1', '2', '3', '4', '5', '6', '7':
			j := i
			for j < len(row) && j < i+3 && row[j] >= '0' && row[j] <= '7' {
				j++
			}
			n, _ := strconv.ParseUint(string(row[i:j]), 8, 16)
			cur = append(cur, byte(n))
			i = j - 1
		default:
			cur = append(cur, e)
		}
	}
	return fields, nil
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// appendTextField is a non-NULL text field: escaped (appendText), and
// with its first byte in octal when that would read as the NULL string,
// which PostgreSQL compares with a field before it unescapes it (NULL
// 'abc': a value abc written \abc is not NULL, and must not become it).
func (f Format) appendTextField(out, v []byte) []byte {
	start := len(out)
	out = f.appendText(out, v)
	if len(v) > 0 && string(out[start:]) == f.Null {
		out = fmt.Appendf(out[:start], "\\%03o", v[0])
		out = f.appendText(out, v[1:])
	}
	return out
}

// appendText escapes like PostgreSQL's COPY TO: control characters by
// letter, backslash doubled, the delimiter behind a backslash.
func (f Format) appendText(out, v []byte) []byte {
	for _, c := range v {
		switch c {
		case '\b':
			out = append(out, '\\', 'b')
		case '\f':
			out = append(out, '\\', 'f')
		case '\n':
			out = append(out, '\\', 'n')
		case '\r':
			out = append(out, '\\', 'r')
		case '\t':
			out = append(out, '\\', 't')
		case '\v':
			out = append(out, '\\', 'v')
		case '\\':
			out = append(out, '\\', '\\')
		default:
			if c == f.Delimiter {
				out = append(out, '\\')
			}
			out = append(out, c)
		}
	}
	return out
}

func (f Format) decodeCSV(row []byte) ([][]byte, error) {
	var fields [][]byte
	i := 0
	for {
		var cur []byte
		quoted := false
		start := i
		for i < len(row) && row[i] != f.Delimiter {
			c := row[i]
			if c != f.Quote {
				cur = append(cur, c)
				i++
				continue
			}
			quoted = true
			i++
			for {
				if i >= len(row) {
					return nil, fmt.Errorf("COPY CSV row ends inside a quoted field")
				}
				c := row[i]
				if c == f.Escape && i+1 < len(row) && (row[i+1] == f.Quote || (f.Escape != f.Quote && row[i+1] == f.Escape)) {
					cur = append(cur, row[i+1])
					i += 2
					continue
				}
				if c == f.Quote {
					i++
					break
				}
				cur = append(cur, c)
				i++
			}
		}
		switch {
		case !quoted && string(row[start:i]) == f.Null:
			fields = append(fields, nil)
		default:
			fields = append(fields, append([]byte{}, cur...))
		}
		if i >= len(row) {
			return fields, nil
		}
		i++ // the delimiter
	}
}

func (f Format) appendCSV(out, v []byte) []byte {
	needs := len(v) == 0 || string(v) == f.Null ||
		bytes.IndexByte(v, f.Delimiter) >= 0 || bytes.IndexByte(v, f.Quote) >= 0 ||
		bytes.IndexByte(v, f.Escape) >= 0 || bytes.ContainsAny(v, "\r\n")
	if !needs {
		return append(out, v...)
	}
	out = append(out, f.Quote)
	for _, c := range v {
		if c == f.Quote || c == f.Escape {
			out = append(out, f.Escape)
		}
		out = append(out, c)
	}
	return append(out, f.Quote)
}
