package sqlrewrite

import (
	"slices"
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v5"

	"github.com/phiguard/phiguard/policy"
)

// Constants written with a cast or a sign are constants. Drivers write a
// value for an encrypted column as '1980-02-29'::date (psycopg2),
// '1234.56'::numeric and 42::int4 (pgjdbc's simple mode), -0.05 (any
// negative number), CAST('…' AS date) or DATE '…'. Each is folded to the
// literal it holds: the proxy replaces the whole expression — sign, cast
// and literal — with the cell, so the statement stores exactly what
// PostgreSQL would have stored.
//
// A cast to the column's own type (without a type modifier) is folded:
// PostgreSQL would apply that cast and then an assignment that changes
// nothing, so the literal's text, canonicalized for the column's type, is
// the value. So is a cast to a type PostgreSQL converts to the column's by
// reading the first type's text as the second (castReadAs): a date or
// timestamp into a timestamp or timestamptz column (midnight, the
// session's TimeZone; psycopg2 writes a naive datetime as '…'::timestamp),
// an integer into a wider integer or numeric. The proxy reads the literal
// as the cast's type, then its canonical text as the column's, which is
// what the assignment cast computes. One more cast is folded, in writes
// only: a cast to a narrower integer type into an integer or numeric
// column, or a wider one into an integer column (pgjdbc's simple mode
// writes every long as '…'::int8). An integer's value does not change on
// the way; what PostgreSQL adds is range checks, the cast's
// (ValueSlot.IntBits, checked by the proxy) and the column's (its
// canonicalization). Any other cast (numeric into integer: rounding;
// timestamptz into timestamp: the session's zone; varchar(n): truncation;
// float8 into numeric) could give another answer, and stays refused, as
// does a narrowing integer cast in a comparison (int4 = int8 finds no row
// where the value does not fit, it raises no error).
//
// The expression's extent is given as bytes before and after the literal
// (ValueSlot.Before, After). Those bytes are non-literal text, which is
// the same in every text of one shape, so the plan still serves them all.

// negativeConst records a negative number, whose constant starts at its
// sign (-5, - 0.05): the literal is the number after it.
func (p *planner) negativeConst(c *pg_query.A_Const, col *policy.ProtectedColumn, use Use) bool {
	if c.GetIval() == nil && c.GetFval() == nil || !numericColumn(col) {
		// A number meets a text or date column only through a cast
		// PostgreSQL may refuse (text = -5 has no operator).
		return false
	}
	slot, ok := p.signedLiteral(int(c.GetLocation()))
	if !ok {
		return false
	}
	slot.Column, slot.Use = col, use
	return p.addValue(slot)
}

// signedLiteral finds the literal a '-' at loc negates.
func (p *planner) signedLiteral(loc int) (ValueSlot, bool) {
	if loc < 0 || loc >= len(p.sql) || p.sql[loc] != '-' {
		return ValueSlot{}, false
	}
	j := loc + 1
	for j < len(p.sql) && isSpace(p.sql[j]) {
		j++
	}
	idx, ok := p.literals[j]
	if !ok {
		return ValueSlot{}, false
	}
	return ValueSlot{Literal: idx, Token: -1, Before: j - loc, Negative: true}, true
}

// castConst records a constant cast to the column's own type, or in a
// write an integer cast into a number column.
func (p *planner) castConst(tc *pg_query.TypeCast, col *policy.ProtectedColumn, use Use) bool {
	slot, ok := p.castSlot(tc, col, use)
	if !ok {
		return false
	}
	slot.Column, slot.Use = col, use
	return p.addValue(slot)
}

func (p *planner) castSlot(tc *pg_query.TypeCast, col *policy.ProtectedColumn, use Use) (ValueSlot, bool) {
	tn := tc.GetTypeName()
	readAs, ok := castReadAs(tn, col)
	bits := 0
	if !ok {
		if bits = intCastBits(tn); bits == 0 || use != UseWrite || !numericColumn(col) {
			return ValueSlot{}, false
		}
	}
	arg := tc.GetArg().GetAConst()
	if arg == nil || arg.GetIsnull() {
		return ValueSlot{}, false
	}
	slot := ValueSlot{Token: -1, ReadAs: readAs}
	litStart := int(arg.GetLocation())
	if slot.Literal, ok = p.literals[litStart]; !ok {
		if slot, ok = p.signedLiteral(litStart); !ok {
			return ValueSlot{}, false
		}
		slot.ReadAs = readAs
		litStart += slot.Before
	}
	spans := p.spans()
	litEnd := spans[slot.Literal][1]
	start, end, ok := p.castExtent(tc, litStart-slot.Before, litEnd)
	if !ok {
		return ValueSlot{}, false
	}
	slot.Before, slot.After, slot.IntBits = litStart-start, end-litEnd, bits
	return slot, p.verifyFold(start, end, slot.Literal, tn)
}

// castExtent is where the whole cast expression starts and ends:
// DATE '…' (the type first), '…'::date, CAST('…' AS date).
func (p *planner) castExtent(tc *pg_query.TypeCast, valStart, valEnd int) (start, end int, ok bool) {
	loc, typeLoc := int(tc.GetLocation()), int(tc.GetTypeName().GetLocation())
	switch {
	case typeLoc >= 0 && typeLoc < valStart:
		return typeLoc, valEnd, true
	case strings.HasPrefix(p.sql[loc:], "::"):
		end, ok := p.typeEnd(tc.GetTypeName())
		return valStart, end, ok
	case len(p.sql) >= loc+4 && strings.EqualFold(p.sql[loc:loc+4], "cast"):
		end, ok := p.typeEnd(tc.GetTypeName())
		for ok && end < len(p.sql) && isSpace(p.sql[end]) {
			end++
		}
		if !ok || end >= len(p.sql) || p.sql[end] != ')' {
			return 0, 0, false
		}
		return loc, end + 1, true
	}
	return 0, 0, false
}

// typeEnd is where a type name written in the text ends: the shortest
// run of tokens from its start that parses as the same type (timestamp
// with time zone is four tokens, and its first alone is another type).
func (p *planner) typeEnd(tn *pg_query.TypeName) (int, bool) {
	toks := p.tokens()
	loc := int(tn.GetLocation())
	for i, tok := range toks {
		if int(tok.Start) != loc {
			continue
		}
		for k := i; k < len(toks) && k < i+6; k++ {
			end := int(toks[k].End)
			if got := parsedCastType(p.sql[loc:end]); got != nil && sameType(got, tn) {
				return end, true
			}
		}
		return 0, false
	}
	return 0, false
}

// verifyFold checks the region on its own: it must parse as the same
// cast of one constant, and hold no literal but the one folded.
func (p *planner) verifyFold(start, end, literal int, tn *pg_query.TypeName) bool {
	for i, sp := range p.spans() {
		if i != literal && sp[0] < end && sp[1] > start {
			return false
		}
	}
	tree, err := pg_query.Parse("SELECT " + p.sql[start:end])
	if err != nil || len(tree.GetStmts()) != 1 {
		return false
	}
	targets := tree.GetStmts()[0].GetStmt().GetSelectStmt().GetTargetList()
	if len(targets) != 1 {
		return false
	}
	tc := targets[0].GetResTarget().GetVal().GetTypeCast()
	return tc != nil && tc.GetArg().GetAConst() != nil && sameType(tc.GetTypeName(), tn)
}

// parsedCastType is the type name text parses as after "::", or nil.
func parsedCastType(text string) *pg_query.TypeName {
	tree, err := pg_query.Parse("SELECT NULL::" + text)
	if err != nil || len(tree.GetStmts()) != 1 {
		return nil
	}
	targets := tree.GetStmts()[0].GetStmt().GetSelectStmt().GetTargetList()
	if len(targets) != 1 {
		return nil
	}
	return targets[0].GetResTarget().GetVal().GetTypeCast().GetTypeName()
}

// sameType compares two type names as written, ignoring where.
func sameType(a, b *pg_query.TypeName) bool {
	if a == nil || b == nil || len(a.GetNames()) != len(b.GetNames()) || len(a.GetTypmods()) != len(b.GetTypmods()) ||
		len(a.GetArrayBounds()) != len(b.GetArrayBounds()) || a.GetSetof() != b.GetSetof() || a.GetPctType() != b.GetPctType() {
		return false
	}
	for i := range a.GetNames() {
		if !strings.EqualFold(a.GetNames()[i].GetString_().GetSval(), b.GetNames()[i].GetString_().GetSval()) {
			return false
		}
	}
	for i := range a.GetTypmods() {
		x, y := a.GetTypmods()[i].GetAConst(), b.GetTypmods()[i].GetAConst()
		if x == nil || y == nil || x.GetIval().GetIval() != y.GetIval().GetIval() {
			return false
		}
	}
	return true
}

// castReadAs says whether a constant cast to tn is folded for col by
// value (a cast without a modifier or array bounds): for a cast to col's
// own type with readAs 0, for a cast to a type in readAsInto[col's type]
// with readAs that type's OID.
func castReadAs(tn *pg_query.TypeName, col *policy.ProtectedColumn) (readAs uint32, ok bool) {
	lt, ok := castType(tn)
	switch {
	case !ok:
		return 0, false
	case lt.Name == col.Type.Name:
		return 0, true
	case slices.Contains(readAsInto[col.Type.Name], lt.Name):
		return lt.OID, true
	}
	return 0, false
}

// readAsInto are, per column type, the types whose constants PostgreSQL's
// assignment cast converts by value alone, so that reading the constant's
// canonical text as the column's type gives the same value: widening
// integers, and a date or timestamp read in the session's TimeZone.
var readAsInto = withArrays(map[string][]string{
	"integer":     {"smallint"},
	"bigint":      {"smallint", "integer"},
	"numeric":     {"smallint", "integer", "bigint"},
	"timestamp":   {"date"},
	"timestamptz": {"date", "timestamp"},
})

// withArrays adds the same pairs between arrays of the types:
// PostgreSQL's cast between two array types casts each element.
func withArrays(m map[string][]string) map[string][]string {
	for to, froms := range m {
		arrays := make([]string, len(froms))
		for i, f := range froms {
			arrays[i] = f + "[]"
		}
		m[to+"[]"] = arrays
	}
	return m
}

// readAsTypes are the types readAsInto names, by OID.
var readAsTypes = func() map[uint32]policy.LogicalType {
	m := map[uint32]policy.LogicalType{}
	for _, from := range readAsInto {
		for _, name := range from {
			lt, err := policy.ParseType(name)
			if err != nil {
				panic("BUG: readAsInto names an unknown type: " + name)
			}
			m[lt.OID] = lt
		}
	}
	return m
}()

// ReadAsType is the type the slot's constant is read as before the
// column's (ReadAs); false when it is read as the column's type only.
func (v ValueSlot) ReadAsType() (policy.LogicalType, bool) {
	t, ok := readAsTypes[v.ReadAs]
	return t, ok && v.ReadAs != 0
}

// intCastBits is the width of a cast to smallint, integer or bigint
// (without a modifier), else 0.
func intCastBits(tn *pg_query.TypeName) int {
	lt, ok := castType(tn)
	if !ok {
		return 0
	}
	switch lt.OID {
	case policy.OIDInt2:
		return 16
	case policy.OIDInt4:
		return 32
	case policy.OIDInt8:
		return 64
	}
	return 0
}

// castType is the type a cast names, when it is a plain (or pg_catalog)
// type phiguard knows, or an array of one (text[], _int4), without a
// modifier.
func castType(tn *pg_query.TypeName) (policy.LogicalType, bool) {
	names := tn.GetNames()
	if len(names) == 0 || len(tn.GetTypmods()) > 0 || tn.GetSetof() || tn.GetPctType() {
		return policy.LogicalType{}, false
	}
	if len(names) == 2 && names[0].GetString_().GetSval() != "pg_catalog" || len(names) > 2 {
		return policy.LogicalType{}, false
	}
	name := names[len(names)-1].GetString_().GetSval()
	if len(tn.GetArrayBounds()) > 0 {
		name += "[]" // PostgreSQL ignores the bounds and their number
	}
	lt, err := policy.ParseType(name)
	return lt, err == nil
}

// spans are the text's literal spans, found once per plan.
func (p *planner) spans() [][2]int {
	if p.literalSpans == nil {
		p.literalSpans = LiteralSpans([]byte(p.sql))
	}
	return p.literalSpans
}

// tokens are the text's tokens, scanned once per plan (only plans with a
// cast of a constant, or with a probe's place to find, scope_probe.go,
// need them).
func (p *planner) tokens() []*pg_query.ScanToken {
	if p.scanned == nil {
		res, err := pg_query.Scan(p.sql)
		if err != nil {
			p.scanned = []*pg_query.ScanToken{}
			return p.scanned
		}
		p.scanned = res.GetTokens()
	}
	return p.scanned
}

// numericColumn: a column whose logical type is a number, where a
// negative number is a constant of the column's kind.
func numericColumn(col *policy.ProtectedColumn) bool {
	switch col.Type.OID {
	case policy.OIDInt2, policy.OIDInt4, policy.OIDInt8, policy.OIDNumeric, policy.OIDFloat4, policy.OIDFloat8:
		return true
	}
	return false
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' }
