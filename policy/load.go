package policy

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Load reads a policy file. It fails, listing every such problem at once,
// when the file cannot be read as a policy at all: a YAML syntax error, an
// unknown or repeated key, a list or a scalar where a map belongs, a missing
// or unsupported `version`. Unknown keys are errors so that a misspelt
// option, or a rule written for a newer phiguard, is never silently ignored
// (ignoring a rule would fail open). Load does not call Validate; every
// caller must, and must not use a policy that fails it.
//
// A policy with row rules needs a SQL parser to check their expressions:
// Load has none, so each row rule is a problem Validate reports; LoadWith
// (sqlrewrite.LoadPolicy) reads them.
func Load(path string) (*Policy, error) { return LoadWith(path, nil) }

// LoadWith is Load, reading row rules' expressions with rows.
func LoadWith(path string, rows RowExpressions) (*Policy, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read policy: %w", err)
	}
	return ParseWith(raw, rows)
}

// Parse is Load on bytes already read.
func Parse(raw []byte) (*Policy, error) { return ParseWith(raw, nil) }

// ParseWith is LoadWith on bytes already read.
func ParseWith(raw []byte, rows RowExpressions) (*Policy, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("parse policy: %w", err)
	}
	sum := sha256.Sum256(raw)
	p := &Policy{
		version: hex.EncodeToString(sum[:]),
		byTable: map[TableName]*ProtectedTable{},
		byCol:   map[columnKey]*ProtectedColumn{},
	}
	r := &reader{p: p, rows: rows}
	if len(doc.Content) == 0 {
		r.fatal(&doc, "version", "is required (write version: %d)", FormatVersion)
		return nil, r.structural
	}
	r.file(doc.Content[0])
	if len(r.structural) > 0 {
		return nil, r.structural
	}
	r.crossChecks()
	slices.SortFunc(p.tables, compareTables)
	return p, nil
}

// reader walks the YAML tree by hand rather than decoding into structs, so
// that it can report every problem at once, each with its key path and line,
// and keep the file's order of columns.
type reader struct {
	p          *Policy
	structural Problems       // make Load fail
	rows       RowExpressions // nil: row rules are problems (Load)
}

func (r *reader) fatal(n *yaml.Node, path, format string, args ...any) {
	r.structural = append(r.structural, Problem{Path: path, Line: n.Line, Message: fmt.Sprintf(format, args...)})
}

func (r *reader) problem(line int, path, format string, args ...any) {
	r.p.problems = append(r.p.problems, Problem{Path: path, Line: line, Message: fmt.Sprintf(format, args...)})
}

type entry struct {
	key   string
	keyN  *yaml.Node
	value *yaml.Node
}

// mapping returns the entries of a mapping node in file order, reporting a
// node of another kind, keys not in known, and keys repeated. A key listed
// in reserved is refused with its own message.
func (r *reader) mapping(n *yaml.Node, path, what string, known []string, reserved map[string]string) []entry {
	n = deref(n)
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		r.fatal(n, path, "must be a map of %s, got %s", what, kindName(n))
		return nil
	}
	var out []entry
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := deref(n.Content[i]), n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			r.fatal(k, path, "keys must be plain strings, got %s", kindName(k))
			continue
		}
		child := path + "." + k.Value
		if path == "" {
			child = k.Value
		}
		if known != nil && !slices.Contains(known, k.Value) {
			if msg, ok := reserved[k.Value]; ok {
				r.fatal(k, child, "%s", msg)
			} else {
				r.fatal(k, child, "unknown key (known keys here: %s)", strings.Join(known, ", "))
			}
			continue
		}
		if line, dup := seen[k.Value]; dup {
			r.fatal(k, child, "repeated; first given on line %d", line)
			continue
		}
		seen[k.Value] = k.Line
		out = append(out, entry{key: k.Value, keyN: k, value: v})
	}
	return out
}

// scalar returns a scalar's text; null is "", and a map or list is reported.
func (r *reader) scalar(n *yaml.Node, path string) (string, bool) {
	n = deref(n)
	if n.Kind != yaml.ScalarNode {
		r.fatal(n, path, "must be a single value, got %s", kindName(n))
		return "", false
	}
	if n.Tag == "!!null" {
		return "", true
	}
	return n.Value, true
}

var topKeys = []string{"version", "tables", "roles", "default_role"}

func (r *reader) file(n *yaml.Node) {
	var version, tables, roles, defaultRole *yaml.Node
	for _, e := range r.mapping(n, "", "settings", topKeys, nil) {
		switch e.key {
		case "version":
			version = e.value
		case "tables":
			tables = e.value
		case "roles":
			roles = e.value
		case "default_role":
			defaultRole = e.value
		}
	}
	if deref(n).Kind != yaml.MappingNode {
		return
	}
	switch {
	case version == nil:
		r.fatal(n, "version", "is required (write version: %d)", FormatVersion)
	default:
		v, _ := r.scalar(version, "version")
		f, err := strconv.Atoi(v)
		if err != nil || deref(version).Tag != "!!int" {
			r.fatal(version, "version", "must be an integer, got %q", v)
		} else if f != FormatVersion {
			r.fatal(version, "version", "format version %d is not supported (this phiguard reads version %d)", f, FormatVersion)
		} else {
			r.p.format = f
		}
	}
	if tables != nil {
		for _, e := range r.mapping(tables, "tables", "schema.table names to tables", nil, nil) {
			r.table(e)
		}
	}
	r.roles(roles, defaultRole)
}

var tableKeys = []string{"subject_column", "state", "columns"}

func (r *reader) table(e entry) {
	path := tablePath(e.key)
	t := &ProtectedTable{State: StateEncrypting, path: path, line: e.keyN.Line, byName: map[string]*ProtectedColumn{}}
	nameOK := true
	if name, err := ParseTableName(e.key); err != nil {
		r.problem(e.keyN.Line, path, "bad table name: %v", err)
		nameOK = false
	} else {
		t.Name = name
		if prev, dup := r.p.byTable[name]; dup {
			r.problem(e.keyN.Line, path, "names the same table as %s on line %d (%s)", prev.path, prev.line, name)
			nameOK = false
		}
	}
	var columns *yaml.Node
	var subject string
	subjectLine := 0
	for _, f := range r.mapping(e.value, path, "table settings", tableKeys, nil) {
		fp := path + "." + f.key
		switch f.key {
		case "subject_column":
			s, ok := r.scalar(f.value, fp)
			if !ok {
				continue
			}
			subjectLine = deref(f.value).Line
			if s == "" {
				r.problem(subjectLine, fp, "is empty; leave the key out when the table has no subject column")
				continue
			}
			id, err := ParseIdentifier(s)
			if err != nil {
				r.problem(subjectLine, fp, "bad column name: %v", err)
				continue
			}
			subject = id
		case "state":
			if s, ok := r.scalar(f.value, fp); ok {
				if st, ok := r.state(f.value, fp, s); ok {
					t.State = st
				}
			}
		case "columns":
			columns = f.value
		}
	}
	if columns != nil {
		for _, c := range r.mapping(columns, path+".columns", "column names to column settings", nil, nil) {
			r.column(t, c)
		}
	}
	t.SubjectColumn, t.subjectLine = subject, subjectLine
	if subject != "" {
		if c, ok := t.byName[subject]; ok {
			r.problem(subjectLine, path+".subject_column", "column %s is itself protected (%s, line %d); the subject column stays plaintext so that phiguard can find the subject's key and the audit can name the subject", QuoteIdentifier(subject), c.path, c.line)
		}
	}
	if len(t.Columns) == 0 && t.SubjectColumn == "" && subjectLine == 0 {
		r.problem(e.keyN.Line, path, "names no protected column and no subject column")
	}
	if !nameOK {
		return
	}
	r.p.tables = append(r.p.tables, t)
	r.p.byTable[t.Name] = t
	for _, c := range t.Columns {
		r.p.byCol[columnKey{t.Name.Schema, t.Name.Name, c.Name}] = c
		c.qualified = c.QualifiedName()
	}
}

var columnKeys = []string{"mode", "key", "type", "state", "search", "search_key_version", "search_state"}

func (r *reader) column(t *ProtectedTable, e entry) {
	path := columnPath(strings.TrimSuffix(strings.TrimPrefix(t.path, "tables["), "]"), e.key)
	c := &ProtectedColumn{Table: t, path: path, line: e.keyN.Line}
	nameOK := true
	if id, err := ParseIdentifier(e.key); err != nil {
		r.problem(e.keyN.Line, path, "bad column name: %v", err)
		nameOK = false
	} else {
		c.Name = id
		if prev, dup := t.byName[id]; dup {
			r.problem(e.keyN.Line, path, "names the same column as %s on line %d (%s)", prev.path, prev.line, QuoteIdentifier(id))
			nameOK = false
		}
	}
	fields := r.mapping(e.value, path, "column settings", columnKeys, nil)
	if deref(e.value).Kind != yaml.MappingNode {
		if deref(e.value).Tag == "!!null" {
			r.problem(e.keyN.Line, path, "has no settings; give at least mode, key and type")
		}
		return
	}
	given := map[string]bool{}
	var search searchSettings
	for _, f := range fields {
		fp := path + "." + f.key
		if f.key == "search" {
			r.search(c, &search, f.value, fp) // a list, not a scalar
			continue
		}
		s, ok := r.scalar(f.value, fp)
		if !ok {
			continue
		}
		line := deref(f.value).Line
		given[f.key] = true
		switch f.key {
		case "mode":
			switch Mode(s) {
			case ModeDeterministic, ModeRandomized:
				c.Mode = Mode(s)
			case "":
				given[f.key] = false
			default:
				r.problem(line, fp, "unknown mode %q (want deterministic or randomized)", s)
			}
		case "key":
			if s == "" {
				given[f.key] = false
			} else if err := checkKeyID(s); err != nil {
				r.problem(line, fp, "%v", err)
			} else {
				c.Key = s
			}
		case "type":
			if s == "" {
				given[f.key] = false
			} else if lt, err := ParseType(s); err != nil {
				r.problem(line, fp, "%v", err)
			} else {
				c.Type = lt
			}
		case "state":
			if st, ok := r.state(f.value, fp, s); ok {
				c.State = st
			}
		case "search_key_version":
			r.searchKeyVersion(c, &search, f.value, fp, s)
		case "search_state":
			r.searchState(c, &search, f.value, fp, s)
		}
	}
	for _, k := range []struct{ key, hint string }{
		{"mode", "deterministic for columns searched by equality, randomized for the rest"},
		{"key", "the key id whose data key encrypts the column"},
		{"type", "the type the application sees, e.g. text or date"},
	} {
		if !given[k.key] {
			r.problem(e.keyN.Line, path+"."+k.key, "is required (%s)", k.hint)
		}
	}
	if c.State == "" {
		c.State = t.State
	}
	r.checkSearch(c, &search)
	if nameOK {
		t.Columns = append(t.Columns, c)
		t.byName[c.Name] = c
	}
}

func (r *reader) state(n *yaml.Node, path, s string) (State, bool) {
	switch State(s) {
	case "":
		return "", false
	case StateEncrypting, StateEncrypted:
		return State(s), true
	}
	r.problem(deref(n).Line, path, "unknown state %q (want encrypting or encrypted)", s)
	return "", false
}

// crossChecks finds what no single entry shows: a key id given to columns of
// both modes (one data key serves one algorithm), and columns sharing a
// deterministic key with different search terms.
func (r *reader) crossChecks() {
	type use struct {
		mode Mode
		col  *ProtectedColumn
	}
	first := map[string]use{}
	for _, t := range r.p.tables {
		for _, c := range t.Columns {
			if c.Key == "" || c.Mode == "" {
				continue
			}
			u, ok := first[c.Key]
			if !ok {
				first[c.Key] = use{c.Mode, c}
				continue
			}
			if u.mode != c.Mode {
				r.problem(c.line, c.path+".key", "key %q is %s here but %s for %s (line %d); give each mode its own key", c.Key, c.Mode, u.mode, u.col.QualifiedName(), u.col.line)
			} else {
				r.crossCheckSearch(c, u.col)
			}
		}
	}
}

// checkKeyID keeps key ids to characters safe in a Vault path, a file name
// and a log line.
func checkKeyID(s string) error {
	if len(s) > 128 {
		return fmt.Errorf("key id %q is longer than 128 characters", s)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			i > 0 && (c == '-' || c == '_' || c == '.')
		if !ok {
			return fmt.Errorf("key id %q: use letters, digits, '-', '_' and '.', starting with a letter or digit", s)
		}
	}
	// Crypto-shredding owns these: "subjects" wraps the subject keys and
	// "subj.<tag>" names one in a cell.
	if s == "subjects" || strings.HasPrefix(s, "subj.") {
		return fmt.Errorf("key id %q is reserved for crypto-shredding's subject keys", s)
	}
	return nil
}

func deref(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a map"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return fmt.Sprintf("%q", n.Value)
	default:
		return "nothing"
	}
}
