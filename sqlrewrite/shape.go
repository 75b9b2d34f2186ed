package sqlrewrite

import (
	"math"
	"strconv"
)

// A statement's shape is its text with every literal replaced by a marker.
// Texts that differ only in their literals — "... WHERE aid = 17" and
// "... WHERE aid = 42" — share a shape, and so share an analysis: kinds and
// tables do not depend on the values. Caching by shape keeps an application
// that inlines its values (most legacy ones, and pgbench -M simple) from
// paying a full parse per statement.
//
// The scanner here is deliberately small and conservative. It recognises
// only plain literals (numbers and '...' strings without backslashes) and
// gives up — the caller then keys by exact text — on anything whose lexing
// depends on session settings or that it does not model: E'', B'', X'',
// N'' and U&'' strings, dollar quoting, backslashes in strings, a number
// glued to a name. And the first time a shape is stored, its literal
// positions are checked against PostgreSQL's own scanner (see verifyShape),
// so a shape is only ever shared when both scanners agree on it.

// Markers written in place of a literal. NUL cannot occur in a Query or
// Parse message's SQL (NUL terminates it), so a marker can never be
// confused with text a client sent.
//
// A number's marker says the type PostgreSQL gives it (numberClass):
// plans depend on it (an operator's operand types: visits > 3 calls
// >(int4,int4), visits > 3000000000 >(int4,int8), visits > 2.5 a
// numeric one, and a user's operator may be the one PostgreSQL takes for
// the second or third), so texts whose numbers differ in type must not
// share a plan (TestRedTeam30NumberShapes).
const (
	markString = "\x00s"
	markNumber = "\x00n" // numeric: a decimal point, an exponent, or too big for int8
	markInt4   = "\x00i" // fits int4
	markInt8   = "\x00l" // fits int8
	// 2147483648 and 9223372036854775808 are int8 and numeric, but int4
	// and int8 after a minus sign (PostgreSQL's grammar negates the
	// constant before typing it): their own markers, so that the shape,
	// which keeps the sign as text, still tells.
	markInt4Min = "\x00I"
	markInt8Min = "\x00L"
)

// numberClass is the marker of the number literal lit (digits, a
// decimal point, an exponent).
func numberClass(lit []byte) string {
	v, err := strconv.ParseUint(string(lit), 10, 64)
	switch {
	case err != nil:
		return markNumber
	case v <= math.MaxInt32:
		return markInt4
	case v == math.MaxInt32+1:
		return markInt4Min
	case v <= math.MaxInt64:
		return markInt8
	case v == math.MaxInt64+1:
		return markInt8Min
	}
	return markNumber
}

// literalSpan is a literal's byte range in the original text.
type literalSpan struct{ start, end int }

// appendShape appends sql's shape to dst and returns the literal spans it
// replaced. ok is false when the text holds something the scanner does not
// model; dst is then meaningless.
func appendShape(dst []byte, sql []byte, spans []literalSpan) (_ []byte, _ []literalSpan, ok bool) {
	n := len(sql)
	for i := 0; i < n; {
		c := sql[i]
		switch {
		case c == 0:
			return dst, spans, false
		case c == '\'':
			end, ok := scanString(sql, i)
			if !ok {
				return dst, spans, false
			}
			dst = append(dst, markString...)
			spans = append(spans, literalSpan{i, end})
			i = end
		case c == '"':
			end, ok := scanQuotedIdent(sql, i)
			if !ok {
				return dst, spans, false
			}
			dst = append(dst, sql[i:end]...)
			i = end
		case isDigit(c) || (c == '.' && i+1 < n && isDigit(sql[i+1])):
			end := scanNumber(sql, i)
			if end < n && (isIdentChar(sql[end]) || sql[end] == '.') {
				return dst, spans, false // 1abc, 0x1F, 1_000, 1.2.3: leave to the real lexer
			}
			dst = append(dst, numberClass(sql[i:end])...)
			spans = append(spans, literalSpan{i, end})
			i = end
		case isIdentStart(c):
			end := i + 1
			for end < n && isIdentChar(sql[end]) {
				end++
			}
			if end < n && (sql[end] == '\'' || (sql[end] == '&' && end-i == 1 && (c == 'u' || c == 'U'))) {
				return dst, spans, false // E'..', X'..', N'..', U&'..', U&".."
			}
			dst = append(dst, sql[i:end]...)
			i = end
		case c == '$':
			end := i + 1
			for end < n && isDigit(sql[end]) {
				end++
			}
			if end == i+1 || (end < n && isIdentChar(sql[end])) {
				return dst, spans, false // dollar quoting, or $1abc
			}
			dst = append(dst, sql[i:end]...)
			i = end
		case c == '-' && i+1 < n && sql[i+1] == '-':
			end := i
			for end < n && sql[end] != '\n' && sql[end] != '\r' {
				end++
			}
			dst = append(dst, sql[i:end]...)
			i = end
		case c == '/' && i+1 < n && sql[i+1] == '*':
			end, ok := scanBlockComment(sql, i)
			if !ok {
				return dst, spans, false
			}
			dst = append(dst, sql[i:end]...)
			i = end
		default:
			dst = append(dst, c)
			i++
		}
	}
	return dst, spans, true
}

// scanString returns the end of a standard-conforming '...' literal
// starting at i. A backslash makes the meaning depend on
// standard_conforming_strings, so it is refused.
func scanString(sql []byte, i int) (int, bool) {
	for j := i + 1; j < len(sql); j++ {
		switch sql[j] {
		case '\\':
			return 0, false
		case '\'':
			if j+1 < len(sql) && sql[j+1] == '\'' {
				j++
				continue
			}
			return j + 1, true
		}
	}
	return 0, false
}

func scanQuotedIdent(sql []byte, i int) (int, bool) {
	for j := i + 1; j < len(sql); j++ {
		if sql[j] == '"' {
			if j+1 < len(sql) && sql[j+1] == '"' {
				j++
				continue
			}
			return j + 1, true
		}
	}
	return 0, false
}

// scanBlockComment handles PostgreSQL's nested /* /* */ */ comments.
func scanBlockComment(sql []byte, i int) (int, bool) {
	depth := 0
	for j := i; j+1 < len(sql); j++ {
		switch {
		case sql[j] == '/' && sql[j+1] == '*':
			depth++
			j++
		case sql[j] == '*' && sql[j+1] == '/':
			depth--
			j++
			if depth == 0 {
				return j + 1, true
			}
		}
	}
	return 0, false
}

// scanNumber returns the end of digits[.digits][e[+-]digits] at i.
func scanNumber(sql []byte, i int) int {
	n := len(sql)
	j := i
	for j < n && isDigit(sql[j]) {
		j++
	}
	if j < n && sql[j] == '.' && !(j+1 < n && sql[j+1] == '.') { // "1..2" is not a decimal
		j++
		for j < n && isDigit(sql[j]) {
			j++
		}
	}
	if j < n && (sql[j] == 'e' || sql[j] == 'E') {
		k := j + 1
		if k < n && (sql[k] == '+' || sql[k] == '-') {
			k++
		}
		if k < n && isDigit(sql[k]) {
			for k < n && isDigit(sql[k]) {
				k++
			}
			j = k
		}
	}
	return j
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func isIdentStart(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || c >= 0x80
}

func isIdentChar(c byte) bool { return isIdentStart(c) || isDigit(c) || c == '$' }
