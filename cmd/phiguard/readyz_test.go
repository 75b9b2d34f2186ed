package main

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/phiguard/phiguard/internal/pgcluster"
)

// Issue 14's finding 3: /readyz said ready when phiguard could not serve.
// These tests make each cause real and ask /readyz, as a load balancer
// would, what a client connecting now would get.

// TestReadyzBackendStates: a postmaster stopped (SIGSTOP: the kernel
// still completes TCP handshakes, so a dial-only check passed), in crash
// recovery (57P03 "in recovery mode", held open by a backend that cannot
// take its SIGQUIT), shutting down (57P03) and gone.
func TestReadyzBackendStates(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	s := startServed(t, ctx, killSwitchSchema, killSwitchPolicy)
	// The probe leaves at the password prompt: PostgreSQL logs nothing.
	logBefore, _ := os.ReadFile(s.pg.LogFile)
	for range 5 {
		expectReady(t, s, http.StatusOK, "ready")
	}
	if logAfter, _ := os.ReadFile(s.pg.LogFile); len(logAfter) != len(logBefore) {
		t.Errorf("readiness probes made the server log:\n%s", logAfter[len(logBefore):])
	}
	pm := postmasterPID(t, s.pg)

	sendSignal(t, pm, syscall.SIGSTOP)
	t.Cleanup(func() { syscall.Kill(pm, syscall.SIGCONT) })
	waitReadyz(t, s, http.StatusServiceUnavailable, "not ready: backend unreachable")
	sendSignal(t, pm, syscall.SIGCONT)
	waitReadyz(t, s, http.StatusOK, "ready")

	stuck, victim := backendPID(t, ctx, s.direct(t, ctx)), backendPID(t, ctx, s.direct(t, ctx))
	sendSignal(t, stuck, syscall.SIGSTOP)
	t.Cleanup(func() { syscall.Kill(stuck, syscall.SIGCONT) })
	sendSignal(t, victim, syscall.SIGKILL) // a backend crash: the postmaster resets every backend and recovers
	waitReadyz(t, s, http.StatusServiceUnavailable, "not ready: backend not accepting connections")
	syscall.Kill(stuck, syscall.SIGCONT)
	waitReadyz(t, s, http.StatusOK, "ready")
	expectServerLog(t, s.pg, "in recovery mode")

	held := s.direct(t, ctx)
	sendSignal(t, pm, syscall.SIGTERM) // smart shutdown: waits for held, refuses new sessions
	waitReadyz(t, s, http.StatusServiceUnavailable, "not ready: backend not accepting connections")
	expectServerLog(t, s.pg, "the database system is shutting down")
	held.Close(ctx)
	waitReadyz(t, s, http.StatusServiceUnavailable, "not ready: backend unreachable")
}

// TestReadyzShuttingDown: while phiguard drains for SIGTERM, new clients
// get 57P03, so /readyz must say so before the listener's last session
// ends.
func TestReadyzShuttingDown(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s := startServed(t, ctx, killSwitchSchema, killSwitchPolicy)
	conn := s.connect(t, ctx)
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	expectReady(t, s, http.StatusOK, "ready")
	s.stop() // SIGTERM: the open transaction holds the drain
	waitReadyz(t, s, http.StatusServiceUnavailable, "not ready: shutting down")
	if err := tx.Commit(ctx); err != nil {
		t.Fatalf("the open transaction may finish during the drain: %v", err)
	}
	s.shutdown(t)
}

// waitReadyz asks /readyz until it answers status with a body starting
// with body, for at most 20 s.
func waitReadyz(t *testing.T, s *served, status int, body string) {
	t.Helper()
	want := strconv.Itoa(status) + " " + body
	start := time.Now()
	for {
		got := readyz(t, s)
		if strings.HasPrefix(got, want) {
			t.Logf("/readyz %q after %s", got, time.Since(start).Round(time.Millisecond))
			return
		}
		if time.Since(start) > 20*time.Second {
			t.Fatalf("/readyz still %q after %s, want %q", got, time.Since(start).Round(time.Millisecond), want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// postmasterPID reads the first line of the cluster's postmaster.pid.
func postmasterPID(t *testing.T, pg *pgcluster.Cluster) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(pg.DataDir, "postmaster.pid"))
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(strings.SplitN(string(b), "\n", 2)[0]))
	if err != nil {
		t.Fatal(err)
	}
	return pid
}

func backendPID(t *testing.T, ctx context.Context, conn *pgx.Conn) int {
	t.Helper()
	var pid int
	if err := conn.QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&pid); err != nil {
		t.Fatal(err)
	}
	return pid
}

func sendSignal(t *testing.T, pid int, sig syscall.Signal) {
	t.Helper()
	if err := syscall.Kill(pid, sig); err != nil {
		t.Fatalf("kill -%d %d: %v", sig, pid, err)
	}
}

// expectServerLog checks that PostgreSQL said what the test meant it to
// (so that a 503 is for the cause under test).
func expectServerLog(t *testing.T, pg *pgcluster.Cluster, what string) {
	t.Helper()
	b, _ := os.ReadFile(pg.LogFile)
	if !strings.Contains(string(b), what) {
		t.Errorf("the server log does not say %q", what)
	}
}
