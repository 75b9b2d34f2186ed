package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestDemoSmoke runs `phiguard demo --smoke` (and --plain --smoke) as make
// demo-smoke does: a real PostgreSQL, the patients loaded through
// phiguard, every smoke check and the audit verification.
func TestDemoSmoke(t *testing.T) {
	for _, mode := range []struct {
		name  string
		args  []string
		wants []string
	}{
		{"protected", nil, []string{
			"ok   dr_alice sees her care team only", "ok   biller sees every SSN masked",
			"ok   PostgreSQL holds ciphertext", "ok   the audit trail verifies: OK:",
			"phiguard audit verify --config ",
		}},
		{"plain", []string{"--plain"}, []string{"Through phiguard: 111 patients"}},
	} {
		t.Run(mode.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			args := append([]string{"demo", "--smoke", "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0"}, mode.args...)
			if code := dispatch(args, &out, &errOut); code != 0 {
				t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out.String(), errOut.String())
			}
			for _, w := range mode.wants {
				if !strings.Contains(out.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, out.String())
				}
			}
		})
	}
}
