// Package search installs and removes what the database needs for
// database-side search terms (docs/design/search-terms.md §2.3, §2.4,
// §7.1): schema phiguard, the four immutable extraction functions that
// read a term out of a format-2 cell, the table phiguard.search_objects
// that records what was built, the term indexes beside each protected
// table, and the CHECK that refuses a cell without terms (or plaintext)
// written around phiguard into a column. An existing constraint of the
// CHECK's name is accepted only when its definition is the CHECK's
// (sameCheck): a CHECK (true) of that name would pass for phiguard's; an
// existing extraction function only when its definition is phiguard's
// (sameFunction).
//
// Everything it creates needs no superuser: LANGUAGE sql functions,
// expression indexes with built-in operator classes (btree on bytea, GIN
// array_ops on bytea[]) and a CHECK constraint; the login must own the
// protected tables, as `phiguard encrypt` needs anyway. It creates no
// operator class and no extension (the design's §2.4 says why).
//
// It also reads a column's collation from the catalog (Collation) and
// opens the libc locale the order and match terms of text are computed
// under, or refuses (ICU, a non-deterministic collation, a server whose C
// library is not phiguard's): the backfill and the install both need it.
//
// The package holds SQL and catalog reads only: it computes no term and
// holds no key (keys and cellcipher do that).
package search
