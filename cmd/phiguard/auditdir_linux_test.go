package main

import (
	"context"
	"errors"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
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

// TestReadyzAuditUnavailable is finding 3 for the audit trail: with the
// audit disk full, PHI statements were refused with 58030 while /readyz
// said ready. It must say "audit trail unavailable" until the disk has
// room again, and then ready without a restart.
func TestReadyzAuditUnavailable(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s := prepareServed(t, ctx, killSwitchSchema, killSwitchPolicy, localKeys(t))
	if err := os.Mkdir(s.auditDir(), 0o700); err != nil {
		t.Fatal(err)
	}
	disk := fsfault.Mount(t, s.auditDir(), 1<<20)
	if err := s.start(t, ctx); err != nil {
		t.Fatal(err)
	}
	conn := s.connect(t, ctx)
	mustExec(t, ctx, conn, "INSERT INTO people (id, ssn, first) VALUES (1, '078-05-1120', 'Ann')")
	expectReady(t, s, http.StatusOK, "ready")

	disk.Fill(t)
	// Records still fit in the last page of the open file; once they do
	// not, a write fails and the auditor turns unhealthy.
	var err error
	for id := 2; err == nil && id < 200; id++ {
		_, err = conn.Exec(ctx, "INSERT INTO people (id, ssn, first) VALUES ($1, '078-05-1121', 'Bob')", id)
		time.Sleep(20 * time.Millisecond)
	}
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "58030" {
		t.Fatalf("PHI inserts with the audit disk full: want 58030, got %v", err)
	}
	waitReadyz(t, s, http.StatusServiceUnavailable, "not ready: audit trail unavailable")

	disk.Free(t)
	waitReadyz(t, s, http.StatusOK, "ready")
	mustExec(t, ctx, conn, "INSERT INTO people (id, ssn, first) VALUES (1000, '078-05-1123', 'Di')")
}
