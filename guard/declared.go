package guard

import (
	"slices"

	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/phiguard/phiguard/internal/pgerr"
	"github.com/phiguard/phiguard/internal/pgvalue"
	"github.com/phiguard/phiguard/internal/pgwire"
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

// numberTypes are the number types a client may declare for a number
// column of another type; PostgreSQL assigns between them
// (pgvalue.Converter.Assign).
var numberTypes = map[uint32]policy.LogicalType{}

func init() {
	for _, n := range []string{"smallint", "integer", "bigint", "real", "double precision", "numeric"} {
		t, _ := policy.ParseType(n)
		numberTypes[t.OID] = t
	}
}

// declaredValue turns a bound value of a declared type other than the
// column's into the text form of the same value, which canonicalization
// reads for the column's type: a number of another number type by
// PostgreSQL's assignment cast (in text or binary: 42.5 declared double
// precision is 42 in an integer column), a binary string type (its bytes
// are its text). Anything else is passed on as sent.
func declaredValue(col *policy.ProtectedColumn, declared uint32, format int16, v []byte) (int16, []byte, *pgerr.Error) {
	if declared == 0 || declared == col.Type.OID {
		return format, v, nil
	}
	if col.Type.IsArray() {
		return declaredArray(col, declared, format, v)
	}
	if from, ok := numberTypes[declared]; ok {
		if canon, ok, err := (pgvalue.Converter{}).Assign(from, col.Type, format, v); ok {
			if err != nil {
				return 0, nil, valueError(col, err)
			}
			return 0, canon, nil
		}
	}
	if format != 1 {
		return format, v, nil
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

// declaredArray is declaredValue for an array column: an array of
// another type whose elements PostgreSQL's assignment converts by their
// text alone (an integer array into one of wider or narrower integers
// or numeric: psycopg 3 sends a list of small ints as a binary
// smallint[]; a text or varchar array into one of a string type) is
// read as its own type, and its canonical text then as the column's.
// Anything else is passed on as sent: in binary the element type in its
// header is then refused (42804) as PostgreSQL refuses a mismatch.
func declaredArray(col *policy.ProtectedColumn, declared uint32, format int16, v []byte) (int16, []byte, *pgerr.Error) {
	from, ok := policy.ArrayTypeByOID(declared)
	if !ok || !convertsByText(from.Scalar().OID, col.Type.Scalar().OID) {
		return format, v, nil
	}
	canon, err := pgvalue.Canonical(from, format, v)
	if err != nil {
		as := *col
		as.Type = from
		return 0, nil, valueError(&as, err)
	}
	return 0, canon, nil
}

// convertsByText: an element of type from is assigned to one of type to
// by reading its canonical text as to.
func convertsByText(from, to uint32) bool {
	ints := []uint32{policy.OIDInt2, policy.OIDInt4, policy.OIDInt8}
	strs := []uint32{policy.OIDText, policy.OIDVarchar}
	switch {
	case slices.Contains(ints, from):
		return slices.Contains(ints, to) || to == policy.OIDNumeric
	case slices.Contains(strs, from):
		return slices.Contains(strs, to) || to == policy.OIDBpchar
	}
	return false
}

// presentParameterTypes shows the client each protected parameter with its
// column's logical type, so it binds a date where the backend sees text.
// injected: phiguard described the statement itself (reprepare_types.go);
// it learns the types and the client sees nothing.
func (s *Session) presentParameterTypes(st *stmtInfo, injected bool) (bool, error) {
	if st == nil || len(st.params) == 0 && st.again == nil && st.termParams == nil {
		return false, nil
	}
	body, err := s.br.Body()
	if err != nil {
		return false, err
	}
	var pd pgproto3.ParameterDescription
	if err := pd.Decode(body); err != nil {
		return false, pgwire.Violation("malformed ParameterDescription from backend")
	}
	if (st.hidden != nil || st.termParams != nil) && st.clientParams <= len(pd.ParameterOIDs) {
		pd.ParameterOIDs = pd.ParameterOIDs[:st.clientParams] // the client never sees the hidden ones
	}
	for n, col := range st.params {
		if i := n - 1; i < len(pd.ParameterOIDs) {
			pd.ParameterOIDs[i] = presentedParamType(col, st.declared[n])
		}
	}
	if st.again != nil {
		told := slices.Clone(pd.ParameterOIDs)
		st.again.described.Store(&told) // reprepare.go
	}
	if len(st.params) == 0 && st.termParams == nil || injected {
		return false, nil
	}
	out, err := pd.Encode(nil)
	if err != nil {
		return false, err
	}
	_, err = s.cw.Write(out)
	return true, err
}
