// Package cellcheck is the database-side backstop of "never plaintext in
// an encrypted column": a CHECK constraint on every column the policy
// encrypts that refuses any value that is not a cell, whoever writes it.
//
// phiguard analyses each statement against the catalog it read last. DDL
// another session runs in between (a rule that redirects an INSERT, a
// view replaced under a prepared statement) can send a value phiguard
// took for a plain column's into an encrypted one; a proxy cannot see
// that DDL in time (docs/catalog.md). The database can: the CHECK is
// evaluated on the row that is stored, whatever path it took, so such a
// write fails with SQLSTATE 23514 and nothing is stored. The guard words
// that error for the client (guard/cellcheck_error.go) and drops its
// DETAIL, which would echo the value.
//
// # The constraint
//
// Name(col) is "phiguard_<column>_cells" (cut and hashed past 63 bytes as
// search's names are); Expr(col) is
//
//	col IS NULL OR (col COLLATE pg_catalog."C") OPERATOR(pg_catalog.~) 'Pattern'
//
// Pattern is the syntax of a cell of either format (keys/doc.go): the
// prefix "~phg~" and base64url, or "~phs~", the term sections and
// base64url. It checks syntax only, not authenticity: a value shaped like
// a cell passes, and phiguard refuses it on read as an integrity error
// (XX001), never serving it as plaintext. The operator and the collation
// are named in pg_catalog and bound by OID when the constraint is made,
// so no search_path set later can shadow them; no function of phiguard's
// schema is involved, so the CHECK needs nothing installed and holds on a
// database without `phiguard search install`.
//
// # Separate from the terms-present CHECK of search
//
// A column with search terms can also have search's CHECK
// (search.CheckExpr: a "~phs~" prefix). The two stay separate constraints
// because they hold at different times: this one from the end of the
// first `phiguard encrypt` of the column until `phiguard decrypt`, on
// every encrypted column; the terms CHECK only while search_state is
// ready, and it is removed and added back around a term-key change, when
// format-1 cells are legitimate again. Folding one into the other would
// either let plaintext in during a term-key change or refuse the format-1
// cells it writes. Both are recognised the same way: by name and by
// definition.
//
// # Installing and recognising it
//
// Install adds it NOT VALID (a short ACCESS EXCLUSIVE lock, no scan) and
// then validates it (SHARE UPDATE EXCLUSIVE: reads and writes go on while
// the table is scanned), as the table owner; no superuser. A constraint
// of that name counts as phiguard's only when its definition is Expr's as
// PostgreSQL deparses it for a column of the same type (probed on a
// temporary table in a transaction that is rolled back, so the user's
// table is not locked): a CHECK (true) left under the name is refused,
// never taken for the backstop. Inspect reports which of absent, NOT
// VALID, valid or foreign a column's is, for `phiguard check --catalog`.
// `phiguard encrypt` installs it on each column whose census finds no
// plaintext left; `phiguard decrypt` drops it first, since the plaintext
// it writes would fail it.
//
// The package holds SQL and catalog reads only: no key, no cell
// computation, no wire.
package cellcheck
