package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestSearchCommand: the subcommands and their flags are checked before
// any connection: no subcommand is a usage error, --help is not, and
// --config is required.
func TestSearchCommand(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"search"}, 2, "phiguard search install"},
		{[]string{"search", "frob"}, 2, "phiguard search uninstall"},
		{[]string{"search", "--help"}, 0, "no operator"},
		{[]string{"search", "install"}, 2, "--config is required"},
		{[]string{"search", "uninstall", "--check"}, 2, "flag provided but not defined"},
		{[]string{"search", "install", "--config", "/nonexistent.yml"}, 1, "/nonexistent.yml"},
	} {
		var out, errOut bytes.Buffer
		if code := dispatch(tc.args, &out, &errOut); code != tc.code || !strings.Contains(errOut.String(), tc.want) {
			t.Errorf("%v: exit %d, want %d; stderr lacks %q:\n%s", tc.args, code, tc.code, tc.want, errOut.String())
		}
	}
	var out, errOut bytes.Buffer
	dispatch([]string{"encrypt", "--help"}, &out, &errOut)
	if !strings.Contains(errOut.String(), "--rebuild-terms") {
		t.Errorf("encrypt's help does not name --rebuild-terms:\n%s", errOut.String())
	}
}
