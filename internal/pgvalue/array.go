package pgvalue

import (
	"bytes"
	"encoding/binary"
	"github.com/phiguard/phiguard/internal/pgerr"
	"slices"
	"strconv"
	"time"

	"github.com/phiguard/phiguard/policy"
)

// Arrays of the supported scalars are stored whole: the canonical text
// is array_out's (elements in their canonical text, quoted where
// array_out quotes, "[lb:ub]=" ahead when a lower bound is not 1), read
// by array_in's rules (array_in.go) or array_recv's (arrayBinary), and
// presented as array_out or array_send in the session's settings.

// maxDim is PostgreSQL's MAXDIM.
const maxDim = 6

// arrayValue is an array: its dimensions and lower bounds (none for an
// empty array) and its elements in row-major order, nil for NULL.
type arrayValue struct {
	elem  policy.LogicalType
	dims  []int32
	lbs   []int32
	items []value
}

func (v arrayValue) text(loc *time.Location) []byte {
	return v.out(func(e value) []byte { return e.text(loc) })
}

func (v arrayValue) sessionText(c Converter) []byte {
	return v.out(func(e value) []byte {
		switch sv := e.(type) {
		case styled:
			return sv.styledText(c.loc(), c.DateStyle)
		case sessionStyled:
			return sv.sessionText(c)
		}
		return e.text(c.loc())
	})
}

// out is array_out with each element printed by print.
func (v arrayValue) out(print func(value) []byte) []byte {
	if len(v.dims) == 0 {
		return []byte("{}")
	}
	var b []byte
	if slices.ContainsFunc(v.lbs, func(lb int32) bool { return lb != 1 }) {
		for j := range v.dims {
			b = append(b, '[')
			b = strconv.AppendInt(b, int64(v.lbs[j]), 10)
			b = append(b, ':')
			b = strconv.AppendInt(b, int64(v.lbs[j])+int64(v.dims[j])-1, 10)
			b = append(b, ']')
		}
		b = append(b, '=')
	}
	k := 0
	var level func(d int)
	level = func(d int) {
		b = append(b, '{')
		for i := int32(0); i < v.dims[d]; i++ {
			if i > 0 {
				b = append(b, ',')
			}
			if d+1 < len(v.dims) {
				level(d + 1)
				continue
			}
			if v.items[k] == nil {
				b = append(b, "NULL"...)
			} else {
				b = appendArrayItem(b, print(v.items[k]))
			}
			k++
		}
		b = append(b, '}')
	}
	level(0)
	return b
}

// appendArrayItem writes one element's text as array_out does: quoted
// when empty, NULL in any case, or holding a quote, backslash, brace,
// the delimiter or white space; quotes and backslashes escaped inside.
func appendArrayItem(b, s []byte) []byte {
	quote := len(s) == 0 || bytes.EqualFold(s, []byte("NULL"))
	for _, c := range s {
		if c == '"' || c == '\\' || c == '{' || c == '}' || c == ',' || isSpace(c) {
			quote = true
			break
		}
	}
	if !quote {
		return append(b, s...)
	}
	b = append(b, '"')
	for _, c := range s {
		if c == '"' || c == '\\' {
			b = append(b, '\\')
		}
		b = append(b, c)
	}
	return append(b, '"')
}

// binary is array_send: dimensions, a has-null flag, the element OID,
// each dimension's length and lower bound, then each element's length
// (-1 for NULL) and send form.
func (v arrayValue) binary() []byte {
	hasNull := int32(0)
	for _, e := range v.items {
		if e == nil {
			hasNull = 1
		}
	}
	b := binary.BigEndian.AppendUint32(nil, uint32(len(v.dims)))
	b = binary.BigEndian.AppendUint32(b, uint32(hasNull))
	b = binary.BigEndian.AppendUint32(b, v.elem.OID)
	for i := range v.dims {
		b = binary.BigEndian.AppendUint32(b, uint32(v.dims[i]))
		b = binary.BigEndian.AppendUint32(b, uint32(v.lbs[i]))
	}
	for _, e := range v.items {
		if e == nil {
			b = binary.BigEndian.AppendUint32(b, 0xffffffff)
			continue
		}
		eb := e.binary()
		b = binary.BigEndian.AppendUint32(b, uint32(len(eb)))
		b = append(b, eb...)
	}
	return b
}

// firstGenbkiObjectID is PostgreSQL's FirstGenbkiObjectId: array_recv
// complains of another element type only when both are built in.
const firstGenbkiObjectID = 10000

// arrayBinary follows array_recv; c reads each element as elem.
func (d decoder) arrayBinary(c Converter, elem policy.LogicalType, in []byte) (value, error) {
	r := msgReader{b: in}
	short := func() error {
		return d.coded(pgerr.ProtocolViolation, "insufficient data left in message", "insufficient data")
	}
	ndim := int32(r.uint32())
	switch {
	case r.short:
		return nil, short()
	case ndim < 0:
		return nil, d.coded(pgerr.InvalidBinaryRepresentation, "", "invalid number of dimensions")
	case ndim > maxDim:
		return nil, d.tooManyDims(int(ndim))
	}
	flags := int32(r.uint32())
	switch {
	case r.short:
		return nil, short()
	case flags != 0 && flags != 1:
		return nil, d.coded(pgerr.InvalidBinaryRepresentation, "invalid array flags", "invalid array flags")
	}
	oid := r.uint32()
	switch {
	case r.short:
		return nil, short()
	case oid != elem.OID && oid < firstGenbkiObjectID:
		return nil, d.coded(pgerr.DatatypeMismatch, "", "binary data has array element type %d instead of expected %d", oid, elem.OID)
	}
	v := arrayValue{elem: elem}
	dims, lbs := make([]int32, ndim), make([]int32, ndim)
	for i := range dims {
		dims[i], lbs[i] = int32(r.uint32()), int32(r.uint32())
	}
	if r.short {
		return nil, short()
	}
	n, err := d.checkDims(dims, lbs)
	if err != nil || n == 0 {
		return v, err
	}
	v.dims, v.lbs = dims, lbs
	// Each element takes at least its 4-byte length: a header claiming
	// more elements than the input holds must not size an allocation.
	raw := make([][]byte, 0, min(n, len(r.b)/4))
	for i := 0; i < n; i++ {
		l := int32(r.uint32())
		if r.short {
			return nil, short()
		}
		if l < -1 || int(l) > len(r.b) {
			return nil, d.coded(pgerr.InvalidBinaryRepresentation, "insufficient data left in message", "insufficient data")
		}
		if l == -1 {
			v.items, raw = append(v.items, nil), append(raw, nil)
			continue
		}
		e, err := c.decode(unmodified(elem), FormatBinary, r.b[:l])
		if err != nil {
			return nil, d.elemError(err)
		}
		v.items, raw = append(v.items, e), append(raw, r.b[:l])
		r.b = r.b[l:]
	}
	if len(r.b) != 0 {
		return nil, d.coded(pgerr.InvalidBinaryRepresentation, "", "trailing bytes after the array")
	}
	return d.withModifier(c, v, FormatBinary, raw)
}

// unmodified is elem without its modifier. PostgreSQL reads an array
// (array_in, array_recv) with its elements' input functions without the
// column's modifier, then applies the modifier to each element in turn
// as an assignment cast; the order decides which error a value with two
// faults raises.
func unmodified(elem policy.LogicalType) policy.LogicalType {
	elem.Modifier = -1
	return elem
}

// withModifier applies the column's modifier to each element of v, as
// the assignment cast does: reading an element's input (raw, in
// format) again with the modifier is what that cast computes
// (varchar(n)'s and char(n)'s length rule and padding, numeric's and
// the times' rounding).
func (d decoder) withModifier(c Converter, v arrayValue, format int16, raw [][]byte) (value, error) {
	if v.elem.Modifier < 0 {
		return v, nil
	}
	for i, e := range v.items {
		if e == nil {
			continue
		}
		m, err := c.decode(v.elem, format, raw[i])
		if err != nil {
			return nil, d.elemError(err)
		}
		v.items[i] = m
	}
	return v, nil
}

// checkDims is ArrayGetNItems and ArrayCheckBounds: the number of
// elements, 54000 when a dimension is negative or too large.
func (d decoder) checkDims(dims, lbs []int32) (int, error) {
	n := int64(1)
	if len(dims) == 0 {
		return 0, nil
	}
	for i, dim := range dims {
		if dim < 0 {
			return 0, d.coded(pgerr.ProgramLimitExceeded, "", "array size exceeds the maximum allowed")
		}
		n *= int64(dim)
		if n > 1<<27-1 { // MaxArraySize
			return 0, d.coded(pgerr.ProgramLimitExceeded, "", "array size exceeds the maximum allowed")
		}
		if int64(lbs[i])+int64(dim) > 1<<31-1 {
			return 0, d.coded(pgerr.ProgramLimitExceeded, "", "array lower bound is too large")
		}
	}
	return int(n), nil
}

func (d decoder) tooManyDims(n int) *Error {
	msg := "number of array dimensions (" + strconv.Itoa(n) + ") exceeds the maximum allowed (6)"
	return d.coded(pgerr.ProgramLimitExceeded, msg, "%s", msg)
}

// elemError is an element's error, as the array's.
func (d decoder) elemError(err error) error {
	if e, ok := err.(*Error); ok {
		c := *e
		c.Type = d.t.String()
		return &c
	}
	return err
}

// msgReader reads big-endian integers, noting when the input ran short.
type msgReader struct {
	b     []byte
	short bool
}

func (r *msgReader) uint32() uint32 {
	if len(r.b) < 4 {
		r.short, r.b = true, nil
		return 0
	}
	v := binary.BigEndian.Uint32(r.b)
	r.b = r.b[4:]
	return v
}
