package guard

import (
	"bytes"
	"slices"
	"strconv"
	"unicode/utf8"

	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/phiguard/phiguard/internal/pgerr"
	"github.com/phiguard/phiguard/internal/pgorder"
	"github.com/phiguard/phiguard/policy"
	"github.com/phiguard/phiguard/sqlrewrite"
)

// The constants of proxy-side WHERE (docs/search.md) never reach the
// database: they are compared with an encrypted column, and a patient's
// name or birth date searched for is as sensitive as the column. The
// conjunct is gone from the text sent (sqlrewrite writes true in its
// place); phiguard reads each literal from the client's text when the
// statement arrives (Query) or is prepared (Parse), and each parameter
// from the Bind, which sends NULL in its place. A constant is read as
// PostgreSQL's input function reads it for the type PostgreSQL would
// give it in the comparison — an untyped one the column's (text for a
// varchar), a number its own (int4, int8 or numeric), a cast one its
// cast's, a parameter the type the client declared or else that one —
// under the session's DateStyle, IntervalStyle and TimeZone; it is
// compared only when PostgreSQL would compare in the column's type (or
// an integer column in numeric), and refused otherwise (0A000).

// filterTypes are the types a constant may have, by OID.
var filterTypes = func() map[uint32]policy.LogicalType {
	m := map[uint32]policy.LogicalType{}
	for _, n := range []string{"boolean", "smallint", "integer", "bigint", "numeric", "text", "varchar", "bpchar",
		"date", "timestamp", "timestamptz", "time", "interval", "uuid", "bytea"} {
		t, err := policy.ParseType(n)
		if err != nil {
			panic("BUG: filterTypes names an unknown type: " + n)
		}
		m[t.OID] = t
	}
	return m
}()

// filterParamType is the type PostgreSQL gives an untyped constant or
// parameter compared with f's column: the column's, text for a varchar
// (which has no comparison operators of its own) and for a LIKE.
func filterParamType(f sqlrewrite.Filter) uint32 {
	if f.Op.Like() || f.Column.Type.OID == policy.OIDVarchar {
		return policy.OIDText
	}
	return f.Column.Type.OID
}

// argParamType is filterParamType for one constant: text for one in
// lower() or upper().
func argParamType(f sqlrewrite.Filter, a sqlrewrite.FilterArg) uint32 {
	if a.Fold != sqlrewrite.FoldNone {
		return policy.OIDText
	}
	return filterParamType(f)
}

// constants lists a filter's constants: its Args, then a LIKE's ESCAPE.
// Its capacity is every constant a filter can have: one allocation for
// a BETWEEN or an ESCAPE, not two (and none where it is inlined and the
// list does not escape).
func constants(f sqlrewrite.Filter) []sqlrewrite.FilterArg {
	out := append(make([]sqlrewrite.FilterArg, 0, 3), f.Args[0])
	if f.Op.Between() {
		out = append(out, f.Args[1])
	}
	if f.HasEscape {
		out = append(out, f.Escape)
	}
	return out
}

// declareFilterParams gives the backend the type of each parameter of a
// filter, which the text sent no longer holds: the one PostgreSQL would
// infer from the client's text, or the one the client declared, so that
// ParameterDescription says what it would on a plaintext table. It
// returns them by $n.
func declareFilterParams(sp *sqlrewrite.SortPlan, msg *pgproto3.Parse) (map[int]uint32, *pgerr.Error) {
	var types map[int]uint32
	for _, f := range sp.Filters {
		for _, a := range constants(f) {
			if a.Param <= 0 {
				continue
			}
			want := a.Type
			if want == 0 {
				want = argParamType(f, a)
			}
			if i := a.Param - 1; i < len(msg.ParameterOIDs) && msg.ParameterOIDs[i] != 0 && msg.ParameterOIDs[i] != oidUnknown {
				if a.Type != 0 && msg.ParameterOIDs[i] != a.Type {
					return nil, pgerr.Newf(pgerr.FeatureNotSupported,
						"WHERE compares encrypted column %s with parameter $%d cast to another type than the one declared for it: phiguard evaluates the comparison itself and does not cast", f.Column.QualifiedName(), a.Param)
				}
				want = msg.ParameterOIDs[i]
			}
			if prev, ok := types[a.Param]; ok && prev != want {
				return nil, pgerr.Newf(pgerr.FeatureNotSupported,
					"parameter $%d is compared with encrypted column %s as two types: pass it once per type", a.Param, f.Column.QualifiedName())
			}
			if types == nil {
				types = map[int]uint32{}
			}
			types[a.Param] = want
		}
	}
	for n, t := range types {
		for len(msg.ParameterOIDs) < n {
			msg.ParameterOIDs = append(msg.ParameterOIDs, 0) // unspecified, as the client left it
		}
		msg.ParameterOIDs[n-1] = t
	}
	return types, nil
}

// parseConstants handles a Parse's constants: its filters' are read
// (parseFilterConsts), then its literals for encrypted columns sealed.
func (s *Session) parseConstants(info *stmtInfo, msg *pgproto3.Parse) *pgerr.Error {
	if pe := s.parseFilterConsts(info, msg); pe != nil {
		return pe
	}
	// Before planParams declares them text: the client's types are the
	// plaintext statement's, whose operator the checks look up.
	sql, pe := s.encryptLiterals([]byte(msg.Query), info.plan, declaredParams(msg.ParameterOIDs))
	if pe == nil && string(sql) != msg.Query { // unchanged (nothing sealed): no copy
		msg.Query = string(sql)
	}
	return pe
}

// parseFilterConsts reads the literal constants of a prepared
// statement's filters from its text (before phiguard's own edits of it)
// and declares the types of their parameters.
func (s *Session) parseFilterConsts(info *stmtInfo, msg *pgproto3.Parse) *pgerr.Error {
	sp := info.plan.Sort
	if sp == nil || len(sp.Filters) == 0 {
		return nil
	}
	var pe *pgerr.Error
	if info.filterLits, pe = s.literalFilterArgs([]byte(msg.Query), sp); pe != nil {
		return pe
	}
	info.filterParams, pe = declareFilterParams(sp, msg)
	return pe
}

// noteFilters keeps, at a Bind, the constants read at Parse of a
// statement whose filters have no parameter.
func (s *Session) noteFilters(portal string, info *stmtInfo) {
	delete(s.portalFilters, portal)
	if info != nil && len(info.filterParams) == 0 && info.filterLits != nil {
		s.portalFilters[portal] = info.filterLits
	}
}

// bindFilters reads a Bind's parameters of filters, kept with its portal
// for the Execute, and blanks them in params.
func (s *Session) bindFilters(portal string, info *stmtInfo, params [][]byte, formats []int16) *pgerr.Error {
	if len(info.filterParams) == 0 {
		return nil
	}
	args, pe := s.bindFilterArgs(info, params, formats)
	if pe == nil {
		s.portalFilters[portal] = args
	}
	return pe
}

// executeFilters gives an Execute's sortRun its portal's constants, a
// copy finished for this execution.
func (s *Session) executeFilters(x *expectation) *pgerr.Error {
	sp := x.sort.plan
	if len(sp.Filters) == 0 {
		return nil
	}
	x.sort.filterArgs = slices.Clone(s.portalFilters[x.name])
	return finishFilterArgs(sp, x.sort.filterArgs)
}

// filterConst is one constant as it arrived: its type, format and bytes
// (nil for NULL).
type filterConst struct {
	typ    uint32
	format int16
	raw    []byte
	neg    bool
}

// literalFilterArgs reads the constants of a plan's filters that are in
// sql, the text the plan was made for; parameters are left for the Bind
// (bindFilterArgs). It returns nil for a plan without filters.
func (s *Session) literalFilterArgs(sql []byte, sp *sqlrewrite.SortPlan) ([]filterArgs, *pgerr.Error) {
	if sp == nil || len(sp.Filters) == 0 {
		return nil, nil
	}
	spans := sqlrewrite.LiteralSpans(sql)
	out := make([]filterArgs, len(sp.Filters))
	for i, f := range sp.Filters {
		for j, a := range constants(f) {
			if a.Param > 0 {
				continue
			}
			c, pe := literalConst(sql, spans, f, a)
			if pe == nil {
				pe = s.readFilterConst(f, c, &out[i], j)
			}
			if pe != nil {
				return nil, pe
			}
		}
	}
	return out, nil
}

// bindFilterArgs completes the constants read at Parse (lits) with the
// Bind's parameters, and blanks those in params: the backend gets NULL.
func (s *Session) bindFilterArgs(info *stmtInfo, params [][]byte, formats []int16) ([]filterArgs, *pgerr.Error) {
	sp := info.plan.Sort
	out := make([]filterArgs, len(sp.Filters))
	copy(out, info.filterLits)
	for i, f := range sp.Filters {
		for j, a := range constants(f) {
			n := a.Param - 1
			if n < 0 || n >= len(params) {
				continue // a missing parameter is the backend's error to report
			}
			c := filterConst{typ: info.filterParams[a.Param], format: formats[n], raw: params[n], neg: a.Negative}
			if pe := s.readFilterConst(f, c, &out[i], j); pe != nil {
				return nil, pe
			}
		}
	}
	for n := range info.filterParams {
		if n-1 < len(params) {
			params[n-1] = nil
		}
	}
	return out, nil
}

// literalConst is a filter's constant that is not a parameter, as
// written in sql: its type is the cast's, else a number's own, else the
// column's.
func literalConst(sql []byte, spans [][2]int, f sqlrewrite.Filter, a sqlrewrite.FilterArg) (filterConst, *pgerr.Error) {
	c := filterConst{typ: a.Type, neg: a.Negative}
	if c.typ == 0 {
		c.typ = argParamType(f, a)
	}
	switch {
	case a.Null:
		return c, nil
	case a.Bool != "":
		if a.Type == 0 {
			c.typ = policy.OIDBool
		}
		c.raw = []byte(a.Bool)
		return c, nil
	case a.Literal < 0 || a.Literal >= len(spans):
		return c, internalRefusal(f.Column, "literal positions disagree")
	}
	lit := spans[a.Literal]
	plain, ok := sqlrewrite.LiteralValue(sql[lit[0]:lit[1]])
	if !ok {
		return c, pgerr.Newf(pgerr.FeatureNotSupported,
			"WHERE compares encrypted column %s with a constant phiguard cannot read: write it as a '...' literal, a number or a parameter", f.Column.QualifiedName())
	}
	c.raw = bytes.Clone(plain)
	if ch := sql[lit[0]]; ch >= '0' && ch <= '9' || ch == '.' {
		own := literalNumberType(plain, a.Negative)
		switch {
		case a.Type == 0:
			c.typ = own
		case a.Type == policy.OIDNumeric, integer(a.Type) && integer(own):
		default: // 12.5::int4 rounds, 5::date is no cast PostgreSQL has
			return c, anotherType(f, a.Type)
		}
	}
	return c, nil
}

// literalNumberType is the type PostgreSQL gives a number literal: int4
// when its digits fit (its lexer types the literal before the grammar
// folds a minus sign into it), int8 when it fits with its sign, else
// numeric.
func literalNumberType(text []byte, negative bool) uint32 {
	if _, err := strconv.ParseInt(string(text), 10, 32); err == nil {
		return policy.OIDInt4
	}
	s := string(text)
	if negative {
		s = "-" + s
	}
	if _, err := strconv.ParseInt(s, 10, 64); err == nil {
		return policy.OIDInt8
	}
	return policy.OIDNumeric
}

// readFilterConst reads constant j of filter f (constants' order: for a
// LIKE, j = 1 is its ESCAPE, which applies to the pattern once both are
// read) into fa.
func (s *Session) readFilterConst(f sqlrewrite.Filter, c filterConst, fa *filterArgs, j int) *pgerr.Error {
	if f.Op.Like() {
		return likeConst(f, c, fa, j)
	}
	arg, numeric, pe := s.compareConst(f, c)
	if pe != nil {
		return pe
	}
	fa.args[j] = arg
	if fa.numeric = fa.numeric || numeric; fa.numeric {
		for k := range fa.args { // both constants of a BETWEEN are compared as numeric
			if key, err := pgorder.IntAsNumeric(fa.args[k].key); err == nil && !fa.args[k].null {
				fa.args[k].key = key // an integer one
			}
		}
	}
	return nil
}

// likeConst reads a LIKE's pattern (j = 0) or ESCAPE (j = 1): text.
func likeConst(f sqlrewrite.Filter, c filterConst, fa *filterArgs, j int) *pgerr.Error {
	if !textual(c.typ) {
		return anotherType(f, c.typ)
	}
	if j == 1 {
		fa.escape, fa.escapeNull, fa.hasEscape = bytes.Clone(c.raw), c.raw == nil, true
	} else {
		fa.args[0] = filterArg{null: c.raw == nil, pattern: bytes.Clone(c.raw)}
	}
	return nil
}

func anotherType(f sqlrewrite.Filter, typ uint32) *pgerr.Error {
	name := "OID " + strconv.FormatUint(uint64(typ), 10)
	if t, ok := filterTypes[typ]; ok {
		name = t.Name
	}
	return pgerr.Newf(pgerr.FeatureNotSupported,
		"WHERE compares encrypted column %s (%s) with a value of another type (%s), which PostgreSQL would compare in another type than the column's and phiguard does not: write the constant as the column's type", f.Column.QualifiedName(), f.Column.Type.Name, name)
}

// compareConst reads a constant compared with f's column; numeric says
// it is compared in numeric (an integer column with a numeric or an
// integer of another width).
func (s *Session) compareConst(f sqlrewrite.Filter, c filterConst) (filterArg, bool, *pgerr.Error) {
	col := f.Column
	t := col.Type
	t.Modifier = -1 // a constant is compared unrounded (numeric(6,2) > 2.555)
	lt, known := filterTypes[c.typ]
	numeric, readAs := false, false
	switch u := c.typ; {
	case !known:
		return filterArg{}, false, anotherType(f, u)
	case u == t.OID, textual(u) && textual(t.OID):
	case integer(t.OID) && (integer(u) || u == policy.OIDNumeric):
		numeric = u != t.OID
	case integer(u) && t.OID == policy.OIDNumeric:
	case u == policy.OIDDate && (t.OID == policy.OIDTimestamp || t.OID == policy.OIDTimestamptz),
		u == policy.OIDTimestamp && t.OID == policy.OIDTimestamptz:
		readAs = true // PostgreSQL's cross-type operators convert it as an assignment would
	default:
		return filterArg{}, false, anotherType(f, u)
	}
	if c.neg && !integer(c.typ) && c.typ != policy.OIDNumeric {
		return filterArg{}, false, pgerr.Newf(pgerr.FeatureNotSupported,
			"WHERE compares encrypted column %s with a negated %s, which phiguard does not evaluate", col.QualifiedName(), lt.Name)
	}
	if c.raw == nil {
		return filterArg{null: true}, numeric, nil
	}
	as := *col
	as.Type = lt
	canon, err := s.canonicalValue(&as, c.format, c.raw)
	if err == nil && c.neg {
		canon, err = s.canonicalValue(&as, 0, negated(canon))
	}
	if err == nil && readAs {
		as.Type = t
		canon, err = s.canonicalValue(&as, 0, canon)
	}
	if err != nil {
		return filterArg{}, false, valueError(&as, err)
	}
	kt := t
	if numeric {
		kt = numericType
	}
	k, err := pgorder.Parse(kt, canon)
	if err != nil {
		return filterArg{}, false, pgerr.Newf(pgerr.InternalError, "phiguard could not read the value compared with %s as %s", col.QualifiedName(), kt.Name)
	}
	a := filterArg{key: k}
	if f.Term != sqlrewrite.TermNone && !numeric {
		a.canon = bytes.Clone(canon) // its term's input (protect_search.go)
	}
	return a, numeric, nil
}

// textual: text or varchar, which compare as text (a bpchar, as text,
// loses its trailing blanks).
func textual(oid uint32) bool { return oid == policy.OIDText || oid == policy.OIDVarchar }

// negated is a number's canonical text with its sign turned.
func negated(canon []byte) []byte {
	if rest, ok := bytes.CutPrefix(canon, []byte("-")); ok {
		return rest
	}
	return append([]byte("-"), canon...)
}

// likeEscape is PostgreSQL's like_escape: the pattern with escape
// character e turned into \ (like_match.c, do_like_escape): no escape
// when e is empty (every \ doubled), and more than one character is an
// error.
func likeEscape(pattern, e []byte) ([]byte, *pgerr.Error) {
	if len(e) == 0 {
		return bytes.ReplaceAll(pattern, []byte(`\`), []byte(`\\`)), nil
	}
	esc, size := utf8.DecodeRune(e)
	if size != len(e) {
		return nil, pgerr.New(pgerr.InvalidEscapeSequence, "invalid escape string")
	}
	if esc == '\\' {
		return pattern, nil
	}
	out := make([]byte, 0, len(pattern)+4)
	after := false
	for len(pattern) > 0 {
		r, n := utf8.DecodeRune(pattern)
		switch {
		case r == esc && !after:
			out, after = append(out, '\\'), true
		case r == '\\':
			out = append(out, '\\')
			if !after {
				out = append(out, '\\')
			}
			after = false
		default:
			out, after = append(out, pattern[:n]...), false
		}
		pattern = pattern[n:]
	}
	return out, nil
}
