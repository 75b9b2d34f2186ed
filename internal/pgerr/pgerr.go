package pgerr

import (
	"fmt"

	"github.com/jackc/pgx/v5/pgproto3"
)

// Code is a SQLSTATE, the five-character error code every PostgreSQL
// client understands.
type Code string

// The SQLSTATEs phiguard raises on its own behalf, by what they mean.
const (
	// SuccessfulCompletion: what the audit trail records for a statement
	// that succeeded.
	SuccessfulCompletion Code = "00000"
	// ConnectionFailure: the backend is unreachable, or a request was cut
	// off with its connection.
	ConnectionFailure Code = "08006"
	// ProtocolViolation: a malformed, oversized or unknown message.
	ProtocolViolation Code = "08P01"
	// FeatureNotSupported: a construct phiguard cannot run on an
	// encrypted column, or a protocol path it cannot check.
	FeatureNotSupported Code = "0A000"
	// InvalidTextRepresentation: a value that does not parse as its
	// column's type.
	InvalidTextRepresentation Code = "22P02"
	// InvalidBinaryRepresentation: a binary parameter that is not a
	// value of the type it was declared as.
	InvalidBinaryRepresentation Code = "22P03"
	// StringDataRightTruncation, NumericValueOutOfRange,
	// InvalidDatetimeFormat and DatetimeFieldOverflow: a value for an
	// encrypted column that PostgreSQL would refuse on the plaintext
	// column with the same SQLSTATE (too long for varchar(n); out of the
	// type's range; not a date or time; a date or time out of range).
	StringDataRightTruncation Code = "22001"
	NumericValueOutOfRange    Code = "22003"
	InvalidDatetimeFormat     Code = "22007"
	DatetimeFieldOverflow     Code = "22008"
	// The other codes PostgreSQL's input functions raise, which phiguard
	// raises for an encrypted column's value as PostgreSQL would for the
	// plaintext column's (internal/pgvalue): a time zone offset out of
	// range, an interval field out of range, a byte sequence invalid in
	// the encoding, a \u0000 escape in jsonb, a bad hexadecimal digit in
	// bytea, and an array's bounds.
	InvalidTimeZoneDisplacementValue Code = "22009"
	IntervalFieldOverflow            Code = "22015"
	CharacterNotInRepertoire         Code = "22021"
	InvalidParameterValue            Code = "22023"
	ArraySubscriptError              Code = "2202E"
	UntranslatableCharacter          Code = "22P05"
	// DatatypeMismatch and UndefinedFunction: an unquoted number stored
	// into, or compared with, an encrypted column of a type PostgreSQL
	// has no such assignment or operator for (a date, a text compared).
	DatatypeMismatch  Code = "42804"
	UndefinedFunction Code = "42883"
	// UndefinedColumn: the database's error for a name phiguard sent
	// qualified whose table lost the column (sqlrewrite.QualifiedNameRefusal).
	UndefinedColumn Code = "42703"
	// AmbiguousColumn: the database's error for a probe phiguard sent
	// whose item gained the name it must lack (sqlrewrite.LackedNameRefusal).
	AmbiguousColumn Code = "42702"
	// BadCopyFileFormat: malformed COPY data.
	BadCopyFileFormat Code = "22P04"
	// NotNullViolation: a NULL where a value is required.
	NotNullViolation Code = "23502"
	// CheckViolation: a row failed a CHECK constraint (PostgreSQL's; the
	// guard words the one of phiguard's cells-only CHECK, package cellcheck).
	CheckViolation Code = "23514"
	// UniqueViolation and DuplicateTable: two sessions' CREATE TABLE IF
	// NOT EXISTS of one table at once (the loser's catalog insert).
	UniqueViolation Code = "23505"
	DuplicateTable  Code = "42P07"
	// InvalidAuthSpec: the connection does not meet phiguard's TLS or
	// certificate requirements.
	InvalidAuthSpec Code = "28000"
	// SyntaxError: a statement phiguard cannot parse, for a role that may
	// only run statements phiguard can analyse.
	SyntaxError Code = "42601"
	// InvalidCatalogName: the database a client asked for does not
	// exist (PostgreSQL's, recognised by the proxy, not raised by it).
	InvalidCatalogName Code = "3D000"
	// InsufficientPrivilege: refused by an access rule.
	InsufficientPrivilege Code = "42501"
	// TooManyConnections: limits.max_connections, or a cap on connections
	// still in startup (limits.max_startup_*), reached.
	TooManyConnections Code = "53300"
	// ProgramLimitExceeded: a statement needs more than a configured
	// limit allows (a proxy-side sort past limits.proxy_sort_rows).
	ProgramLimitExceeded Code = "54000"
	// InvalidRowCountInLimit and InvalidRowCountInResultOffset: a
	// negative LIMIT or OFFSET, as PostgreSQL reports them.
	InvalidRowCountInLimit        Code = "2201W"
	InvalidRowCountInResultOffset Code = "2201X"
	// InvalidEscapeSequence: a LIKE pattern ending in its escape, as
	// PostgreSQL reports it (a proxy-side LIKE).
	InvalidEscapeSequence Code = "22025"
	// UndefinedParameter: a $n a simple Query has no value for, as
	// PostgreSQL reports it (phiguard reads a filter's constants itself).
	UndefinedParameter Code = "42P02"
	// SubjectShredded (object_not_in_prerequisite_state) answers a write
	// for a subject whose key was shredded: the subject's data is gone for
	// good and phiguard does not start a new key for it.
	SubjectShredded Code = "55000"
	// PortalCannotRun (object_not_in_prerequisite_state): an Execute of a
	// portal whose result phiguard failed, as PostgreSQL answers one
	// whose run failed (guard/portions.go).
	PortalCannotRun Code = "55000"
	// SerializationFailure: the statement met a concurrent change (the
	// columns of a table it names changed under another session's DDL)
	// and wrote nothing; running it again is the remedy.
	SerializationFailure Code = "40001"
	// DeadlockDetected and LockNotAvailable: PostgreSQL's, on which the
	// backfill retries a batch (with SerializationFailure).
	DeadlockDetected Code = "40P01"
	LockNotAvailable Code = "55P03"
	// AdminShutdown: phiguard is shutting down.
	AdminShutdown Code = "57P01"
	// CannotConnectNow: phiguard (or the database) is starting or draining.
	CannotConnectNow Code = "57P03"
	// KeyUnavailable (system_error): the key service cannot serve a key.
	KeyUnavailable Code = "58000"
	// AuditUnavailable (io_error): the audit trail cannot record the
	// statement, so it does not run.
	AuditUnavailable Code = "58030"
	// InternalError: a bug; details go to the log, not the client.
	InternalError Code = "XX000"
	// DataCorrupted: a cell failed its integrity check.
	DataCorrupted Code = "XX001"
)

// Class is the code's two-character class ("42" for 42501).
func (c Code) Class() string {
	if len(c) < 2 {
		return "??"
	}
	return string(c[:2])
}

// Severities: FATAL ends the session, ERROR only the current statement.
const (
	SeverityError = "ERROR"
	SeverityFatal = "FATAL"
)

// Error is an error phiguard reports to a client as an ErrorResponse. Its
// message is written for the client (it names the table, column and rule,
// never a value); internal detail belongs in the log.
type Error struct {
	Severity string
	Code     Code
	Message  string
	Detail   string
	Hint     string
}

// New is a statement-level error: the session goes on.
func New(code Code, message string) *Error {
	return &Error{Severity: SeverityError, Code: code, Message: message}
}

// Newf is New with a formatted message.
func Newf(code Code, format string, args ...any) *Error {
	return New(code, fmt.Sprintf(format, args...))
}

// Fatal is an error that ends the session.
func Fatal(code Code, message string) *Error {
	return &Error{Severity: SeverityFatal, Code: code, Message: message}
}

func (e *Error) Error() string { return string(e.Code) + ": " + e.Message }

// Encode renders the error as an ErrorResponse message.
func (e *Error) Encode() []byte {
	msg := &pgproto3.ErrorResponse{
		Severity:            e.Severity,
		SeverityUnlocalized: e.Severity,
		Code:                string(e.Code),
		Message:             e.Message,
		Detail:              e.Detail,
		Hint:                e.Hint,
	}
	b, err := msg.Encode(nil)
	if err != nil {
		// Only an over-long message could fail to encode, and ours are short.
		panic("BUG: encoding phiguard's own ErrorResponse: " + err.Error())
	}
	return b
}
