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
// table's row; record without OUT parameters). And, with the column
// NULL, a domain over a composite type (or over a domain): dc(x) in FROM
// is a cast to dc when no function dc takes x (func_get_detail's
// FUNCDETAIL_COERCION), its columns the composite type's (red team 37:
// dc('(1,t1)') x WHERE tag = 't1' sent 't1' encrypted).
func namedLikeFunctionsQuery(names []string) string {
	list := `ARRAY[` + strings.Join(names, ", ") + `]::pg_catalog.text[]`
	// Each branch a plain join: one LATERAL over the names for every
	// function was estimated above jit_above_cost, and PostgreSQL spent
	// 45 ms (3,244 functions) to 640 ms (25,244) compiling it at every
	// read (red team 37).
	return `SELECT n.nspname::pg_catalog.text, p.proname::pg_catalog.text, x.col, n.nspname::pg_catalog.text, p.proname::pg_catalog.text, x.col,
  pg_catalog.current_setting('transaction_isolation'), 'function', NULL, NULL, NULL, NULL
  FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
  JOIN (SELECT p.oid, p.proname::pg_catalog.text FROM pg_catalog.pg_proc p WHERE p.proname::pg_catalog.text = ANY (` + list + `)
    UNION ALL SELECT p.oid, a.c FROM pg_catalog.pg_proc p CROSS JOIN LATERAL pg_catalog.unnest(p.proargnames) a(c)
      WHERE p.proargnames OPERATOR(pg_catalog.&&) ` + list + ` AND a.c = ANY (` + list + `)
    UNION ALL SELECT p.oid, a.attname::pg_catalog.text FROM pg_catalog.pg_proc p
      JOIN pg_catalog.pg_type r ON r.oid = p.prorettype AND r.typrelid <> 0
      JOIN pg_catalog.pg_attribute a ON a.attrelid = r.typrelid AND a.attnum > 0 AND NOT a.attisdropped
      WHERE a.attname::pg_catalog.text = ANY (` + list + `)
    UNION ALL SELECT p.oid, NULL FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_type r ON r.oid = p.prorettype
      WHERE r.typtype = 'd' OR r.oid IN ('pg_catalog.anyelement'::pg_catalog.regtype, 'pg_catalog.anynonarray'::pg_catalog.regtype,
        'pg_catalog.anycompatible'::pg_catalog.regtype, 'pg_catalog.anycompatiblenonarray'::pg_catalog.regtype)
        OR r.oid = 'pg_catalog.record'::pg_catalog.regtype
          AND NOT COALESCE(p.proargmodes OPERATOR(pg_catalog.&&) '{o,b,t}'::pg_catalog."char"[], false)
  ) x(oid, col) ON x.oid = p.oid
UNION ALL SELECT n.nspname::pg_catalog.text, t.typname::pg_catalog.text, NULL, n.nspname::pg_catalog.text, t.typname::pg_catalog.text, NULL,
  pg_catalog.current_setting('transaction_isolation'), 'function', NULL, NULL, NULL, NULL
  FROM pg_catalog.pg_type t JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace
  JOIN pg_catalog.pg_type b ON b.oid = t.typbasetype
  WHERE t.typtype = 'd' AND (b.typrelid <> 0 OR b.typtype = 'd')`
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
