package main

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/phiguard/phiguard/internal/fsfault"
)

// TestServeRefusesUnwritableAuditDir is issue 14's finding 7 end to end:
// serve used to start on an audit directory it could not write, then
// refuse every PHI statement with 58030 while /readyz said ready. It must
// not start, and say which directory.
func TestServeRefusesUnwritableAuditDir(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s := prepareServed(t, ctx, killSwitchSchema, killSwitchPolicy, localKeys(t))
	if err := os.Mkdir(s.auditDir(), 0o700); err != nil {
		t.Fatal(err)
	}
	fsfault.Unwritable(t, s.auditDir())
	err := s.start(t, ctx)
	if err == nil {
		conn := s.connect(t, ctx)
		_, werr := conn.Exec(ctx, "INSERT INTO people (id, ssn, first) VALUES (1, '078-05-1120', 'Ann')")
		resp := readyz(t, s)
		t.Fatalf("serve started on an unwritable audit directory: a PHI insert got %v; /readyz %s", werr, resp)
	}
	if !strings.Contains(err.Error(), "the directory "+s.auditDir()+" is not writable") {
		t.Fatalf("error does not name the directory: %v", err)
	}
	t.Logf("serve: %v", err)
	fsfault.Writable(t, s.auditDir())
	if err := s.start(t, ctx); err != nil {
		t.Fatalf("once writable: %v", err)
	}
}
