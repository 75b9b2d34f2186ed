package sqlrewrite

import (
	pg_query "github.com/pganalyze/pg_query_go/v5"

	"github.com/phiguard/phiguard/internal/pgerr"
	"github.com/phiguard/phiguard/policy"
)

// A plaintext ORDER BY key among encrypted ones is ranked in the
// database, `dense_rank() OVER (ORDER BY key)`, so that phiguard compares
// it under PostgreSQL's own operator, collation and NULLS order. The
// window costs the database a sort of the candidates, or an Incremental
// Sort and a term per row under a round's partition (0.2–0.3 ms of the
// first search benchmark's ~1 ms, BENCHMARKS.md stop 27). An integer or
// a uuid column needs none of that: its order is its value's (a uuid's
// is its 16 bytes', which its text spells in the same order). So a key
// that is one column of a protected table, which the session's catalog
// says is int2, int4, int8 or uuid, is sent as its value, guarded:
//
//	CASE WHEN pg_typeof(key)::oid = ANY ('{20,21,23}') THEN 'n' || key::text
//	     ELSE current_setting('phiguard_native_changed:<table>.<column>') END
//
// ('u' and the text for a uuid, type 2950: its fixed-width lowercase hex
// and dashes order as its 16 bytes do; dropping the dashes cost the
// database 0.012 ms of bench-search's third query's 0.104 ms of
// execution).
//   - The type is checked as the statement runs, on the column the
//     statement's name resolves to: one another session changed since
//     the catalog was read (to text, numeric, an enum with an implicit
//     cast to bigint, ...), or a table of the protected table's name
//     earlier in search_path whose column has another type, reaches
//     the ELSE, whose error (its marker, NativeChangedRefusal) phiguard
//     turns into a refusal and a catalog read, never a value ordered as
//     another type's. A cast that fails at parse analysis instead
//     (int8pl, uuid_send) gave the client PostgreSQL's error about
//     phiguard's hidden text (42883), and an implicit cast of the
//     database's own let an enum through (red team 27).
//   - the letter tells the proxy, row by row, that the value is the key
//     itself (a rank is digits only), to be ordered by the key's own
//     direction and NULLS (SortKey.Desc, NullsFirst), where a rank
//     carries its direction in it.

// nativeMarker is in the error the guard of a key sent as its value
// raises when the column is not of the type the catalog said.
const nativeMarker = "phiguard_native_changed:"

// NativeChangedRefusal recognises the guard's error (by its marker) and
// returns the refusal to send the client instead, naming the column.
func NativeChangedRefusal(message string) (*Refusal, bool) {
	col, ok := markedTable(message, nativeMarker)
	if !ok {
		return nil, false
	}
	return &Refusal{Code: pgerr.FeatureNotSupported, Table: col, Construct: "ORDER BY",
		Message: "phiguard sent the plaintext ORDER BY key " + col + " as its value, which this session's catalog says is an integer or a uuid, and the column the statement names is not (its type changed since, in another session, or the name means another table under search_path): run the statement again, or name the table with its schema"}, true
}

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
	native := nativeOf(i, h, c.natives)
	if native == NativeNone {
		return "", false
	}
	k := c.itemExpr(sp, h.from)
	raise := "pg_catalog.current_setting(" + sqlString(nativeMarker+h.native.table.String()+"."+policy.QuoteIdentifier(h.native.column)) + ")"
	typ := "CAST(pg_catalog.pg_typeof(" + k + ") AS pg_catalog.oid)"
	text := "CAST(" + k + " AS pg_catalog.text)"
	switch native {
	case NativeInteger:
		return "CASE WHEN " + typ + " OPERATOR(pg_catalog.=) ANY (CAST('{20,21,23}' AS pg_catalog.oid[])) THEN pg_catalog.textcat('n', " + text + ") ELSE " + raise + " END", true
	case NativeUUID:
		return "CASE WHEN " + typ + " OPERATOR(pg_catalog.=) CAST(2950 AS pg_catalog.oid) THEN pg_catalog.textcat('u', " + text + ") ELSE " + raise + " END", true
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
		mask |= uint64(nativeOf(i, h, natives)) << (2 * i) // 0 past 32 (nativeOf)
	}
	return mask
}

// SendsNative: under natives, some key is sent as its value, whose
// guard can fail the statement (NativeChangedRefusal).
func (sp *SortPlan) SendsNative(natives NativeColumn) bool { return sp.nativeMask(natives) != 0 }

// rankOf is the hidden rank plaintext key k is read from, nil for any
// other key.
func (sp *SortPlan) rankOf(k SortKey) *hiddenColumn {
	if k.Column != nil || k.Agg > 0 || k.Value < 0 || k.Value >= len(sp.hidden) || sp.hidden[k.Value].kind != hiddenRank {
		return nil
	}
	return &sp.hidden[k.Value]
}
