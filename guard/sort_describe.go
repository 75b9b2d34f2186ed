package guard

import (
	"bytes"
	"encoding/binary"

	"github.com/phiguard/phiguard/internal/pgwire"
)

// trimRowDescription is the RowDescription message of body without its
// last n fields: the others' bytes copied as they are, one allocation,
// where a decoding and an encoding of every field made ten (a sorted
// read of three columns, bench/search's fourth query). Every field is
// checked whole, as pgproto3's decoding does.
func trimRowDescription(body []byte, n int) ([]byte, error) {
	if len(body) < 2 {
		return nil, pgwire.Violation("malformed RowDescription from backend")
	}
	count := int(binary.BigEndian.Uint16(body))
	if count < n {
		return nil, pgwire.Violation("RowDescription without phiguard's sort columns")
	}
	const fixed = 18 // table OID, column number, type OID, size, modifier, format
	at, keep := 2, 2
	for i := range count {
		z := bytes.IndexByte(body[at:], 0)
		if z < 0 || len(body)-(at+z+1) < fixed {
			return nil, pgwire.Violation("malformed RowDescription from backend")
		}
		at += z + 1 + fixed
		if i == count-n-1 {
			keep = at
		}
	}
	out := make([]byte, 0, 1+4+keep)
	out = append(out, pgwire.BeRowDescription)
	out = binary.BigEndian.AppendUint32(out, uint32(4+keep))
	out = binary.BigEndian.AppendUint16(out, uint16(count-n))
	return append(out, body[2:keep]...), nil
}
