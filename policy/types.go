package policy

import (
	"fmt"
	"strconv"
	"strings"
)

// PostgreSQL type OIDs (pg_type.oid) of the logical types a protected column
// may have. They are fixed in PostgreSQL's catalog and never change.
const (
	OIDBool        uint32 = 16
	OIDInt8        uint32 = 20
	OIDInt2        uint32 = 21
	OIDInt4        uint32 = 23
	OIDText        uint32 = 25
	OIDVarchar     uint32 = 1043
	OIDDate        uint32 = 1082
	OIDTimestamp   uint32 = 1114
	OIDTimestamptz uint32 = 1184
	OIDNumeric     uint32 = 1700
	OIDUUID        uint32 = 2950
	OIDBpchar      uint32 = 1042
	OIDFloat4      uint32 = 700
	OIDFloat8      uint32 = 701
	OIDTime        uint32 = 1083
	OIDTimetz      uint32 = 1266
	OIDInterval    uint32 = 1186
	OIDBytea       uint32 = 17
	OIDJSON        uint32 = 114
	OIDJSONB       uint32 = 3802
)

// LogicalType is the type the application believes a protected column has.
// The column itself holds cells as text; phiguard presents this type in
// RowDescription and ParameterDescription and converts values to and from
// it, so the application still sees a date or an integer.
type LogicalType struct {
	// Name is the canonical spelling used in the policy file: one of
	// TypeNames (text, varchar, char, date, ...).
	Name string
	// OID is the PostgreSQL type OID presented to clients.
	OID uint32
	// Size is pg_type.typlen, the data type size in RowDescription (-1 for
	// variable length).
	Size int16
	// Modifier is the type modifier (atttypmod) presented to clients: -1 for
	// none, else as PostgreSQL encodes it (varchar(n), char(n): n+4;
	// numeric(p,s): (p<<16 | s)+4; timestamp(p), time(p): p).
	Modifier int32
}

// String writes the type as the policy file does, with its modifier:
// "varchar(64)", "numeric(14,2)", "date".
func (t LogicalType) String() string {
	if elem, ok := t.Element(); ok {
		return elem.String() + "[]"
	}
	if t.Modifier < 0 {
		if t.OID == OIDBpchar {
			return "bpchar" // char without a length is char(1)
		}
		return t.Name
	}
	switch t.OID {
	case OIDVarchar, OIDBpchar:
		return fmt.Sprintf("%s(%d)", t.Name, t.Modifier-4)
	case OIDNumeric:
		m := t.Modifier - 4
		return fmt.Sprintf("%s(%d,%d)", t.Name, m>>16, m&0xffff)
	default:
		return fmt.Sprintf("%s(%d)", t.Name, t.Modifier)
	}
}

// EqualByText reports whether two values of the type that PostgreSQL's
// = calls equal always have the same canonical text, so that a
// deterministic column's cells can stand for its values in =, IN,
// GROUP BY, DISTINCT and joins. Not for interval ('1 day' = '24 hours'),
// real and double precision (0 = -0), numeric without a scale (1.0 =
// 1.00), bpchar without a length ('a' = 'a  ', kept as written), jsonb
// (1.0 = 1 inside) and json (no = at all).
func (t LogicalType) EqualByText() bool {
	if e, ok := t.Element(); ok {
		// array_eq: the same dimensions, lower bounds and NULLs, and
		// equal elements, which is one array_out text when the elements
		// have one text each. Not with a modifier: a compared array is
		// typed without it (PostgreSQL neither rounds nor cuts its
		// elements), a written one with it.
		return e.EqualByText() && t.Modifier < 0
	}
	switch t.OID {
	case OIDInterval, OIDFloat4, OIDFloat8, OIDJSON, OIDJSONB:
		return false
	case OIDNumeric, OIDBpchar:
		return t.Modifier != -1
	}
	return true
}

type baseType struct {
	name string
	oid  uint32
	size int16
	// maxArgs is how many modifier arguments the type takes (0, 1 or 2).
	maxArgs int
}

var baseTypes = []baseType{
	{"text", OIDText, -1, 0},
	{"varchar", OIDVarchar, -1, 1},
	{"date", OIDDate, 4, 0},
	{"timestamp", OIDTimestamp, 8, 1},
	{"timestamptz", OIDTimestamptz, 8, 1},
	{"integer", OIDInt4, 4, 0},
	{"bigint", OIDInt8, 8, 0},
	{"smallint", OIDInt2, 2, 0},
	{"numeric", OIDNumeric, -1, 2},
	{"boolean", OIDBool, 1, 0},
	{"uuid", OIDUUID, 16, 0},
	{"char", OIDBpchar, -1, 1},
	{"real", OIDFloat4, 4, 0},
	{"double precision", OIDFloat8, 8, 0},
	{"time", OIDTime, 8, 1},
	{"timetz", OIDTimetz, 12, 1},
	{"interval", OIDInterval, 16, 0},
	{"bytea", OIDBytea, -1, 0},
	{"json", OIDJSON, -1, 0},
	{"jsonb", OIDJSONB, -1, 0},
}

// typeAliases maps every accepted spelling to its canonical name.
var typeAliases = map[string]string{
	"text":                        "text",
	"varchar":                     "varchar",
	"character varying":           "varchar",
	"date":                        "date",
	"timestamp":                   "timestamp",
	"timestamp without time zone": "timestamp",
	"timestamptz":                 "timestamptz",
	"timestamp with time zone":    "timestamptz",
	"integer":                     "integer",
	"int":                         "integer",
	"int4":                        "integer",
	"bigint":                      "bigint",
	"int8":                        "bigint",
	"smallint":                    "smallint",
	"int2":                        "smallint",
	"numeric":                     "numeric",
	"decimal":                     "numeric",
	"boolean":                     "boolean",
	"bool":                        "boolean",
	"uuid":                        "uuid",
	"char":                        "char",
	"character":                   "char",
	"bpchar":                      "char",
	"real":                        "real",
	"float4":                      "real",
	"double precision":            "double precision",
	"float8":                      "double precision",
	"float":                       "double precision",
	"time":                        "time",
	"time without time zone":      "time",
	"timetz":                      "timetz",
	"time with time zone":         "timetz",
	"interval":                    "interval",
	"bytea":                       "bytea",
	"json":                        "json",
	"jsonb":                       "jsonb",
}

// TypeNames lists the canonical logical type names, for messages and docs.
func TypeNames() []string {
	names := make([]string, len(baseTypes))
	for i, b := range baseTypes {
		names[i] = b.name
	}
	return names
}

// ParseType reads a logical type as written in the policy file: a name from
// TypeNames or a PostgreSQL alias of one (int4, character varying, ...),
// case-insensitive, with an optional modifier where PostgreSQL allows one:
// varchar(64), char(2), numeric(14,2), numeric(10), timestamp(3),
// timestamptz(0), time(3), timetz(0). As in PostgreSQL, char and
// character without a length are char(1), bpchar without one has no
// length limit. An array of one is written with [] after it
// (varchar(20)[], integer[]) or as PostgreSQL's internal name (_int4,
// _text); see array.go.
func ParseType(s string) (LogicalType, error) {
	if elem, ok := arraySpelling(s); ok {
		return parseArrayType(s, elem)
	}
	return parseScalarType(s)
}

func parseScalarType(s string) (LogicalType, error) {
	spelled := strings.ToLower(strings.Join(strings.Fields(s), " "))
	name, args := spelled, ""
	if i := strings.IndexByte(spelled, '('); i >= 0 {
		if !strings.HasSuffix(spelled, ")") {
			return LogicalType{}, fmt.Errorf("unknown type %q: unbalanced parenthesis", s)
		}
		name, args = strings.TrimSpace(spelled[:i]), spelled[i+1:len(spelled)-1]
	}
	canonical, ok := typeAliases[name]
	if !ok {
		return LogicalType{}, fmt.Errorf("unknown type %q (want one of %s)", s, strings.Join(TypeNames(), ", "))
	}
	var b baseType
	for _, bt := range baseTypes {
		if bt.name == canonical {
			b = bt
		}
	}
	t := LogicalType{Name: b.name, OID: b.oid, Size: b.size, Modifier: -1}
	if i := strings.IndexByte(spelled, '('); i < 0 {
		if b.oid == OIDBpchar && name != "bpchar" {
			t.Modifier = 1 + 4
		}
		return t, nil
	}
	var nums []int
	for _, a := range strings.Split(args, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(a))
		if err != nil || n < 0 {
			return LogicalType{}, fmt.Errorf("type %q: modifier %q is not a non-negative integer", s, strings.TrimSpace(a))
		}
		nums = append(nums, n)
	}
	if len(nums) > b.maxArgs {
		if b.maxArgs == 0 {
			return LogicalType{}, fmt.Errorf("type %q: %s takes no modifier", s, b.name)
		}
		return LogicalType{}, fmt.Errorf("type %q: %s takes at most %d modifier(s)", s, b.name, b.maxArgs)
	}
	// The limits are PostgreSQL's own, so the modifier is one it accepts.
	switch b.oid {
	case OIDVarchar, OIDBpchar:
		if nums[0] < 1 || nums[0] > 10485760 {
			return LogicalType{}, fmt.Errorf("type %q: length must be between 1 and 10485760", s)
		}
		t.Modifier = int32(nums[0]) + 4
	case OIDNumeric:
		p, sc := nums[0], 0
		if len(nums) == 2 {
			sc = nums[1]
		}
		if p < 1 || p > 1000 || sc > p {
			return LogicalType{}, fmt.Errorf("type %q: precision must be between 1 and 1000 and scale between 0 and the precision", s)
		}
		t.Modifier = int32(p<<16|sc) + 4
	case OIDTimestamp, OIDTimestamptz, OIDTime, OIDTimetz:
		if nums[0] > 6 {
			return LogicalType{}, fmt.Errorf("type %q: precision must be between 0 and 6", s)
		}
		t.Modifier = int32(nums[0])
	}
	return t, nil
}
