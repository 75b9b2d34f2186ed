package audit

import (
	"time"

	"github.com/phiguard/phiguard/sqlrewrite"
)

// Session is what every record of one client connection repeats. The proxy
// fills it once the user is authenticated and passes the same pointer with
// each event. The writer goroutine reads it when it encodes a record, so
// it must not change once it has been passed to Record (a changed role
// means a new Session).
type Session struct {
	ID          string // proxy-issued session id
	Client      string // client address, host:port
	TLSVersion  string // "TLS1.3", ...; empty for plaintext
	CertSubject string // client certificate subject, if one was presented
	User        string // authenticated database user
	Role        string // policy role the user maps to
	Database    string
}

// Decision is the policy's verdict on a statement.
type Decision string

// Decisions.
const (
	Allow Decision = "allow" // ran under the role's rules
	// AllowBreakGlass ran with the role's row rules lifted by break-glass.
	AllowBreakGlass Decision = "allow_break_glass"
	Deny            Decision = "deny"  // refused by policy
	Error           Decision = "error" // refused because phiguard could not process it (parse, keys, audit)
)

// Event is one thing the auditor records: *Statement, *Refusal,
// *ConnectionOpen, *ConnectionClose, *AuthFailure, *BreakGlass, *KeyEvent
// or *PolicyReload. The set is closed: the auditor only accepts its own
// types, so no caller can hand it a raw SQL string or a free-form record.
//
// Record hands the event itself to the writer goroutine, which encodes it
// later: once passed to Record, an event and everything it points to
// (Session, Read, Written, Subjects) belong to the auditor and must not be
// changed. Analyses are immutable already.
type Event interface {
	encode(e *Entry, enc *encoder)
}

// Statement is one statement that ran (or failed in the backend). The SQL
// comes only as an analysis: the auditor records its normalized text, with
// every constant replaced by a placeholder, and a fingerprint of that text.
// There is deliberately no field for parameters, literals or error
// messages (a backend message can quote a value: "Key (ssn)=(...) already
// exists"); the SQLSTATE says what went wrong.
type Statement struct {
	Time    time.Time // when the statement reached phiguard; zero means now
	Session *Session
	// Analysis is the statement's text as analysed, Index which of its
	// statements this record is about (a simple Query may hold several).
	Analysis *sqlrewrite.Analysis
	Index    int
	Protocol Protocol
	// Read and Written are the protected columns the statement reads and
	// writes, as schema.table.column.
	Read, Written []string
	Decision      Decision
	Rule          string // the rule behind the decision, if one applied
	// Rows is the number of rows returned or affected.
	Rows int64
	// Subjects lists, per table with a subject column, the subject ids in
	// the rows returned or changed (see SubjectSet).
	Subjects []*SubjectSet
	Duration time.Duration
	SQLState string // "00000" on success
	// Tables, when set, are the tables the statement reads through
	// something it names without them: a FETCH lists its cursor's.
	Tables []string
	// Outcome is Interrupted for a statement the session's end cut off
	// before the backend answered (a shutdown, a lost backend or client):
	// it reached the database, and whether it took effect is unknown.
	// Empty otherwise.
	Outcome string
}

// Interrupted is the Outcome of a statement cut off by the end of its
// session.
const Interrupted = "interrupted"

// Refusal is a statement phiguard refused (policy, an unsafe construct, a
// key or audit failure): it never reached the backend.
type Refusal struct {
	Time     time.Time
	Session  *Session
	Analysis *sqlrewrite.Analysis
	Index    int
	Protocol Protocol
	// Read and Written are the protected columns the statement asked for.
	Read, Written []string
	Decision      Decision // Deny or Error
	Rule          string   // the rule that refused it
	SQLState      string   // the SQLSTATE the client was sent
}

// Protocol is how a statement arrived.
type Protocol string

// Protocols.
const (
	Simple   Protocol = "simple"
	Extended Protocol = "extended"
	Copy     Protocol = "copy"
	// FunctionCall is the fast-path FunctionCall message: the record's SQL
	// names the function by OID.
	FunctionCall Protocol = "function_call"
)

// ConnectionOpen is a session that passed authentication.
type ConnectionOpen struct {
	Time    time.Time
	Session *Session
}

// ConnectionClose is the end of a session.
type ConnectionClose struct {
	Time       time.Time
	Session    *Session
	Duration   time.Duration // how long the session lasted
	Statements int64         // statements it ran
	Reason     string        // terminate, client_eof, backend_eof, shutdown, error
}

// AuthFailure is a startup that did not end in a session.
type AuthFailure struct {
	Time    time.Time
	Session *Session // User and Database as the client asked; Role empty
	Reason  string   // password, no_certificate, tls_required, backend_unreachable, ...
	// SQLState is what the client was sent (28P01, 28000, 08006, ...).
	SQLState string
}

// BreakGlass is a `SET phiguard.break_glass = '<reason>'`, granted or not.
// Reason is the one free-text field of the audit trail: it is the user's
// own justification and is kept (up to 512 bytes) because reviewing it is
// the point of break-glass. It should name a ticket, not a patient.
type BreakGlass struct {
	Time     time.Time
	Session  *Session
	Reason   string
	Granted  bool
	Rule     string // the role rule that allows (or does not allow) it
	SQLState string
}

// KeyEvent is a key being loaded, initialised, rotated or shredded.
type KeyEvent struct {
	Time    time.Time
	Action  string // load, init, rotate, shred
	KeyID   string
	Version uint32
	// Subject is the subject whose key was shredded (shred only).
	Subject string
	// Reason is the operator's justification of a shred (a ticket or the
	// request's reference, never a patient's details); kept up to 512 bytes.
	Reason string
	// Outcome is what a shred found: destroyed, already_shredded or no_key.
	Outcome string
	// Error is the provider's error when the action failed; empty on success.
	Error string
}

// ShreddedRead is a session meeting cells whose subject key was shredded:
// phiguard returned NULL (or the configured marker) in their place. One
// record per session, subject key and column, not one per cell. KeyID is
// the subject key's id ("subj." + tag): the cell names its subject only by
// tag, so phiguard does not know the subject id itself.
type ShreddedRead struct {
	Time    time.Time
	Session *Session
	KeyID   string
	Column  string // schema.table.column
}

// PolicyReload is the policy file being loaded or reloaded.
type PolicyReload struct {
	Time     time.Time
	File     string
	Version  string // the policy's content version
	Accepted bool
	Problems int // validation problems when rejected
}
