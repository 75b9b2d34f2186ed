package proxy

import (
	"encoding/binary"
	"math"

	"github.com/phiguard/phiguard/internal/pgerr"
	"github.com/phiguard/phiguard/policy"
)

// The types a client declares for its parameters. phiguard sends the
// backend every protected parameter as text (the type of a cell), so the
// backend's ParameterDescription says text; the client is shown what
// PostgreSQL would show it for the plaintext table: the type it declared,
// else the column's type. A binary value is read as the type the client
// declared: psycopg 3 sends the Python int 42 as a binary int2, which
// PostgreSQL accepts into an integer column.

// oidUnknown is the type of a string constant no one typed.
const oidUnknown = 705

// presentedParamType is the type ParameterDescription reports for a
// protected parameter.
func presentedParamType(col *policy.ProtectedColumn, declared uint32) uint32 {
	if declared != 0 {
		return declared
	}
	return col.Type.OID
}

// declaredValue turns a bound value of a declared type other than the
// column's into the text form of the same value, which canonicalization
// reads for the column's type: a binary integer of another width, a
// binary string type (its bytes are its text). Anything else is passed on
// as sent.
func declaredValue(col *policy.ProtectedColumn, declared uint32, format int16, v []byte) (int16, []byte, *pgerr.Error) {
	if format != 1 || declared == 0 || declared == col.Type.OID {
		return format, v, nil
	}
	if isFloat(declared) && isFloat(col.Type.OID) {
		return floatAssigned(col, declared, v)
	}
	switch declared {
	case oidInt2, oidInt4, oidInt8, oidText, oidVarchar, oidBpchar, oidName, oidUnknown:
		var buf [36]byte
		text, ok := subjectText(&buf, v, 1, declared)
		if !ok && declared != oidUnknown {
			return 0, nil, pgerr.Newf(pgerr.InvalidBinaryRepresentation,
				"incorrect binary data format in bind parameter for column %s", col.QualifiedName())
		}
		if declared == oidUnknown {
			text = v
		}
		return 0, append([]byte(nil), text...), nil
	}
	return format, v, nil
}

func isFloat(oid uint32) bool { return oid == policy.OIDFloat4 || oid == policy.OIDFloat8 }

// floatAssigned converts a binary real to double precision exactly, or a
// binary double precision to real as PostgreSQL's float84 does: rounded
// to nearest, 22003 when it overflows or underflows to zero.
func floatAssigned(col *policy.ProtectedColumn, declared uint32, v []byte) (int16, []byte, *pgerr.Error) {
	bad := pgerr.Newf(pgerr.InvalidBinaryRepresentation, "incorrect binary data format in bind parameter for column %s", col.QualifiedName())
	if declared == policy.OIDFloat4 {
		if len(v) != 4 {
			return 0, nil, bad
		}
		f := float64(math.Float32frombits(binary.BigEndian.Uint32(v)))
		return 1, binary.BigEndian.AppendUint64(nil, math.Float64bits(f)), nil
	}
	if len(v) != 8 {
		return 0, nil, bad
	}
	f := math.Float64frombits(binary.BigEndian.Uint64(v))
	f32 := float32(f)
	switch {
	case math.IsInf(float64(f32), 0) && !math.IsInf(f, 0):
		return 0, nil, pgerr.New(pgerr.Code("22003"), "value out of range: overflow")
	case f32 == 0 && f != 0:
		return 0, nil, pgerr.New(pgerr.Code("22003"), "value out of range: underflow")
	}
	return 1, binary.BigEndian.AppendUint32(nil, math.Float32bits(f32)), nil
}
