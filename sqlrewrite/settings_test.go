package sqlrewrite

import "testing"

func TestSettingProblem(t *testing.T) {
	cases := []struct {
		name, value string
		restricted  bool
		bad         bool
	}{
		{"client_encoding", "UTF8", false, false},
		{"client_encoding", "latin1", false, false},
		{"client_encoding", "SJIS", false, true},
		{"client_encoding", "shift_jis", false, true},
		{"client_encoding", "Windows-932", false, true},
		{"client_encoding", "big5", false, true},
		{"client_encoding", "GB18030", false, true},
		{"standard_conforming_strings", "on", false, false},
		{"standard_conforming_strings", "off", false, true},
		{"standard_conforming_strings", "false", false, true},
		{"search_path", "public", false, false},
		{"search_path", "public", true, true},
		{"Search-Path", "public", true, true},
		{"statement_timeout", "5s", true, false},
	}
	for _, c := range cases {
		if got := SettingProblem(c.name, c.value, c.restricted) != ""; got != c.bad {
			t.Errorf("%s=%s (restricted %v): problem %v, want %v", c.name, c.value, c.restricted, got, c.bad)
		}
	}
}
