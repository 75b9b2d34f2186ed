package sqlrewrite

import (
	"bytes"
	"slices"
	"strconv"
	"strings"
)

// The guard decides what a statement's values become (cells, lists of
// candidate cells, hidden parameters); where they stand in the client's
// text, what a constant there reads as, and the editing of the text
// around them are this file's. A plan locates its values by literal and
// parameter token index (LiteralSpans, ParamSpans), which hold for every
// text of a shape; the byte spans come from the text at hand.

// Edit replaces sql[Span[0]:Span[1]] with Text. A Last insertion goes
// after every other edit at its point: a clause written after a FROM
// clause whose last comparison a check closes there (scope_probe.go).
type Edit struct {
	Span [2]int
	Text string
	Last bool
}

// Splice applies non-overlapping edits to sql, in any order; false if
// two overlap. sql itself comes back when there is nothing to edit. An
// insertion (an empty span) at the start of a replaced span goes before
// it, unless Last, and insertions at one point keep their order in
// edits, the Last ones after the others.
func Splice(sql []byte, edits []Edit) ([]byte, bool) {
	if len(edits) == 0 {
		return sql, true
	}
	slices.SortStableFunc(edits, func(a, b Edit) int {
		switch {
		case a.Span[0] != b.Span[0]:
			return a.Span[0] - b.Span[0]
		case a.Last != b.Last && a.Last:
			return 1
		case a.Last != b.Last:
			return -1
		}
		return a.Span[1] - b.Span[1]
	})
	out := make([]byte, 0, len(sql)+64*len(edits))
	last := 0
	for _, e := range edits {
		if e.Span[0] < last {
			return nil, false
		}
		out = append(out, sql[last:e.Span[0]]...)
		out = append(out, e.Text...)
		last = e.Span[1]
	}
	return append(out, sql[last:]...), true
}

// Span is where a planned cut stands in sql, whose literals are at spans;
// false when the cut falls outside the text.
func (c TextCut) Span(sql []byte, spans [][2]int) ([2]int, bool) {
	base := 0
	if c.After >= 0 {
		if c.After >= len(spans) {
			return [2]int{}, false
		}
		base = spans[c.After][1]
	}
	sp := [2]int{base + c.Start, base + c.End}
	return sp, sp[0] >= 0 && sp[0] <= sp[1] && sp[1] <= len(sql)
}

// Region is where a planned literal's value stands in sql, whose
// literals are at spans: the literal, widened by the plan to its cast
// and sign (Before, After). false when the plan and the text disagree.
func (v ValueSlot) Region(sql []byte, spans [][2]int) ([2]int, bool) {
	if v.Literal < 0 || v.Literal >= len(spans) {
		return [2]int{}, false
	}
	lit := spans[v.Literal]
	sp := [2]int{lit[0] - v.Before, lit[1] + v.After}
	return sp, sp[0] >= 0 && sp[1] <= len(sql)
}

// LiteralValue decodes a SQL constant, lit as LiteralSpans finds it:
// '...' with doubled quotes, E'...' and $$...$$ (by PostgreSQL's lexer,
// StringConstant), or a number as written. Anything else (B”, U&”) is
// not decoded. A backslash in '...' is an ordinary character: a session
// under a policy always has standard_conforming_strings on, which is how
// both pg_query and PostgreSQL then read it (psycopg2 sends 'C:\dir' so).
func LiteralValue(lit []byte) ([]byte, bool) {
	if len(lit) >= 2 && lit[0] == '\'' && lit[len(lit)-1] == '\'' && !continued(lit) {
		return unquote(lit), true
	}
	if v, ok := StringConstant(lit); ok {
		return v, true
	}
	for _, c := range lit {
		if !(c >= '0' && c <= '9' || c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-') {
			return nil, false
		}
	}
	return lit, len(lit) > 0
}

// continued reports whether a '...' literal's span holds a quote that
// is not doubled: the string goes on after a newline ('a'<newline>'b'
// is 'ab'), and only PostgreSQL's lexer reads it.
func continued(lit []byte) bool {
	for i := 1; i < len(lit)-1; i++ {
		if lit[i] == '\'' {
			if lit[i+1] != '\'' {
				return true
			}
			i++
		}
	}
	return false
}

// unquote is a '...' literal's value: the text between the quotes with
// each doubled quote made one.
func unquote(lit []byte) []byte {
	return []byte(strings.ReplaceAll(string(lit[1:len(lit)-1]), "''", "'"))
}

// ParamNumber is n of the $n token at span of sql; false when the token
// is not one.
func ParamNumber(sql []byte, span [2]int) (int, bool) {
	if span[1]-span[0] < 2 || sql[span[0]] != '$' {
		return 0, false
	}
	n, err := strconv.Atoi(string(sql[span[0]+1 : span[1]]))
	return n, err == nil
}

// FitsList reports whether the value at sp of sql stands where a list of
// values can replace it as valid SQL: right after the operator for = and
// <>, as a bare item of the IN list for IN. The parse tree does not keep
// parentheses, so `col = ('x')` and `col IN (('x'))` are told apart here.
func (f CompareForm) FitsList(sql []byte, sp [2]int) bool {
	before := bytes.TrimRight(sql[:sp[0]], " \t\r\n")
	after := bytes.TrimLeft(sql[sp[1]:], " \t\r\n")
	if len(before) == 0 {
		return false
	}
	prev := before[len(before)-1]
	switch f {
	case CompareItem:
		return true // phiguard's own ARRAY[...] stands around it
	case CompareEq, CompareNe:
		return prev == '=' || prev == '>'
	case CompareIn:
		if len(after) == 0 || (after[0] != ',' && after[0] != ')') {
			return false
		}
		if prev == ',' {
			return true
		}
		if prev != '(' {
			return false
		}
		kw := bytes.TrimRight(before[:len(before)-1], " \t\r\n")
		return len(kw) >= 2 && bytes.EqualFold(kw[len(kw)-2:], []byte("in")) &&
			(len(kw) == 2 || !identByte(kw[len(kw)-3]))
	}
	return false
}

// identByte says whether b may end an identifier or keyword ($ too:
// a$b is one identifier).
func identByte(b byte) bool {
	return b == '_' || b == '$' || b >= 0x80 || '0' <= b && b <= '9' || 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z'
}

// spacedEdit is text put in place of sql's bytes [s, e), with a space on
// either side where a word of sql's touches it: where(x = 1) and
// AND(x = 1)AND are words of their own to PostgreSQL, wheretrue and
// ANDtrueAND are not (a syntax error, and the statement refused: red
// team 39).
func spacedEdit(sql string, s, e int, text string) string {
	if text == "" {
		return text
	}
	if s > 0 && identByte(sql[s-1]) && identByte(text[0]) {
		text = " " + text
	}
	if e < len(sql) && identByte(sql[e]) && identByte(text[len(text)-1]) {
		text += " "
	}
	return text
}

// List is the text that stands, where FitsList holds, for items in
// place of one value: = ANY(ARRAY[...]) for =, <> ALL(ARRAY[...]) for
// <>, the items themselves in an IN list.
func (f CompareForm) List(items []string) string {
	list := strings.Join(items, ",")
	switch f {
	case CompareEq:
		return "ANY(ARRAY[" + list + "])"
	case CompareNe:
		return "ALL(ARRAY[" + list + "])"
	}
	return list
}

// ParamList is List of the parameters $n for each n of params.
func (f CompareForm) ParamList(params []int) string {
	items := make([]string, len(params))
	for i, n := range params {
		items[i] = "$" + strconv.Itoa(n)
	}
	return f.List(items)
}
