// Package guard is what every message of a protected or audited session
// passes: phiguard's enforcement, behind the wire (package proxy). It
// owns request/answer tracking, the session's statements, portals and
// settings, the column ciphers, access decisions on statements and
// results, and the audit records; the wire owns the connections.
//
// # Two calls
//
// The wire consults a Session through two calls: ClientMessage for each
// client message and BackendMessage for each backend message
// (session_api.go lists them with the steps around them). It analyses every
// statement, tracked or not, inside a gate that bounds the memory of
// statements under analysis (parsegate.go; memory.go holds the server's
// worst-case heap), plans statements with sqlrewrite (encryption plan,
// access rewrite; a name inside a subquery bound by what the session's
// catalog says of its tables and of the functions called in FROM,
// catalog_unshadowed.go, catalog_functions.go, and sent qualified where
// the catalog binds it to an inner table, with a probe that the inner
// tables it passes still lack it, the database's error for either
// turned into a refusal, catalog_qualified.go), seals values with
// cellcipher, applies column rules to
// results, holds, filters and sorts the rows of a statement ordered or
// filtered by an encrypted column (protect_sort.go, protect_filter.go,
// protect_subfilter.go for a filter inside IN or EXISTS (SELECT ...),
// protect_filter_tree.go for filters under OR or NOT, protect_having.go for
// a grouped statement's HAVING, protect_like.go, protect_fold.go for ILIKE
// and lower()/upper(), collation.go and protect_ctype.go for text under a
// libc collation, docs/search.md; a filter's constants it reads itself from
// the text and the Bind and never sends, filter_args.go; on a column whose
// search terms are ready it sends their terms instead, protect_search.go,
// and a LIKE's pattern's prefix key and match tokens,
// protect_search_like.go, at each Bind in a variant of the statement for a
// parameter pattern, protect_search_variants.go, and runs an ORDER BY ...
// LIMIT or a min/max through an order term in rounds, protect_rounds.go,
// exact over a shredded subject's cells whose terms are still their old
// value's, rounds_shredded.go, prepares a sorted read sent as a fully
// qualified unnamed statement once per session under its own name and
// binds that again, plan_reuse.go, and leaves out the term conjuncts of a
// column whose WHERE conjuncts the shredded marker satisfies (at a Bind,
// in a variant), shred_marker_terms.go; a write of a text column with order or
// match terms checks in the statement that the column still has the
// collation they were computed under, collation_guard.go;
// while they are rekeying it sends the equality term under every loaded
// version, protect_term_versions.go), tracks which answer belongs to which
// request (expect.go), and writes one audit record per statement.
// What it does for every message of a protected session reuses its
// buffers rather than allocate: expectations (expect.go), Binds it
// rewrites (bind_rewrite.go), DataRows it decrypts and descriptions it
// has mapped before (protect_result.go, described.go); the rows it holds
// for a proxy-side sort keep their bytes and keys in chunks shared by the
// result's rows (sort_arena.go) and are compared in place (sort_compare.go;
// a plaintext key the database sent as its value, sort_native.go); once a
// sorted result is sent, the session keeps its buffers, cleared and
// bounded, for the next (sort_spare.go, docs/memory.md).
//
// # What it asks of the wire
//
// The guard never imports the wire. NewSession makes a session's guard at
// login; Connect gives it the two directions' readers and writers
// (internal/pgwire) and a Wire: the flushes, whether every request is
// answered, pairing a ReadyForQuery the guard sent itself with its
// request, and waking the client pump for phiguard's abort (txabort.go).
// Shared is what the sessions of one server share: the configuration,
// the Protection (policy, keys; reload.go), the auditor, the metrics, the
// statement analyses and access rewrites, and each database's Objects
// and latest snapshot of its catalog's names (catalog_shared.go), and the
// whole catalog reads kept for its sessions of the same role, path and
// settings to take after another session's DDL (catalog_coalesce.go).
//
// # Who owns what
//
// A Session's type says which pump owns what. Its embedded clientOwned
// is the client pump's alone: the client reader, the backend writer and
// the client-side plans (clientStmts, clientPortals, copyIn, unsettled
// re-Parses). Its embedded backendOwned is the backend pump's: the
// backend reader, the client writer and what the backend confirmed
// (stmts, portals, the current result). The fields of Session itself are
// set before the pumps start or shared, each synchronized by its own
// type: the expectation queue and the refusal queue (a mutex inside), the
// session's catalog, access state and reported settings (atomics), its
// database's DDL epoch (an atomic counter the database's sessions share,
// catalog_epoch.go), the
// wire's in-flight list (Wire.Settled), and the settlement of a re-Parse
// (a channel the backend pump closes). A refusal
// is a marker statement sent in place of the refused one, so the backend's
// error keeps the protocol in order; the backend pump swaps it for
// phiguard's own error (protect_query.go).
//
// # Failing closed
//
// A write that reaches an encrypted column by a path the analysis did not
// see (a rule or view another session changed after the catalog read) is
// refused by the database when the column has its cells-only CHECK
// (package cellcheck); the guard words that 23514 (cellcheck_error.go),
// naming the column, and drops its DETAIL, which would show the value.
//
// A statement phiguard cannot analyse that touches protected data, a
// message type it does not know, a setting under which it would parse
// another statement than PostgreSQL runs, a result whose shape it does not
// know, and a statement on PHI without room for its audit record are all
// refused; the session survives every statement-level refusal. Checks
// phiguard writes into a statement fail it from inside, and the backend
// pump swaps their errors for its own (replaceRefusal): a stale column
// list or default, a table name that resolves elsewhere, and a
// comparison on deterministic cells whose operator search_path resolves
// outside pg_catalog (sqlrewrite/operator_guard.go), checked before the
// statement reads or writes its first row.
//
// An error phiguard raises after the backend ran the statement
// (failResult: a cell it cannot decrypt, a sort past its cap) leaves the
// backend's transaction in good state. Inside a transaction block the
// backend pump holds the ReadyForQuery back and the client pump sends a
// statement of phiguard's own that only fails, at the first point where
// nothing of the client's is queued in the backend (txabort.go); the
// client gets that statement's ReadyForQuery 'E', and PostgreSQL itself
// answers what follows as after its own error (25P02, COMMIT → ROLLBACK).
//
// # phiguard's own reads
//
// The catalog, the objects, the stamp, the output settings, a table's
// columns and the search path followed are read on the client's own
// connection, as the extended protocol under a name of phiguard's
// (own_messages.go), so that the client's unnamed statement survives
// them, and under the read's own statement_timeout. A read that fails
// part way (a cancel, the client's lock_timeout) is put back
// (own_recover.go): its names closed and, in the client's transaction
// block, where it ran inside a savepoint of phiguard's, rolled back to
// that savepoint, so that the client's block goes on as in PostgreSQL.
package guard
