package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/phiguard/phiguard/audit"
	"github.com/phiguard/phiguard/guard"
	"github.com/phiguard/phiguard/keys"
)

// statements returns the statement records whose normalized SQL starts
// with prefix.
func (m *memSink) statements(prefix string) []map[string]any {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []map[string]any
	for _, l := range m.lines {
		var rec map[string]any
		if json.Unmarshal(l, &rec) != nil || rec["event"] != "statement" {
			continue
		}
		if s, _ := rec["sql"].(string); len(s) >= len(prefix) && s[:len(prefix)] == prefix {
			out = append(out, rec)
		}
	}
	return out
}

func startAuditedAccessProxy(t *testing.T, fx *accessEHR) (*phiguard, *memSink, *audit.Auditor) {
	t.Helper()
	pol, err := parsePolicy(fx.policyYAML)
	if err != nil {
		t.Fatal(err)
	}
	sink := &memSink{}
	a, err := audit.New(audit.Options{Key: audit.MACKey{ID: "audit", Version: 1, Secret: keys.NewSecret(bytes.Repeat([]byte{3}, 32))},
		Sink: sink, RetryMin: 10 * time.Millisecond, RetryMax: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close(context.Background()) })
	p := startProxy(t, proxyOptions{auditor: a, protect: &guard.Protection{Policy: pol, Keyring: fx.keyring, Subjects: fx.subjects}})
	return p, sink, a
}

func waitUnhealthy(t *testing.T, a *audit.Auditor, conn *pgx.Conn) {
	t.Helper()
	ctx := testContext(t)
	deadline := time.Now().Add(10 * time.Second)
	for a.Healthy() == nil && time.Now().Before(deadline) {
		conn.Exec(ctx, "SELECT 1", pgx.QueryExecModeSimpleProtocol)
		time.Sleep(20 * time.Millisecond)
	}
	if a.Healthy() == nil {
		t.Fatal("the auditor never noticed the broken sink")
	}
}

// TestRedTeam2FetchWhileAuditDown: a FETCH from a SQL cursor over a table
// the role's row rules govern reads rows of it, but has no plan and no
// access decision of its own, so it reserves no audit record
// (touchesPHI is false): while the trail is down the same SELECT is
// refused 58030, the FETCH runs, and its record (event "statement",
// kind "cursor") names no table and no rule.
func TestRedTeam2FetchWhileAuditDown(t *testing.T) {
	t.Parallel()
	fx := accessFixture(t)
	p, sink, a := startAuditedAccessProxy(t, fx)
	ctx := testContext(t)
	conn := p.as(t, "dr_alice")
	if _, err := multiRows(ctx, conn, "DECLARE d CURSOR WITH HOLD FOR SELECT patient, note FROM clinical_notes"); err != nil {
		t.Fatal(err)
	}
	sink.set(true)
	defer sink.set(false) // the auditor's Close waits for the sink
	waitUnhealthy(t, a, conn)
	if _, err := multiRows(ctx, conn, "SELECT patient, note FROM clinical_notes LIMIT 5"); err == nil {
		t.Fatal("the SELECT ran while the audit trail was down")
	}
	fetched := 1 // the FETCH after recovery
	rows, err := multiRows(ctx, conn, "FETCH 5 FROM d")
	if err == nil {
		fetched++
		t.Errorf("FETCH from a cursor over clinical_notes returned %d rows while the audit trail was down (the SELECT was refused 58030)", len(rows))
	}
	sink.set(false)
	for deadline := time.Now().Add(10 * time.Second); a.Healthy() != nil && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := multiRows(ctx, conn, "FETCH 1 FROM d"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	fetches := sink.statements("FETCH")
	if len(fetches) < fetched {
		t.Errorf("%d FETCH records for %d FETCHes that returned rows", len(fetches), fetched)
	}
	for _, r := range fetches {
		if r["tables"] == nil || r["rule"] == nil {
			t.Errorf("the FETCH record (rows %v) names no table and no rule: an accounting of disclosures cannot find it", r["rows"])
		}
	}
}
