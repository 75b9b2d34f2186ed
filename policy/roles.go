package policy

import (
	"slices"
	"strings"
)

// Action is what a role sees of a column.
type Action string

const (
	// ActionPlaintext shows the value as stored (decrypted when encrypted).
	ActionPlaintext Action = "plaintext"
	// ActionMasked shows the value through a pattern such as
	// `***-**-{last4}`; the result is text.
	ActionMasked Action = "masked"
	// ActionPseudonym shows a keyed HMAC token of the value instead: equal
	// values give equal tokens in every session and on every instance, so
	// extracts still join, but the token cannot be turned back.
	ActionPseudonym Action = "pseudonym"
	// ActionNull shows NULL.
	ActionNull Action = "null"
	// ActionDeny refuses, with 42501, any statement that reads the column.
	ActionDeny Action = "deny"
)

// DefaultPseudonymKey is the key id of the HMAC key pseudonyms use when a
// rule names none.
const DefaultPseudonymKey = "pseudonym"

// StatementClass is a group of statement kinds a role may be allowed.
type StatementClass string

const (
	ClassRead    StatementClass = "read"    // SELECT, VALUES, TABLE, EXPLAIN, cursors over a query
	ClassWrite   StatementClass = "write"   // INSERT, UPDATE, DELETE, MERGE
	ClassDDL     StatementClass = "ddl"     // CREATE, ALTER, DROP, TRUNCATE, GRANT, ...
	ClassCopy    StatementClass = "copy"    // COPY in either direction
	ClassUtility StatementClass = "utility" // SET/SHOW of ordinary settings, LISTEN, VACUUM, ...
)

// AllClasses lists every statement class, in the order the docs give them.
func AllClasses() []StatementClass {
	return []StatementClass{ClassRead, ClassWrite, ClassDDL, ClassCopy, ClassUtility}
}

// DefaultRoleName is the name of the role phiguard makes when the file
// gives roles but no default_role: it sees no protected column and no row
// of a table any role has a row rule on.
const DefaultRoleName = "default"

// MinBreakGlassWords is how many words a break-glass reason must have.
const MinBreakGlassWords = 3

// Role is one role of the policy: which users it binds, what they see of
// each column, which rows of each table, and which statements they may run.
// Its fields are read-only.
type Role struct {
	Name string
	// Users are the database user names bound to the role, exactly as the
	// backend knows them.
	Users []string
	// CertSubjects are client-certificate subjects (RFC 2253 strings) bound
	// to the role; they win over a user binding.
	CertSubjects []string
	// OtherColumns is the action for a protected column the role does not
	// list (deny unless the file says otherwise).
	OtherColumns Action
	// Statements are the statement classes the role may run.
	Statements []StatementClass
	// Functions are functions the role may call beyond the built-in pure
	// ones, as written ("name" or "schema.name", folded).
	Functions []string
	// BreakGlass says the role may lift its row rules for a session.
	BreakGlass bool
	// WritesRuleTables are tables the role's own row rules read that the
	// policy nevertheless lets it write (writes_rule_tables). Any other
	// table a rule of the role reads is read-only for the role: writing it
	// would widen the rows the rule lets through (a clinician adding
	// herself to a care team). phiguard check warns of each entry.
	WritesRuleTables []TableName
	// Builtin is true for the default role phiguard made itself.
	Builtin bool

	unrestricted bool // see Unrestricted

	columns  map[columnKey]*ColumnRule
	rows     map[TableName]*RowRule
	colOrder []*ColumnRule
	rowOrder []*RowRule
	path     string
	line     int
}

// ColumnRule is what one role sees of one column (protected or not).
type ColumnRule struct {
	Role   *Role
	Table  TableName
	Column string
	Action Action
	// Mask is the pattern of a masked column: literal characters, with
	// {lastN} and {firstN} standing for the value's last or first N
	// characters.
	Mask string
	// Key is the key id of a pseudonym's HMAC key.
	Key string
	// Name names the rule in messages and the audit: "clinician: public.patients.ssn".
	Name string
	line int
}

// WriteCheck is what happens to a write whose new row phiguard cannot test
// against the row rule before it reaches the database.
type WriteCheck string

const (
	// WritesRefuse refuses such a write (the default).
	WritesRefuse WriteCheck = "refuse"
	// WritesAllow lets it through unchecked.
	WritesAllow WriteCheck = "allow"
)

// RowRule limits the rows of one table a role may read or change.
type RowRule struct {
	Role  *Role
	Table TableName
	// Using is the SQL boolean expression, in the style of an RLS USING
	// clause: unqualified column names are the table's.
	Using string
	// Reads are the relations the expression names (its subqueries' FROM
	// items), as written: Schema is "" for an unqualified name.
	Reads []TableName
	// UncheckedWrites says what happens to a write whose new row cannot be
	// tested (an UPDATE that assigns a column the rule reads, COPY FROM).
	UncheckedWrites WriteCheck
	// Name names the rule in messages and the audit: "clinician: rows of public.patients".
	Name string
	line int
}

// HasRoles tells whether the file gives roles at all. Without roles,
// access control is off: every user sees every column in plaintext, as
// before roles existed.
func (p *Policy) HasRoles() bool { return len(p.roles) > 0 }

// Roles lists the roles, the default role included, sorted by name.
func (p *Policy) Roles() []*Role { return slices.Clone(p.roles) }

// Role looks a role up by name.
func (p *Policy) Role(name string) (*Role, bool) {
	for _, r := range p.roles {
		if r.Name == name {
			return r, true
		}
	}
	return nil, false
}

// DefaultRole is the role of users no role binds; nil without roles.
func (p *Policy) DefaultRole() *Role { return p.defaultRole }

// RoleFor picks the role of a connection: the role bound to its client
// certificate subject, else the one bound to its database user, else the
// default role. It is nil when the policy has no roles.
func (p *Policy) RoleFor(user, certSubject string) *Role {
	if !p.HasRoles() {
		return nil
	}
	if certSubject != "" {
		if r, ok := p.byCert[certSubject]; ok {
			return r
		}
	}
	if r, ok := p.byUser[user]; ok {
		return r
	}
	return p.defaultRole
}

// ColumnRule is the rule for one column under the role: the role's own
// rule, else OtherColumns for a protected column, else nil, which means
// plaintext.
func (r *Role) ColumnRule(schema, table, column string) *ColumnRule {
	if r == nil {
		return nil
	}
	if c, ok := r.columns[columnKey{schema, table, column}]; ok {
		return c
	}
	return nil
}

// ColumnRules lists the role's explicit column rules in file order.
func (r *Role) ColumnRules() []*ColumnRule { return slices.Clone(r.colOrder) }

// RowRule is the role's rule for a table, if it has one.
func (r *Role) RowRule(schema, table string) (*RowRule, bool) {
	if r == nil {
		return nil, false
	}
	rr, ok := r.rows[TableName{schema, table}]
	return rr, ok
}

// RowRules lists the role's row rules in file order.
func (r *Role) RowRules() []*RowRule { return slices.Clone(r.rowOrder) }

// RowRulesNamed lists the role's row rules on tables of that name in any
// schema, for an unqualified reference whose schema search_path decides.
func (r *Role) RowRulesNamed(table string) []*RowRule {
	var out []*RowRule
	for _, rr := range r.rowOrder {
		if rr.Table.Name == table {
			out = append(out, rr)
		}
	}
	return out
}

// RulesReading lists the role's row rules that read a table a write
// names (schema "" when the statement leaves it unqualified) and that the
// policy does not let the role write (writes_rule_tables). Names match
// when they are equal and either side leaves the schema to search_path.
// The rule on the table itself does not count unless it also reads it in
// a subquery: its effect on writes is WITH CHECK (the new row must pass).
func (r *Role) RulesReading(schema, table string) []*RowRule {
	if r == nil {
		return nil
	}
	var out []*RowRule
	for _, rr := range r.RulesThatRead(TableName{schema, table}) {
		if !r.writesAllowed(schema, table) {
			out = append(out, rr)
		}
	}
	return out
}

// RulesThatRead lists the role's row rules that read the table (Schema ""
// for a name search_path resolves), writes_rule_tables notwithstanding.
func (r *Role) RulesThatRead(t TableName) []*RowRule {
	var out []*RowRule
	for _, rr := range r.rowOrder {
		for _, read := range rr.Reads {
			if sameTable(read, t) {
				out = append(out, rr)
				break
			}
		}
	}
	return out
}

// writesAllowed tells whether writes_rule_tables lists the table.
func (r *Role) writesAllowed(schema, table string) bool {
	for _, t := range r.WritesRuleTables {
		if t.Name == table && (schema == "" || schema == t.Schema) {
			return true
		}
	}
	return false
}

func sameTable(a, b TableName) bool {
	return a.Name == b.Name && (a.Schema == "" || b.Schema == "" || a.Schema == b.Schema)
}

// Allows tells whether the role may run statements of the class.
func (r *Role) Allows(c StatementClass) bool { return r == nil || slices.Contains(r.Statements, c) }

// AllowsFunction tells whether the role may call a function it lists
// (name or schema.name as written in the statement, folded).
func (r *Role) AllowsFunction(schema, name string) bool {
	if r == nil {
		return true
	}
	if schema != "" && slices.Contains(r.Functions, schema+"."+name) {
		return true
	}
	return slices.Contains(r.Functions, name)
}

// Unrestricted tells whether the role has no rule at all: no row rule,
// every column in plaintext, every statement class allowed. phiguard does
// not analyse such a role's statements beyond what encryption needs.
func (r *Role) Unrestricted() bool { return r == nil || r.unrestricted }

// hasNoRules computes Unrestricted once, when the file is read: a role is
// immutable after that, and the proxy asks for every statement.
func (r *Role) hasNoRules() bool {
	if len(r.rows) > 0 || r.OtherColumns != ActionPlaintext {
		return false
	}
	for _, c := range r.colOrder {
		if c.Action != ActionPlaintext {
			return false
		}
	}
	for _, c := range AllClasses() {
		if !slices.Contains(r.Statements, c) {
			return false
		}
	}
	return true
}

// EffectiveColumnRule is the rule that applies to a column the statement
// reads: the role's own rule, else OtherColumns when the column is
// protected, else nil (plaintext).
func (p *Policy) EffectiveColumnRule(r *Role, schema, table, column string) *ColumnRule {
	if r == nil {
		return nil
	}
	if c := r.ColumnRule(schema, table, column); c != nil {
		return c
	}
	if _, protected := p.Column(schema, table, column); protected && r.OtherColumns != ActionPlaintext {
		return r.otherRule(TableName{schema, table}, column)
	}
	return nil
}

func (r *Role) otherRule(t TableName, column string) *ColumnRule {
	return &ColumnRule{
		Role: r, Table: t, Column: column, Action: r.OtherColumns,
		Name: r.Name + ": other_columns",
	}
}

// ApplyMask renders a value through a mask pattern: {lastN} and {firstN}
// take the value's last or first N characters (fewer when it is shorter),
// everything else is copied.
func ApplyMask(pattern, value string) string {
	var b strings.Builder
	runes := []rune(value)
	for i := 0; i < len(pattern); {
		if pattern[i] == '{' {
			if end := strings.IndexByte(pattern[i:], '}'); end > 0 {
				if n, last, ok := maskPart(pattern[i+1 : i+end]); ok {
					if n > len(runes) {
						n = len(runes)
					}
					if last {
						b.WriteString(string(runes[len(runes)-n:]))
					} else {
						b.WriteString(string(runes[:n]))
					}
					i += end + 1
					continue
				}
			}
		}
		b.WriteByte(pattern[i])
		i++
	}
	return b.String()
}

// maskPart reads "lastN" or "firstN".
func maskPart(s string) (n int, last, ok bool) {
	var digits string
	switch {
	case strings.HasPrefix(s, "last"):
		digits, last = s[4:], true
	case strings.HasPrefix(s, "first"):
		digits = s[5:]
	default:
		return 0, false, false
	}
	if digits == "" || len(digits) > 3 {
		return 0, false, false
	}
	for _, c := range digits {
		if c < '0' || c > '9' {
			return 0, false, false
		}
		n = n*10 + int(c-'0')
	}
	return n, last, true
}
