package sqlrewrite

import (
	"strconv"
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v5"
)

// phiguard parses statements with pg_query as UTF-8 with
// standard_conforming_strings on; a session whose client_encoding or
// standard_conforming_strings make PostgreSQL lex the same bytes otherwise
// would run statements phiguard never saw. SettingProblem is the one
// judgement of which values are safe, used by the rewriter (SET), and by
// the proxy at login and on the backend's reports.

// unsafeEncodings are PostgreSQL's client-only encodings and their
// aliases, normalized by normEncoding.
var unsafeEncodings = map[string]bool{
	"SJIS": true, "SHIFTJIS": true, "MSKANJI": true, "WIN932": true, "WINDOWS932": true,
	"SHIFTJIS2004": true, "BIG5": true, "WIN950": true, "WINDOWS950": true,
	"GBK": true, "WIN936": true, "WINDOWS936": true, "CP936": true,
	"UHC": true, "WIN949": true, "WINDOWS949": true, "GB18030": true, "JOHAB": true,
}

// normEncoding is an encoding name as PostgreSQL compares them: case and
// every character but letters and digits ignored.
func normEncoding(v string) string {
	var b strings.Builder
	for _, r := range strings.ToUpper(strings.TrimSpace(v)) {
		if r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// settingValue is a SET argument as text: a string, number or keyword
// (`SET standard_conforming_strings = off`).
func settingValue(n *pg_query.Node) string {
	c := n.GetAConst()
	switch {
	case c == nil:
		return ""
	case c.GetSval() != nil:
		return c.GetSval().GetSval()
	case c.GetIval() != nil:
		return strconv.Itoa(int(c.GetIval().GetIval()))
	case c.GetBoolval() != nil:
		return strconv.FormatBool(c.GetBoolval().GetBoolval())
	}
	return ""
}

// SettingProblem says why a setting may not take this value in a session
// under a policy, or "". restricted adds the settings a role with rules
// may not change at all.
func SettingProblem(name, value string, restricted bool) string {
	name = strings.ReplaceAll(strings.ToLower(name), "-", "_")
	switch name {
	case "client_encoding":
		if unsafeEncodings[normEncoding(value)] {
			return "client_encoding " + value + " is not supported through phiguard: its characters may end in an ASCII byte, so phiguard would read another statement than PostgreSQL runs; use UTF8"
		}
	case "standard_conforming_strings":
		if v := strings.ToLower(strings.TrimSpace(value)); v != "on" && v != "true" && v != "1" && v != "yes" && v != "" {
			return "standard_conforming_strings must stay on through phiguard: off, backslashes in '...' strings would make phiguard read another statement than PostgreSQL runs"
		}
	}
	if restricted && settingsRefused[name] {
		return "setting " + name + " changes name resolution or identity and may not be set by a role with rules"
	}
	return ""
}
