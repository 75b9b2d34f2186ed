package policy

import (
	"fmt"
	"strings"
)

// An array of a supported scalar (text[], integer[], date[],
// numeric(10,2)[], ...) is a logical type of its own: PostgreSQL's array
// type OID is presented, its canonical text is array_out's, and it is
// stored whole, one cell for the whole array. Its Name is the element's
// name with "[]"; its Modifier is the element's, as PostgreSQL keeps
// atttypmod of a varchar(20)[] column as varchar(20)'s. As in
// PostgreSQL, a declared number of dimensions (text[][], text[3]) is
// not enforced, so all spellings are one type.

// arrayOIDs maps an element type's OID to its array type's (pg_type's
// typarray; fixed in PostgreSQL's catalog).
var arrayOIDs = map[uint32]uint32{
	OIDBool:        1000,
	OIDBytea:       1001,
	OIDInt2:        1005,
	OIDInt4:        1007,
	OIDText:        1009,
	OIDBpchar:      1014,
	OIDVarchar:     1015,
	OIDInt8:        1016,
	OIDFloat4:      1021,
	OIDFloat8:      1022,
	OIDTimestamp:   1115,
	OIDDate:        1182,
	OIDTime:        1183,
	OIDTimestamptz: 1185,
	OIDInterval:    1187,
	OIDNumeric:     1231,
	OIDTimetz:      1270,
	OIDUUID:        2951,
	OIDJSON:        199,
	OIDJSONB:       3807,
}

// internalNames are PostgreSQL's names of the element types, which its
// array types' names (_int4, _varchar) are built from.
var internalNames = map[string]string{
	"bool": "boolean", "bytea": "bytea", "int2": "smallint", "int4": "integer",
	"text": "text", "bpchar": "bpchar", "varchar": "varchar", "int8": "bigint",
	"float4": "real", "float8": "double precision", "timestamp": "timestamp",
	"date": "date", "time": "time", "timestamptz": "timestamptz",
	"interval": "interval", "numeric": "numeric", "timetz": "timetz",
	"uuid": "uuid", "json": "json", "jsonb": "jsonb",
}

// arraySpelling reports whether s spells an array type and returns its
// element's spelling: "varchar(20)[]" -> "varchar(20)", "_int4" ->
// "int4", "integer [3][]" -> "integer".
func arraySpelling(s string) (string, bool) {
	t := strings.TrimSpace(s)
	if strings.HasSuffix(t, "]") {
		i := strings.IndexByte(t, '[')
		if i <= 0 {
			return "", false
		}
		return strings.TrimSpace(t[:i]), true
	}
	if strings.HasPrefix(t, "_") {
		name := strings.ToLower(strings.TrimPrefix(t, "_"))
		if _, ok := internalNames[name]; ok {
			return name, true
		}
	}
	return "", false
}

// parseArrayType builds the array type of the element spelled elem;
// s is the whole spelling, for messages.
func parseArrayType(s, elem string) (LogicalType, error) {
	if err := checkBounds(boundsOf(s)); err != nil {
		return LogicalType{}, fmt.Errorf("type %q: %v", s, err)
	}
	e, err := parseScalarType(elem)
	if err != nil {
		return LogicalType{}, err
	}
	oid, ok := arrayOIDs[e.OID]
	if !ok {
		return LogicalType{}, fmt.Errorf("type %q: no array of %s", s, e.Name)
	}
	return LogicalType{Name: e.Name + "[]", OID: oid, Size: -1, Modifier: e.Modifier}, nil
}

// boundsOf is the "[...]..." part of an array spelling, "" for _name.
func boundsOf(s string) string {
	t := strings.TrimSpace(s)
	if i := strings.IndexByte(t, '['); i > 0 && strings.HasSuffix(t, "]") {
		return t[i:]
	}
	return ""
}

// checkBounds accepts a run of [] or [n], blanks between.
func checkBounds(b string) error {
	for b = strings.TrimSpace(b); b != ""; b = strings.TrimSpace(b) {
		end := strings.IndexByte(b, ']')
		if b[0] != '[' || end < 0 {
			return fmt.Errorf("malformed array bounds")
		}
		n := strings.TrimSpace(b[1:end])
		for _, c := range n {
			if c < '0' || c > '9' {
				return fmt.Errorf("malformed array bounds")
			}
		}
		b = b[end+1:]
	}
	return nil
}

// IsArray reports whether t is an array type.
func (t LogicalType) IsArray() bool { return strings.HasSuffix(t.Name, "[]") }

// Element is an array type's element type (with the array's modifier);
// false for a scalar.
func (t LogicalType) Element() (LogicalType, bool) {
	if !t.IsArray() {
		return LogicalType{}, false
	}
	name := strings.TrimSuffix(t.Name, "[]")
	for _, b := range baseTypes {
		if b.name == name {
			return LogicalType{Name: b.name, OID: b.oid, Size: b.size, Modifier: t.Modifier}, true
		}
	}
	return LogicalType{}, false
}

// Scalar is the element type of an array, else t itself: what decides
// which session settings the type's text depends on.
func (t LogicalType) Scalar() LogicalType {
	if e, ok := t.Element(); ok {
		return e
	}
	return t
}

// ArrayTypeByOID is the array type (without a modifier) whose OID is
// oid, for a client's declared parameter type; false for another OID.
func ArrayTypeByOID(oid uint32) (LogicalType, bool) {
	for elem, arr := range arrayOIDs {
		if arr != oid {
			continue
		}
		for _, b := range baseTypes {
			if b.oid == elem {
				return LogicalType{Name: b.name + "[]", OID: arr, Size: -1, Modifier: -1}, true
			}
		}
	}
	return LogicalType{}, false
}
