package guard

import (
	"strconv"

	"github.com/phiguard/phiguard/internal/pgerr"
	"github.com/phiguard/phiguard/internal/pgorder"
	"github.com/phiguard/phiguard/policy"
	"github.com/phiguard/phiguard/sqlrewrite"
)

// A plaintext ORDER BY key that is an integer or uuid column of a
// protected table comes as its value, "n" and the digits or "u" and 32
// hex digits, instead of a dense_rank the database computed
// (sqlrewrite/sort_native.go says why, and how the text guards the
// column's type: its error becomes a refusal and a catalog read,
// protect_backend.go). The proxy tells them apart by that letter, row
// by row.

// nativeColumns is the session's catalog's answer to what plaintext
// columns of protected tables are, for the sort rewrite; nil before the
// catalog is read.
func (s *Session) nativeColumns() sqlrewrite.NativeColumn {
	cat := s.catalog.Load()
	switch {
	case cat == nil:
		return nil
	case cat.native != nil:
		return cat.native // one func value per catalog, not one allocation per call
	}
	return cat.nativeType
}

// nativeType: table's column is int2, int4, int8 or uuid (not a domain
// over one), as the sort rewrite may send it.
func (c *catalog) nativeType(table policy.TableName, column string) sqlrewrite.NativeType {
	for _, col := range c.tables[table] {
		if col.name != column || col.protected != nil {
			continue
		}
		switch col.typOID {
		case oidInt2, oidInt4, oidInt8:
			return sqlrewrite.NativeInteger
		case policy.OIDUUID:
			return sqlrewrite.NativeUUID
		}
	}
	return sqlrewrite.NativeNone
}

var uuidType = policy.LogicalType{OID: policy.OIDUUID, Name: "uuid"}

// plainKey reads a plaintext key's cell: a rank, ascending as it is, or
// a native value in k's direction: an integer as a rank (^n reverses
// int64 order without overflow), a uuid as its text (compareRows applies
// the direction). a holds the text past the row's message buffer.
func plainKey(k *sqlrewrite.SortKey, v []byte, a *sortArena) (sortValue, *pgerr.Error) {
	if len(v) == len("u01234567-89ab-cdef-0123-456789abcdef") && v[0] == 'u' {
		key, err := pgorder.Parse(uuidType, a.copyBytes(v[1:]))
		if err == nil {
			return sortValue{key: key, keyed: true}, nil
		}
	}
	native := len(v) > 0 && v[0] == 'n'
	if native {
		v = v[1:]
	}
	n, err := strconv.ParseInt(string(v), 10, 64)
	if err != nil {
		return sortValue{}, pgerr.New(pgerr.InternalError, "phiguard could not read a sort rank it asked for")
	}
	if native && k.Desc {
		n = ^n
	}
	return sortValue{rank: n}, nil
}
