package guard

import (
	"unicode/utf8"

	"github.com/phiguard/phiguard/policy"
	"github.com/phiguard/phiguard/sqlrewrite"
)

// A value compared with a varchar(n) or char(n) column is not cut to the
// column's length as a value written into it is: PostgreSQL compares
// varchar as text, so a longer value equals no stored one, and char(n)
// with trailing spaces ignored, so a value longer than n characters
// besides trailing spaces equals no stored one either. Where a write
// would be refused (22001) or its trailing spaces cut, a comparison
// matches nothing, and phiguard compares with noMatchCell, which no
// encryption produces (cells are base64url after the prefix).

// noMatchCell is a cell no column holds (the operator check's gate
// item equals it too: sqlrewrite.PlaceArray).
const noMatchCell = sqlrewrite.NoMatchCell

// matchesNothing reports whether a compared value (text, or a string
// type's binary, which is the same bytes) cannot equal any value of col.
func matchesNothing(col *policy.ProtectedColumn, v []byte) bool {
	if col.Type.Modifier < 4 || !utf8.Valid(v) {
		return false
	}
	n := int(col.Type.Modifier - 4)
	switch col.Type.OID {
	case policy.OIDVarchar:
		return utf8.RuneCount(v) > n
	case policy.OIDBpchar:
		for len(v) > 0 && v[len(v)-1] == ' ' {
			v = v[:len(v)-1]
		}
		return utf8.RuneCount(v) > n
	}
	return false
}
