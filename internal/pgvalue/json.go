package pgvalue

import (
	"bytes"
	"fmt"
	"github.com/phiguard/phiguard/internal/pgerr"
	"sort"
	"time"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/phiguard/phiguard/policy"
)

// json and jsonb are stored whole: a json value is its text exactly as
// the client wrote it (PostgreSQL keeps it so), a jsonb value the text
// jsonb_out prints for it, which is normalised: object keys sorted by
// length then bytes, a duplicate key's last value kept, ", " and ": "
// between members, strings with their escapes resolved and re-escaped as
// escape_json does, numbers printed as numeric prints them.

// maxJSONDepth bounds nesting (PostgreSQL's own bound is its stack
// depth); deeper documents are refused as unsupported.
const maxJSONDepth = 1000

// jsonValue is a json document's text.
type jsonValue []byte

func (v jsonValue) text(*time.Location) []byte { return bytes.Clone(v) }
func (v jsonValue) binary() []byte             { return bytes.Clone(v) }

// jsonbValue is a jsonb document in jsonb_out's text.
type jsonbValue []byte

func (v jsonbValue) text(*time.Location) []byte { return bytes.Clone(v) }

// binary is jsonb_send: the version byte 1, then the text.
func (v jsonbValue) binary() []byte { return append([]byte{1}, v...) }

// json follows json_in and json_recv (the same text in either format):
// valid UTF-8 without NUL that PostgreSQL's JSON lexer accepts.
func (d decoder) json(in []byte) (value, error) {
	if err := d.jsonText(in); err != nil {
		return nil, err
	}
	p := jsonParser{d: d, s: in}
	if _, err := p.document(); err != nil {
		return nil, err
	}
	return jsonValue(bytes.Clone(in)), nil
}

func (d decoder) jsonText(in []byte) error {
	if !utf8.Valid(in) || bytes.IndexByte(in, 0) >= 0 {
		return d.coded(pgerr.CharacterNotInRepertoire, "", "not valid UTF-8")
	}
	return nil
}

// jsonb follows jsonb_in.
func (d decoder) jsonb(in []byte) (value, error) {
	if err := d.jsonText(in); err != nil {
		return nil, err
	}
	p := jsonParser{d: d, s: in, build: true}
	n, err := p.document()
	if err != nil {
		return nil, err
	}
	return jsonbValue(n.appendTo(nil)), nil
}

// jsonbBinary follows jsonb_recv: version 1, then the text.
func (d decoder) jsonbBinary(in []byte) (value, error) {
	if len(in) == 0 {
		return nil, d.coded(pgerr.ProtocolViolation, "", "no jsonb version number")
	}
	if in[0] != 1 {
		msg := fmt.Sprintf("unsupported jsonb version number %d", in[0])
		return nil, d.coded(pgerr.InternalError, msg, "%s", msg)
	}
	return d.jsonb(in[1:])
}

// jsonNode is a parsed jsonb value.
type jsonNode struct {
	kind   byte // '{', '[', '"', '0' (number), 'l' (literal)
	text   []byte
	keys   []string
	values []*jsonNode
}

func (n *jsonNode) appendTo(b []byte) []byte {
	switch n.kind {
	case '"':
		return appendJSONString(b, n.text)
	case '0', 'l':
		return append(b, n.text...)
	case '[':
		b = append(b, '[')
		for i, v := range n.values {
			if i > 0 {
				b = append(b, ", "...)
			}
			b = v.appendTo(b)
		}
		return append(b, ']')
	}
	b = append(b, '{')
	for i, k := range n.keys {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = appendJSONString(b, []byte(k))
		b = append(b, ": "...)
		b = n.values[i].appendTo(b)
	}
	return append(b, '}')
}

// appendJSONString is escape_json.
func appendJSONString(b, s []byte) []byte {
	const hexDigits = "0123456789abcdef"
	b = append(b, '"')
	for _, c := range s {
		switch c {
		case '\b':
			b = append(b, '\\', 'b')
		case '\f':
			b = append(b, '\\', 'f')
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		case '"':
			b = append(b, '\\', '"')
		case '\\':
			b = append(b, '\\', '\\')
		default:
			if c < ' ' {
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&15])
			} else {
				b = append(b, c)
			}
		}
	}
	return append(b, '"')
}

// jsonParser is PostgreSQL's JSON grammar (src/common/jsonapi.c). With
// build set it makes jsonb's tree and applies jsonb's checks of \u
// escapes (surrogate pairs, no \u0000).
type jsonParser struct {
	d     decoder
	s     []byte
	i     int
	build bool
	depth int
}

func (p *jsonParser) syntax() error {
	return p.d.coded(pgerr.InvalidTextRepresentation, "", "invalid input syntax for type %s", p.d.t.Name)
}

func (p *jsonParser) space() {
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\t' || p.s[p.i] == '\n' || p.s[p.i] == '\r') {
		p.i++
	}
}

func (p *jsonParser) document() (*jsonNode, error) {
	n, err := p.value()
	if err != nil {
		return nil, err
	}
	p.space()
	if p.i != len(p.s) {
		return nil, p.syntax()
	}
	return n, nil
}

func (p *jsonParser) value() (*jsonNode, error) {
	p.space()
	if p.i >= len(p.s) {
		return nil, p.syntax()
	}
	switch c := p.s[p.i]; {
	case c == '{' || c == '[':
		return p.container(c)
	case c == '"':
		s, err := p.str()
		return &jsonNode{kind: '"', text: s}, err
	case c == '-' || c >= '0' && c <= '9':
		return p.number()
	}
	j := p.i
	for j < len(p.s) && jsonAlnum(p.s[j]) {
		j++
	}
	w := string(p.s[p.i:j])
	if w != "true" && w != "false" && w != "null" {
		return nil, p.syntax()
	}
	p.i = j
	return &jsonNode{kind: 'l', text: []byte(w)}, nil
}

func jsonAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c >= 0x80
}

// container reads an object or array; jsonb keeps each key's last value
// and sorts keys by length, then bytes.
func (p *jsonParser) container(open byte) (*jsonNode, error) {
	if p.depth++; p.depth > maxJSONDepth {
		return nil, p.d.unsupported("nested more than %d deep", maxJSONDepth)
	}
	defer func() { p.depth-- }()
	closing := byte(']')
	if open == '{' {
		closing = '}'
	}
	n := &jsonNode{kind: open}
	index := map[string]int{}
	p.i++
	p.space()
	if p.i < len(p.s) && p.s[p.i] == closing {
		p.i++
		return n, nil
	}
	for {
		var key string
		if open == '{' {
			p.space()
			if p.i >= len(p.s) || p.s[p.i] != '"' {
				return nil, p.syntax()
			}
			k, err := p.str()
			if err != nil {
				return nil, err
			}
			p.space()
			if p.i >= len(p.s) || p.s[p.i] != ':' {
				return nil, p.syntax()
			}
			p.i++
			key = string(k)
		}
		v, err := p.value()
		if err != nil {
			return nil, err
		}
		if j, dup := index[key]; dup && open == '{' {
			n.values[j] = v
		} else {
			index[key] = len(n.values)
			n.keys = append(n.keys, key)
			n.values = append(n.values, v)
		}
		p.space()
		if p.i >= len(p.s) {
			return nil, p.syntax()
		}
		c := p.s[p.i]
		p.i++
		if c == closing {
			break
		}
		if c != ',' {
			return nil, p.syntax()
		}
	}
	if open == '{' && p.build {
		sortMembers(n)
	}
	return n, nil
}

// sortMembers orders an object's members as jsonb does:
// lengthCompareJsonbString, shorter keys first, then memcmp.
func sortMembers(n *jsonNode) {
	idx := make([]int, len(n.keys))
	for i := range idx {
		idx[i] = i
	}
	sort.Slice(idx, func(a, b int) bool {
		ka, kb := n.keys[idx[a]], n.keys[idx[b]]
		if len(ka) != len(kb) {
			return len(ka) < len(kb)
		}
		return ka < kb
	})
	keys, values := make([]string, len(idx)), make([]*jsonNode, len(idx))
	for i, j := range idx {
		keys[i], values[i] = n.keys[j], n.values[j]
	}
	n.keys, n.values = keys, values
}

// number reads -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)? not followed
// by a letter or digit; jsonb keeps it as numeric_in reads it.
func (p *jsonParser) number() (*jsonNode, error) {
	start := p.i
	digits := func() int {
		j := p.i
		for p.i < len(p.s) && p.s[p.i] >= '0' && p.s[p.i] <= '9' {
			p.i++
		}
		return p.i - j
	}
	if p.s[p.i] == '-' {
		p.i++
	}
	if p.i < len(p.s) && p.s[p.i] == '0' {
		p.i++
	} else if digits() == 0 {
		return nil, p.syntax()
	}
	if p.i < len(p.s) && p.s[p.i] == '.' {
		p.i++
		if digits() == 0 {
			return nil, p.syntax()
		}
	}
	if p.i < len(p.s) && (p.s[p.i] == 'e' || p.s[p.i] == 'E') {
		p.i++
		if p.i < len(p.s) && (p.s[p.i] == '+' || p.s[p.i] == '-') {
			p.i++
		}
		if digits() == 0 {
			return nil, p.syntax()
		}
	}
	if p.i < len(p.s) && jsonAlnum(p.s[p.i]) {
		return nil, p.syntax()
	}
	tok := p.s[start:p.i]
	if !p.build {
		return &jsonNode{kind: '0', text: tok}, nil
	}
	nd := p.d
	nd.t = policy.LogicalType{Name: "numeric", OID: policy.OIDNumeric, Size: -1, Modifier: -1}
	v, err := nd.numericText(tok)
	if err != nil {
		return nil, err
	}
	return &jsonNode{kind: '0', text: v.text(nil)}, nil
}

// str reads a string and, when building, resolves its escapes.
func (p *jsonParser) str() ([]byte, error) {
	p.i++ // the quote
	var out []byte
	hi := -1 // a pending high surrogate
	for {
		if p.i >= len(p.s) {
			return nil, p.syntax()
		}
		c := p.s[p.i]
		if c == '"' {
			p.i++
			if hi != -1 {
				return nil, p.syntax()
			}
			return out, nil
		}
		if c < 0x20 {
			return nil, p.syntax()
		}
		if c != '\\' {
			if hi != -1 {
				return nil, p.syntax()
			}
			out = append(out, c)
			p.i++
			continue
		}
		if p.i+1 >= len(p.s) {
			return nil, p.syntax()
		}
		e := p.s[p.i+1]
		p.i += 2
		if e != 'u' {
			if hi != -1 {
				return nil, p.syntax()
			}
			r, ok := map[byte]byte{'"': '"', '\\': '\\', '/': '/', 'b': '\b', 'f': '\f', 'n': '\n', 'r': '\r', 't': '\t'}[e]
			if !ok {
				return nil, p.syntax()
			}
			out = append(out, r)
			continue
		}
		if p.i+4 > len(p.s) {
			return nil, p.syntax()
		}
		ch := 0
		for _, h := range p.s[p.i : p.i+4] {
			if !isHex(h) {
				return nil, p.syntax()
			}
			ch = ch<<4 | int(unhex(h))
		}
		p.i += 4
		if !p.build {
			continue
		}
		switch {
		case ch >= 0xD800 && ch <= 0xDBFF:
			if hi != -1 {
				return nil, p.syntax()
			}
			hi = ch
			continue
		case ch >= 0xDC00 && ch <= 0xDFFF:
			if hi == -1 {
				return nil, p.syntax()
			}
			ch = int(utf16.DecodeRune(rune(hi), rune(ch)))
			hi = -1
		}
		if hi != -1 {
			return nil, p.syntax()
		}
		if ch == 0 {
			return nil, p.d.coded(pgerr.UntranslatableCharacter, "unsupported Unicode escape sequence", "\\u0000 cannot be converted to text")
		}
		out = utf8.AppendRune(out, rune(ch))
	}
}
