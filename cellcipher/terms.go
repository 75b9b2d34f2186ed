package cellcipher

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"unicode/utf8"

	"github.com/phiguard/phiguard/internal/pgcollate"
	"github.com/phiguard/phiguard/internal/pgorder"
	"github.com/phiguard/phiguard/keys"
	"github.com/phiguard/phiguard/policy"
)

// This file turns a column's canonical value into the inputs of its
// database-side search terms (docs/design/search-terms.md §4.2, §4.5):
// q (EqualityInput), s_P (OrderInput), n (MatchInput), and the match token
// sets M (MatchTokens) and X (PrefixToken). keys.Terms keys them; which
// column has which term, and the cells that carry them, come later
// (the design's slices 2 and 3).
//
// A *pgcollate.Locale argument is the column's libc collation; nil means
// C or POSIX, where text orders by bytes and lower() maps ASCII only, as
// PostgreSQL does.

// TermKeys returns the keys of col's search terms under version (its
// search_key_version) of the column key, bound to the column, or for a
// deterministic column to its key (the same domain as its cells'
// associated data, §4.7: every column sharing a deterministic key gets the
// same terms for a value, so its cells keep one text per value).
func TermKeys(kr *keys.Keyring, col *policy.ProtectedColumn, version uint32) (*keys.Terms, error) {
	return kr.Terms(col.Key, version, AssociatedData(col))
}

// ErrNoTerm: the column's type cannot have the term asked for (§3: floats,
// timetz, json, jsonb and arrays have none; only text types have match).
var ErrNoTerm = errors.New("the column's type has no such search term")

// OrderWidth is P, the bytes of a type's sort key its order term keeps:
// 1 for boolean, 2, 4 or 8 for the integer types, 4 for date, 8 for
// timestamps and time, 16 for the rest. false: the type has neither an
// order nor an equality term.
func OrderWidth(t policy.LogicalType) (int, bool) {
	if _, array := t.Element(); array {
		return 0, false
	}
	switch t.OID {
	case policy.OIDBool:
		return 1, true
	case policy.OIDInt2:
		return 2, true
	case policy.OIDInt4, policy.OIDDate:
		return 4, true
	case policy.OIDInt8, policy.OIDTimestamp, policy.OIDTimestamptz, policy.OIDTime:
		return 8, true
	case policy.OIDInterval, policy.OIDNumeric, policy.OIDUUID, policy.OIDBytea,
		policy.OIDText, policy.OIDVarchar, policy.OIDBpchar:
		return 16, true
	}
	return 0, false
}

// textType: the types whose order depends on a collation and that may
// have a match term.
func textType(t policy.LogicalType) bool {
	switch t.OID {
	case policy.OIDText, policy.OIDVarchar, policy.OIDBpchar:
		return true
	}
	return false
}

// EqualityInput is q(v): equal exactly for values PostgreSQL's = calls
// equal (text: the bytes, whatever the collation; char(n): without
// trailing spaces; numeric and interval normalised).
func EqualityInput(col *policy.ProtectedColumn, canon []byte) ([]byte, error) {
	if _, ok := OrderWidth(col.Type); !ok {
		return nil, fmt.Errorf("column %s (%s): equality: %w", col.QualifiedName(), col.Type, ErrNoTerm)
	}
	return pgorder.EqualityKey(col.Type, canon)
}

// OrderInput is s_P(v): the sort key of the value under loc (text under a
// libc locale: the first level of strxfrm_l), cut or zero-padded to
// OrderWidth bytes. a < b under PostgreSQL implies s_P(a) <= s_P(b).
func OrderInput(col *policy.ProtectedColumn, loc *pgcollate.Locale, canon []byte) ([]byte, error) {
	p, ok := OrderWidth(col.Type)
	if !ok {
		return nil, fmt.Errorf("column %s (%s): order: %w", col.QualifiedName(), col.Type, ErrNoTerm)
	}
	s, err := pgorder.SortKey(col.Type, canon)
	if err != nil {
		return nil, err
	}
	if loc != nil && textType(col.Type) {
		s = loc.SortKey(s) // s is the text, without char(n)'s padding
	}
	out := make([]byte, p)
	copy(out, s)
	return out, nil
}

// MatchInput is n(v): lower(v) as PostgreSQL computes it under loc (ASCII
// only under C and POSIX). char(n) keeps its padding, which LIKE sees
// ('ab'::char(4) LIKE 'ab' is false).
func MatchInput(col *policy.ProtectedColumn, loc *pgcollate.Locale, canon []byte) ([]byte, error) {
	if !textType(col.Type) {
		return nil, fmt.Errorf("column %s (%s): match: %w", col.QualifiedName(), col.Type, ErrNoTerm)
	}
	if !utf8.Valid(canon) {
		return nil, errors.New("cellcipher: text is not valid UTF-8")
	}
	if loc != nil {
		return loc.Lower(canon)
	}
	return asciiLower(canon), nil
}

func asciiLower(b []byte) []byte {
	out := bytes.Clone(b)
	for i, c := range out {
		if 'A' <= c && c <= 'Z' {
			out[i] = c + 'a' - 'A'
		}
	}
	return out
}

// anchor marks the start (and, in X of a short value, the end) of a value
// in a token's text. The design wrote it "^" and "$"; a NUL, which
// PostgreSQL text cannot hold, keeps an anchored token from ever equalling
// the token of a trigram that holds a '^' or '$'.
const anchor = "\x00"

// MatchTokens is M(v) for n = n(v): the sorted set of the tokens of every
// run of 3 consecutive code points of n (trigrams) and of n's first 1, 2
// and 3 code points, anchored. An empty n has none.
func MatchTokens(t *keys.Terms, n []byte) []string {
	cps := codePoints(n)
	var toks []string
	for i := 0; i+3 <= len(cps); i++ {
		toks = append(toks, t.Token([]byte(string(cps[i:i+3]))))
	}
	for k := 1; k <= min(3, len(cps)); k++ {
		toks = append(toks, AnchoredToken(t, string(cps[:k])))
	}
	slices.Sort(toks)
	return slices.Compact(toks)
}

// PrefixToken is X(v) for n = n(v): the anchored token of n's first 3 code
// points (so a prefix pattern of 3 or more code points finds it), or for a
// shorter n, of all of n anchored at both ends.
func PrefixToken(t *keys.Terms, n []byte) string {
	cps := codePoints(n)
	if len(cps) >= 3 {
		return AnchoredToken(t, string(cps[:3]))
	}
	return AnchoredToken(t, string(cps)+anchor)
}

// AnchoredToken is the token of a lowered run that starts a value: what a
// pattern anchored at its start looks up.
func AnchoredToken(t *keys.Terms, run string) string {
	return t.Token([]byte(anchor + run))
}

func codePoints(n []byte) []rune { return []rune(string(n)) }
