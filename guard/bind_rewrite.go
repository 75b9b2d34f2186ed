package guard

import (
	"encoding/binary"

	"github.com/phiguard/phiguard/internal/pgwire"
)

// protectBind rewrites every Bind whose statement has protected
// parameters: a prepared INSERT or SELECT by an encrypted column does so
// at each execution. It splits the message and writes the new one itself,
// into buffers the client pump keeps, instead of decoding it into a
// pgproto3.Bind and encoding a fresh one: the same bytes out, without the
// garbage of both.

// bindParts is a Bind message's body split into what protectBind changes,
// the parameters and their formats, and what it copies as it came.
type bindParts struct {
	names []byte // the portal and statement names, each NUL-terminated
	// formats is each parameter's format code, Bind's zero, one or
	// per-parameter codes spelled out (formatFor).
	formats []int16
	params  [][]byte // nil for NULL
	results []byte   // the result format codes with their count
}

// bindScratch is what splitBind and appendBind reuse from Bind to Bind
// (client pump). What they return is valid until the next Bind.
type bindScratch struct {
	parts bindParts
	out   []byte
	// sealed is encryptParams' slice of cells by parameter.
	sealed [][]byte
	// mult is the round multiplier's value in the Bind being rewritten
	// (protect_search.go's bindTerms).
	mult [8]byte
}

// maxKeptBind is the largest rewritten Bind kept for reuse; a bigger one
// (a large document bound as a parameter) is let go.
const maxKeptBind = 64 << 10

// splitBind splits a Bind body; false when it is malformed.
func (b *bindScratch) splitBind(body []byte) (bindParts, bool) {
	p := bindParts{formats: b.parts.formats[:0], params: b.parts.params[:0]}
	_, rest, ok := pgwire.Cstring(body)
	if ok {
		_, rest, ok = pgwire.Cstring(rest)
	}
	if !ok {
		return bindParts{}, false
	}
	p.names = body[:len(body)-len(rest)]
	nf, rest, ok := readUint16(rest)
	if !ok || len(rest) < 2*nf {
		return bindParts{}, false
	}
	codes := rest[:2*nf]
	rest = rest[2*nf:]
	np, rest, ok := readUint16(rest)
	if !ok {
		return bindParts{}, false
	}
	for i := 0; i < np; i++ {
		if len(rest) < 4 {
			return bindParts{}, false
		}
		n := int(int32(binary.BigEndian.Uint32(rest)))
		rest = rest[4:]
		var v []byte
		if n >= 0 {
			if n > len(rest) {
				return bindParts{}, false
			}
			v, rest = rest[:n:n], rest[n:]
		}
		p.params = append(p.params, v)
		p.formats = append(p.formats, codeFor(codes, nf, i))
	}
	nr, after, ok := readUint16(rest)
	if !ok || len(after) < 2*nr {
		return bindParts{}, false
	}
	p.results = rest[:2+2*nr]
	b.parts = p
	return p, true
}

// codeFor is formatFor over the raw big-endian codes of a Bind.
func codeFor(codes []byte, n, i int) int16 {
	switch {
	case n == 0:
		return 0
	case n == 1:
		return int16(binary.BigEndian.Uint16(codes))
	case i < n:
		return int16(binary.BigEndian.Uint16(codes[2*i:]))
	}
	return 0
}

func readUint16(b []byte) (int, []byte, bool) {
	if len(b) < 2 {
		return 0, b, false
	}
	return int(binary.BigEndian.Uint16(b)), b[2:], true
}

// appendBind writes the Bind message of p, one format code per
// parameter, into the scratch buffer.
func (b *bindScratch) appendBind(p bindParts) []byte {
	out := append(b.out[:0], pgwire.FeBind, 0, 0, 0, 0)
	out = append(out, p.names...)
	out = binary.BigEndian.AppendUint16(out, uint16(len(p.formats)))
	for _, f := range p.formats {
		out = binary.BigEndian.AppendUint16(out, uint16(f))
	}
	out = binary.BigEndian.AppendUint16(out, uint16(len(p.params)))
	for _, v := range p.params {
		if v == nil {
			out = binary.BigEndian.AppendUint32(out, ^uint32(0))
			continue
		}
		out = binary.BigEndian.AppendUint32(out, uint32(len(v)))
		out = append(out, v...)
	}
	out = append(out, p.results...)
	binary.BigEndian.PutUint32(out[1:5], uint32(len(out)-1))
	// The next splitBind starts from these slices: keep what appendAdded
	// grew them to (one allocation less per Bind of a statement with added
	// parameters), without their values.
	clear(p.params)
	b.parts.formats, b.parts.params = p.formats[:0], p.params[:0]
	if cap(out) <= maxKeptBind {
		b.out = out
	} else {
		b.out = nil
	}
	return out
}
