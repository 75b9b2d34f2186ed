package sqlrewrite

import (
	"encoding/hex"
	"strconv"
	"strings"
)

// Terms under several versions (docs/design/search-terms.md §5.3): while
// a column is `rekeying`, its cells carry equality terms of one loaded
// version of the key or another, so the term conjunct of `col = a` lists
// a's term under each and compares with ANY, which a btree serves as
// several index probes:
//
//	phiguard.term_eq_v1(col) OPERATOR(pg_catalog.=) ANY (ARRAY[E(a,v2), E(a,v1)])
//	phiguard.term_eq_v1(col) OPERATOR(pg_catalog.=) ANY ($n::pg_catalog.bytea[])
//
// A literal's terms are written as an ARRAY of bytea literals; a
// parameter's travel in one parameter the proxy adds, declared bytea[]
// and sent binary. Which versions: the proxy's, from the policy and the
// keyring (cellcipher.TermVersions), never the database's.

// anyText is the operand of `= ANY (…)` for an argument with several
// versions; false for a one-version argument.
func (a TermArg) anyText() (string, bool) {
	switch {
	case a.Null:
		return "", false // NULL: `= NULL`, never true, as the client's
	case a.Param > 0 && a.Array:
		return "$" + strconv.Itoa(a.Param) + "::pg_catalog.bytea[]", true
	case a.Param == 0 && len(a.Versions) > 0:
		parts := make([]string, len(a.Versions))
		for i, v := range a.Versions {
			parts[i] = `E'\\x` + hex.EncodeToString(v) + `'::pg_catalog.bytea`
		}
		return "ARRAY[" + strings.Join(parts, ", ") + "]", true
	}
	return "", false
}

// VersionsArg is a literal's term under several versions (vs, first the
// column's search_key_version).
func VersionsArg(vs [][]byte) TermArg { return TermArg{Versions: vs} }

// ArrayParamArg is an added parameter holding the term under every
// version, declared bytea[].
func ArrayParamArg(param int) TermArg {
	return TermArg{Param: param, Array: true}
}
