package policy

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
)

// maxIdentifierBytes is PostgreSQL's NAMEDATALEN-1. PostgreSQL truncates a
// longer identifier with only a notice, so a longer name in the policy could
// never match the name the server uses: it is an error here.
const maxIdentifierBytes = 63

// DefaultSchema is the schema of a table written without one in the policy.
const DefaultSchema = "public"

// TableName is a schema-qualified table name, each part already folded the
// way PostgreSQL folds identifiers: unquoted parts lower-cased, quoted parts
// kept exactly as written.
type TableName struct {
	Schema, Name string
}

// String writes the name as SQL would need it: each part quoted only when
// folding would otherwise change it ("public.patients", `"Billing".claims`).
func (t TableName) String() string {
	return QuoteIdentifier(t.Schema) + "." + QuoteIdentifier(t.Name)
}

// ParseTableName parses "table", "schema.table" and their quoted forms
// (`"My Schema"."Patients"`) as PostgreSQL would read them in SQL, and fills
// in DefaultSchema when no schema is given.
func ParseTableName(s string) (TableName, error) {
	parts, err := splitQualified(s)
	if err != nil {
		return TableName{}, err
	}
	switch len(parts) {
	case 1:
		return TableName{Schema: DefaultSchema, Name: parts[0]}, nil
	case 2:
		return TableName{Schema: parts[0], Name: parts[1]}, nil
	default:
		return TableName{}, fmt.Errorf("%q has %d dotted parts; write table or schema.table", s, len(parts))
	}
}

// ParseIdentifier parses one identifier, quoted or not, and folds it as
// PostgreSQL does: `SSN` is ssn, `"SSN"` is SSN.
func ParseIdentifier(s string) (string, error) {
	parts, err := splitQualified(s)
	if err != nil {
		return "", err
	}
	if len(parts) != 1 {
		return "", fmt.Errorf("%q is a qualified name; write the column name alone", s)
	}
	return parts[0], nil
}

// QuoteIdentifier quotes an identifier unless it reads back unchanged
// without quotes (lower-case letters, digits, underscores, dollar signs, not
// starting with a digit or dollar sign). Keywords are not considered: the
// result is for messages and for keys, not for building SQL.
func QuoteIdentifier(id string) string {
	if id != "" && plainIdentifier(id) {
		return id
	}
	return `"` + strings.ReplaceAll(id, `"`, `""`) + `"`
}

func plainIdentifier(id string) bool {
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case c >= 'a' && c <= 'z', c == '_':
		case c >= '0' && c <= '9', c == '$':
			if i == 0 {
				return false
			}
		default:
			return false
		}
	}
	return true
}

// splitQualified splits a dotted name into identifiers, folding unquoted
// ones and unescaping quoted ones, following PostgreSQL's scanner: an
// unquoted identifier starts with a letter, an underscore or a non-ASCII
// byte and goes on with those, digits and dollar signs; only ASCII letters
// are lower-cased (as in a UTF-8 database).
func splitQualified(s string) ([]string, error) {
	if strings.TrimSpace(s) == "" {
		return nil, fmt.Errorf("empty name")
	}
	var parts []string
	i := 0
	for {
		var part string
		if i < len(s) && s[i] == '"' {
			var b strings.Builder
			i++
			closed := false
			for i < len(s) {
				if s[i] == '"' {
					if i+1 < len(s) && s[i+1] == '"' {
						b.WriteByte('"')
						i += 2
						continue
					}
					i++
					closed = true
					break
				}
				if s[i] == 0 {
					return nil, fmt.Errorf("%q contains a NUL byte", s)
				}
				b.WriteByte(s[i])
				i++
			}
			if !closed {
				return nil, fmt.Errorf("%q has an unterminated quoted identifier", s)
			}
			part = b.String()
			if part == "" {
				return nil, fmt.Errorf("%q has a zero-length quoted identifier", s)
			}
		} else {
			start := i
			for i < len(s) && s[i] != '.' {
				c := s[i]
				first := i == start
				ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || c >= 0x80 ||
					!first && (c >= '0' && c <= '9' || c == '$')
				if !ok {
					return nil, fmt.Errorf("%q is not a valid identifier: unexpected %q (quote it as in SQL if the name really contains it)", s, string(c))
				}
				i++
			}
			if i == start {
				return nil, fmt.Errorf("%q has an empty part", s)
			}
			part = strings.Map(func(r rune) rune {
				if r >= 'A' && r <= 'Z' {
					return r + ('a' - 'A')
				}
				return r
			}, s[start:i])
		}
		if len(part) > maxIdentifierBytes {
			return nil, fmt.Errorf("%q is longer than PostgreSQL's %d-byte identifier limit", part, maxIdentifierBytes)
		}
		parts = append(parts, part)
		if i == len(s) {
			return parts, nil
		}
		if s[i] != '.' {
			return nil, fmt.Errorf("%q: expected a dot after a quoted identifier", s)
		}
		i++
		if i == len(s) {
			return nil, fmt.Errorf("%q ends with a dot", s)
		}
	}
}

// ShortIdentifier keeps a name phiguard makes (an index's, a CHECK's)
// within PostgreSQL's 63 bytes: a longer one is cut (on a UTF-8 boundary)
// and given 8 hex digits of its SHA-256, so two long names that share
// their first 54 bytes stay distinct.
func ShortIdentifier(s string) string {
	if len(s) <= maxIdentifierBytes {
		return s
	}
	sum := sha256.Sum256([]byte(s))
	cut := maxIdentifierBytes - 9
	for cut > 0 && s[cut]&0xC0 == 0x80 {
		cut--
	}
	return s[:cut] + "_" + hex.EncodeToString(sum[:4])
}
