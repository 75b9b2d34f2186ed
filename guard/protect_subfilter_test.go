package guard

import (
	"encoding/binary"
	"slices"
	"testing"
)

// TestCellArray reads arrays of cells as array_out and array_send write
// them: quoted elements with escapes, NULL, empty arrays; and rejects
// what they never write.
func TestCellArray(t *testing.T) {
	bin := func(elem uint32, vals ...[]byte) []byte {
		b := binary.BigEndian.AppendUint32(nil, 1)
		b = binary.BigEndian.AppendUint32(b, 0)
		b = binary.BigEndian.AppendUint32(b, elem)
		b = binary.BigEndian.AppendUint32(b, uint32(len(vals)))
		b = binary.BigEndian.AppendUint32(b, 1)
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
	for _, c := range []struct {
		in   []byte
		want []string // "<NULL>" for nil
	}{
		{[]byte(`{}`), nil},
		{[]byte(`{abc}`), []string{"abc"}},
		{[]byte(`{abc,NULL,"NULL","",de}`), []string{"abc", "<NULL>", "NULL", "", "de"}},
		{[]byte(`{"a,b","q\"x","s\\t","{}"," sp "}`), []string{"a,b", `q"x`, `s\t`, "{}", " sp "}},
		{empty, nil},
		{bin(oidText, []byte("x1"), nil, []byte{}, []byte(`"{,}`)), []string{"x1", "<NULL>", "", `"{,}`}},
		{bin(1043, []byte("v")), []string{"v"}},
	} {
		got, err := cellArray(c.in)
		if err != nil {
			t.Errorf("%q: %v", c.in, err)
			continue
		}
		var s []string
		for _, e := range got {
			if e == nil {
				s = append(s, "<NULL>")
			} else {
				s = append(s, string(e))
			}
		}
		if !slices.Equal(s, c.want) {
			t.Errorf("%q: got %q, want %q", c.in, s, c.want)
		}
	}
	truncated := bin(oidText, []byte("abcd"))
	for _, bad := range [][]byte{nil, []byte(`{a`), []byte(`{0,}`), []byte(`{"a}`), []byte(`{a,,b}`), []byte(`{{a}}`), []byte(`{a"b}`),
		[]byte(`{"a"b}`), bin(23, []byte("1")), truncated[:len(truncated)-1], append(bin(oidText), 0), []byte{0, 0, 0, 2}} {
		if got, err := cellArray(bad); err == nil {
			t.Errorf("%q: read as %q", bad, got)
		}
	}
}

// FuzzCellArray: any bytes the backend might send as the hidden array
// are read or refused, never a panic, and what is read fits in them.
func FuzzCellArray(f *testing.F) {
	for _, s := range []string{`{}`, `{a,NULL,"b\"c",""}`, `{"x`, "\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x19\x00\x00\x00\x01\x00\x00\x00\x01\x00\x00\x00\x02ab"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		elems, err := cellArray(in)
		if err != nil {
			return
		}
		n := 0
		for _, e := range elems {
			n += len(e)
		}
		if n > len(in) {
			t.Fatalf("%q: %d bytes of elements", in, n)
		}
	})
}
