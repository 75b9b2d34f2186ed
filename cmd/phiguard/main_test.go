package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestCheckCommand(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := dispatch([]string{"check", "--config", "../../config/testdata/minimal.good.yml"}, &out, &errOut); code != 0 {
		t.Fatalf("good file: exit %d, %s", code, errOut.String())
	}
	if !strings.Contains(out.String(), "OK") {
		t.Errorf("good file: output %q", out.String())
	}
	out.Reset()
	errOut.Reset()
	if code := dispatch([]string{"check", "--config", "../../config/testdata/many-problems.bad.yml"}, &out, &errOut); code != 1 {
		t.Fatalf("bad file: exit %d", code)
	}
	for _, w := range []string{"backend.port:", "log.level:", "limits.parse_cache_entries:"} {
		if !strings.Contains(errOut.String(), w) {
			t.Errorf("bad file: output lacks %q:\n%s", w, errOut.String())
		}
	}
	if code := dispatch([]string{"check"}, &out, &errOut); code != 2 {
		t.Errorf("check without --config: exit %d, want 2", code)
	}
}

func TestDispatch(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := dispatch([]string{"version"}, &out, &errOut); code != 0 || !strings.HasPrefix(out.String(), "phiguard ") {
		t.Errorf("version: exit %d, %q", code, out.String())
	}
	if code := dispatch([]string{"frobnicate"}, &out, &errOut); code != 2 || !strings.Contains(errOut.String(), "unknown command") {
		t.Errorf("unknown command: exit %d, %q", code, errOut.String())
	}
	if code := dispatch(nil, &out, &errOut); code != 2 {
		t.Errorf("no command: exit %d", code)
	}
}
