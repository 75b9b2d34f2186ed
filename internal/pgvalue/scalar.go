package pgvalue

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"github.com/phiguard/phiguard/internal/pgerr"
	"math"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/phiguard/phiguard/policy"
)

// isSpace is C's isspace in the C locale, which PostgreSQL's input
// functions use to skip white space.
func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'
}

// lowerIfNeeded is bytes.ToLower(b) for a caller that only reads the
// result: b itself when no byte would change (no ASCII capital, nothing
// past ASCII), which saves a date or timestamp's every read a copy.
func lowerIfNeeded(b []byte) []byte {
	for _, c := range b {
		if c >= 'A' && c <= 'Z' || c >= 0x80 {
			return bytes.ToLower(b)
		}
	}
	return b
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && isSpace(b[0]) {
		b = b[1:]
	}
	for len(b) > 0 && isSpace(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	return b
}

// textValue is a text or varchar value.
type textValue []byte

// text and binary hand out the value itself: decode made it a copy of
// its input already, and nothing keeps a value after printing it.
func (v textValue) text(*time.Location) []byte { return v }
func (v textValue) binary() []byte             { return v }

// text checks a text or varchar value: the server encoding is UTF8, which
// admits neither invalid sequences nor NUL, in either format. varchar(n)
// applies PostgreSQL's assignment rule: more than n characters is an error
// unless the excess is all spaces, which are cut off.
func (d decoder) text(in []byte) (value, error) {
	if err := d.checkText(in); err != nil {
		return nil, err
	}
	if d.t.OID == policy.OIDVarchar && d.t.Modifier >= 4 {
		cut, _, err := d.clip(in, "character varying")
		if err != nil {
			return nil, err
		}
		in = in[:cut]
	}
	return textValue(bytes.Clone(in)), nil
}

// checkText is PostgreSQL's check of the encoding (22021), in either
// format.
func (d decoder) checkText(in []byte) error {
	if !utf8.Valid(in) {
		return d.coded(pgerr.CharacterNotInRepertoire, "", "not valid UTF-8")
	}
	if bytes.IndexByte(in, 0) >= 0 {
		return d.coded(pgerr.CharacterNotInRepertoire, "", "contains a NUL byte")
	}
	return nil
}

// clip applies a length modifier as an assignment does: more than n
// characters is 22001 unless the excess is all spaces, which are cut
// off. It returns the byte length to keep and the characters kept.
func (d decoder) clip(in []byte, typeName string) (cut, chars int, err error) {
	max := int(d.t.Modifier - 4)
	n := 0
	cut = len(in)
	for i := range string(in) {
		if n == max {
			cut = i
			break
		}
		n++
	}
	for _, c := range in[cut:] {
		if c != ' ' {
			msg := fmt.Sprintf("value too long for type %s(%d)", typeName, max)
			return 0, 0, d.coded(pgerr.StringDataRightTruncation, msg, "value too long (more than %d characters)", max)
		}
	}
	return cut, n, nil
}

// bpchar checks a char(n) value as bpchar_input does: the rule of
// varchar(n), then blank-padded to n characters. Without a length
// (bpchar) the value is kept as it is.
func (d decoder) bpchar(in []byte) (value, error) {
	v, err := d.text(in)
	if err != nil || d.t.Modifier < 4 {
		return v, err
	}
	cut, n, err := d.clip(in, "character")
	if err != nil {
		return nil, err
	}
	out := append(bytes.Clone(in[:cut]), bytes.Repeat([]byte{' '}, int(d.t.Modifier-4)-n)...)
	return textValue(out), nil
}

// intValue is a smallint, integer or bigint.
type intValue struct {
	v    int64
	size int // bytes: 2, 4 or 8
}

func (v intValue) text(*time.Location) []byte { return strconv.AppendInt(nil, v.v, 10) }

func (v intValue) binary() []byte {
	b := make([]byte, v.size)
	switch v.size {
	case 2:
		binary.BigEndian.PutUint16(b, uint16(v.v))
	case 4:
		binary.BigEndian.PutUint32(b, uint32(v.v))
	default:
		binary.BigEndian.PutUint64(b, uint64(v.v))
	}
	return b
}

func (d decoder) intSize() (int, int64, int64) {
	switch d.t.OID {
	case policy.OIDInt2:
		return 2, math.MinInt16, math.MaxInt16
	case policy.OIDInt4:
		return 4, math.MinInt32, math.MaxInt32
	}
	return 8, math.MinInt64, math.MaxInt64
}

// intText follows pg_strtoint16/32/64 of PostgreSQL 15: white space, an
// optional sign, decimal digits, white space.
func (d decoder) intText(in []byte) (value, error) {
	size, lo, hi := d.intSize()
	s := trimSpace(in)
	neg := false
	if len(s) > 0 && (s[0] == '+' || s[0] == '-') {
		neg = s[0] == '-'
		s = s[1:]
	}
	if len(s) == 0 {
		return nil, d.err("no digits")
	}
	// Accumulate negatively so the most negative value fits.
	var acc int64
	for _, c := range s {
		if c < '0' || c > '9' {
			return nil, d.err("not an integer")
		}
		if acc < (math.MinInt64+int64(c-'0'))/10 {
			return nil, d.intRange()
		}
		acc = acc*10 - int64(c-'0')
	}
	if !neg {
		if acc == math.MinInt64 {
			return nil, d.intRange()
		}
		acc = -acc
	}
	if acc < lo || acc > hi {
		return nil, d.intRange()
	}
	return intValue{acc, size}, nil
}

func (d decoder) intBinary(in []byte) (value, error) {
	size, _, _ := d.intSize()
	if len(in) != size {
		return nil, d.err("want %d bytes, got %d", size, len(in))
	}
	switch size {
	case 2:
		return intValue{int64(int16(binary.BigEndian.Uint16(in))), 2}, nil
	case 4:
		return intValue{int64(int32(binary.BigEndian.Uint32(in))), 4}, nil
	}
	return intValue{int64(binary.BigEndian.Uint64(in)), 8}, nil
}

// boolValue is a boolean.
type boolValue bool

func (v boolValue) text(*time.Location) []byte {
	if v {
		return []byte("t")
	}
	return []byte("f")
}

func (v boolValue) binary() []byte {
	if v {
		return []byte{1}
	}
	return []byte{0}
}

// boolText follows boolin and parse_bool_with_len: after white space is
// trimmed, a case-insensitive prefix of true, false, yes or no; on, off or
// of; 1 or 0.
func (d decoder) boolText(in []byte) (value, error) {
	s := bytes.ToLower(trimSpace(in))
	prefixOf := func(word string, min int) bool {
		return len(s) >= min && len(s) <= len(word) && string(s) == word[:len(s)]
	}
	if len(s) > 0 {
		switch s[0] {
		case 't':
			if prefixOf("true", 1) {
				return boolValue(true), nil
			}
		case 'f':
			if prefixOf("false", 1) {
				return boolValue(false), nil
			}
		case 'y':
			if prefixOf("yes", 1) {
				return boolValue(true), nil
			}
		case 'n':
			if prefixOf("no", 1) {
				return boolValue(false), nil
			}
		case 'o':
			if prefixOf("on", 2) {
				return boolValue(true), nil
			}
			if prefixOf("off", 2) {
				return boolValue(false), nil
			}
		case '1':
			if len(s) == 1 {
				return boolValue(true), nil
			}
		case '0':
			if len(s) == 1 {
				return boolValue(false), nil
			}
		}
	}
	return nil, d.err("not a boolean")
}

// boolBinary follows boolrecv: one byte, any non-zero value is true.
func (d decoder) boolBinary(in []byte) (value, error) {
	if len(in) != 1 {
		return nil, d.err("want 1 byte, got %d", len(in))
	}
	return boolValue(in[0] != 0), nil
}
