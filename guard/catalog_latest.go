package guard

import (
	"strings"

	"github.com/phiguard/phiguard/internal/pgerr"
	"github.com/phiguard/phiguard/sqlrewrite"
)

// The catalog query reads pg_class, pg_depend and pg_rewrite as tables,
// in the snapshot of the statement that reads them, which inside a
// REPEATABLE READ or SERIALIZABLE transaction is the transaction's: a
// relation another session made after that snapshot is not among the
// rows. PostgreSQL resolves a statement's names on the latest catalog
// whatever the isolation, so `SELECT n FROM v`, v a view over an
// encrypted column made after the snapshot, ran although the read before
// it (v was a name the catalog lacked) did not list v, and served the
// length of a ciphertext (TestNewRelationInRepeatableRead).
//
// So the read before a statement that names relations the catalog lacks
// also asks, for each of them, whether the name resolves now:
// to_regclass (under the client's search_path, restored by then, so an
// unqualified name resolves as the statement's will) and
// pg_identify_object look names and OIDs up in the system caches, which
// follow the latest catalog, not the transaction's snapshot. A name that
// resolves to a relation a statement can read (not an index, a TOAST
// table or a composite type, which the catalog does not list either)
// while the read did not list it was made after the snapshot (or in the
// moment between the two): a statement naming it is refused with 40001,
// and the transaction run again reads a catalog that lists it. A name
// that resolves to nothing (a typo) gets PostgreSQL's own error, so a
// client retrying on 40001 does not retry it forever. The probe is
// guarded so that it raises no error of its own (a schema the role may
// not use is not looked into: the statement itself fails there), which
// would abort the client's transaction.
//
// Reading the catalog outside the session's snapshot, on a connection of
// phiguard's own shared by the database's sessions (issue 11, item 4),
// would need a login of phiguard's own to the database, which it does not
// have: it passes each client's authentication through. docs/catalog.md.

// unknownNames lists the relation names a's statements name that the
// catalog does not list (as unknownRelation, every one). All are asked
// about: with a bound (16 were), a REPEATABLE READ statement that named
// 16 tables made in its own Query first, and then a view made after the
// snapshot, was not refused, and served the length of a ciphertext
// (TestRedTeam31cSeventeenthName). A name the catalog lacks is one that
// does not exist or was made since, so a statement has few.
func (c *catalog) unknownNames(a *sqlrewrite.Analysis) []sqlrewrite.TableName {
	var out []sqlrewrite.TableName
	for _, st := range a.Statements {
		if !st.Writes && !readsRows(&st) {
			continue
		}
		for _, t := range st.Tables {
			if c.knows(t) || t.Schema == "" && bound(st.CTEs, t.Name) || containsName(out, t) {
				continue
			}
			out = append(out, t)
		}
	}
	return out
}

func containsName(ts []sqlrewrite.TableName, t sqlrewrite.TableName) bool {
	for _, u := range ts {
		if u == t {
			return true
		}
	}
	return false
}

// latestQuery asks, for each name, what it resolves to on the latest
// catalog: one row each, of the name and the kind of relation
// (pg_identify_object's type, NULL for none). It runs after
// restoreSearchPath, under the client's search_path: every name in it
// is qualified, and it has no operator or cast a schema could shadow.
func latestQuery(names []sqlrewrite.TableName) string {
	var q strings.Builder
	for _, t := range names {
		rel := quoteLiteral(quoteIdent(t.Name))
		if t.Schema != "" {
			rel = "CASE WHEN pg_catalog.has_schema_privilege(pg_catalog.to_regnamespace(" + quoteLiteral(quoteIdent(t.Schema)) +
				"), 'USAGE') THEN pg_catalog.to_regclass(" + quoteLiteral(quoteIdent(t.Schema)+"."+quoteIdent(t.Name)) + ") END"
		} else {
			rel = "pg_catalog.to_regclass(" + rel + ")"
		}
		q.WriteString(";\nSELECT " + quoteLiteral(t.String()) + "::pg_catalog.text, (pg_catalog.pg_identify_object('1259', " + rel + ", '0')).type")
	}
	return q.String()
}

func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// addLatest takes a row of latestQuery: the i-th name probed, and the
// kind of relation it resolves to now (nil: none).
func (b *catalogBuilder) addLatest(kind []byte) {
	i := b.probed
	b.probed++
	if i >= len(b.probes) || kind == nil {
		return
	}
	switch string(kind) {
	case "index", "partitioned index", "toast table", "composite type":
		return // not a relation a statement reads, nor one the catalog lists
	}
	if b.cat.madeSince == nil {
		b.cat.madeSince = map[sqlrewrite.TableName]bool{}
	}
	b.cat.madeSince[b.probes[i]] = true
}

// madeSinceRefusal refuses a statement (one that may return rows or
// write, as unknownRelation checks) naming a relation the catalog did
// not list but the latest catalog has: one made after the snapshot the
// catalog was read in (inside a REPEATABLE READ or SERIALIZABLE
// transaction), whose rules phiguard could not read.
func (c *catalog) madeSinceRefusal(a *sqlrewrite.Analysis) *pgerr.Error {
	if c == nil || len(c.madeSince) == 0 || a == nil || a.Err != nil {
		return nil
	}
	for _, st := range a.Statements {
		if !st.Writes && !readsRows(&st) {
			continue // DDL: the catalog is read after it
		}
		for _, t := range st.Tables {
			if c.madeSince[t] && !c.knows(t) {
				return pgerr.Newf(pgerr.SerializationFailure,
					"%s was made after the snapshot phiguard read its catalog in (this transaction's), so phiguard cannot tell whether it reads encrypted columns: this statement did not run; run the transaction again", t.String())
			}
		}
	}
	return nil
}
