package guard

import (
	"encoding/binary"
	"math"
)

// A DataRow's body is a count of fields, then each field's length (-1
// for NULL) and bytes. The guard reads and writes it for every row it
// decrypts, sorts or filters; these do it into buffers it reuses, where
// pgproto3.DataRow allocates a slice of values per row.

// appendRowBody appends a DataRow's body (no type byte or length, which
// decryptDataRow does not read) holding values to dst.
func appendRowBody(dst []byte, values [][]byte) []byte {
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(values)))
	for _, v := range values {
		if v == nil {
			dst = binary.BigEndian.AppendUint32(dst, math.MaxUint32) // -1: NULL
			continue
		}
		dst = binary.BigEndian.AppendUint32(dst, uint32(len(v)))
		dst = append(dst, v...)
	}
	return dst
}

// decodeRowInto reads a DataRow's body into dst (reused): each value is
// a subslice of body, nil for NULL. false for a malformed body.
func decodeRowInto(dst [][]byte, body []byte) ([][]byte, bool) {
	if len(body) < 2 {
		return dst, false
	}
	n := int(binary.BigEndian.Uint16(body))
	body = body[2:]
	for range n {
		if len(body) < 4 {
			return dst, false
		}
		size := int32(binary.BigEndian.Uint32(body))
		body = body[4:]
		switch {
		case size == -1:
			dst = append(dst, nil)
		case size < 0 || int(size) > len(body):
			return dst, false
		default:
			dst = append(dst, body[:size:size])
			body = body[size:]
		}
	}
	return dst, len(body) == 0
}

// appendField appends one DataRow field: its length (-1 for NULL) and
// bytes.
func appendField(out, v []byte) []byte {
	if v == nil {
		return binary.BigEndian.AppendUint32(out, math.MaxUint32)
	}
	out = binary.BigEndian.AppendUint32(out, uint32(len(v)))
	return append(out, v...)
}
