package guard

import (
	"bytes"
	"math/rand/v2"
	"testing"

	"github.com/jackc/pgx/v5/pgproto3"
)

// TestBindRewriteMatchesPgproto3: splitting a Bind and writing it again
// gives the bytes pgproto3 gives for the same message with one format code
// per parameter (what protectBind sent before it wrote Binds itself), for
// random names, parameter counts, NULLs, binary values and each form of
// format codes (none, one for all, one each); changed parameters land in
// their slot; a truncated message is malformed, never a panic.
func TestBindRewriteMatchesPgproto3(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	var scratch bindScratch
	for i := 0; i < 2000; i++ {
		n := rng.IntN(6)
		msg := pgproto3.Bind{DestinationPortal: []string{"", "p1", "portal two"}[rng.IntN(3)], PreparedStatement: []string{"", "s1"}[rng.IntN(2)]}
		for j := 0; j < n; j++ {
			var v []byte
			if rng.IntN(4) > 0 {
				v = make([]byte, rng.IntN(20))
				for k := range v {
					v[k] = byte(rng.UintN(256))
				}
			}
			msg.Parameters = append(msg.Parameters, v)
		}
		switch rng.IntN(3) {
		case 1:
			msg.ParameterFormatCodes = []int16{int16(rng.IntN(2))}
		case 2:
			for j := 0; j < n; j++ {
				msg.ParameterFormatCodes = append(msg.ParameterFormatCodes, int16(rng.IntN(2)))
			}
		}
		for j := rng.IntN(4); j > 0; j-- {
			msg.ResultFormatCodes = append(msg.ResultFormatCodes, int16(rng.IntN(2)))
		}
		wire, err := msg.Encode(nil)
		if err != nil {
			t.Fatal(err)
		}
		parts, ok := scratch.splitBind(wire[5:])
		if !ok || len(parts.params) != n {
			t.Fatalf("case %d: split %v, %d params", i, ok, len(parts.params))
		}
		changed := -1
		if n > 0 {
			changed = rng.IntN(n)
			parts.params[changed], parts.formats[changed] = []byte("~phg~cell"), 0
		}
		got := append([]byte(nil), scratch.appendBind(parts)...)

		want := msg
		want.ParameterFormatCodes = make([]int16, n)
		for j := range want.ParameterFormatCodes {
			want.ParameterFormatCodes[j] = formatFor(msg.ParameterFormatCodes, j)
		}
		want.Parameters = append([][]byte(nil), msg.Parameters...)
		if changed >= 0 {
			want.Parameters[changed], want.ParameterFormatCodes[changed] = []byte("~phg~cell"), 0
		}
		wantWire, _ := want.Encode(nil)
		if !bytes.Equal(got, wantWire) {
			t.Fatalf("case %d: wrote\n% x\nwant\n% x", i, got, wantWire)
		}
		cut := rng.IntN(len(wire) - 5)
		if _, ok := scratch.splitBind(wire[5 : 5+cut]); ok {
			t.Fatalf("case %d: a Bind cut to %d of %d bytes split", i, cut, len(wire)-5)
		}
	}
}

// BenchmarkBindRewrite: re-encoding a prepared INSERT's Bind with one
// parameter replaced by a cell, phiguard's way (split, write into reused
// buffers) against decoding and encoding it with pgproto3, as protectBind
// did before.
func BenchmarkBindRewrite(b *testing.B) {
	msg := pgproto3.Bind{PreparedStatement: "P_1", Parameters: [][]byte{[]byte("123456789"), []byte("987654321")}}
	wire, _ := msg.Encode(nil)
	body := wire[5:]
	cell := []byte("~phg~AQEJYmVuY2gtc3NuAAAAAUm3q0bKcBoL8F0h9q8eXr8-bCk2a7lYGnQ")
	b.Run("split", func(b *testing.B) {
		var scratch bindScratch
		for b.Loop() {
			parts, _ := scratch.splitBind(body)
			parts.params[1], parts.formats[1] = cell, 0
			_ = scratch.appendBind(parts)
		}
	})
	b.Run("pgproto3", func(b *testing.B) {
		for b.Loop() {
			var m pgproto3.Bind
			_ = m.Decode(body)
			formats := make([]int16, len(m.Parameters))
			m.Parameters[1], formats[1] = cell, 0
			m.ParameterFormatCodes = formats
			_, _ = m.Encode(nil)
		}
	})
}
