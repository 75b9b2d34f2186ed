// Package proxy is phiguard's PostgreSQL wire-protocol proxy: it accepts
// client connections, relays each to its own backend connection, and —
// under a policy or an audit trail — is the guard every message passes.
//
// # Layers
//
// The wire (server.go, admission.go, session.go, startup.go, login.go,
// auth.go, cancel.go, pump_client.go, pump_backend.go, drain.go, wire.go,
// tlsconfig.go, startlog.go, ready.go) knows messages and bytes:
// admission, framing, TLS, the startup and authentication relay, cancel
// routing, the two pumps and graceful drain. It forwards every
// message as its original bytes unless the guard returns a replacement.
//
// The guard (the protect_*, access*, audit, fastpath, settings, datetime, output, reparse,
// redact, catalog and txabort files) is consulted through two calls:
// protectClient for each client message and protectBackend for each
// backend message. It plans statements with sqlrewrite (encryption plan,
// access rewrite), seals values with cellcipher, applies column rules to
// results, holds, filters and sorts the rows of a statement ordered or
// filtered by an encrypted column (protect_sort.go, protect_filter.go,
// protect_subfilter.go for a filter inside IN or EXISTS (SELECT ...),
// protect_filter_tree.go for filters under OR or NOT, protect_having.go
// for a grouped statement's HAVING,
// protect_like.go, protect_fold.go for ILIKE and lower()/upper(),
// collation.go and protect_ctype.go for text under a libc collation,
// docs/search.md; a filter's constants it reads itself from the text and
// the Bind and never sends, filter_args.go; on a column whose search terms
// are ready it sends their terms instead, protect_search.go, and a LIKE's
// pattern's prefix key and match tokens, protect_search_like.go, at each
// Bind in a variant of the statement for a parameter pattern,
// protect_search_variants.go, and runs an ORDER BY ... LIMIT or a
// min/max through an order term in rounds, protect_rounds.go; while they
// are rekeying it sends the equality term under every loaded version,
// protect_term_versions.go), tracks which answer belongs to
// which request (expect.go), and writes one audit record per statement.
// What it does for every message of a protected session reuses its
// buffers rather than allocate: expectations (expect.go), Binds it
// rewrites (bind_rewrite.go), DataRows it decrypts and descriptions it
// has mapped before (protect_result.go, described.go); the rows it holds
// for a proxy-side sort keep their bytes and keys in chunks shared by the
// result's rows (sort_arena.go) and are compared in place (sort_compare.go;
// a plaintext key the database sent as its value, sort_native.go). The redesign of issue 11 moves it
// into a package of its own; the file split already follows that line.
//
// # A session's life
//
// accept (a startup slot, or a short wait for one, else 53300: admission.go)
// → negotiate (SSLRequest, GSSENCRequest, CancelRequest, protocol version)
// → check the login's settings (settings.go) → dial the backend → relay
// authentication → read the session's catalog (protected columns, views
// over them) and, for a role with rules, the database objects → give back
// the startup slot → two pumps until either side leaves → record requests
// cut off → close.
//
// # Admission and deadlines
//
// Until it is authenticated a connection is anyone's, so everything it can
// hold is bounded: startup slots overall and per client address, a
// bounded queue of connections waiting for one, limits.startup_timeout on
// the client leg and backend.auth_timeout on the backend leg of a login
// (login.go tags the backend leg's errors, so a backend that hangs is
// reported to the client as 08006 and a client that hangs is just closed),
// and a rate limit on the log lines failed startups cause (startlog.go).
// The accept loop never gives up on an error other than its listener
// being closed: out of descriptors it backs off and goes on.
//
// # Who owns what
//
// The client pump owns the backend writer and the client-side plans
// (clientStmts, clientPortals, copyIn, unsettled re-Parses). The backend
// pump owns the client writer and what the backend confirmed (stmts,
// portals, the current result). They share only: the expectation queue
// (a mutex), the refusal queue (a mutex), the session's catalog and access
// state (atomic pointers), the in-flight list (session.mu), and the
// settlement of a re-Parse (a channel the backend pump closes). A refusal
// is a marker statement sent in place of the refused one, so the backend's
// error keeps the protocol in order; the backend pump swaps it for
// phiguard's own error (protect_query.go).
//
// # Readiness
//
// CheckListener and CheckBackend answer /readyz's question for the wire:
// would a client connecting now get a session? Not while draining, while
// the accept loop is down or its Accept failing, at
// limits.max_connections, or while the backend refuses sessions. The
// backend check is a real StartupMessage for backend.probe_user: an
// authentication request is a yes (the probe hangs up there, needing no
// password); an ErrorResponse before authentication (57P03 starting up,
// shutting down or in recovery; 53300) is a *BackendRefusal; no answer in
// time (a stopped postmaster still accepts TCP) is ErrBackendUnreachable.
//
// # Failing closed
//
// A statement phiguard cannot analyse that touches protected data, a
// message type it does not know, a setting under which it would parse
// another statement than PostgreSQL runs, a result whose shape it does not
// know, and a statement on PHI without room for its audit record are all
// refused; the session survives every statement-level refusal.
//
// An error phiguard raises after the backend ran the statement
// (failResult: a cell it cannot decrypt, a sort past its cap) leaves the
// backend's transaction in good state. Inside a transaction block the
// backend pump holds the ReadyForQuery back and the client pump sends a
// statement of phiguard's own that only fails, at the first point where
// nothing of the client's is queued in the backend (txabort.go); the
// client gets that statement's ReadyForQuery 'E', and PostgreSQL itself
// answers what follows as after its own error (25P02, COMMIT → ROLLBACK).
package proxy
