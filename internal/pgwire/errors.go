package pgwire

// phiguard's own errors are pgerr.Errors (internal/pgerr holds the one
// SQLSTATE vocabulary); this file reads the backend's ErrorResponses.

// ErrorField returns the value of one field (e.g. 'C' for the SQLSTATE,
// 'V' for the unlocalized severity) of an ErrorResponse body, scanning in
// place rather than decoding the whole message.
func ErrorField(body []byte, field byte) ([]byte, bool) {
	for len(body) > 0 && body[0] != 0 {
		f := body[0]
		val, rest, ok := Cstring(body[1:])
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

// SQLStateClass returns the two-character class of the SQLSTATE in an
// ErrorResponse body, or "??" when the body carries none.
func SQLStateClass(body []byte) string {
	if code, ok := ErrorField(body, 'C'); ok && len(code) >= 2 {
		return string(code[:2])
	}
	return "??"
}

// IsFatal reports whether an ErrorResponse body has severity FATAL or
// PANIC. The unlocalized 'V' field is preferred; servers before 9.6 send
// only the localized 'S'.
func IsFatal(body []byte) bool {
	sev, ok := ErrorField(body, 'V')
	if !ok {
		sev, _ = ErrorField(body, 'S')
	}
	return string(sev) == "FATAL" || string(sev) == "PANIC"
}
