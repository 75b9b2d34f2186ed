package policy

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

var roleKeys = []string{"users", "cert_subjects", "statements", "functions", "other_columns", "break_glass", "columns", "rows", "writes_rule_tables"}

var rowRuleKeys = []string{"using", "unchecked_writes"}

// roles reads the roles section and default_role, then builds the lookup
// maps and, when the file names no default role, the built-in one.
func (r *reader) roles(n, defaultRole *yaml.Node) {
	p := r.p
	p.byUser, p.byCert = map[string]*Role{}, map[string]*Role{}
	if n == nil {
		if defaultRole != nil {
			r.problem(deref(defaultRole).Line, "default_role", "names a role but the file gives no roles")
		}
		return
	}
	for _, e := range r.mapping(n, "roles", "role names to role settings", nil, nil) {
		r.role(e)
	}
	if len(p.roles) == 0 {
		return
	}
	if defaultRole != nil {
		name, _ := r.scalar(defaultRole, "default_role")
		if rl, ok := p.Role(name); ok {
			p.defaultRole = rl
		} else {
			r.problem(deref(defaultRole).Line, "default_role", "names no role of this file: %q", name)
		}
	} else if rl, ok := p.Role(DefaultRoleName); ok {
		p.defaultRole = rl
	} else {
		p.defaultRole = builtinDefault(p.roles)
		p.roles = append(p.roles, p.defaultRole)
	}
	slices.SortFunc(p.roles, func(a, b *Role) int { return strings.Compare(a.Name, b.Name) })
	for _, rl := range p.roles {
		rl.unrestricted = rl.hasNoRules()
		for _, u := range rl.Users {
			if prev, dup := p.byUser[u]; dup && prev != rl {
				r.problem(rl.line, rl.path+".users", "user %q is already bound to role %s", u, prev.Name)
				continue
			}
			p.byUser[u] = rl
		}
		for _, s := range rl.CertSubjects {
			if prev, dup := p.byCert[s]; dup && prev != rl {
				r.problem(rl.line, rl.path+".cert_subjects", "subject %q is already bound to role %s", s, prev.Name)
				continue
			}
			p.byCert[s] = rl
		}
	}
}

// builtinDefault is the role of unbound users when the file names none: no
// protected column, no column any role restricts, no row of a table any
// role has a row rule on.
func builtinDefault(roles []*Role) *Role {
	d := &Role{
		Name: DefaultRoleName, OtherColumns: ActionDeny, Builtin: true,
		Statements: []StatementClass{ClassRead, ClassWrite, ClassUtility},
		columns:    map[columnKey]*ColumnRule{}, rows: map[TableName]*RowRule{},
		path: "default_role",
	}
	for _, rl := range roles {
		for _, c := range rl.colOrder {
			k := columnKey{c.Table.Schema, c.Table.Name, c.Column}
			if c.Action == ActionPlaintext || d.columns[k] != nil {
				continue
			}
			dc := &ColumnRule{Role: d, Table: c.Table, Column: c.Column, Action: ActionDeny,
				Name: d.Name + ": " + c.Table.String() + "." + QuoteIdentifier(c.Column)}
			d.columns[k] = dc
			d.colOrder = append(d.colOrder, dc)
		}
		for _, rr := range rl.rowOrder {
			if d.rows[rr.Table] != nil {
				continue
			}
			dr := &RowRule{Role: d, Table: rr.Table, Using: "false", UncheckedWrites: WritesRefuse,
				Name: d.Name + ": rows of " + rr.Table.String()}
			d.rows[rr.Table] = dr
			d.rowOrder = append(d.rowOrder, dr)
		}
	}
	return d
}

func (r *reader) role(e entry) {
	path := "roles." + e.key
	rl := &Role{
		Name: e.key, OtherColumns: ActionDeny,
		Statements: []StatementClass{ClassRead, ClassWrite, ClassUtility},
		columns:    map[columnKey]*ColumnRule{}, rows: map[TableName]*RowRule{},
		path: path, line: e.keyN.Line,
	}
	if err := checkKeyID(e.key); err != nil {
		r.problem(e.keyN.Line, path, "bad role name: use letters, digits, '-', '_' and '.'")
	}
	var writes entry // read last: it refers to the role's row rules
	for _, f := range r.mapping(e.value, path, "role settings", roleKeys, nil) {
		fp := path + "." + f.key
		switch f.key {
		case "users":
			rl.Users = r.stringList(f.value, fp)
		case "cert_subjects":
			rl.CertSubjects = r.stringList(f.value, fp)
		case "functions":
			for _, s := range r.stringList(f.value, fp) {
				parts, err := splitQualified(s)
				if err != nil || len(parts) > 2 {
					r.problem(deref(f.value).Line, fp, "bad function name %q: write name or schema.name", s)
					continue
				}
				rl.Functions = append(rl.Functions, strings.Join(parts, "."))
			}
		case "statements":
			rl.Statements = nil
			for _, s := range r.stringList(f.value, fp) {
				c := StatementClass(s)
				if !slices.Contains(AllClasses(), c) {
					r.problem(deref(f.value).Line, fp, "unknown statement class %q (want %s)", s, classList())
					continue
				}
				rl.Statements = append(rl.Statements, c)
			}
		case "other_columns":
			s, _ := r.scalar(f.value, fp)
			switch a := Action(s); a {
			case ActionPlaintext, ActionNull, ActionDeny:
				rl.OtherColumns = a
			default:
				r.problem(deref(f.value).Line, fp, "unknown action %q (want plaintext, null or deny)", s)
			}
		case "break_glass":
			v := deref(f.value)
			if v.Kind != yaml.ScalarNode || v.Tag != "!!bool" {
				r.problem(v.Line, fp, "must be true or false")
				continue
			}
			rl.BreakGlass = v.Value == "true"
		case "columns":
			for _, c := range r.mapping(f.value, fp, "table.column names to column rules", nil, nil) {
				r.columnRule(rl, c, fp)
			}
		case "rows":
			for _, t := range r.mapping(f.value, fp, "table names to row rules", nil, nil) {
				r.rowRule(rl, t, fp)
			}
		case "writes_rule_tables":
			writes = f
		}
	}
	if writes.value != nil {
		r.writesRuleTables(rl, writes)
	}
	r.p.roles = append(r.p.roles, rl)
}

// writesRuleTables reads the tables a role may write although its own row
// rules read them. Each must be read by one of the role's rules: an entry
// that grants nothing is a typo, or a leftover of a rule since removed.
func (r *reader) writesRuleTables(rl *Role, f entry) {
	path := rl.path + "." + f.key
	for _, s := range r.stringList(f.value, path) {
		t, err := ParseTableName(s)
		if err != nil {
			r.problem(deref(f.value).Line, path, "bad table name: %v", err)
			continue
		}
		if len(rl.RulesThatRead(t)) == 0 {
			r.problem(deref(f.value).Line, path, "no row rule of role %s reads table %s: list only tables the role's rules read", rl.Name, t)
			continue
		}
		rl.WritesRuleTables = append(rl.WritesRuleTables, t)
	}
}

func classList() string {
	var s []string
	for _, c := range AllClasses() {
		s = append(s, string(c))
	}
	return strings.Join(s, ", ")
}

// stringList reads a list of strings, or a single string as a list of one.
func (r *reader) stringList(n *yaml.Node, path string) []string {
	n = deref(n)
	if n.Kind == yaml.ScalarNode {
		if n.Tag == "!!null" {
			return nil
		}
		return []string{n.Value}
	}
	if n.Kind != yaml.SequenceNode {
		r.fatal(n, path, "must be a list, got %s", kindName(n))
		return nil
	}
	var out []string
	for _, item := range n.Content {
		if s, ok := r.scalar(item, path); ok && s != "" {
			out = append(out, s)
		}
	}
	return out
}

// columnRule reads `table.column: action` or `table.column: {masked: P}` /
// `{pseudonym: KEY}`.
func (r *reader) columnRule(rl *Role, e entry, parent string) {
	path := parent + "[" + e.key + "]"
	line := e.keyN.Line
	parts, err := splitQualified(e.key)
	if err != nil || len(parts) < 2 || len(parts) > 3 {
		r.problem(line, path, "bad column name: write table.column or schema.table.column")
		return
	}
	t := TableName{Schema: DefaultSchema, Name: parts[0]}
	if len(parts) == 3 {
		t = TableName{Schema: parts[0], Name: parts[1]}
	}
	c := &ColumnRule{Role: rl, Table: t, Column: parts[len(parts)-1], line: line}
	c.Name = rl.Name + ": " + t.String() + "." + QuoteIdentifier(c.Column)
	v := deref(e.value)
	switch v.Kind {
	case yaml.ScalarNode:
		switch a := Action(v.Value); a {
		case ActionPlaintext, ActionNull, ActionDeny:
			c.Action = a
		case ActionPseudonym:
			c.Action, c.Key = a, DefaultPseudonymKey
		case ActionMasked:
			r.problem(v.Line, path, "masked needs a pattern: write {masked: '***-**-{last4}'}")
			return
		default:
			r.problem(v.Line, path, "unknown action %q (want plaintext, masked, pseudonym, null or deny)", v.Value)
			return
		}
	case yaml.MappingNode:
		fields := r.mapping(v, path, "one action", []string{"masked", "pseudonym"}, nil)
		if len(fields) != 1 {
			r.problem(v.Line, path, "give exactly one of masked or pseudonym")
			return
		}
		s, _ := r.scalar(fields[0].value, path+"."+fields[0].key)
		switch fields[0].key {
		case "masked":
			if err := checkMask(s); err != nil {
				r.problem(v.Line, path+".masked", "%v", err)
				return
			}
			c.Action, c.Mask = ActionMasked, s
		case "pseudonym":
			if s == "" {
				s = DefaultPseudonymKey
			}
			if err := checkKeyID(s); err != nil {
				r.problem(v.Line, path+".pseudonym", "%v", err)
				return
			}
			c.Action, c.Key = ActionPseudonym, s
		}
	default:
		r.problem(v.Line, path, "must be an action or a map, got %s", kindName(v))
		return
	}
	k := columnKey{t.Schema, t.Name, c.Column}
	if prev, dup := rl.columns[k]; dup {
		r.problem(line, path, "names the same column as line %d", prev.line)
		return
	}
	rl.columns[k] = c
	rl.colOrder = append(rl.colOrder, c)
}

// checkMask accepts a pattern whose braces all hold lastN or firstN, so a
// typo is an error rather than a mask that shows the braces.
func checkMask(s string) error {
	if s == "" {
		return fmt.Errorf("is empty")
	}
	for i := 0; i < len(s); i++ {
		if s[i] != '{' {
			continue
		}
		end := strings.IndexByte(s[i:], '}')
		if end < 0 {
			return fmt.Errorf("pattern %q has an unclosed {", s)
		}
		if _, _, ok := maskPart(s[i+1 : i+end]); !ok {
			return fmt.Errorf("pattern %q: {%s} is not {lastN} or {firstN}", s, s[i+1:i+end])
		}
		i += end
	}
	return nil
}

// rowRule reads `table: EXPR` or `table: {using: EXPR, unchecked_writes: refuse|allow}`.
func (r *reader) rowRule(rl *Role, e entry, parent string) {
	path := parent + "[" + e.key + "]"
	t, err := ParseTableName(e.key)
	if err != nil {
		r.problem(e.keyN.Line, path, "bad table name: %v", err)
		return
	}
	rr := &RowRule{Role: rl, Table: t, UncheckedWrites: WritesRefuse, line: e.keyN.Line,
		Name: rl.Name + ": rows of " + t.String()}
	v := deref(e.value)
	if v.Kind == yaml.ScalarNode {
		rr.Using = v.Value
	} else {
		for _, f := range r.mapping(v, path, "row rule settings", rowRuleKeys, nil) {
			s, _ := r.scalar(f.value, path+"."+f.key)
			switch f.key {
			case "using":
				rr.Using = s
			case "unchecked_writes":
				switch w := WriteCheck(s); w {
				case WritesRefuse, WritesAllow:
					rr.UncheckedWrites = w
				default:
					r.problem(deref(f.value).Line, path+".unchecked_writes", "unknown value %q (want refuse or allow)", s)
				}
			}
		}
	}
	reads, err := r.readRowExpression(rr.Using)
	if err != nil {
		// The policy fails Validate, and no caller may use it. One that
		// does anyway must not find the table without a rule (every row):
		// the rule it keeps admits none.
		r.problem(v.Line, path, "%v", err)
		rr.Using, reads = unreadRule, nil
	}
	rr.Reads = reads
	if _, dup := rl.rows[t]; dup {
		r.problem(e.keyN.Line, path, "names the same table twice")
		return
	}
	rl.rows[t] = rr
	rl.rowOrder = append(rl.rowOrder, rr)
}

// RowExpressions reads a row rule's SQL expression (its using text): it
// checks that the text is one boolean-looking expression that takes no
// parameters and lists, once each and sorted, the relations it names
// (Schema "" for an unqualified name). policy has no SQL parser:
// sqlrewrite.RowExpressions is phiguard's, and sqlrewrite.LoadPolicy
// loads a policy with it.
type RowExpressions func(expr string) ([]TableName, error)

// errNoRowParser is the problem of every row rule of a policy loaded
// without a RowExpressions: its expression was never checked, so the
// policy must not be used.
var errNoRowParser = errors.New("using: this policy was loaded without a SQL parser for row rules (load it with sqlrewrite.LoadPolicy)")

// unreadRule is what a row rule whose expression was not read (or was
// refused) holds instead: no rows. Validate reports the rule, so it only
// ever applies where a caller used a policy that failed Validate.
const unreadRule = "false"

// readRowExpression checks a row rule's expression with the loader's
// RowExpressions, refusing it without one.
func (r *reader) readRowExpression(expr string) ([]TableName, error) {
	if strings.TrimSpace(expr) == "" {
		return nil, fmt.Errorf("using: the row rule expression is empty")
	}
	if r.rows == nil {
		return nil, errNoRowParser
	}
	return r.rows(expr)
}
