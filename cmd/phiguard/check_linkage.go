package main

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/phiguard/phiguard/policy"
)

// Linkage: a pseudonym, mask or denial of an identifier is undone when the
// same identifier is readable in clear in another column the role can join
// to it (research sees encounters.patient pseudonymized but
// conditions.patient in clear, and conditions.encounter joins the two).
// `phiguard check --catalog` groups the database's columns into identifier
// families, the columns that hold the same values:
//
//   - columns joined by a foreign key (either way, and transitively: every
//     column referencing patients.id is in the family of patients.id);
//   - a column with the same name and type as a subject column of the
//     policy (encounters.patient), where neither is its table's
//     single-column primary key: a scratch table's `patient uuid` holds
//     patient ids whether or not a foreign key says so. Primary keys are
//     left out because every table's `id uuid` would otherwise be one
//     family.
//
// For each role, a family that holds a column the role sees restricted
// (pseudonym, masked, null or deny) and a column it reads in clear is a
// warning naming both. A table whose row rule for the role is literally
// `false` shows no rows and is skipped. Quasi-identifiers (ZIP code,
// coordinates, dates) are not identifier families: the policy has to
// restrict them by itself.

// catalogColumn is one column of a table in the live catalog.
type catalogColumn struct {
	table policy.TableName
	name  string
	typ   string
	pkey  bool // the table's single-column primary key
}

func (c catalogColumn) String() string {
	return c.table.String() + "." + policy.QuoteIdentifier(c.name)
}

// linkageQuery lists the columns of the user tables, with their type and
// whether each is its table's single-column primary key.
const linkageQuery = `SELECT n.nspname, c.relname, a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod),
       EXISTS (SELECT 1 FROM pg_catalog.pg_constraint k WHERE k.conrelid = c.oid AND k.contype = 'p' AND k.conkey = ARRAY[a.attnum])
FROM pg_catalog.pg_attribute a
JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped
  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\_%'
ORDER BY 1, 2, a.attnum`

// foreignKeyQuery lists each column pair a foreign key joins.
const foreignKeyQuery = `SELECT cn.nspname, c.relname, a.attname, fn.nspname, f.relname, fa.attname
FROM pg_catalog.pg_constraint k
JOIN pg_catalog.pg_class c ON c.oid = k.conrelid
JOIN pg_catalog.pg_namespace cn ON cn.oid = c.relnamespace
JOIN pg_catalog.pg_class f ON f.oid = k.confrelid
JOIN pg_catalog.pg_namespace fn ON fn.oid = f.relnamespace
CROSS JOIN LATERAL unnest(k.conkey, k.confkey) AS u(src, dst)
JOIN pg_catalog.pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = u.src
JOIN pg_catalog.pg_attribute fa ON fa.attrelid = k.confrelid AND fa.attnum = u.dst
WHERE k.contype = 'f'
ORDER BY 1, 2, 3, 4, 5, 6`

// identifierFamilies holds the catalog's columns and, for each, how it
// came into its family (union-find over column keys).
type identifierFamilies struct {
	cols   map[string]catalogColumn
	parent map[string]string
	// via says, per column, one link that put it in its family, for the
	// warning ("foreign key public.conditions.patient -> public.patients.id"),
	// and viaTo the column at its other end.
	via, viaTo map[string]string
}

func readIdentifierFamilies(ctx context.Context, conn *pgx.Conn, pol *policy.Policy) (*identifierFamilies, error) {
	f := &identifierFamilies{cols: map[string]catalogColumn{}, parent: map[string]string{}, via: map[string]string{}, viaTo: map[string]string{}}
	rows, err := conn.Query(ctx, linkageQuery)
	if err != nil {
		return nil, err
	}
	var order []catalogColumn
	for rows.Next() {
		var c catalogColumn
		if err := rows.Scan(&c.table.Schema, &c.table.Name, &c.name, &c.typ, &c.pkey); err != nil {
			rows.Close()
			return nil, err
		}
		f.cols[c.String()] = c
		order = append(order, c)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows, err = conn.Query(ctx, foreignKeyQuery)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var from, to catalogColumn
		if err := rows.Scan(&from.table.Schema, &from.table.Name, &from.name, &to.table.Schema, &to.table.Name, &to.name); err != nil {
			rows.Close()
			return nil, err
		}
		f.link(from.String(), to.String(), "foreign key "+from.String()+" -> "+to.String())
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	f.linkSameName(pol, order)
	return f, nil
}

// linkSameName puts every column with the name and type of a subject
// column into its family (primary keys excepted, see above).
func (f *identifierFamilies) linkSameName(pol *policy.Policy, order []catalogColumn) {
	for _, t := range pol.Tables() {
		if t.SubjectColumn == "" {
			continue
		}
		s, ok := f.cols[catalogColumn{table: t.Name, name: t.SubjectColumn}.String()]
		if !ok || s.pkey {
			continue
		}
		for _, c := range order {
			if c.name == s.name && c.typ == s.typ && !c.pkey && c.String() != s.String() {
				f.link(c.String(), s.String(), "same name and type as subject column "+s.String())
			}
		}
	}
}

func (f *identifierFamilies) find(k string) string {
	for {
		p, ok := f.parent[k]
		if !ok || p == k {
			return k
		}
		k = p
	}
}

func (f *identifierFamilies) link(a, b, why string) {
	for _, k := range [][2]string{{a, b}, {b, a}} {
		if _, ok := f.via[k[0]]; !ok {
			f.via[k[0]], f.viaTo[k[0]] = why, k[1]
		}
	}
	if ra, rb := f.find(a), f.find(b); ra != rb {
		f.parent[ra] = rb
	}
}

// members lists each family of more than one column, in catalog order.
func (f *identifierFamilies) members() [][]catalogColumn {
	byRoot := map[string][]catalogColumn{}
	var roots []string
	for k, c := range f.cols {
		if _, linked := f.via[k]; !linked {
			continue
		}
		r := f.find(k)
		if byRoot[r] == nil {
			roots = append(roots, r)
		}
		byRoot[r] = append(byRoot[r], c)
	}
	slices.Sort(roots)
	var out [][]catalogColumn
	for _, r := range roots {
		fam := byRoot[r]
		slices.SortFunc(fam, func(a, b catalogColumn) int { return strings.Compare(a.String(), b.String()) })
		out = append(out, fam)
	}
	return out
}

// linkageWarnings applies the families to every role of the policy.
func linkageWarnings(pol *policy.Policy, f *identifierFamilies) []string {
	var out []string
	for _, r := range pol.Roles() {
		if !r.Allows(policy.ClassRead) {
			continue
		}
		for _, fam := range f.members() {
			out = append(out, roleLinkage(pol, r, f, fam)...)
		}
	}
	return out
}

// roleLinkage warns of each column of one family the role reads in clear
// when it sees another restricted.
func roleLinkage(pol *policy.Policy, r *policy.Role, f *identifierFamilies, fam []catalogColumn) []string {
	var restricted []*policy.ColumnRule
	var clear []catalogColumn
	for _, c := range fam {
		rule := pol.EffectiveColumnRule(r, c.table.Schema, c.table.Name, c.name)
		switch {
		case rule != nil && rule.Action != policy.ActionPlaintext:
			restricted = append(restricted, rule)
		case !noRows(r, c.table):
			clear = append(clear, c)
		}
	}
	if len(restricted) == 0 {
		return nil
	}
	var out []string
	for _, c := range clear {
		rule := restricted[0]
		for _, x := range restricted {
			if x.Table.String()+"."+policy.QuoteIdentifier(x.Column) == f.viaTo[c.String()] {
				rule = x // the column it is linked to directly
			}
		}
		out = append(out, fmt.Sprintf("roles.%s: linkage: column %s is readable in clear (%s) and holds the identifiers of %s.%s, which the role sees %s (rule %q): a join maps them back; give %s the same rule",
			r.Name, c, f.via[c.String()], rule.Table, policy.QuoteIdentifier(rule.Column), seen[rule.Action], rule.Name, c))
	}
	return out
}

// seen says how a role sees a restricted column, for the warning.
var seen = map[policy.Action]string{
	policy.ActionPseudonym: "pseudonymized", policy.ActionMasked: "masked",
	policy.ActionNull: "as NULL", policy.ActionDeny: "not at all (deny)",
}

// noRows tells whether the role's row rule on the table is literally
// false, so that no column of it can be read.
func noRows(r *policy.Role, t policy.TableName) bool {
	rr, ok := r.RowRule(t.Schema, t.Name)
	return ok && strings.EqualFold(strings.TrimSpace(rr.Using), "false")
}
