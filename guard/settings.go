package guard

import (
	"errors"
	"strings"

	"github.com/phiguard/phiguard/internal/pgerr"
	"github.com/phiguard/phiguard/internal/pgwire"
	"github.com/phiguard/phiguard/sqlrewrite"
)

// phiguard reads every statement with pg_query, which is PostgreSQL's own
// parser run on the bytes as they arrive, as UTF-8, with
// standard_conforming_strings on. PostgreSQL lexes the same bytes only
// after converting them from the session's client_encoding, and with the
// session's standard_conforming_strings. Where the two differ, phiguard
// would check one statement and PostgreSQL run another: in Shift-JIS the
// bytes 0x81 0x5C are one character, while phiguard reads 0x5C as a
// backslash that escapes the next quote; with standard_conforming_strings
// off, 'a\' does not end where phiguard thinks. So under a policy a
// session may use neither the client-only encodings (the ones whose
// characters may end in an ASCII byte) nor standard_conforming_strings
// off: they are refused at login, a SET of them is refused by the
// rewriter, and the backend's own report of either (ParameterStatus, after
// a set_config, a function's SET clause, ALTER ROLE ... SET, RESET) ends
// the session before another statement is read.
//
// Login options are settings too: `options=-c search_path=...` would set
// what SET refuses, so for a role with rules the settings the rewriter
// refuses are refused at login as well.

// notSettings are the StartupMessage keys that are not settings.
var notSettings = map[string]bool{"user": true, "database": true, "options": true, "replication": true}

// checkStartupSettings refuses a login whose parameters or options set
// what the session could not set later.
func (s *Session) checkStartupSettings(params map[string]string) *pgerr.Error {
	if s.srv.protect == nil {
		return nil
	}
	role := s.srv.protect.Current().RoleFor(params["user"], s.certSubject())
	restricted := role != nil && !role.Unrestricted()
	if restricted && params["replication"] != "" && params["replication"] != "false" && params["replication"] != "0" {
		return pgerr.Fatal(pgerr.InsufficientPrivilege, "replication connections are not available to role "+role.Name+" through phiguard")
	}
	settings, ok := parseOptions(params["options"])
	if !ok && restricted {
		return pgerr.Fatal(pgerr.FeatureNotSupported, "phiguard accepts only -c name=value and --name=value in the options of a role with rules")
	}
	for k, v := range params {
		if !notSettings[k] {
			settings = append(settings, [2]string{k, v})
		}
	}
	for _, kv := range settings {
		if why := sqlrewrite.SettingProblem(kv[0], kv[1], restricted); why != "" {
			return pgerr.Fatal(pgerr.FeatureNotSupported, why)
		}
	}
	return nil
}

// parseOptions reads the settings of a StartupMessage's options: words
// separated by spaces (a backslash keeps the next character), each
// "-c name=value" (or "-cname=value") or "--name=value". ok is false
// when a word is anything else (another command-line switch).
func parseOptions(opts string) (settings [][2]string, ok bool) {
	words := splitOptions(opts)
	ok = true
	for i := 0; i < len(words); i++ {
		w := words[i]
		var kv string
		switch {
		case w == "-c" && i+1 < len(words):
			i++
			kv = words[i]
		case strings.HasPrefix(w, "-c") && len(w) > 2:
			kv = w[2:]
		case strings.HasPrefix(w, "--"):
			kv = w[2:]
		default:
			ok = false
			continue
		}
		name, value, found := strings.Cut(kv, "=")
		if !found {
			ok = false
			continue
		}
		settings = append(settings, [2]string{name, value})
	}
	return settings, ok
}

func splitOptions(s string) []string {
	var words []string
	var cur strings.Builder
	inWord := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\' && i+1 < len(s):
			i++
			cur.WriteByte(s[i])
			inWord = true
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words
}

// errUnsafeSetting ends a session whose backend reported a setting phiguard
// cannot parse under.
var errUnsafeSetting = errors.New("the backend reported a client_encoding or standard_conforming_strings phiguard cannot parse under")

// checkReportedSetting is the backstop: the backend reports
// client_encoding and standard_conforming_strings whenever they change,
// however they were changed. A value phiguard cannot parse under ends the
// session. Returns the FATAL error to send, or nil.
func (s *Session) checkReportedSetting(body []byte) *pgerr.Error {
	if s.srv.protect == nil {
		return nil
	}
	name, rest, ok := pgwire.Cstring(body)
	if !ok {
		return nil
	}
	value, _, _ := pgwire.Cstring(rest)
	switch string(name) {
	case "TimeZone":
		s.noteTimeZone(string(value))
	case "DateStyle":
		s.noteDateStyle(string(value))
	case "IntervalStyle":
		style := string(value)
		s.intervalStyle.Store(&style)
	case "client_encoding", "standard_conforming_strings":
		if why := sqlrewrite.SettingProblem(string(name), string(value), false); why != "" {
			return pgerr.Fatal(pgerr.FeatureNotSupported, "phiguard ends this session: "+why)
		}
	}
	return nil
}
