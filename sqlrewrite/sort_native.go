package sqlrewrite

import (
	pg_query "github.com/pganalyze/pg_query_go/v5"
	"github.com/phiguard/phiguard/policy"
)

// A plaintext ORDER BY key among encrypted ones is ranked in the
// database, `dense_rank() OVER (ORDER BY key)`, so that phiguard compares
// it under PostgreSQL's own operator, collation and NULLS order. The
// window costs the database a sort of the candidates, or an Incremental
// Sort and a term per row under a round's partition (0.2–0.3 ms of the
// first search benchmark's ~1 ms, BENCHMARKS.md stop 27). An integer or
// a uuid column needs none of that: its order is its value's (a uuid's
// is its 16 bytes', which its hex spells in the same order). So a key
// that is one column of a protected table, which the session's catalog
// says is int2, int4, int8 or uuid, is sent as its value:
// `'n' || int8pl(COALESCE(key, NULL::int8), 0)` or
// `'u' || encode(uuid_send(COALESCE(key, NULL::uuid)), 'hex')`.
//   - int8pl and uuid_send (pg_catalog's, by name) fail the statement
//     (42883) rather than take a column whose type changed since the
//     catalog was read (numeric, float: no implicit cast to int8), so a
//     stale catalog is an error, never a value compared as another;
//   - the COALESCE with a NULL of the type fails it too (42804: "types
//     ... cannot be matched") for a type of another category (text, an
//     enum, a composite), even one with an implicit cast to bigint or
//     uuid that a function's argument would take: a type of its own
//     with `CREATE CAST ... AS IMPLICIT` would otherwise be ordered by
//     the cast's values, not its own order (red team 27). PostgreSQL
//     drops the NULL argument when it plans the statement;
//   - the letter tells the proxy, row by row, that the value is the key
//     itself (a rank is digits only), to be ordered by the key's own
//     direction and NULLS (SortKey.Desc, NullsFirst), where a rank
//     carries its direction in it.

// NativeType is what a plaintext key's column is, for the sort rewrite.
type NativeType uint8

const (
	NativeNone    NativeType = iota // ranked in the database
	NativeInteger                   // int2, int4, int8: sent as "n" and its digits
	NativeUUID                      // uuid: sent as "u" and its 32 hex digits
)

// NativeColumn is what the session's catalog says column of table (a
// protected table) is. nil: NativeNone for every column.
type NativeColumn func(table policy.TableName, column string) NativeType

// tableColumn is a plaintext ORDER BY key that can only be one column
// of a protected table.
type tableColumn struct {
	table  policy.TableName
	column string
}

// plainTableColumn is the column of a protected base table that ref
// names in a top-level query, or nil when it may name anything else: a
// bare name needs the query's one relation to be that table (a second
// relation might have the column too; phiguard cannot see an unprotected
// table's columns), and must not name the relation itself (a whole row).
func (s *scope) plainTableColumn(ref *pg_query.ColumnRef) *tableColumn {
	if s.parent != nil {
		return nil
	}
	var names []string
	for _, f := range ref.GetFields() {
		if f.GetString_() == nil {
			return nil // a *
		}
		names = append(names, f.GetString_().GetSval())
	}
	var r *relation
	switch len(names) {
	case 1:
		if len(s.relations) != 1 || s.relationNamed(names[0]) != nil {
			return nil
		}
		r = s.relations[0]
	case 2, 3:
		r = s.relationNamed(names[len(names)-2])
		if r != nil && r.table != nil && len(names) == 3 && r.table.Name.Schema != names[0] {
			return nil
		}
	}
	if r == nil || r.table == nil {
		return nil
	}
	return &tableColumn{table: r.table.Name, column: names[len(names)-1]}
}

// nativeText is the hidden column of a rank that is sent as its key's
// value (see above), ok false when it stays a rank.
func (c *sortCut) nativeText(sp *SortPlan, i int) (string, bool) {
	h := sp.hidden[i]
	switch nativeOf(i, h, c.natives) {
	case NativeInteger:
		return "pg_catalog.textcat('n', CAST(pg_catalog.int8pl(COALESCE(" + c.itemExpr(sp, h.from) + ", CAST(NULL AS pg_catalog.int8)), 0) AS pg_catalog.text))", true
	case NativeUUID:
		return "pg_catalog.textcat('u', pg_catalog.encode(pg_catalog.uuid_send(COALESCE(" + c.itemExpr(sp, h.from) + ", CAST(NULL AS pg_catalog.uuid))), 'hex'))", true
	}
	return "", false
}

// nativeOf is what hidden column i, h, is sent as under the session's
// catalog (past 32 hidden columns, where nativeMask stops, a rank).
func nativeOf(i int, h hiddenColumn, natives NativeColumn) NativeType {
	if i >= 32 || h.kind != hiddenRank || h.native == nil || natives == nil {
		return NativeNone
	}
	return natives(h.native.table, h.native.column)
}

// nativeMask has bits 2i and 2i+1 say what hidden column i is sent as
// under natives: the part of a rewrite's memo key that the session's
// catalog decides.
func (sp *SortPlan) nativeMask(natives NativeColumn) uint64 {
	var mask uint64
	for i, h := range sp.hidden {
		mask |= uint64(nativeOf(i, h, natives)) << (2 * min(i, 31))
	}
	return mask
}

// rankOf is the hidden rank plaintext key k is read from, nil for any
// other key.
func (sp *SortPlan) rankOf(k SortKey) *hiddenColumn {
	if k.Column != nil || k.Agg > 0 || k.Value < 0 || k.Value >= len(sp.hidden) || sp.hidden[k.Value].kind != hiddenRank {
		return nil
	}
	return &sp.hidden[k.Value]
}
