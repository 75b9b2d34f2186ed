package proxy

import (
	"bytes"
	"strconv"
	"unicode/utf8"
)

// literalValue decodes a SQL literal bound for an encrypted column as
// PostgreSQL reads it: '...' with doubled quotes (a backslash in one is
// refused, since under standard_conforming_strings off it would be an
// escape), E'...' with its escapes, $$...$$ or $tag$...$tag$ as written,
// or a number as written. Anything else (B'...', U&'...', a string that
// escapes to bytes that are not UTF-8) is not decoded: the caller
// refuses it.
func literalValue(lit []byte) ([]byte, bool) {
	switch {
	case len(lit) >= 2 && lit[0] == '\'' && lit[len(lit)-1] == '\'':
		inner := lit[1 : len(lit)-1]
		if bytes.IndexByte(inner, '\\') >= 0 {
			return nil, false
		}
		return bytes.ReplaceAll(inner, []byte("''"), []byte("'")), true
	case len(lit) >= 3 && (lit[0] == 'E' || lit[0] == 'e') && lit[1] == '\'' && lit[len(lit)-1] == '\'':
		return escapeString(lit[2 : len(lit)-1])
	case len(lit) >= 2 && lit[0] == '$':
		return dollarQuoted(lit)
	}
	for _, c := range lit {
		if !(c >= '0' && c <= '9' || c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-') {
			return nil, false
		}
	}
	return lit, len(lit) > 0
}

// dollarQuoted is the body of $tag$body$tag$.
func dollarQuoted(lit []byte) ([]byte, bool) {
	end := bytes.IndexByte(lit[1:], '$')
	if end < 0 {
		return nil, false
	}
	tag := lit[:end+2]
	if len(lit) < 2*len(tag) || !bytes.HasSuffix(lit, tag) {
		return nil, false
	}
	return lit[len(tag) : len(lit)-len(tag)], true
}

// escapeString decodes the body of E'...' as PostgreSQL's scanner does:
// a doubled quote and \' are a quote, \b \f \n \r \t their control characters, \ooo
// (one to three octal digits) and \xh or \xhh a byte, \uXXXX and
// \UXXXXXXXX a code point (not a surrogate), any other \c the character c.
// The result must be UTF-8, as PostgreSQL requires of a UTF8 database.
func escapeString(in []byte) ([]byte, bool) {
	out := make([]byte, 0, len(in))
	for i := 0; i < len(in); i++ {
		c := in[i]
		switch {
		case c == '\'':
			if i+1 >= len(in) || in[i+1] != '\'' {
				return nil, false
			}
			out = append(out, '\'')
			i++
			continue
		case c != '\\':
			out = append(out, c)
			continue
		}
		if i+1 >= len(in) {
			return nil, false
		}
		n, decoded, ok := escapeSequence(in[i+1:])
		if !ok {
			return nil, false
		}
		out = append(out, decoded...)
		i += n
	}
	return out, utf8.Valid(out)
}

// escapeSequence decodes the escape after a backslash and returns how
// many bytes of seq it used.
func escapeSequence(seq []byte) (int, []byte, bool) {
	simple := map[byte]byte{'b': '\b', 'f': '\f', 'n': '\n', 'r': '\r', 't': '\t'}
	c := seq[0]
	switch {
	case simple[c] != 0:
		return 1, []byte{simple[c]}, true
	case c >= '0' && c <= '7':
		n := digits(seq, 3, 8)
		v, _ := strconv.ParseUint(string(seq[:n]), 8, 16)
		return n, []byte{byte(v)}, true
	case c == 'x' && digits(seq[1:], 2, 16) > 0:
		n := digits(seq[1:], 2, 16)
		v, _ := strconv.ParseUint(string(seq[1:1+n]), 16, 8)
		return 1 + n, []byte{byte(v)}, true
	case c == 'u' || c == 'U':
		width := 4
		if c == 'U' {
			width = 8
		}
		if digits(seq[1:], width, 16) != width {
			return 0, nil, false
		}
		v, _ := strconv.ParseUint(string(seq[1:1+width]), 16, 32)
		r := rune(v)
		if v == 0 || v > utf8.MaxRune || r >= 0xD800 && r <= 0xDFFF {
			return 0, nil, false
		}
		return 1 + width, utf8.AppendRune(nil, r), true
	}
	return 1, []byte{c}, true
}

// digits counts the leading digits of base in b, at most max.
func digits(b []byte, max, base int) int {
	n := 0
	for n < len(b) && n < max {
		c := b[n]
		ok := c >= '0' && c <= '7' || base == 16 && (c >= '8' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F')
		if !ok {
			break
		}
		n++
	}
	return n
}
