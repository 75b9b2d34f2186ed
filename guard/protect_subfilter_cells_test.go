package guard

import (
	"encoding/binary"
	"slices"
	"testing"
)

// TestCellRows reads two-dimensional arrays of cells as array_out and
// array_send write them (rows of a subquery's cells of several columns):
// quoted elements holding braces, commas and escapes, NULL, the empty
// array; and rejects another width, a third dimension, a malformed text.
func TestCellRows(t *testing.T) {
	bin := func(rows, width uint32, vals ...[]byte) []byte {
		b := binary.BigEndian.AppendUint32(nil, 2)
		b = binary.BigEndian.AppendUint32(b, 0)
		b = binary.BigEndian.AppendUint32(b, oidText)
		for _, n := range []uint32{rows, 1, width, 1} {
			b = binary.BigEndian.AppendUint32(b, n)
		}
		for _, v := range vals {
			if v == nil {
				b = binary.BigEndian.AppendUint32(b, 0xffffffff)
				continue
			}
			b = binary.BigEndian.AppendUint32(b, uint32(len(v)))
			b = append(b, v...)
		}
		return b
	}
	empty := binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32(nil, 0), 0), oidText)
	show := func(cells [][]byte) []string {
		var out []string
		for _, c := range cells {
			if c == nil {
				out = append(out, "<NULL>")
			} else {
				out = append(out, string(c))
			}
		}
		return out
	}
	for _, c := range []struct {
		in   []byte
		want []string
	}{
		{[]byte(`{}`), nil},
		{[]byte(`{{a,b}}`), []string{"a", "b"}},
		{[]byte(`{{a,NULL},{"NULL",""},{"}{,","q\"\\}"}}`), []string{"a", "<NULL>", "NULL", "", "}{,", `q"\}`}},
		{empty, nil},
		{bin(2, 2, []byte("x"), nil, []byte{}, []byte("{},")), []string{"x", "<NULL>", "", "{},"}},
	} {
		got, err := cellRows(c.in, 2)
		if err != nil || !slices.Equal(show(got), c.want) {
			t.Errorf("cellRows(%q) = %q, %v; want %q", c.in, show(got), err, c.want)
		}
	}
	for _, bad := range [][]byte{
		nil, []byte(`{{a,b,c}}`), []byte(`{{a}}`), []byte(`{{a,b}`), []byte(`{{a,b}{c,d}}`), []byte(`{{{a,b}}}`),
		[]byte(`{{a,b},}`), []byte(`{a,b}`), bin(1, 3, []byte("a"), []byte("b"), []byte("c")), bin(2, 2, []byte("a")),
		append(bin(1, 2, []byte("a"), []byte("b")), 0),
	} {
		if got, err := cellRows(bad, 2); err == nil {
			t.Errorf("cellRows(%q) = %q, want an error", bad, show(got))
		}
	}
	// One column keeps the one-dimensional array.
	if got, err := cellRows([]byte(`{a,NULL}`), 1); err != nil || !slices.Equal(show(got), []string{"a", "<NULL>"}) {
		t.Errorf("one column: %q, %v", show(got), err)
	}
}
