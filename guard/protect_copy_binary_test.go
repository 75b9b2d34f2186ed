package guard

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/phiguard/phiguard/internal/pgerr"
	"github.com/phiguard/phiguard/policy"
)

// binaryStream is a binary COPY stream of tuples (nil is NULL), with a
// header extension and the trailer.
func binaryStream(tuples ...[][]byte) []byte {
	out := append([]byte(nil), binarySignature...)
	out = binary.BigEndian.AppendUint32(out, 0)
	out = binary.BigEndian.AppendUint32(out, 3)
	out = append(out, "ext"...)
	for _, t := range tuples {
		out = binary.BigEndian.AppendUint16(out, uint16(len(t)))
		for _, f := range t {
			if f == nil {
				out = binary.BigEndian.AppendUint32(out, 0xffffffff)
				continue
			}
			out = binary.BigEndian.AppendUint32(out, uint32(len(f)))
			out = append(out, f...)
		}
	}
	return binary.BigEndian.AppendUint16(out, 0xffff)
}

// TestBinaryCopyCutAnywhere feeds a binary COPY stream cut at every byte
// and checks the output is the stream with exactly the protected fields
// rewritten, whatever the cut.
func TestBinaryCopyCutAnywhere(t *testing.T) {
	col := &policy.ProtectedColumn{}
	enc := func(i int, v []byte) ([]byte, *pgerr.Error) { return append([]byte("cell:"), v...), nil }
	in := binaryStream([][]byte{[]byte("1"), []byte("secret"), nil}, [][]byte{[]byte("22"), nil, []byte("x")})
	want := binaryStream([][]byte{[]byte("1"), []byte("cell:secret"), nil}, [][]byte{[]byte("22"), nil, []byte("x")})
	for cut := 0; cut <= len(in); cut++ {
		r := &copyRewriter{cols: []*policy.ProtectedColumn{nil, col, nil}, bin: &binaryCopy{}}
		a, pe := r.feedBinary(in[:cut], enc)
		if pe != nil {
			t.Fatalf("cut %d: %v", cut, pe)
		}
		b, pe := r.feedBinary(in[cut:], enc)
		if pe != nil {
			t.Fatalf("cut %d: %v", cut, pe)
		}
		if got := append(a, b...); !bytes.Equal(got, want) || !r.bin.ended || len(r.bin.buf) != 0 {
			t.Fatalf("cut %d: got %q, want %q", cut, got, want)
		}
	}
}

func TestBinaryCopyRefusesMalformed(t *testing.T) {
	col := &policy.ProtectedColumn{}
	enc := func(i int, v []byte) ([]byte, *pgerr.Error) { return v, nil }
	good := binaryStream([][]byte{[]byte("a"), []byte("b")})
	for name, in := range map[string][]byte{
		"no signature":       append([]byte("PGCOPX\n\xff\r\n\x00"), good[11:]...),
		"wrong field count":  binaryStream([][]byte{[]byte("a")}),
		"negative length":    append(append([]byte(nil), good[:len(good)-2-2-1-4-1-4]...), 0, 2, 0xff, 0xff, 0xff, 0xfe),
		"data after trailer": append(append([]byte(nil), good...), 0, 2),
	} {
		r := &copyRewriter{cols: []*policy.ProtectedColumn{nil, col}, bin: &binaryCopy{}}
		if _, pe := r.feedBinary(in, enc); pe == nil || pe.Code != pgerr.BadCopyFileFormat {
			t.Errorf("%s: %v, want 22P04", name, pe)
		}
	}
}
