package guard

import (
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
	e, ok := c.relations[name]
	if !ok {
		return nil
	}
	first := c.firstOnPath(e, name) // catalog_path_follow.go
	if first < 0 {
		return nil
	}
	for _, pt := range protected {
		if idx, ok := c.schemas[pt.Name.Schema]; ok && idx == first {
			return nil
		}
	}
	schema := ""
	for s, idx := range c.schemas {
		if idx == first {
			schema = s
		}
	}
	return pgerr.Newf(pgerr.FeatureNotSupported,
		"%s names %s.%s on this session's search path, not the table with encrypted columns %s: phiguard would encrypt what PostgreSQL writes to %s.%s; name the table with its schema",
		name, schema, name, protected[0].Name.String(), schema, name)
}
