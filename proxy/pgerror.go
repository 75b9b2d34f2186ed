package proxy

import "github.com/jackc/pgx/v5/pgproto3"

// Code is a SQLSTATE, the five-character error code every PostgreSQL
// client understands. Errors phiguard raises itself always carry one.
type Code string

// SQLSTATEs phiguard raises on its own behalf.
const (
	CodeProtocolViolation   Code = "08P01"
	CodeConnectionFailure   Code = "08006"
	CodeInvalidAuthSpec     Code = "28000"
	CodeTooManyConnections  Code = "53300"
	CodeAdminShutdown       Code = "57P01"
	CodeCannotConnectNow    Code = "57P03"
	CodeFeatureNotSupported Code = "0A000"
	CodeInternalError       Code = "XX000"
	CodeDataCorrupted       Code = "XX001"
	CodeKeyUnavailable      Code = "58000"
	// CodeInsufficientPrivilege refuses what an access rule forbids.
	CodeInsufficientPrivilege Code = "42501"
)

// Severity of an error raised by phiguard: FATAL ends the session, ERROR
// ends only the current statement.
const (
	severityError = "ERROR"
	severityFatal = "FATAL"
)

// pgError is an error phiguard reports to a client as an ErrorResponse. Its
// message is written for the client; internal detail belongs in the log.
type pgError struct {
	Severity string
	Code     Code
	Message  string
	Detail   string
	Hint     string
}

func (e *pgError) Error() string { return string(e.Code) + ": " + e.Message }

// encode renders the error as a wire message.
func (e *pgError) encode() []byte {
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

func fatal(code Code, message string) *pgError {
	return &pgError{Severity: severityFatal, Code: code, Message: message}
}

// errorField returns the value of one field (e.g. 'C' for the SQLSTATE,
// 'V' for the unlocalized severity) of an ErrorResponse body, scanning in
// place rather than decoding the whole message.
func errorField(body []byte, field byte) ([]byte, bool) {
	for len(body) > 0 && body[0] != 0 {
		f := body[0]
		val, rest, ok := cstring(body[1:])
		if !ok {
			return nil, false
		}
		if f == field {
			return val, true
		}
		body = rest
	}
	return nil, false
}

// sqlstateClass returns the two-character class of the SQLSTATE in an
// ErrorResponse body, or "??" when the body carries none.
func sqlstateClass(body []byte) string {
	if code, ok := errorField(body, 'C'); ok && len(code) >= 2 {
		return string(code[:2])
	}
	return "??"
}

// isFatal reports whether an ErrorResponse body has severity FATAL or
// PANIC. The unlocalized 'V' field is preferred; servers before 9.6 send
// only the localized 'S'.
func isFatal(body []byte) bool {
	sev, ok := errorField(body, 'V')
	if !ok {
		sev, _ = errorField(body, 'S')
	}
	return string(sev) == "FATAL" || string(sev) == "PANIC"
}
