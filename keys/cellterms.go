package keys

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"math"
	"strconv"
)

// Cell format 2: a format-1 cell that carries database-side search terms
// (docs/design/search-terms.md §2.2):
//
//	~phs~ tv ~ E ~ O ~ X ~ M ~ B
//
// B is exactly a format-1 cell after its prefix, so it decrypts as that
// cell would; the terms are not in its associated data (they are derived
// data: tampering with one can add a candidate or hide a row, never change
// a value, and leaving them out lets shred and a term-key change rewrite
// them without re-encrypting B).

// TermsPrefix starts a cell that carries search terms. Like Prefix it is
// ASCII and needs no quoting anywhere; '~' is in neither base64 alphabet,
// so the database finds each section with split_part(cell, '~', k).
const TermsPrefix = "~phs~"

// CellTerms are the search-term sections of a format-2 cell. A term the
// column does not have is empty (nil, ""). The sections are syntax only:
// which terms a column has, and whether they are the ones its value
// gives, are the policy's and cellcipher's.
type CellTerms struct {
	// Version is tv, the key version the terms derive from (the column's
	// search_key_version), >= 1.
	Version uint32
	// Eq is E, the equality term: EqTermSize bytes.
	Eq []byte
	// Ord is O, the order term: 2P bytes for a sort-input width P of 1,
	// 2, 4, 8 or 16.
	Ord []byte
	// Prefix is X, the prefix key: one match token.
	Prefix string
	// Match is M, the match tokens, sorted and distinct.
	Match []string
}

var b64Std = base64.StdEncoding.Strict()

const maxTermVersionDigits = 10 // 4294967295

// WithTerms returns cell (a format-1 cell, or a format-2 one whose terms
// are replaced) carrying t. B is copied unchanged: no key is needed, so a
// term-key change or a shred can rewrite the terms of a cell it cannot
// open. Errors: ErrNotACell when cell is not a well-formed cell, and terms
// that break the layout (tv 0, a term of the wrong size, unsorted or
// malformed tokens).
func WithTerms(cell []byte, t CellTerms) ([]byte, error) {
	b, err := cellB(cell)
	if err != nil {
		return nil, err
	}
	if err := t.validate(); err != nil {
		return nil, err
	}
	out := make([]byte, 0, len(TermsPrefix)+t.encodedLen()+len(b))
	out = append(out, TermsPrefix...)
	out = strconv.AppendUint(out, uint64(t.Version), 10)
	out = append(out, '~')
	out = appendStd(out, t.Eq)
	out = append(out, '~')
	out = appendStd(out, t.Ord)
	out = append(out, '~')
	out = append(out, t.Prefix...)
	out = append(out, '~')
	for i, tok := range t.Match {
		if i > 0 {
			out = append(out, '.')
		}
		out = append(out, tok...)
	}
	out = append(out, '~')
	return append(out, b...), nil
}

func appendStd(dst, b []byte) []byte {
	if len(b) == 0 {
		return dst
	}
	return b64Std.AppendEncode(dst, b)
}

func (t CellTerms) encodedLen() int {
	n := maxTermVersionDigits + 5 + b64Std.EncodedLen(len(t.Eq)) + b64Std.EncodedLen(len(t.Ord)) + len(t.Prefix)
	return n + len(t.Match)*(TokenSize+1)
}

// validate checks t against the layout: what WithTerms writes, parsing
// gives back.
func (t CellTerms) validate() error {
	switch {
	case t.Version == 0:
		return fmt.Errorf("%w: term key version 0", ErrNotACell)
	case len(t.Eq) != 0 && len(t.Eq) != EqTermSize:
		return fmt.Errorf("%w: equality term of %d bytes, want %d", ErrNotACell, len(t.Eq), EqTermSize)
	case len(t.Ord) != 0 && !orderTermLen(len(t.Ord)):
		return fmt.Errorf("%w: order term of %d bytes", ErrNotACell, len(t.Ord))
	case t.Prefix != "" && !validToken([]byte(t.Prefix)):
		return fmt.Errorf("%w: malformed prefix key", ErrNotACell)
	}
	for i, tok := range t.Match {
		if !validToken([]byte(tok)) {
			return fmt.Errorf("%w: malformed match token", ErrNotACell)
		}
		if i > 0 && t.Match[i-1] >= tok {
			return fmt.Errorf("%w: match tokens not sorted and distinct", ErrNotACell)
		}
	}
	return nil
}

// orderTermLen: 2P bytes for P of 1, 2, 4, 8 or 16 (cellcipher.OrderWidth).
func orderTermLen(n int) bool {
	switch n {
	case 2, 4, 8, 16, 32:
		return true
	}
	return false
}

// validToken: TokenSize base64url characters that decode canonically
// (the 4 unused low bits of the last character zero), so a token has one
// spelling and equal tokens are equal texts.
func validToken(tok []byte) bool {
	if len(tok) != TokenSize {
		return false
	}
	for _, c := range tok {
		if b64URLValue[c] < 0 {
			return false
		}
	}
	return b64URLValue[tok[TokenSize-1]]&0xf == 0
}

// b64URLValue and b64StdValue map a character to its 6-bit value in the
// base64url and standard alphabets, -1 outside them: the checks of the
// decryption path read each term's characters once, decoding nothing.
var b64URLValue, b64StdValue = alphabetValues("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
	alphabetValues("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")

func alphabetValues(alphabet string) (v [256]int8) {
	for i := range v {
		v[i] = -1
	}
	for i := 0; i < len(alphabet); i++ {
		v[alphabet[i]] = int8(i)
	}
	return v
}

// stdDecodedLen is the length of what padded standard base64 text decodes
// to, and false unless the text is canonical (whole quads, at most two
// '=' at the end, the unused bits before them zero): what
// base64.StdEncoding.Strict() accepts, without decoding.
func stdDecodedLen(text []byte) (int, bool) {
	if len(text) == 0 || len(text)%4 != 0 {
		return 0, false
	}
	pad := 0
	if text[len(text)-1] == '=' {
		pad++
		if text[len(text)-2] == '=' {
			pad++
		}
	}
	data := text[:len(text)-pad]
	for _, c := range data {
		if b64StdValue[c] < 0 {
			return 0, false
		}
	}
	last := b64StdValue[data[len(data)-1]]
	if pad == 1 && last&0x3 != 0 || pad == 2 && last&0xf != 0 {
		return 0, false
	}
	return len(text)/4*3 - pad, true
}

// cellB returns the B part of a cell of either format, after checking
// the whole cell parses.
func cellB(v []byte) ([]byte, error) {
	if bytes.HasPrefix(v, []byte(Prefix)) {
		if _, err := parseCell(v); err != nil {
			return nil, err
		}
		return v[len(Prefix):], nil
	}
	_, b, err := splitTerms(v)
	if err != nil {
		return nil, err
	}
	if _, err := parseCell(v); err != nil {
		return nil, err
	}
	return b, nil
}

// TermsOf returns the search terms a format-2 cell carries, and false for a
// well-formed format-1 cell, which carries none. ErrNotACell when v is
// neither.
func TermsOf(v []byte) (CellTerms, bool, error) {
	if bytes.HasPrefix(v, []byte(Prefix)) {
		_, err := parseCell(v)
		return CellTerms{}, false, err
	}
	t, _, err := splitTerms(v)
	if err != nil {
		return CellTerms{}, false, err
	}
	if _, err := parseCell(v); err != nil {
		return CellTerms{}, false, err
	}
	return t, true, nil
}

// termSections finds the sections of a format-2 cell: tv, E, O, X, M and
// B, without decoding them. ErrNotACell when v lacks the prefix or does
// not have exactly six sections.
func termSections(v []byte) ([6][]byte, error) {
	var s [6][]byte
	if !bytes.HasPrefix(v, []byte(TermsPrefix)) {
		return s, ErrNotACell
	}
	rest := v[len(TermsPrefix):]
	for i := 0; i < 5; i++ {
		j := bytes.IndexByte(rest, '~')
		if j < 0 {
			return s, fmt.Errorf("%w: format 2 with %d of 6 sections", ErrNotACell, i+1)
		}
		s[i], rest = rest[:j:j], rest[j+1:]
	}
	if bytes.IndexByte(rest, '~') >= 0 {
		return s, fmt.Errorf("%w: format 2 with more than 6 sections", ErrNotACell)
	}
	s[5] = rest
	return s, nil
}

// checkTerms validates a format-2 cell's term sections without decoding
// or allocating (the decryption path reads every cell through it) and
// returns B and tv.
func checkTerms(v []byte) ([]byte, uint32, error) {
	s, err := termSections(v)
	if err != nil {
		return nil, 0, err
	}
	tv, err := parseTermVersion(s[0])
	if err != nil {
		return nil, 0, err
	}
	if len(s[1]) > 0 {
		if n, ok := stdDecodedLen(s[1]); !ok || n != EqTermSize {
			return nil, 0, fmt.Errorf("%w: malformed equality term", ErrNotACell)
		}
	}
	if len(s[2]) > 0 {
		if n, ok := stdDecodedLen(s[2]); !ok || !orderTermLen(n) {
			return nil, 0, fmt.Errorf("%w: malformed order term", ErrNotACell)
		}
	}
	if len(s[3]) > 0 && !validToken(s[3]) {
		return nil, 0, fmt.Errorf("%w: malformed prefix key", ErrNotACell)
	}
	if err := checkMatch(s[4]); err != nil {
		return nil, 0, err
	}
	return s[5], tv, nil
}

// checkMatch: M is empty or tokens joined by '.', strictly ascending.
func checkMatch(m []byte) error {
	if len(m) == 0 {
		return nil
	}
	if (len(m)+1)%(TokenSize+1) != 0 {
		return fmt.Errorf("%w: malformed match tokens", ErrNotACell)
	}
	var prev uint64
	for i := 0; i < len(m); i += TokenSize + 1 {
		tok := m[i : i+TokenSize]
		if !validToken(tok) || i+TokenSize < len(m) && m[i+TokenSize] != '.' {
			return fmt.Errorf("%w: malformed match tokens", ErrNotACell)
		}
		k := tokenOrder(tok)
		if i > 0 && prev >= k {
			return fmt.Errorf("%w: match tokens not sorted and distinct", ErrNotACell)
		}
		prev = k
	}
	return nil
}

// tokenOrder is a token's bytes as a big-endian number, which orders
// tokens as bytes.Compare does (a token fits in a word: TokenSize <= 8),
// without a call per token.
func tokenOrder(tok []byte) uint64 {
	var k uint64
	for _, c := range tok[:TokenSize] {
		k = k<<8 | uint64(c)
	}
	return k
}

var _ [8 - TokenSize]struct{} // tokenOrder: a token fits in a uint64

// parseTermVersion reads tv: decimal, no sign or leading zero, 1 to
// 4294967295.
func parseTermVersion(b []byte) (uint32, error) {
	if len(b) == 0 || len(b) > maxTermVersionDigits || b[0] == '0' {
		return 0, fmt.Errorf("%w: malformed term key version", ErrNotACell)
	}
	var n uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("%w: malformed term key version", ErrNotACell)
		}
		n = n*10 + uint64(c-'0')
	}
	if n > math.MaxUint32 {
		return 0, fmt.Errorf("%w: malformed term key version", ErrNotACell)
	}
	return uint32(n), nil
}

// splitTerms parses a format-2 cell's terms, decoded, and returns B
// (unchecked: parseCell checks it).
func splitTerms(v []byte) (CellTerms, []byte, error) {
	b, tv, err := checkTerms(v)
	if err != nil {
		return CellTerms{}, nil, err
	}
	s, _ := termSections(v)
	t := CellTerms{Version: tv}
	if len(s[1]) > 0 {
		t.Eq, _ = b64Std.DecodeString(string(s[1]))
	}
	if len(s[2]) > 0 {
		t.Ord, _ = b64Std.DecodeString(string(s[2]))
	}
	t.Prefix = string(s[3])
	for i := 0; i < len(s[4]); i += TokenSize + 1 {
		t.Match = append(t.Match, string(s[4][i:i+TokenSize]))
	}
	return t, b, nil
}

// cellText returns the base64url text of a cell of either format (what
// follows Prefix in format 1, B in format 2) and its term version (0 for
// format 1), after checking format 2's terms. ErrNotACell for anything
// else.
func cellText(v []byte) ([]byte, uint32, error) {
	if bytes.HasPrefix(v, []byte(Prefix)) {
		return v[len(Prefix):], 0, nil
	}
	return checkTerms(v)
}

// cellTextQuick is cellText without checking the terms, for the cheap
// questions asked of every value (IsSubjectCell): B of format 2 is what
// follows the last '~'.
func cellTextQuick(v []byte) ([]byte, bool) {
	if bytes.HasPrefix(v, []byte(Prefix)) {
		return v[len(Prefix):], true
	}
	if bytes.HasPrefix(v, []byte(TermsPrefix)) {
		return v[bytes.LastIndexByte(v, '~')+1:], true
	}
	return nil, false
}

// termsCellLen is, for v starting with TermsPrefix, the length of the
// longest prefix of v shaped like a format-2 cell: five sections of term
// characters each ended by '~', then base64url. 0 when v has no such
// shape. ContainsCell asks it to cut a cell out of a longer value.
func termsCellLen(v []byte) int {
	n := len(TermsPrefix)
	for s := 0; s < 5; s++ {
		for n < len(v) && isTermChar(v[n]) {
			n++
		}
		if n >= len(v) || v[n] != '~' {
			return 0
		}
		n++
	}
	for n < len(v) && isBase64URL(v[n]) {
		n++
	}
	return n
}

// isTermChar: a character of some term section (decimal, both base64
// alphabets with padding, the tokens' separator).
func isTermChar(c byte) bool {
	return isBase64URL(c) || c == '+' || c == '/' || c == '=' || c == '.'
}

// AppendOrderTerm appends to dst the order term O of a format-2 cell as
// phiguard.term_ord_v1 reads it in the database (the section decoded
// from base64; search/sql.go), and false for anything the
// function reads as NULL: a value that is not a format-2 cell, or one
// with no order term. The proxy compares the terms of the rows a round
// returned (the consistency check of docs/design/search-terms.md §4.6)
// from the cells it already holds, instead of a hidden column the
// database would compute for every row. A section that is not base64 is
// an error: PostgreSQL's decode would have refused it too.
func AppendOrderTerm(dst, v []byte) ([]byte, bool, error) {
	if !bytes.HasPrefix(v, []byte(TermsPrefix)) {
		return dst, false, nil
	}
	s, err := termSections(v)
	if err != nil || len(s[2]) == 0 {
		return dst, false, err
	}
	out, err := b64Std.AppendDecode(dst, s[2])
	if err != nil {
		return dst, false, fmt.Errorf("%w: an order term that is not base64", ErrNotACell)
	}
	return out, true, nil
}
