// Package proxy is phiguard's PostgreSQL wire-protocol proxy: it accepts
// client connections and relays each to its own backend connection. It
// knows messages and bytes, nothing of policy: under a policy or an audit
// trail every message passes the session's guard (package guard) first.
//
// # Layers
//
// The wire (server.go, admission.go, session.go, startup.go, login.go,
// auth.go, backend.go, cancel.go, pump_client.go, pump_backend.go,
// drain.go, wire.go, frontend.go, tlsconfig.go, startlog.go, ready.go) is
// admission, framing, TLS, the startup and authentication relay, cancel
// routing, the two pumps and graceful drain. It forwards every message as
// its original bytes unless the guard returns a replacement: the client
// pump asks guard.Session.ClientMessage, the backend pump
// guard.Session.BackendMessage. What the guard asks of the wire in return
// (flushes, the requests in flight, waking the client pump) a session
// answers as guard.Wire (guard_wire.go). The wire imports no SQL parser, no
// policy and no keys (make lint's layercheck): a statement's text reaches
// sqlrewrite in the guard's ClientMessage. The message tags and reader both
// use are internal/pgwire's.
//
// # A session's life
//
// accept (a startup slot, or a short wait for one, else 53300: admission.go)
// → negotiate (SSLRequest, GSSENCRequest, CancelRequest, protocol version)
// → check the login's settings (the guard's CheckStartupSettings) → dial
// the backend → relay authentication → the guard reads the session's
// catalog (protected columns, views over them) and, for a role with
// rules, the database objects (FirstReady) → give back
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
// The client pump owns the backend writer, the backend pump the client
// writer; each calls the guard only for the messages it reads, so the
// guard's state follows the same split (package guard says which field
// each pump owns). They share the in-flight list, the transaction status
// of the last ReadyForQuery and the drain flags (session.mu, drain.go).
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
package proxy
