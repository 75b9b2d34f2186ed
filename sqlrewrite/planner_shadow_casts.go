package sqlrewrite

import (
	"cmp"
	"slices"
	"strconv"
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v5"
)

// A filter's constant cast to a type named without its schema ('M'::text,
// $1::date: names the grammar does not qualify, as it does its keywords
// int, varchar, timestamp) is cast to the type PostgreSQL finds by that
// name along search_path, and it searches pg_temp for types first even
// when search_path does not name it. A session's CREATE DOMAIN
// pg_temp.text AS varchar(5) made `name = 'Smithxyz'::text` compare
// 'Smith' in the plaintext statement (5 rows) and 'Smithxyz' in
// phiguard (none), and with a user operator on (text, varchar) visible,
// `name > $1::text` call that operator, which the exact lookups of the
// gate (planner_shadow_exact.go) do not look for
// (TestRedTeam30bTempTypeShadow: 60 rows against 44). So the gate also
// checks that each such name resolves to the type phiguard read the
// constant as, with to_regtype, which looks it up as the cast does.

// castCheck is a type name as a cast wrote it (array: with [] after
// it) and the type phiguard took it for.
type castCheck struct {
	name  string
	array bool
	oid   uint32
}

// unqualifiedName is a cast's type name when it has no schema, else "".
func unqualifiedName(tn *pg_query.TypeName) string {
	if names := tn.GetNames(); len(names) == 1 {
		return names[0].GetString_().GetSval()
	}
	return ""
}

// castChecks are the casts of cands' constants to a type named without
// its schema, each once.
func castChecks(cands []filterCand) []castCheck {
	var out []castCheck
	for _, c := range cands {
		for _, a := range c.args {
			if k := (castCheck{name: a.typeName, oid: a.Type}); a.typeName != "" && !slices.Contains(out, k) {
				out = append(out, k)
			}
		}
	}
	return out
}

// castsCondition is true when each name of cs resolves to its type
// under the session's search_path.
func castsCondition(cs []castCheck) string {
	checks := make([]string, len(cs))
	for i, c := range cs {
		ident := `"` + strings.ReplaceAll(c.name, `"`, `""`) + `"`
		if c.array {
			ident += "[]"
		}
		checks[i] = "CAST(pg_catalog.to_regtype(" + sqlString(ident) + ") AS pg_catalog.oid) OPERATOR(pg_catalog.=) CAST(" +
			strconv.FormatUint(uint64(c.oid), 10) + " AS pg_catalog.oid)"
	}
	return strings.Join(checks, " AND ")
}

// castOf is n's cast when it names its type without a schema (the value
// sealed for a comparison on cells: the operator check looks it up too,
// OperatorGuard.check), else none.
func castOf(n *pg_query.Node) castCheck {
	tc := n.GetTypeCast()
	if tc == nil {
		return castCheck{}
	}
	name := unqualifiedName(tc.GetTypeName())
	lt, ok := castType(tc.GetTypeName())
	if name == "" || !ok {
		return castCheck{}
	}
	return castCheck{name: name, array: len(tc.GetTypeName().GetArrayBounds()) > 0, oid: lt.OID}
}

// A minus sign the grammar does not fold into a number (-5 is the
// constant -5, but -5::numeric is -(5::numeric), and -$1::numeric,
// - -5) is a call of the prefix operator - on its operand's type, which
// a schema listed before pg_catalog can hold: the plaintext called it
// where phiguard negates (TestRedTeam30bShadowedPrefixMinus: 24 rows
// against none). The probe checks it as the exact lookups do: PostgreSQL
// looks - (NONE, type) up exactly first, pg_catalog first unless
// search_path names it; a type pg_catalog has no prefix minus for fails.

// pgCatalogPrefixMinus are pg_catalog's prefix - operators by operand
// type (TestShadowedOperatorCatalog checks them).
var pgCatalogPrefixMinus = map[uint32]uint32{21: 559, 23: 558, 20: 484, 700: 584, 701: 585, 1700: 1751, 1186: 1336}

// prefixMinusSignature is - on t as to_regoperator reads it.
func prefixMinusSignature(t uint32) string { return "-(NONE,pg_catalog." + catalogTypeNames[t] + ")" }

// minusTypes are the operand types of cands' constants' prefix minus
// signs, each once; 0 for one whose type phiguard cannot tell.
func minusTypes(cands []filterCand) []uint32 {
	var out []uint32
	for _, c := range cands {
		for _, a := range c.args {
			var ts []uint32
			if a.minusAbove {
				ts = append(ts, cmp.Or(a.Type, a.litType))
			}
			if a.minusUnder {
				ts = append(ts, a.litType)
			}
			for _, t := range ts {
				if !slices.Contains(out, t) {
					out = append(out, t)
				}
			}
		}
	}
	return out
}

// minusCondition is true when the prefix - of each type of ts resolves
// to pg_catalog's.
func minusCondition(ts []uint32) string {
	checks := make([]string, len(ts))
	for i, t := range ts {
		oid, ok := pgCatalogPrefixMinus[t]
		if !ok {
			checks[i] = "false"
			continue
		}
		checks[i] = "(" + implicitCatalog + " OR CAST(pg_catalog.to_regoperator(" + sqlString(prefixMinusSignature(t)) +
			") AS pg_catalog.oid) OPERATOR(pg_catalog.=) CAST(" + strconv.FormatUint(uint64(oid), 10) + " AS pg_catalog.oid))"
	}
	return strings.Join(checks, " AND ")
}
