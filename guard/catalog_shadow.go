package guard

import (
	"strings"

	"github.com/phiguard/phiguard/internal/pgerr"
	"github.com/phiguard/phiguard/policy"
	"github.com/phiguard/phiguard/sqlrewrite"
)

// The planner takes an unqualified name of a protected table for that
// table whatever the search path (it has no catalog). When a relation of
// the name stands in a schema before the protected table's on the path
// (a plain q.enc, made by another session through phiguard or not, with
// q before public), PostgreSQL writes there: INSERT INTO enc (id, s)
// VALUES (2, 'abc') stored the ciphertext of 'abc' in the plain q.enc,
// where PostgreSQL stores 'abc' (TestRedTeam34ShadowingTableMadeByOtherSession).
// A write so named is refused (0A000 naming both relations) when the
// catalog, read with the path, resolves the name elsewhere: write to the
// relation by its schema-qualified name. Reads need no such check: a
// result field names its relation's OID, and cells of a plain table are
// refused as stray cells.
//
// Where the name resolves is asked of the latest catalog at each read
// (nowInQuery: to_regclass under the client's search path, and
// pg_identify_object, which look in the system caches), not taken from
// the rows the read lists: inside a REPEATABLE READ or SERIALIZABLE
// transaction those are the transaction's snapshot's, and a plain
// relation another session made after it was not among them while
// PostgreSQL wrote to it (TestRedTeam34ShadowingInRepeatableRead). The
// path the catalog lists stands in for a read without the answer.

// shadowedWriteRefusal refuses a statement of a that writes and names
// unqualified a protected table of pol that the catalog's path resolves
// to a relation of another schema.
func (c *catalog) shadowedWriteRefusal(a *sqlrewrite.Analysis, pol *policy.Policy) *pgerr.Error {
	if c == nil || !c.pathRead || pol == nil || a == nil || a.Err != nil {
		return nil
	}
	for _, st := range a.Statements {
		if !st.Writes {
			continue
		}
		for _, t := range st.Tables {
			if t.Schema != "" || bound(st.CTEs, t.Name) {
				continue
			}
			if pe := c.shadowed(t.Name, pol); pe != nil {
				return pe
			}
		}
	}
	return nil
}

// shadowed is the refusal of an unqualified write to name when the path
// resolves it to a schema other than that of the protected table of the
// name (nil when none is protected, or the path resolves it to one).
func (c *catalog) shadowed(name string, pol *policy.Policy) *pgerr.Error {
	protected := pol.TablesNamed(name)
	if len(protected) == 0 {
		return nil
	}
	schema, ok := c.nowIn[name]
	if !ok {
		schema = c.pathSchemaOf(name)
	}
	if schema == "" {
		return nil // resolves to nothing: PostgreSQL's own error
	}
	for _, pt := range protected {
		if pt.Name.Schema == schema {
			return nil
		}
	}
	return pgerr.Newf(pgerr.FeatureNotSupported,
		"%s names %s.%s on this session's search path, not the table with encrypted columns %s: phiguard would encrypt what PostgreSQL writes to %s.%s; name the table with its schema",
		name, schema, name, protected[0].Name.String(), schema, name)
}

// pathSchemaOf is the schema of the first relation of name on the path
// the catalog lists, "" for none.
func (c *catalog) pathSchemaOf(name string) string {
	e, ok := c.names().relations[name]
	if !ok {
		return ""
	}
	first := c.firstOnPath(e, name) // catalog_path_follow.go
	for s, idx := range c.names().schemas {
		if first >= 0 && idx == first {
			return s
		}
	}
	return ""
}

// nowInQuery asks, for each protected table's name, the schema the name
// unqualified resolves in on the latest catalog under the client's
// search path (NULL for none): rows of ten fields, the name first. It
// runs after pathQuery, under that path.
func nowInQuery(pol *policy.Policy) string {
	if pol == nil {
		return ""
	}
	var q strings.Builder
	seen := map[string]bool{}
	for _, t := range pol.Tables() {
		if n := t.Name.Name; !seen[n] {
			seen[n] = true
			q.WriteString(";\nSELECT " + quoteLiteral(n) + "::pg_catalog.text, (pg_catalog.pg_identify_object('1259', pg_catalog.to_regclass(" +
				quoteLiteral(quoteIdent(n)) + "), '0')).schema, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL")
		}
	}
	return q.String()
}

// addJudgeOrNowIn takes a row of judgesQuery (nine fields) or of
// nowInQuery (ten).
func (b *catalogBuilder) addJudgeOrNowIn(v [][]byte) {
	if len(v) == 9 {
		b.addJudge(v) // catalog_judged.go
		return
	}
	b.addNowIn(v)
}

// addNowIn takes a row of nowInQuery.
func (b *catalogBuilder) addNowIn(v [][]byte) {
	if b.cat.nowIn == nil {
		b.cat.nowIn = map[string]string{}
	}
	b.cat.nowIn[string(v[0])] = string(v[1])
}
