package guard

import (
	"strings"

	"github.com/phiguard/phiguard/sqlrewrite"
)

// A function called in FROM without a column definition list has its
// result's columns: one named after the alias (or the function) for a
// scalar, a composite type's attributes, the OUT parameters of a
// function that has them. In SELECT ... FROM people WHERE EXISTS
// (SELECT 1 FROM generate_series(1, 2) g WHERE tag = 't1'), tag is
// people.tag, encrypted, only if generate_series has no result column
// called tag, which the statement does not tell: the planner lists the
// function among the inner items that must lack the name
// (sqlrewrite.Plan.Unshadowed), and the catalog answers for it from the
// functions it lists as ones whose result may have such a column
// (namedLikeFunctionsQuery). Unlisted, a function of that name surely
// lacks it; listed, the statement is refused as for a table that has it
// (TestNameBindingDifferential: refused in stop 36 for want of this).

// namedLikeFunctionsQuery lists, in namedLikeQuery's twelve fields
// (schema, function, column, the three again, the isolation, then
// 'function'), the functions whose result may have a column named one of
// names (quoted literals): a function of that name (a scalar's column is
// named after it), one with an argument of that name (OUT, INOUT and
// TABLE parameters name the columns; an IN one is listed too, which
// costs nothing but a refusal), one returning a composite type with
// such an attribute; and, with the column NULL, one whose result's
// columns its definition does not tell (a domain, which may be over a
// composite; anyelement and the like, which unnest(ARRAY[p]) makes a
// table's row; record without OUT parameters).
func namedLikeFunctionsQuery(names []string) string {
	return `SELECT n.nspname::pg_catalog.text, p.proname::pg_catalog.text, x.col, n.nspname::pg_catalog.text, p.proname::pg_catalog.text, x.col,
  pg_catalog.current_setting('transaction_isolation'), 'function', NULL, NULL, NULL, NULL
  FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
  JOIN pg_catalog.pg_type r ON r.oid = p.prorettype
  CROSS JOIN LATERAL (
    SELECT c FROM pg_catalog.unnest(ARRAY[` + strings.Join(names, ", ") + `]::pg_catalog.text[]) c
      WHERE c = p.proname::pg_catalog.text OR c = ANY (p.proargnames)
        OR EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a WHERE a.attrelid = r.typrelid AND a.attnum > 0
          AND NOT a.attisdropped AND a.attname::pg_catalog.text = c)
    UNION ALL SELECT NULL WHERE r.typtype = 'd'
      OR r.oid IN ('pg_catalog.anyelement'::pg_catalog.regtype, 'pg_catalog.anynonarray'::pg_catalog.regtype,
        'pg_catalog.anycompatible'::pg_catalog.regtype, 'pg_catalog.anycompatiblenonarray'::pg_catalog.regtype)
      OR r.oid = 'pg_catalog.record'::pg_catalog.regtype
        AND NOT COALESCE(p.proargmodes OPERATOR(pg_catalog.&&) '{o,b,t}'::pg_catalog."char"[], false)
  ) x(col)
  WHERE p.proname::pg_catalog.text = ANY (ARRAY[` + strings.Join(names, ", ") + `]::pg_catalog.text[])
    OR p.proargnames OPERATOR(pg_catalog.&&) ARRAY[` + strings.Join(names, ", ") + `]::pg_catalog.text[]
    OR r.typrelid <> 0 OR r.typtype = 'd' OR r.oid IN ('pg_catalog.anyelement'::pg_catalog.regtype,
      'pg_catalog.anynonarray'::pg_catalog.regtype, 'pg_catalog.anycompatible'::pg_catalog.regtype,
      'pg_catalog.anycompatiblenonarray'::pg_catalog.regtype, 'pg_catalog.record'::pg_catalog.regtype)`
}

// addNamedFunction takes a function's row of namedLikeQuery.
func (b *catalogBuilder) addNamedFunction(v [][]byte) {
	if b.cat.namedFuncs == nil {
		b.cat.namedFuncs = map[string][]sqlrewrite.TableName{}
	}
	col := string(v[2]) // "" for any name
	b.cat.namedFuncs[col] = append(b.cat.namedFuncs[col], sqlrewrite.TableName{Schema: string(v[0]), Name: string(v[1]), Function: true})
}

// functionMayHave says whether function t, as a statement calls it (any
// schema when unqualified: which one PostgreSQL picks depends on the
// arguments' types too), may have a result column called col.
func (c *catalog) functionMayHave(t sqlrewrite.TableName, col string) bool {
	for _, list := range [][]sqlrewrite.TableName{c.namedFuncs[col], c.namedFuncs[""]} {
		for _, f := range list {
			if f.Name == t.Name && (t.Schema == "" || t.Schema == f.Schema || tempSchema(t.Schema, f.Schema)) {
				return true
			}
		}
	}
	return false
}
