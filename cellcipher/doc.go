// Package cellcipher is the one column cipher: how a protected column's
// values become cells and cells become values again, for the proxy and the
// backfill alike. It decides, per column, the encryption mode, the
// associated data a cell is bound to, whether the cell is sealed under the
// column key or its row's subject key, and what a stored value that is not
// a cell (legacy plaintext) means. Before it existed the proxy and the
// backfill each wrote this down and agreed only because a comment said so.
//
// It also turns a column's canonical value into the inputs of its
// database-side search terms (terms.go; docs/design/search-terms.md §4):
// the equality input q, the sort input s_P (internal/pgorder's SortKey, or
// under a libc collation internal/pgcollate's first-level strxfrm key, cut
// to the type's width P), the lowered text n and its match tokens M and
// prefix token X, keyed by keys.Terms whose domain is the column, or for a
// deterministic column its key (the cells' own associated data).
// SealWithTerms (seal_terms.go) seals a column with `search` as a
// format-2 cell carrying the terms its policy lists under its
// search_key_version (keys.WithTerms), computed with the column key even
// when the cell is sealed per subject; Open reads such cells as any
// other. The proxy's writes of a column with `search` call SealWithTerms
// with the column's collation from its catalog, and so does the backfill
// (backfill/terms.go) with the collation search.ColumnCollation reads.
// EqualityCandidates (candidates.go) lists the
// texts a deterministic column's cell of a value may have: per live key
// version, with the value's terms and, until search_state is ready,
// without (cells written before the column gained `search`); while
// search_state is rekeying, with the terms of every loaded version
// (TermVersions, term_versions.go; docs/design/search-terms.md §5.3).
// MatchPatternTerms (match_pattern.go) turns a LIKE or ILIKE pattern, in
// the form like_escape gives it, into the prefix key and match tokens
// every matching value's cell holds (design §4.5): what the proxy sends
// in the pattern's place.
//
// It knows keys (the cell format and key material), policy (the column's
// mode, key, type and subject column), and PostgreSQL's value formats,
// orders and libc collations (pgvalue, pgorder, pgcollate); it knows
// nothing of SQL or the wire.
package cellcipher
