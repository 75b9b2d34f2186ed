package guard

import (
	"fmt"
	"testing"
)

func TestParseOptions(t *testing.T) {
	cases := []struct {
		in   string
		want string
		ok   bool
	}{
		{"-c search_path=evil", "[[search_path evil]]", true},
		{"-csearch_path=a,b --work-mem=4MB", "[[search_path a,b] [work-mem 4MB]]", true},
		{`-c application_name=a\ b`, "[[application_name a b]]", true},
		{"-e", "[]", false},
		{"-c nothing", "[]", false},
		{"", "[]", true},
	}
	for _, c := range cases {
		got, ok := parseOptions(c.in)
		if fmt.Sprint(got) != c.want || ok != c.ok {
			t.Errorf("parseOptions(%q) = %v, %v; want %s, %v", c.in, got, ok, c.want, c.ok)
		}
	}
}
