package policy

import (
	"slices"
	"strings"
)

// FormatVersion is the policy file format this package reads (`version: 1`).
const FormatVersion = 1

// Mode is how a protected column is encrypted.
type Mode string

const (
	// ModeRandomized encrypts each cell with a fresh nonce (AES-256-GCM):
	// equal plaintexts give different cells, so the column cannot be
	// searched in SQL, and ciphertext reveals nothing but length.
	ModeRandomized Mode = "randomized"
	// ModeDeterministic encrypts equal plaintexts to equal cells (AES-SIV),
	// so =, IN, joins, GROUP BY, DISTINCT and unique indexes keep working.
	// It leaks equality: anyone who reads the column sees which rows share
	// a value and how often each value occurs.
	ModeDeterministic Mode = "deterministic"
)

// State is how far the encryption of a column has gone.
type State string

const (
	// StateEncrypting is the default: phiguard encrypts every write, and a
	// read may still meet legacy plaintext (before or during the backfill),
	// which it passes on as it is.
	StateEncrypting State = "encrypting"
	// StateEncrypted says every cell is ciphertext: a plaintext value read
	// back is an error (XX001), never passed on.
	StateEncrypted State = "encrypted"
)

// Policy is a loaded policy file. It is immutable once loaded and safe for
// concurrent use; a reload builds a new Policy.
type Policy struct {
	format  int
	version string
	tables  []*ProtectedTable // sorted by name
	byTable map[TableName]*ProtectedTable
	byCol   map[columnKey]*ProtectedColumn
	// problems found while loading that Validate reports; see Load.
	problems Problems

	roles       []*Role // sorted by name; empty when the file gives none
	defaultRole *Role
	byUser      map[string]*Role
	byCert      map[string]*Role
}

type columnKey struct{ schema, table, column string }

// ProtectedTable is a table the policy names. Its fields are read-only.
type ProtectedTable struct {
	Name TableName
	// SubjectColumn names the column that identifies the data subject (the
	// patient) of each row, for crypto-shredding and for the audit's
	// per-subject accounting; "" when the table names none. It is never
	// itself a protected column.
	SubjectColumn string
	// State is the table's default for its columns (StateEncrypting unless
	// the file says otherwise).
	State State
	// Columns are the protected columns in the order the file lists them.
	Columns []*ProtectedColumn

	path        string
	line        int
	subjectLine int
	byName      map[string]*ProtectedColumn
}

// ProtectedColumn is one encrypted column. Its fields are read-only.
type ProtectedColumn struct {
	Table *ProtectedTable
	// Name is the column name, folded as PostgreSQL folds identifiers.
	Name string
	Mode Mode
	// Key is the key id whose data key encrypts this column; columns that
	// share a deterministic key can be joined and compared with each other.
	Key string
	// Type is what the application sees; the column stores text.
	Type LogicalType
	// State is the column's own state, or its table's when it sets none.
	State State
	// Search is the column's database-side search terms (`search:`,
	// docs/design/search-terms.md §3); zero when it has none. The
	// proxy's writes and the backfill write the terms.
	Search SearchKinds
	// SearchKeyVersion is the version of Key the terms derive from; 0
	// when Search is zero.
	SearchKeyVersion uint32
	// SearchState is SearchBuilding (the default) or SearchReady when
	// Search is set, else "".
	SearchState SearchState

	path string
	line int
	// qualified is QualifiedName, worked out once a loaded policy's names
	// are final: the audit names every column a statement reads, at every
	// statement.
	qualified string
}

// Version identifies the loaded content: the hex SHA-256 of the file's bytes.
// Two loads of the same file give the same Version on every instance, and any
// change to the file, however small, gives a new one. Caches of analyses,
// rewrites and prepared statements key on it so that they never serve a
// statement prepared under one policy to a session running under another.
// (A hash of the raw bytes, not of a normalised model, so that no future
// field can be forgotten in the normalisation.)
func (p *Policy) Version() string { return p.version }

// FormatVersion is the file's `version:` value.
func (p *Policy) FormatVersion() int { return p.format }

// Table looks a table up by its exact, already resolved and folded name, as
// PostgreSQL holds it in pg_namespace and pg_class. The caller resolves
// unqualified names against the session's search_path: an empty schema
// matches nothing.
func (p *Policy) Table(schema, table string) (*ProtectedTable, bool) {
	t, ok := p.byTable[TableName{Schema: schema, Name: table}]
	return t, ok
}

// Column looks a protected column up by its exact, already resolved and
// folded schema, table and column names. It does not allocate.
func (p *Policy) Column(schema, table, column string) (*ProtectedColumn, bool) {
	c, ok := p.byCol[columnKey{schema, table, column}]
	return c, ok
}

// Tables lists every table the policy names, sorted by schema and name.
func (p *Policy) Tables() []*ProtectedTable { return slices.Clone(p.tables) }

// TablesNamed lists the tables of that exact name in any schema, for a
// caller that meets an unqualified name and cannot yet tell which schema it
// resolves to (it must then treat the reference as protected).
func (p *Policy) TablesNamed(table string) []*ProtectedTable {
	var out []*ProtectedTable
	for _, t := range p.tables {
		if t.Name.Name == table {
			out = append(out, t)
		}
	}
	return out
}

// Schemas lists the schemas the policy's tables live in, sorted.
func (p *Policy) Schemas() []string {
	var out []string
	for _, t := range p.tables {
		if !slices.Contains(out, t.Name.Schema) {
			out = append(out, t.Name.Schema)
		}
	}
	slices.Sort(out)
	return out
}

// Validate reports every problem of the file, each with its key path and
// line, or nil. Load has already rejected what could not be read at all
// (YAML syntax, unknown keys, a list where a map belongs); Validate reports
// the rest: unknown modes and types, missing keys, bad identifiers,
// duplicates, a protected subject column, a key used in two modes. A policy
// that does not validate must not be used.
func (p *Policy) Validate() error { return slices.Clone(p.problems).errorOrNil() }

// Column looks up one of the table's protected columns by its folded name.
func (t *ProtectedTable) Column(name string) (*ProtectedColumn, bool) {
	c, ok := t.byName[name]
	return c, ok
}

// QualifiedName is "schema.table.column", each part quoted only where it
// needs to be, for messages.
func (c *ProtectedColumn) QualifiedName() string {
	if c.qualified != "" {
		return c.qualified
	}
	return c.Table.Name.String() + "." + QuoteIdentifier(c.Name)
}

// FullyEncrypted tells whether a plaintext value read from the column is an
// error rather than legacy data.
func (c *ProtectedColumn) FullyEncrypted() bool { return c.State == StateEncrypted }

func compareTables(a, b *ProtectedTable) int {
	if c := strings.Compare(a.Name.Schema, b.Name.Schema); c != 0 {
		return c
	}
	return strings.Compare(a.Name.Name, b.Name.Name)
}
