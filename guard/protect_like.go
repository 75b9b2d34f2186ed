package guard

import "github.com/phiguard/phiguard/internal/pgerr"

// PostgreSQL's LIKE on text in a UTF8 database (its UTF8_MatchText,
// src/backend/utils/adt/like_match.c), for a proxy-side WHERE
// (protect_filter.go): bytes compare as bytes, _ matches one character,
// % any run of them, and \ makes the next byte literal (an ESCAPE other
// than \ has been rewritten to it by PostgreSQL's like_escape). A pattern
// that ends in \ is an error only when the match reaches it, as there.

type likeResult uint8

const (
	likeFalse likeResult = iota
	likeTrue
	likeAbort // no later start in the text can match either
)

var likeEndsInEscape = pgerr.New(pgerr.InvalidEscapeSequence, "LIKE pattern must not end with escape character")

// likeMatch reports whether text matches pattern.
func likeMatch(text, pattern []byte) (bool, *pgerr.Error) {
	r, pe := likeText(text, pattern)
	return r == likeTrue, pe
}

// nextChar is the length of the character at the start of t: a byte
// and the UTF-8 continuation bytes after it, as PostgreSQL counts.
func nextChar(t []byte) int {
	n := 1
	for n < len(t) && t[n]&0xC0 == 0x80 {
		n++
	}
	return n
}

func likeText(t, p []byte) (likeResult, *pgerr.Error) {
	if len(p) == 1 && p[0] == '%' {
		return likeTrue, nil
	}
	for len(t) > 0 && len(p) > 0 {
		switch p[0] {
		case '\\':
			p = p[1:]
			if len(p) == 0 {
				return likeFalse, likeEndsInEscape
			}
			if p[0] != t[0] {
				return likeFalse, nil
			}
		case '%':
			return likePercent(t, p[1:])
		case '_':
			t, p = t[nextChar(t):], p[1:]
			continue
		default:
			if p[0] != t[0] {
				return likeFalse, nil
			}
		}
		t, p = t[1:], p[1:]
	}
	if len(t) > 0 {
		return likeFalse, nil
	}
	for len(p) > 0 && p[0] == '%' {
		p = p[1:]
	}
	if len(p) == 0 {
		return likeTrue, nil
	}
	return likeAbort, nil
}

// likePercent matches the pattern after a %: wildcards first, then the
// rest at each text position whose byte is the next literal's.
func likePercent(t, p []byte) (likeResult, *pgerr.Error) {
	for len(p) > 0 {
		if p[0] == '%' {
			p = p[1:]
		} else if p[0] == '_' {
			if len(t) == 0 {
				return likeAbort, nil
			}
			t, p = t[nextChar(t):], p[1:]
		} else {
			break
		}
	}
	if len(p) == 0 {
		return likeTrue, nil
	}
	first := p[0]
	if first == '\\' {
		if len(p) < 2 {
			return likeFalse, likeEndsInEscape
		}
		first = p[1]
	}
	for len(t) > 0 {
		if t[0] == first {
			if r, pe := likeText(t, p); r != likeFalse || pe != nil {
				return r, pe
			}
		}
		t = t[nextChar(t):]
	}
	return likeAbort, nil
}
